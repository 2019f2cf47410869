"""`harness perf`: one performance run against a Service, its report, its place in history.

A run loads the Service's route (or one tag) with Locust for ``warmup + duration``
seconds in one of the load shapes (steady, ramp, spike, soak) and keeps what happened
after the warm-up: the client's counts and latency histogram (exact differences of
cumulative snapshots), and, where Prometheus answers, the revision's server-side
counters and autoscaler series (`harness.perf.server_metrics`). The ``cold-start`` profile
measures first requests to a revision with nothing running instead (`harness.perf.cold_start`).

With ``save`` the run goes into the history store before it starts (status
``running``), then gets its result and ``completed`` (or ``failed``); `harness gate`
compares saved runs. Every run writes a report (`harness.report`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from analysis import Histogram
from harness.config import PerfSpec
from harness.errors import Aborted, BadInput, HarnessError
from harness.knative.backend import TrafficBackend
from harness.load.targets import Arm, service_arms
from harness.local.state import EmulatorInfo
from harness.perf.outcome import COLD_START, PerfOutcome, perf_report
from harness.statuses import RunStatus
from harness.store import RunRecord, Store, history_trend, new_run_id, open_store

__all__ = [
    "DEFAULT_PERF_RATE",
    "DEFAULT_REPETITIONS",
    "PerfRun",
    "PerfTarget",
    "cold_start_outcome",
    "execute_perf",
    "fail_run",
    "load_outcome",
    "open_backend",
    "resolve_target",
    "save_outcome",
    "unsaved_run",
    "write_perf_report",
]

# A perf run's default (one arm); a canary's is harness.config.DEFAULT_RATE per arm.
DEFAULT_PERF_RATE = 20.0
DEFAULT_REPETITIONS = 5
_POLL_S = 0.25

Progress = Callable[[float, float, str], None]
Say = Callable[[str], None]


@dataclass(frozen=True)
class PerfTarget:
    """What a run loads: the arm, and the revisions that serve it.

    ``revisions`` are the tag's revision, or the route's revisions with traffic (largest
    share first); ``revision_env`` is the first one's container env; ``prometheus`` the
    URL to read server-side metrics from (None: client-side only); ``scales_to_zero``: the
    target is an emulator started with ``--scale-to-zero``, whose revisions go to zero
    pods and wake through its activator as on a cluster.
    """

    namespace: str
    service: str
    arm: Arm
    tag: str | None
    revisions: tuple[str, ...]
    revision_env: Mapping[str, str]
    on_emulator: bool
    prometheus: str | None
    scales_to_zero: bool = False


def resolve_target(
    spec: PerfSpec, backend: TrafficBackend, emulator: EmulatorInfo | None
) -> PerfTarget:
    """Read the Service and decide where load goes; changes nothing.

    ``emulator`` is the emulator the backend talks to, if it is one (its ingress and
    Prometheus are then the defaults). Raises ``BadInput`` for an unknown Service or
    tag, a Service that is not Ready, or a cold start on a route that splits traffic.
    """
    state = backend.get_service(spec.namespace, spec.service)
    where = f"service {spec.namespace}/{spec.service}"
    if not state.ready:
        why = state.ready_message or state.ready_reason or "not ready"
        raise BadInput(f"{where} is not Ready: {why}")
    ingress = spec.ingress or (emulator.ingress if emulator else None)
    arm = service_arms(state, [spec.tag] if spec.tag else [], ingress)[0]
    if spec.tag:
        revisions = tuple(
            t.revision_name for t in state.status_traffic if t.tag == spec.tag and t.revision_name
        )
    else:
        shares: dict[str, int] = {}
        for target in state.status_traffic:
            if target.revision_name and (target.percent or 0) > 0:
                shares[target.revision_name] = shares.get(target.revision_name, 0) + (
                    target.percent or 0
                )
        revisions = tuple(sorted(shares, key=lambda name: -shares[name]))
    if not revisions:
        raise BadInput(f"{where}: no revision serves {spec.tag or 'its route'} yet")
    if spec.profile == COLD_START and len(revisions) > 1:
        raise BadInput(
            f"{where} splits its route between {', '.join(revisions)}; a cold start is "
            "measured on one revision: pick it with --tag"
        )
    env: Mapping[str, str] = {}
    for revision in backend.list_revisions(spec.namespace, spec.service):
        if revision.name == revisions[0]:
            env = dict(revision.env)
    return PerfTarget(
        namespace=spec.namespace,
        service=spec.service,
        arm=arm,
        tag=spec.tag,
        revisions=revisions,
        revision_env=env,
        on_emulator=emulator is not None,
        prometheus=spec.prometheus or (emulator.prometheus if emulator else None),
        scales_to_zero=emulator is not None and emulator.scale_to_zero,
    )


# ----------------------------------------------------------------- running
def load_outcome(
    spec: PerfSpec,
    target: PerfTarget,
    *,
    user_code: Any = None,
    on_progress: Progress | None = None,
) -> PerfOutcome:
    """Run the load (warm-up, then the measured window) and read the server side.

    Raises ``BadInput``/``Unavailable`` before any request when the plan or a target is
    wrong, ``Aborted`` when the load generator fails or no request got an answer.
    """
    from harness.load.driver import LoadDriver
    from harness.load.plan import Pacing
    from harness.load.stats import ArmStats
    from harness.perf.load_series import load_series

    pacing = (
        Pacing.closed(spec.users) if spec.users else Pacing.open(spec.rate or DEFAULT_PERF_RATE)
    )
    recorder = _server_recorder(spec, target)
    total = spec.warmup + spec.duration
    started = time.time()
    # The measured window opens when the warm-up ends: (elapsed seconds, cumulative arms).
    warm: tuple[float, dict[str, ArmStats]] | None = None
    # (elapsed s, requests, latency sum ms) at every poll: the load per second.
    samples: list[tuple[float, float, float]] = []
    origins: list[float] = []  # wall-clock time of elapsed 0, as each poll sees it
    if spec.warmup <= 0:
        warm = (0.0, {})
        if recorder is not None:
            recorder.begin()  # before the first request: the server's window is exact
    with LoadDriver() as driver:
        driver.start(
            [target.arm], pacing, duration_s=total, shape=spec.profile, user_code=user_code
        )
        while True:
            status = driver.status()
            if warm is None and status.elapsed_s >= spec.warmup:
                warm = (status.elapsed_s, status.arms)
                if recorder is not None:
                    recorder.begin()
            arm = status.arms.get(target.arm.name)
            if arm is not None:
                samples.append((status.elapsed_s, arm.requests, arm.latency.sum))
                origins.append(time.time() - status.elapsed_s)
            if on_progress is not None:
                done = f"{arm.requests:,} requests" if arm else ""
                on_progress(min(status.elapsed_s, total), total, done)
            if status.finished:
                break
            time.sleep(_POLL_S)
        final = driver.finish()
    if warm is None:
        raise Aborted(f"the load generator stopped during the warm-up ({final.elapsed_s:.3g}s)")
    first = warm[1].get(target.arm.name, ArmStats())
    last = final.arms.get(target.arm.name, ArmStats())
    notes: list[str] = []
    if final.cpu_warning:
        notes.append(
            f"the load generator ran hot ({final.cpu_percent:.0f}% CPU): latencies may "
            "include client-side queueing"
        )
    server = recorder.finish() if recorder is not None else None
    if recorder is None:
        notes.append("server side: not available (no Prometheus; pass --prometheus URL)")
    requests = last.requests - first.requests
    if requests <= 0:
        raise Aborted(f"no request to {target.arm.url} completed in the measured window")
    if server is not None and spec.warmup > 0:
        counted = sum(r["requests"] for r in server["revisions"].values())
        if abs(counted - requests) > 0.05 * requests:
            notes.append(
                "server and client counts differ: the server's window starts at the last "
                "Prometheus scrape before the warm-up ended, so it may hold up to one scrape "
                "interval of warm-up requests (use --warmup 0 for matching windows)"
            )
    revisions = {
        name: count - first.revisions.get(name, 0)
        for name, count in last.revisions.items()
        if count - first.revisions.get(name, 0) > 0
    }
    stray = sorted(set(revisions) - set(target.revisions))
    _require_target_answered(target, requests, revisions, server)
    if stray:
        notes.append(f"responses also came from revision(s) {', '.join(stray)}")
    return PerfOutcome(
        arm=target.arm.name,
        profile=spec.profile,
        started=started,
        finished=time.time(),
        duration_s=max(final.elapsed_s - warm[0], 0.0),
        requests=requests,
        errors=last.errors - first.errors,
        latency=last.latency - first.latency,
        error_classes={
            "5xx": last.errors_5xx - first.errors_5xx,
            "4xx": last.errors_4xx - first.errors_4xx,
            "connection": last.connection_errors - first.connection_errors,
            "timeout": last.timeouts - first.timeouts,
        },
        revisions_seen=revisions,
        server=server,
        notes=tuple(notes),
        load_series=load_series(
            [*samples, (final.elapsed_s, last.requests, last.latency.sum)],
            warm[0],
            final.elapsed_s,
            origin=min(origins, default=None),
        ),
    )


def _require_target_answered(
    target: PerfTarget,
    requests: int,
    revisions: Mapping[str, int],
    server: Mapping[str, Any] | None,
) -> None:
    """``Aborted`` (the run is then kept as failed, not as valid history) when none of
    the measured window's answers came from the target revisions: the responses name
    only other revisions (the ``K-Revision`` header), or, without that header, the
    server's counters (scraped past the end of the load) saw no request to them."""
    where = ", ".join(target.revisions)
    hint = "is --ingress the Service's ingress?"
    if revisions and not set(revisions) & set(target.revisions):
        others = ", ".join(sorted(revisions))
        raise Aborted(f"no response came from {where} (they came from {others}); {hint}")
    if revisions or server is None or not server.get("complete"):
        return
    counted = sum(
        int(record.get("requests") or 0)
        for name, record in server.get("revisions", {}).items()
        if name in target.revisions
    )
    if counted == 0:
        raise Aborted(
            f"{requests:,} requests got answers but the server counted none to {where}; {hint}"
        )


