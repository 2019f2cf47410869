"""A Route's `spec.traffic` resolved to the revisions the ingress serves (Knative's
traffic.go), and a gradual rollout's groups split into one target per revision.

Pure: functions from stored objects (read through `ObjectStore.peek`, never written) to
`TrafficTarget`s and the AllTrafficAssigned condition. The controller
(`harness/local/controller.py`) writes what they return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from harness.errors import BadInput
from harness.knative.traffic import TrafficTarget
from harness.knative.urls import http_url, tag_host
from harness.local.objects import LABEL_SERVICE, condition, ready_of
from harness.local.objectstore import JSON, ObjectStore
from harness.local.rollout_schedule import RolloutKey, TargetRollout


def service_route_traffic(svc: JSON) -> list[JSON]:
    """The `spec.traffic` of a Service's Route: the Service's, with each `latestRevision`
    target naming the Service's Configuration."""
    name = svc["metadata"]["name"]
    spec_traffic: list[JSON] = []
    for target in svc["spec"]["traffic"]:
        entry = dict(target)
        if entry.get("latestRevision"):
            entry["configurationName"] = name
        spec_traffic.append(entry)
    return spec_traffic


def resolve_traffic(
    store: ObjectStore,
    namespace: str,
    route: str,
    spec_traffic: Sequence[JSON],
    *,
    service: str | None,
    domain: str,
) -> tuple[list[TrafficTarget] | None, JSON]:
    """Resolve a Route's spec.traffic to ready revisions (traffic.go).

    `configurationName` targets go to that Configuration's latest ready revision,
    `revisionName` targets to that revision. A Service's Route (`service` set) may only
    point at that Service's revisions; a standalone Route at any of its namespace.
    Returns the status.traffic entries (None when some target cannot be served) and
    the AllTrafficAssigned condition naming the first problem.
    """
    resolved: list[TrafficTarget] = []
    problem: JSON | None = None
    for target in spec_traffic:
        tag = target.get("tag") or None
        config_name = target.get("configurationName")
        if config_name:
            config = store.peek("configurations", namespace, config_name)
            if config is None:
                problem = problem or condition(
                    "AllTrafficAssigned",
                    "False",
                    "ConfigurationMissing",
                    f'Configuration "{config_name}" referenced in traffic not found.',
                )
                continue
            rev_name = config.get("status", {}).get("latestReadyRevisionName")
            if not rev_name:
                problem = problem or _unready_config(config_name, config)
                continue
        else:
            rev_name = target.get("revisionName", "")
        rev = store.peek("revisions", namespace, rev_name)
        if rev is None:
            problem = problem or condition(
                "AllTrafficAssigned",
                "False",
                "RevisionMissing",
                f'Revision "{rev_name}" referenced in traffic not found.',
            )
            continue
        if service is not None and rev["metadata"].get("labels", {}).get(LABEL_SERVICE) != service:
            problem = problem or condition(
                "AllTrafficAssigned",
                "False",
                "RevisionNotOwned",
                f'Revision "{rev_name}" is not owned by Service "{service}".',
            )
            continue
        rev_ready = ready_of(rev)
        if rev_ready["status"] != "True":
            failed = rev_ready["status"] == "False"
            problem = problem or condition(
                "AllTrafficAssigned",
                "False" if failed else "Unknown",
                "RevisionMissing",
                f'Revision "{rev_name}" failed to become ready.'
                if failed
                else f'Revision "{rev_name}" is not yet ready.',
            )
            continue
        resolved.append(
            TrafficTarget(
                percent=target.get("percent"),
                revision_name=rev_name,
                tag=tag,
                latest_revision=bool(target.get("latestRevision")),
                configuration_name=None,
                url=tag_url(tag, route, namespace, domain) if tag else None,
            )
        )
    if problem is not None:
        return None, problem
    return resolved, condition("AllTrafficAssigned", "True")


def tag_url(tag: str, route: str, namespace: str, domain: str) -> str | None:
    """A tag's URL; None when `{tag}-{route}` is too long for a DNS label (no host in
    Knative either: the ingress serves no such host)."""
    try:
        return http_url(tag_host(tag, route, namespace, domain))
    except BadInput:
        return None


def _unready_config(name: str, config: JSON) -> JSON:
    ready = ready_of(config)
    if ready["status"] == "False":
        return condition(
            "AllTrafficAssigned",
            "False",
            "RevisionMissing",
            f'Configuration "{name}" does not have any ready Revision.',
        )
    return condition(
        "AllTrafficAssigned",
        "Unknown",
        "RevisionMissing",
        f'Configuration "{name}" is waiting for a Revision to become ready.',
    )


def rollout_key(target: JSON) -> RolloutKey | None:
    """The rollout group of a `spec.traffic` entry: (tag, configuration) for a
    `latestRevision` target, None for a pinned revision."""
    config = target.get("configurationName")
    if not target.get("latestRevision") or not config:
        return None
    return (target.get("tag") or "", str(config))


def rollout_groups(
    spec: Sequence[JSON], resolved: Sequence[TrafficTarget]
) -> dict[RolloutKey, tuple[str, int]]:
    """Each rollout group's resolved revision and the percent its entries add up to."""
    current: dict[RolloutKey, tuple[str, int]] = {}
    for target, entry in zip(spec, resolved, strict=True):
        group = rollout_key(target)
        if group is not None and entry.revision_name:
            _, percent = current.get(group, (entry.revision_name, 0))
            current[group] = (entry.revision_name, percent + entry.effective_percent)
    return current


def split_rolling_targets(
    spec: Sequence[JSON],
    resolved: Sequence[TrafficTarget],
    rollouts: Mapping[RolloutKey, TargetRollout],
) -> list[TrafficTarget]:
    """`resolved` with each rolling group's entry replaced by one entry per revision of
    the group (`GetRevisionTrafficTargets` with a rollout); other entries unchanged."""
    served: list[TrafficTarget] = []
    expanded: set[RolloutKey] = set()
    for target, entry in zip(spec, resolved, strict=True):
        group = rollout_key(target)
        rollout = rollouts.get(group) if group is not None else None
        if group is None or rollout is None or not rollout.in_progress:
            served.append(entry)
        elif group not in expanded:
            # Entries of one group are one target to Knative (`mergeIfNecessary`).
            expanded.add(group)
            served.extend(
                replace(entry, revision_name=share.revision, percent=share.percent)
                for share in rollout.shares
            )
    return served


def served_revisions(targets: Iterable[TrafficTarget]) -> set[str]:
    """The revision names `targets` send traffic to."""
    return {t.revision_name for t in targets if t.revision_name}
