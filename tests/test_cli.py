import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import main

COMMANDS = ["ingest", "export", "report", "demo", "info", "compact"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_useful_help(name):
    result = run(name, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output and "--store" in result.output
    assert len(result.output.splitlines()) > 5


def test_console_script_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "version" in out.stdout


@pytest.mark.parametrize("start", ["yesterday", "2026-13-40", "20/11/2026"])
def test_bad_start_is_one_clear_line(tmp_path, start):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    result = run("ingest", video, "--camera", "c", "--start", start, "--store", tmp_path / "s")
    assert result.exit_code == 2
    assert "not an ISO 8601 date-time" in result.output
    assert not (tmp_path / "s" / "events").exists()


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "workbench.yml"
    cfg.write_text("visits:\n  gap_seconds: 60\n")
    result = run("--config", cfg, "info")
    assert result.exit_code == 1
    assert "visits.gap_seconds: unknown key" in result.output


def test_store_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    result = run("ingest", video, "--camera", "c", "--store", blocker / "store")
    assert result.exit_code == 1
    assert "not writable" in result.output


def test_info_on_empty_store(tmp_path):
    result = run("info", "--store", tmp_path / "s", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["versions"]["duckdb"] != "not installed"
    assert data["store"]["exists"] is False


def test_export_unknown_format(tmp_path):
    result = run("export", "visits", "--out", tmp_path / "v.json", "--store", tmp_path / "s")
    assert result.exit_code == 1 and "unknown format" in result.output


def test_notebooks_are_committed_without_outputs():
    root = Path(__file__).resolve().parents[1]
    notebooks = list((root / "notebooks").rglob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for nb_path in notebooks:
        if ".ipynb_checkpoints" in nb_path.parts:
            continue
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, (
                    f"{nb_path.name} has outputs: strip them"
                )