def _check_queries(spec: PerfSpec, target: PerfTarget) -> None:
    """Preflight: Prometheus parses the metric profile's queries (a custom template's
    syntax error is one line and exit 2 before the run is recorded, not a failed run)."""
    if target.prometheus is None or not target.revisions:
        return
    from harness.metrics.profiles import resolve_profile
    from harness.metrics.query_check import check_promql

    check_promql(
        target.prometheus,
        resolve_profile(spec.metrics_profile, spec.queries),
        namespace=target.namespace,
        service=target.service,
        revision=target.revisions[0],
        tag=target.tag or "",
    )


def _server_recorder(spec: PerfSpec, target: PerfTarget) -> Any:
    if target.prometheus is None:
        return None
    from harness.metrics.profiles import resolve_profile
    from harness.metrics.source import PrometheusSource
    from harness.perf.server_metrics import ServerRecorder

    source = PrometheusSource(
        target.prometheus, resolve_profile(spec.metrics_profile, spec.queries)
    )
    source.check()
    return ServerRecorder(
        source, target.namespace, target.service, target.revisions, target.tag or ""
    )


def cold_start_outcome(
    spec: PerfSpec,
    target: PerfTarget,
    repetitions: int,
    *,
    zero_timeout_s: float = 600.0,
    on_progress: Progress | None = None,
) -> PerfOutcome:
    """Measure ``repetitions`` first requests to the target's revision (see cold_start).

    On a cluster, and on an emulator started with ``--scale-to-zero``, each waits for the
    revision to scale to zero, which needs Prometheus (``Unavailable`` without it), and
    goes through the activator; on any other emulator each comes from a fresh instance.
    """
    from harness.perf.cold_start import fresh_instance_cold_starts, scale_to_zero_cold_starts
    from harness.perf.server_metrics import autoscaler_series

    if repetitions < 1:
        raise BadInput(f"--repetitions {repetitions} must be at least 1")
    revision = target.revisions[0]

    def progress(done: int, total: int, message: str) -> None:
        if on_progress is not None:
            on_progress(float(done), float(total), message)

    started = time.time()
    server = None
    if target.on_emulator and not target.scales_to_zero:
        result = fresh_instance_cold_starts(
            revision, target.revision_env, repetitions, on_progress=progress
        )
    else:
        if target.prometheus is None:
            where = "an emulator that scales to zero" if target.on_emulator else "a cluster"
            raise BadInput(
                f"a cold start on {where} waits for the revision to scale to zero, which it "
                "reads from Prometheus: pass --prometheus URL"
            )
        result = scale_to_zero_cold_starts(
            target.arm,
            target.prometheus,
            target.namespace,
            revision,
            repetitions,
            zero_timeout_s=zero_timeout_s,
            on_progress=progress,
        )
        server = {
            "prometheus": target.prometheus,
            "autoscaler": {
                revision: autoscaler_series(
                    target.prometheus, target.namespace, revision, started, time.time()
                )
            },
        }
    finished = time.time()
    if not result.latencies_ms:
        raise Aborted(f"no first request to {revision} got an answer")
    return PerfOutcome(
        arm=target.arm.name,
        profile=COLD_START,
        started=started,
        finished=finished,
        duration_s=finished - started,
        requests=result.requests,
        errors=result.errors,
        latency=Histogram.from_samples(list(result.latencies_ms)),
        revisions_seen={revision: len(result.latencies_ms)},
        server=server,
        cold_start={
            "method": result.method,
            "repetitions": repetitions,
            "waited_s": list(result.waited_s),
        },
    )


