"""`harness gate` over history written through the real store (no cluster needed)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.store import SqliteStore
from tests.gate.helpers import CliResult, run_cli, save_run


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own: reports/ lands here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def gate(store: Path, *args: str) -> CliResult:
    return run_cli("gate", "hello", "--store", str(store), *args)


def junit_cases(report_root: Path) -> dict[str, ET.Element]:
    (junit,) = report_root.glob("gate-*/junit.xml")
    return {case.get("name", ""): case for case in ET.parse(junit).getroot().iter("testcase")}


def test_two_runs_of_the_same_revision_pass(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1)
    save_run(store, seed=2)
    result = gate(store, "--against", "previous")
    assert result.code == 0, result.stderr
    assert "passed" in result.stdout
    cases = junit_cases(workdir / "reports")
    assert sorted(cases) == ["error rate", "latency p50", "latency p90", "latency p99"]
    assert all(len(case) == 1 and case[0].tag == "system-out" for case in cases.values())
    (folder,) = (workdir / "reports").glob("gate-*")
    summary = (folder / "summary.md").read_text()
    assert summary.startswith("### ✅ Gate hello") and "| latency p99 | ✅ pass |" in summary
    html = (folder / "report.html").read_text()
    assert 'data-plot="latency-cdf"' in html and 'data-plot="trend-latency"' in html
    assert "gate-" in (workdir / "reports" / "index.html").read_text()


def test_a_three_times_slower_run_fails_naming_latency(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, latency_ms=50.0, seed=1)
    save_run(store, latency_ms=150.0, seed=2)
    result = gate(store)
    assert result.code == 1, result.stderr
    cases = junit_cases(workdir / "reports")
    failure = cases["latency p50"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("latency p50 regressed: ")
    assert "reference: " in (failure.text or "") and "candidate: " in (failure.text or "")
    assert cases["error rate"].find("failure") is None


def test_a_run_with_errors_fails_naming_the_error_rate(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1, errors=0)
    save_run(store, seed=2, errors=100)  # 5% of 2,000
    result = gate(store, "-o", "json")
    assert result.code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "regression" and document["exit_code"] == 1
    statuses = {m["name"]: m["status"] for m in document["metrics"]}
    assert statuses == {"error_rate": "fail", "p50": "pass", "p90": "pass", "p99": "pass"}
    failure = junit_cases(workdir / "reports")["error rate"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("error rate regressed")


def test_an_empty_history_is_not_enough_data(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    SqliteStore(store).close()
    result = gate(store)
    assert result.code == 3
    assert result.stderr.count("\n") == 1 and "no saved perf run of default/hello" in result.stderr
    assert not (workdir / "reports").exists()


def test_a_missing_history_is_not_enough_data_and_is_not_created(workdir: Path) -> None:
    store = workdir / "nothing.sqlite"
    result = gate(store)
    assert result.code == 3 and "no history at" in result.stderr
    assert not store.exists()


def test_one_run_alone_has_nothing_to_compare_with(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1)
    result = gate(store, "--against", "last:3")
    assert result.code == 3 and "no earlier saved perf run" in result.stderr


@pytest.mark.parametrize(
    ("against", "message"),
    [
        ("run:20200101-000000-abcd", "no run 20200101-000000-abcd"),
        ("run:nope", "is not a run id"),
        ("yesterday", "use previous, last:N, run:<run-id> or label:<label>"),
        ("last:0", "N must be at least 1"),
    ],
)
def test_an_unknown_or_malformed_reference_is_bad_input(
    workdir: Path, against: str, message: str
) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1)
    save_run(store, seed=2)
    result = gate(store, "--against", against)
    assert result.code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_a_run_of_another_service_cannot_be_the_reference(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    other = save_run(store, service="other", arm="other", seed=1)
    save_run(store, seed=2)
    result = gate(store, "--against", f"run:{other}")
    assert result.code == 2 and "measured default/other, not default/hello" in result.stderr


def test_runs_of_another_profile_are_never_a_reference(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, profile="cold-start", latency_ms=600.0, seed=1)
    save_run(store, seed=2)
    assert gate(store).code == 3


def test_last_n_merges_the_reference_runs_exactly(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    older = [save_run(store, seed=seed, requests=500 + seed, errors=seed) for seed in range(4)]
    candidate = save_run(store, seed=9)
    result = gate(store, "--against", "last:3", "-o", "json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["candidate"]["run_id"] == candidate
    assert document["reference"]["run_ids"] == older[:0:-1]
    assert document["reference"]["requests"] == 501 + 502 + 503
    assert document["reference"]["errors"] == 1 + 2 + 3


def test_label_picks_the_newest_run_with_that_label(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1, label="v1.0", latency_ms=150.0)
    release = save_run(store, seed=2, label="v1.0")
    save_run(store, seed=3, latency_ms=150.0)
    candidate = save_run(store, seed=4)
    result = gate(store, "--against", "label:v1.0", "-o", "json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["reference"]["run_ids"] == [release]
    assert document["candidate"]["run_id"] == candidate


def test_tolerances_are_flags(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1, latency_ms=50.0)
    save_run(store, seed=2, latency_ms=60.0)  # 20% slower everywhere
    assert gate(store).code == 1
    loose = ("--max-p50-increase", "40%", "--max-p90-increase", "0.4", "--max-p99-increase", "40%")
    assert gate(store, *loose).code == 0
    bad = gate(store, "--max-p99-increase", "ten percent")
    assert bad.code == 2 and "--max-p99-increase" in bad.stderr


def test_quantiles_too_fine_for_small_runs_are_skipped_not_passed(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1, requests=300)
    save_run(store, seed=2, requests=300)
    result = gate(store)
    assert result.code == 0, result.stderr
    cases = junit_cases(workdir / "reports")
    skipped = cases["latency p99"].find("skipped")
    assert skipped is not None and "1000 needed" in skipped.get("message", "")
    assert cases["latency p50"].find("skipped") is None


def test_runs_too_small_to_judge_are_inconclusive(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1, requests=40)
    save_run(store, seed=2, requests=40)
    result = gate(store)
    assert result.code == 3
    (summary,) = (workdir / "reports").glob("gate-*/summary.md")
    assert "inconclusive" in summary.read_text()


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_the_gate_never_writes_the_history(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    save_run(store, seed=1)
    save_run(store, seed=2)
    before = _fingerprint(store)
    assert gate(store).code == 0
    assert _fingerprint(store) == before


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    store.write_bytes(os.urandom(8192))
    before = _fingerprint(store)
    result = gate(store)
    assert result.code == 2 and "not a harness history store" in result.stderr
    assert _fingerprint(store) == before


def test_a_corrupt_store_is_a_clear_error_and_never_rewritten(workdir: Path) -> None:
    store = workdir / "history.sqlite"
    for seed in range(30):
        save_run(store, seed=seed)
    with sqlite3.connect(store) as db:  # fold the WAL in, so the damage below is all there is
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(store.read_bytes())
    page = 4096
    data[2 * page : len(data) - page] = b"\x5a" * (len(data) - 3 * page)
    store.write_bytes(bytes(data))
    before = _fingerprint(store)
    # The real console script, so the one-line error and exit code are what a CI job sees.
    process = subprocess.run(
        [sys.executable, "-m", "harness.cli", "gate", "hello", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode in (2, 3), process.stderr
    assert process.stderr.count("\n") == 1 and "Traceback" not in process.stderr
    assert "corrupt" in process.stderr or "unreadable" in process.stderr
    assert store.exists() and _fingerprint(store) == before


def test_a_bare_number_above_one_is_not_taken_as_a_share() -> None:
    """`--max-p99-increase 10` was taken as +1000% (and printed as '+1e+03%'): a user
    meaning 10% got a gate that passes nearly anything. Shares stay as documented."""
    from harness.errors import BadInput
    from harness.gate.run import parse_share

    assert parse_share("10%", "--max-p99-increase") == pytest.approx(0.1)
    assert parse_share("0.1", "--max-p99-increase") == pytest.approx(0.1)
    assert parse_share("1", "--max-p99-increase") == pytest.approx(1.0)
    assert parse_share("1000%", "--max-p99-increase") == pytest.approx(10.0)
    with pytest.raises(BadInput, match=r"'10' would be \+1000%: write 10% for 10 percent"):
        parse_share("10", "--max-p99-increase")
    with pytest.raises(BadInput, match=r"at most 100%"):
        parse_share("200%", "--max-error-rate-increase", 1.0)


def test_no_run_of_a_tag_suggests_the_perf_command_for_that_tag(workdir: Path) -> None:
    """`harness gate hello --tag v9` with no run of v9 suggested `harness perf hello
    --save`, which saves a run of the route that this gate would still not find."""
    store = workdir / "history.sqlite"
    save_run(store, seed=1)
    result = run_cli("gate", "hello", "-n", "shop", "--tag", "v9", "--store", str(store))
    assert result.code == 3, result.stderr
    assert "`harness perf hello -n shop --tag v9 --save` first" in result.stderr, result.stderr
