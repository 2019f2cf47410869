"""A dry run's ending says what happened to the traffic: nothing (it was never changed).

`harness canary ... --dry-run` that reached its time cap printed 'inconclusive: no
decision within 30s; traffic restored', and an interrupted one '...; traffic restored',
although a dry run never writes the Service. Fakes and a fake clock, as
tests/canary/test_controller_unit.py."""

from __future__ import annotations

from pathlib import Path

from harness.canary.controller import RunStatus
from tests.canary.fakes import ArmBehaviour
from tests.canary.test_controller_unit import UNTAGGED, V1, Harness, make_plan


def test_a_dry_run_at_its_time_cap_says_the_traffic_was_never_changed(tmp_path: Path) -> None:
    h = Harness(
        tmp_path, make_plan(max_duration_s=60.0, dry_run=True), canary=ArmBehaviour(rps=2.0)
    )
    h.load.arms["v1"] = (V1, ArmBehaviour(rps=2.0))
    outcome = h.run()
    assert outcome.status is RunStatus.INCONCLUSIVE
    assert outcome.reason == "no decision within 60s; traffic unchanged (dry run)"
    assert h.backend.writes == [] and h.backend.state.spec_traffic == UNTAGGED


def test_an_aborted_dry_run_says_the_traffic_was_never_changed(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(dry_run=True))
    outcome = h.controller.abort("interrupted by SIGINT")
    assert outcome.status is RunStatus.ABORTED
    assert outcome.reason == "interrupted by SIGINT; traffic unchanged (dry run)"
    assert h.backend.writes == []
