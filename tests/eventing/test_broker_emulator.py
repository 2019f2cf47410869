"""The emulator's Eventing end to end: a real daemon (demo: Broker `default`, Trigger
`hello`), CloudEvents over loopback to its ingress, a receiver on loopback as subscriber."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.local.eventing.cloudevent import parse_rfc3339
from harness.local.eventing.metrics import series
from harness.local.eventing.server import metrics_address
from tests.conftest import RunningEmulator
from tests.eventing.receiver import Receiver, start_receiver

INGRESS_HOST = "broker-ingress.knative-eventing.svc.cluster.local"
EVENTING = "/apis/eventing.knative.dev/v1/namespaces/default"
SERVICES = "/apis/serving.knative.dev/v1/namespaces/default/services"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    rec.server.shutdown()


def ce_headers(event_type: str, event_id: str | None = None, **ext: str) -> dict[str, str]:
    headers = {
        "Host": INGRESS_HOST,
        "ce-specversion": "1.0",
        "ce-id": event_id or uuid.uuid4().hex,
        "ce-source": "/tests",
        "ce-type": event_type,
        "Content-Type": "text/plain",
    }
    headers.update({f"ce-{k}": v for k, v in ext.items()})
    return headers


_CLIENTS: dict[str, httpx.Client] = {}


def publish(emulator: RunningEmulator, headers: dict[str, str], body: bytes = b"x") -> int:
    """POST one event to Broker `default` (one keep-alive client per emulator)."""
    client = _CLIENTS.get(emulator.ingress)
    if client is None:
        client = _CLIENTS[emulator.ingress] = httpx.Client(base_url=emulator.ingress, timeout=60)
    return client.post("/default/default", headers=headers, content=body).status_code


def trigger(name: str, subscriber: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"broker": "default", "subscriber": subscriber, **spec},
    }


def create(emulator: RunningEmulator, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    with emulator.api_client() as api:
        answer = api.post(f"{EVENTING}/{resource}", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


def eventing_metrics(emulator: RunningEmulator) -> str:
    address = metrics_address(emulator.state_dir)
    assert address is not None
    return httpx.get(f"http://{address}/metrics", timeout=60).text


def counter(emulator: RunningEmulator, what: str, trigger_name: str) -> float:
    name = (
        "harness_eventing_replies_total"
        if what == "replies"
        else f"harness_eventing_{what}_events_total"
    )
    return sum(
        v
        for labels, v in series(eventing_metrics(emulator), name)
        if labels["trigger_name"] == trigger_name
    )


def wait_settled(emulator: RunningEmulator, trigger_name: str, timeout: float = 60) -> None:
    """Wait until every event the Trigger matched has its outcome: the deliveries of
    events published by earlier tests may still be under way on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        outcomes = sum(
            counter(emulator, what, trigger_name)
            for what in ("dropped", "delivered", "dead_lettered", "undeliverable")
        )
        matched = counter(emulator, "matched", trigger_name)
        if outcomes >= matched:
            return
        assert time.monotonic() < deadline, f"{trigger_name}: {outcomes} of {matched} settled"
        time.sleep(0.1)


def wait_counter(
    emulator: RunningEmulator, what: str, trigger_name: str, at_least: float, timeout: float = 60
) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = counter(emulator, what, trigger_name)
        if value >= at_least:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} of {trigger_name} stayed below {at_least}")


