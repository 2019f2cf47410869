"""Where a run's events go and where their receivers are read, from the cluster's objects.

* the Broker's ``status.address.url`` is where events are sent (through ``--ingress``
  when its host does not resolve here: the emulator's ingress serves the broker ingress);
* the Triggers of the Broker name the subscriber: a ``ref`` to a Knative Service is
  read through that Service's tag URLs (one per revision), as are dead letter sinks
  that are Knative Services.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput, Unavailable
from harness.knative.model import EVENTING_GROUP, SERVING_API_VERSION
from harness.knative.names import require_dns_label


@dataclass(frozen=True)
class BrokerInfo:
    """A Broker's address and the Knative Services its Triggers deliver to."""

    namespace: str
    name: str
    url: str
    subscribers: tuple[str, ...]
    dead_letter_services: tuple[str, ...]
    other_subscribers: tuple[str, ...]


def _service_ref(ref: Any, namespace: str) -> str | None:
    if not isinstance(ref, dict):
        return None
    if ref.get("kind") != "Service" or ref.get("apiVersion") != SERVING_API_VERSION:
        return None
    if ref.get("namespace", namespace) != namespace:
        return None
    name = ref.get("name")
    return name if isinstance(name, str) else None


def broker_info(broker: dict[str, Any], triggers: list[dict[str, Any]]) -> BrokerInfo:
    """Pure: the `BrokerInfo` of a Broker object and its namespace's Trigger objects."""
    meta = broker.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    url = ((broker.get("status") or {}).get("address") or {}).get("url")
    if not isinstance(url, str) or not url:
        raise BadInput(f"broker {namespace}/{name} has no address yet (is it Ready?)")
    subscribers: list[str] = []
    others: list[str] = []
    dead: list[str] = []
    sinks = [((broker.get("spec") or {}).get("delivery") or {}).get("deadLetterSink")]
    for trigger in triggers:
        spec = trigger.get("spec") or {}
        if spec.get("broker") != name:
            continue
        subscriber = spec.get("subscriber") or {}
        service = _service_ref(subscriber.get("ref"), namespace)
        if service is not None and not subscriber.get("uri"):
            subscribers.append(service)
        else:
            others.append(str((trigger.get("metadata") or {}).get("name", "?")))
        sinks.append((spec.get("delivery") or {}).get("deadLetterSink"))
    for sink in sinks:
        service = _service_ref((sink or {}).get("ref"), namespace) if sink else None
        if service is not None:
            dead.append(service)
    return BrokerInfo(
        namespace=namespace,
        name=name,
        url=url,
        subscribers=tuple(dict.fromkeys(subscribers)),
        dead_letter_services=tuple(dict.fromkeys(dead)),
        other_subscribers=tuple(others),
    )


def read_broker(kubeconfig: Path, context: str | None, namespace: str, broker: str) -> BrokerInfo:
    """The Broker and its Triggers from the API; ``BadInput`` when the Broker is missing."""
    from lightkube import Client, KubeConfig
    from lightkube.core import exceptions as lk_exceptions
    from lightkube.core.exceptions import ApiError, ConfigError
    from lightkube.generic_resource import create_namespaced_resource

    from harness.knative.kubeconfig import read_kubeconfig

    require_dns_label(namespace, "namespace")
    require_dns_label(broker, "broker")
    kind_broker = create_namespaced_resource(EVENTING_GROUP, "v1", "Broker", "brokers")
    kind_trigger = create_namespaced_resource(EVENTING_GROUP, "v1", "Trigger", "triggers")
    try:
        config = KubeConfig.from_dict(read_kubeconfig(kubeconfig), fname=kubeconfig)
        client = Client(config.get(context_name=context), namespace=namespace)
    except (ConfigError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInput(f"kubeconfig {kubeconfig}: {exc}") from None
    try:
        obj = client.get(kind_broker, broker, namespace=namespace)
        triggers = [_dict(t) for t in client.list(kind_trigger, namespace=namespace)]
    except ApiError as exc:
        if exc.status.code == 404:
            raise BadInput(
                f"broker {namespace}/{broker} not found (is Knative Eventing installed?)"
            ) from None
        raise Unavailable(f"broker {namespace}/{broker}: {exc.status.message}") from None
    except lk_exceptions.httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach the cluster: {exc}") from None
    finally:
        client.close()
    return broker_info(_dict(obj), triggers)


def _dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
