"""`harness canary`: preflight, wiring of the components, the run, the report.

Preflight reads everything and changes nothing; any failure there is ``BadInput`` or
``Unavailable`` (exit 2). Once the run is created in the journal, the controller in
``harness.canary.controller`` owns the traffic and restores it on every failure path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis import ArmSnapshot, JudgeConfig
from harness.canary.apply import apply_candidate, manifest_service
from harness.canary.checks import check_user_code
from harness.canary.cluster import Say, open_cluster, take_service
from harness.canary.controller import CanaryController, LookRecord, Outcome, Plan, Resume
from harness.canary.lease import ServiceLease, holder_name
from harness.canary.preflight import (
    Prepared,
    after_lease,
    check_queries,
    preflight,
    teams_preflight,
)
from harness.config import DEFAULT_RATE, CanarySpec
from harness.errors import BadInput, HarnessError
from harness.knative.backend import TrafficBackend
from harness.knative.kn import KnEcho
from harness.knative.traffic import TrafficTarget, targets_from_list
from harness.metrics.run_status import CanaryStatus
from harness.report.folder_check import check_report_dir
from harness.statuses import RunStatus
from harness.store import ActionKind, RunRecord, Store, new_run_id

# Users per arm for a --locustfile without --users (as `harness load`'s default).
DEFAULT_LOCUST_USERS = 10


def judge_line(config: JudgeConfig, *, server: bool) -> str:
    """One line naming the judge's settings that differ from the defaults."""
    changed = ", ".join(f"{name} {_setting(value)}" for name, value in config.changed().items())
    split = f" (alpha split: {config.alpha / 2:g} per judge, client and server)" if server else ""
    return f"judge: {changed or 'default settings'}{split}"


