"""The manager dashboard: `workbench dashboard` served by Voila, opened in real headless Chromium.

One server (a subprocess, as a user starts it) and one browser serve the whole module.
Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest

from workbench import analytics
from workbench.config import Config
from workbench.simulate import simulate_shop
from workbench.store import Store
from workbench.writer import RunWriter

pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TZ = "Asia/Kolkata"
CHARTS = 4  # hourly, occupancy, visits per day, heat map
START_TIMEOUT = 120  # s: Voila, a kernel and a first render on a loaded 2-core machine
IDLE_MIN = 0.1  # the server culls a page's kernel 6 s after the page closed

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (make install adds it)"
)


def _jpeg(color: tuple[int, int, int]) -> bytes:
    import cv2

    img = np.zeros((48, 48, 3), np.uint8)
    img[:] = color
    return cv2.imencode(".jpg", img)[1].tobytes()


def write_alerts(store: Store, n: int, key: str, now: datetime) -> None:
    """``n`` alerts at camera door, each with a key image, as one run of source ``key``."""
    rows = []
    for i in range(n):
        snap = store.save_snapshot(f"alerts/{key}-{i}.jpg", _jpeg((40 * i, 80, 200)))
        rows.append({"alert_id": f"{key}-{i}", "ts": now - timedelta(minutes=i), "camera": "door",
                     "kind": "new_customer", "customer_id": f"C9{i:04d}",
                     "message": f"new customer {i}", "snapshot": snap, "details": None})  # fmt: skip
    with RunWriter(store, key, "door", key, kind="test") as w:
        w.add("alerts", rows)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Store:
    """Two weeks of simulated visits and sales at 'counter' up to today; today's people
    counting (occupancy, heat) at 'door'; two alerts with key images."""
    root = tmp_path_factory.mktemp("dash") / "store"
    store = Store(root, Config(store=root, timezone=TZ))
    store.ensure_writable()
    now = datetime.now(UTC)
    simulate_shop(store, days=14, end=now.astimezone(ZoneInfo(TZ)).date(), camera="counter")
    occupancy = [{"camera": "door", "ts": now - timedelta(minutes=m), "zone": "", "seconds": 60.0,
                  "people_mean": float(m % 4), "people_max": m % 4 + 1, "close_pairs_mean": 0.0,
                  "close_pairs_max": 0, "area_m2": None} for m in range(0, 90)]  # fmt: skip
    heat = [{"camera": "door", "ts": now.replace(minute=0, second=0, microsecond=0), "space": "image",
             "cell_x": x, "cell_y": y, "cell_size": 40.0, "heading": "", "samples": 10,
             "seconds": float(x * y + 1)} for x in range(8) for y in range(6)]  # fmt: skip
    with RunWriter(store, "people:door", "door", "test", kind="test") as w:
        w.add("occupancy", occupancy)
        w.add("heat", heat)
    write_alerts(store, 2, "alerts-a", now)
    return store


@pytest.fixture(scope="module")
def server(shop):
    """`workbench dashboard` on a free port; yields (url with token, printed lines, its pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "dashboard", "--store", str(shop.root), "--port", "0",
         "--idle-minutes", str(IDLE_MIN)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    found = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "http" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(1) and proc.poll() is None and time.monotonic() < deadline:
            pass
        assert found.is_set(), f"no URL printed: {lines}"
        url = re.search(r"https?://\S+", next(x for x in lines if "http" in x)).group(0)
        yield url, lines, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(server, browser):
    """The dashboard open and drawn; the page records requests and console errors."""
    url = server[0]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.requests, page.errors = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url, wait_until="commit", timeout=START_TIMEOUT * 1000)
    wait_drawn(page)
    yield page
    if not page.is_closed():
        page.close()


def wait_drawn(page, timeout_s: float = START_TIMEOUT) -> None:
    page.wait_for_function(
        f"""document.querySelectorAll('.wb-dashboard .js-plotly-plot .main-svg').length >= {CHARTS}
            && document.querySelectorAll('.wb-card').length == 7""",
        timeout=timeout_s * 1000,
    )


def kpi(page, key: str) -> str:
    return page.inner_text(f".wb-card[data-kpi='{key}'] .v")


def test_url_is_the_first_line_with_http_and_carries_a_token(server):
    url, lines, _ = server
    first = next(x for x in lines if "http" in x)
    assert url in first and re.search(r"\?token=[\w-]{20,}$", url)
    assert urlsplit(url).hostname == "127.0.0.1"


