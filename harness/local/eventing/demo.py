"""The demo's Eventing objects (``harness local up --demo``): Broker ``default`` in
``default`` and Trigger ``hello`` from it to Service ``hello`` (no filter)."""

from __future__ import annotations

from harness.local.eventing import admission
from harness.local.eventing.engine import Eventing
from harness.local.objectstore import JSON

DEMO_BROKER: JSON = {
    "apiVersion": "eventing.knative.dev/v1",
    "kind": "Broker",
    "metadata": {"name": "default", "namespace": "default"},
}
DEMO_TRIGGER: JSON = {
    "apiVersion": "eventing.knative.dev/v1",
    "kind": "Trigger",
    "metadata": {"name": "hello", "namespace": "default"},
    "spec": {
        "broker": "default",
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello"}
        },
    },
}


def create_demo_eventing(eventing: Eventing) -> None:
    """Admit both objects and reconcile their status."""
    for resource, body in (("brokers", DEMO_BROKER), ("triggers", DEMO_TRIGGER)):
        stored = admission.create(eventing.store, resource, "default", body)
        eventing.reconcile(resource, "default", stored["metadata"]["name"])
