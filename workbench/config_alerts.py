"""Configuration of alerts: the rules, the channels they go out on, retries, and the
retention of key images and embeddings.

Secrets (SMTP password, webhook tokens, SMS gateway token) never live in the file:
each channel names the environment variable that holds its secret.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALERT_KINDS = (
    "new_customer",
    "returning_customer",
    "defaulter",
    "capacity",
    "density",
    "loitering",
    "after_hours",
    "camera_offline",
)
AlertKind = Literal[
    "new_customer",
    "returning_customer",
    "defaulter",
    "capacity",
    "density",
    "loitering",
    "after_hours",
    "camera_offline",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- channels
class EmailChannel(_Strict):
    host: str = Field(description="SMTP server host name.")
    port: int = Field(587, ge=1, le=65535, description="587 for starttls, 465 for ssl, 25 plain.")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        description="starttls (upgrade after connecting), ssl (TLS from the start) or none.",
    )
    username: str | None = Field(
        None, description="Log in as this user (password from password_env)."
    )
    password_env: str = Field(
        "WORKBENCH_SMTP_PASSWORD", description="Environment variable that holds the SMTP password."
    )
    sender: str = Field("workbench@localhost", description="From address.")
    to: list[str] = Field(default_factory=list, description="Recipients.")
    kinds: list[AlertKind] | None = Field(
        None, description="Alert kinds sent to this channel; all when unset."
    )


class WebhookChannel(_Strict):
    url: str = Field(description="Where alerts are POSTed (http or https).")
    format: Literal["json", "slack", "teams", "discord"] = Field(
        "json",
        description="Payload: generic JSON (with the key image in base64), a Slack or Microsoft Teams incoming webhook, or a Discord webhook (image attached).",
    )
    token_env: str | None = Field(
        None,
        description="Environment variable holding a token sent as 'Authorization: Bearer <token>'.",
    )
    kinds: list[AlertKind] | None = Field(
        None, description="Alert kinds sent to this channel; all when unset."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class SmsChannel(_Strict):
    """An SMS gateway with Twilio's HTTP API (Twilio itself, or a compatible gateway)."""

    api_url: str = Field(
        "https://api.twilio.com",
        description="Gateway base URL; messages are POSTed to <api_url>/2010-04-01/Accounts/<account>/Messages.json.",
    )
    account: str = Field(description="Account id (Twilio: the Account SID), also the login user.")
    token_env: str = Field(
        "WORKBENCH_SMS_TOKEN", description="Environment variable that holds the gateway auth token."
    )
    sender: str = Field(description="The number (or sender id) messages come from.")
    to: list[str] = Field(min_length=1, description="Phone numbers to text (E.164, e.g. +9198...).")
    kinds: list[AlertKind] | None = Field(
        None, description="Alert kinds texted; all when unset (SMS costs money: pick a few)."
    )


class RetryConfig(_Strict):
    first_delay_s: float = Field(
        5.0, gt=0, le=3600, description="Wait before the first retry of a failed delivery."
    )
    max_delay_s: float = Field(
        300.0, gt=0, le=86400, description="The wait doubles after each failure up to this."
    )
    give_up_after_h: float = Field(
        72.0,
        gt=0,
        le=24 * 365,
        description="A delivery still failing after this long is moved to state/alert_queue/failed/ (`workbench alerts flush --failed` retries it).",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="Timeout of one delivery attempt.")


# ---------------------------------------------------------------- rules
class _Rule(_Strict):
    enabled: bool = Field(False, description="Evaluate this rule.")
    cooldown_s: float = Field(
        600.0,
        ge=0,
        le=7 * 86400,
        description="At most one alert per subject (customer, camera, zone) this often.",
    )
    cameras: list[str] = Field(
        default_factory=list, description="Only these cameras; all when empty."
    )


class NewCustomerRule(_Rule):
    enabled: bool = True


class ReturningCustomerRule(_Rule):
    only_labelled: bool = Field(False, description="Only customers with a label.")
    customers: list[str] = Field(
        default_factory=list, description="Only these customer ids (VIPs); all when empty."
    )


class DefaulterRule(_Rule):
    """A customer in the ``repeat_defaulters`` view (2+ unpaid till records) comes back."""

    enabled: bool = True
    cooldown_s: float = Field(
        3600.0, ge=0, le=7 * 86400, description="At most one alert per customer this often."
    )


class CapacityRule(_Rule):
    max_people: int = Field(
        20, ge=1, le=10000, description="Alert when more people than this are in view."
    )
    zone: str = Field("", description="A zone's name, or '' for the camera's whole picture.")


class DensityRule(_Rule):
    factor: float = Field(
        2.0,
        gt=1,
        le=100,
        description="Alert when people in view exceed this times the usual for the hour.",
    )
    min_people: float = Field(
        3.0,
        ge=0,
        le=10000,
        description="... and at least this many (a quiet hour's usual is near zero).",
    )
    history_days: int = Field(
        28, ge=1, le=365, description="Days of history the usual is taken from."
    )
    min_samples: int = Field(
        6,
        ge=1,
        le=100000,
        description="Intervals of history needed for an hour before it is judged.",
    )


class LoiteringRule(_Rule):
    seconds: float = Field(
        300.0, gt=0, le=86400, description="Time in a zone that counts as loitering."
    )
    zones: list[str] = Field(
        default_factory=list, description="Zones watched; every non-staff zone when empty."
    )


class AfterHoursRule(_Rule):
    open: str = Field("09:00", description="Opening time, HH:MM in the camera's timezone.")
    close: str = Field(
        "21:00", description="Closing time, HH:MM (before open: the shop closes after midnight)."
    )
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        description="Days the shop opens; anyone seen on other days is after hours.",
    )

    @field_validator("open", "close")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError(f"{v!r} is not a time HH:MM (24-hour)")
        return v


class CameraOfflineRule(_Rule):
    enabled: bool = True
    after_s: float = Field(60.0, gt=0, le=86400, description="Offline this long before alerting.")


class RulesConfig(_Strict):
    new_customer: NewCustomerRule = Field(default_factory=NewCustomerRule)
    returning_customer: ReturningCustomerRule = Field(default_factory=ReturningCustomerRule)
    defaulter: DefaulterRule = Field(default_factory=DefaulterRule)
    capacity: CapacityRule = Field(default_factory=CapacityRule)
    density: DensityRule = Field(default_factory=DensityRule)
    loitering: LoiteringRule = Field(default_factory=LoiteringRule)
    after_hours: AfterHoursRule = Field(default_factory=AfterHoursRule)
    camera_offline: CameraOfflineRule = Field(default_factory=CameraOfflineRule)


class AlertConfig(_Strict):
    rules: RulesConfig = Field(default_factory=RulesConfig)
    email: EmailChannel | None = None
    webhooks: list[WebhookChannel] = Field(default_factory=list)
    sms: SmsChannel | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)


# ---------------------------------------------------------------- retention
class RetentionConfig(_Strict):
    images_days: float | None = Field(
        30.0,
        gt=0,
        description="Key images (snapshots/) older than this are deleted; never when null.",
    )
    one_time_embeddings_days: float | None = Field(
        90.0,
        gt=0,
        description="Face embeddings of customers seen on one visit only, last seen longer ago than this, are deleted (they stop being recognised); never when null.",
    )
    alerts_days: float | None = Field(
        365.0, gt=0, description="Alert rows older than this are deleted; never when null."
    )
    blur_faces: bool = Field(
        False,
        description="Blur faces in stored images: alert images when written, key images by `workbench retention run` (emails then show blurred faces too).",
    )
