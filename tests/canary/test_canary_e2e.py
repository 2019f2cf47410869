"""`harness canary` end to end: real CLI, emulator processes, Prometheus and Locust."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from analysis import JudgeConfig
from harness.store import SqliteStore
from tests.canary.conftest import (
    FAST,
    IDENTICAL_ENV,
    ROLLBACK_PACE,
    add_revision,
    identical_pair,
    patch_service,
    percent_of,
    rollback,
    run_canary,
    service,
    service_manifest,
    spawn_canary,
    spec_traffic,
    wait_for,
    wait_for_look,
)
from tests.conftest import RunningEmulator

# Wide margins let an identical revision be promoted within seconds; the judge's own
# guarantees are tested by simulation in tests/analysis.
# Runs of identical revisions that must promote. At the default alpha such a run may be
# rolled back with probability up to 0.05 by design (the guarantee is checked by
# simulation in tests/analysis), so these roll back only at alpha 0.001 and keep the
# promotion level of 0.05: five such tests no longer fail CI by design.
QUICK_PROMOTE = [
    "--alpha",
    "0.001",
    "--promote-alpha",
    "0.05",
    "--median-ratio-margin",
    "1.5",
    "--p99-ratio-margin",
    "3",
    "--error-ratio-margin",
    "3",
    "--error-abs-margin",
    "0.01",
]


def test_identical_revision_is_promoted(fresh_emulator: RunningEmulator, tmp_path: Path) -> None:
    identical_pair(fresh_emulator)
    before = spec_traffic(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        *FAST,
        *QUICK_PROMOTE,
        "--max-duration",
        "90s",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    after = spec_traffic(fresh_emulator)
    assert percent_of(after, "hello-b") == 100
    # Tags that existed before the run (v1, v2 in the demo) are kept.
    assert {t.get("tag") for t in before if t.get("tag")} <= {t.get("tag") for t in after}
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["status"] == "promoted"
    assert (tmp_path / "report" / "junit.xml").is_file()
    # The judge's settings as the run used them, grouped (old flag spellings included).
    margins = {"error_ratio": 3, "error_abs": 0.01, "median_ratio": 1.5, "tail_ratio": 3}
    assert report["spec"]["judge"]["margins"] == {**margins, "tail_quantile": 0.99}
    assert report["spec"]["judge"]["tolerances"] == JudgeConfig().to_dict()["tolerances"]
    assert (
        "judge: alpha 0.001, promote_alpha 0.05, margins.error_ratio 3, margins.error_abs 0.01"
        in proc.stderr
    )
    # `harness rollback` undoes even a finished run: the block from before it comes back.
    restored = rollback(fresh_emulator, tmp_path / "h.sqlite")
    assert restored.returncode == 0, restored.stderr
    assert spec_traffic(fresh_emulator) == before


def regressed_metrics(report: dict[str, Any]) -> list[str]:
    """The metrics that regressed at the look that rolled back, by either judge: on a busy
    machine the server-side (Prometheus) judge can see it first, and it alone decides."""
    failed = [m["name"] for m in report["metrics"] if m["status"] == "fail"]
    server = report["looks"][-1]["verdict"].get("server") or {}
    failed += [
        f"{m['name']} (server)" for m in server.get("metrics", []) if m["status"] == "regression"
    ]
    return failed


def test_error_regression_is_rolled_back_fast(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    add_revision(fresh_emulator, "hello-v3", {"TARGET": "v3", "SIM_ERROR_RATE": "0.05"})
    before = spec_traffic(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v3",
        *ROLLBACK_PACE,
    )
    assert proc.returncode == 1, proc.stderr
    assert spec_traffic(fresh_emulator) == before
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["status"] == "rolled_back"
    failed = regressed_metrics(report)
    assert any("error" in name for name in failed), failed
    # Seconds since the run started (load began at most a warm-up earlier) to the
    # look that rolled back: within the first step (ROLLBACK_PACE's 20 s), the bound this
    # test is about (8 s beside a CPU hog). The wall-clock time of the whole command
    # (Python, Locust and Prometheus start-up) is not asserted: a loaded machine stretches
    # it, and speed is measured in benchmarks/.
    assert report["looks"][-1]["t"] < 20, report["looks"][-1]["t"]


@pytest.mark.parametrize(
    "knobs",
    [
        pytest.param({"SIM_LATENCY_MS": "8"}, id="median"),
        pytest.param({"SIM_TAIL_RATE": "0.03", "SIM_TAIL_MULTIPLIER": "6"}, id="tail-only"),
    ],
)
def test_latency_regression_is_rolled_back(
    fresh_emulator: RunningEmulator, tmp_path: Path, knobs: dict[str, str]
) -> None:
    add_revision(fresh_emulator, "hello-v3", {"TARGET": "v3", **knobs})
    before = spec_traffic(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v3",
        *FAST,
        "--max-duration",
        "90s",
    )
    assert proc.returncode == 1, proc.stderr
    assert spec_traffic(fresh_emulator) == before
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    failed = regressed_metrics(report)
    assert any("latency" in name for name in failed), failed


def test_unknown_revision_is_bad_input_and_changes_nothing(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = service(emulator)
    proc = run_canary(
        emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v9",
        *FAST,
    )
    assert proc.returncode == 2
    assert "hello-v9" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    after = service(emulator)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--steps", "50,20,100"), "steps"),
        (("--median-ratio-tolerance", "1.05"), "tolerances.median_ratio"),
        (("--p99-ratio-margin", "1"), "margins.tail_ratio"),
    ],
)
def test_bad_flag_value_is_one_line_exit_2(
    emulator: RunningEmulator, tmp_path: Path, flags: tuple[str, str], named: str
) -> None:
    before = service(emulator)
    proc = run_canary(
        emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        *flags,
    )
    assert proc.returncode == 2
    assert named in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    after = service(emulator)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def _prometheus_pid(emu: RunningEmulator) -> int:
    from harness.local.launcher import descendants

    for pid in descendants(emu.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if cmdline.endswith(b"prometheus"):
            return pid
    raise AssertionError("no Prometheus process under the emulator")


def test_prometheus_lost_mid_run_aborts_and_restores(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    if fresh_emulator.prometheus is None:
        pytest.skip("prometheus is not installed here (CI installs it)")
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    proc = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        "--steps",
        "10,100",
        "--step-interval",
        "60s",
        "--look-interval",
        "1s",
        "--warmup",
        "2s",
        "--rate",
        "100",
        "--max-duration",
        "150s",
        "--report-dir",
        str(tmp_path / "r"),
    )
    try:
        wait_for_look(store, proc)

        os.kill(_prometheus_pid(fresh_emulator), signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert spec_traffic(fresh_emulator) == before


def test_sigkill_then_rollback_restores_original_block(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    proc = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        "--steps",
        "20,100",
        "--step-interval",
        "60s",
        "--look-interval",
        "1s",
        "--warmup",
        "1s",
        "--rate",
        "50",
        "--max-duration",
        "150s",
        "--report-dir",
        str(tmp_path / "r"),
    )
    try:
        wait_for_look(store, proc)
        wait_for(lambda: percent_of(spec_traffic(fresh_emulator), "hello-v2") == 20, 60, "20%")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert spec_traffic(fresh_emulator) != before
    restored = rollback(fresh_emulator, store)
    assert restored.returncode == 0, restored.stderr
    assert spec_traffic(fresh_emulator) == before


def test_resume_continues_an_interrupted_run(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    store = tmp_path / "h.sqlite"
    proc = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        "--steps",
        "20,100",
        "--step-interval",
        "3s",
        "--look-interval",
        "1s",
        "--warmup",
        "1s",
        "--rate",
        "150",
        "--max-duration",
        "150s",
        *QUICK_PROMOTE,
        "--report-dir",
        str(tmp_path / "r"),
    )
    try:
        run_id = wait_for_look(store, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    with SqliteStore(store) as s:
        looks_before = len(s.looks(run_id))
    resumed = run_canary(fresh_emulator, store, tmp_path / "r2", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert percent_of(spec_traffic(fresh_emulator), "hello-b") == 100
    with SqliteStore(store) as s:
        run = s.get_run(run_id)
        assert run.status == "promoted"
        assert len(s.looks(run_id)) > looks_before


def test_annotation_added_during_run_survives(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    store = tmp_path / "h.sqlite"
    proc = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        *FAST,
        *QUICK_PROMOTE,
        "--max-duration",
        "90s",
        "--report-dir",
        str(tmp_path / "r"),
    )
    try:
        wait_for_look(store, proc)
        patch_service(
            fresh_emulator, {"metadata": {"annotations": {"team.example.com/owner": "sre"}}}
        )
        _, err = proc.communicate(timeout=270)  # 3x the run's 90 s cap
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    svc = service(fresh_emulator)
    assert svc["metadata"]["annotations"]["team.example.com/owner"] == "sre"
    assert percent_of(svc["spec"]["traffic"], "hello-b") == 100


def test_sigterm_restores_the_original_block_and_exits_3(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    proc = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        "--steps",
        "30,100",
        "--step-interval",
        "60s",
        "--look-interval",
        "1s",
        "--warmup",
        "1s",
        "--rate",
        "50",
        "--max-duration",
        "150s",
        "--report-dir",
        str(tmp_path / "r"),
    )
    try:
        wait_for_look(store, proc)
        wait_for(lambda: percent_of(spec_traffic(fresh_emulator), "hello-v2") == 30, 60, "30%")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert spec_traffic(fresh_emulator) == before
    with SqliteStore(store) as s:
        assert s.list_runs(service="hello")[0].status == "aborted"


def test_dry_run_judges_but_never_patches(fresh_emulator: RunningEmulator, tmp_path: Path) -> None:
    identical_pair(fresh_emulator)
    before = service(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        "--dry-run",
        *FAST,
        *QUICK_PROMOTE,
        "--max-duration",
        "90s",
    )
    assert proc.returncode == 0, proc.stderr
    assert "dry run" in proc.stderr
    after = service(fresh_emulator)
    assert after["spec"]["traffic"] == before["spec"]["traffic"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_apply_rolls_out_a_new_revision_from_a_manifest(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    manifest = service_manifest(tmp_path, {"TARGET": "v5", **IDENTICAL_ENV})
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "a",
        "--apply",
        str(manifest),
        *FAST,
        *QUICK_PROMOTE,
        "--max-duration",
        "90s",
    )
    assert proc.returncode == 0, proc.stderr
    assert "hello-v5" in proc.stderr
    assert percent_of(spec_traffic(fresh_emulator), "hello-v5") == 100


def test_apply_with_a_lint_error_changes_nothing(emulator: RunningEmulator, tmp_path: Path) -> None:
    before = service(emulator)
    manifest = service_manifest(tmp_path, {"TARGET": "v6"}, name="other-v6")  # wrong prefix
    proc = run_canary(
        emulator,
        tmp_path / "h.sqlite",
        tmp_path / "report",
        "hello",
        "--from",
        "v1",
        "--apply",
        str(manifest),
        *FAST,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "service.yaml" in proc.stderr
    after = service(emulator)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
