"""Gate and perf reports open in a real headless Chromium with their trend plots."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from analysis import Histogram
from harness.config import load_perf_spec
from harness.load.targets import Arm
from harness.perf.outcome import PerfOutcome, perf_report
from harness.perf.run import PerfTarget, unsaved_run
from harness.report import write_report
from tests.gate.helpers import run_cli, save_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dom_of(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM Chromium built from ``page`` and the console lines it logged."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            f"--user-data-dir={profile}",
            page.resolve().as_uri(),
        ],
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
    return dom, [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def plots(dom: str) -> set[str]:
    return set(re.findall(r'<svg[^>]*data-plot="([^"]+)"', dom))


def test_a_gate_report_renders_its_metrics_and_trends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "history.sqlite"
    for seed in range(6):
        save_run(store, seed=seed, label=f"r{seed}" if seed % 2 else None)
    assert run_cli("gate", "hello", "--store", str(store), "--report-dir", "gate").code == 0

    dom, console = dom_of(tmp_path / "gate" / "report.html", tmp_path / "profile")

    assert console == []
    assert "<script" not in dom
    assert plots(dom) >= {"latency-cdf", "trend-latency", "trend-error-rate", "trend-rps"}
    assert dom.count('<tr class="pass">') == 4


def test_a_perf_report_renders_client_and_server_distributions(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    client = Histogram.from_samples(rng.lognormal(np.log(20.0), 0.3, 3000))
    server = client.coarsen([5, 10, 20, 40, 60, 80, 100, float("inf")])
    outcome = PerfOutcome(
        arm="hello",
        profile="steady",
        started=1_790_000_000.0,
        finished=1_790_000_031.0,
        duration_s=30.0,
        requests=3000,
        errors=3,
        latency=client,
        server={
            "prometheus": "http://127.0.0.1:9090",
            "profile": "legacy",
            "complete": True,
            "revisions": {
                "hello-v1": {
                    "requests": 3000,
                    "errors": 3,
                    "series": 1,
                    "latency": server.to_dict(),
                }
            },
            "autoscaler": {"hello-v1": {"available": False, "reason": "no autoscaler series"}},
        },
    )
    spec = load_perf_spec(None, {"service": "hello"})
    target = PerfTarget(
        namespace="default",
        service="hello",
        arm=Arm("hello", "http://127.0.0.1:1/"),
        tag=None,
        revisions=("hello-v1",),
        revision_env={},
        on_emulator=True,
        prometheus=None,
    )
    run = unsaved_run(spec, target, outcome.started)
    page = write_report(perf_report(run, outcome), tmp_path / "perf")["html"]

    dom, console = dom_of(page, tmp_path / "profile")

    assert console == [] and "<script" not in dom
    assert "latency-cdf" in plots(dom)
    assert "hello (client)" in dom and "hello-v1 (server)" in dom
    assert "autoscaler (hello-v1): not available: no autoscaler series" in dom
