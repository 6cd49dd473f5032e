"""dlib's face descriptor network run with NumPy: the same weights, the same numbers, 4-6x faster.

The ``dlib-bin`` wheel is built without BLAS, so its ResNet takes about 140 ms a face
on these machines. This module reads the very same model file
(``dlib_face_recognition_resnet_model_v1.dat`` from ``face_recognition_models``) and
runs the network's arithmetic as matrix products through NumPy's BLAS. The output
matches ``dlib.face_recognition_model_v1.compute_face_descriptor`` to float rounding
(``tests/test_face_net.py``), so every threshold calibrated on dlib's descriptors holds.

The network (dlib's ``dnn_face_recognition_ex.cpp``): a 7x7/2 convolution, 3x3/2 max
pool, then residual blocks of two 3x3 convolutions with 32, 64, 128, 256 and 256
filters (each level but the first starts with a stride-2 block whose shortcut is a
2x2/2 average pool, zero-padded to the wider output), a global average and a 128x256
linear map. Batch norms were folded into per-channel affine layers when dlib saved it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

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


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """Correlation of a batch ``x`` (N, H, W, C) with ``kernel`` (kh, kw, C, F), dlib's padding."""
    kh, kw, c, f = kernel.shape
    if stride == 1:
        x = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, w, _ = x.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    windows = np.lib.stride_tricks.as_strided(
        x,
        (n, ho, wo, kh, kw, c),
        (x.strides[0], x.strides[1] * stride, x.strides[2] * stride, *x.strides[1:]),
        writeable=False,
    )
    out = windows.reshape(n * ho * wo, kh * kw * c) @ kernel.reshape(kh * kw * c, f)
    out += bias
    return out.reshape(n, ho, wo, f)


def _pool(x: np.ndarray, size: int, reduce) -> np.ndarray:
    """A ``size`` x ``size`` pool with stride 2 and no padding (dlib's defaults for stride 2)."""
    n, h, w, c = x.shape
    ho, wo = (h - size) // 2 + 1, (w - size) // 2 + 1
    windows = np.lib.stride_tricks.as_strided(
        x,
        (n, ho, wo, size, size, c),
        (x.strides[0], x.strides[1] * 2, x.strides[2] * 2, *x.strides[1:]),
        writeable=False,
    )
    return reduce(windows, axis=(3, 4))


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's ``add_prev``: the sum over the larger shape, the smaller one zero-padded at the end."""
    shape = np.maximum(a.shape, b.shape)
    out = np.zeros(shape, np.float32)
    out[tuple(slice(0, s) for s in a.shape)] += a
    out[tuple(slice(0, s) for s in b.shape)] += b
    return out


class FaceNet:
    """``descriptors(chips)``: 128-d descriptors of aligned 150 px RGB face chips (dlib's)."""

    def __init__(self, weights: dict):
        self.w = weights
        self._blas = ThreadpoolController()

    def descriptors(self, chips: np.ndarray | list[np.ndarray]) -> np.ndarray:
        # one BLAS thread: these small products gain nothing from two, and OpenBLAS's
        # spinning threads made them 10x slower beside the decode and people threads
        with self._blas.limit(limits=1, user_api="blas"):
            return self._forward(chips)

    def _forward(self, chips: np.ndarray | list[np.ndarray]) -> np.ndarray:
        x = (np.asarray(chips, np.float32).reshape(-1, CHIP_PX, CHIP_PX, 3) - MEAN_RGB) / 256
        layers = iter(zip(self.w["conv"], self.w["affine"], strict=True))

        def conv_affine(x):
            (kernel, bias, stride), (gamma, beta) = next(layers)
            return _conv(x, kernel, bias, stride) * gamma + beta

        x = np.maximum(conv_affine(x), 0)
        x = _pool(x, 3, np.max)
        for _filters, blocks, down in LEVELS:
            for b in range(blocks):
                y = conv_affine(np.maximum(conv_affine(x), 0))
                shortcut = _pool(x, 2, np.mean) if (down and b == 0) else x
                x = np.maximum(_add_padded(shortcut, y), 0)
        return x.mean(axis=(1, 2)) @ self.w["fc"]


@functools.cache
def face_net() -> FaceNet:
    """The descriptor network, loaded once from ``face_recognition_models``' dlib model file."""
    try:
        import face_recognition_models as frm
    except ImportError:  # pragma: no cover - install problem
        raise ModelError("face_recognition_models is not installed; run `make install`") from None
    path = frm.face_recognition_model_location()
    try:
        return FaceNet(read_weights(path))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot read dlib's face descriptor model {Path(path).name}: {exc}; "
            "reinstall face_recognition_models"
        ) from None
