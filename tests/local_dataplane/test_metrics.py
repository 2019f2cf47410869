"""Metrics exposition: Knative's names, labels and buckets in both schemas."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.knative.traffic import TrafficTarget
from harness.local.dataplane import route_hosts
from harness.local.metrics import (
    LEGACY_BUCKETS_MS,
    OTEL_BUCKETS_S,
    RequestMetrics,
    RevisionIdentity,
    route_tag,
)
from tests.local_dataplane.conftest import NAMESPACE, PlaneThread, start_plane
from tests.local_dataplane.promtext import Sample, parse, select, value

MAIN = "hello.default.example.com"
TRAFFIC = [
    TrafficTarget(percent=100, revision_name="hello-v1", tag="v1"),
    TrafficTarget(percent=0, revision_name="hello-v2", tag="v2"),
]
IDENTITY = RevisionIdentity("default", "hello", "hello", "hello-v1", "hello-v1-deployment-x-y")


def _send_mix(plane: PlaneThread) -> None:
    """4 on the main host, 3 on tag host v2, 2 with an unknown tag header, 1 with v2's."""
    plane.set_routes(route_hosts(NAMESPACE, "hello", TRAFFIC, domain="example.com"))
    with httpx.Client(base_url=plane.url, timeout=60) as client:
        for host, headers, times in (
            (MAIN, {}, 4),
            ("v2-hello.default.example.com", {}, 3),
            (MAIN, {"Knative-Serving-Tag": "nope"}, 2),
            (MAIN, {"Knative-Serving-Tag": "v2"}, 1),
        ):
            for _ in range(times):
                assert client.get("/", headers={"Host": host, **headers}).status_code == 200


def _scrape(plane: PlaneThread, revision: str) -> list[Sample]:
    address = plane.revision(revision).metrics_address
    response = httpx.get(f"http://{address}/metrics", timeout=60)
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(response.text)


def _check_histogram(samples: list[Sample], name: str, bounds: tuple[float, ...]) -> None:
    buckets = select(samples, f"{name}_bucket")
    assert buckets, f"no {name}_bucket"
    series: dict[tuple[tuple[str, str], ...], list[Sample]] = {}
    for s in buckets:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        series.setdefault(key, []).append(s)
    for key, points in series.items():
        assert [float(p.labels["le"]) for p in points] == [*bounds, float("inf")]
        counts = [p.value for p in points]
        assert counts == sorted(counts)  # cumulative
        assert value(samples, f"{name}_count", **dict(key)) == counts[-1]
        assert value(samples, f"{name}_sum", **dict(key)) is not None


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaneThread]:
    for plane in start_plane(tmp_path_factory.mktemp("legacy"), "legacy"):
        plane.add("hello-v1", {"SIM_LATENCY_MS": "0"})
        plane.add("hello-v2", {"SIM_LATENCY_MS": "0"})
        plane.wait_ready("hello-v1")
        plane.wait_ready("hello-v2")
        _send_mix(plane)
        yield plane


@pytest.fixture(scope="module")
def otel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaneThread]:
    for plane in start_plane(tmp_path_factory.mktemp("otel"), "otel"):
        plane.add("hello-v1", {"SIM_LATENCY_MS": "0"})
        plane.add("hello-v2", {"SIM_LATENCY_MS": "0"})
        plane.wait_ready("hello-v1")
        plane.wait_ready("hello-v2")
        _send_mix(plane)
        yield plane


def test_legacy_request_count_has_knative_labels_and_route_tags(legacy: PlaneThread) -> None:
    v1, v2 = _scrape(legacy, "hello-v1"), _scrape(legacy, "hello-v2")
    count = select(v1, "revision_request_count")
    assert {s.labels["route_tag"]: s.value for s in count} == {"DEFAULT": 4, "UNDEFINED": 2}
    assert {s.labels["route_tag"]: s.value for s in select(v2, "revision_request_count")} == {
        "v2": 4
    }
    labels = count[0].labels
    assert labels["namespace_name"] == "default"
    assert labels["service_name"] == "hello"
    assert labels["configuration_name"] == "hello"
    assert labels["revision_name"] == "hello-v1"
    assert labels["pod_name"].startswith("hello-v1-deployment-")
    assert labels["container_name"] == "queue-proxy"
    assert (labels["response_code"], labels["response_code_class"]) == ("200", "2xx")