def test_dashboard_draws_the_store_offline(page, shop):
    today = datetime.now(ZoneInfo(TZ)).date()
    summary = analytics.daily_summary(shop, today - timedelta(days=7), today).set_index("day")
    assert kpi(page, "visits") == f"{summary['visits'].iloc[-1]:,}"
    assert kpi(page, "revenue") == f"₹{summary['revenue'].iloc[-1]:,.0f}"
    titles = page.locator(".wb-dashboard .gtitle").all_text_contents()
    assert "Visits per hour" in titles and "Visits per day" in titles
    assert any(t.startswith("Where people spend time (door") for t in titles)
    # occupancy from people counting, now: the newest count (minute 0) is 0 people
    assert any(t.startswith("In the shop now: 0") for t in titles)
    assert page.locator(".wb-alerts img").count() == 2
    assert page.locator(".wb-alerts").inner_text().count("new_customer") == 2
    # the plot traces are really drawn: bars of the hourly chart
    assert page.locator(".wb-dashboard .barlayer .point").count() >= 10
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
    assert page.errors == []
    outside = [u for u in page.requests if not u.startswith(("data:", "blob:"))
               and urlsplit(u).hostname not in ("127.0.0.1", "localhost")]  # fmt: skip
    assert outside == [] and len(page.requests) > 10


def renders(page) -> int:
    """How many redraws the dashboard finished (its ``wb-render-<n>`` class)."""
    return int(page.eval_on_selector(
        ".wb-dashboard", "e => [...e.classList].find(c => c.startsWith('wb-render-')).slice(10)"
    ))  # fmt: skip


def wait_render(page, after: int, timeout_s: float = 60) -> None:
    page.wait_for_selector(f".wb-dashboard.wb-render-{after + 1}", timeout=timeout_s * 1000)
    wait_drawn(page, timeout_s)


def test_camera_filter_redraws(page, shop):
    before, n = kpi(page, "visits"), renders(page)
    assert before != "0"
    page.select_option(".wb-dashboard select", label="door")  # door: people counting only
    wait_render(page, n)
    assert kpi(page, "visits") == "0"
    assert "no visits in this range" in page.text_content(".wb-dashboard")
    titles = page.locator(".wb-dashboard .gtitle").all_text_contents()
    assert any(t.startswith("Where people spend time (door") for t in titles)
    n = renders(page)
    page.select_option(".wb-dashboard select", label="All cameras")
    wait_render(page, n)
    assert kpi(page, "visits") == before
    assert page.errors == []


def test_new_events_appear_without_reload(page, shop):
    write_alerts(shop, 3, "alerts-b", datetime.now(UTC))  # a writer adds alerts while it is open
    page.wait_for_function(
        "document.querySelectorAll('.wb-alerts img').length === 5", timeout=60_000
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard-live.png", full_page=True)


def test_token_is_required(server):
    """Without the token (or with a wrong one) the server sends a login page, not the
    dashboard; the page fixture opened it with the printed URL's token."""
    bare = server[0].split("?")[0]
    for url in (bare, bare + "?token=wrong", bare + "api/kernels"):
        r = httpx.get(url, timeout=60)
        assert r.status_code == 302 and r.headers["location"].startswith("/login"), url


def test_bad_requests_are_refused_before_serving(tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main

    def run(*args):
        return CliRunner().invoke(main, ["dashboard", *args])

    missing = run("--store", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "not a workbench store" in missing.output
    assert "make demo" in missing.output
    (tmp_path / "s" / "events").mkdir(parents=True)
    open_net = run("--store", str(tmp_path / "s"), "--ip", "0.0.0.0", "--no-token")
    assert open_net.exit_code == 1 and "--no-token is refused on 0.0.0.0" in open_net.output


def kernels(server_pid: int) -> list[int]:
    """The kernel processes the server runs now (one exiting meanwhile is not counted)."""
    import psutil

    found = []
    for p in psutil.Process(server_pid).children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(p.cmdline()):
                found.append(p.pid)
        except psutil.Error:  # gone, or a zombie, between the listing and the look
            continue
    return found


def test_kernel_is_shut_down_once_its_page_is_closed(server, page):
    """The page's kernel keeps redrawing (live updates) but is culled once the page is gone;
    the preheated kernel Voila keeps ready for the next viewer stays."""
    url, _, pid = server
    with_page = kernels(pid)
    assert len(with_page) == 2  # this page's kernel and the preheated one
    page.close()
    deadline = time.monotonic() + 60
    while len(kernels(pid)) > 1 and time.monotonic() < deadline:
        time.sleep(1)
    left = kernels(pid)
    assert len(left) == 1 and left[0] in with_page
