"""Alert rules evaluated on events as the pipeline produces them.

``AlertEngine(config, store)`` is an event observer (``RunWriter(observers=[...])``,
``ingest_source(..., observers=[engine])``): it sees every batch of rows before they
are written and raises alerts (``alerts.rules`` in the config):

* ``new_customer``: a face track identified as a customer never seen before; one
  alert per customer, ever.
* ``returning_customer``: a known customer starts a new visit (absent longer than
  ``visits.gap_s``), optionally only labelled ones or a list of VIPs.
* ``defaulter``: a customer of the ``repeat_defaulters`` view starts a new visit.
* ``capacity``: more than ``max_people`` in view (or in a zone) in an occupancy interval.
* ``density``: people in view above ``factor`` x the usual for this hour of the day.
* ``loitering``: someone in a zone longer than ``seconds`` (checked by ``tick``).
* ``after_hours``: anyone seen outside opening hours.
* ``camera_offline``: ``camera_status(camera, False, now)`` for longer than ``after_s``.

Staff (``workbench customers staff``) never raise customer alerts. Every rule has a
cooldown per subject (a customer, a camera, a zone), remembered across restarts from
the ``alerts`` table. Every alert is stored in the ``alerts`` table with its own
copy of its key image under ``snapshots/alerts/``, then queued for the channels
(``workbench.alert_queue``): the pipeline never waits for a mail server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import cv2

from workbench.alert_queue import DeliveryQueue
from workbench.channels import Alert
from workbench.config import Config
from workbench.retention import blur_faces
from workbench.sources import Frame, FrameSource
from workbench.store import Store
from workbench.writer import RunWriter

log = logging.getLogger(__name__)

REFRESH_S = 300.0  # labels, staff, defaulters and the usual density are re-read this often
FRAME_MAX_WIDTH = 960  # scene snapshots (no face key image) are shrunk to this width
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _ts(value) -> datetime:
    """A row's timestamp as an aware UTC datetime (rows carry datetimes or pandas Timestamps)."""
    ts = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def is_open(local: datetime, open_hhmm: str, close_hhmm: str, days: list[str]) -> bool:
    """Whether a local wall-clock time is within opening hours (close before open: past midnight)."""
    t = local.strftime("%H:%M")
    if open_hhmm <= close_hhmm:
        return DAYS[local.weekday()] in days and open_hhmm <= t < close_hhmm
    if t >= open_hhmm:  # evening part of a night that runs past midnight
        return DAYS[local.weekday()] in days
    return t < close_hhmm and DAYS[(local.weekday() - 1) % 7] in days


class _Known:
    """What the store already knows: when each customer was last seen and recent alerts
    (for cooldowns), read once; labels, staff, defaulters and the usual crowd per camera
    and hour, re-read every REFRESH_S by ``lists``."""

    def __init__(self, store: Store, config: Config):
        seen = store.query(
            'SELECT customer_id, max("end") AS last FROM tracks '
            "WHERE customer_id IS NOT NULL GROUP BY 1"
        )
        self.last_seen = {c: _ts(t) for c, t in zip(seen.customer_id, seen["last"], strict=True)}
        alerted = store.query(
            "SELECT kind, json_extract_string(details, '$.subject') AS subject, max(ts) AS ts "
            "FROM alerts GROUP BY ALL"
        )
        self.last_alert = {
            (k, s): _ts(t)
            for k, s, t in zip(alerted.kind, alerted.subject, alerted.ts, strict=True)
        }
        self.lists(store, config)

    def lists(self, store: Store, config: Config) -> None:
        labels = store.read_state("customers")
        staff = set(labels.loc[labels.is_staff.fillna(False).astype(bool), "customer_id"])
        names = dict(zip(labels.customer_id, labels.label, strict=True))
        defaulters = set(store.query("SELECT customer_id FROM repeat_defaulters").customer_id)
        usual = store.query(
            "SELECT camera, hour(local_time(camera, ts)) AS hour, avg(people_mean) AS usual, "
            "count(*) AS n FROM occupancy WHERE zone = '' AND ts >= now() - to_days(?) "
            "GROUP BY ALL",
            [config.alerts.rules.density.history_days],
        )
        self.usual = {
            (c, int(h)): (float(u), int(n))
            for c, h, u, n in zip(usual.camera, usual.hour, usual.usual, usual.n, strict=True)
        }
        self.staff, self.labels, self.defaulters = staff, names, defaulters
        self.loaded = time.monotonic()


