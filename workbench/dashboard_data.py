"""What the manager dashboard shows that ``workbench.analytics`` has no function for
(occupancy, heat, busy times, alerts), as DataFrames. Each function takes a ``Store``
or, faster for many figures in a row, a ``workbench.snapshot.Snapshot`` of it.

``store_signature`` is the cheap "did anything change?" check the dashboard polls
while live capture writes: the modification times of the change journal, the state
folder and today's event partition folders (a new file in a folder changes its time).
"""

from __future__ import annotations

import base64
import logging
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from workbench import analytics
from workbench.snapshot import Snapshot
from workbench.store import JOURNAL, Store

log = logging.getLogger(__name__)

KPIS = [  # (daily_summary column, label, kind)
    ("visits", "Visits", "count"),
    ("unique_customers", "Customers", "count"),
    ("new_customers", "New", "count"),
    ("returning_customers", "Returning", "count"),
    ("conversion", "Conversion", "percent"),
    ("revenue", "Revenue", "money"),
    ("unpaid_amount", "Unpaid", "money"),
]
LIVE_WINDOW = timedelta(minutes=2)  # an occupancy count this recent is "now"
SLOT_MINUTES = 10  # customers present: one point per this many minutes
_CAMERA = "($camera::VARCHAR IS NULL OR camera = $camera)"


