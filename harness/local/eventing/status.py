"""Status of Brokers and Triggers as Knative's reconcilers report it, and the resolution
of a Destination (``ref`` or ``uri``) to a URL.

A Broker is Ready at once, addressed at the shared broker ingress. A Trigger is Ready
when its Broker exists and its subscriber (and dead letter sink, if any) resolve: a
``ref`` to a Knative Service that exists (its ``status.address.url``, else
``http://<svc>.<ns>.svc.cluster.local``) or to a Broker (its address), or a ``uri``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.knative.model import EVENTING_GROUP, MESSAGING_API_VERSION, SERVING_GROUP
from harness.local.objects import condition, happy
from harness.local.objectstore import JSON, ObjectStore

INGRESS_URL = "http://broker-ingress.knative-eventing.svc.cluster.local"


def broker_url(namespace: str, name: str) -> str:
    """``status.address.url`` of a Broker."""
    return f"{INGRESS_URL}/{namespace}/{name}"


def broker_status(broker: JSON) -> tuple[JSON, list[JSON]]:
    """(status without conditions, conditions) of a Broker."""
    meta = broker["metadata"]
    url = broker_url(meta["namespace"], meta["name"])
    status: JSON = {
        "address": {"name": "http", "url": url},
        "addresses": [{"name": "http", "url": url}],
        "annotations": {
            "knative.dev/channelAPIVersion": MESSAGING_API_VERSION,
            "knative.dev/channelAddress": (
                f"http://{meta['name']}-kne-trigger-kn-channel.{meta['namespace']}"
                ".svc.cluster.local"
            ),
            "knative.dev/channelKind": "InMemoryChannel",
            "knative.dev/channelName": f"{meta['name']}-kne-trigger",
        },
    }
    conditions = [
        condition("Addressable", "True"),
        condition("FilterReady", "True"),
        condition("IngressReady", "True"),
        condition("TriggerChannelReady", "True"),
        condition("DeadLetterSinkResolved", "True"),
    ]
    sink = ((broker.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")
    if sink is not None:
        resolved = resolve_destination_uri(meta["namespace"], sink)
        if resolved is not None:
            status["deliveryStatus"] = {"deadLetterSinkUri": resolved}
            status["deadLetterSinkUri"] = resolved
    return status, [*conditions, happy(conditions)]


def resolve_destination_uri(namespace: str, destination: Mapping[str, Any]) -> str | None:
    """A Destination's URL without looking its ref up (for a Broker's status)."""
    uri = destination.get("uri")
    ref = destination.get("ref")
    if isinstance(ref, Mapping):
        ns = str(ref.get("namespace") or namespace)
        base = _ref_url(ref, ns)
        if base is None:
            return None
        return base + (str(uri) if isinstance(uri, str) else "")
    return str(uri) if isinstance(uri, str) and uri else None


def _ref_url(ref: Mapping[str, Any], namespace: str) -> str | None:
    api_version, kind, name = ref.get("apiVersion"), ref.get("kind"), ref.get("name")
    group = str(api_version or "").split("/", 1)[0]
    if kind == "Service" and group == SERVING_GROUP:
        return f"http://{name}.{namespace}.svc.cluster.local"
    if kind == "Broker" and group == EVENTING_GROUP:
        return broker_url(namespace, str(name))
    if kind == "Service" and group in ("", "v1"):
        return f"http://{name}.{namespace}.svc.cluster.local"
    return None


def resolve(store: ObjectStore, namespace: str, destination: object) -> str | None:
    """The URL a Destination resolves to now, or None (a ref to something missing)."""
    if not isinstance(destination, Mapping):
        return None
    uri = destination.get("uri")
    ref = destination.get("ref")
    if not isinstance(ref, Mapping):
        return str(uri) if isinstance(uri, str) and uri else None
    ns = str(ref.get("namespace") or namespace)
    name = str(ref.get("name") or "")
    group = str(ref.get("apiVersion") or "").split("/", 1)[0]
    kind = ref.get("kind")
    suffix = str(uri) if isinstance(uri, str) else ""
    if kind == "Service" and group == SERVING_GROUP:
        svc = store.peek("services", ns, name)
        if svc is None:
            return None
        address = ((svc.get("status") or {}).get("address") or {}).get("url")
        return (address or f"http://{name}.{ns}.svc.cluster.local") + suffix
    if kind == "Broker" and group == EVENTING_GROUP:
        if store.peek("brokers", ns, name) is None:
            return None
        return broker_url(ns, name) + suffix
    return None


def trigger_status(store: ObjectStore, trigger: JSON) -> tuple[JSON, list[JSON]]:
    """(status without conditions, conditions) of a Trigger."""
    meta, spec = trigger["metadata"], trigger.get("spec") or {}
    namespace = meta["namespace"]
    broker_name = str(spec.get("broker") or "")
    broker = store.peek("brokers", namespace, broker_name)
    status: JSON = {}
    conditions: list[JSON] = []
    if broker is None:
        conditions.append(
            condition(
                "BrokerReady",
                "False",
                "BrokerDoesNotExist",
                f'Broker "{broker_name}" does not exist',
            )
        )
    else:
        conditions.append(condition("BrokerReady", "True"))
    subscriber = resolve(store, namespace, spec.get("subscriber"))
    if subscriber is None:
        conditions.append(
            condition(
                "SubscriberResolved",
                "False",
                "Unable to get the Subscriber's URI",
                "the subscriber does not exist or is not addressable",
            )
        )
    else:
        status["subscriberUri"] = subscriber
        conditions.append(condition("SubscriberResolved", "True"))
    delivery = spec.get("delivery")
    if not isinstance(delivery, Mapping) and broker is not None:
        delivery = (broker.get("spec") or {}).get("delivery")
    sink = delivery.get("deadLetterSink") if isinstance(delivery, Mapping) else None
    if sink is None:
        conditions.append(
            condition("DeadLetterSinkResolved", "True", "DeadLetterSinkNotConfigured")
        )
    else:
        resolved = resolve(store, namespace, sink)
        if resolved is None:
            conditions.append(
                condition(
                    "DeadLetterSinkResolved",
                    "False",
                    "Unable to get the dead letter sink's URI",
                    "the dead letter sink does not exist or is not addressable",
                )
            )
        else:
            status["deadLetterSinkUri"] = resolved
            status["deliveryStatus"] = {"deadLetterSinkUri": resolved}
            conditions.append(condition("DeadLetterSinkResolved", "True"))
    return status, [*conditions, happy(conditions)]
