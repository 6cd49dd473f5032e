"""The durable delivery queue: alerts wait on disk until every channel has them.

``store/state/alert_queue/`` holds one JSON file per pending delivery (an alert for
one channel), written atomically. A background thread sends them in order and
deletes each file once the server accepted it; a failure is retried with
exponential backoff (``alerts.retry``), so a mail server or webhook receiver that is
down loses nothing: the alerts go out when it is back, even after a restart of the
process. Deliveries that cannot succeed (a refused login, an HTTP 4xx) or that kept
failing past ``give_up_after_h`` move to ``failed/``; ``workbench alerts flush
--failed`` queues them again. Delivery is at least once: a server that dies after
accepting a message but before saying so gets it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workbench.channels import Alert, DeliveryError, deliver, targets
from workbench.config_alerts import AlertConfig
from workbench.errors import StoreError
from workbench.store import Store, _atomic_write

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryQueue:
    """Pending deliveries of a store. ``start()`` runs the sender thread; ``close()`` stops it."""

    def __init__(self, store: Store, config: AlertConfig):
        self.store = store
        self.config = config
        self.dir = store.state_dir / "alert_queue"
        self.failed_dir = self.dir / "failed"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file = None
        self.delivered = 0

    # ------------------------------------------------------------ producer side
    def enqueue(self, alert: Alert) -> int:
        """Write one queue file per channel the alert goes to; returns how many."""
        stamp = _now().strftime("%Y%m%dT%H%M%S%f")
        n = 0
        for target in targets(self.config, alert.kind):
            item = {
                "alert": alert.to_dict(),
                "target": target,
                "attempts": 0,
                "created": _now().isoformat(),
                "next_try": _now().isoformat(),
                "last_error": None,
            }
            name = f"{stamp}-{alert.alert_id}-{target['key']}.json"
            self._write(self.dir / name, item)
            n += 1
        if n:
            self._wake.set()
        return n

    def pending(self, failed: bool = False) -> list[tuple[Path, dict]]:
        """Queued deliveries in order (or those in ``failed/``), with their contents."""
        folder = self.failed_dir if failed else self.dir
        out = []
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            try:
                out.append((path, json.loads(path.read_text())))
            except (OSError, json.JSONDecodeError) as exc:
                log.warning("alert queue: unreadable %s (%s); left in place", path.name, exc)
        return out

    def requeue_failed(self) -> int:
        """Move every delivery in ``failed/`` back into the queue, due now."""
        n = 0
        for path, item in self.pending(failed=True):
            item.update(attempts=0, created=_now().isoformat(), next_try=_now().isoformat())
            self._write(self.dir / path.name, item)
            path.unlink()
            n += 1
        return n

    # ------------------------------------------------------------ sender side
    @contextlib.contextmanager
    def sender(self):
        """Be the one process that sends this store's queue (a live service, or `alerts flush`)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / ".sender.lock", "a+")  # noqa: SIM115 - held for the with block
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StoreError(
                f"the alert queue of {self.store.root} is being sent by another process "
                "(workbench live?); it delivers the queue itself"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def send_due(self, force: bool = False) -> tuple[int, int]:
        """Try every delivery that is due (``force``: every one); returns (delivered, still pending).

        After a channel fails once, its other deliveries wait for the next round
        instead of each waiting for the same timeout. Each channel gets its alerts in the
        order they were raised: when any of a channel's deliveries is due, its queue is
        tried from the oldest, up to the first failure.
        """
        now = _now()
        retry = self.config.retry
        down: dict[str, str] = {}
        delivered = 0
        items = self.pending()
        due = {
            json.dumps(item["target"], sort_keys=True)
            for _, item in items
            if force or datetime.fromisoformat(item["next_try"]) <= now
        }
        for path, item in items:
            target = item["target"]
            key = json.dumps(target, sort_keys=True)
            if key not in due:
                continue
            if key in down:
                self._retry(path, item, down[key], now, count=False)
                continue
            try:
                deliver(target, Alert(**item["alert"]), self.store.root, retry.timeout_s)
            except DeliveryError as exc:
                created = datetime.fromisoformat(item["created"])
                if exc.permanent or now - created > timedelta(hours=retry.give_up_after_h):
                    self._fail(path, item, str(exc))
                else:
                    down[key] = str(exc)
                    self._retry(path, item, str(exc), now)
                continue
            path.unlink(missing_ok=True)
            delivered += 1
            log.info("alert %s delivered to %s", item["alert"]["alert_id"], target["key"])
        self.delivered += delivered
        return delivered, len(items) - delivered

    def start(self) -> None:
        """Send in a background thread until ``close()``; raises StoreError if another process sends."""
        self._sender = self.sender()
        self._sender.__enter__()
        self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after one last round (at most ``timeout`` s); what is left stays queued."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "alert delivery still busy after %.0f s; what is left stays queued", timeout
            )
        else:
            self._sender.__exit__(None, None, None)
        self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self.send_due()
            except Exception:  # never let one bad file stop delivery
                log.exception("alert delivery round failed; retrying")
            if self._stop.is_set():
                return
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        due = [datetime.fromisoformat(item["next_try"]) for _, item in self.pending()]
        if not due:
            return 60.0
        return min(60.0, max(0.05, (min(due) - _now()).total_seconds()))

    def _retry(self, path: Path, item: dict, error: str, now: datetime, count: bool = True) -> None:
        retry = self.config.retry
        if count:
            item["attempts"] += 1
        delay = min(retry.max_delay_s, retry.first_delay_s * 2 ** max(0, item["attempts"] - 1))
        item["next_try"] = (now + timedelta(seconds=delay)).isoformat()
        if item["last_error"] != error:
            log.warning(
                "alert %s to %s: %s", item["alert"]["alert_id"], item["target"]["key"], error
            )
        item["last_error"] = error
        self._write(path, item)

    def _fail(self, path: Path, item: dict, error: str) -> None:
        item["last_error"] = error
        self._write(self.failed_dir / path.name, item)
        path.unlink(missing_ok=True)
        log.error(
            "alert %s to %s given up: %s (`workbench alerts flush --failed` retries it)",
            item["alert"]["alert_id"],
            item["target"]["key"],
            error,
        )

    @staticmethod
    def _write(path: Path, item: dict) -> None:
        _atomic_write(path, lambda p: p.write_text(json.dumps(item, indent=1)))
