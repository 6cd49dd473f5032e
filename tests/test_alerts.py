"""Alert rules on synthetic events, delivered to real servers (HTTP receiver, SMTP)."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pandas as pd
import pytest
from alert_servers import HttpReceiver, SmtpServer, attachments, basic_auth, wait_for
from click.testing import CliRunner

from workbench.alert_queue import DeliveryQueue
from workbench.alerts import AlertEngine, is_open
from workbench.cli import main
from workbench.config import parse_config
from workbench.errors import ConfigError
from workbench.mail import MailError, send_mail
from workbench.store import Store
from workbench.writer import RunWriter

NOW = datetime.now(UTC).replace(microsecond=0)
FAST_RETRY = {"first_delay_s": 0.2, "max_delay_s": 0.5, "timeout_s": 2}


def face_jpeg() -> bytes:
    """A real JPEG (a gradient with a drawn face); exact bytes matter, not the picture."""
    img = np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    cv2.circle(img, (80, 60), 30, (200, 180, 160), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def setup(tmp_path: Path, **alerts) -> tuple:
    root = tmp_path / "store"
    cfg = parse_config(
        {"store": str(root), "timezone": "Asia/Kolkata", "alerts": {"retry": FAST_RETRY, **alerts}}
    )
    store = Store(root, cfg)
    store.ensure_writable()
    return cfg, store


TRACK_IDS = itertools.count(1)


def track(cid: str | None, start: datetime, store: Store | None = None, camera: str = "door"):
    n = next(TRACK_IDS)
    snapshot = store.save_snapshot(f"{camera}/x/t{n}.jpg", face_jpeg()) if store else None
    return {
        "camera": camera,
        "track_id": f"t-{n}",
        "start": start,
        "end": start + timedelta(seconds=4),
        "customer_id": cid,
        "snapshot": snapshot,
    }


def write(store: Store, table: str, rows: list[dict]) -> None:
    with RunWriter(store, f"test:{table}:{len(rows)}", "door", "test", "video") as w:
        w.add(table, rows)


def test_new_customer_once_ever_returning_after_a_gap(tmp_path):
    hook = HttpReceiver().start()
    cfg, store = setup(
        tmp_path,
        webhooks=[{"url": hook.url + "/hook"}],
        rules={"returning_customer": {"enabled": True, "cooldown_s": 3600}},
    )
    engine = AlertEngine(cfg, store)
    try:
        engine.observe("tracks", [track("C00001", NOW, store), track(None, NOW, store)])
        engine.observe(
            "tracks", [track("C00001", NOW + timedelta(seconds=60), store)]
        )  # same visit
        engine.observe("tracks", [track("C00001", NOW + timedelta(seconds=400), store)])  # back
        engine.observe("tracks", [track("C00001", NOW + timedelta(seconds=900), store)])  # cooldown
        assert [a.kind for a in engine.raised] == ["new_customer", "returning_customer"]
        assert wait_for(lambda: len(hook.posts) == 2, 10)
    finally:
        engine.close()
    new = hook.posts[0]["json"]
    assert new["kind"] == "new_customer" and new["customer_id"] == "C00001"
    assert base64.b64decode(new["image_jpeg_base64"]) == face_jpeg()
    stored = store.query("SELECT * FROM alerts ORDER BY ts")
    assert list(stored.kind) == ["new_customer", "returning_customer"]
    assert all((store.root / s).is_file() for s in stored.snapshot)
    assert stored.snapshot.iloc[0].startswith("snapshots/alerts/")

    # a restart remembers: C00001 is known and cooling down; C00002 is new
    write(
        store,
        "tracks",
        [
            {
                **track("C00001", NOW),
                "sightings": 3,
                "embedded": 1,
                "quality": 1.0,
                "match_distance": None,
                "embedding": None,
            }
        ],
    )
    engine = AlertEngine(cfg, store)
    try:
        engine.observe("tracks", [track("C00001", NOW + timedelta(seconds=1500), store)])
        engine.observe("tracks", [track("C00002", NOW + timedelta(seconds=1500), store)])
        assert [(a.kind, a.customer_id) for a in engine.raised] == [("new_customer", "C00002")]
        assert wait_for(lambda: len(hook.posts) == 3, 10)
    finally:
        engine.close()
        hook.stop()


def test_staff_vips_and_defaulters(tmp_path):
    cfg, store = setup(
        tmp_path,
        rules={"returning_customer": {"enabled": True, "customers": ["C00005"]}},
    )
    old = NOW - timedelta(days=3)
    write(
        store,
        "tracks",
        [
            {
                **track(c, old),
                "sightings": 3,
                "embedded": 1,
                "quality": 1.0,
                "match_distance": None,
                "embedding": None,
            }
            for c in ("C00003", "C00004", "C00005", "C00007")
        ],
    )
    store.write_state(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ["C00003", "C00005"],
                "created_at": [old, old],
                "label": [None, "Ravi"],
                "is_staff": [True, False],
            }
        ),
    )
    write(
        store,
        "transactions",
        [
            {
                "camera": "door",
                "transaction_id": f"x{i}",
                "ts": old + timedelta(hours=i),
                "customer_id": "C00007",
                "payment_mode": "cash",
                "can_size": "20L",
                "number_of_cans": 1,
                "amount": 30.0,
                "payment_status": "Unpaid",
            }
            for i in range(2)
        ],
    )
    assert list(store.query("SELECT customer_id FROM repeat_defaulters").customer_id) == ["C00007"]
    engine = AlertEngine(cfg, store, deliver=False)
    try:
        for cid in ("C00003", "C00004", "C00005", "C00007"):
            engine.observe("tracks", [track(cid, NOW, store)])
    finally:
        engine.close()
    got = [(a.kind, a.customer_id) for a in engine.raised]
    # staff: nothing; C00004 not a VIP; C00005 a VIP (with its label); C00007 owes money
    assert got == [("returning_customer", "C00005"), ("defaulter", "C00007")]
    assert "Ravi" in engine.raised[0].message


def test_scene_rules(tmp_path):
    cfg, store = setup(
        tmp_path,
        rules={
            "capacity": {"enabled": True, "max_people": 4},
            "density": {"enabled": True, "factor": 2, "min_people": 2, "min_samples": 5},
            "loitering": {"enabled": True, "seconds": 30},
            "after_hours": {"enabled": True, "open": "09:00", "close": "21:00"},
            "camera_offline": {"after_s": 60, "cooldown_s": 120},
        },
    )
    # the usual crowd at this hour over the last week: about one person
    write(
        store,
        "occupancy",
        [
            {
                "camera": "door",
                "ts": NOW - timedelta(days=d),
                "zone": "",
                "seconds": 10.0,
                "people_mean": 1.0,
                "people_max": 2,
                "close_pairs_mean": 0.0,
                "close_pairs_max": 0,
                "area_m2": None,
            }
            for d in range(1, 8)
        ],
    )
    engine = AlertEngine(cfg, store, deliver=False)
    local = NOW.astimezone(ZoneInfo("Asia/Kolkata"))
    opening = is_open(local, "09:00", "21:00", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    try:
        row = {"camera": "door", "ts": NOW, "zone": "", "people_mean": 5.0, "people_max": 6}
        engine.observe("occupancy", [row, {**row, "ts": NOW + timedelta(seconds=10)}])
        engine.observe("occupancy", [{**row, "people_mean": 1.2, "people_max": 2}])  # usual: fine
        enter = {"camera": "door", "zone": "shelf", "track_id": "p1", "staff_zone": False}
        engine.observe("zone_events", [{**enter, "ts": NOW, "kind": "enter", "dwell_s": None}])
        engine.observe(
            "zone_events",
            [
                {
                    **enter,
                    "track_id": "s1",
                    "staff_zone": True,
                    "ts": NOW,
                    "kind": "enter",
                    "dwell_s": None,
                }
            ],
        )
        engine.tick(NOW + timedelta(seconds=20))
        assert "loitering" not in [a.kind for a in engine.raised]
        engine.tick(NOW + timedelta(seconds=31))
        engine.observe(
            "zone_events",
            [{**enter, "ts": NOW + timedelta(seconds=40), "kind": "exit", "dwell_s": 40.0}],
        )
        engine.camera_status("door", False, NOW)
        engine.tick(NOW + timedelta(seconds=30))
        engine.tick(NOW + timedelta(seconds=61))
        engine.tick(NOW + timedelta(seconds=62))
        engine.camera_status("door", True, NOW + timedelta(seconds=70))
        engine.camera_status("door", False, NOW + timedelta(seconds=200))
        engine.tick(NOW + timedelta(seconds=261))
        late = (local + timedelta(days=2)).replace(hour=23, minute=30)
        engine.observe(
            "sightings", [{"camera": "door", "ts": late, "x": 1.0, "y": 1.0, "w": 9.0, "h": 9.0}]
        )
    finally:
        engine.close()
    kinds = [a.kind for a in engine.raised]
    after = ["after_hours"] if not opening else []  # the occupancy rows are now
    assert kinds == [
        *after,
        "capacity",
        "density",
        "loitering",
        "camera_offline",
        "camera_offline",
        "after_hours",
    ]
    density = next(a for a in engine.raised if a.kind == "density")
    assert density.details["usual"] == pytest.approx(1.0)
    assert store.query("SELECT count(*) AS n FROM alerts").n[0] == len(kinds)


@pytest.mark.parametrize(
    "when, open_, close, days, expected",
    [
        ("2026-11-20 08:59", "09:00", "21:00", ["fri"], False),
        ("2026-11-20 09:00", "09:00", "21:00", ["fri"], True),
        ("2026-11-20 21:00", "09:00", "21:00", ["fri"], False),
        ("2026-11-21 10:00", "09:00", "21:00", ["fri"], False),  # saturday: closed
        ("2026-11-20 23:30", "18:00", "02:00", ["fri"], True),  # a bar open past midnight
        ("2026-11-21 01:30", "18:00", "02:00", ["fri"], True),  # friday night, saturday 01:30
        ("2026-11-22 01:30", "18:00", "02:00", ["fri"], False),  # saturday night: closed
    ],
)
def test_opening_hours(when, open_, close, days, expected):
    assert is_open(datetime.fromisoformat(when), open_, close, days) is expected


def test_webhook_formats_and_sms(tmp_path, monkeypatch):
    hook = HttpReceiver().start()
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    monkeypatch.setenv("SMS_TOKEN", "tw-token")
    cfg, store = setup(
        tmp_path,
        webhooks=[
            {"url": hook.url + "/slack", "format": "slack"},
            {"url": hook.url + "/teams", "format": "teams"},
            {"url": hook.url + "/discord", "format": "discord"},
            {"url": hook.url + "/json", "token_env": "HOOK_TOKEN", "kinds": ["camera_offline"]},
        ],
        sms={
            "api_url": hook.url,
            "account": "AC123",
            "token_env": "SMS_TOKEN",
            "sender": "+15550001",
            "to": ["+15550002"],
        },
    )
    engine = AlertEngine(cfg, store)
    try:
        engine.observe("tracks", [track("C00009", NOW, store)])
        assert wait_for(lambda: len(hook.posts) == 4, 10)  # json takes only camera_offline
    finally:
        engine.close()
        hook.stop()
    posts = {p["path"].split("/")[1]: p for p in hook.posts}
    assert set(posts) == {"slack", "teams", "discord", "2010-04-01"}
    assert "New customer C00009" in posts["slack"]["json"]["text"]
    card = posts["teams"]["json"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    image = [b for b in card["content"]["body"] if b["type"] == "Image"][0]
    assert base64.b64decode(image["url"].split(",", 1)[1]) == face_jpeg()
    discord = posts["discord"]["form"]
    assert discord["files[0]"] == face_jpeg()
    assert (
        json.loads(discord["payload_json"])["embeds"][0]["image"]["url"]
        == "attachment://snapshot.jpg"
    )
    sms = posts["2010-04-01"]
    assert sms["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert basic_auth(sms) == ("AC123", "tw-token")
    form = dict(pair.split("=", 1) for pair in sms["body"].decode().split("&"))
    assert form["To"] == "%2B15550002" and "C00009" in form["Body"]


def test_receiver_down_alerts_wait_and_survive_a_restart(tmp_path):
    hook = HttpReceiver()  # not started: the receiver is down
    cfg, store = setup(tmp_path, webhooks=[{"url": hook.url}])
    engine = AlertEngine(cfg, store)
    for i in range(3):
        engine.observe("tracks", [track(f"C0010{i}", NOW + timedelta(seconds=i), store)])
    queue = DeliveryQueue(store, cfg.alerts)
    # the oldest is retried; the later ones wait behind it (a channel keeps the order)
    assert wait_for(lambda: queue.pending()[0][1]["attempts"] >= 2, 10)
    engine.close()  # the process stops while the receiver is down
    pending = queue.pending()
    assert len(pending) == 3
    assert all("cannot reach it" in item["last_error"] for _, item in pending)

    hook.start()  # the receiver is back; a new process sends what is queued
    engine = AlertEngine(cfg, store)
    try:
        assert wait_for(lambda: len(hook.posts) == 3, 10)
    finally:
        engine.close()
        hook.stop()
    assert [p["json"]["customer_id"] for p in hook.posts] == ["C00100", "C00101", "C00102"]
    assert queue.pending() == []


def test_refused_deliveries_fail_and_flush_retries_them(tmp_path):
    hook = HttpReceiver(status=403).start()
    cfg, store = setup(tmp_path, webhooks=[{"url": hook.url}])
    config = tmp_path / "workbench.yml"
    config.write_text(
        json.dumps({"store": str(store.root), "alerts": {"webhooks": [{"url": hook.url}]}})
    )
    engine = AlertEngine(cfg, store)
    queue = DeliveryQueue(store, cfg.alerts)
    try:
        engine.observe("tracks", [track("C00200", NOW, store)])
        assert wait_for(lambda: len(queue.pending(failed=True)) == 1, 10)
    finally:
        engine.close()
    assert "HTTP 403" in queue.pending(failed=True)[0][1]["last_error"]
    hook.status = 200
    out = CliRunner().invoke(main, ["--config", str(config), "alerts", "flush", "--failed"])
    assert out.exit_code == 0, out.output
    assert "requeued 1" in out.output and "delivered 1; still queued 0" in out.output
    assert len(hook.posts) == 2
    out = CliRunner().invoke(main, ["--config", str(config), "alerts", "list"])
    assert "New customer C00200" in out.output and "deliveries queued: 0; failed: 0" in out.output
    hook.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_send_mail_with_login_and_errors(tmp_path, monkeypatch):
    smtp = SmtpServer(users={"shop": "pw1"}).start()
    cfg, _ = setup(
        tmp_path,
        email={
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "username": "shop",
            "password_env": "SMTP_PW",
            "to": ["owner@example.com"],
        },
    )
    channel = cfg.alerts.email
    try:
        with pytest.raises(MailError, match="set the environment variable SMTP_PW") as err:
            send_mail(channel, "s", "<p>x</p>")
        assert err.value.permanent
        monkeypatch.setenv("SMTP_PW", "wrong")
        with pytest.raises(MailError, match="login as 'shop' refused"):
            send_mail(channel, "s", "<p>x</p>")
        monkeypatch.setenv("SMTP_PW", "pw1")
        send_mail(channel, "Hello", "<p>hi</p>", attachments=[("a.jpg", face_jpeg(), "image/jpeg")])
        assert wait_for(lambda: len(smtp.messages) == 1, 5)
        msg = smtp.messages[0]
        assert msg["Subject"] == "Hello" and msg["To"] == "owner@example.com"
        assert attachments(msg) == [("a.jpg", face_jpeg(), "image/jpeg")]
    finally:
        smtp.stop()
    with pytest.raises(MailError, match="cannot connect") as err:
        send_mail(channel, "s", "<p>x</p>", timeout=2)
    assert not err.value.permanent


@pytest.mark.parametrize(
    "alerts, key",
    [
        ({"webhooks": [{"url": "hooks.example.com"}]}, "alerts.webhooks.0.url"),
        ({"rules": {"after_hours": {"open": "9am"}}}, "alerts.rules.after_hours.open"),
        ({"rules": {"capacity": {"max_people": 0}}}, "alerts.rules.capacity.max_people"),
        ({"sms": {"account": "A", "sender": "+1", "to": []}}, "alerts.sms.to"),
        ({"rules": {"loitering": {"secs": 3}}}, "alerts.rules.loitering.secs"),
    ],
)
def test_bad_alert_settings_name_the_key(alerts, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config({"alerts": alerts})
