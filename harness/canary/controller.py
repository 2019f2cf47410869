"""The canary state machine: shift traffic step by step, look, judge, act.

Components come in through narrow interfaces (``TrafficBackend``, ``LoadDriver``,
``MetricSource``, ``Store``), so this module holds only the rollout logic:

1. tag the two revisions (reusing tags they already have), load both tagged arms equally;
2. exclude a warm-up, then look every few seconds: client-side arm snapshots and, where
   Prometheus answers, server-side counter deltas per revision;
3. judge every look. Two judges share alpha: the client-side judge (fine histograms,
   equal arms) may roll back or promote; the server-side judge (Prometheus) may only
   roll back. Their false-rollback rates add up to at most alpha.
4. act: roll back at once; advance when a step's interval has passed; promote only at the
   last step on the client judge's PROMOTE; roll back (or hold) at the time cap.

Every look and every action is written to the journal before it is acted on.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, Protocol

from analysis import ArmSnapshot, Decision, JudgeConfig, SequentialJudge, Verdict
from harness.canary.lease import LeaseLost
from harness.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, Aborted, HarnessError
from harness.knative.backend import TrafficBackend
from harness.knative.model import ServiceState
from harness.knative.traffic import TrafficTarget, canary_split, promote_split
from harness.metrics.source import MetricSource, RevisionCounters
from harness.statuses import RunStatus
from harness.store import ActionKind, Store

# Series of a revision appear in Prometheus only after its first requests are scraped.
SERIES_GRACE_S = 15.0


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived during a run."""


EXIT_CODES = {
    RunStatus.PROMOTED: EXIT_OK,
    RunStatus.ROLLED_BACK: EXIT_FAILED,
    RunStatus.INCONCLUSIVE: EXIT_ABORTED,
    RunStatus.ABORTED: EXIT_ABORTED,
    RunStatus.HELD: EXIT_ABORTED,
}


class ArmLoad(Protocol):
    """What the controller needs of a load driver: cumulative per-arm snapshots."""

    def snapshot(self) -> Mapping[str, Any]:
        """Per-arm stats objects with ``to_snapshot() -> ArmSnapshot`` and ``revisions``."""
        ...


@dataclass(frozen=True)
class Plan:
    """Everything decided before the first change, validated by preflight."""

    namespace: str
    service: str
    baseline: str
    canary: str
    baseline_tag: str
    canary_tag: str
    added_tags: tuple[str, ...]
    original_traffic: tuple[TrafficTarget, ...]
    steps: tuple[int, ...]
    step_interval_s: float
    look_interval_s: float
    warmup_s: float
    max_duration_s: float
    # The judge's settings (alpha among them); the client and server judges split alpha.
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    dry_run: bool = False
    on_inconclusive: str = "rollback"
    on_abort: str = "rollback"
    use_server_metrics: bool = True
    attribution_tolerance: float = 0.01


@dataclass(frozen=True)
class LookRecord:
    """One look as the live view and the report see it."""

    seq: int
    elapsed_s: float
    step: int
    percent: int
    client: Mapping[str, ArmSnapshot]
    server: Mapping[str, RevisionCounters] | None
    verdict: Verdict
    server_verdict: Verdict | None
    decision: Decision


@dataclass(frozen=True)
class Outcome:
    """How a run ended."""

    run_id: str
    status: RunStatus
    reason: str
    looks: tuple[LookRecord, ...]
    final_traffic: tuple[TrafficTarget, ...]
    explanations: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


