"""`harness canary`: the order of its steps, the run under load, the report.

The steps have their own modules: the cluster and the run lease (``cluster``), ``--apply``
(``apply``), preflight (``preflight``), resuming a run (``resume``). Preflight reads
everything and changes nothing; any failure there is ``BadInput`` or ``Unavailable``
(exit 2). Once the run is created in the journal, the controller in
``harness.canary.controller`` owns the traffic and restores it on every failure path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis import JudgeConfig
from harness.canary.apply import apply_candidate, manifest_service
from harness.canary.checks import check_user_code
from harness.canary.cluster import Say, open_cluster, take_service
from harness.canary.controller import CanaryController, LookRecord, Outcome, Resume
from harness.canary.lease import ServiceLease
from harness.canary.preflight import (
    Prepared,
    after_lease,
    check_queries,
    preflight,
    teams_preflight,
)
from harness.canary.resume import (
    plan_record,
    resumable_run,
    resume_state,
    resumed_plan,
    with_secrets,
)
from harness.config import DEFAULT_RATE, CanarySpec
from harness.errors import BadInput, HarnessError
from harness.knative.backend import TrafficBackend
from harness.knative.kn import KnEcho
from harness.metrics.run_status import CanaryStatus
from harness.report.folder_check import check_report_dir
from harness.store import RunRecord, Store, new_run_id

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


def _check_confirm(spec: CanarySpec) -> None:
    """``--confirm`` asks on the terminal: without one (CI, ``< /dev/null``) the first
    question would abort the run after the lease, the tags and the warm-up."""
    import sys

    if spec.confirm and not spec.dry_run and not sys.stdin.isatty():
        raise BadInput(
            "--confirm asks before each traffic increase and needs a terminal on stdin; "
            "leave it out where nobody can answer (CI)"
        )


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

    # soft_wrap: on a pipe (a CI log) rich assumes 80 columns and broke every longer line
    # (look lines, kn equivalents); emoji off: the lines quote names and messages.
    console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    say: Say = lambda message: console.print(message, highlight=False, markup=False)  # noqa: E731

    store_override = overrides.get("store")
    store = open_store(store_override)
    try:
        previous_run: RunRecord | None = None
        if resume is not None:
            previous_run = resumable_run(store, resume)
            spec = load_canary_spec(None, with_secrets(previous_run, overrides))
        else:
            spec = load_canary_spec(config, overrides)
        # Everything that can be checked without the cluster, before anything is written.
        _pacing(spec)
        user_code = _user_code(spec)
        if user_code is not None:
            check_user_code(user_code)
        check_report_dir(spec.report_dir or DEFAULT_REPORTS_ROOT)
        _check_confirm(spec)
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
                plan = resumed_plan(plan, run)
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
