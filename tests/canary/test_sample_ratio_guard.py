"""The sample-ratio guard in every canary with equally loaded arms (open model).

Unit level (fakes, fake clock, the real judge and journal): an arm that completes fewer
requests than its equal share halts the run as invalid, exit 3, traffic restored, with
one sentence naming the arm; equal arms are judged as before. End to end: the real CLI
on the emulator with a canary too slow for the load generator's users to keep its rate.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis import Decision
from harness.canary.controller import RunStatus
from harness.errors import EXIT_ABORTED
from tests.canary.conftest import add_revision, run_canary, spec_traffic
from tests.canary.fakes import ArmBehaviour
from tests.canary.test_controller_unit import UNTAGGED, Harness, make_plan
from tests.conftest import RunningEmulator


def test_an_arm_that_loses_requests_halts_the_run_as_invalid(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(), canary=ArmBehaviour(rps=900.0))
    h.controller.equal_load = True
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED and outcome.exit_code == EXIT_ABORTED
    assert "the run is invalid: the canary arm lost requests" in outcome.reason
    assert "traffic restored" in outcome.reason
    assert h.backend.state.spec_traffic == UNTAGGED
    assert h.actions()[-1][0] == "rollback"


def test_equal_arms_pass_the_guard_and_are_judged(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())
    h.controller.equal_load = True
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert all(look.verdict.srm_e_value is not None for look in outcome.looks)
    assert all(look.decision is not Decision.INVALID for look in outcome.looks)


def test_without_equal_load_a_slower_arm_is_judged_not_invalid(tmp_path: Path) -> None:
    # A closed model (fixed users) completes fewer requests on a slower arm: no guard.
    h = Harness(tmp_path, make_plan(), canary=ArmBehaviour(rps=900.0))
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert all(look.verdict.srm_e_value is None for look in outcome.looks)


def test_cli_halts_a_canary_that_cannot_keep_its_share(
    fresh_emulator: RunningEmulator, tmp_path: Path
) -> None:
    # --rate 40 per arm gives each arm 10 users (0.25 s of work per user per second): a
    # canary answering in 2 s completes at most 5 requests a second, so it loses most of
    # its share; the guard halts the run before the judge compares anything.
    add_revision(
        fresh_emulator,
        "hello-v3",
        {"TARGET": "v3", "SIM_LATENCY_MS": "2000", "SIM_LATENCY_SIGMA": "0"},
    )
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
        "--steps",
        "50,100",
        "--step-interval",
        "20s",
        "--look-interval",
        "2s",
        "--warmup",
        "1s",
        "--rate",
        "40",
        "--max-duration",
        "60s",
    )
    assert proc.returncode == EXIT_ABORTED, proc.stderr
    assert "Traceback" not in proc.stderr
    assert spec_traffic(fresh_emulator) == before
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["status"] == "aborted"
    text = json.dumps(report)
    assert "the canary arm lost requests" in text, text[:2000]
