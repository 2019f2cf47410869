"""The emulator's data plane: revision pods (processes), the ingress router and scrape targets.

The control plane (the daemon's controller) drives it from its asyncio loop with plain
values: :class:`RevisionSpec` in, :class:`RevisionReadiness` out through a callback,
a host table built with :func:`route_hosts` for :meth:`DataPlane.set_routes`. The data
plane keeps the Prometheus file_sd targets file (``prometheus.targets_path``) current, so
a Prometheus started with :func:`harness.local.prometheus.start_prometheus` scrapes every
running pod.

The data plane decides nothing about scale: it acts. A revision runs one pod by default,
exactly as before pods could be counted. With ``max_pods`` > 1 it starts with its
``initial-scale`` pods (as Knative creates the Deployment) and
:meth:`DataPlane.scale_revision` sets the replicas the KPA model decided
(``harness.knative.kpa_revision``, run by the emulator's autoscaler loop), capped at
``max_pods``: new pods are started like the first, surplus pods (not-ready ones first,
then the newest) leave the router at once and are stopped when the requests the router
sent them have been answered.

With ``scale_to_zero`` a revision may be set to zero pods. A revision without a ready
pod is then behind the router's activator: its requests wait until a pod is ready, and
the first one calls ``on_activate`` (the activator's stat that pokes the autoscaler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.local.metrics import SCHEMAS, MetricsSchema
from harness.local.prometheus import MetricsTarget, targets_path, write_targets
from harness.local.router import HostRoute, RouteBackend, Router, route_hosts
from harness.local.supervisor import (
    PodProcess,
    RevisionProcess,
    RevisionReadiness,
    RevisionSpec,
    RevisionSupervisor,
    replica_set_hash,
)

__all__ = [
    "DataPlane",
    "HostRoute",
    "MetricsTarget",
    "PodProcess",
    "RevisionProcess",
    "RevisionReadiness",
    "RevisionSpec",
    "RouteBackend",
    "route_hosts",
]

log = logging.getLogger(__name__)

ReadinessCallback = Callable[[RevisionReadiness], None]
# (namespace, revision, requests the activator holds): a request reached a revision
# without a ready pod.
ActivationCallback = Callable[[str, str, int], None]
_Key = tuple[str, str]
DRAIN_TIMEOUT_S = 30.0  # how long a surplus pod may finish the requests it was sent
_DRAIN_POLL_S = 0.05


@dataclass
class _Revision:
    """One revision's pods: slot -> supervisor, in the order they were started."""

    spec: RevisionSpec
    desired: int
    pods: dict[int, RevisionSupervisor] = field(default_factory=dict)
    template_hash: str = field(default_factory=replica_set_hash)

    def representative(self) -> RevisionSupervisor | None:
        """The pod whose state stands for the revision's: the first ready, else the oldest."""
        pods = list(self.pods.values())
        return next((p for p in pods if p.ready), pods[0] if pods else None)


def _no_pod_reason(revision: _Revision) -> str:
    return "" if revision.desired == 0 else "Deploying"  # scaled to zero, or starting


def initial_pods(spec: RevisionSpec, max_pods: int, scale_to_zero: bool = False) -> int:
    """The pods a revision starts with: its ``initial-scale`` (Knative creates the
    Deployment with that many replicas, ``revision/resources/deploy.go``), capped at
    ``max_pods``, and at least 1 without ``scale_to_zero`` (no activator to wake it)."""
    return min(max(spec.initial_scale, 0 if scale_to_zero else 1), max_pods)


