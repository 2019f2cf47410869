"""The sample app: its answer, its SIM_* knobs and their statistics, bad knob values."""

from __future__ import annotations

import ast
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from scipy import stats

from harness.local.app import AppKnobs, KnobError, SampleApp
from tests.local_dataplane.conftest import PlaneThread, fetch_many, start_plane


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _app_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness.local.app", *args],
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_answer(url: str, timeout: float = 60.0) -> tuple[httpx.Response, float]:
    """Poll until the URL answers; returns the response and when it first did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5), time.monotonic()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_standalone_app_says_hello_with_its_revision_after_its_cold_start() -> None:
    port = _free_port()
    started = time.monotonic()
    proc = _app_process(
        {"PORT": str(port), "TARGET": "Knative", "K_REVISION": "hello-00001",
         "SIM_COLD_START_MS": "700"},
        "--host", "127.0.0.1",
    )  # fmt: skip
    try:
        response, answered = _wait_answer(f"http://127.0.0.1:{port}/any/path")
    finally:
        proc.terminate()
        proc.wait(10)
    assert response.status_code == 200
    assert response.text == "Hello Knative!\n"
    assert response.headers["K-Revision"] == "hello-00001"
    assert answered - started >= 0.7


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SIM_ERROR_RATE", "1.5", "invalid SIM_ERROR_RATE='1.5': want a number between 0 and 1"),
        ("SIM_LATENCY_MS", "fast", "invalid SIM_LATENCY_MS='fast': want a number at least 0"),
        ("SIM_TAIL_MULTIPLIER", "0.5", "invalid SIM_TAIL_MULTIPLIER='0.5'"),
        ("SIM_LATENCY_SIGMA", "nan", "invalid SIM_LATENCY_SIGMA='nan'"),
        ("SIM_SEED", "x", "invalid SIM_SEED='x': want an integer"),
    ],
)
def test_invalid_knob_is_one_clear_error(name: str, value: str, expected: str) -> None:
    with pytest.raises(KnobError) as info:
        AppKnobs.from_env({name: value})
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_app_process_with_a_bad_knob_exits_2_with_one_line() -> None:
    proc = _app_process({"PORT": str(_free_port()), "SIM_ERROR_RATE": "-0.1"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err == "error: invalid SIM_ERROR_RATE='-0.1': want a number between 0 and 1\n"
    assert out == ""


def test_defaults_follow_the_design() -> None:
    knobs = AppKnobs.from_env({"SIM_ERROR_RATE": ""})
    assert (knobs.target, knobs.latency_ms, knobs.latency_sigma, knobs.error_rate) == (
        "World", 5.0, 0.3, 0.0,
    )  # fmt: skip


def test_latency_draws_follow_the_lognormal_of_the_knobs() -> None:
    app = SampleApp(AppKnobs(latency_ms=20.0, latency_sigma=0.5, seed=7))
    delays_ms = np.array([app.draw()[1] * 1000 for _ in range(5000)])
    reference = stats.lognorm(s=0.5, scale=20.0)
    assert stats.kstest(delays_ms, reference.cdf).pvalue > 1e-4
    assert abs(np.median(delays_ms) - 20.0) < 1.0


def test_tail_rate_slows_that_share_by_the_multiplier() -> None:
    app = SampleApp(
        AppKnobs(latency_ms=10.0, latency_sigma=0.0, tail_rate=0.1, tail_multiplier=8.0, seed=3)
    )
    delays = [app.draw()[1] for _ in range(4000)]
    slow = sum(1 for d in delays if math.isclose(d, 0.080))
    assert sum(1 for d in delays if math.isclose(d, 0.010)) + slow == 4000
    low, high = stats.binom(4000, 0.1).interval(0.9999)
    assert low <= slow <= high


def test_same_seed_same_draws() -> None:
    knobs = AppKnobs(error_rate=0.3, tail_rate=0.2, seed=11)
    first, second = SampleApp(knobs), SampleApp(knobs)
    assert [first.draw() for _ in range(100)] == [second.draw() for _ in range(100)]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaneThread]:
    for plane in start_plane(tmp_path_factory.mktemp("faulty")):
        plane.add("hello-bad", {"SIM_LATENCY_MS": "0", "SIM_ERROR_RATE": "0.2"})
        plane.add("hello-slow", {"SIM_LATENCY_MS": "40", "SIM_LATENCY_SIGMA": "0.2"})
        plane.add("hello-quick", {"SIM_LATENCY_MS": "0"})
        plane.wait_ready("hello-bad")
        plane.wait_ready("hello-slow")
        plane.wait_ready("hello-quick")
        yield plane


def test_error_rate_of_a_running_revision_is_within_binomial_bounds(faulty: PlaneThread) -> None:
    address = faulty.revision("hello-bad").address
    n = 2000
    codes = [status for status, _ in fetch_many(f"http://{address}/", n)]
    errors = codes.count(500)
    assert errors + codes.count(200) == n
    low, high = stats.binom(n, 0.2).interval(0.9999)
    assert low <= errors <= high, errors


def test_latency_of_a_running_revision_centres_on_its_median(faulty: PlaneThread) -> None:
    slow = faulty.revision("hello-slow").address
    quick = faulty.revision("hello-quick").address  # the same round trip without a delay
    elapsed: dict[str | None, list[float]] = {slow: [], quick: []}
    with httpx.Client(timeout=60) as client:
        for _ in range(60):
            for address in (slow, quick):
                start = time.perf_counter()
                client.get(f"http://{address}/")
                elapsed[address].append((time.perf_counter() - start) * 1000)
    # Lognormal(40 ms, 0.2): the median of 60 draws lies within 40 ms +- 15%; the HTTP
    # round trip adds to it, never takes away. What it adds is measured beside it (a
    # loaded machine adds milliseconds to both), with 5 ms for its noise.
    round_trip = float(np.median(elapsed[quick]))
    median = float(np.median(elapsed[slow]))
    assert 40 * 0.85 <= median <= 40 * 1.15 + round_trip + 5, (median, round_trip)


REPO = Path(__file__).resolve().parents[2]


def test_app_file_needs_only_aiohttp_as_the_dockerfile_assumes(tmp_path: Path) -> None:
    source = (REPO / "harness/local/app.py").read_text()
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    # harness: only the receiver mode's module, itself stdlib + aiohttp, which the image copies.
    assert roots - set(sys.stdlib_module_names) - {"__future__"} == {"aiohttp", "harness"}
    receiver = (REPO / "harness/events/receiver.py").read_text()
    receiver_roots = {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(receiver))
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(receiver))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert receiver_roots - set(sys.stdlib_module_names) - {"__future__"} <= {"aiohttp"}
    dockerfile = (REPO / "examples/sample-app/Dockerfile").read_text()
    assert "COPY harness/local/app.py /app/app.py" in dockerfile
    assert "COPY harness/events/receiver.py /app/harness/events/receiver.py" in dockerfile

    (tmp_path / "app.py").write_text(source)  # run as the container does: a lone script
    (tmp_path / "harness/events").mkdir(parents=True)
    (tmp_path / "harness/__init__.py").write_text("")
    (tmp_path / "harness/events/__init__.py").write_text("")
    (tmp_path / "harness/events/receiver.py").write_text(receiver)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "app.py"), "--host", "127.0.0.1"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PORT": str(port), "TARGET": "docker"},
    )
    try:
        response, _ = _wait_answer(f"http://127.0.0.1:{port}/")
    finally:
        proc.terminate()
        proc.wait(10)
    assert response.text == "Hello docker!\n"


def test_sample_app_manifests_pass_the_linter() -> None:
    manifests = sorted(str(p) for p in (REPO / "examples/sample-app").glob("*.yaml"))
    assert len(manifests) == 5  # service-v1/v2 and the event consumer's events-*.yaml
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", *manifests],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