# ----------------------------------------------------------------- history and report
def save_outcome(store: Store, run: RunRecord, outcome: PerfOutcome) -> RunRecord:
    """Keep the outcome under ``run`` (created when the run started) and complete it."""
    store.save_perf_result(run.id, outcome.perf_result())
    return store.finish_run(
        run.id,
        RunStatus.COMPLETED,
        summary={
            "decision": RunStatus.COMPLETED,
            "explanation": outcome.explanation(),
            "profile": outcome.profile,
            "arm": outcome.arm,
            "load_series": outcome.load_series,
        },
        finished=outcome.finished,
    )


def unsaved_run(spec: PerfSpec, target: PerfTarget, started: float) -> RunRecord:
    """A run record for a run that is not kept in history (it still gets a report)."""
    return RunRecord(
        id=new_run_id(started),
        kind="perf",
        namespace=spec.namespace,
        service=spec.service,
        revisions=target.revisions,
        label=spec.label,
        started=started,
        finished=None,
        status=RunStatus.RUNNING,
        spec=spec.model_dump(mode="json", by_alias=True),
        original_traffic=None,
        summary=None,
    )


def fail_run(store: Store, run: RunRecord, error: BaseException) -> None:
    """Mark a saved run ``failed`` with the error's sentence (best effort, never raises)."""
    message = error.message if isinstance(error, HarnessError) else "interrupted"
    with contextlib.suppress(HarnessError):
        store.finish_run(
            run.id,
            RunStatus.FAILED,
            summary={"decision": RunStatus.FAILED, "explanation": [message]},
        )