def _setting(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(_setting(v) for v in value)
    return str(value)


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


def run_controller(
    prepared: Prepared,
    run_id: str,
    *,
    backend: TrafficBackend,
    store: Store,
    pacing: Any,
    on_look: Callable[[LookRecord], None],
    say: Say,
    confirm: Callable[[int], bool] | None,
    resume: tuple[int, Resume] | None = None,
    user_code: Any = None,
    guard: Callable[[], None] | None = None,
) -> Outcome:
    """Tag the arms, start load, run the controller; load always stops."""
    from harness.load.driver import LoadDriver

    plan = prepared.plan
    controller = CanaryController(
        plan,
        run_id,
        backend=backend,
        metrics=prepared.metrics,
        journal=store,
        on_look=on_look,
        on_event=say,
        confirm=confirm,
        guard=guard,
        # Sample-ratio guard (open model); events follow the traffic split instead.
        equal_load=bool(getattr(pacing, "is_open", False)) and prepared.events is None,
    )
    start_step = 0
    if resume is not None:
        start_step, state = resume
        controller.replay(state)
    budget = plan.warmup_s + plan.max_duration_s + 60.0
    load_cm: Any = LoadDriver()
    if prepared.events is not None:
        from harness.events.canary import EventCanaryLoad

        load_cm = EventCanaryLoad(prepared.events)
    with load_cm as load:
        try:
            if resume is None:
                controller.tag_arms()
            load.start(prepared.arms, pacing, duration_s=budget, user_code=user_code)
        except HarnessError as exc:
            return controller.abort(exc.message)
        return controller.run(load, start_step)


# ----------------------------------------------------------------- the command


def _pacing(spec: CanarySpec) -> Any:
    from harness.load.plan import Pacing

    if spec.users is not None:
        return Pacing.closed(spec.users)
    if spec.locustfile is not None:
        if spec.rate is not None:
            raise BadInput(
                "--rate paces the built-in user only; a --locustfile sets its own wait_time "
                "(give --users instead)"
            )
        return Pacing.closed(DEFAULT_LOCUST_USERS)
    return Pacing.open(spec.requests_per_second or DEFAULT_RATE)


def _user_code(spec: CanarySpec) -> Any:
    from harness.load.plan import read_user_code

    return read_user_code(spec.locustfile)


def run_canary_command(
    *,
    config: Path | None,
    overrides: dict[str, Any],
    resume: str | None,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
) -> int:
    """Everything `harness canary` does; returns the exit code."""
    from rich.console import Console

    from harness.canary.view import LiveView
    from harness.config import load_canary_spec
    from harness.report import (
        DEFAULT_REPORTS_ROOT,
        report_dir_for,
        report_from_canary_journal,
        update_index,
        write_report,
    )
    from harness.store import open_store

    console = Console(stderr=True, highlight=False)
    say: Say = lambda message: console.print(message, highlight=False, markup=False)  # noqa: E731

    store_override = overrides.get("store")
    store = open_store(store_override)
    try:
        previous_run: RunRecord | None = None
        if resume is not None:
            previous_run = store.get_run(resume)
            if previous_run.kind != "canary":
                raise BadInput(f"run {resume} is a {previous_run.kind} run, not a canary")
            if not previous_run.running:
                raise BadInput(f"run {resume} already finished ({previous_run.status})")
            spec = load_canary_spec(None, _with_secrets(previous_run, overrides))
        else:
            spec = load_canary_spec(config, overrides)
        # Everything that can be checked without the cluster, before anything is written.
        _pacing(spec)
        user_code = _user_code(spec)
        if user_code is not None:
            check_user_code(user_code)
        check_report_dir(spec.report_dir or DEFAULT_REPORTS_ROOT)
        with open_cluster(kubeconfig, context, state_dir, say) as cluster:
            run_id = resume or new_run_id()
            check_queries(spec, cluster)
            lease: ServiceLease | None = None
            if spec.apply is not None and resume is None:
                manifest_service(spec)  # a lint error stops here, before the lease
                # Applying is the first write: it needs the Service to itself.
                lease = take_service(spec, cluster, run_id, say)
                spec = apply_candidate(spec, cluster, say)
            prepared = preflight(spec, cluster, say)
            plan = prepared.plan
            teams_preflight(spec, plan, cluster.backend, say)
            if lease is None and not spec.dry_run:
                lease = take_service(spec, cluster, run_id, say)
                prepared = after_lease(prepared, spec, cluster, say)
                plan = prepared.plan
            resume_point = None
            if previous_run is not None:
                run = previous_run
                plan = _resumed_plan(plan, run)
                prepared = Prepared(
                    plan, prepared.arms, prepared.metrics, plan.original_traffic, prepared.events
                )
                resume_point = resume_state(store, run, plan)
                say(f"resuming run {run.id} at step {resume_point[0] + 1}")
            else:
                run = store.create_run(
                    "canary",
                    plan.namespace,
                    plan.service,
                    revisions=(plan.baseline, plan.canary),
                    spec={
                        "spec": spec.model_dump(mode="json", by_alias=False),
                        "plan": plan_record(plan),
                        "judge": plan.judge.to_dict(),
                    },
                    original_traffic=[t.to_dict() for t in prepared.original],
                    run_id=run_id,
                )
                say(f"run {run.id}: {plan.baseline} -> {plan.canary}, steps {list(plan.steps)}")
                say(judge_line(plan.judge, server=prepared.metrics is not None))
            view = LiveView(console, plan)
            status = CanaryStatus(spec.pushgateway, plan, run.id, say)
            confirm = None
            if spec.confirm:
                import typer

                def confirm(percent: int) -> bool:
                    view.close()
                    return typer.confirm(f"set {plan.canary} to {percent}%?", default=True)

            try:
                outcome = run_controller(
                    prepared,
                    run.id,
                    backend=KnEcho(cluster.backend, view.event),
                    store=store,
                    pacing=_pacing(spec),
                    on_look=status.wrap(view.look),
                    say=view.event,
                    confirm=confirm,
                    resume=resume_point,
                    user_code=_user_code(spec),
                    guard=lease.check if lease is not None else None,
                )
                status.finished(outcome)
            finally:
                view.close()
                status.close()
        root = spec.report_dir or report_dir_for(run.id, DEFAULT_REPORTS_ROOT)
        try:
            report = report_from_canary_journal(
                store.get_run(run.id), store.looks(run.id), store.actions(run.id)
            )
            paths = write_report(report, root)
            if spec.report_dir is None:
                update_index(DEFAULT_REPORTS_ROOT)
            where = f"report: {paths['html']}"
        except (OSError, HarnessError) as exc:  # the decision and its exit code stand
            why = exc.message if isinstance(exc, HarnessError) else (exc.strerror or str(exc))
            where = f"report: not written to {root}: {why}"
        console.print(
            f"[bold]{outcome.status.value.replace('_', ' ')}[/]: {outcome.reason}", highlight=False
        )
        for line in outcome.explanations:
            console.print(f"  {line}", highlight=False, markup=False)
        console.print(where, highlight=False, markup=False)
        return outcome.exit_code
    finally:
        store.close()


def _resumed_plan(plan: Plan, run: RunRecord) -> Plan:
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


def run_rollback_command(
    service: str,
    *,
    namespace: str,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
    store: Path | None,
    force: bool = False,
) -> int:
    """Restore the traffic block from before the first run of the newest chain of runs
    on a Service (`harness.canary.chain`), holding the run lease while it does."""
    from harness.canary.chain import rollback_chain
    from harness.knative.names import require_dns_label
    from harness.store import open_store
    from harness.target import connect

    require_dns_label(service, "service")
    require_dns_label(namespace, "namespace")
    journal = open_store(store)
    try:
        chain = rollback_chain(journal, namespace, service)
        if chain is None:
            raise BadInput(
                f"no canary run that changed the traffic of {namespace}/{service} is recorded "
                f"in {journal.location}"
            )
        first = chain.first
        original = original_traffic(first)
        running = [run for run in chain.runs if run.running]
        raw = connect(kubeconfig, context, state_dir)
        backend = KnEcho(raw, print)
        try:
            lease = ServiceLease(raw, namespace, service, holder_name("rollback"), say=_stderr_line)
            lease.acquire(force=force)
            try:
                # Interrupted runs get the restore journaled like their own actions; a
                # finished run's journal is closed (undoing it is the user's own change).
                payload = {"traffic": [t.to_dict() for t in original], "by": "harness rollback"}
                begun = [
                    (run, journal.begin_action(run.id, ActionKind.ROLLBACK, payload))
                    for run in running
                ]
                backend.set_traffic(namespace, service, lambda _current: original)
                for run, action in begun:
                    journal.complete_action(run.id, action.seq)
            finally:
                lease.release()
        finally:
            backend.close()
        for run in running:
            journal.finish_run(
                run.id,
                RunStatus.ABORTED,
                summary={
                    "decision": RunStatus.ABORTED,
                    "explanation": ["rolled back by `harness rollback`"],
                },
            )
        chained = ""
        if len(chain.runs) > 1:
            later = ", ".join(run.id for run in reversed(chain.runs[:-1]))
            chained = (
                f" (the first of {len(chain.runs)} runs in a row that left it changed; "
                f"{later} followed)"
            )
        print(f"restored the traffic of {namespace}/{service} from before run {first.id}{chained}")
        return 0
    finally:
        journal.close()


def _stderr_line(message: str) -> None:
    print(message, file=sys.stderr)


def _with_secrets(run: RunRecord, overrides: dict[str, Any]) -> dict[str, Any]:
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