def test_demo_broker_and_trigger_are_ready(emulator: RunningEmulator) -> None:
    with emulator.api_client() as api:
        broker = api.get(f"{EVENTING}/brokers/default").json()
        hello = api.get(f"{EVENTING}/triggers/hello").json()
    assert broker["status"]["address"]["url"] == f"http://{INGRESS_HOST}/default/default"
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == (
        "MTChannelBasedBroker"
    )
    ready = {c["type"]: c["status"] for c in hello["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert hello["status"]["subscriberUri"] == "http://hello.default.svc.cluster.local"


def test_ingress_answers(emulator: RunningEmulator) -> None:
    assert publish(emulator, ce_headers("com.test.nobody")) == 202
    structured = {
        "specversion": "1.0",
        "id": "s1",
        "source": "/tests",
        "type": "com.test.nobody",
        "data": {"a": 1},
    }
    answer = httpx.post(
        f"{emulator.ingress}/default/default",
        headers={"Host": INGRESS_HOST, "Content-Type": "application/cloudevents+json"},
        content=json.dumps(structured),
    )
    assert answer.status_code == 202
    assert publish(emulator, {"Host": INGRESS_HOST}, b"not an event") == 400
    missing_type = ce_headers("x")
    del missing_type["ce-type"]
    assert publish(emulator, missing_type) == 400
    base = emulator.ingress
    assert httpx.post(f"{base}/default/nope", headers=ce_headers("x")).status_code == 404
    assert httpx.post(f"{base}/default", headers=ce_headers("x")).status_code == 400
    assert httpx.get(f"{base}/default/default", headers={"Host": INGRESS_HOST}).status_code == 405
    options = httpx.options(f"{base}/default/default", headers={"Host": INGRESS_HOST})
    assert options.status_code == 200
    assert options.headers["WebHook-Allowed-Origin"] == "*"


def test_uri_subscriber_gets_filtered_events_in_binary_mode(
    emulator: RunningEmulator, receiver: Receiver
) -> None:
    create(
        emulator,
        "triggers",
        trigger(
            "filtered",
            {"uri": f"{receiver.base}/ok/filtered"},
            filters=[{"prefix": {"type": "com.test.keep"}}, {"not": {"exact": {"subject": "no"}}}],
        ),
    )
    sent = []
    for event_type, subject in [
        ("com.test.keep.a", "yes"),
        ("com.test.keep.b", "yes"),
        ("com.test.other", "yes"),
        ("com.test.keep.c", "no"),
        ("com.test.keep.d", "yes"),
    ]:
        headers = ce_headers(event_type, subject=subject, sendtime="2026-12-02T06:00:00.25Z")
        assert publish(emulator, headers, b"payload") == 202
        sent.append((headers["ce-id"], event_type, subject))
    wanted = {i for i, t, s in sent if t.startswith("com.test.keep") and s != "no"}
    got = receiver.wait_for("/ok/filtered", len(wanted))
    time.sleep(0.3)  # nothing else arrives
    got = receiver.on("/ok/filtered")
    assert {r.ce("id") for r in got} == wanted and len(got) == 3
    first = got[0]
    assert first.ce("sendtime") == "2026-12-02T06:00:00.25Z"  # passed on unchanged
    arrival = parse_rfc3339(first.ce("knativearrivaltime") or "")
    assert arrival is not None and abs(arrival - first.at) < 10
    assert first.headers["knative-harness-delivery-attempt"] == "1"
    assert first.headers["content-type"] == "text/plain"
    assert first.body == b"payload"


def test_cesql_filter_is_evaluated(emulator: RunningEmulator, receiver: Receiver) -> None:
    expression = "type LIKE 'com.test.sql.%' AND (EXISTS tier AND tier IN ('gold', 'silver'))"
    create(
        emulator,
        "triggers",
        trigger("sql", {"uri": f"{receiver.base}/ok/sql"}, filters=[{"cesql": expression}]),
    )
    sent = []
    for event_type, ext in [
        ("com.test.sql.a", {"tier": "gold"}),
        ("com.test.sql.b", {"tier": "bronze"}),
        ("com.test.other", {"tier": "gold"}),
        ("com.test.sql.c", {}),
        ("com.test.sql.d", {"tier": "silver"}),
    ]:
        headers = ce_headers(event_type, **ext)
        assert publish(emulator, headers) == 202
        sent.append((headers["ce-id"], event_type, ext.get("tier")))
    wanted = {
        i for i, t, tier in sent if t.startswith("com.test.sql.") and tier in ("gold", "silver")
    }
    receiver.wait_for("/ok/sql", len(wanted))
    time.sleep(0.3)  # nothing else arrives
    assert {r.ce("id") for r in receiver.on("/ok/sql")} == wanted
    with emulator.api_client() as api:
        bad = trigger("bad-sql", {"uri": f"{receiver.base}/ok/sql"}, filters=[{"cesql": "type ="}])
        answer = api.post(f"{EVENTING}/triggers", json=bad)
        assert answer.status_code == 400, answer.text
        assert "spec.filters[0].cesql" in answer.json()["message"]


def test_ref_subscriber_follows_the_traffic_split(emulator: RunningEmulator) -> None:
    split = [
        {"revisionName": "hello-v1", "percent": 50, "tag": "v1"},
        {"revisionName": "hello-v2", "percent": 50, "tag": "v2"},
    ]
    restore = [
        {"revisionName": "hello-v1", "percent": 100, "tag": "v1"},
        {"revisionName": "hello-v2", "percent": 0, "tag": "v2"},
    ]
    patch = {"Content-Type": "application/merge-patch+json"}
    with emulator.api_client() as api:
        answer = api.patch(
            f"{SERVICES}/hello", content=json.dumps({"spec": {"traffic": split}}), headers=patch
        )
        assert answer.status_code == 200, answer.text
    try:
        # Trigger `hello` has no filter: every event of the module's other tests reaches
        # Service hello too, so count from once those deliveries are done.
        wait_settled(emulator, "hello")
        before_v = _revision_requests(emulator)
        before = counter(emulator, "delivered", "hello")
        events = 200
        for _ in range(events):
            assert publish(emulator, ce_headers("com.test.split")) == 202
        wait_counter(emulator, "delivered", "hello", before + events)
        wait_settled(emulator, "hello")
        after_v = _revision_requests(emulator)
    finally:
        with emulator.api_client() as api:
            api.patch(
                f"{SERVICES}/hello",
                content=json.dumps({"spec": {"traffic": restore}}),
                headers=patch,
            )
    delta = {rev: after_v[rev] - before_v.get(rev, 0) for rev in after_v}
    assert delta["hello-v1"] + delta["hello-v2"] == events
    # 50/50 by a uniform draw per event: 200 events stay within 60..140 with p > 0.9999.
    assert 60 <= delta["hello-v1"] <= 140, delta


def _revision_requests(emulator: RunningEmulator) -> Counter[str]:
    """Requests each revision's queue-proxy counted (its /metrics, as Prometheus scrapes)."""
    groups = json.loads((emulator.state_dir / "prometheus" / "targets.json").read_text())
    seen: Counter[str] = Counter()
    for group in groups:
        for target in group["targets"]:
            text = httpx.get(f"http://{target}/metrics", timeout=60).text
            for labels, value in series(text, "revision_request_count"):
                seen[labels["revision_name"]] += int(value)
    return seen


def test_retries_with_backoff_then_dead_letter(
    emulator: RunningEmulator, receiver: Receiver
) -> None:
    create(
        emulator,
        "triggers",
        trigger(
            "retrying",
            {"uri": f"{receiver.base}/fail/retrying"},
            filter={"attributes": {"type": "com.test.retry"}},
            delivery={
                "retry": 2,
                "backoffPolicy": "exponential",
                "backoffDelay": "PT0.2S",
                "deadLetterSink": {"uri": f"{receiver.base}/ok/dls"},
            },
        ),
    )
    headers = ce_headers("com.test.retry")
    assert publish(emulator, headers) == 202
    attempts = receiver.wait_for("/fail/retrying", 3)
    (dead,) = receiver.wait_for("/ok/dls", 1)
    assert [a.headers["knative-harness-delivery-attempt"] for a in attempts] == ["1", "2", "3"]
    assert {a.ce("id") for a in attempts} == {headers["ce-id"]}
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38, gaps  # 0.2 s, then 0.4 s (exponential)
    assert dead.ce("id") == headers["ce-id"]
    assert dead.ce("knativeerrorcode") == "500"
    assert dead.ce("knativeerrordest") == f"{receiver.base}/fail/retrying"
    assert base64.b64decode(dead.ce("knativeerrordata") or "") == b"boom"
    assert wait_counter(emulator, "dead_lettered", "retrying", 1) == 1


def test_a_4xx_is_not_retried_and_without_a_sink_is_undeliverable(
    emulator: RunningEmulator, receiver: Receiver
) -> None:
    create(
        emulator,
        "triggers",
        trigger(
            "rejecting",
            {"uri": f"{receiver.base}/reject/once"},
            filter={"attributes": {"type": "com.test.reject"}},
            delivery={"retry": 3},
        ),
    )
    assert publish(emulator, ce_headers("com.test.reject")) == 202
    assert wait_counter(emulator, "undeliverable", "rejecting", 1) == 1
    time.sleep(0.3)
    assert len(receiver.on("/reject/once")) == 1


def test_reply_goes_back_into_the_broker(emulator: RunningEmulator, receiver: Receiver) -> None:
    create(
        emulator,
        "triggers",
        trigger(
            "asker",
            {"uri": f"{receiver.base}/reply/asker"},
            filter={"attributes": {"type": "com.test.ask"}},
        ),
    )
    create(
        emulator,
        "triggers",
        trigger(
            "answers",
            {"uri": f"{receiver.base}/ok/answers"},
            filter={"attributes": {"type": "com.test.answer"}},
        ),
    )
    headers = ce_headers("com.test.ask")
    assert publish(emulator, headers) == 202
    (answer,) = receiver.wait_for("/ok/answers", 1)
    assert answer.ce("id") == f"reply-{headers['ce-id']}"
    assert answer.ce("knativearrivaltime")
    assert answer.body == b"answer"
    assert wait_counter(emulator, "replies", "asker", 1) == 1


def test_a_reply_loop_ends_with_the_broker_ttl(
    emulator: RunningEmulator, receiver: Receiver
) -> None:
    create(
        emulator,
        "triggers",
        trigger(
            "looping",
            {"uri": f"{receiver.base}/echo/loop"},
            filter={"attributes": {"type": "com.test.loop"}},
        ),
    )
    # The ingress decrements knativebrokerttl (5 -> 4) and so does every reply's hop back.
    assert publish(emulator, ce_headers("com.test.loop", knativebrokerttl="5")) == 202
    got = receiver.wait_for("/echo/loop", 4)
    time.sleep(0.5)
    got = receiver.on("/echo/loop")
    assert len(got) == 4
    assert all(r.ce("knativebrokerttl") is None for r in got)  # removed before delivery
    assert publish(emulator, ce_headers("com.test.loop", knativebrokerttl="1")) == 400


def test_drop_knob_is_counted_exactly(emulator: RunningEmulator, receiver: Receiver) -> None:
    body = trigger(
        "lossy",
        {"uri": f"{receiver.base}/ok/lossy"},
        filter={"attributes": {"type": "com.test.lossy"}},
    )
    body["metadata"]["annotations"] = {"harness.knative.dev/drop-fraction": "0.3"}
    create(emulator, "triggers", body)
    events = 300
    ids = set()
    for _ in range(events):
        headers = ce_headers("com.test.lossy")
        ids.add(headers["ce-id"])
        assert publish(emulator, headers) == 202
    matched = wait_counter(emulator, "matched", "lossy", events)
    dropped = counter(emulator, "dropped", "lossy")
    delivered = wait_counter(emulator, "delivered", "lossy", events - dropped)
    assert matched == events
    assert delivered + dropped == events
    got = receiver.wait_for("/ok/lossy", int(delivered))
    time.sleep(0.3)
    got = receiver.on("/ok/lossy")
    assert len(got) == delivered and {r.ce("id") for r in got} <= ids
    assert len({r.ce("id") for r in got}) == len(got)  # no duplicates
    # Binomial(300, 0.3): 90 expected; 45..135 holds with p > 0.99999.
    assert 45 <= dropped <= 135


def test_webhook_rejects_invalid_objects(emulator: RunningEmulator) -> None:
    bad = trigger("bad-trigger", {"uri": "/relative"}, delivery={"backoffDelay": "5s"})
    with emulator.api_client() as api:
        answer = api.post(f"{EVENTING}/triggers", json=bad)
        # As kube-apiserver relays a webhook's denial: 400 BadRequest, no details.
        assert answer.status_code == 400
        status = answer.json()
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "BadRequest", 400)
        assert "details" not in status
        message = status["message"]
        assert message.startswith(
            'admission webhook "validation.webhook.eventing.knative.dev" denied the request: '
            "validation failed: "
        )
        assert "spec.delivery.backoffDelay" in message and "spec.subscriber.uri" in message
        assert api.get(f"{EVENTING}/triggers/bad-trigger").status_code == 404
        knob = trigger("bad-knob", {"uri": "http://127.0.0.1:9/"})
        knob["metadata"]["annotations"] = {"harness.knative.dev/drop-fraction": "1.5"}
        assert api.post(f"{EVENTING}/triggers", json=knob).status_code == 400
        immutable = api.patch(
            f"{EVENTING}/triggers/hello",
            content=json.dumps({"spec": {"broker": "other"}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert immutable.status_code == 400
        assert "Immutable fields changed" in immutable.json()["message"]
        # The webhook runs before storage: an invalid object under a taken name is denied
        # (400), not AlreadyExists (409); a valid one under that name is 409.
        taken = trigger("hello", {"uri": "/relative"})
        assert api.post(f"{EVENTING}/triggers", json=taken).status_code == 400
        valid = trigger("hello", {"uri": "http://127.0.0.1:9/"})
        assert api.post(f"{EVENTING}/triggers", json=valid).status_code == 409
        # The API server's own name check answers before any webhook: 422 Invalid.
        bad_name = trigger("Bad_Name", {"uri": "/relative"})
        refused = api.post(f"{EVENTING}/triggers", json=bad_name)
        assert (refused.status_code, refused.json()["reason"]) == (422, "Invalid")


def test_broker_deleted_then_recreated(emulator: RunningEmulator) -> None:
    body = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "b2"}}
    create(emulator, "brokers", body)
    create(emulator, "triggers", trigger("on-b2", {"uri": "http://127.0.0.1:9/"}, broker="b2"))
    with emulator.api_client() as api:
        assert api.delete(f"{EVENTING}/brokers/b2").status_code == 200
        status = api.get(f"{EVENTING}/triggers/on-b2").json()["status"]
    ready = {c["type"]: c for c in status["conditions"]}
    assert ready["Ready"]["status"] == "False"
    assert ready["BrokerReady"]["reason"] == "BrokerDoesNotExist"
    answer = httpx.post(f"{emulator.ingress}/default/b2", headers=ce_headers("x"))
    assert answer.status_code == 404


def test_legacy_metrics_reach_prometheus(emulator: RunningEmulator) -> None:
    if emulator.prometheus is None:
        pytest.skip("prometheus is not installed: the emulator runs without it")
    assert publish(emulator, ce_headers("com.test.prom")) == 202
    query = 'event_count{job="knative-eventing",container_name="ingress",broker_name="default"}'
    deadline = time.monotonic() + 60
    result: list[Any] = []
    while time.monotonic() < deadline and not result:
        answer = httpx.get(
            f"{emulator.prometheus}/api/v1/query", params={"query": query}, timeout=60
        )
        result = answer.json()["data"]["result"]
        time.sleep(0.5)
    assert result, "event_count never reached Prometheus"
    assert result[0]["metric"]["namespace_name"] == "default"
    assert float(result[0]["value"][1]) >= 1
