"""Failures a canary used to find only after it started, now found before its first write.

Real CLI against the real emulator (and its Prometheus): a PromQL syntax error, an
unwritable report folder (before and during the run), an --apply revision that crashes
at once, and a --locustfile without --users.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from harness.canary.lease import LEASE_ANNOTATION
from harness.store import SqliteStore
from tests.canary.conftest import (
    run_canary,
    service,
    service_manifest,
    spawn_canary,
    spec_traffic,
    wait_for,
    wait_for_look,
)
from tests.conftest import RunningEmulator

QUICK = [
    "--steps",
    "10,100",
    "--step-interval",
    "2s",
    "--look-interval",
    "1s",
    "--warmup",
    "1s",
    "--max-duration",
    "6s",
]


def _no_runs(store: Path) -> bool:
    if not store.exists():
        return True
    with SqliteStore(store) as s:
        return s.list_runs() == []


def test_a_promql_syntax_error_is_found_in_preflight(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    if emulator.prometheus is None:
        pytest.skip("prometheus is not installed here (CI installs it)")
    spec = tmp_path / "canary.yaml"
    selector = 'namespace_name="{namespace}",revision_name="{revision}"'
    spec.write_text(
        "metrics_profile: custom\n"
        "queries:\n"
        f"  requests: 'revision_request_count{{{selector}}}'\n"
        f"  errors: 'revision_request_count{{{selector},response_code_class=\"5xx\"}} +'\n"
        f"  latency_buckets: 'revision_request_latencies_bucket{{{selector}}}'\n"
    )
    before = service(emulator)
    store = tmp_path / "h.sqlite"
    proc = run_canary(
        emulator,
        store,
        tmp_path / "r",
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        "--config",
        str(spec),
        *QUICK,
        timeout=90,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "errors query is not valid PromQL" in proc.stderr
    after = service(emulator)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert _no_runs(store)


def test_an_unwritable_report_dir_is_refused_before_anything(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    before = service(emulator)
    store = tmp_path / "h.sqlite"
    proc = run_canary(
        emulator,
        store,
        blocker / "report",
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        *QUICK,
        timeout=90,
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--report-dir" in proc.stderr and "cannot write" in proc.stderr
    after = service(emulator)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert _no_runs(store)


def test_a_report_that_cannot_be_written_keeps_the_decisions_exit_code(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    report = tmp_path / "report"
    # QUICK's 6 s cap could end the run (and write its report) before this test has
    # seen the first look and replaced the folder on a loaded machine: 20 s leaves the
    # time, and at 40 requests/s (20 per arm) no run promotes before it.
    proc = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        *[flag for flag in QUICK if flag not in ("--max-duration", "6s")],
        "--max-duration",
        "20s",
        "--rate",
        "40",
        "--report-dir",
        str(report),
    )
    try:
        run_id = wait_for_look(store, proc)
        if report.is_dir():  # (made by the report-folder check before the run)
            shutil.rmtree(report)
        report.write_text("the folder became a file mid-run\n")
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    with SqliteStore(store) as s:
        status = s.get_run(run_id).status
    expected = {"rolled_back": 1, "inconclusive": 3, "promoted": 0}[status]
    assert proc.returncode == expected, err
    assert "Traceback" not in err
    assert f"report: not written to {report}" in err
    if status != "promoted":
        assert spec_traffic(fresh_emulator) == before


def test_an_applied_revision_that_crashes_is_reported_at_once(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    before = spec_traffic(fresh_emulator)
    manifest = service_manifest(tmp_path, {"SIM_SEED": "not-a-number"}, name="hello-v7")
    store = tmp_path / "h.sqlite"
    started = time.monotonic()
    proc = run_canary(
        fresh_emulator,
        store,
        tmp_path / "r",
        "hello",
        "--from",
        "v1",
        "--apply",
        str(manifest),
        *QUICK,
        timeout=150,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hello-v7" in proc.stderr and "failed" in proc.stderr
    assert "SIM_SEED" in proc.stderr  # Knative's message carries the container's last line
    # Not the 120 s wait for a ready revision (harness.canary.run), with headroom for the
    # CLI's start-up on a loaded machine.
    assert elapsed < 110, f"took {elapsed:.0f}s: waited for the timeout instead"
    assert spec_traffic(fresh_emulator) == before
    annotations = service(fresh_emulator)["metadata"].get("annotations") or {}
    assert LEASE_ANNOTATION not in annotations
    assert _no_runs(store)


LOCUSTFILE = """
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/")
"""


def test_a_locustfile_runs_without_users(fresh_emulator: RunningEmulator, tmp_path: Path) -> None:
    locustfile = tmp_path / "visitor.py"
    locustfile.write_text(LOCUSTFILE)
    store = tmp_path / "h.sqlite"
    proc = run_canary(
        fresh_emulator,
        store,
        tmp_path / "r",
        "hello",
        "--from",
        "v1",
        "--to",
        "v2",
        *QUICK,
        "--locustfile",
        str(locustfile),
        timeout=150,
    )
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    with SqliteStore(store) as s:
        (run,) = s.list_runs()
        looks = s.looks(run.id)
    assert looks, proc.stderr
    last = looks[-1].arms
    assert last["baseline"]["requests"] > 0 and last["canary"]["requests"] > 0


def test_sigterm_while_an_apply_starts_releases_the_lease(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Outside the controller too (here: waiting for an applied revision), SIGTERM unwinds:
    exit 3, one line, and the Service's lease is released instead of left to expire."""
    manifest = service_manifest(tmp_path, {"SIM_COLD_START_MS": "60000"}, name="hello-v8")
    proc = spawn_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        "hello",
        "--from",
        "v1",
        "--apply",
        str(manifest),
        *QUICK,
        "--report-dir",
        str(tmp_path / "r"),
    )

    def lease_taken() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"harness exited {proc.returncode}: {proc.communicate()[1]}")
        annotations = service(fresh_emulator)["metadata"].get("annotations") or {}
        return LEASE_ANNOTATION in annotations

    def revision_created() -> bool:
        lease_taken()  # (fails at once if the harness exited)
        with fresh_emulator.api_client() as api:
            answer = api.get(
                f"{fresh_emulator.api}/apis/serving.knative.dev/v1/namespaces/default/revisions"
            )
        answer.raise_for_status()
        return any(r["metadata"]["name"] == "hello-v8" for r in answer.json()["items"])

    try:
        wait_for(lease_taken, 60, "the run lease")
        # Applied: the run is now in the wait for the new revision (its cold start: 60 s).
        wait_for(revision_created, 60, "revision hello-v8")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    annotations = service(fresh_emulator)["metadata"].get("annotations") or {}
    assert LEASE_ANNOTATION not in annotations
