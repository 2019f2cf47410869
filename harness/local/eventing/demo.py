"""The demo's Eventing objects (``harness local up --demo``): Broker ``default`` in
``default`` and Trigger ``hello`` from it to Service ``hello`` (no filter)."""

from __future__ import annotations

from harness.knative.model import EVENTING_API_VERSION, SERVING_API_VERSION
from harness.local.eventing import admission
from harness.local.eventing.engine import Eventing
from harness.local.objectstore import JSON

DEMO_BROKER: JSON = {
    "apiVersion": EVENTING_API_VERSION,
    "kind": "Broker",
    "metadata": {"name": "default", "namespace": "default"},
}
DEMO_TRIGGER: JSON = {
    "apiVersion": EVENTING_API_VERSION,
    "kind": "Trigger",
    "metadata": {"name": "hello", "namespace": "default"},
    "spec": {
        "broker": "default",
        "subscriber": {
            "ref": {"apiVersion": SERVING_API_VERSION, "kind": "Service", "name": "hello"}
        },
    },
}


def create_demo_eventing(eventing: Eventing) -> None:
    """Admit both objects and reconcile their status."""
    for resource, body in (("brokers", DEMO_BROKER), ("triggers", DEMO_TRIGGER)):
        stored = admission.create(eventing.store, resource, "default", body)
        eventing.reconcile(resource, "default", stored["metadata"]["name"])
