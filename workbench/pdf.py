"""HTML report -> PDF, printed by headless Chromium (Debian's ``chromium`` package).

Chromium draws the plotly charts exactly as a browser shows them (LaTeX cannot draw
plotly output). It runs with a throw-away profile and no network features, and
gets time to run the page's scripts before printing (``--virtual-time-budget``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from workbench.offline_html import ReportError

log = logging.getLogger(__name__)

CHROMIUM_ENV = "WORKBENCH_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [  # measured on these machines (DESIGN.md); no sandbox: also runs as root in containers
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=15000",  # ms of page time for plotly to draw before printing
]


def chromium() -> str:
    """The Chromium executable: $WORKBENCH_CHROMIUM, else the first one on PATH."""
    if os.environ.get(CHROMIUM_ENV):
        return os.environ[CHROMIUM_ENV]
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError(
        "PDF reports need Chromium: install Debian's `chromium` package (`make install` does), "
        f"or set {CHROMIUM_ENV} to a Chrome/Chromium executable"
    )


def html_to_pdf(html: Path, pdf: Path, timeout: float = 120) -> Path:
    """Print ``html`` (a file) to ``pdf`` (written atomically); returns ``pdf``."""
    exe = chromium()
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="workbench-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
               html.resolve().as_uri()]  # fmt: skip
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise ReportError(
                f"Chromium did not print {html.name} within {timeout:.0f} s"
            ) from None
        except OSError as exc:
            raise ReportError(f"cannot run Chromium ({exe}): {exc.strerror or exc}") from None
    if run.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        tail = " | ".join(run.stderr.strip().splitlines()[-3:])
        raise ReportError(
            f"Chromium could not print {html.name} to PDF (exit {run.returncode}): {tail}"
        )
    if not tmp.read_bytes()[:5] == b"%PDF-":
        tmp.unlink()
        raise ReportError(f"Chromium wrote something that is not a PDF for {html.name}")
    os.replace(tmp, pdf)
    log.info("printed %s (%.1f MB)", pdf, pdf.stat().st_size / 1e6)
    return pdf
