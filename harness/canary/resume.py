"""Resuming an interrupted `harness canary` run from the journal: what the journal keeps of
a plan, the recorded spec given again (with the passwords it masked), the plan with its
original traffic and added tags, and the step and judged history to continue from. The
recorded original traffic is also what `harness rollback` restores."""

from __future__ import annotations

from typing import Any

from analysis import ArmSnapshot
from harness.canary.controller import Plan, Resume
from harness.errors import BadInput
from harness.knative.traffic import TrafficTarget, targets_from_list
from harness.store import RunRecord, Store


def resumable_run(store: Store, run_id: str) -> RunRecord:
    """The journal's record of the run ``--resume`` names: a canary still running."""
    run = store.get_run(run_id)
    if run.kind != "canary":
        raise BadInput(f"run {run_id} is a {run.kind} run, not a canary")
    if not run.running:
        raise BadInput(f"run {run_id} already finished ({run.status})")
    return run


def plan_record(plan: Plan) -> dict[str, Any]:
    """What the journal keeps of a plan so a run can be resumed or rolled back."""
    return {
        "baseline": plan.baseline,
        "canary": plan.canary,
        "baseline_tag": plan.baseline_tag,
        "canary_tag": plan.canary_tag,
        "added_tags": list(plan.added_tags),
    }


def resume_state(store: Store, run: RunRecord, plan: Plan) -> tuple[int, Resume]:
    """Where an interrupted run stopped: the step to continue and its judged history."""
    looks = store.looks(run.id)
    past = [
        {role: ArmSnapshot.from_dict(look.arms[role]) for role in ("baseline", "canary")}
        for look in looks
    ]
    steps_done = [
        a.payload["percent"]
        for a in store.actions(run.id)
        if a.kind == "set_traffic" and a.done and "percent" in a.payload
    ]
    last_percent = steps_done[-1] if steps_done else None
    step = plan.steps.index(last_percent) if last_percent in plan.steps else 0
    offset = past[-1] if past else {}
    return step, Resume(step_index=step, offset=offset, past_client=past)


def original_traffic(run: RunRecord) -> list[TrafficTarget]:
    """The traffic block a run started from, as the journal recorded it."""
    if run.original_traffic is None:
        raise BadInput(f"run {run.id} recorded no original traffic block")
    return targets_from_list(run.original_traffic)


def resumed_plan(plan: Plan, run: RunRecord) -> Plan:
    """The plan of an interrupted run: its original traffic and the tags it added."""
    from dataclasses import replace

    recorded = run.spec.get("plan", {})
    return replace(
        plan,
        original_traffic=tuple(original_traffic(run)),
        baseline_tag=recorded.get("baseline_tag", plan.baseline_tag),
        canary_tag=recorded.get("canary_tag", plan.canary_tag),
        added_tags=tuple(recorded.get("added_tags", plan.added_tags)),
    )


def with_secrets(run: RunRecord, overrides: dict[str, Any]) -> dict[str, Any]:
    """The recorded spec of ``run`` to resume, with URLs whose password was masked when it
    was recorded (harness.redact) taken from the flags given again."""
    from harness.redact import is_redacted

    stored = dict(run.spec.get("spec", {}))
    for key in ("ingress", "prometheus", "pushgateway"):
        if is_redacted(stored.get(key)):
            if not overrides.get(key):
                raise BadInput(
                    f"run {run.id} was recorded without the password of its {key} URL "
                    f"({stored[key]}): give --{key} again to resume it"
                )
            stored[key] = overrides[key]
    return stored
