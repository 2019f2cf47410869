"""`CanaryController` as a state machine, with fakes and a fake clock: milliseconds a test.

The transitions (controller.py): tag the arms -> warm up -> for each step: confirm, set
the split, look until the step's interval has passed -> promote at the last step only,
roll back on a regression (client or server judge), at the time cap restore
(inconclusive) or hold; any failure aborts and restores (or holds with
``on_abort="hold"``). Every action is journaled (begun, then completed) before it acts.
The judge is the real one; the end-to-end runs against the emulator are in
test_canary_e2e.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from analysis import Decision
from harness.canary.controller import CanaryController, Interrupted, Outcome, Plan, RunStatus
from harness.canary.resume import resume_state
from harness.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, HarnessError, Unavailable
from harness.knative.model import ServiceState
from harness.knative.traffic import TrafficTarget
from harness.store import SqliteStore
from tests.canary.fakes import (
    ArmBehaviour,
    FakeBackend,
    FakeClock,
    FakeLoad,
    FakeMetrics,
    service,
)

V1, V2 = "hello-v1", "hello-v2"
# Before the run: v1 has all traffic and no tags; the run adds tags v1 and v2.
UNTAGGED = (TrafficTarget(percent=100, revision_name=V1),)


def make_plan(**changes: Any) -> Plan:
    plan = Plan(
        namespace="default",
        service="hello",
        baseline=V1,
        canary=V2,
        baseline_tag="v1",
        canary_tag="v2",
        added_tags=("v1", "v2"),
        original_traffic=UNTAGGED,
        steps=(10, 50, 100),
        step_interval_s=30.0,
        look_interval_s=10.0,
        warmup_s=5.0,
        max_duration_s=600.0,
        use_server_metrics=False,
    )
    return replace(plan, **changes)


class Harness:
    """A controller wired to fakes and a journal on disk, one object per test."""

    def __init__(
        self,
        tmp_path: Path,
        plan: Plan,
        *,
        canary: ArmBehaviour | None = None,
        server_canary: ArmBehaviour | None = None,
        series_after_s: float | None = 0.0,
        confirm: Any = None,
        store: SqliteStore | None = None,
        run_id: str | None = None,
        state: ServiceState | None = None,
    ) -> None:
        self.plan = plan
        self.clock = FakeClock()
        self.backend = FakeBackend(state or service(plan.original_traffic, latest_ready=V2))
        self.store = store or SqliteStore(tmp_path / "runs.db")
        self.run_id = (
            run_id
            or self.store.create_run(
                "canary",
                plan.namespace,
                plan.service,
                revisions=(plan.baseline, plan.canary),
                original_traffic=[t.to_dict() for t in plan.original_traffic],
            ).id
        )
        baseline = ArmBehaviour()
        self.canary = canary or ArmBehaviour()
        self.metrics = (
            FakeMetrics(
                self.clock,
                {V1: baseline, V2: server_canary or self.canary},
                series_after_s=series_after_s,
            )
            if plan.use_server_metrics
            else None
        )
        self.events: list[str] = []
        self.confirmed: list[int] = []
        self.controller = CanaryController(
            plan,
            self.run_id,
            backend=self.backend,
            metrics=self.metrics,
            journal=self.store,
            on_event=self.events.append,
            confirm=self._confirm(confirm) if confirm is not None else None,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        self.load = FakeLoad(self.clock, {"v1": (V1, baseline), "v2": (V2, self.canary)})

    def _confirm(self, answer: Any) -> Any:
        def confirm(percent: int) -> bool:
            self.confirmed.append(percent)
            return bool(answer(percent))

        return confirm

    def run(self, start_step: int = 0) -> Outcome:
        """As `harness.canary.run.run_controller` does: tag (unless resuming), then run."""
        if start_step == 0:
            try:
                self.controller.tag_arms()
            except HarnessError as exc:
                return self.controller.abort(exc.message)
        return self.controller.run(self.load, start_step)

    def actions(self) -> list[tuple[str, Any, bool]]:
        """(kind, percent or None, done) of every journaled action, in order."""
        return [(a.kind, a.payload.get("percent"), a.done) for a in self.store.actions(self.run_id)]

    def step_percents(self) -> list[int]:
        """The canary percents written, in order (0 is the tagging step)."""
        return [
            dict((t.revision_name, t.percent or 0) for t in block).get(V2, 0)
            for block in self.backend.writes
        ]


def tags(state: ServiceState) -> dict[str, str]:
    return {t.tag: t.revision_name or "" for t in state.spec_traffic if t.tag}


# ------------------------------------------------------------------ the happy path


def test_identical_arms_walk_every_step_and_promote_only_at_the_last(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())
    journaled_first: list[bool] = []

    def journal_says_begun() -> None:
        last = h.store.actions(h.run_id)[-1]
        journaled_first.append(not last.done and last.kind in ("set_traffic", "promote"))

    h.backend.before_write = journal_says_begun
    outcome = h.run()
    assert journaled_first == [True] * 5  # every write was journaled as begun before it ran
    assert outcome.status is RunStatus.PROMOTED and outcome.exit_code == EXIT_OK
    # Tagging at 0%, then each step once, then the promotion (100% without the added tags).
    assert h.step_percents() == [0, 10, 50, 100, 100]
    assert h.backend.percents() == {V2: 100}
    assert tags(h.backend.state) == {}
    assert [kind for kind, _, _ in h.actions()] == [
        "set_traffic",
        "set_traffic",
        "set_traffic",
        "set_traffic",
        "promote",
    ]
    assert all(done for _, _, done in h.actions())
    # The judge said PROMOTE before the last step; the controller advanced by time instead.
    early = [look for look in outcome.looks if look.percent < 100]
    assert any(look.decision is Decision.PROMOTE for look in early)
    assert outcome.looks[-1].percent == 100 and outcome.looks[-1].decision is Decision.PROMOTE
    # Warm-up, then one look every look interval, three looks a 30 s step.
    assert h.clock.slept[0] == 5.0 and set(h.clock.slept[1:]) == {10.0}
    assert [look.percent for look in outcome.looks] == [10, 10, 10, 50, 50, 50, 100]
    record = h.store.get_run(h.run_id)
    assert record.status == "promoted" and record.summary is not None
    assert record.summary["final_traffic"] == [t.to_dict() for t in h.backend.state.spec_traffic]
    # One reason field: the explanation, the run's reason first, then the judge's sentences.
    assert set(record.summary) == {"decision", "explanation", "looks", "final_traffic"}
    assert record.summary["decision"] == "promoted"
    assert record.summary["explanation"] == [outcome.reason, *outcome.explanations]
    assert record.summary["explanation"][0] == "every metric within margin"
    assert len(h.store.looks(h.run_id)) == len(outcome.looks)


def test_the_warm_up_is_not_judged(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(steps=(100,)))
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    # 1000 requests a second per arm: the first look counts its 10 s, not the 5 s before.
    first = outcome.looks[0]
    assert h.load.snapshot()["v2"].to_snapshot().requests > first.client["canary"].requests
    assert first.client["canary"].requests == first.verdict.canary_requests == 10_000
    assert first.elapsed_s == pytest.approx(15.0)


def test_without_added_tags_nothing_is_written_before_the_first_step(tmp_path: Path) -> None:
    tagged = (
        TrafficTarget(percent=100, revision_name=V1, tag="v1"),
        TrafficTarget(percent=0, revision_name=V2, tag="v2"),
    )
    h = Harness(tmp_path, make_plan(added_tags=(), original_traffic=tagged, steps=(50, 100)))
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert h.step_percents() == [50, 100, 100]
    # Tags the run did not add stay (on a 0% entry for the old baseline).
    assert tags(h.backend.state) == {"v1": V1, "v2": V2}


def test_dry_run_changes_nothing_and_asks_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(dry_run=True), confirm=lambda percent: False)
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert h.backend.writes == [] and h.confirmed == [] and h.actions() == []
    assert h.backend.state.spec_traffic == UNTAGGED
    assert any(e.startswith("dry run: would set hello-v2 to 10%") for e in h.events)


# ------------------------------------------------------------------ rollbacks


def test_a_regression_rolls_back_at_once_to_the_exact_original_block(tmp_path: Path) -> None:
    # A look's events count as one until earlier looks show that many is usual (a burst in
    # one arm is not a regression: analysis/eprocess/block_rate.py), so even 5% errors
    # against none take four looks: six per step here.
    h = Harness(tmp_path, make_plan(look_interval_s=5.0), canary=ArmBehaviour(error_rate=0.05))
    outcome = h.run()
    assert outcome.status is RunStatus.ROLLED_BACK and outcome.exit_code == EXIT_FAILED
    assert outcome.looks[-1].decision is Decision.ROLLBACK
    assert outcome.looks[-1].percent == 10  # never got past the first step
    assert h.backend.state.spec_traffic == UNTAGGED
    assert outcome.final_traffic == UNTAGGED
    assert [kind for kind, _, _ in h.actions()] == ["set_traffic", "set_traffic", "rollback"]
    assert any("error" in line for line in outcome.explanations)
    assert h.store.get_run(h.run_id).status == "rolled_back"


def test_the_server_judge_alone_can_roll_back(tmp_path: Path) -> None:
    # Clients see two equal arms; Prometheus sees the canary failing 5% of requests.
    h = Harness(
        tmp_path,
        make_plan(use_server_metrics=True),
        server_canary=ArmBehaviour(error_rate=0.05),
    )
    outcome = h.run()
    last = outcome.looks[-1]
    assert outcome.status is RunStatus.ROLLED_BACK
    assert last.verdict.decision is not Decision.ROLLBACK
    assert last.server_verdict is not None and last.server_verdict.decision is Decision.ROLLBACK
    assert any(line.startswith("(server-side)") for line in outcome.explanations)
    assert h.backend.state.spec_traffic == UNTAGGED


def test_the_two_judges_share_alpha(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(use_server_metrics=True))
    assert h.controller.server_judge is not None
    assert h.controller.client_judge.config.alpha == pytest.approx(0.025)
    assert h.controller.server_judge.config.alpha == pytest.approx(0.025)


def test_missing_server_series_fall_back_to_the_client_judge_with_all_of_alpha(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, make_plan(use_server_metrics=True), series_after_s=None)
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert h.controller.server_judge is None
    assert h.controller.client_judge.config.alpha == pytest.approx(0.05)
    assert all(look.server is None for look in outcome.looks)
    assert any("judging on client-side metrics only" in e for e in h.events)
    # It waited for the series (one poll a second) for the grace period, no longer.
    assert h.clock.slept[1:16] == [1.0] * 15


def test_series_that_appear_late_in_the_grace_are_used(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(use_server_metrics=True), series_after_s=8.0)
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert h.controller.server_judge is not None
    assert all(look.server is not None for look in outcome.looks)
    assert h.clock.slept[1:4] == [1.0, 1.0, 1.0]


# ------------------------------------------------------------------ the time cap


def test_no_decision_by_the_time_cap_restores_the_original(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(max_duration_s=60.0), canary=ArmBehaviour(rps=2.0))
    h.load.arms["v1"] = (V1, ArmBehaviour(rps=2.0))
    outcome = h.run()
    assert outcome.status is RunStatus.INCONCLUSIVE and outcome.exit_code == EXIT_ABORTED
    assert "no decision within 60s; traffic restored" in outcome.reason
    assert h.backend.state.spec_traffic == UNTAGGED
    assert h.actions()[-1][0] == "rollback"
    assert all(look.decision is Decision.CONTINUE for look in outcome.looks)
    assert outcome.looks[-1].elapsed_s >= 60.0


def test_hold_at_the_time_cap_keeps_the_split_and_journals_the_hold(tmp_path: Path) -> None:
    plan = make_plan(max_duration_s=45.0, on_inconclusive="hold")
    h = Harness(tmp_path, plan, canary=ArmBehaviour(rps=2.0))
    h.load.arms["v1"] = (V1, ArmBehaviour(rps=2.0))
    outcome = h.run()
    assert outcome.status is RunStatus.HELD and outcome.exit_code == EXIT_ABORTED
    assert outcome.reason.endswith("; traffic held")
    assert h.backend.percents() == {V1: 50, V2: 50}  # second step, left as it was
    assert h.actions()[-1] == ("hold", None, True)
    assert h.store.get_run(h.run_id).status == "held"


# ------------------------------------------------------------------ aborts


def test_confirm_declined_aborts_before_the_step_and_restores(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(), confirm=lambda percent: percent < 50)
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED and outcome.exit_code == EXIT_ABORTED
    assert outcome.reason == "not confirmed: 50% for hello-v2; traffic restored"
    assert h.confirmed == [10, 50]
    assert 50 not in h.step_percents()
    assert h.backend.state.spec_traffic == UNTAGGED
    assert h.store.get_run(h.run_id).status == "aborted"


def test_confirm_declined_with_on_abort_hold_leaves_the_split(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(on_abort="hold"), confirm=lambda percent: percent < 50)
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED
    assert outcome.reason.endswith("; traffic held")
    assert h.backend.percents() == {V1: 90, V2: 10}
    assert [kind for kind, _, _ in h.actions()] == ["set_traffic", "set_traffic"]


def test_an_interrupt_mid_step_aborts_and_restores(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())

    def interrupt() -> None:
        raise Interrupted("SIGTERM")

    h.clock.at(h.clock.now + 42.0, interrupt)
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED
    assert outcome.reason == "interrupted by SIGTERM; traffic restored"
    assert h.backend.state.spec_traffic == UNTAGGED
    assert [look.percent for look in outcome.looks] == [10, 10, 10]


def test_a_restore_that_fails_says_how_to_finish_it(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan(), confirm=lambda percent: percent < 50)
    # The tagging and the first step go through; the restore after the refusal fails.
    h.backend.errors = {3: Unavailable("cluster unreachable: connection refused")}
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED and outcome.exit_code == EXIT_ABORTED
    assert "restoring the original traffic failed too: cluster unreachable" in outcome.reason
    assert "run `harness rollback hello` when the cluster answers" in outcome.reason
    assert h.backend.percents() == {V1: 90, V2: 10}  # where the failed restore left it
    assert outcome.final_traffic == h.backend.state.spec_traffic
    # The journal shows the restore begun and never completed, so `harness rollback` redoes it.
    assert h.actions()[-1] == ("rollback", None, False)
    assert h.store.get_run(h.run_id).status == "aborted"


def test_a_failing_step_write_aborts_and_restores(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())
    h.backend.errors = {3: Unavailable("cluster unreachable")}
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED
    assert outcome.reason == "cluster unreachable; traffic restored"
    assert h.backend.state.spec_traffic == UNTAGGED
    # The failed step stays journaled as begun, not done; the restore is done.
    assert h.actions()[-2:] == [("set_traffic", 50, False), ("rollback", None, True)]


def test_arms_answered_by_the_wrong_revision_make_the_run_invalid(tmp_path: Path) -> None:
    canary = ArmBehaviour(answered_by={V2: 0.9, V1: 0.1})
    h = Harness(tmp_path, make_plan(), canary=canary)
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED
    assert "the canary arm (v2) was answered by other revisions (hello-v1: " in outcome.reason
    assert h.backend.state.spec_traffic == UNTAGGED
    assert outcome.looks == ()  # the look was refused before it was judged


def test_attribution_within_tolerance_is_accepted(tmp_path: Path) -> None:
    canary = ArmBehaviour(answered_by={V2: 0.995, V1: 0.005})
    outcome = Harness(tmp_path, make_plan(), canary=canary).run()
    assert outcome.status is RunStatus.PROMOTED


# ------------------------------------------------------------------ conflicts (409)


def test_a_409_during_a_step_recomputes_the_split_from_the_new_service(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())
    v3 = "hello-v3"

    def someone_adds_a_tag(state: ServiceState) -> ServiceState:
        extra = TrafficTarget(percent=0, revision_name=v3, tag="preview")
        return replace(state, spec_traffic=(*state.spec_traffic, extra), resource_version="9")

    h.backend.conflicts = {3: [someone_adds_a_tag]}  # the write of the 50% step
    outcome = h.run()
    assert outcome.status is RunStatus.PROMOTED
    assert h.backend.conflicts_seen == 1
    # The 50% step was computed again from the Service with the new tag, and kept it.
    assert h.step_percents()[2] == 50
    assert (v3, "preview", 0) in [(t.revision_name, t.tag, t.percent) for t in h.backend.writes[2]]
    assert tags(h.backend.state) == {"preview": v3}
    assert all(done for _, _, done in h.actions())


def test_a_409_that_makes_the_step_impossible_aborts_and_restores(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())

    def someone_sends_traffic_elsewhere(state: ServiceState) -> ServiceState:
        kept = [replace(t, percent=40 * (t.percent or 0) // 100) for t in state.spec_traffic]
        other = TrafficTarget(percent=60, revision_name="hello-v3")
        return replace(state, spec_traffic=(*kept, other))

    h.backend.conflicts = {3: [someone_sends_traffic_elsewhere]}
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED
    assert "cannot set hello-v2 to 50%: other revisions hold 60% of traffic" in outcome.reason
    assert outcome.reason.endswith("; traffic restored")
    # The restore puts back the block the run started from, over the other writer's change.
    assert h.backend.state.spec_traffic == UNTAGGED
    assert h.actions()[-2:] == [("set_traffic", 50, False), ("rollback", None, True)]


def test_conflicts_that_never_end_abort_the_run(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_plan())

    def bump(state: ServiceState) -> ServiceState:
        return replace(state, resource_version=str(int(state.resource_version or 0) + 1))

    h.backend.conflicts = {call: [bump] * 10 for call in range(1, 10)}
    outcome = h.run()
    assert outcome.status is RunStatus.ABORTED
    assert "kept conflicting" in outcome.reason
    assert "restoring the original traffic failed too" in outcome.reason
    assert h.backend.writes == []  # neither the tagging nor the restore could land


# ------------------------------------------------------------------ resume


class Crash(BaseException):
    """The process dies: nothing of the controller's handling runs."""


