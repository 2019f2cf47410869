"""Read models built from API objects, with and without status."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.knative.model import RevisionState, ServiceState
from harness.knative.traffic import TrafficTarget


def test_service_without_status() -> None:
    state = ServiceState.from_object(
        {"metadata": {"name": "hello", "generation": 1}, "spec": {"template": {}}}
    )
    assert state.name == "hello" and state.namespace == "default"
    assert state.ready is False
    assert state.observed_generation is None
    assert state.spec_traffic == () and state.status_traffic == ()
    assert state.url is None and state.domain is None
    assert state.latest_ready_revision is None


def test_service_with_status() -> None:
    obj = {
        "metadata": {
            "name": "hello",
            "namespace": "prod",
            "generation": 3,
            "resourceVersion": "42",
            "annotations": {"a": "b"},
        },
        "spec": {"traffic": [{"revisionName": "hello-v1", "percent": 100}]},
        "status": {
            "observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "True"}],
            "url": "http://hello.prod.apps.corp.io",
            "latestCreatedRevisionName": "hello-v2",
            "latestReadyRevisionName": "hello-v2",
            "traffic": [
                {"revisionName": "hello-v1", "percent": 100, "latestRevision": False},
                {
                    "revisionName": "hello-v2",
                    "percent": 0,
                    "tag": "c",
                    "url": "http://c-hello.prod.apps.corp.io",
                },
            ],
        },
    }
    state = ServiceState.from_object(obj)
    assert state.ready and state.generation == 3 and state.resource_version == "42"
    assert state.spec_traffic == (TrafficTarget(percent=100, revision_name="hello-v1"),)
    assert state.tag_urls() == {"c": "http://c-hello.prod.apps.corp.io"}
    assert state.domain == "apps.corp.io"
    assert state.latest_created_revision == "hello-v2"
    assert dict(state.annotations) == {"a": "b"}


def test_service_not_ready_while_generation_lags() -> None:
    obj = {
        "metadata": {"name": "hello", "generation": 4},
        "status": {
            "observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "RoutesReady"}],
        },
    }
    assert ServiceState.from_object(obj).ready is False


def test_revision_state() -> None:
    obj = {
        "metadata": {
            "name": "hello-v2",
            "namespace": "default",
            "labels": {
                "serving.knative.dev/service": "hello",
                "serving.knative.dev/configurationGeneration": "2",
            },
            "creationTimestamp": "2025-01-02T03:04:05Z",
        },
        "spec": {
            "containerConcurrency": 10,
            "containers": [
                {
                    "image": "img",
                    "env": [
                        {"name": "TARGET", "value": "v2"},
                        {"name": "FROM", "valueFrom": {"secretKeyRef": {}}},
                    ],
                }
            ],
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ExitCode1", "message": "boom"}
            ]
        },
    }
    rev = RevisionState.from_object(obj)
    assert rev.service == "hello" and rev.configuration_generation == 2
    assert rev.env == {"TARGET": "v2"}
    assert rev.container_concurrency == 10 and rev.image == "img"
    assert (rev.ready, rev.reason, rev.message) == (False, "ExitCode1", "boom")
    assert rev.created == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_revision_without_status_or_spec() -> None:
    rev = RevisionState.from_object({"metadata": {"name": "hello-00001"}})
    assert rev.name == "hello-00001" and not rev.ready and rev.env == {}
    assert rev.container_concurrency is None and rev.created is None
