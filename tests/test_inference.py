"""The rebuilt networks' graph cache (workbench.inference): used when present, rebuilt
when broken, skipped when it cannot be written."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import inference, yunet
from workbench.errors import ModelError


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


def test_graph_is_cached_and_a_broken_cache_file_is_rebuilt(tmp_path, monkeypatch, fresh_yunet):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    first = _faces(image)
    (cached,) = tmp_path.glob("yunet-*.onnx")
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