def store_signature(store: Store, day: date) -> tuple:
    """Modification times that change whenever a writer adds or replaces events or state."""
    days = {(day + timedelta(days=d)).isoformat() for d in (-1, 0, 1)}  # cameras' own timezones
    paths = [store.events_dir / JOURNAL, store.state_dir]
    if store.events_dir.is_dir():
        for table in os.scandir(store.events_dir):
            if table.is_dir():
                paths += [Path(table.path) / f"date={d}" for d in days]
                paths += Path(table.path).glob(f"date={day.isoformat()}/camera=*")
    sig = []
    for p in paths:
        try:
            sig.append((str(p), p.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(sig))


def cameras(snap: Store | Snapshot) -> list[tuple[str, str]]:
    """(label, camera id) of the configured cameras and of any camera with visits or counts."""
    named = {c.id: c.name or c.id for c in snap.config.cameras}
    seen = snap.query(
        "SELECT DISTINCT camera FROM all_visits UNION SELECT DISTINCT camera FROM occupancy"
    )["camera"]
    for cam in sorted(c for c in seen if c):
        named.setdefault(cam, cam)
    return [(label, cam) for cam, label in named.items()]


def kpis(snap: Store | Snapshot, day: date, camera: str | None = None) -> pd.DataFrame:
    """The day's key figures beside the same weekday a week before.

    Columns: ``key``, ``label``, ``kind`` (count, percent, money), ``value``, ``last_week``.
    """
    before = day - timedelta(days=7)
    summary = analytics.daily_summary(snap, before, day, camera).set_index("day")
    rows = []
    for key, label, kind in KPIS:
        now, then = (summary.at[pd.Timestamp(d), key] for d in (day, before))
        rows.append({"key": key, "label": label, "kind": kind, "value": now, "last_week": then})
    return pd.DataFrame(rows)


def occupancy(
    snap: Store | Snapshot, day: date, camera: str | None = None, now: datetime | None = None
) -> tuple[pd.DataFrame, str, int | None]:
    """People in the shop through ``day``: (``camera``, ``local_ts``, ``people``) rows, their
    source, and how many are in now (None unless ``now`` is given and the data is live).

    From people counting (``occupancy``: people in view, averaged per minute; now: the
    latest count of each camera, if at most LIVE_WINDOW old) when the day has any;
    else customers present, from their visits, every SLOT_MINUTES (now: visits in
    progress).
    """
    params = {"day": day, "camera": camera}
    counted = snap.query(
        f"""SELECT camera, time_bucket(INTERVAL 1 MINUTE, local_time(camera, ts)) AS local_ts,
                   avg(people_mean) AS people, max(people_max) AS people_max
            FROM occupancy WHERE zone = '' AND {_CAMERA}
              AND CAST(local_time(camera, ts) AS DATE) = $day
            GROUP BY ALL ORDER BY camera, local_ts""",
        params,
    )
    if len(counted):
        latest = None
        if now is not None:
            latest = snap.query(
                f"""SELECT camera, arg_max(people_mean, ts) AS people FROM occupancy
                    WHERE zone = '' AND ts BETWEEN $since AND $now AND {_CAMERA} GROUP BY camera""",
                {"since": now - LIVE_WINDOW, "now": now, "camera": camera},
            )["people"]
            latest = int(round(latest.sum())) if len(latest) else None
        return counted, "people in view, from people counting", latest
    present = snap.query(
        f"""SELECT v.camera, s.slot AS local_ts, count(*) AS people
            FROM generate_series($day::TIMESTAMP, $day::TIMESTAMP + INTERVAL 1 DAY
                                 - INTERVAL {SLOT_MINUTES} MINUTE, INTERVAL {SLOT_MINUTES} MINUTE) s(slot)
            JOIN visits v ON v.local_start < s.slot + INTERVAL {SLOT_MINUTES} MINUTE
                         AND v.local_end >= s.slot
            WHERE v.local_day BETWEEN $day::DATE - 1 AND $day AND {_CAMERA}
            GROUP BY ALL ORDER BY v.camera, local_ts""",
        params,
    )
    latest = None
    if now is not None:
        latest = int(snap.query(
            f"""SELECT count(*) AS n FROM visits
                WHERE start <= $now AND "end" >= $since AND {_CAMERA}""",
            {"now": now, "since": now - LIVE_WINDOW, "camera": camera},
        )["n"].iloc[0])  # fmt: skip
    return present, "customers present, from their visits", latest


def heat(snap: Store | Snapshot, start: date, end: date, camera: str | None = None) -> pd.DataFrame:
    """Person-seconds per heat-map cell over the range, of the camera with the most heat.

    Columns ``camera``, ``space`` (floor when mapped onto a floor plan, else image),
    ``cell_x``, ``cell_y``, ``cell_size``, ``seconds``; empty without people counting.
    """
    cells = snap.query(
        f"""SELECT camera, space, cell_x, cell_y, any_value(cell_size) AS cell_size,
                   sum(seconds) AS seconds
            FROM heatmap WHERE local_day BETWEEN $start AND $end AND {_CAMERA}
            GROUP BY ALL""",
        {"start": start, "end": end, "camera": camera},
    )
    if cells.empty:
        return cells
    totals = cells.groupby(["camera", "space"])["seconds"].sum().reset_index()
    totals["floor"] = totals["space"] == "floor"
    best = totals.sort_values(["floor", "seconds"], ascending=False).iloc[0]
    return cells[(cells["camera"] == best["camera"]) & (cells["space"] == best["space"])]


def busy_times(
    snap: Store | Snapshot, start: date, end: date, camera: str | None = None
) -> pd.DataFrame:
    """Visits per weekday (0 = Monday) and local hour over the range: ``weekday``, ``hour``, ``visits``."""
    return snap.query(
        f"""SELECT isodow(local_start) - 1 AS weekday, hour(local_start) AS hour, count(*) AS visits
            FROM visits WHERE local_day BETWEEN $start AND $end AND {_CAMERA}
            GROUP BY ALL ORDER BY ALL""",
        {"start": start, "end": end, "camera": camera},
    )


def latest_alerts(
    snap: Snapshot, start: date, end: date, camera: str | None = None, n: int = 8
) -> pd.DataFrame:
    """The ``n`` newest alerts of the range (site-wide ones too when a camera is picked), with
    ``local_ts`` and ``image``: the key image as a data: URI (None when it is gone)."""
    alerts = snap.query(
        """SELECT alert_id, ts, local_time(camera, ts) AS local_ts, camera, kind, customer_id,
                  message, snapshot
           FROM alerts
           WHERE CAST(local_time(camera, ts) AS DATE) BETWEEN $start AND $end
             AND ($camera::VARCHAR IS NULL OR camera = $camera OR coalesce(camera, '') = '')
           ORDER BY ts DESC LIMIT $n""",
        {"start": start, "end": end, "camera": camera, "n": n},
    )
    alerts["image"] = [_data_uri(snap.root, p) for p in alerts["snapshot"]]
    return alerts


def _data_uri(root: Path, relpath: str | None) -> str | None:
    """A JPEG in the store as a data: URI (the page then needs no file server)."""
    if not relpath:
        return None
    path = (root / relpath).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return None
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
