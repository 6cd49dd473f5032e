"""dlib's face descriptor network run by ONNX Runtime: the same weights, the same numbers,
about 15x faster than dlib.

The ``dlib-bin`` wheel is built without BLAS, so its ResNet takes about 140 ms a face
on these machines. This module reads the very same model file
(``dlib_face_recognition_resnet_model_v1.dat`` from ``face_recognition_models``),
rebuilds the network as an ONNX graph and runs it with ONNX Runtime (~8 ms a face; the
same arithmetic as NumPy matrix products took ~27). The output matches
``dlib.face_recognition_model_v1.compute_face_descriptor`` to float rounding
(``tests/test_face_net.py``), so every threshold calibrated on dlib's descriptors holds.

The network (dlib's ``dnn_face_recognition_ex.cpp``): a 7x7/2 convolution, 3x3/2 max
pool, then residual blocks of two 3x3 convolutions with 32, 64, 128, 256 and 256
filters (each level but the first starts with a stride-2 block whose shortcut is a
2x2/2 average pool, zero-padded to the wider output), a global average and a 128x256
linear map. Batch norms were folded into per-channel affine layers when dlib saved it.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import numpy as np

from workbench import inference
from workbench.errors import ModelError

CHIP_PX = 150
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)  # dlib's input_rgb_image_sized
# residual levels, first to last: (filters, blocks, whether the first block halves the size)
LEVELS = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))
_LAYER = re.compile(rb"\x01[\x04-\x08](con_4|affine_|fc_2)")


def _int(buf: bytes, pos: int) -> tuple[int, int]:
    """dlib's serialized integer at ``pos``: a control byte (sign bit, byte count), little endian."""
    control = buf[pos]
    size = control & 0x0F
    value = int.from_bytes(buf[pos + 1 : pos + 1 + size], "little")
    return (-value if control & 0x80 else value), pos + 1 + size


def _ints(buf: bytes, pos: int, n: int) -> tuple[list[int], int]:
    out = []
    for _ in range(n):
        v, pos = _int(buf, pos)
        out.append(v)
    return out, pos


def _tensor(buf: bytes, pos: int) -> tuple[np.ndarray, int]:
    """dlib's serialized tensor: version 2, four sizes, then little-endian float32 values."""
    (version, *shape), pos = _ints(buf, pos, 5)
    if version != 2:
        raise ValueError(f"tensor version {version}")
    count = int(np.prod(shape))
    values = np.frombuffer(buf, "<f4", count, pos)
    return values, pos + 4 * count


