"""ONNX Runtime sessions for the networks workbench rebuilds from other packages' weights
(``workbench.yunet``, ``workbench.face_net``).

One thread per session and no spinning: the pipeline already runs decoding, faces and
people side by side on the cores, and threads that spin while waiting for work take CPU
from those. A rebuilt graph is kept in a cache folder (``WORKBENCH_CACHE``, else
``$XDG_CACHE_HOME/workbench`` or ``~/.cache/workbench``), named after what it was built
from, so later runs start ~1 s sooner; where that folder cannot be written, graphs are
built each time. ``cached`` keeps other files there too (dlib's face detector, saved
once: loading it that way takes 4 ms, not the 0.45 s its own start-up takes).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from workbench.errors import ModelError

log = logging.getLogger(__name__)
T = TypeVar("T")


def session(model: bytes, what: str):
    """An ONNX Runtime CPU session for the serialized ONNX ``model`` (``what`` names it in
    the error when onnxruntime is missing)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(f"{what} needs onnxruntime: pip install onnxruntime") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def cache_dir() -> Path:
    if os.environ.get("WORKBENCH_CACHE"):
        return Path(os.environ["WORKBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "workbench"


def file_key(source: Path, *more: str | bytes) -> bytes:
    """What a cached file made from ``source`` depends on: that file's place, size and
    time, and ``more`` (the code that makes it)."""
    stat = source.stat()
    parts = [f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()]
    return b"|".join(parts + [m.encode() if isinstance(m, str) else m for m in more])


def cached(name: str, key: bytes, make: Callable[[Path], None], load: Callable[[Path], T]) -> T:
    """``load(path)`` of a file ``make(path)`` writes, kept in the cache folder under
    ``name`` and a hash of ``key``: made once, remade when it cannot be loaded (the ones
    made for other keys are then deleted); where the folder cannot be written, made in a
    temporary one each time."""
    path = cache_dir() / name.format(hashlib.sha1(key).hexdigest()[:16])
    try:
        return load(path)
    except ModelError:
        raise
    except Exception as exc:  # not cached yet, or a broken file: make it again
        if path.exists():
            log.info("remaking %s (%s)", path, exc)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        make(tmp)
        tmp.replace(path)
        for old in path.parent.glob(name.format("*")):  # made from older files or code
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("cannot cache %s: %s", path, exc)
        with tempfile.TemporaryDirectory() as folder:
            made = Path(folder) / path.name
            make(made)
            return load(made)
    return load(path)


def cached_session(source: Path, builder: str, build: Callable[[], bytes], what: str):
    """A session for the graph ``build()`` makes from the file ``source``; the graph is
    cached under a name that changes with that file and with the ``builder`` module's code."""
    return cached(
        f"{Path(builder).stem}-{{}}.onnx",
        file_key(source, Path(builder).read_bytes()),
        lambda path: path.write_bytes(build()),
        lambda path: session(path.read_bytes(), what),
    )


def graph_bytes(nodes, inputs, outputs, weights, name: str) -> bytes:
    """A serialized ONNX model (opset 13, IR 8: what current ONNX Runtime reads)."""
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    return model.SerializeToString()
