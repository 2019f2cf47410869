"""Preflight of `harness canary`: everything the run needs is read and checked, nothing is
changed; any failure here is ``BadInput`` or ``Unavailable`` (exit 2). Its result,
`Prepared`, is what the run then executes."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.canary.cluster import Cluster, Say
from harness.canary.controller import Plan
from harness.config import CanarySpec
from harness.errors import BadInput
from harness.knative.backend import TrafficBackend
from harness.knative.model import RevisionState, ServiceState
from harness.knative.names import resolve_revision_name
from harness.knative.traffic import TrafficTarget, canary_split, tag_of
from harness.knative.urls import http_url, tag_host
from harness.load.targets import Arm, check_reachable, url_arm
from harness.metrics.profiles import MetricProfile, resolve_profile
from harness.metrics.query_check import check_promql
from harness.metrics.source import PrometheusSource


def metric_profile(spec: CanarySpec) -> MetricProfile:
    """The spec's metric profile; ``custom`` needs its PromQL templates."""
    return resolve_profile(spec.metrics_profile, spec.queries)


def _revision(revisions: Sequence[RevisionState], name: str, service: ServiceState) -> None:
    known = {r.name: r for r in revisions}
    where = f"service {service.namespace}/{service.name}"
    if name not in known:
        have = ", ".join(sorted(known)) or "none"
        raise BadInput(f"revision {name!r} not found in {where} (revisions: {have})")
    revision = known[name]
    if not revision.ready:
        why = f": {revision.reason}" if revision.reason else ""
        if revision.message:
            why += f" ({revision.message})"
        raise BadInput(f"revision {name} of {where} is not Ready{why}")


def _arm_for(name: str, host: str, ingress: str | None) -> Arm:
    if ingress is None:
        try:
            socket.getaddrinfo(host, 80)
        except OSError:
            raise BadInput(
                f"{host} does not resolve where the harness runs; pass --ingress http://IP:PORT "
                "to send load through the cluster's ingress with that Host header"
            ) from None
    return url_arm(http_url(host), name=name, ingress=ingress)


@dataclass(frozen=True)
class Prepared:
    """The result of preflight: what to run and with which parts."""

    plan: Plan
    arms: tuple[Arm, ...]
    metrics: PrometheusSource | None
    original: tuple[TrafficTarget, ...]
    # With ``--events``: `harness.events.canary.EventCanary` (CloudEvents, not HTTP).
    events: Any = None


