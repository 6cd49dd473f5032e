"""RunWriter: the one way events get into the store (ingest, live capture, simulator).

Rows are buffered per table and flushed every ``flush_s`` seconds, so readers see
them within seconds. The run is registered just before its first file is written, or
when it completes: a run that failed before writing anything never hides the previous
ingest of the same source, and one that completed without finding anything replaces it
(and is listed, so a file where nothing happened shows as processed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from workbench.schema import EVENTS
from workbench.store import Store

log = logging.getLogger(__name__)


class EventObserver(Protocol):
    """Anything that reacts to events as a run produces them (alert rules, live counters)."""

    def observe(self, table: str, rows: list[dict]) -> None: ...


class RunWriter:
    """Append events of one run of one source.

    Use as a context manager: on a clean exit the run is marked complete and older
    runs of the same source are deleted; on an error what was buffered is still
    flushed and the run is marked with the error, so nothing reported is lost.
    """

    def __init__(
        self,
        store: Store,
        source_key: str,
        camera: str,
        source: str,
        kind: str,
        flush_s: float = 2.0,
        observers: Sequence[EventObserver] = (),
    ):
        self.store = store
        self.observers = list(observers)
        self.run_id = uuid.uuid4().hex[:16]
        self.flush_s = flush_s
        self.frames = 0
        self.status = "running"
        self.message = ""
        self._run = {
            "run_id": self.run_id,
            "source_key": source_key,
            "camera": camera,
            "source": source,
            "kind": kind,
            "started_at": datetime.now(UTC),
        }
        self._buffers: dict[str, list[dict]] = {t: [] for t in EVENTS}
        self._registered = False
        self._seq = 0
        self._last_flush = time.monotonic()
        self.rows_written: dict[str, int] = {t: 0 for t in EVENTS}

    def __enter__(self) -> RunWriter:
        self.store.ensure_writable()
        self.store.remember_settings()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
            return
        self.status = "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        self.message = self.message or f"{exc_type.__name__}: {exc}"
        try:
            self.flush()
        finally:
            if self._registered:
                self._register(finished=True)

    def add(self, table: str, rows: list[dict] | dict) -> None:
        """Queue rows (dicts with the table's columns, ``run_id`` excepted) for the next flush.

        Observers (alert rules, live counters) see the rows at once, before they are written.
        """
        rows = [rows] if isinstance(rows, dict) else rows
        self._buffers[table].extend(rows)
        for observer in self.observers:
            observer.observe(table, rows)
        self.flush_due()

    def flush_due(self) -> None:
        """Flush if ``flush_s`` has passed since the last flush: rows added just after one
        would otherwise wait for the next rows (in a quiet shop, minutes)."""
        if time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def notify(self, kind: str, rows: list[dict]) -> None:
        """Tell the observers something that is not stored (e.g. a provisional identity)."""
        for observer in self.observers:
            observer.observe(kind, rows)

    def flush(self) -> None:
        """Write everything buffered now."""
        self._last_flush = time.monotonic()
        if not any(self._buffers.values()):
            return
        if not self._registered:
            self._register(finished=False)
        for table, rows in self._buffers.items():
            if rows:
                self.store.write_events(table, rows, self.run_id, self._seq)
                self._seq += 1
                self.rows_written[table] += len(rows)
                self._buffers[table] = []

    def finish(self, status: str = "complete") -> None:
        self.flush()
        self.status = status if self.status == "running" else self.status
        self._register(finished=True)
        self.store.drop_superseded()

    def _register(self, finished: bool) -> None:
        self._registered = True
        self.store.register_run(
            {
                **self._run,
                "finished_at": datetime.now(UTC) if finished else None,
                "status": self.status,
                "frames": self.frames,
                "message": self.message,
            }
        )
