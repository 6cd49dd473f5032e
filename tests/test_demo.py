"""`workbench demo --video`: simulated history, real footage and the report, end to end."""

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.offline_html import verify_html
from workbench.store import Store

CLIP = (
    Path(__file__).resolve().parents[2]
    / "shared/data/face-recognition-ageitgey/examples/short_hamilton_clip.mp4"
)


@pytest.mark.skipif(
    not CLIP.exists(), reason="needs ../shared/data (real footage); absent in a user's clone"
)
def test_demo_with_real_footage(tmp_path):
    store, out = tmp_path / "demo", tmp_path / "reports"
    result = CliRunner().invoke(
        main,
        ["demo", "--store", str(store), "--out", str(out), "--days", "7", "--video", str(CLIP)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output
    report = Path(re.search(r"Daily report for \S+: (\S+\.html)", result.output).group(1))
    audit = verify_html(
        report.read_text(), expected_figures=4
    )  # raises on a missing chart or an external URL
    assert audit["figures"] >= 4
    s = Store(store)
    assert s.config.timezone == "Asia/Kolkata"
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    door = s.query("SELECT * FROM visits WHERE camera = 'door'")
    assert len(door) >= 2  # the singer and someone in the audience, from real footage
    assert {v.tz_convert("Asia/Kolkata").date() for v in door.start} == {today}
    assert s.query("SELECT count(*) n FROM transactions").n[0] > 0