class DataPlane:
    """Runs revisions as processes behind one ingress port. Use from one asyncio loop.

    ``max_pods`` (default 1) is the most pods a revision may run; with 1 (and no
    ``scale_to_zero``) every revision is one process and :meth:`scale_revision` changes
    nothing. ``scale_to_zero`` lets :meth:`scale_revision` stop a revision's last pod;
    its requests then wait at the router's activator, which calls ``on_activate`` (set
    it to the autoscaler's `activate`) so that the KPA decides a pod.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        on_readiness: ReadinessCallback | None = None,
        metrics_schema: MetricsSchema = "legacy",
        tag_header_routing: bool = True,
        max_pods: int = 1,
        scale_to_zero: bool = False,
        on_activate: ActivationCallback | None = None,
    ) -> None:
        if metrics_schema not in SCHEMAS:
            raise ValueError(f"unknown metrics schema {metrics_schema!r}")
        if max_pods < 1:
            raise ValueError(f"max_pods must be at least 1, not {max_pods}")
        self.state_dir = state_dir
        self.metrics_schema = metrics_schema
        self.max_pods = max_pods
        self.scale_to_zero = scale_to_zero
        self.on_activate = on_activate
        # Replica counts go to the control plane only where a revision may have other
        # than one pod; with one, readiness says it all, as it always has.
        self._counts_pods = max_pods > 1 or scale_to_zero
        self.router = Router(tag_header_routing=tag_header_routing)
        self._on_readiness = on_readiness
        self._revisions: dict[_Key, _Revision] = {}
        self._reported: dict[_Key, tuple[bool, str, str, int | None, int | None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._targets_file = targets_path(state_dir)
        self._ingress_port: int | None = None

    @property
    def ingress_port(self) -> int:
        """The port the ingress listens on (after :meth:`start`)."""
        if self._ingress_port is None:
            raise RuntimeError("DataPlane.start() has not been called")
        return self._ingress_port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind the ingress on host:port (0: a free port) and return the port."""
        write_targets(self._targets_file, [])
        self._ingress_port = await self.router.start(host, port)
        return self._ingress_port

    async def ensure_revision(self, spec: RevisionSpec) -> None:
        """Run this revision (idempotent). Returns at once; readiness comes via the callback.

        The callback sees NotReady ``Deploying``, then Ready; after a crash NotReady
        ``ExitCode<n>`` and Ready again once the restarted process passes its probe.
        With several pods the revision is Ready while at least one pod is.
        A spec that differs from the running one (same namespace and name) replaces it.
        """
        key = (spec.namespace, spec.name)
        current = self._revisions.get(key)
        if current is not None:
            if current.spec == spec:
                return
            await self.remove_revision(spec.namespace, spec.name)
        initial = initial_pods(spec, self.max_pods, self.scale_to_zero)
        revision = _Revision(spec, initial)
        self._revisions[key] = revision
        for _ in range(initial):
            self._add_pod(revision)
        if not initial:
            self._revision_changed(revision)

    def scale_revision(self, namespace: str, name: str, replicas: int) -> None:
        """Run ``replicas`` pods of a revision (the KPA's decision), at most ``max_pods``
        and, without ``scale_to_zero``, at least 1; unknown names are a no-op. Returns at
        once: new pods report through the callback, surplus pods stop in the background."""
        revision = self._revisions.get((namespace, name))
        if revision is None:
            return
        wanted = min(max(replicas, 0 if self.scale_to_zero else 1), self.max_pods)
        if wanted == revision.desired == len(revision.pods):
            return
        revision.desired = wanted
        while len(revision.pods) < revision.desired:
            self._add_pod(revision)
        surplus = len(revision.pods) - revision.desired
        if surplus > 0:
            # Like a ReplicaSet scaling down: pods that are not ready go first, then the newest.
            order = list(revision.pods)
            victims = sorted(order, key=lambda s: (revision.pods[s].ready, -order.index(s)))
            for slot in victims[:surplus]:
                self._retire(revision.pods.pop(slot))
        self._revision_changed(revision)

    def activator_held(self, namespace: str, name: str) -> int:
        """Requests the router's activator holds for a revision without a ready pod."""
        return self.router.activator_held(namespace, name)

    def _activate(self, revision: _Revision) -> None:
        """A request waits at the activator for this revision: tell the autoscaler (the
        KPA decides whether a pod starts, through `scale_revision`)."""
        spec = revision.spec
        if self._revisions.get((spec.namespace, spec.name)) is not revision:
            return
        if self.on_activate is not None:
            held = self.activator_held(spec.namespace, spec.name)
            self.on_activate(spec.namespace, spec.name, held)

    async def remove_revision(self, namespace: str, name: str) -> None:
        """Stop a revision's processes; no callback follows. Unknown names are a no-op."""
        revision = self._revisions.pop((namespace, name), None)
        if revision is None:
            return
        self.router.set_endpoints(namespace, name, ())
        self._reported.pop((namespace, name), None)
        await asyncio.gather(*(pod.stop() for pod in revision.pods.values()))
        self._write_targets()

    def set_routes(self, routes: Mapping[str, HostRoute]) -> None:
        """Replace the ingress table (host -> route) atomically; visible on the next request."""
        self.router.set_routes(routes)

    def metrics_targets(self) -> list[MetricsTarget]:
        """The metrics endpoints of every pod whose process is listening."""
        return [
            MetricsTarget(
                namespace=s.spec.namespace,
                service=s.spec.service,
                configuration=s.spec.configuration,
                revision=s.spec.name,
                pod=s.pod,
                address=s.metrics_address,
            )
            for revision in self._revisions.values()
            for s in revision.pods.values()
            if s.metrics_address is not None
        ]

    def revisions(self) -> list[RevisionProcess]:
        """A snapshot of every supervised revision."""
        snapshots = []
        for revision in self._revisions.values():
            first = revision.representative()
            pods = [p.snapshot() for p in revision.pods.values()]
            snapshots.append(
                RevisionProcess(
                    namespace=revision.spec.namespace,
                    name=revision.spec.name,
                    ready=any(p.ready for p in pods),
                    reason=first.reason if first is not None else _no_pod_reason(revision),
                    pid=first.pid if first is not None else None,
                    address=first.address if first is not None else None,
                    metrics_address=first.metrics_address if first is not None else None,
                    restarts=sum(p.restarts for p in pods),
                    ready_pods=sum(p.ready for p in pods),
                    desired_pods=revision.desired,
                )
            )
        return snapshots

    def pods(self) -> list[PodProcess]:
        """A snapshot of every pod of every revision, oldest first within a revision."""
        return [p.snapshot() for r in self._revisions.values() for p in r.pods.values()]

    async def close(self) -> None:
        """Stop the ingress and every revision process."""
        await self.router.close()
        for namespace, name in list(self._revisions):
            await self.remove_revision(namespace, name)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    def _add_pod(self, revision: _Revision) -> None:
        spec = revision.spec
        slot = next(i for i in range(len(revision.pods) + 1) if i not in revision.pods)
        # The first pod's log keeps the name it had when a revision was one process.
        suffix = f"-{slot}" if slot else ""
        supervisor = RevisionSupervisor(
            spec,
            log_path=self.state_dir / "logs" / f"revision-{spec.namespace}-{spec.name}{suffix}.log",
            metrics_schema=self.metrics_schema,
            on_change=self._changed,
            template_hash=revision.template_hash,
        )
        revision.pods[slot] = supervisor
        supervisor.start()

    def _retire(self, pod: RevisionSupervisor) -> None:
        """Stop a surplus pod once the router's requests to it are answered (it already
        left the router's endpoints: the caller reports the revision's change)."""

        async def drain_and_stop() -> None:
            address = pod.address
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DRAIN_TIMEOUT_S
            while address and self.router.in_flight(address) and loop.time() < deadline:
                await asyncio.sleep(_DRAIN_POLL_S)
            with contextlib.suppress(Exception):
                await pod.stop()

        task = asyncio.get_running_loop().create_task(drain_and_stop(), name=f"retire {pod.pod}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _changed(self, supervisor: RevisionSupervisor) -> None:
        spec = supervisor.spec
        revision = self._revisions.get((spec.namespace, spec.name))
        if revision is None or supervisor not in revision.pods.values():
            return  # a replaced, removed or retired pod's last words
        self._revision_changed(revision)

    def _revision_changed(self, revision: _Revision) -> None:
        spec = revision.spec
        key = (spec.namespace, spec.name)
        pods = list(revision.pods.values())
        ready = [p.address for p in pods if p.ready and p.address is not None]
        if not ready and self.scale_to_zero:
            self.router.set_activator(spec.namespace, spec.name, lambda: self._activate(revision))
        else:
            self.router.set_endpoints(spec.namespace, spec.name, ready)
        self._write_targets()
        first = revision.representative()
        replicas = (len(ready), revision.desired) if self._counts_pods else (None, None)
        state: tuple[bool, str, str, int | None, int | None]
        if first is not None:
            state = (first.ready, first.reason, first.message, *replicas)
        elif revision.desired == 0:
            state = (True, "", "", *replicas)  # scaled to zero: still Ready, as in Knative
        else:
            return
        if self._reported.get(key) == state:
            return
        self._reported[key] = state
        if first is not None and not first.ready and first.reason.startswith("ExitCode"):
            log.warning(
                "revision %s/%s exited (%s): %s",
                spec.namespace,
                spec.name,
                first.reason,
                first.message,
            )
        if self._on_readiness is not None:
            self._on_readiness(RevisionReadiness(spec.namespace, spec.name, *state))

    def _write_targets(self) -> None:
        try:
            write_targets(self._targets_file, self.metrics_targets())
        except OSError as exc:  # a full disk must not stop the data plane
            log.warning("cannot write %s: %s", self._targets_file, exc)
