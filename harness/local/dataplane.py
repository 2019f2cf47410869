"""The emulator's data plane: revision processes, the ingress router and scrape targets.

The control plane (the daemon's controller) drives it from its asyncio loop with plain
values: :class:`RevisionSpec` in, :class:`RevisionReadiness` out through a callback,
a host table built with :func:`route_hosts` for :meth:`DataPlane.set_routes`. The data
plane keeps the Prometheus file_sd targets file (``prometheus.targets_path``) current, so
a Prometheus started with :func:`harness.local.prometheus.start_prometheus` scrapes every
running revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.local.metrics import SCHEMAS, MetricsSchema
from harness.local.prometheus import MetricsTarget, targets_path, write_targets
from harness.local.router import HostRoute, RouteBackend, Router, route_hosts
from harness.local.supervisor import (
    RevisionProcess,
    RevisionReadiness,
    RevisionSpec,
    RevisionSupervisor,
)

__all__ = [
    "DataPlane",
    "HostRoute",
    "MetricsTarget",
    "RevisionProcess",
    "RevisionReadiness",
    "RevisionSpec",
    "RouteBackend",
    "route_hosts",
]

log = logging.getLogger(__name__)

ReadinessCallback = Callable[[RevisionReadiness], None]
_Key = tuple[str, str]


class DataPlane:
    """Runs revisions as processes behind one ingress port. Use from one asyncio loop."""

    def __init__(
        self,
        state_dir: Path,
        *,
        on_readiness: ReadinessCallback | None = None,
        metrics_schema: MetricsSchema = "legacy",
        tag_header_routing: bool = True,
    ) -> None:
        if metrics_schema not in SCHEMAS:
            raise ValueError(f"unknown metrics schema {metrics_schema!r}")
        self.state_dir = state_dir
        self.metrics_schema = metrics_schema
        self.router = Router(tag_header_routing=tag_header_routing)
        self._on_readiness = on_readiness
        self._revisions: dict[_Key, RevisionSupervisor] = {}
        self._reported: dict[_Key, tuple[bool, str, str]] = {}
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
        A spec that differs from the running one (same namespace and name) replaces it.
        """
        key = (spec.namespace, spec.name)
        current = self._revisions.get(key)
        if current is not None:
            if current.spec == spec:
                return
            await self.remove_revision(spec.namespace, spec.name)
        supervisor = RevisionSupervisor(
            spec,
            log_path=self.state_dir / "logs" / f"revision-{spec.namespace}-{spec.name}.log",
            metrics_schema=self.metrics_schema,
            on_change=self._changed,
        )
        self._revisions[key] = supervisor
        supervisor.start()

    async def remove_revision(self, namespace: str, name: str) -> None:
        """Stop a revision's process; no callback follows. Unknown names are a no-op."""
        supervisor = self._revisions.pop((namespace, name), None)
        if supervisor is None:
            return
        self.router.set_endpoint(namespace, name, None)
        self._reported.pop((namespace, name), None)
        await supervisor.stop()
        self._write_targets()

    def set_routes(self, routes: Mapping[str, HostRoute]) -> None:
        """Replace the ingress table (host -> route) atomically; visible on the next request."""
        self.router.set_routes(routes)

    def metrics_targets(self) -> list[MetricsTarget]:
        """The metrics endpoints of every revision whose process is listening."""
        return [
            MetricsTarget(
                namespace=s.spec.namespace,
                service=s.spec.service,
                configuration=s.spec.configuration,
                revision=s.spec.name,
                pod=s.pod,
                address=s.metrics_address,
            )
            for s in self._revisions.values()
            if s.metrics_address is not None
        ]

    def revisions(self) -> list[RevisionProcess]:
        """A snapshot of every supervised revision."""
        return [s.snapshot() for s in self._revisions.values()]

    async def close(self) -> None:
        """Stop the ingress and every revision process."""
        await self.router.close()
        for namespace, name in list(self._revisions):
            await self.remove_revision(namespace, name)

    def _changed(self, supervisor: RevisionSupervisor) -> None:
        spec = supervisor.spec
        key = (spec.namespace, spec.name)
        if self._revisions.get(key) is not supervisor:
            return  # a replaced or removed revision's last words
        self.router.set_endpoint(
            spec.namespace, spec.name, supervisor.address if supervisor.ready else None
        )
        self._write_targets()
        state = (supervisor.ready, supervisor.reason, supervisor.message)
        if self._reported.get(key) == state:
            return
        self._reported[key] = state
        if not supervisor.ready and supervisor.reason.startswith("ExitCode"):
            log.warning(
                "revision %s/%s exited (%s): %s",
                spec.namespace,
                spec.name,
                supervisor.reason,
                supervisor.message,
            )
        if self._on_readiness is not None:
            self._on_readiness(RevisionReadiness(spec.namespace, spec.name, *state))

    def _write_targets(self) -> None:
        try:
            write_targets(self._targets_file, self.metrics_targets())
        except OSError as exc:  # a full disk must not stop the data plane
            log.warning("cannot write %s: %s", self._targets_file, exc)
