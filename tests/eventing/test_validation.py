"""Knative Eventing's webhook for Broker and Trigger (harness.knative.eventing_validation):
messages and paths as knative/eventing 8cf4c4b6 words them. Pure: no process."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.knative.eventing_validation import (
    BROKER_CLASS_ANNOTATION,
    eventing_denial,
    parse_iso8601_duration,
    set_broker_defaults,
    set_trigger_defaults,
    validate_broker,
    validate_eventing_object,
    validate_trigger,
)
from harness.knative.field_error import format_errors

SUB_REF = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello"}}


def trigger(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"broker": "default", "subscriber": copy.deepcopy(SUB_REF)}
    body.update(spec)
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "t", "namespace": "ns1"},
        "spec": body,
    }


def text(errors: list[Any]) -> str:
    return format_errors(errors)


@pytest.mark.parametrize(
    ("period", "seconds"),
    [
        ("PT0.2S", 0.2),
        ("PT1S", 1.0),
        ("PT1M30S", 90.0),
        ("P1D", 86400.0),
        ("PT1,5S", 1.5),
        ("P1W", 7 * 86400.0),
    ],
)
def test_iso8601_durations(period: str, seconds: float) -> None:
    assert parse_iso8601_duration(period) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5s", "P", "PT", "1S", "PT-1S", "", "P1DT"])
def test_not_iso8601(bad: str) -> None:
    assert parse_iso8601_duration(bad) is None


def test_broker_defaults_class_and_config() -> None:
    broker = set_broker_defaults({"metadata": {"name": "b", "namespace": "ns1"}})
    assert broker["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] == "MTChannelBasedBroker"
    assert broker["spec"]["config"]["name"] == "config-br-default-channel"
    assert validate_broker(broker) == []


def test_broker_needs_class_and_valid_delivery() -> None:
    broker = {
        "metadata": {"name": "b", "namespace": "ns1"},
        "spec": {"delivery": {"retry": -1, "backoffDelay": "10s", "timeout": "PT1S"}},
    }
    assert text(validate_broker(broker)) == "\n".join(
        [
            "invalid value: -1: spec.delivery.retry",
            "invalid value: 10s: spec.delivery.backoffDelay",
            f"missing field(s): {BROKER_CLASS_ANNOTATION}",
            "must not set the field(s): spec.delivery.timeout",
        ]
    )


def test_broker_spec_immutable_but_delivery() -> None:
    old = set_broker_defaults({"metadata": {"name": "b", "namespace": "ns1"}})
    new = copy.deepcopy(old)
    new["spec"]["delivery"] = {"retry": 3}
    assert validate_broker(new, old) == []
    new["spec"]["config"]["name"] = "other"
    (error,) = validate_broker(new, old)
    assert (error.message, error.paths) == ("Immutable fields changed (-old +new)", ("spec",))
    changed = copy.deepcopy(old)
    changed["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] = "Kafka"
    (error,) = validate_broker(changed, old)
    assert error.paths == ("annotations",)


def test_trigger_defaults() -> None:
    t = set_trigger_defaults(trigger())
    assert t["spec"]["filter"] == {}
    assert t["spec"]["subscriber"]["ref"]["namespace"] == "ns1"
    assert t["metadata"]["labels"]["eventing.knative.dev/broker"] == "default"
    assert validate_trigger(t) == []


def test_trigger_broker_required_and_one_of() -> None:
    missing = trigger()
    del missing["spec"]["broker"]
    assert text(validate_trigger(missing)) == "missing field(s): spec.broker"
    both = trigger(brokerRef={"name": "x"})
    assert text(validate_trigger(both)) == (
        "expected exactly one, got both: spec.broker, spec.brokerRef"
    )
    cross = trigger(brokerRef={"name": "x", "namespace": "other"})
    del cross["spec"]["broker"]
    (error,) = validate_trigger(cross)
    assert error.paths == ("spec.namespace",)
    assert "CrossNamespaceEventLinks" in error.details


def test_trigger_subscriber_rules() -> None:
    none = trigger(subscriber={})
    assert text(validate_trigger(none)) == (
        "expected at least one, got none: spec.subscriber.ref, spec.subscriber.uri"
    )
    relative = trigger(subscriber={"uri": "/path"})
    assert text(validate_trigger(relative)) == (
        "invalid value: Relative URI is not allowed when Ref and [apiVersion, kind, name] is "
        "absent: spec.subscriber.uri"
    )
    both = trigger(subscriber={**SUB_REF, "uri": "http://x.example.com/"})
    assert text(validate_trigger(both)) == (
        "Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present: "
        # knative.dev/pkg's flatten takes "[...]" for an index: it sticks to "subscriber".
        "spec.subscriber.ref, spec.subscriber.uri, spec.subscriber[apiVersion, kind, name]"
    )
    ref_path = trigger(subscriber={**SUB_REF, "uri": "/events"})
    assert validate_trigger(ref_path) == []
    bad_ref = trigger(subscriber={"ref": {"name": "x"}})
    assert text(validate_trigger(bad_ref)) == (
        "missing field(s): spec.subscriber.ref.apiVersion, spec.subscriber.ref.kind"
    )
    assert validate_trigger(trigger(subscriber={"uri": "http://127.0.0.1:9/x"})) == []


def test_trigger_filters() -> None:
    names = trigger(filter={"attributes": {"Type": "x", "source": "y"}})
    (error,) = validate_trigger(names)
    assert error.message == 'invalid key name "Type"'
    assert error.paths == ("spec.filter.attributes[Type]",)
    two = trigger(filters=[{"exact": {"type": "a"}, "prefix": {"type": "b"}}])
    (error,) = validate_trigger(two)
    # Knative's ErrGeneric carries no path, and ViaIndex/ViaField keep none.
    assert (error.message, error.paths) == (
        "multiple dialects found, filters can have only one dialect set",
        (),
    )
    nested = trigger(filters=[{"all": [{"exact": {"Bad": "a"}}]}, {"not": {"suffix": {"ok": "b"}}}])
    (error,) = validate_trigger(nested)
    # Knative re-prefixes earlier entries' errors with every later index (ViaIndex on the
    # accumulated errors): the error of entry 0 reads filters[1][0].
    assert error.paths == ("spec.filters[1][0].all[0].exact[Bad]",)
    fine = trigger(
        filters=[
            {"exact": {"type": "a"}},
            {"any": [{"prefix": {"source": "x"}}, {"suffix": {"subject": "y"}}]},
            {"not": {"exact": {"type": "b"}}},
            {"cesql": "type = 'a'"},
        ]
    )
    assert validate_trigger(fine) == []


def test_trigger_delivery_and_annotations() -> None:
    t = trigger(delivery={"backoffPolicy": "quadratic", "format": "xml", "retryAfterMax": "PT1S"})
    t["metadata"]["annotations"] = {
        "knative.dev/dependency": "{not json",
        "eventing.knative.dev/injection": "maybe",
    }
    found = {(e.message.split(":")[0], e.paths) for e in validate_trigger(t)}
    assert ("invalid value", ("spec.delivery.backoffPolicy",)) in found
    assert ("invalid value", ("spec.delivery.format",)) in found
    assert ("must not set the field(s)", ("spec.delivery.retryAfterMax",)) in found
    assert any(p == ("metadata.annotations[knative.dev/dependency]",) for _, p in found)
    assert any(p == ("metadata.annotations[eventing.knative.dev/injection]",) for _, p in found)
    dependency = trigger()
    dependency["metadata"]["annotations"] = {
        "knative.dev/dependency": '{"kind": "PingSource", "namespace": "other"}'
    }
    assert text(validate_trigger(dependency)) == "\n".join(
        [
            'Namespace must be empty or equal to the trigger namespace "ns1": '
            "metadata.annotations[knative.dev/dependency].namespace",
            "missing field(s): metadata.annotations[knative.dev/dependency].apiVersion, "
            "metadata.annotations[knative.dev/dependency].name",
        ]
    )


def test_trigger_broker_immutable() -> None:
    old = set_trigger_defaults(trigger())
    new = copy.deepcopy(old)
    new["spec"]["broker"] = "other"
    (error,) = validate_trigger(new, old)
    assert (error.message, error.paths) == (
        "Immutable fields changed (-old +new)",
        ("spec.broker",),
    )


def test_denial_message_names_the_eventing_webhook() -> None:
    errors = validate_eventing_object(trigger(subscriber={}))
    assert eventing_denial(errors) == (
        'admission webhook "validation.webhook.eventing.knative.dev" denied the request: '
        "validation failed: expected at least one, got none: spec.subscriber.ref, "
        "spec.subscriber.uri"
    )
