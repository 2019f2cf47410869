"""`harness perf --profile cold-start` on an emulator that scales to zero.

Started with ``--scale-to-zero``, the emulator stops an idle revision's last pod and its
activator holds the next request while a pod starts, as Knative does; the cold start is
then measured the way it is on a cluster: wait for zero pods (read from Prometheus),
send one request.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.local.launcher import Emulator, alive, descendants
from harness.local.state import EmulatorInfo
from tests.gate.helpers import run_cli
from tests.manifests import apply_ready, service_manifest

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="needs Prometheus (apt-get install prometheus) to tell when a revision is at zero",
)


@pytest.fixture
def scaling_emulator(tmp_path: Path) -> Iterator[tuple[EmulatorInfo, Path]]:
    state_dir = tmp_path / "state"
    info = Emulator.start(state_dir, scale_to_zero=True, scale_to_zero_grace_s=1.0)
    try:
        yield info, state_dir
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]


def test_cold_starts_wait_for_zero_pods_and_go_through_the_activator(
    scaling_emulator: tuple[EmulatorInfo, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info, state_dir = scaling_emulator
    monkeypatch.chdir(tmp_path)
    manifest = service_manifest(
        "sleepy",
        "a",
        {"SIM_COLD_START_MS": "700", "SIM_LATENCY_MS": "2"},
        annotations={"autoscaling.knative.dev/window": "6s"},
    )
    apply_ready(Path(info.kubeconfig), manifest)

    result = run_cli(
        "perf", "sleepy", "--profile", "cold-start", "--repetitions", "2",
        "--state-dir", str(state_dir), "-o", "json",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["cold_start"]["method"] == "scale-to-zero"
    assert run["requests"] == 2 and run["errors"] == 0
    # each first request waited for a pod to start (700 ms of the app's own start-up)
    assert run["stats"]["p50_ms"] >= 700
    # the revision had to reach zero pods first (a stable window of 6 s, then the grace)
    assert all(waited > 0 for waited in run["cold_start"]["waited_s"])
