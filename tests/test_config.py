from pathlib import Path

import pytest

from workbench.config import Config, load_config, parse_config
from workbench.errors import ConfigError


def test_defaults_are_valid():
    cfg = Config()
    assert cfg.visits.gap_s == 300
    assert cfg.recognition.match_distance < 0.6
    assert cfg.camera_timezone("anything") == "UTC"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"stroe": "x"}, "stroe"),
        ({"cameras": [{"id": "door", "sorce": "a.mp4"}]}, "cameras.0.sorce"),
        ({"visits": {"gap_s": -5}}, "visits.gap_s"),
        ({"recognition": {"match_distance": 3}}, "recognition.match_distance"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"cameras": [{"id": "bad id!"}]}, "cameras.0.id"),
        ({"alerts": {"email": {"host": "smtp", "port": 70000}}}, "alerts.email.port"),
    ],
)
def test_bad_settings_name_the_key(data, key):
    with pytest.raises(ConfigError) as err:
        parse_config(data, "workbench.yml")
    assert f"workbench.yml: {key}:" in str(err.value)


def test_duplicate_camera_ids_rejected():
    with pytest.raises(ConfigError, match="appears twice"):
        parse_config({"cameras": [{"id": "a"}, {"id": "a"}]})


def test_camera_timezone_falls_back_to_site():
    cfg = parse_config(
        {
            "timezone": "Asia/Kolkata",
            "cameras": [{"id": "a"}, {"id": "b", "timezone": "Europe/London"}],
        }
    )
    assert cfg.camera_timezone("a") == "Asia/Kolkata"
    assert cfg.camera_timezone("b") == "Europe/London"


def test_load_from_file_and_env(tmp_path: Path, monkeypatch):
    file = tmp_path / "shop.yml"
    file.write_text("store: mystore\ntimezone: Asia/Kolkata\nvisits:\n  gap_s: 120\n")
    cfg = load_config(file)
    assert cfg.store == (tmp_path / "mystore").resolve()
    assert cfg.visits.gap_s == 120
    monkeypatch.setenv("WORKBENCH_CONFIG", str(file))
    assert load_config().timezone == "Asia/Kolkata"


@pytest.mark.parametrize(
    ("text", "match"),
    [("store: [unclosed", "not valid YAML"), ("- a\n- b\n", "must be a mapping")],
)
def test_unreadable_files(tmp_path: Path, text, match):
    file = tmp_path / "w.yml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(file)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")
