"""The live_capture notebook, executed with papermill on a real clip played as a camera."""

from __future__ import annotations

import re
from pathlib import Path

import papermill as pm
import pytest

from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
HAMILTON = ROOT.parent / "shared/data/face-recognition-ageitgey/examples/short_hamilton_clip.mp4"


@pytest.mark.skipif(
    not HAMILTON.exists(), reason="needs ../shared/data (real footage); absent in a user's clone"
)
def test_live_capture_notebook_writes_while_it_shows(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no workbench.yml here: the defaults
    out = tmp_path / "live_capture.ipynb"
    nb = pm.execute_notebook(
        str(ROOT / "notebooks/live_capture.ipynb"),
        str(out),
        parameters={
            "store": str(tmp_path / "store"),
            "source": str(HAMILTON),
            "camera": "door",
            "run_seconds": 6,
        },
        kernel_name="python3",
        cwd=str(tmp_path),
    )
    text = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    frames, tracks = map(int, re.search(r"stopped: (\d+) frames, (\d+) face tracks", text).groups())
    assert frames > 0 and tracks > 0
    assert int(re.search(r"last picture: (\d+) bytes", text).group(1)) > 10_000
    store = Store(tmp_path / "store")
    run = store.query("SELECT * FROM runs WHERE kind = 'live'")
    assert len(run) == 1 and run["status"].iloc[0] == "complete"
    written = store.query(
        "SELECT count(*) AS n FROM tracks WHERE run_id = ?", [run["run_id"].iloc[0]]
    )
    assert written["n"].iloc[0] == tracks
    new = store.query("SELECT count(DISTINCT customer_id) AS n FROM visits")["n"].iloc[0]
    assert f"<td>new today</td><td><b>{new}</b>" in text and new > 0