# ----------------------------------------------------------------- the command
@dataclass(frozen=True)
class PerfRun:
    """A finished `harness perf`: the run record, what it measured, where it was written."""

    run: RunRecord
    outcome: PerfOutcome
    saved: bool
    store: str | None
    report: dict[str, Path]


@contextlib.contextmanager
def open_backend(
    kubeconfig: Path | None, context: str | None, state_dir: Path | None
) -> Iterator[tuple[TrafficBackend, EmulatorInfo | None]]:
    """The cluster to run against and, when it is the local emulator, what it says of itself.

    Never starts an emulator: without a cluster it raises ``Unavailable`` (exit 2), so a
    scheduled run cannot silently measure a throwaway emulator instead of the real thing.
    """
    from harness.target import open_target

    with open_target(kubeconfig, context, state_dir) as target:
        yield target.backend, target.emulator


def execute_perf(
    spec: PerfSpec,
    *,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
    repetitions: int = DEFAULT_REPETITIONS,
    zero_timeout_s: float = 600.0,
    on_progress: Progress | None = None,
) -> PerfRun:
    """Run ``spec`` end to end: preflight, the run, history (with ``save``), the report.

    Preflight (store, cluster, Service, targets, Prometheus) changes nothing and fails
    with ``BadInput``/``Unavailable`` (exit 2). A saved run that fails once started is
    recorded as ``failed`` and the error re-raised.
    """
    if spec.profile == COLD_START and repetitions < 1:
        raise BadInput(f"--repetitions {repetitions} must be at least 1")
    user_code = _user_code(spec)
    store = open_store(spec.store) if spec.save else None
    try:
        with open_backend(kubeconfig, context, state_dir) as (backend, emulator):
            target = resolve_target(spec, backend, emulator)
            _check_queries(spec, target)
            from harness.report import DEFAULT_REPORTS_ROOT
            from harness.report.folder_check import check_report_dir

            check_report_dir(spec.report_dir or DEFAULT_REPORTS_ROOT)
            if spec.profile != COLD_START:
                from harness.load.targets import check_reachable

                check_reachable([target.arm])
            started = time.time()
            run = (
                store.create_run(
                    "perf",
                    spec.namespace,
                    spec.service,
                    revisions=target.revisions,
                    label=spec.label,
                    spec=spec.model_dump(mode="json", by_alias=True),
                    started=started,
                )
                if store is not None
                else unsaved_run(spec, target, started)
            )
            try:
                if spec.profile == COLD_START:
                    outcome = cold_start_outcome(
                        spec,
                        target,
                        repetitions,
                        zero_timeout_s=zero_timeout_s,
                        on_progress=on_progress,
                    )
                else:
                    outcome = load_outcome(
                        spec, target, user_code=user_code, on_progress=on_progress
                    )
            except BaseException as exc:
                if store is not None:
                    fail_run(store, run, exc)
                raise
        trend: list[Any] = []
        if store is not None:
            run = save_outcome(store, run, outcome)
            trend = history_trend(store, spec.namespace, spec.service, outcome.arm, outcome.profile)
        else:
            run = replace(run, status=RunStatus.COMPLETED, finished=outcome.finished)
        report = write_perf_report(spec, run, outcome, trend)
        return PerfRun(
            run=run,
            outcome=outcome,
            saved=store is not None,
            store=store.location if store is not None else None,
            report=report,
        )
    finally:
        if store is not None:
            store.close()


def write_perf_report(
    spec: PerfSpec, run: RunRecord, outcome: PerfOutcome, trend: Sequence[Any]
) -> dict[str, Path]:
    """Write the report to ``spec.report_dir`` or ``reports/<run-id>`` (then the index)."""
    from harness.report import DEFAULT_REPORTS_ROOT, report_dir_for, update_index, write_report

    folder = spec.report_dir or report_dir_for(run.id, DEFAULT_REPORTS_ROOT)
    paths = write_report(perf_report(run, outcome, trend), folder)
    if spec.report_dir is None:
        update_index(DEFAULT_REPORTS_ROOT)
    return paths


def _user_code(spec: PerfSpec) -> Any:
    from harness.load.plan import read_user_code

    return read_user_code(spec.locustfile)
