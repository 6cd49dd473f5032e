"""Latency of new-customer alerts: from the frame where a new face appears to the alert
accepted by an SMTP server and received by a webhook, on a real clip played live.

    python benchmarks/alert_latency.py [--clip PATH] [--runs 1]

The clip plays at its real rate through ``workbench.live_sources`` (frames are
wall-clock stamped as they arrive, as from a camera), through the face pipeline with
an ``AlertEngine``; a local aiosmtpd server and an http.server receiver take the
alerts. Per new customer it prints, in seconds:

* ``face_to_mail`` / ``face_to_hook``: from the track's first frame to delivery;
* ``track_s``: how long the face had been in view when the alert was raised (a live
  track is identified provisionally once it has 2 good faces, not when it ends);
* ``end_to_mail``: from that frame to the email;
* ``raise_to_mail`` / ``raise_to_hook``: from the alert being raised to delivery.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from alert_servers import HttpReceiver, SmtpServer, wait_for  # noqa: E402

from workbench.alerts import AlertEngine  # noqa: E402
from workbench.config import parse_config  # noqa: E402
from workbench.faces import load_models  # noqa: E402
from workbench.identity import Gallery  # noqa: E402
from workbench.live_sources import open_live_source  # noqa: E402
from workbench.pipeline import ingest_source  # noqa: E402
from workbench.store import Store  # noqa: E402

CLIP = (
    Path(__file__).resolve().parents[2]
    / "shared/data/face-recognition-ageitgey/examples/short_hamilton_clip.mp4"
)


class RaiseClock:
    """An observer before the engine: wall time each customer was first identified."""

    def __init__(self):
        self.seen: dict[str, float] = {}

    def observe(self, table: str, rows: list[dict]) -> None:
        if table in ("identified", "tracks"):
            for row in rows:
                if row["customer_id"]:
                    self.seen.setdefault(row["customer_id"], time.time())


def one_run(clip: Path, root: Path) -> list[dict]:
    smtp, hook = SmtpServer().start(), HttpReceiver().start()
    cfg = parse_config(
        {
            "store": str(root),
            "people": {"enabled": False},
            "alerts": {
                "email": {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "security": "none",
                    "to": ["a@b"],
                },
                "webhooks": [{"url": hook.url}],
            },
        }
    )
    store = Store(root, cfg)
    store.ensure_writable()
    engine, clock = AlertEngine(cfg, store), RaiseClock()
    load_models()  # a live service has its models loaded after its first frame
    camera = open_live_source(str(clip))
    try:
        ingest_source(
            camera.session(),
            "cam",
            store,
            cfg,
            Gallery.load(store, cfg.recognition.gallery_size),
            progress=False,
            observers=[clock, engine],
            kind="live",
            key="live:cam:bench",
            flush_s=1.0,
        )
    finally:
        camera.stop()
    new = [a for a in engine.raised if a.kind == "new_customer"]
    wait_for(lambda: len(smtp.messages) >= len(new) and len(hook.posts) >= len(new), 30)
    engine.close()
    smtp.stop()
    hook.stop()
    mail_at = {
        m["Subject"].split("New customer ")[1].split(" ")[0]: t
        for m, t in zip(smtp.messages, smtp.arrived, strict=True)
    }
    hook_at = {p["json"]["customer_id"]: t for p, t in zip(hook.posts, hook.arrived, strict=True)}
    out = []
    for alert in new:
        cid = alert.customer_id
        first = datetime.fromisoformat(alert.ts).timestamp()
        last = datetime.fromisoformat(alert.details["seen_until"]).timestamp()
        out.append(
            {
                "customer": cid,
                "track_s": round(last - first, 2),
                "face_to_mail": round(mail_at[cid] - first, 2),
                "face_to_hook": round(hook_at[cid] - first, 2),
                "end_to_mail": round(mail_at[cid] - last, 2),
                "raise_to_mail": round(mail_at[cid] - clock.seen[cid], 3),
                "raise_to_hook": round(hook_at[cid] - clock.seen[cid], 3),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for _ in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix="alert-latency-"))
        try:
            rows += one_run(args.clip, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    for row in rows:
        print(json.dumps(row))
    for key in ("face_to_mail", "end_to_mail", "raise_to_mail", "raise_to_hook"):
        values = [r[key] for r in rows]
        print(f"{key:>14}: median {statistics.median(values):.3f} s, max {max(values):.3f} s")


if __name__ == "__main__":
    main()