class AlertEngine:
    """Evaluates the alert rules on events; see the module docstring.

    ``observe(table, rows)`` for events, ``tick(now)`` about once a second for the
    time-based rules (loitering, camera offline), ``camera_status(camera, online,
    now)`` from the live service, ``close()`` at the end (writes the last alerts and
    stops delivery; undelivered alerts stay queued on disk for the next start).
    ``watch(source, camera)`` wraps a frame source so alerts without a face (capacity,
    loitering, ...) carry a picture of the scene.
    """

    def __init__(self, config: Config, store: Store, deliver: bool = True):
        self.cfg = config
        self.rules = config.alerts.rules
        self.store = store
        self._lock = threading.RLock()
        self._known = _Known(store, config)
        self._refreshing = False
        self._frames: dict[str, Frame] = {}
        self._faces: dict[str, list[tuple[datetime, tuple[float, float, float, float]]]] = {}
        self._in_zone: dict[tuple[str, str, str], datetime] = {}
        self._offline: dict[str, datetime] = {}
        self.raised: list[Alert] = []
        started = datetime.now(UTC).isoformat(timespec="seconds")
        self._writer = RunWriter(
            store, f"alerts:{started}:{uuid.uuid4().hex[:6]}", "", "alert rules", "alerts"
        ).__enter__()
        self.queue = DeliveryQueue(store, config.alerts)
        if deliver:
            self.queue.start()

    # ------------------------------------------------------------ contract 4
    def observe(self, table: str, rows: list[dict]) -> None:
        handler = {
            # a face still in view, identified provisionally: alert now, not when it leaves
            # (the track's row later falls in the same visit and raises nothing more)
            "identified": lambda row: self._on_track({**row, "end": row["ts"]}),
            "tracks": self._on_track,
            "sightings": self._on_sighting,
            "occupancy": self._on_occupancy,
            "zone_events": self._on_zone_event,
        }.get(table)
        if handler is None:
            return
        with self._lock:
            for row in rows:
                handler(row)

    def tick(self, now: datetime) -> None:
        """Time-based rules: loitering (still in a zone) and cameras offline for long enough."""
        with self._lock:
            loiter = self.rules.loitering
            for (camera, zone, track), since in list(self._in_zone.items()):
                if (now - since).total_seconds() >= loiter.seconds:
                    del self._in_zone[camera, zone, track]
                    self._loitering(camera, zone, track, since, now)
            off = self.rules.camera_offline
            for camera, since in list(self._offline.items()):
                if off.enabled and (now - since).total_seconds() >= off.after_s:
                    self._raise(
                        "camera_offline",
                        camera,
                        now,
                        camera,
                        f"Camera {camera} has sent no pictures since {self._local(camera, since):%H:%M:%S}",
                        {"offline_since": since.isoformat()},
                        image=None,
                    )
        if time.monotonic() - self._known.loaded > REFRESH_S and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh, name="alert-refresh", daemon=True).start()

    def camera_status(self, camera: str, online: bool, now: datetime) -> None:
        with self._lock:
            if online:
                self._offline.pop(camera, None)
            else:
                self._offline.setdefault(camera, now)

    def close(self, timeout: float = 10.0) -> None:
        """Write the alerts table and stop delivery (what is not delivered stays queued)."""
        with self._lock:
            self._writer.finish()
        self.queue.close(timeout)

    def watch(self, source: FrameSource, camera: str) -> FrameSource:
        """``source`` whose frames this engine also sees (scene pictures for alerts)."""
        return _Watched(source, self, camera)

    # ------------------------------------------------------------ rules
    def _on_track(self, row: dict) -> None:
        cid = row.get("customer_id")
        if not cid:
            return
        camera, start, end = row["camera"], _ts(row["start"]), _ts(row["end"])
        known = self._known
        last = known.last_seen.get(cid)
        known.last_seen[cid] = max(end, last) if last else end
        if cid in known.staff:
            return
        image = self._read(row.get("snapshot"))
        details = {"track_id": row["track_id"], "seen_until": end.isoformat()}
        if last is None:
            if self._enabled("new_customer", camera):
                who = known.labels.get(cid) or cid
                self._raise(
                    "new_customer",
                    cid,
                    start,
                    camera,
                    f"New customer {who} at {camera}",
                    details,
                    image,
                    cid,
                    once=True,
                )
            return
        if (start - last).total_seconds() <= self.cfg.visits.gap_s:
            return  # the same visit
        label = known.labels.get(cid)
        who = f"{cid} ({label})" if label else cid
        away = {**details, "last_seen": last.isoformat()}
        if cid in known.defaulters and self._enabled("defaulter", camera):
            self._raise(
                "defaulter",
                cid,
                start,
                camera,
                f"Repeat defaulter {who} is back at {camera}",
                away,
                image,
                cid,
            )
        ret = self.rules.returning_customer
        if (
            self._enabled("returning_customer", camera)
            and (not ret.only_labelled or label)
            and (not ret.customers or cid in ret.customers)
        ):
            self._raise(
                "returning_customer",
                cid,
                start,
                camera,
                f"Returning customer {who} at {camera}",
                away,
                image,
                cid,
            )

    def _on_sighting(self, row: dict) -> None:
        ts, camera = _ts(row["ts"]), row["camera"]
        recent = self._faces.setdefault(camera, [])
        recent.append((ts, (row["x"], row["y"], row["w"], row["h"])))
        del recent[: max(0, len(recent) - 50)]
        self._after_hours(camera, ts)

    def _on_occupancy(self, row: dict) -> None:
        camera, ts, zone = row["camera"], _ts(row["ts"]), row["zone"]
        if row["people_max"] > 0 and zone == "":
            self._after_hours(camera, ts)
        cap = self.rules.capacity
        if (
            self._enabled("capacity", camera)
            and zone == cap.zone
            and row["people_max"] > cap.max_people
        ):
            where = f"{camera}/{zone}" if zone else camera
            self._raise(
                "capacity",
                where,
                ts,
                camera,
                f"{row['people_max']} people in {where} (limit {cap.max_people})",
                {"people_max": int(row["people_max"]), "limit": cap.max_people},
                self._scene(camera),
            )
        den = self.rules.density
        if zone == "" and self._enabled("density", camera):
            usual, n = self._known.usual.get((camera, self._local(camera, ts).hour), (0.0, 0))
            mean = float(row["people_mean"])
            if n >= den.min_samples and mean >= max(den.min_people, den.factor * usual):
                self._raise(
                    "density",
                    camera,
                    ts,
                    camera,
                    f"{mean:.1f} people on average in view at {camera}, usually {usual:.1f} at this hour",
                    {
                        "people_mean": round(mean, 2),
                        "usual": round(usual, 2),
                        "history_intervals": n,
                    },
                    self._scene(camera),
                )

    def _on_zone_event(self, row: dict) -> None:
        camera, zone, track = row["camera"], row["zone"], row["track_id"]
        rule = self.rules.loitering
        if row.get("staff_zone") or not self._enabled("loitering", camera):
            return
        if rule.zones and zone not in rule.zones:
            return
        if row["kind"] == "enter":
            self._in_zone[camera, zone, track] = _ts(row["ts"])
            return
        since = self._in_zone.pop((camera, zone, track), None)
        dwell = float(row.get("dwell_s") or 0)
        if since is not None and dwell >= rule.seconds:
            self._loitering(camera, zone, track, since, _ts(row["ts"]))

    def _loitering(
        self, camera: str, zone: str, track: str, since: datetime, now: datetime
    ) -> None:
        secs = (now - since).total_seconds()
        self._raise(
            "loitering",
            f"{camera}/{zone}",
            now,
            camera,
            f"Someone has been in {zone} at {camera} for {secs / 60:.1f} min",
            {"zone": zone, "person_track": track, "since": since.isoformat()},
            self._scene(camera),
        )

    def _after_hours(self, camera: str, ts: datetime) -> None:
        rule = self.rules.after_hours
        if not self._enabled("after_hours", camera):
            return
        local = self._local(camera, ts)
        if is_open(local, rule.open, rule.close, rule.days):
            return
        self._raise(
            "after_hours",
            camera,
            ts,
            camera,
            f"Someone is at {camera} at {local:%a %H:%M}, outside opening hours "
            f"({rule.open}-{rule.close})",
            {},
            self._scene(camera),
        )

    # ------------------------------------------------------------ raising
    def _enabled(self, kind: str, camera: str) -> bool:
        rule = getattr(self.rules, kind)
        return rule.enabled and (not rule.cameras or camera in rule.cameras)

    def _raise(
        self,
        kind: str,
        subject: str,
        ts: datetime,
        camera: str,
        message: str,
        details: dict,
        image: bytes | None,
        customer_id: str | None = None,
        once: bool = False,
    ) -> Alert | None:
        """Store and queue an alert unless its subject is cooling down (``once``: ever alerted)."""
        last = self._known.last_alert.get((kind, subject))
        cooldown = getattr(self.rules, kind).cooldown_s
        if last is not None and (once or abs((ts - last).total_seconds()) < cooldown):
            return None
        self._known.last_alert[kind, subject] = ts
        alert_id = uuid.uuid4().hex[:12]
        local = self._local(camera, ts)
        snapshot = None
        if image:
            if self.cfg.retention.blur_faces:
                face_crop = customer_id is not None  # a face key image, else a scene
                boxes = () if face_crop else self._face_boxes(camera, ts)
                image = blur_faces(image, boxes, whole_when_none=face_crop)
            snapshot = self.store.save_snapshot(f"alerts/{local:%Y-%m-%d}/{alert_id}.jpg", image)
        alert = Alert(
            alert_id=alert_id,
            ts=ts.isoformat(),
            local_time=f"{local:%Y-%m-%d %H:%M:%S}",
            camera=camera,
            kind=kind,
            customer_id=customer_id,
            message=message,
            snapshot=snapshot,
            details={**details, "subject": subject},
        )
        self._writer.add(
            "alerts",
            {
                "alert_id": alert_id,
                "ts": ts,
                "camera": camera,
                "kind": kind,
                "customer_id": customer_id,
                "message": message,
                "snapshot": snapshot,
                "details": json.dumps(alert.details),
            },
        )
        self._writer.flush()  # alerts are few: each is on disk before it is sent
        self.queue.enqueue(alert)
        self.raised.append(alert)
        log.info("alert %s: %s", kind, message)
        return alert

    def _local(self, camera: str, ts: datetime) -> datetime:
        return ts.astimezone(ZoneInfo(self.cfg.camera_timezone(camera)))

    def _read(self, snapshot: str | None) -> bytes | None:
        path = self.store.root / snapshot if snapshot else None
        return path.read_bytes() if path is not None and path.is_file() else None

    def _scene(self, camera: str) -> bytes | None:
        """The camera's latest frame as a JPEG (no more than FRAME_MAX_WIDTH wide)."""
        frame = self._frames.get(camera)
        if frame is None:
            return None
        image = frame.image
        if image.shape[1] > FRAME_MAX_WIDTH:
            scale = FRAME_MAX_WIDTH / image.shape[1]
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return buf.tobytes() if ok else None

    def _face_boxes(self, camera: str, ts: datetime) -> list[tuple[float, float, float, float]]:
        """Faces seen at the camera within a second of ``ts``, scaled like ``_scene``'s picture."""
        frame = self._frames.get(camera)
        width = frame.image.shape[1] if frame is not None else FRAME_MAX_WIDTH
        scale = min(1.0, FRAME_MAX_WIDTH / width)
        return [
            tuple(v * scale for v in box)
            for t, box in self._faces.get(camera, [])
            if abs((t - ts).total_seconds()) <= 1.0
        ]

    def _refresh(self) -> None:
        try:
            self._known.lists(self.store, self.cfg)
        except Exception:  # a busy or damaged store must not stop the alerts
            log.exception("re-reading customers and defaulters failed; keeping the old lists")
            self._known.loaded = time.monotonic()
        finally:
            self._refreshing = False


class _Watched(FrameSource):
    """A frame source whose frames an AlertEngine also keeps (the latest one per camera)."""

    def __init__(self, inner: FrameSource, engine: AlertEngine, camera: str):
        super().__init__(
            name=inner.name, start=inner.start, fps=inner.fps, frame_count=inner.frame_count
        )
        self.problems = inner.problems
        self.stills = inner.stills
        self.read_ahead = inner.read_ahead
        self._inner, self._engine, self._camera = inner, engine, camera

    def frames(self, step: int = 1) -> Iterator[Frame]:
        for frame in self._inner.frames(step):
            self._engine._frames[self._camera] = frame
            yield frame
        self.frame_count = self._inner.frame_count

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str):  # health counters etc. of live sources
        return getattr(self._inner, name)
