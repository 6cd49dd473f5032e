"""Perception of several files at once, in worker processes.

Each worker runs ``pipeline.perceive`` over one file (detection, tracking, face quality,
embeddings, people counting: the costly part) and appends its Steps to a spill file, in
chunks of about a second of work. The ingesting process reads the files in order, as
they grow, and does identity and writing itself, so customer ids come out exactly as
with one process. A file waiting its turn costs disk, not memory.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import tempfile
import time
import traceback
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.sources import FrameSource, open_source

log = logging.getLogger(__name__)

CHUNK_S = 1.0  # a worker writes what it found about this often
POLL_S = 0.05
_HEADER = 8  # bytes of chunk length before each pickled chunk


class WorkerError(WorkbenchError):
    pass


def available_cores() -> int:
    """Cores this process may run on (the container's or taskset's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _work(path: str, start: datetime, config: Config, camera: str, run_tag: str, out: str) -> None:
    """Worker process: perceive one file into the spill file ``out``."""
    from workbench.pipeline import perceive

    with open(out, "ab") as fh:

        def put(record) -> None:
            data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            fh.write(len(data).to_bytes(_HEADER, "little") + data)
            fh.flush()

        try:
            chunk, due = [], time.monotonic() + CHUNK_S
            for step in perceive(open_source(path, start), config, camera, run_tag):
                chunk.append(step)
                if time.monotonic() >= due:
                    put(chunk)
                    chunk, due = [], time.monotonic() + CHUNK_S
            put(chunk)
        except BaseException as exc:  # handed to the ingesting process
            message = str(exc) if isinstance(exc, WorkbenchError) else traceback.format_exc()
            put(WorkerError(f"{Path(path).name}: {message}"))
            raise SystemExit(1) from None


class _Pool:
    """Worker processes, started in file order, at most ``n`` at a time."""

    def __init__(self, jobs: list[tuple], n: int, spill_dir: Path):
        self._ctx = mp.get_context("spawn")  # no forked copies of threads or dlib state
        self._jobs = jobs
        self._n = n
        self._spill_dir = spill_dir
        self.procs: list[mp.Process] = []

    def spill(self, i: int) -> Path:
        return self._spill_dir / f"{i}.steps"

    def fill(self) -> None:
        running = sum(p.is_alive() for p in self.procs)
        while running < self._n and len(self.procs) < len(self._jobs):
            i = len(self.procs)
            p = self._ctx.Process(
                target=_work, args=(*self._jobs[i], str(self.spill(i))), daemon=True
            )
            p.start()
            self.procs.append(p)
            running += 1

    def stop(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join()

    def steps(self, i: int) -> Iterator:
        """The Steps of file ``i`` as its worker writes them; ends after its last Step."""
        self.fill()
        path, proc = self.spill(i), self.procs[i]
        with open(path, "a+b") as fh:
            fh.seek(0)
            pos = 0
            while True:
                header = fh.read(_HEADER)
                size = int.from_bytes(header, "little") if len(header) == _HEADER else -1
                data = fh.read(size) if size >= 0 else b""
                if size < 0 or len(data) < size:  # not written yet
                    if not proc.is_alive() and os.path.getsize(path) == pos:
                        raise WorkerError(
                            f"the worker for {self._jobs[i][0]} stopped (exit code "
                            f"{proc.exitcode}) before finishing; ingest the file again"
                        )
                    fh.seek(pos)
                    self.fill()
                    time.sleep(POLL_S)
                    continue
                pos = fh.tell()
                record = pickle.loads(data)
                if isinstance(record, WorkerError):
                    raise record
                yield from record
                if record and record[-1].final:
                    return


def perceive_in_workers(
    sources: list[FrameSource], config: Config, camera: str, run_tags: list[str], n: int
) -> Iterator[Iterator]:
    """For each source in order, an iterator of its Steps, perceived by up to ``n`` workers.

    Each iterator must be used up before the next one is taken. The sources' files are
    opened again in the workers; the objects given here are closed.
    """
    for s in sources:
        s.close()
    jobs = [(s.name, s.start, config, camera, tag) for s, tag in zip(sources, run_tags)]
    with tempfile.TemporaryDirectory(prefix="workbench-steps-") as spill_dir:
        pool = _Pool(jobs, n, Path(spill_dir))
        try:
            for i in range(len(jobs)):
                yield pool.steps(i)
        finally:
            pool.stop()
