"""One run per Service (the lease), and `harness rollback` finds the true original block.

Real CLI processes against the real emulator: two canaries at once, a stale lease, a
chain of killed runs, and a crash followed by a rejected run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.canary.lease import LEASE_ANNOTATION
from harness.knative.backend import StaleWrite
from harness.knative.kube import KubeBackend
from harness.store import SqliteStore
from tests.canary.conftest import (
    identical_pair,
    percent_of,
    rollback,
    run_canary,
    run_harness,
    service,
    spawn_canary,
    spec_traffic,
    wait_for,
    wait_for_look,
)
from tests.conftest import RunningEmulator

# A run that stays at its first step long enough to act on it: every test that starts
# one stops it (SIGKILL, SIGTERM, a lease taken over) long before the 300 s step ends,
# however slowly a loaded machine starts the runs; a 60 s step could end during the
# lease-renewal wait and, at 100%, the run could promote instead of being stopped.
SLOW = [
    "--step-interval",
    "300s",
    "--look-interval",
    "1s",
    "--warmup",
    "1s",
    "--rate",
    "40",
    "--max-duration",
    "900s",
    # Identical revisions (tests.canary.conftest.identical_pair) and wide tolerances: the
    # run stays at its first step instead of rolling back on scheduling noise.
    "--median-ratio-margin",
    "1.5",
    "--median-ratio-tolerance",
    "1.4",
    "--p99-ratio-margin",
    "3",
    "--p99-ratio-tolerance",
    "2.5",
    "--error-ratio-margin",
    "3",
    "--error-ratio-tolerance",
    "2.5",
]


def _lease(emu: RunningEmulator) -> dict[str, Any] | None:
    annotations = service(emu)["metadata"].get("annotations") or {}
    text = annotations.get(LEASE_ANNOTATION)
    return None if text is None else json.loads(text)


def _set_lease(emu: RunningEmulator, value: dict[str, Any] | None) -> None:
    backend = KubeBackend(emu.kubeconfig)
    try:
        state = backend.get_service("default", "hello")
        backend.patch_annotations(
            "default",
            "hello",
            {LEASE_ANNOTATION: None if value is None else json.dumps(value)},
            resource_version=state.resource_version,
        )
    finally:
        backend.close()


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _kill_at(
    emu: RunningEmulator,
    proc: subprocess.Popen[str],
    store: Path,
    percent: int,
    known: frozenset[str] = frozenset(),
) -> str:
    """Wait for the new run's first look at ``percent``% for hello-b, then SIGKILL it."""
    try:
        run_id = wait_for_look(store, proc, known)
        wait_for(lambda: percent_of(spec_traffic(emu), "hello-b") == percent, 60, f"{percent}%")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.communicate()
    return run_id


def test_a_second_canary_is_refused_naming_the_holder(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    first = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        "--steps",
        "10,100",
        *SLOW,
        "--report-dir",
        str(tmp_path / "r1"),
    )
    try:
        run_id = wait_for_look(store, first)
        lease = _lease(fresh_emulator)
        assert lease is not None and lease["holder"].startswith(f"{run_id}@")
        assert lease["holder"].endswith(f":{first.pid}")
        second = run_canary(
            fresh_emulator,
            store,
            tmp_path / "r2",
            "hello",
            "--from",
            "a",
            "--to",
            "b",
            "--steps",
            "50,100",
            *SLOW,
            timeout=90,
        )
        assert second.returncode == 2, second.stderr
        assert "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"in use by canary run {run_id}@" in second.stderr
        # The refused run wrote nothing: no record, and the first run's step stands.
        with SqliteStore(store) as s:
            assert [r.id for r in s.list_runs(service="hello")] == [run_id]
        assert percent_of(spec_traffic(fresh_emulator), "hello-b") == 10
        # The lease is renewed while the run goes on (every 15 s), expiry moving with it.
        wait_for(
            lambda: (_lease(fresh_emulator) or {}).get("renewed") != lease["renewed"],
            60,
            "a lease renewal",
        )
        renewed = _lease(fresh_emulator)
        assert renewed is not None and renewed["holder"] == lease["holder"]
        assert renewed["expires"] > lease["expires"]
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=90)
    finally:
        first.kill()
    assert first.returncode == 3, err
    assert spec_traffic(fresh_emulator) == before
    assert _lease(fresh_emulator) is None  # released on the way out