def read_weights(path: str | Path) -> dict:
    """Convolutions, affines and the final linear map of the model file, in network order.

    Returns ``{"conv": [(weights HWIO, bias, stride)], "affine": [(gamma, beta)],
    "fc": (256, 128) matrix}``; raises ``ValueError`` when the file is not this network.
    """
    buf = Path(path).read_bytes()
    convs, affines, fc = [], [], None
    for m in _LAYER.finditer(buf):
        kind, pos = m.group(1), m.end()
        if kind == b"fc_2":
            (outputs, inputs), pos = _ints(buf, pos, 2)
            values, _ = _tensor(buf, pos)
            fc = values.reshape(inputs, outputs)
            continue
        values, pos = _tensor(buf, pos)
        if kind == b"affine_":
            gamma, beta = values.reshape(2, -1)
            affines.append((gamma, beta))
            continue
        (filters, rows, cols, stride, _, pad, _), _ = _ints(buf, pos, 7)
        weights = values[: values.size - filters]
        channels = weights.size // (filters * rows * cols)
        kernel = weights.reshape(filters, channels, rows, cols).transpose(2, 3, 1, 0)
        if pad != (rows // 2 if stride == 1 else 0):
            raise ValueError(f"unexpected padding {pad} for a {rows}x{cols}/{stride} convolution")
        convs.append((np.ascontiguousarray(kernel), values[-filters:].copy(), stride))
    blocks = sum(n for _, n, _ in LEVELS)
    if len(convs) != 1 + 2 * blocks or len(affines) != len(convs) or fc is None:
        raise ValueError(f"{len(convs)} convolutions, {len(affines)} affines: not dlib's ResNet")
    return {"conv": convs, "affine": affines, "fc": fc}


def onnx_model(weights: dict) -> bytes:
    """The network as an ONNX model: input (N, 3, 150, 150), the chip's RGB less
    ``MEAN_RGB``, divided by 256; output (N, 128). Each affine is folded into the
    convolution before it."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, tensors = [], []
    layers = iter(zip(weights["conv"], weights["affine"], strict=True))

    def conv_affine(x: str, relu: bool) -> str:
        (kernel, bias, stride), (gamma, beta) = next(layers)
        i = len(tensors)
        k = kernel.shape[0]
        w = kernel.transpose(3, 2, 0, 1) * gamma[:, None, None, None]  # HWIO -> OIHW
        tensors.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        tensors.append(numpy_helper.from_array((bias * gamma + beta).astype(np.float32), f"b{i}"))
        pad = k // 2 if stride == 1 else 0  # dlib pads only its stride-1 convolutions
        nodes.append(
            helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[k, k],
                             strides=[stride, stride], pads=[pad] * 4)
        )  # fmt: skip
        if not relu:
            return f"c{i}"
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        return f"r{i}"

    def pad_to(x: str, channels: int, size: int, want: tuple[int, int]) -> str:
        """dlib's ``add_prev``: the smaller input zero-padded at the end to the larger."""
        if (channels, size) == want:
            return x
        pads = [0, 0, 0, 0, 0, want[0] - channels, want[1] - size, want[1] - size]
        tensors.append(numpy_helper.from_array(np.array(pads, np.int64), x + "_pads"))
        nodes.append(helper.make_node("Pad", [x, x + "_pads"], [x + "_padded"]))
        return x + "_padded"

    x = conv_affine("input", True)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2]))
    x, size, channels = "pool", ((CHIP_PX - 7) // 2 + 1 - 3) // 2 + 1, LEVELS[0][0]
    for filters, blocks, down in LEVELS:
        for b in range(blocks):
            y = conv_affine(conv_affine(x, True), False)
            if down and b == 0:  # stride 2; the shortcut is a 2x2/2 average
                nodes.append(
                    helper.make_node(
                        "AveragePool", [x], [y + "_avg"], kernel_shape=[2, 2], strides=[2, 2]
                    )
                )
                y_size, x_size = (size - 3) // 2 + 1, (size - 2) // 2 + 1
                want = (filters, max(y_size, x_size))
                x = pad_to(y + "_avg", channels, x_size, want)
                y = pad_to(y, filters, y_size, want)
                channels, size = want
            nodes.append(helper.make_node("Add", [x, y], [y + "_sum"]))
            nodes.append(helper.make_node("Relu", [y + "_sum"], [y + "_out"]))
            x = y + "_out"
    tensors.append(numpy_helper.from_array(weights["fc"].astype(np.float32), "fc"))
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["mean"]))
    nodes.append(helper.make_node("Flatten", ["mean"], ["flat"]))
    nodes.append(helper.make_node("MatMul", ["flat", "fc"], ["descriptor"]))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, CHIP_PX, CHIP_PX])]
    outputs = [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["n", 128])]
    return inference.graph_bytes(nodes, inputs, outputs, tensors, "dlib_face_resnet")


class FaceNet:
    """``descriptors(chips)``: 128-d descriptors of aligned 150 px RGB face chips (dlib's)."""

    def __init__(self, session):
        self.session = session  # of ``onnx_model``'s graph

    def descriptors(self, chips: np.ndarray | list[np.ndarray]) -> np.ndarray:
        x = (np.asarray(chips, np.float32).reshape(-1, CHIP_PX, CHIP_PX, 3) - MEAN_RGB) / 256
        return self.session.run(["descriptor"], {"input": x.transpose(0, 3, 1, 2)})[0]


def dlib_model_path(name: str) -> Path:
    """A model file of the ``face_recognition_models`` package, found without importing
    it (its import loads pkg_resources: 0.27 s)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("face_recognition_models is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall face_recognition_models")
    return path


@functools.cache
def face_net() -> FaceNet:
    """The descriptor network, loaded once from ``face_recognition_models``' dlib model file."""
    path = dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")
    try:
        return FaceNet(
            inference.cached_session(
                Path(path), __file__, lambda: onnx_model(read_weights(path)), "the face descriptor"
            )
        )
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot read dlib's face descriptor model {Path(path).name}: {exc}; "
            "reinstall face_recognition_models"
        ) from None
