"""``harness autoscale`` against the emulator: a Service on the cluster as TARGET, a
saved perf run and a Prometheus range query as traces, and the simulation agreeing with
the emulator's live autoscaler (one KPA model) on the run's own load.

Real processes on loopback: the daemon (``--max-pods 4``), its pods, Prometheus, Locust.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.knative.kube import KubeBackend
from harness.local.launcher import Emulator, alive, descendants
from harness.local.state import EmulatorInfo
from tests.manifests import service_manifest

pytestmark = pytest.mark.slow

A = "autoscaling.knative.dev/"
HARNESS = [sys.executable, "-m", "harness.cli"]
NAME = "whatif"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorInfo, Path]]:
    state_dir = tmp_path_factory.mktemp("autoscale") / "state"
    info = Emulator.start(state_dir, max_pods=4)
    try:
        if info.prometheus is None:
            pytest.skip("prometheus is not installed: the emulator exports no series")
        yield info, state_dir
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARNESS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def emulated_ready(info: EmulatorInfo, revision: str, start: float, seconds: int) -> list[float]:
    assert info.prometheus is not None
    query = f'max(autoscaler_actual_pods{{namespace_name="default",revision_name="{revision}"}})'
    result = httpx.get(
        f"{info.prometheus}/api/v1/query_range",
        params={"query": query, "start": start, "end": start + seconds, "step": "1s"},
        timeout=30,
    ).json()["data"]["result"]
    points = {round(float(t) - start): float(v) for t, v in result[0]["values"]} if result else {}
    values, last = [], 1.0
    for t in range(seconds):
        last = points.get(t, last)
        values.append(last)
    return values


def as_reported(ready: list[int]) -> list[int]:
    """Ready pods as the autoscaler's ``actual_pods`` gauge shows them: the count at its
    last decision (every 2 s: the model ticks at even seconds), read by a scrape up
    to a second later."""
    out = []
    for t in range(len(ready)):
        seen = t - 1
        tick = seen if seen % 2 == 0 else seen - 1
        out.append(ready[max(tick, 0)])
    return out


def test_perf_run_trace_agrees_with_the_emulator_and_prometheus_trace_reads_it(
    emulator: tuple[EmulatorInfo, Path], tmp_path: Path
) -> None:
    info, state_dir = emulator
    manifest = service_manifest(
        NAME,
        "v1",
        {"SIM_LATENCY_MS": "200"},
        annotations={
            A + "target": "3",
            A + "target-utilization-percentage": "100",
            A + "window": "20s",
            A + "max-scale": "4",
        },
    )
    backend = KubeBackend(Path(info.kubeconfig))
    try:
        backend.apply(manifest)
        backend.wait_ready("default", NAME, timeout=90)
        ready_at = time.time()
    finally:
        backend.close()
    store = tmp_path / "history.sqlite"
    common = ["--kubeconfig", info.kubeconfig, "--state-dir", str(state_dir)]
    perf = harness(
        "perf", NAME, "--profile", "spike", "--users", "2", "--duration", "90s",
        "--warmup", "0s", "--save", "--store", str(store),
        "--report-dir", str(tmp_path / "report"), "-o", "json", *common,
    )  # fmt: skip
    assert perf.returncode == 0, perf.stderr
    run_id = json.loads(perf.stdout)["run_id"]
    # TARGET from the emulator, trace from the saved run, scale to zero off as there.
    sim = harness(
        "autoscale", "simulate", NAME, "--trace", f"perf:{run_id}", "--store", str(store),
        "--config", "enable-scale-to-zero=false", "--pod-start", "2s", "-o", "json", *common,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    doc: dict[str, Any] = json.loads(sim.stdout)
    assert doc["trace"]["source"] == f"perf:{run_id}" and doc["trace"]["kind"] == "concurrency"
    (baseline,) = doc["variants"]
    assert baseline["settings"]["target"] == 3 and baseline["settings"]["max_scale"] == 4
    series = baseline["series"]
    # The spike (2 -> 10 users) needs ceil(10 / 3) = 4 pods, the base 1.
    assert max(series["ready_pods"]) == 4 and series["ready_pods"][5] == 1
    # The simulation starts when the load did; the emulator's windows had seen the idle
    # seconds before, so compare from a window after the start, second by second.
    from harness.autoscale.sources import perf_trace

    start = perf_trace(run_id, str(store)).start_time
    assert start is not None and start >= ready_at - 1
    revision = f"{NAME}-v1"
    emulated = emulated_ready(info, revision, start, len(series["ready_pods"]))
    reported = as_reported(series["ready_pods"])
    pairs = list(zip(reported, emulated, strict=True))[20:]
    within = sum(1 for s, e in pairs if abs(s - e) <= 1) / len(pairs)
    # benchmarks/autoscale_agreement.py measures 90-94% (README); the test leaves room for
    # a loaded machine, where the emulator's pods start later than the simulated 2 s.
    assert within >= 0.8, (reported, emulated)
    # A Prometheus range query of the same revision as the trace (the emulator's own
    # Prometheus by default), in requests per second.
    prom = harness(
        "autoscale", "simulate", NAME, "--trace", f"prometheus:{revision}?since=2m",
        "--config", "enable-scale-to-zero=false", "-o", "json", *common,
    )  # fmt: skip
    assert prom.returncode == 0, prom.stderr
    prom_doc = json.loads(prom.stdout)
    assert prom_doc["trace"]["kind"] == "rps" and prom_doc["trace"]["seconds"] == 121
    demand = prom_doc["variants"][0]["series"]["demand"]
    assert max(demand) > 20  # 10 users at 200 ms: ~50 requests/s at the spike
    # The same revision's concurrency, from the emulator autoscaler's panic-window gauge.
    prom_cc = harness(
        "autoscale", "simulate", NAME, "--trace",
        f"prometheus:{revision}?since=2m&metric=concurrency",
        "--config", "enable-scale-to-zero=false", "-o", "json", *common,
    )  # fmt: skip
    assert prom_cc.returncode == 0, prom_cc.stderr
    cc_doc = json.loads(prom_cc.stdout)
    assert cc_doc["trace"]["kind"] == "concurrency"
    in_flight = cc_doc["variants"][0]["series"]["demand"]
    # 10 users in flight at the spike (2 s panic window); requests the activator holds
    # while a pod starts count too, so on a loaded machine a little more (12.06 seen beside
    # a CPU hog). Either way well under the ~50 requests/s of the rate trace above.
    assert 5 <= max(in_flight) <= 16
    assert max(cc_doc["variants"][0]["series"]["ready_pods"]) >= 2
    explain = harness("autoscale", "explain", NAME, *common)
    assert explain.returncode == 0, explain.stderr
    assert "target 3 concurrent requests per pod (3 x 100%)" in explain.stdout
    missing = harness("autoscale", "explain", "nope", *common)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