def test_resume_replays_the_journal_and_continues_at_the_step_it_stopped(tmp_path: Path) -> None:
    plan = make_plan(steps=(10, 50, 100, 100))  # long enough to interrupt mid-way
    first = Harness(tmp_path, plan)

    def crash() -> None:
        raise Crash

    first.clock.at(first.clock.now + 50.0, crash)  # after the first look at 50%
    with pytest.raises(Crash):
        first.run()
    record = first.store.get_run(first.run_id)
    assert record.running
    looks_before = first.store.looks(first.run_id)
    assert [look.percent for look in looks_before] == [10, 10, 10, 50]

    step, resume = resume_state(first.store, record, plan)
    assert step == 1
    again = Harness(
        tmp_path, plan, store=first.store, run_id=first.run_id, state=first.backend.state
    )
    again.controller.replay(resume)
    outcome = again.run(start_step=step)
    assert outcome.status is RunStatus.PROMOTED
    # The judge continued: its first look after the resume is the run's fifth.
    resumed = outcome.looks[0]
    assert resumed.verdict.look == len(looks_before) + 1
    # Counts continue from the last journaled look instead of starting from zero.
    before = resume.offset["canary"].requests
    assert resumed.client["canary"].requests > before > 0
    assert again.step_percents()[0] == 50  # the interrupted step is set again, not step 1
    assert [look.seq for look in first.store.looks(first.run_id)][-1] == len(looks_before) + len(
        outcome.looks
    )
