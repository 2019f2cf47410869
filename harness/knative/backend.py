"""``TrafficBackend``: what the harness needs from a cluster running Knative Serving.

Implemented by ``harness.knative.kube.KubeBackend`` (lightkube), which drives a real
cluster and the local emulator alike, through a kubeconfig. Plain values cross this line:
``ServiceState``, ``RevisionState``, ``TrafficTarget`` and dicts of Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from harness.knative.model import RevisionState, ServiceState
from harness.knative.traffic import TrafficTarget

TrafficCompute = Callable[[ServiceState], Sequence[TrafficTarget]]


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
