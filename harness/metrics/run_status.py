"""What canary, perf and gate runs push to a Pushgateway: adapters from their records to
``pushgateway.RunState``. A no-op without ``--pushgateway``.

The canary calls ``CanaryStatus`` at the start, after every look (through the
controller's ``on_look`` callback) and with its outcome; perf and gate push their final
state once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.metrics.pushgateway import MetricState, Pusher, RunClock, RunState, group_path
from harness.statuses import RunStatus

if TYPE_CHECKING:
    from analysis import Verdict
    from harness.canary.controller import LookRecord, Outcome, Plan

Say = Callable[[str], None]


def _metrics(verdict: Verdict | None, judge: str) -> list[MetricState]:
    if verdict is None:
        return []
    return [
        MetricState(
            name=m.name,
            judge=judge,
            e_value=m.e_value,
            threshold=m.threshold,
            max_e_value=m.max_e_value,
        )
        for m in verdict.metrics
    ]


class CanaryStatus:
    """Pushes a canary's state at its start, after each look and at its end."""

    def __init__(self, url: str | None, plan: Plan, run_id: str, say: Say) -> None:
        self._plan = plan
        self._clock = RunClock()
        self._pusher: Pusher | None = None
        self._last: RunState | None = None
        if url:
            path = group_path("canary", plan.namespace, plan.service, run_id)
            self._pusher = Pusher(url, path, warn=say)
            self._push(RunState(status=RunStatus.RUNNING, duration_s=0.0, weight=0, looks=0))

    def _push(self, state: RunState) -> None:
        self._last = state
        if self._pusher is not None:
            self._pusher.push(state)

    def wrap(self, on_look: Callable[[LookRecord], None]) -> Callable[[LookRecord], None]:
        """``on_look`` that also pushes the look."""

        def both(look: LookRecord) -> None:
            self.look(look)
            on_look(look)

        return both

    def look(self, look: LookRecord) -> None:
        """The state after one look: the step's weight, the decision, every e-value."""
        self._push(
            RunState(
                status=RunStatus.RUNNING,
                duration_s=self._clock.elapsed(),
                decision=look.decision.value,
                weight=look.percent,
                looks=look.seq,
                metrics=(
                    *_metrics(look.verdict, "client"),
                    *_metrics(look.server_verdict, "server"),
                ),
            )
        )

    def finished(self, outcome: Outcome) -> None:
        """Push the outcome (kept by the Pushgateway after the run) and stop pushing."""
        weight: int | None = None
        if outcome.final_traffic:
            weight = sum(
                t.percent or 0
                for t in outcome.final_traffic
                if t.revision_name == self._plan.canary
            )
        metrics: tuple[MetricState, ...] = ()
        if outcome.looks:
            last = outcome.looks[-1]
            metrics = (
                *_metrics(last.verdict, "client"),
                *_metrics(last.server_verdict, "server"),
            )
        final = RunState(
            status=outcome.status.value,
            duration_s=self._clock.elapsed(),
            decision=outcome.status.value,
            weight=weight,
            looks=len(outcome.looks),
            metrics=metrics,
        )
        self._last = final
        self.close(final)

    def close(self, final: RunState | None = None) -> None:
        if self._pusher is not None:
            self._pusher.close(final)
            self._pusher = None


def push_final(
    url: str | None,
    kind: str,
    namespace: str,
    service: str,
    run_id: str,
    state: RunState,
    say: Say,
) -> None:
    """One push of a finished perf or gate run (bounded wait; never raises)."""
    if not url:
        return
    try:
        path = group_path(kind, namespace, service, run_id)
    except (BadInput, ValueError) as exc:  # the run is done: say why, never fail it now
        say(f"warning: not pushing to the Pushgateway: {exc}")
        return
    pusher = Pusher(url, path, warn=say)
    pusher.close(state)


def push_perf(url: str | None, result: Any, say: Say) -> None:
    """A finished perf run (``harness.perf.run.PerfRun``): done, its duration."""
    if not url:
        return
    run = result.run
    # The decision label keeps its word ``done`` (docs/teams.md); the status is the store's.
    state = RunState(
        status=RunStatus.COMPLETED,
        duration_s=float(result.outcome.duration_s),
        decision="done",
    )
    push_final(url, "perf", run.namespace, run.service, run.id, state, say)


def push_gate(url: str | None, outcome: Any, say: Say) -> None:
    """A finished gate (``harness.gate.run.GateOutcome``): passed, regression or inconclusive."""
    if not url:
        return
    push_final(
        url, "gate", outcome.namespace, outcome.service, outcome.gate_id, gate_state(outcome), say
    )


def gate_state(outcome: Any) -> RunState:
    """A gate's outcome as pushed state: passed, regression or inconclusive."""
    return RunState(
        status=outcome.status,
        duration_s=max(0.0, outcome.finished - outcome.started),
        decision=outcome.status,
        metrics=tuple(
            MetricState(name=m.name, judge="gate", p_value=m.p_adjusted) for m in outcome.metrics
        ),
    )
