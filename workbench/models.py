"""Person-detection networks workbench can run, and where to get them.

No weights ship with workbench or with any pip package it installs (the only person
detector inside one is OpenCV's HOG, used by ``detector: hog``). A network is used when
its files are in the models folder (``people.models_dir``); ``workbench models`` lists
what is supported, where to get each file, and what is present, and ``workbench models
--fetch centernet`` downloads the one a package registry carries (``workbench.centernet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    # "yolo" (Ultralytics ONNX export: 1 x (4 + classes) x anchors), "ssd" (Caffe), both run
    # by OpenCV DNN; "centernet" (TensorFlow.js graph, rebuilt for ONNX Runtime)
    format: str
    files: tuple[str, ...]  # the network file first; Caffe adds its prototxt
    input_size: int
    person_class: int
    licence: str
    source: str  # how to get the files

    def paths(self, folder: Path) -> list[Path]:
        return [folder / f for f in self.files]

    def present(self, folder: Path) -> bool:
        return all(p.is_file() for p in self.paths(folder))


_ULTRALYTICS = (
    "pip install ultralytics (elsewhere, with internet), then "
    "`yolo export model={stem}.pt format=onnx imgsz=640` and copy {stem}.onnx here"
)

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec(
            "centernet", "centernet", ("centernet.json", "centernet.bin"), 512, 0,
            "MIT (the @vladmandic/human npm package)",
            "`workbench models --fetch centernet` (the 28 MB @vladmandic/human package from the npm registry)",
        ),
        ModelSpec(
            "yolo11n", "yolo", ("yolo11n.onnx",), 640, 0, "AGPL-3.0 (Ultralytics)",
            _ULTRALYTICS.format(stem="yolo11n"),
        ),
        ModelSpec(
            "yolov8n", "yolo", ("yolov8n.onnx",), 640, 0, "AGPL-3.0 (Ultralytics)",
            _ULTRALYTICS.format(stem="yolov8n"),
        ),
        ModelSpec(
            "mobilenet-ssd", "ssd",
            ("MobileNetSSD_deploy.caffemodel", "MobileNetSSD_deploy.prototxt"), 300, 15, "MIT",
            "both files from https://github.com/chuanqi305/MobileNet-SSD (Caffe, PASCAL VOC classes)",
        ),
    ]
}  # fmt: skip


def model_status(folder: Path) -> list[dict]:
    """Every supported model: name, files, present or not, licence and where to get it."""
    return [
        {
            "name": m.name,
            "files": list(m.files),
            "present": m.present(folder),
            "licence": m.licence,
            "source": m.source,
        }
        for m in MODELS.values()
    ]


def find_model(folder: Path, name: str | None = None) -> ModelSpec:
    """The model ``name`` (its files must be in ``folder``), or the first present one."""
    if name is not None and name not in MODELS:
        raise ModelError(
            f"unknown model {name!r}; supported: {', '.join(MODELS)} (see `workbench models`)"
        )
    candidates = [MODELS[name]] if name else list(MODELS.values())
    for spec in candidates:
        if spec.present(folder):
            return spec
    wanted = candidates[0]
    missing = [str(p) for p in wanted.paths(folder) if not p.is_file()]
    raise ModelError(
        f"no person-detection model in {folder}: {', '.join(missing)} missing; {wanted.source}. "
        "`workbench models` lists every supported model; or set people.detector to hog+motion"
    )
