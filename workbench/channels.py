"""Alert delivery: email, webhooks (JSON, Slack, Microsoft Teams, Discord) and SMS.

``deliver(target, alert, store_root)`` sends one alert to one place and raises
``DeliveryError`` when it cannot. Which places an alert goes to is ``targets(config)``;
the durable queue that retries them is ``workbench.alert_queue``. Payloads are pure
functions of the alert, so they are easy to check.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from workbench.config_alerts import AlertConfig, EmailChannel
from workbench.errors import WorkbenchError
from workbench.mail import MailError, send_mail

log = logging.getLogger(__name__)

TITLES = {
    "new_customer": "New customer",
    "returning_customer": "Returning customer",
    "defaulter": "Known defaulter is back",
    "capacity": "Over capacity",
    "density": "Unusually crowded",
    "loitering": "Loitering",
    "after_hours": "Someone present after hours",
    "camera_offline": "Camera offline",
}
TEAMS_IMAGE_MAX = 20_000  # Teams refuses cards over ~28 KB: larger images are left out


class DeliveryError(WorkbenchError):
    """An alert could not be delivered; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Alert:
    """An alert as stored (one ``alerts`` row) and delivered."""

    alert_id: str
    ts: str  # ISO 8601, UTC
    local_time: str  # the camera's wall clock, for people
    camera: str
    kind: str
    customer_id: str | None
    message: str
    snapshot: str | None  # JPEG path relative to the store root
    details: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    def image(self, store_root: Path) -> bytes | None:
        """The key image's JPEG, if it still exists (retention may have removed it)."""
        if not self.snapshot:
            return None
        path = Path(store_root) / self.snapshot
        return path.read_bytes() if path.is_file() else None

    def to_dict(self) -> dict:
        return asdict(self)


def targets(config: AlertConfig, kind: str) -> list[dict]:
    """Every place an alert of ``kind`` goes: ``{"key", "type", "channel", "to"?}`` dicts.

    The channel's settings travel with each queued delivery, so a delivery goes where
    it was addressed even if the config changes before it succeeds. SMS is one
    delivery per number, so one failing number never re-texts the others.
    """
    out = []
    if config.email and _wants(config.email.kinds, kind):
        out.append({"key": "email", "type": "email", "channel": config.email.model_dump()})
    for i, hook in enumerate(config.webhooks):
        if _wants(hook.kinds, kind):
            out.append({"key": f"webhook{i}", "type": "webhook", "channel": hook.model_dump()})
    if config.sms and _wants(config.sms.kinds, kind):
        for i, number in enumerate(config.sms.to):
            out.append(
                {"key": f"sms{i}", "type": "sms", "channel": config.sms.model_dump(), "to": number}
            )
    return out


def _wants(kinds: list[str] | None, kind: str) -> bool:
    return kinds is None or kind in kinds


