"""`harness canary` on revisions with time-correlated faults: stalls, error bursts, pods.

The sample app's SIM_STALL_* and SIM_ERROR_BURST_* knobs make whole seconds of one pod
slow or failing, independently in each revision (docs/emulator-dataplane.md). The judge
compares the arms look by look, so such noise must not roll back an unchanged build,
while a real 10% slowdown under the same noise still is rolled back.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.canary.conftest import (
    FAST,
    IDENTICAL_ENV,
    add_revision,
    percent_of,
    run_canary,
    spec_traffic,
)
from tests.conftest import RunningEmulator

# One second in twenty of a pod stalls by up to 10 ms (on a 30 ms median), one second in
# twenty-five fails 40% of its requests: several of each per arm within a run.
NOISE = {
    "SIM_STALL_RATE": "0.05",
    "SIM_STALL_MS": "10",
    "SIM_ERROR_BURST_RATE": "0.04",
    "SIM_ERROR_BURST_ERRORS": "0.4",
}
# Margins wide enough to promote within seconds (the guarantees are tested by simulation;
# stalls put most of a short run's slow requests in a few seconds, so the tail's bound
# needs a wide margin to close within a minute).
QUICK = [
    "--median-ratio-margin",
    "1.5",
    "--p99-ratio-margin",
    "6",
    "--error-ratio-margin",
    "4",
    "--error-abs-margin",
    "0.03",
]


def _noisy_pair(emu: RunningEmulator, canary_env: dict[str, str]) -> None:
    add_revision(emu, "hello-a", {"TARGET": "a", **IDENTICAL_ENV, **NOISE})
    add_revision(emu, "hello-b", {"TARGET": "b", **IDENTICAL_ENV, **NOISE, **canary_env})
    r = emu.api_client().patch(
        f"{emu.api}/apis/serving.knative.dev/v1/namespaces/default/services/hello",
        json={
            "spec": {
                "traffic": [
                    {"revisionName": "hello-a", "percent": 100, "tag": "a"},
                    {"revisionName": "hello-b", "percent": 0, "tag": "b"},
                ]
            }
        },
        headers={"Content-Type": "application/merge-patch+json"},
    )
    r.raise_for_status()


def _canary(
    emu: RunningEmulator, tmp_path: Path, cap: str = "60s", *extra: str
) -> tuple[int, dict[str, object], str]:
    proc = run_canary(
        emu,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        *FAST,
        *QUICK,
        *extra,
        "--max-duration",
        cap,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    return proc.returncode, report, proc.stderr


def test_identical_revisions_with_stalls_and_bursts_are_promoted(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    _noisy_pair(fresh_emulator, {})
    # Usually promoted within 10-20 s. On a loaded machine a scheduling hiccup can put a
    # second of slow requests in one arm only (a real stall): the tail's bound then needs
    # more looks to close, hence the longer cap. At the default alpha a same-code run may
    # be rolled back with probability up to 0.05 by design (the judge's guarantee, checked
    # by simulation in tests/analysis); rollbacks at alpha 0.001 keep this test from failing
    # by design, while promotion keeps its level.
    code, report, stderr = _canary(
        fresh_emulator, tmp_path, "90s", "--alpha", "0.001", "--promote-alpha", "0.05"
    )
    assert code == 0, (stderr, report.get("explanation"))
    assert report["status"] == "promoted"
    assert percent_of(spec_traffic(fresh_emulator), "hello-b") == 100


def test_a_ten_percent_slower_revision_under_the_same_noise_is_rolled_back(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    _noisy_pair(fresh_emulator, {"SIM_LATENCY_MS": "33"})
    before = spec_traffic(fresh_emulator)
    # QUICK's median margin (1.5) would let a 10% slower canary be promoted as well: with
    # the margin at 1.05 a promotion has probability at most promote_alpha, so the run
    # must end in the rollback the tolerance (1.02) allows (CI once saw the promotion).
    # Usually within 10-20 s; the cap (then: inconclusive, exit 3) leaves a loaded machine
    # as long as the promotion test above.
    code, report, stderr = _canary(fresh_emulator, tmp_path, "90s", "--median-ratio-margin", "1.05")
    assert code == 1, (stderr, report.get("explanation"))
    assert report["status"] == "rolled_back"
    assert spec_traffic(fresh_emulator) == before
    # the client's or the server's judge (Prometheus) may be the one that saw it first
    rolled = [str(line) for line in report["explanation"] if "ROLLBACK:" in str(line)]  # type: ignore[attr-defined]
    assert rolled and all("latency" in line for line in rolled), report["explanation"]