def preflight(spec: CanarySpec, cluster: Cluster, say: Say) -> Prepared:
    """Check everything the run needs, change nothing; ``BadInput``/``Unavailable`` on failure."""
    if spec.candidate is None:
        raise BadInput("canary spec: to: name the revision to roll out (--to) or use --apply")
    backend = cluster.backend
    baseline = resolve_revision_name(spec.service, spec.baseline)
    canary = resolve_revision_name(spec.service, spec.candidate)
    if baseline == canary:
        raise BadInput(f"--from and --to name the same revision {baseline!r}")
    state = backend.get_service(spec.namespace, spec.service)
    revisions = backend.list_revisions(spec.namespace, spec.service)
    _revision(revisions, baseline, state)
    _revision(revisions, canary, state)
    if not state.ready:
        why = f": {state.ready_message or state.ready_reason}" if state.ready_reason else ""
        raise BadInput(f"service {spec.namespace}/{spec.service} is not Ready{why}")

    baseline_tag = tag_of(state.spec_traffic, baseline) or spec.baseline_tag
    canary_tag = tag_of(state.spec_traffic, canary) or spec.canary_tag
    added = tuple(
        tag
        for tag, rev in ((baseline_tag, baseline), (canary_tag, canary))
        if tag_of(state.spec_traffic, rev) is None
    )
    if spec.dry_run and added:
        raise BadInput(
            f"--dry-run never changes traffic, so {', '.join(added)} cannot be added: tag both "
            "revisions first or run without --dry-run"
        )
    for percent in (0, *spec.steps):
        try:
            canary_split(
                state.spec_traffic,
                baseline=baseline,
                canary=canary,
                canary_percent=percent,
                baseline_tag=baseline_tag,
                canary_tag=canary_tag,
                latest_ready=state.latest_ready_revision,
            )
        except ValueError as exc:
            raise BadInput(f"cannot plan the canary on the current traffic block: {exc}") from None

    domain = state.domain
    if domain is None:
        raise BadInput(f"service {spec.namespace}/{spec.service} has no URL yet")
    ingress = str(spec.ingress) if spec.ingress else cluster.ingress
    arms = (
        _arm_for(
            baseline_tag, tag_host(baseline_tag, spec.service, spec.namespace, domain), ingress
        ),
        _arm_for(canary_tag, tag_host(canary_tag, spec.service, spec.namespace, domain), ingress),
    )
    check_reachable(arms)
    events = None
    if spec.events is not None:
        from harness.events.canary import prepare

        if cluster.kubeconfig is None:
            raise BadInput("--events needs the cluster's kubeconfig to read the Broker")
        events = prepare(
            cluster.kubeconfig,
            cluster.context,
            spec.namespace,
            spec.events,
            spec.service,
            ingress,
        )

    metrics = None
    prometheus = str(spec.prometheus) if spec.prometheus else cluster.prometheus
    profile = metric_profile(spec)
    if prometheus:
        metrics = PrometheusSource(prometheus, profile)
        metrics.check()
    else:
        say("no Prometheus configured (--prometheus): judging on client-side metrics only")

    plan = Plan(
        namespace=spec.namespace,
        service=spec.service,
        baseline=baseline,
        canary=canary,
        baseline_tag=baseline_tag,
        canary_tag=canary_tag,
        added_tags=added,
        original_traffic=tuple(state.spec_traffic),
        steps=tuple(spec.steps),
        step_interval_s=spec.step_interval,
        look_interval_s=spec.look_interval,
        warmup_s=spec.warmup,
        max_duration_s=spec.max_duration,
        judge=spec.judge,
        dry_run=spec.dry_run,
        on_inconclusive=spec.on_inconclusive,
        on_abort=spec.on_abort,
        use_server_metrics=metrics is not None,
    )
    return Prepared(
        plan=plan, arms=arms, metrics=metrics, original=tuple(state.spec_traffic), events=events
    )


def teams_preflight(spec: CanarySpec, plan: Plan, backend: TrafficBackend, say: Say) -> None:
    """GitOps check before the first change; `kn` lines of a dry run's plan."""
    from harness.gitops import check
    from harness.knative.kn import plan_lines
    from harness.metrics.pushgateway import check_url

    if spec.pushgateway:  # before the run is created: a bad URL changes nothing
        check_url(str(spec.pushgateway))
    state = backend.get_service(plan.namespace, plan.service)
    check(plan.service, plan.namespace, state.labels, state.annotations, spec.gitops_check, say)
    if not spec.dry_run:
        return
    say("dry run: the plan as kn commands (none is run):")
    try:
        lines = plan_lines(plan, state)
    except ValueError as exc:  # preflight checked the steps; a promotion may still not plan
        lines = [f"(no kn line: {exc})"]
    for line in lines:
        say(f"  {line}")


def check_queries(spec: CanarySpec, cluster: Cluster) -> None:
    """Prometheus parses the metric profile's queries (a custom template's syntax error
    would otherwise show only mid-run); reads only."""
    prometheus = str(spec.prometheus) if spec.prometheus else cluster.prometheus
    if not prometheus:
        return
    state = cluster.backend.get_service(spec.namespace, spec.service)
    baseline = resolve_revision_name(spec.service, spec.baseline)
    check_promql(
        prometheus,
        metric_profile(spec),
        namespace=spec.namespace,
        service=spec.service,
        revision=baseline,
        tag=tag_of(state.spec_traffic, baseline) or spec.baseline_tag,
    )


def after_lease(prepared: Prepared, spec: CanarySpec, cluster: Cluster, say: Say) -> Prepared:
    """Preflight again if the traffic changed between preflight and taking the lease."""
    state = cluster.backend.get_service(spec.namespace, spec.service)
    if tuple(state.spec_traffic) == prepared.original:
        return prepared
    return preflight(spec, cluster, say)