# ---------------------------------------------------------------- payloads
def email_content(alert: Alert) -> tuple[str, str, str]:
    """Subject, HTML and plain text of an alert email."""
    subject = f"[workbench] {alert.title}: {alert.message}"
    rows = [("Camera", alert.camera), ("Time", alert.local_time)]
    if alert.customer_id:
        rows.append(("Customer", alert.customer_id))
    rows += [(k.replace("_", " ").capitalize(), str(v)) for k, v in alert.details.items()]
    table = "".join(
        f"<tr><td style='color:#666;padding-right:12px'>{html.escape(k)}</td>"
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    image = "<p>The key image is attached.</p>" if alert.snapshot else ""
    body = (
        f"<h3 style='margin:0 0 8px'>{html.escape(alert.title)}</h3>"
        f"<p>{html.escape(alert.message)}</p><table>{table}</table>{image}"
    )
    text = "\n".join([alert.title, alert.message, *(f"{k}: {v}" for k, v in rows)])
    return subject, body, text


def webhook_payload(fmt: str, alert: Alert, image: bytes | None) -> dict:
    """The JSON body of a webhook POST in ``fmt`` (json, slack, teams, discord)."""
    facts = [("Camera", alert.camera), ("Time", alert.local_time)]
    if alert.customer_id:
        facts.append(("Customer", alert.customer_id))
    if fmt == "slack":
        return {
            "text": f"{alert.title}: {alert.message}",
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*{alert.title}*\n{alert.message}"},
                },
                {
                    "type": "context",
                    "elements": [
                        {"type": "mrkdwn", "text": " | ".join(f"{k}: {v}" for k, v in facts)}
                    ],
                },
            ],
        }
    if fmt == "teams":
        body: list[dict] = [
            {"type": "TextBlock", "text": alert.title, "weight": "Bolder", "size": "Medium"},
            {"type": "TextBlock", "text": alert.message, "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]},
        ]
        if image and len(image) <= TEAMS_IMAGE_MAX:
            uri = "data:image/jpeg;base64," + base64.b64encode(image).decode()
            body.append({"type": "Image", "url": uri, "size": "Medium"})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }
    if fmt == "discord":
        embed = {
            "title": alert.title,
            "description": alert.message,
            "timestamp": alert.ts,
            "fields": [{"name": k, "value": v, "inline": True} for k, v in facts],
        }
        if image:
            embed["image"] = {"url": "attachment://snapshot.jpg"}
        return {"content": f"{alert.title}: {alert.message}", "embeds": [embed]}
    payload = alert.to_dict()
    payload["image_jpeg_base64"] = base64.b64encode(image).decode() if image else None
    return payload


def sms_text(alert: Alert) -> str:
    """An SMS body: the message, camera and time, within two SMS segments."""
    return f"{alert.title}: {alert.message} ({alert.camera}, {alert.local_time})"[:300]


# ---------------------------------------------------------------- delivery
def deliver(target: dict, alert: Alert, store_root: Path, timeout: float = 10.0) -> None:
    """Send ``alert`` to one target (from ``targets``); raises ``DeliveryError``."""
    kind, channel = target["type"], target["channel"]
    image = alert.image(store_root)
    if kind == "email":
        subject, body, text = email_content(alert)
        files = [(f"{alert.kind}-{alert.alert_id}.jpg", image, "image/jpeg")] if image else []
        try:
            send_mail(
                EmailChannel.model_validate(channel),
                subject,
                body,
                text=text,
                attachments=files,
                timeout=timeout,
            )
        except MailError as exc:
            raise DeliveryError(str(exc), exc.permanent) from None
        return
    if kind == "webhook":
        url, headers = channel["url"], {}
        if channel.get("token_env"):
            headers["Authorization"] = f"Bearer {_secret(channel['token_env'], url)}"
        payload = webhook_payload(channel["format"], alert, image)
        if channel["format"] == "discord" and image:
            request = {
                "data": {"payload_json": json.dumps(payload)},
                "files": {"files[0]": ("snapshot.jpg", image, "image/jpeg")},
            }
        else:
            request = {"json": payload}
        _post(url, f"webhook {url}", headers=headers, timeout=timeout, **request)
        return
    if kind == "sms":
        base = channel["api_url"].rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{channel['account']}/Messages.json"
        token = _secret(channel["token_env"], url)
        _post(
            url,
            f"SMS gateway {base}",
            data={"From": channel["sender"], "To": target["to"], "Body": sms_text(alert)},
            auth=(channel["account"], token),
            timeout=timeout,
        )
        return
    raise DeliveryError(f"unknown channel type {kind!r} in the alert queue", permanent=True)


def _secret(env: str, where: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise DeliveryError(
            f"{where}: the token is missing; set the environment variable {env}", permanent=True
        )
    return value


def _post(url: str, what: str, **kwargs) -> None:
    try:
        response = httpx.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{what}: cannot reach it ({type(exc).__name__}: {exc}); it is retried later"
        ) from None
    if response.is_success:
        return
    code = response.status_code
    # a client error other than a timeout or rate limit will not go away by itself
    permanent = 400 <= code < 500 and code not in (408, 425, 429)
    hint = "check the URL and token in the config" if permanent else "it is retried later"
    raise DeliveryError(f"{what}: HTTP {code} {response.text[:200]!r}; {hint}", permanent=permanent)
