"""Reports open in a real headless Chromium: they render, show their plots, log nothing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.report import update_index, write_report
from tests.report.samples import canary_report, gate_report
from tests.report.test_report_files import _evil_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--dump-dom",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    return CHROMIUM


def _open(chromium: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM Chromium built from ``page`` and the console lines it logged."""
    process = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", page.resolve().as_uri()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        dom, log = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish {page.name} within 90 s")
    assert process.returncode == 0, log[-2000:]
    console = [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return dom, console


def test_the_console_check_sees_a_page_error(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    _, console = _open(chromium, page, tmp_path / "profile")
    assert any("Uncaught Error: boom" in line for line in console)


def test_reports_render_with_their_plots_and_no_console_messages(
    chromium: str, tmp_path: Path
) -> None:
    root = tmp_path / "reports"
    pages = {
        "canary": (
            write_report(canary_report(), root / "c")["html"],
            ["traffic", "evalues", "error-rate", "latency-looks", "latency-cdf"],
        ),
        "gate": (
            write_report(gate_report(), root / "g")["html"],
            ["latency-cdf", "trend-latency", "trend-error-rate", "trend-rps"],
        ),
        "index": (update_index(root), []),
    }
    for name, (page, plots) in pages.items():
        dom, console = _open(chromium, page, tmp_path / f"profile-{name}")
        assert console == [], f"{name}: {console}"
        assert re.findall(r'<svg[^>]*data-plot="([^"]+)"', dom) == plots, name
        assert "<h1>" in dom
        if name == "index":
            assert dom.count('/report.html"') == 2


def test_hostile_text_stays_text_in_the_browser(chromium: str, tmp_path: Path) -> None:
    page = write_report(_evil_report(), tmp_path / "evil")["html"]
    dom, console = _open(chromium, page, tmp_path / "profile")
    assert console == []
    assert "<script" not in dom.lower()
    assert "&lt;script&gt;alert" in dom
