"""ONNX Runtime sessions for the networks workbench rebuilds from other packages' weights
(``workbench.yunet``, ``workbench.face_net``).

One thread per session and no spinning: the pipeline already runs decoding, faces and
people side by side on the cores, and threads that spin while waiting for work take CPU
from those. A rebuilt graph is kept in a cache folder (``WORKBENCH_CACHE``, else
``$XDG_CACHE_HOME/workbench`` or ``~/.cache/workbench``), named after what it was built
from, so later runs start ~1 s sooner; where that folder cannot be written, graphs are
built each time.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from workbench.errors import ModelError

log = logging.getLogger(__name__)


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


def cached_session(source: Path, builder: str, build: Callable[[], bytes], what: str):
    """A session for the graph ``build()`` makes from the file ``source``; the graph is
    cached under a name that changes with that file and with the ``builder`` module's code."""
    stat = source.stat()
    key = hashlib.sha1(
        f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        + Path(builder).read_bytes()
    ).hexdigest()[:16]
    path = cache_dir() / f"{Path(builder).stem}-{key}.onnx"
    try:
        return session(path.read_bytes(), what)
    except ModelError:
        raise
    except Exception as exc:  # not cached yet, or a broken file: build it again
        if path.exists():
            log.info("rebuilding %s (%s)", path, exc)
    model = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(model)
        tmp.replace(path)
    except OSError as exc:
        log.info("cannot cache %s: %s", path, exc)
    return session(model, what)


def graph_bytes(nodes, inputs, outputs, weights, name: str) -> bytes:
    """A serialized ONNX model (opset 13, IR 8: what current ONNX Runtime reads)."""
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    return model.SerializeToString()