def test_a_live_lease_of_another_host_refuses_and_changes_nothing(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    now = time.time()
    holder = "20260101-000000-abcd@build-7.example:4242"
    _set_lease(
        fresh_emulator,
        {"holder": holder, "renewed": _stamp(now), "expires": _stamp(now + 300)},
    )
    before = service(fresh_emulator)
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "r",
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        "--steps",
        "10,100",
        *SLOW,
        timeout=90,
    )
    assert proc.returncode == 2, proc.stderr
    assert holder in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    after = service(fresh_emulator)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    # `harness status` shows who holds it.
    status = run_harness(
        "status",
        "hello",
        "--kubeconfig",
        str(fresh_emulator.kubeconfig),
        "--store",
        str(tmp_path / "h.sqlite"),
        "--format",
        "json",
    )
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)["lease"]
    assert shown["holder"] == holder and shown["expired"] is False
    # `harness rollback` respects it too, unless forced.
    store = tmp_path / "h.sqlite"
    with SqliteStore(store) as s:
        assert s.list_runs() == []
        run = s.create_run("canary", "default", "hello", original_traffic=before["spec"]["traffic"])
        s.begin_action(run.id, "set_traffic", {"percent": 10})
    refused = rollback(fresh_emulator, store)
    assert refused.returncode == 2, refused.stderr
    assert holder in refused.stderr
    assert "harness rollback --force" in refused.stderr  # the way out is named
    forced = rollback(fresh_emulator, store, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _lease(fresh_emulator) is None


def test_a_stale_lease_is_taken_over_with_a_message(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    before = spec_traffic(fresh_emulator)
    stale = "20260101-000000-abcd@build-7.example:4242"
    past = time.time() - 600
    _set_lease(
        fresh_emulator, {"holder": stale, "renewed": _stamp(past), "expires": _stamp(past + 60)}
    )
    proc = run_canary(
        fresh_emulator,
        tmp_path / "h.sqlite",
        tmp_path / "r",
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        "--steps",
        "10,100",
        "--step-interval",
        "2s",
        "--look-interval",
        "1s",
        "--warmup",
        "1s",
        "--rate",
        "40",
        "--max-duration",
        "6s",
        timeout=120,
    )
    # rolled back or inconclusive at the time cap: either way the block is restored
    assert proc.returncode in (1, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"taking over the stale lease on default/hello of {stale}" in proc.stderr
    assert "expired" in proc.stderr
    assert spec_traffic(fresh_emulator) == before
    assert _lease(fresh_emulator) is None


def test_rollback_after_a_chain_of_killed_runs_restores_the_first_original(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    args = ["hello", "--from", "a", "--to", "b", *SLOW]
    first = spawn_canary(
        fresh_emulator, store, *args, "--steps", "20,100", "--report-dir", str(tmp_path / "r1")
    )
    first_id = _kill_at(fresh_emulator, first, store, 20)
    # The killed run's lease is still there, held by a process that is gone.
    lease = _lease(fresh_emulator)
    assert lease is not None and lease["holder"].startswith(first_id)
    second = spawn_canary(
        fresh_emulator, store, *args, "--steps", "50,100", "--report-dir", str(tmp_path / "r2")
    )
    second_id = _kill_at(fresh_emulator, second, store, 50, known=frozenset({first_id}))
    assert second_id != first_id
    with SqliteStore(store) as s:
        assert s.get_run(second_id).original_traffic != before  # it started from 80/20
    restored = rollback(fresh_emulator, store)
    assert restored.returncode == 0, restored.stderr
    assert f"from before run {first_id}" in restored.stdout
    assert spec_traffic(fresh_emulator) == before
    assert _lease(fresh_emulator) is None
    with SqliteStore(store) as s:
        assert s.get_run(first_id).status == "aborted"
        assert s.get_run(second_id).status == "aborted"


def test_crash_then_rejected_run_then_rollback_restores_the_true_original(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    identical_pair(fresh_emulator)
    before = spec_traffic(fresh_emulator)
    store = tmp_path / "h.sqlite"
    crashed = spawn_canary(
        fresh_emulator,
        store,
        "hello",
        "--from",
        "a",
        "--to",
        "b",
        "--steps",
        "10,100",
        *SLOW,
        "--report-dir",
        str(tmp_path / "r1"),
    )
    crashed_id = _kill_at(fresh_emulator, crashed, store, 10)
    locustfile = tmp_path / "broken.py"
    locustfile.write_text("this is not python\n")
    for bad in (("--rate", "inf"), ("--users", "10000000"), ("--locustfile", str(locustfile))):
        flags = [f for f in SLOW if f not in ("--rate", "40")]
        rejected = run_canary(
            fresh_emulator,
            store,
            tmp_path / "r2",
            "hello",
            "--from",
            "a",
            "--to",
            "b",
            "--steps",
            "10,100",
            *flags,
            *bad,
            timeout=120,
        )
        assert rejected.returncode == 2, (bad, rejected.stderr)
        assert bad[0].lstrip("-") in rejected.stderr, rejected.stderr
        assert "Traceback" not in rejected.stderr
        assert len(rejected.stderr.strip().splitlines()) == 1, rejected.stderr
    with SqliteStore(store) as s:
        assert [r.id for r in s.list_runs(service="hello")] == [crashed_id]
    assert percent_of(spec_traffic(fresh_emulator), "hello-b") == 10
    restored = rollback(fresh_emulator, store)
    assert restored.returncode == 0, restored.stderr
    assert f"from before run {crashed_id}" in restored.stdout
    assert spec_traffic(fresh_emulator) == before


def test_a_stale_resource_version_is_a_conflict_for_annotation_patches(
    emulator: RunningEmulator,
) -> None:
    backend = KubeBackend(emulator.kubeconfig)
    try:
        state = backend.get_service("default", "hello")
        key = "example.com/probe"
        backend.patch_annotations(
            "default", "hello", {key: "1"}, resource_version=state.resource_version
        )
        with pytest.raises(StaleWrite):
            backend.patch_annotations(
                "default", "hello", {key: "2"}, resource_version=state.resource_version
            )
        now = backend.get_service("default", "hello")
        assert now.annotations[key] == "1"
        backend.patch_annotations("default", "hello", {key: None}, resource_version=None)
        assert key not in backend.get_service("default", "hello").annotations
    finally:
        backend.close()


def test_a_run_whose_lease_is_taken_over_stops_without_touching_traffic(
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
        "10,100",
        *SLOW,
        "--report-dir",
        str(tmp_path / "r"),
    )
    other = "20260101-000000-abcd@build-7.example:4242"
    try:
        run_id = wait_for_look(store, proc)
        wait_for(lambda: percent_of(spec_traffic(fresh_emulator), "hello-b") == 10, 60, "10%")
        now = time.time()
        _set_lease(
            fresh_emulator, {"holder": other, "renewed": _stamp(now), "expires": _stamp(now + 300)}
        )
        _, err = proc.communicate(timeout=90)  # noticed at the next renewal (15 s)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert f"taken over by {other}" in err
    assert percent_of(spec_traffic(fresh_emulator), "hello-b") == 10  # left to the new holder
    assert (_lease(fresh_emulator) or {}).get("holder") == other  # not released: not ours
    with SqliteStore(store) as s:
        assert s.get_run(run_id).status == "aborted"