@dataclass
class Resume:
    """State recovered from the journal of an interrupted run."""

    step_index: int
    offset: Mapping[str, ArmSnapshot]
    past_client: Sequence[Mapping[str, ArmSnapshot]] = field(default_factory=list)


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``Interrupted`` for the duration of a run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class CanaryController:
    """Runs one planned canary to its end. Construct, then call ``run``."""

    def __init__(
        self,
        plan: Plan,
        run_id: str,
        *,
        backend: TrafficBackend,
        metrics: MetricSource | None,
        journal: Store,
        on_look: Callable[[LookRecord], None] = lambda look: None,
        on_event: Callable[[str], None] = lambda message: None,
        confirm: Callable[[int], bool] | None = None,
        guard: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        equal_load: bool = False,
    ) -> None:
        self.plan = plan
        # The load generator paces every arm at the same rate (open model), so each arm's
        # share of completed requests is known (1/2): the judge's sample-ratio guard checks
        # it at every look. A closed model (fixed users) completes fewer requests on a
        # slower arm, so there the split says nothing.
        self.equal_load = equal_load
        self.run_id = run_id
        self.backend = backend
        self.load: ArmLoad | None = None
        self.metrics = metrics if plan.use_server_metrics else None
        self.journal = journal
        self.on_look = on_look
        self.on_event = on_event
        self.confirm = confirm
        # Raises LeaseLost once another run holds the Service (checked before every
        # look and every action).
        self.guard = guard
        self.clock = clock
        self.sleep = sleep
        base = plan.judge
        self._judge_config = base
        self._replayed = False
        share = 2 if self.metrics is not None else 1
        self.client_judge = SequentialJudge(replace(base, alpha=base.alpha / share))
        self.server_judge = (
            SequentialJudge(replace(base, alpha=base.alpha / share)) if self.metrics else None
        )
        self.looks: list[LookRecord] = []
        self._zero: dict[str, ArmSnapshot] = {}
        self._offset: dict[str, ArmSnapshot] = {}
        self._started = 0.0
        self._last_journal_ms: float | None = None
        # Arms are named by their tags; the judge knows them as baseline and canary.
        self._arms = {"baseline": plan.baseline_tag, "canary": plan.canary_tag}

    # -- actions -------------------------------------------------------------------------

    def _act(self, kind: ActionKind, payload: Mapping[str, Any], fn: Callable[[], object]) -> None:
        if self.guard is not None:
            self.guard()
        action = self.journal.begin_action(self.run_id, kind, payload)
        fn()
        self.journal.complete_action(self.run_id, action.seq)

    def _set_canary_percent(self, percent: int) -> None:
        plan = self.plan
        if plan.dry_run:
            self.on_event(f"dry run: would set {plan.canary} to {percent}%")
            return

        def compute(current: ServiceState) -> Sequence[TrafficTarget]:
            try:
                return canary_split(
                    current.spec_traffic,
                    baseline=plan.baseline,
                    canary=plan.canary,
                    canary_percent=percent,
                    baseline_tag=plan.baseline_tag,
                    canary_tag=plan.canary_tag,
                    latest_ready=current.latest_ready_revision,
                )
            except ValueError as exc:  # someone changed the Service so the step cannot apply
                raise Aborted(f"cannot set {plan.canary} to {percent}%: {exc}") from exc

        self._act(
            ActionKind.SET_TRAFFIC,
            {"percent": percent},
            lambda: self.backend.set_traffic(plan.namespace, plan.service, compute),
        )
        self.on_event(f"traffic: {plan.canary} {percent}%, {plan.baseline} the rest")

    def restore_original(self) -> None:
        """Put back the traffic block the run started from, exactly."""
        plan = self.plan
        if plan.dry_run:
            return
        original = list(plan.original_traffic)
        self._act(
            ActionKind.ROLLBACK,
            {"traffic": [t.to_dict() for t in original]},
            lambda: self.backend.set_traffic(plan.namespace, plan.service, lambda _: original),
        )

    def _promote(self) -> None:
        plan = self.plan
        if plan.dry_run:
            return

        def compute(current: ServiceState) -> Sequence[TrafficTarget]:
            try:
                return promote_split(
                    current.spec_traffic,
                    canary=plan.canary,
                    remove_tags=plan.added_tags,
                    latest_ready=current.latest_ready_revision,
                )
            except ValueError as exc:
                raise Aborted(f"cannot promote {plan.canary}: {exc}") from exc

        self._act(
            ActionKind.PROMOTE,
            {"canary": plan.canary, "removed_tags": list(plan.added_tags)},
            lambda: self.backend.set_traffic(plan.namespace, plan.service, compute),
        )

    # -- looks ---------------------------------------------------------------------------

    def _arm_stats(self) -> Mapping[str, Any]:
        if self.load is None:
            raise RuntimeError("the controller looks only while load runs")
        return self.load.snapshot()

    def _client_snapshots(self) -> dict[str, ArmSnapshot]:
        stats = self._arm_stats()
        out: dict[str, ArmSnapshot] = {}
        for role, arm in self._arms.items():
            current = stats[arm].to_snapshot()
            since = current - self._zero[role] if role in self._zero else current
            out[role] = self._offset[role] + since if role in self._offset else since
        return out

    def _check_attribution(self) -> None:
        """Each tagged arm must be answered by its own revision, or the run is invalid."""
        stats = self._arm_stats()
        for role, revision in (("baseline", self.plan.baseline), ("canary", self.plan.canary)):
            arm = self._arms[role]
            seen: Mapping[str, int] = getattr(stats[arm], "revisions", {}) or {}
            total = sum(seen.values())
            wrong = total - seen.get(revision, 0)
            if total >= 100 and wrong > self.plan.attribution_tolerance * total:
                others = ", ".join(f"{k}: {v}" for k, v in seen.items() if k != revision)
                raise Aborted(
                    f"the {role} arm ({arm}) was answered by other revisions ({others}) instead of "
                    f"{revision}: routing does not match the plan, so the run is invalid"
                )

    def _server_counters(self) -> dict[str, RevisionCounters] | None:
        if self.metrics is None:
            return None
        plan = self.plan
        return {
            "baseline": self.metrics.read(
                plan.namespace, plan.service, plan.baseline, plan.baseline_tag
            ),
            "canary": self.metrics.read(plan.namespace, plan.service, plan.canary, plan.canary_tag),
        }

    def _look(self, step: int, percent: int) -> LookRecord:
        # Where a look's time goes, kept in the journal (benchmarks/canary_look.py reads it).
        if self.guard is not None:
            self.guard()
        t0 = time.perf_counter()
        client = self._client_snapshots()
        self._check_attribution()
        t1 = time.perf_counter()
        server = self._server_counters()
        t2 = time.perf_counter()
        verdict = self.client_judge.update(
            baseline=client["baseline"],
            canary=client["canary"],
            expected_canary_share=0.5 if self.equal_load else None,
        )
        server_verdict = None
        if server is not None and self.server_judge is not None:
            b, c = server["baseline"], server["canary"]
            if b.latency is not None and c.latency is not None:
                server_verdict = self.server_judge.update(
                    baseline=ArmSnapshot(requests=b.requests, errors=b.errors, latency=b.latency),
                    canary=ArmSnapshot(requests=c.requests, errors=c.errors, latency=c.latency),
                )
        decision = verdict.decision
        if server_verdict is not None and server_verdict.decision is Decision.ROLLBACK:
            decision = Decision.ROLLBACK
        t3 = time.perf_counter()
        look = LookRecord(
            seq=len(self.looks) + 1,
            elapsed_s=self.clock() - self._started,
            step=step,
            percent=percent,
            client=client,
            server=server,
            verdict=verdict,
            server_verdict=server_verdict,
            decision=decision,
        )
        # Journal conventions of harness.report.journal: arm snapshots by role, the
        # client verdict's dict (its decision replaced by the combined one).
        self.journal.record_look(
            self.run_id,
            step=step,
            percent=percent,
            arms={
                **{role: snap.to_dict() for role, snap in client.items()},
                "elapsed_s": look.elapsed_s,
                "timings_ms": {
                    "load_snapshot": 1000 * (t1 - t0),
                    "prometheus": 1000 * (t2 - t1),
                    "judge": 1000 * (t3 - t2),
                    "journal_previous": self._last_journal_ms,
                },
                "server": (
                    {
                        k: {"requests": v.requests, "errors": v.errors, "series": v.series}
                        for k, v in server.items()
                    }
                    if server is not None
                    else None
                ),
            },
            verdict={
                **verdict.to_dict(),
                "decision": decision.value,
                "server": server_verdict.to_dict() if server_verdict else None,
            },
        )
        self._last_journal_ms = 1000 * (time.perf_counter() - t3)
        if decision is Decision.INVALID:
            raise Aborted(f"the run is invalid: {verdict.reason.removeprefix('INVALID: ')}")
        self.looks.append(look)
        self.on_look(look)
        return look

    # -- the run -------------------------------------------------------------------------

    def _warm_up(self) -> None:
        self.on_event(f"warm-up {self.plan.warmup_s:g}s (not judged)")
        self.sleep(self.plan.warmup_s)
        stats = self._arm_stats()
        self._zero = {role: stats[arm].to_snapshot() for role, arm in self._arms.items()}
        if self.metrics is not None:
            plan = self.plan
            if self._wait_for_series():
                self._server_counters()  # the first read is the zero point of server counters
            else:
                self.on_event(
                    f"Prometheus has no series for {plan.baseline} or {plan.canary} after the "
                    "warm-up: "
                    "judging on client-side metrics only"
                )
                self.metrics = None
                self.server_judge = None
                if not self._replayed:  # no evidence yet: the client judge gets all of alpha
                    self.client_judge = SequentialJudge(self._judge_config)

    def _wait_for_series(self) -> bool:
        """Whether Prometheus has both revisions' series, allowing a few scrapes after load
        began. Both must be there before the zero point: a series first seen later counts
        in full, which would put warm-up requests on one side only."""
        plan = self.plan
        assert self.metrics is not None
        metrics = self.metrics
        deadline = self.clock() + SERIES_GRACE_S
        while True:
            if all(
                metrics.has_series(plan.namespace, plan.service, revision, tag)
                for revision, tag in (
                    (plan.baseline, plan.baseline_tag),
                    (plan.canary, plan.canary_tag),
                )
            ):
                return True
            if self.clock() >= deadline:
                return False
            self.sleep(1.0)

    def replay(self, resume: Resume) -> None:
        """Feed the judges the journaled looks of an interrupted run (never restart them)."""
        for client in resume.past_client:
            self.client_judge.update(baseline=client["baseline"], canary=client["canary"])
        self._offset = dict(resume.offset)
        self._replayed = True

    def tag_arms(self) -> None:
        """Give both revisions their tags with the canary at 0%, before load starts."""
        if self.plan.added_tags:
            self._set_canary_percent(0)

    def run(self, load: ArmLoad, start_step: int = 0) -> Outcome:
        """Run from ``start_step`` to an outcome; restores traffic on any failure."""
        plan = self.plan
        self.load = load
        self._started = self.clock()
        deadline = self._started + plan.max_duration_s
        try:
            with interrupts_raise():
                self._warm_up()
                return self._steps(start_step, deadline)
        except LeaseLost as exc:  # another run owns the Service now: never fight it
            look = self.looks[-1] if self.looks else None
            reason = f"{exc.message}; traffic left as it is (`harness rollback` restores it)"
            return self._finish(RunStatus.ABORTED, reason, look)
        except Interrupted as exc:
            return self.abort(f"interrupted by {exc}")
        except HarnessError as exc:
            return self.abort(exc.message)

    def _steps(self, start_step: int, deadline: float) -> Outcome:
        plan = self.plan
        last = len(plan.steps) - 1
        for index in range(start_step, len(plan.steps)):
            percent = plan.steps[index]
            if self.confirm is not None and not plan.dry_run and not self.confirm(percent):
                return self.abort(f"not confirmed: {percent}% for {plan.canary}")
            self._set_canary_percent(percent)
            step_started = self.clock()
            while True:
                self.sleep(plan.look_interval_s)
                look = self._look(index, percent)
                if look.decision is Decision.ROLLBACK:
                    self.restore_original()
                    return self._finish(RunStatus.ROLLED_BACK, "a metric regressed", look)
                if index == last and look.decision is Decision.PROMOTE:
                    self._promote()
                    return self._finish(RunStatus.PROMOTED, "every metric within margin", look)
                if self.clock() >= deadline:
                    return self._inconclusive(look)
                if index < last and self.clock() - step_started >= plan.step_interval_s:
                    break
        raise AssertionError("unreachable: the last step loops until an outcome")

    def _inconclusive(self, look: LookRecord) -> Outcome:
        reason = f"no decision within {self.plan.max_duration_s:g}s"
        if self.plan.on_inconclusive == "hold":
            self._act(ActionKind.HOLD, {"reason": reason}, lambda: None)
            return self._finish(RunStatus.HELD, reason + "; traffic held", look)
        self.restore_original()
        return self._finish(RunStatus.INCONCLUSIVE, reason + self._restored(), look)

    def _restored(self) -> str:
        """How a run that restores the original block says so (a dry run never changed it)."""
        return "; traffic unchanged (dry run)" if self.plan.dry_run else "; traffic restored"

    def abort(self, reason: str) -> Outcome:
        """End the run as aborted: restore the original traffic unless told to hold."""
        look = self.looks[-1] if self.looks else None
        if self.plan.on_abort == "hold":
            return self._finish(RunStatus.ABORTED, reason + "; traffic held", look)
        try:
            with _ignoring_interrupts():
                self.restore_original()
        except HarnessError as exc:
            reason += f"; restoring the original traffic failed too: {exc.message} "
            reason += f"(run `harness rollback {self.plan.service}` when the cluster answers)"
            return self._finish(RunStatus.ABORTED, reason, look)
        return self._finish(RunStatus.ABORTED, reason + self._restored(), look)

    def _finish(self, status: RunStatus, reason: str, look: LookRecord | None) -> Outcome:
        explanations = tuple(_explain(look)) if look is not None else ()
        final: tuple[TrafficTarget, ...] = ()
        try:
            state = self.backend.get_service(self.plan.namespace, self.plan.service)
            final = tuple(state.spec_traffic)
        except HarnessError:
            pass
        self.journal.finish_run(
            self.run_id,
            status.value,
            summary={
                "decision": status.value.replace("_", " "),
                # The one reason field: the run's reason first, then the judge's sentences.
                "explanation": [reason, *explanations],
                "looks": len(self.looks),
                "final_traffic": [t.to_dict() for t in final],
            },
        )
        return Outcome(
            run_id=self.run_id,
            status=status,
            reason=reason,
            looks=tuple(self.looks),
            final_traffic=final,
            explanations=explanations,
        )


def _explain(look: LookRecord) -> list[str]:
    lines = list(_sentences(look.verdict))
    if look.server_verdict is not None:
        lines += [f"(server-side) {s}" for s in _sentences(look.server_verdict)]
    return lines


def _sentences(verdict: Verdict) -> list[str]:
    return [line for line in verdict.explain().splitlines() if line.strip()]


@contextmanager
def _ignoring_interrupts() -> Iterator[None]:
    """A second Ctrl-C must not stop the restore of the original traffic half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
