"""``TrafficBackend``: what the harness needs from a cluster running Knative Serving.

Implemented by ``harness.knative.kube.KubeBackend`` (lightkube), which drives a real
cluster and the local emulator alike, through a kubeconfig. Plain values cross this line:
``ServiceState``, ``RevisionState``, ``TrafficTarget`` and dicts of Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from harness.knative.model import RevisionState, ServiceState
from harness.knative.traffic import TrafficTarget

TrafficCompute = Callable[[ServiceState], Sequence[TrafficTarget]]


class StaleWrite(Exception):
    """A write carried a ``resourceVersion`` the object no longer has (HTTP 409): re-read."""


class TrafficBackend(Protocol):
    """Read Services and Revisions; rewrite only ``spec.traffic``; apply manifests.

    Errors: ``BadInput`` for an unknown Service or an object Knative rejects (with its
    message), ``Unavailable`` when the cluster cannot be reached, ``Aborted`` when a change
    was accepted but did not become Ready in time or kept conflicting.
    """

    def get_service(self, namespace: str, name: str) -> ServiceState:
        """The Service as the cluster has it now; ``BadInput`` if it does not exist."""
        ...

    def list_revisions(self, namespace: str, service: str) -> list[RevisionState]:
        """The Service's revisions, oldest first (by configuration generation)."""
        ...

    def set_traffic(
        self,
        namespace: str,
        name: str,
        compute: TrafficCompute,
        *,
        timeout: float = 60.0,
    ) -> ServiceState:
        """Merge-patch ``spec.traffic`` to ``compute(current)`` with the read
        ``resourceVersion``; on 409 re-read and call ``compute`` again (bounded); then wait
        until ``observedGeneration`` catches up and the Service is Ready. Returns that state.
        """
        ...

    def wait_ready(self, namespace: str, name: str, *, timeout: float = 60.0) -> ServiceState:
        """Poll until the Service is Ready at its current generation; ``Aborted`` on timeout."""
        ...

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object, or replace its spec (keeping labels and annotations others
        added) when it exists; returns the object as stored."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class AnnotationBackend(Protocol):
    """A backend that can also hold the run lease (``KubeBackend`` does)."""

    def get_service(self, namespace: str, name: str) -> ServiceState:
        """As ``TrafficBackend.get_service``."""
        ...

    def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        *,
        resource_version: str | None,
    ) -> ServiceState:
        """Merge-patch the Service's annotations (None removes one) only if it is still at
        ``resource_version``; ``StaleWrite`` on a 409."""
        ...
