"""`workbench report`: HTML, PDF (headless Chromium) and Excel, emailed to a real SMTP server.

The PDF is rendered back to pictures (pypdfium2) and must show the charts' own colours;
the page images are saved under test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from workbench import plotting
from workbench.config import parse_config
from workbench.mail import MailError
from workbench.report import FORMATS, make_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SCRIPT_BODY = re.compile(r"(<script\b[^>]*>).*?(</script>)", re.S | re.I)
EXTERNAL_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
SHEETS = ["Summary", "Daily", "Weekly", "Hours", "Payments", "Customers", "Unpaid", "Visits"]


@pytest.fixture(scope="module")
def smtp():
    from alert_servers import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def daily(demo_store, demo_end, smtp, tmp_path_factory):
    """The demo store's daily report in every format, emailed to the local SMTP server."""
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make install adds it)")
    settings = demo_store.config.model_dump(mode="json", exclude={"store"})
    settings["alerts"] = {"email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                                    "to": ["owner@shop.example"]}}  # fmt: skip
    config = parse_config({**settings, "store": str(demo_store.root)})
    out = tmp_path_factory.mktemp("report")
    return make_report(demo_store.root, "daily", demo_end, out, config=config,
                       formats=["html", "pdf", "xlsx"], email=True)  # fmt: skip


def _pages(pdf: Path) -> list[np.ndarray]:
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(pdf))
    images = [doc[i].render(scale=1.5).to_pil().convert("RGB") for i in range(len(doc))]
    ARTIFACTS.mkdir(exist_ok=True)
    for i, img in enumerate(images):
        img.save(ARTIFACTS / f"{pdf.stem}-page{i + 1}.png")
    return [np.asarray(img).astype(int) for img in images]


def _pixels_of(pages: list[np.ndarray], hex_color: str, tolerance: int = 12) -> int:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return int(sum((np.abs(p - rgb).max(axis=2) <= tolerance).sum() for p in pages))


def test_all_formats_written(daily, demo_end):
    assert list(daily.files) == ["html", "pdf", "xlsx"]
    for fmt, path in daily.files.items():
        assert path.name == f"daily-{demo_end.isoformat()}.{fmt}" and path.stat().st_size > 1000


def test_pdf_shows_the_charts(daily):
    pages = _pages(daily.files["pdf"])
    assert len(pages) >= 2
    # each chart's trace colour is drawn: visits bars/lines, new and returning stacked bars
    for name in ("visits", "new", "returning"):
        assert _pixels_of(pages, plotting.COLORS[name]) > 2000, name
    # and most of the page is not blank: charts and cards, not an empty print
    ink = sum(int((p.min(axis=2) < 200).sum()) for p in pages)
    assert ink > 50_000


def test_html_has_no_external_urls(daily):
    html = daily.files["html"].read_text(encoding="utf-8")
    outside_scripts = SCRIPT_BODY.sub(r"\1\2", html)
    assert EXTERNAL_REF.findall(outside_scripts) == []
    assert html.count("* plotly.js v") == 1


def test_xlsx_has_the_sheets_of_the_window(daily, demo_end):
    book = openpyxl.load_workbook(daily.files["xlsx"], read_only=True)
    assert set(SHEETS) <= set(book.sheetnames)
    days = [r[0] for r in book["Daily"].iter_rows(min_row=2, values_only=True) if r[0]]
    assert len(days) == 14 and days[-1].date() == demo_end


def test_email_carries_every_file(daily, smtp, demo_end):
    assert daily.emailed_to == ["owner@shop.example"]
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert demo_end.strftime("%d %b %Y") in msg["Subject"]
    from alert_servers import attachments

    sent = {name: (data, mime) for name, data, mime in attachments(msg)}
    for fmt, path in daily.files.items():
        data, mime = sent[path.name]
        assert data == path.read_bytes() and mime == FORMATS[fmt]
    html = [p for p in msg.walk() if p.get_content_type() == "text/html" and not p.get_filename()]
    body = html[0].get_payload(decode=True).decode()
    assert "Visits" in body and "Revenue" in body


def test_weekly_report_covers_monday_to_sunday(demo_store, tmp_path):
    made = make_report(demo_store.root, "weekly", date(2026, 10, 29), tmp_path,
                       config=demo_store.config, formats=["html", "xlsx"])  # fmt: skip
    assert (made.start, made.day) == (date(2026, 10, 26), date(2026, 11, 1))
    html = made.files["html"].read_text(encoding="utf-8")
    assert "Week of Mon 26 Oct 2026" in html and "Busy times" in html
    book = openpyxl.load_workbook(made.files["xlsx"], read_only=True)
    days = [r[0] for r in book["Daily"].iter_rows(min_row=2, values_only=True) if r[0]]
    assert [d.date() for d in (days[0], days[-1])] == [made.start, made.day]


def test_cli_refuses_bad_requests(demo_store, tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "workbench.cli", "report", *args,
             "--store", str(demo_store.root), "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    bad = run("daily", "--date", "2026-11-01", "--format", "html,docx")
    assert bad.returncode == 1 and "docx" in bad.stderr and "html, pdf, xlsx" in bad.stderr
    no_smtp = run("daily", "--date", "2026-11-01", "--format", "xlsx", "--email")
    assert no_smtp.returncode == 1 and "add alerts.email to workbench.yml" in no_smtp.stderr
    ok = run("weekly", "--date", "2026-10-29", "--format", "xlsx")
    assert ok.returncode == 0, ok.stderr
    assert f"xlsx: {tmp_path / 'weekly-2026-10-26.xlsx'}" in ok.stdout


def test_unreachable_smtp_server_is_a_clear_error(demo_store, tmp_path):
    from alert_servers import free_port

    settings = demo_store.config.model_dump(mode="json", exclude={"store"})
    settings["alerts"] = {"email": {"host": "127.0.0.1", "port": free_port(), "security": "none",
                                    "to": ["owner@shop.example"]}}  # fmt: skip
    config = parse_config({**settings, "store": str(demo_store.root)})
    with pytest.raises(MailError) as err:
        make_report(demo_store.root, "daily", date(2026, 11, 1), tmp_path, config=config,
                    formats=["xlsx"], email=True)  # fmt: skip
    assert "cannot connect" in str(err.value) and "alerts.email.host" in str(err.value)
    assert (tmp_path / "daily-2026-11-01.xlsx").exists()  # what was made is kept