def test_legacy_histograms_use_knative_millisecond_buckets(legacy: PlaneThread) -> None:
    samples = _scrape(legacy, "hello-v1")
    _check_histogram(samples, "revision_request_latencies", LEGACY_BUCKETS_MS)
    _check_histogram(samples, "revision_app_request_latencies", LEGACY_BUCKETS_MS)
    assert value(samples, "revision_app_request_count") == 6
    assert all("route_tag" not in s.labels for s in select(samples, "revision_app_request_count"))
    # Unlimited concurrency: Knative reports no queue depth.
    assert value(samples, "revision_queue_depth") is None


def test_otel_metrics_carry_the_revision_only_on_target_info(otel: PlaneThread) -> None:
    samples = _scrape(otel, "hello-v1")
    (info,) = select(samples, "target_info")
    assert info.labels["k8s_namespace_name"] == "default"
    assert info.labels["kn_revision_name"] == "hello-v1"
    assert info.labels["kn_service_name"] == "hello"
    assert info.labels["kn_configuration_name"] == "hello"
    requests = select(samples, "http_server_request_duration_seconds_count")
    assert {s.labels["kn_route_tag"]: s.value for s in requests} == {
        "kn:default": 4,
        "kn:undefined": 2,
    }
    assert all(s.labels["http_response_status_code"] == "200" for s in requests)
    for s in samples:
        if s.name != "target_info":
            assert "kn_revision_name" not in s.labels and "revision_name" not in s.labels
    _check_histogram(samples, "http_server_request_duration_seconds", OTEL_BUCKETS_S)
    _check_histogram(samples, "kn_serving_invocation_duration_seconds", OTEL_BUCKETS_S)
    assert value(samples, "kn_serving_invocation_duration_seconds_count") == 6
    assert select(samples, "revision_request_count") == []


def test_legacy_latency_is_recorded_in_whole_milliseconds() -> None:
    metrics = RequestMetrics(IDENTITY, "legacy")
    for seconds in (0.0049, 0.0051, 0.0099, 0.0101, 7.0):
        metrics.record_request("GET", 200, seconds, "DEFAULT")
    samples = parse(metrics.render())
    buckets = {
        s.labels["le"]: s.value for s in select(samples, "revision_request_latencies_bucket")
    }
    # 4.9 -> 4 ms and 5.1 -> 5 ms fall in le=5; 9.9 -> 9 in le=10; 10.1 -> 10 in le=10.
    assert (buckets["5"], buckets["10"], buckets["20"], buckets["5000"], buckets["10000"]) == (
        2, 4, 4, 4, 5,
    )  # fmt: skip
    assert value(samples, "revision_request_latencies_sum") == 4 + 5 + 9 + 10 + 7000


def test_error_responses_are_labelled_5xx() -> None:
    metrics = RequestMetrics(IDENTITY, "legacy", queue_depth=lambda: 3)
    metrics.record_request("GET", 500, 0.001, "DEFAULT")
    metrics.record_request("GET", 503, 0.001, "DEFAULT")
    metrics.record_app(500, 0.001)
    samples = parse(metrics.render())
    assert value(samples, "revision_request_count", response_code_class="5xx") == 2
    assert value(samples, "revision_app_request_count", response_code="500") == 1
    assert value(samples, "revision_queue_depth") == 3


@pytest.mark.parametrize(
    ("tag", "default_route", "legacy_tag", "otel_tag"),
    [
        (None, "true", "DEFAULT", "kn:default"),
        ("canary", None, "canary", "canary"),
        ("canary", "true", "UNDEFINED", "kn:undefined"),
        (None, None, "DISABLED", "kn:disabled"),
    ],
)
def test_route_tag_follows_queue_proxy(
    tag: str | None, default_route: str | None, legacy_tag: str, otel_tag: str
) -> None:
    assert route_tag(tag, default_route, "legacy") == legacy_tag
    assert route_tag(tag, default_route, "otel") == otel_tag


def test_without_tag_header_routing_route_tag_is_disabled(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for plane in start_plane(tmp_path_factory.mktemp("notags"), tag_header_routing=False):
        plane.add("hello-v1", {"SIM_LATENCY_MS": "0"})
        plane.wait_ready("hello-v1")
        plane.set_routes(route_hosts(NAMESPACE, "hello", TRAFFIC[:1], domain="example.com"))
        for host in (MAIN, "v1-hello.default.example.com"):
            httpx.get(plane.url + "/", headers={"Host": host}, timeout=60)
        tags = {
            s.labels["route_tag"]
            for s in select(_scrape(plane, "hello-v1"), "revision_request_count")
        }
        assert tags == {"DISABLED"}
