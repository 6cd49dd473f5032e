"""The rebuilt networks' graph cache (workbench.inference): used when present, rebuilt
when broken, skipped when it cannot be written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench import inference, yunet
from workbench.errors import ModelError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def fresh_yunet():
    try:
        yunet.library_path()
    except ModelError as exc:
        pytest.skip(f"yunet unavailable here: {exc}")
    yunet.session.cache_clear()
    yield
    yunet.session.cache_clear()


def _faces(image):
    yunet.session.cache_clear()
    return yunet.detect(image)


def test_graph_is_cached_a_broken_cache_file_is_rebuilt_and_stale_ones_go(
    tmp_path, monkeypatch, fresh_yunet
):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    stale = tmp_path / "yunet-0123456789abcdef.onnx"  # from an older wheel or older code
    stale.write_bytes(b"an old graph")
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    first = _faces(image)
    (cached,) = tmp_path.glob("yunet-*.onnx")  # the stale one is gone
    made = cached.stat().st_mtime_ns
    assert np.array_equal(_faces(image), first)
    assert cached.stat().st_mtime_ns == made  # read, not rebuilt
    cached.write_bytes(b"not a model")
    assert np.array_equal(_faces(image), first)
    assert cached.stat().st_size > 100_000  # rebuilt and written again


def test_an_unwritable_cache_folder_only_costs_time(tmp_path, monkeypatch, fresh_yunet):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("WORKBENCH_CACHE", str(blocker / "cache"))
    image = np.zeros((64, 64, 3), np.uint8)
    assert len(_faces(image)) == 0
    assert inference.cache_dir() == blocker / "cache"


@pytest.mark.skipif(
    not (SHARED / "dlib-examples/examples/faces/2008_001009.jpg").exists(),
    reason="needs ../shared/data (a real group photo)",
)
def test_dlibs_face_detector_is_kept_in_the_cache_and_finds_what_dlibs_own_finds(
    tmp_path, monkeypatch
):
    import cv2
    import dlib

    from workbench import faces

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    image = cv2.imread(str(SHARED / "dlib-examples/examples/faces/2008_001009.jpg"))[:, :, ::-1]
    image = np.ascontiguousarray(image)
    theirs = dlib.get_frontal_face_detector().run(image, 1, -0.5)
    for _ in range(2):  # saved, then read
        ours = faces._frontal_face_detector(dlib).run(image, 1, -0.5)
        (saved,) = tmp_path.glob("dlib-frontal-face-*.svm")
        assert [str(r) for r in ours[0]] == [str(r) for r in theirs[0]] and len(theirs[0]) >= 2
        assert np.allclose(ours[1], theirs[1]) and ours[2] == theirs[2]
    saved.write_text("not a detector")  # a broken file is made again
    assert len(faces._frontal_face_detector(dlib).run(image, 1, -0.5)[0]) == len(theirs[0])
