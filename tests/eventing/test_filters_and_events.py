"""Trigger filters, the CloudEvents HTTP binding, delivery backoff and the metrics text of
the emulator's Eventing. Pure: no process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.local.eventing.cloudevent import (
    CloudEvent,
    InvalidEvent,
    from_http,
    is_event_response,
    parse_rfc3339,
    rfc3339_nano,
    to_binary,
)
from harness.local.eventing.delivery import DeliveryPolicy, policy_of, should_retry
from harness.local.eventing.filters import Result, trigger_filter, type_filter
from harness.local.eventing.metrics import MAX_SERIES, OTHER_TYPE, EventingMetrics, series


def event(**attrs: str) -> CloudEvent:
    base = {"specversion": "1.0", "id": "1", "source": "/src", "type": "com.example.a"}
    base.update(attrs)
    return CloudEvent(base, b"")


def passes(spec: dict[str, Any], ev: CloudEvent) -> bool:
    return trigger_filter(spec)(ev) is not Result.FAIL


def test_attribute_filter_exact_and_any() -> None:
    spec = {"filter": {"attributes": {"type": "com.example.a", "source": ""}}}
    assert passes(spec, event())
    assert not passes(spec, event(type="com.example.b"))
    assert passes({"filter": {}}, event())
    assert passes({}, event())
    ext = {"filter": {"attributes": {"myext": "v"}}}
    assert passes(ext, event(myext="v"))
    assert not passes(ext, event())


def test_subscriptions_api_dialects() -> None:
    ev = event(type="com.example.order.created", subject="orders/42")
    assert passes({"filters": [{"exact": {"type": "com.example.order.created"}}]}, ev)
    assert passes({"filters": [{"prefix": {"type": "com.example.order"}}]}, ev)
    assert not passes({"filters": [{"prefix": {"type": "com.other"}}]}, ev)
    assert passes({"filters": [{"suffix": {"subject": "/42"}}]}, ev)
    assert not passes({"filters": [{"suffix": {"missing": "x"}}]}, ev)
    both = {"filters": [{"prefix": {"type": "com"}}, {"suffix": {"type": "deleted"}}]}
    assert not passes(both, ev)
    any_of = {"filters": [{"any": [{"exact": {"type": "x"}}, {"suffix": {"type": "created"}}]}]}
    assert passes(any_of, ev)
    all_of = {"filters": [{"all": [{"exact": {"type": "x"}}, {"suffix": {"type": "created"}}]}]}
    assert not passes(all_of, ev)
    negated = {"filters": [{"not": {"prefix": {"type": "com.example"}}}]}
    assert not passes(negated, ev)
    assert passes({"filters": [{"not": {"exact": {"type": "x"}}}]}, ev)
    # `filters` wins over `filter`.
    assert passes(
        {"filter": {"attributes": {"type": "nope"}}, "filters": [{"prefix": {"type": "com"}}]},
        ev,
    )
    # Entries Knative cannot build are skipped: an empty value, an empty entry.
    assert passes({"filters": [{"exact": {"type": ""}}, {}]}, ev)
    # CESQL is evaluated (tests/eventing/test_cesql.py has the language).
    assert passes({"filters": [{"cesql": "true"}]}, ev)
    assert passes({"filters": [{"cesql": "subject LIKE 'orders/%'"}]}, ev)
    assert not passes({"filters": [{"cesql": "type = 'x'"}]}, ev)


def test_legacy_filter_type_label() -> None:
    assert type_filter({"filter": {"attributes": {"type": "a.b"}}}) == "a.b"
    assert type_filter({"filter": {}}) == "any"


def test_binary_mode_round_trip() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "abc",
        "ce-source": "/s",
        "ce-type": "t",
        "Ce-Sendtime": "2026-12-02T06:00:00.5Z",
        "ce-note": "50%25%20off",
        "Content-Type": "text/plain",
    }
    ev = from_http(headers, b"hello")
    assert ev.attributes["sendtime"] == "2026-12-02T06:00:00.5Z"
    assert ev.attributes["note"] == "50% off"
    assert ev.attributes["datacontenttype"] == "text/plain"
    out = to_binary(ev)
    assert out["Content-Type"] == "text/plain"
    assert out["ce-note"] == "50%25 off"
    assert from_http(out, ev.data).attributes == ev.attributes


def test_structured_mode() -> None:
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": "x",
            "source": "/s",
            "type": "t",
            "seq": 7,
            "flag": True,
            "data": {"k": [1, 2]},
        }
    ).encode()
    ev = from_http({"Content-Type": "application/cloudevents+json; charset=utf-8"}, body)
    assert ev.attributes["seq"] == "7"
    assert ev.attributes["flag"] == "true"
    assert json.loads(ev.data) == {"k": [1, 2]}
    assert ev.attributes["datacontenttype"] == "application/json"
    b64 = json.dumps(
        {"specversion": "1.0", "id": "x", "source": "/s", "type": "t", "data_base64": "aGk="}
    ).encode()
    assert from_http({"Content-Type": "application/cloudevents+json"}, b64).data == b"hi"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b"no event"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, b""),  # no type
        ({"ce-specversion": "2.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}, b""),
        ({"ce-specversion": "1.0", "ce-id": "", "ce-source": "/s", "ce-type": "t"}, b""),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t",
             "ce-time": "yesterday"},
            b"",
        ),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t",
             "ce-bad_name": "x"},
            b"",
        ),
        ({"Content-Type": "application/cloudevents+json"}, b"{not json"),
        ({"Content-Type": "application/cloudevents+json"}, b"[1]"),
        ({"Content-Type": "application/cloudevents-batch+json"}, b"[]"),
    ],
)  # fmt: skip
def test_invalid_events(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        from_http(headers, body)


def test_reply_detection_and_timestamps() -> None:
    assert is_event_response({"ce-specversion": "1.0"})
    assert is_event_response({"Content-Type": "application/cloudevents+json"})
    assert not is_event_response({"Content-Type": "text/plain"})
    assert rfc3339_nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert parse_rfc3339("2023-11-14T22:13:20.123456789Z") == pytest.approx(1_700_000_000.123457)
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == pytest.approx(1_700_000_000)
    assert parse_rfc3339("not a time") is None


def test_backoff_and_retry_rules() -> None:
    exp = DeliveryPolicy(retry=3, policy="exponential", delay_s=0.1)
    assert [exp.backoff(k) for k in range(3)] == pytest.approx([0.1, 0.2, 0.4])
    lin = DeliveryPolicy(retry=3, policy="linear", delay_s=0.1)
    assert [lin.backoff(k) for k in range(3)] == pytest.approx([0.0, 0.1, 0.2])
    assert DeliveryPolicy(retry=3).backoff(2) == 0.0
    assert [should_retry(c) for c in (None, 500, 503, 404, 408, 409, 429)] == [True] * 7
    assert [should_retry(c) for c in (400, 401, 403, 302, 413)] == [False] * 5
    broker_spec = {"delivery": {"retry": 2, "backoffPolicy": "linear", "backoffDelay": "PT1S"}}
    assert policy_of({}, broker_spec) == DeliveryPolicy(2, "linear", 1.0)
    assert policy_of({"delivery": {"retry": 5}}, broker_spec) == DeliveryPolicy(5)


def test_legacy_metrics_text() -> None:
    m = EventingMetrics("legacy")
    m.ingress("ns", "default", "t", 202, 0.0015)
    m.dispatch("ns", "default", "tr", "any", "filter", "t", 500, 0.003)
    m.dispatch("ns", "default", "tr", "any", "filter", "t", 200, 0.004)
    m.process("ns", "default", "tr", "any", "t", 0.0005)
    m.count("dropped", "ns", "default", "tr", 2)
    text = m.render()
    counts = {(s["container_name"], s["response_code"]): v for s, v in series(text, "event_count")}
    assert counts == {("ingress", "202"): 1, ("filter", "500"): 1, ("filter", "200"): 1}
    (ingress,) = [s for s, _ in series(text, "event_count") if s["container_name"] == "ingress"]
    assert ingress["broker_name"] == "default" and ingress["namespace_name"] == "ns"
    assert ingress["event_type"] == "t" and ingress["response_code_class"] == "2xx"
    buckets = {
        s["le"]: v
        for s, v in series(text, "event_dispatch_latencies_bucket")
        if s["container_name"] == "ingress"
    }
    assert buckets["1"] == 0 and buckets["2"] == 1  # 1.5 ms, in milliseconds
    (dropped,) = series(text, "harness_eventing_dropped_events_total")
    assert dropped == ({"broker_name": "default", "namespace_name": "ns", "trigger_name": "tr"}, 2)
    assert any(
        s["trigger_name"] == "tr" for s, _ in series(text, "event_processing_latencies_count")
    )


def test_otel_metrics_text() -> None:
    m = EventingMetrics("otel")
    m.ingress("ns", "default", "t", 202, 0.0015)
    m.dispatch("ns", "default", "tr", "any", "filter", "t", 200, 0.004)
    text = m.render()
    assert "event_count" not in text
    samples = list(series(text, "kn_eventing_dispatch_duration_seconds_count"))
    by_scope = {s["otel_scope_name"]: s for s, _ in samples}
    ingress = by_scope["knative.dev/pkg/broker/ingress"]
    assert ingress["kn_broker_name"] == "default" and ingress["kn_broker_namespace"] == "ns"
    assert ingress["http_response_status_code"] == "202"
    assert ingress["cloudevents_type"] == "t"
    assert ingress["messaging_destination_name"].endswith(".ns.svc.cluster.local")
    filt = by_scope["knative.dev/pkg/broker/filter"]
    assert filt["messaging_destination_name"] == "trigger:tr.ns"
    buckets = {
        s["le"]: v
        for s, v in series(text, "kn_eventing_dispatch_duration_seconds_bucket")
        if s["otel_scope_name"].endswith("ingress")
    }
    assert buckets["0.005"] == 1  # seconds


def test_event_type_series_are_capped() -> None:
    m = EventingMetrics("legacy")
    for i in range(MAX_SERIES + 50):
        m.ingress("ns", "default", f"type-{i}", 202, 0.001)
    text = m.render()
    types = [s["event_type"] for s, _ in series(text, "event_count")]
    assert len(types) == MAX_SERIES + 1
    other = [v for s, v in series(text, "event_count") if s["event_type"] == OTHER_TYPE]
    assert other == [50]
