"""Typed, strict configuration read from ``workbench.yml``.

Where the file is: ``--config PATH``, else ``$WORKBENCH_CONFIG``, else
``./workbench.yml`` when it exists, else the defaults below. Unknown keys and
out-of-range values are errors that name the key. Secrets (SMTP password, API
keys) never live in the file: a setting names the environment variable that
holds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workbench.config_alerts import (  # noqa: F401 - EmailChannel, WebhookChannel re-exported
    AlertConfig,
    EmailChannel,
    RetentionConfig,
    WebhookChannel,
)
from workbench.config_people import (
    FloorConfig,
    LineConfig,
    PeopleConfig,
    ZoneConfig,
    check_camera_geometry,
)
from workbench.errors import ConfigError

CONFIG_ENV = "WORKBENCH_CONFIG"
DEFAULT_CONFIG_FILE = "workbench.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {value!r} (use an IANA name such as 'Asia/Kolkata')"
        ) from exc
    return value


class CameraConfig(_Strict):
    id: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9_-]{1,64}$",
            description="Short camera id used in the store and the CLI.",
        ),
    ]
    source: str | int | None = Field(
        None, description="Video file, image folder, camera index or stream URL."
    )
    timezone: str | None = Field(
        None, description="IANA timezone of the camera; defaults to the site timezone."
    )
    name: str | None = Field(None, description="Human-readable name shown in dashboards.")
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones (areas) to monitor.")
    floor: FloorConfig | None = Field(None, description="Floor-plan mapping from 4 marked points.")

    _tz = field_validator("timezone")(lambda v: v if v is None else _check_timezone(v))

    @model_validator(mode="after")
    def _geometry(self) -> CameraConfig:
        check_camera_geometry(self.id, self.lines, self.zones, self.floor)
        return self


class DetectionConfig(_Strict):
    face_detector: Literal[
        "auto",
        "hog",
        "haar",
        "cnn",
        "yunet",
        "blazeface",
        "blazeface_full",
        "haar_hog",
        "yunet_hog",
        "blazeface_hog",
        "blazeface_full_hog",
    ] = Field(
        "auto",
        description="Face detector backend (workbench.face_detectors; figures in docs/benchmarks.md). 'auto': yunet_hog where the yuface wheel is installed, else hog. '<name>_hog': <name> proposes faces, dlib HOG confirms each in a small crop.",
    )
    detect_fps: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Face detection runs at most this many times per second of video.",
    )
    search_fps: float = Field(
        2.5,
        gt=0,
        le=60,
        description="With motion gating, moving areas are searched for new faces at most this many times per second of video; faces already tracked are followed at detect_fps. Higher: a face is found sooner after it comes in, at more cost on busy scenes.",
    )
    min_face_px: int = Field(
        40,
        ge=16,
        le=1000,
        description="Smallest face height (pixels, original frame) to look for; smaller faces are not detected.",
    )
    max_width: int = Field(
        960,
        ge=160,
        le=4096,
        description="Frames are shrunk to this width for detection when faces stay above min_face_px.",
    )
    track_max_gap_s: float = Field(
        1.5, gt=0, le=60, description="A face track ends when not seen for this long."
    )
    motion_gating: bool = Field(
        True,
        description="Detect faces only where something moved or a face is tracked (and in the whole frame every refresh_s); off: every sampled frame is searched whole.",
    )
    motion_threshold: int = Field(
        20,
        ge=1,
        le=255,
        description="Grey-level change (0-255, on a small blurred copy) that counts as motion. Raise it for noisy night footage; lower it for dim, low-contrast scenes.",
    )
    refresh_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="With motion gating, the whole frame is searched at least this often (people who hold still).",
    )
    min_track_sightings: int = Field(
        2,
        ge=1,
        le=50,
        description="A face track detected fewer times than this is a glimpse (a fragment, a face passing the edge): its sightings are kept, but it is not identified, so it cannot create or merge customers. Image folders use 1.",
    )


class RecognitionConfig(_Strict):
    match_distance: float = Field(
        0.46,
        gt=0,
        lt=1.2,
        description="Largest embedding distance that counts as the same person. Lower is stricter: fewer false merges, more split customers. Calibrated on labelled faces (docs/identity.md); 0.6 is face_recognition's default.",
    )
    low_quality_match_distance: float = Field(
        0.35,
        gt=0,
        lt=1.2,
        description="Stricter match_distance for a pair of faces both below low_quality_below: small or blurred faces of different people embed closer together. Calibrated on faces scaled down to 35-45 px (docs/identity.md). Lower: fewer false merges among poor faces, more of their returns missed; set it to match_distance to turn the rule off.",
    )
    low_quality_below: float = Field(
        0.8,
        ge=0,
        le=1,
        description="A pair of faces both below this quality is held to low_quality_match_distance. 0 turns the rule off.",
    )
    min_face_quality: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Faces below this quality score (0..1) are counted as sightings but not used to identify.",
    )
    embeddings_per_track: int = Field(
        5,
        ge=1,
        le=50,
        description="At most this many face embeddings are computed per track (the best ones).",
    )
    gallery_size: int = Field(
        10, ge=1, le=100, description="Representative embeddings kept per customer."
    )
    consolidate_distance: float = Field(
        0.6,
        gt=0,
        lt=1.2,
        description="`customers consolidate` merges two customers when the average distance between their exemplars is within this. Averages of many pairs spread less than single pairs, so it can be looser than match_distance.",
    )
    consolidate_after_ingest: bool = Field(
        False,
        description="Run `customers consolidate` at the end of every ingest. Off by default: run early, on few tracks per customer, it merged two different people in the week benchmark (docs/benchmarks.md); run it when a store holds several days, with --dry-run first.",
    )
    consolidate_min_quality: float = Field(
        0.8,
        ge=0,
        le=1,
        description="`customers consolidate` only uses tracks whose best face has at least this quality: small or blurred faces of different people are often closer than consolidate_distance.",
    )


class VisitConfig(_Strict):
    gap_s: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="A customer absent for longer than this starts a new visit (seconds).",
    )


class TransactionsConfig(_Strict):
    till_camera: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Camera that sees the till. A till record without a customer id is linked to the customer whose visit at this camera is in progress at its time; without it, visits at any camera count.",
    )
    link_window_s: float = Field(
        120.0,
        ge=0,
        le=3600,
        description="A till record up to this many seconds before a visit starts or after it ends still belongs to it (till clocks drift; people step out of view to pay).",
    )


class ApiConfig(_Strict):
    keys_env: str = Field(
        "WORKBENCH_API_KEYS",
        description="Environment variable holding the API keys (comma-separated) that `workbench serve` accepts in the X-API-Key header.",
    )
    push_token_env: str = Field(
        "WORKBENCH_PUSH_TOKEN",
        description="Environment variable holding the token remote cameras send with `workbench push --token` (cameras with `source: push`).",
    )


class Config(_Strict):
    store: Path = Field(Path("data/store"), description="Directory of the event store.")
    timezone: str = Field(
        "UTC", description="Site timezone (IANA), used by cameras that do not set one."
    )
    cameras: list[CameraConfig] = Field(default_factory=list)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    visits: VisitConfig = Field(default_factory=VisitConfig)
    transactions: TransactionsConfig = Field(default_factory=TransactionsConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    people: PeopleConfig = Field(default_factory=PeopleConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    _tz = field_validator("timezone")(lambda v: _check_timezone(v))

    @model_validator(mode="after")
    def _unique_cameras(self) -> Config:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears twice")
            seen.add(cam.id)
        till = self.transactions.till_camera
        if till and seen and till not in seen:
            raise ValueError(
                f"transactions.till_camera {till!r} is not one of the cameras ({', '.join(sorted(seen))})"
            )
        return self

    def camera_timezone(self, camera: str) -> str:
        """The timezone of ``camera``: its own, else the site's."""
        for cam in self.cameras:
            if cam.id == camera and cam.timezone:
                return cam.timezone
        return self.timezone


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the README's configuration section)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{origin}: {key}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict | None, origin: str = "config") -> Config:
    """Validate a dict (as read from YAML) into a Config; errors name the key."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from None


def with_settings(data: dict, settings: list[str], origin: str = "--set") -> Config:
    """``data`` with dotted ``KEY=VALUE`` settings applied (values read as YAML), validated."""
    data = dict(data)
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise ConfigError(
                f"{origin} {setting!r}: expected KEY=VALUE, e.g. detection.detect_fps=10"
            )
        *parents, leaf = key.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return parse_config(data, origin)


def config_path(path: str | os.PathLike | None = None) -> Path | None:
    """The config file in use: ``path``, else $WORKBENCH_CONFIG, else ./workbench.yml if present."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.exists() else None


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and validate the configuration (see ``config_path`` for where it is looked for).

    A relative ``store`` path is taken relative to the config file's folder.
    """
    file = config_path(path)
    if file is None:
        return Config()
    try:
        data = yaml.safe_load(file.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: config file not found; create it or drop --config/{CONFIG_ENV}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of settings")
    cfg = parse_config(data, str(file))
    if not cfg.store.is_absolute():
        cfg.store = (file.parent / cfg.store).resolve()
    if not Path(cfg.people.models_dir).is_absolute():
        cfg.people.models_dir = str((file.parent / cfg.people.models_dir).resolve())
    return cfg
