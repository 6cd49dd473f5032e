"""ONNX Runtime sessions for the networks workbench rebuilds from other packages' weights
(``workbench.yunet``, ``workbench.face_net``).

One thread per session and no spinning: the pipeline already runs decoding, faces and
people side by side on the cores, and threads that spin while waiting for work take CPU
from those.
"""

from __future__ import annotations

from workbench.errors import ModelError


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


def graph_bytes(nodes, inputs, outputs, weights, name: str) -> bytes:
    """A serialized ONNX model (opset 13, IR 8: what current ONNX Runtime reads)."""
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    return model.SerializeToString()
