"""Knative's webhook rules for whole objects, with its messages and paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.knative import validation
from harness.knative.validation import (
    ClusterConfig,
    FieldError,
    admission_denial,
    format_errors,
    validate_route,
)


def _without_insecure_defaults(fn: Any) -> Any:
    # Knative warns about insecure securityContext defaults for every container; these
    # tests are about the other rules (tests/knative/test_knative_corpus.py has those).
    def wrapped(*args: Any, **kwargs: Any) -> list[FieldError]:
        return [e for e in fn(*args, **kwargs) if e.rule != "insecure-default"]

    return wrapped


validate_service = _without_insecure_defaults(validation.validate_service)
validate_configuration = _without_insecure_defaults(validation.validate_configuration)
validate_object = _without_insecure_defaults(validation.validate_object)

SERVICE: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {"name": "hello", "namespace": "default"},
    "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go"}]}}},
}


def service(
    template_annotations: dict[str, Any] | None = None,
    *,
    annotations: dict[str, Any] | None = None,
    traffic: list[dict[str, Any]] | None = None,
    revision: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    obj = copy.deepcopy(SERVICE)
    template = obj["spec"]["template"]
    if template_annotations is not None:
        template.setdefault("metadata", {})["annotations"] = template_annotations
    if revision is not None:
        template.setdefault("metadata", {})["name"] = revision
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    if traffic is not None:
        obj["spec"]["traffic"] = traffic
    template["spec"].update(spec)
    return obj


def errors_of(obj: dict[str, Any], config: ClusterConfig | None = None) -> list[str]:
    return [str(e) for e in validate_object(obj, config)]


A = "spec.template.metadata.annotations."
K = "autoscaling.knative.dev/"
AK = A + K


def test_minimal_service_is_valid() -> None:
    assert errors_of(service()) == []


def test_field_error_prints_as_knative() -> None:
    e = FieldError("expected 0 <= 101 <= 100", ["spec.traffic[0].percent"])
    assert str(e) == "expected 0 <= 101 <= 100: spec.traffic[0].percent"
    assert str(FieldError("m", ("a", "b"), details="d")) == "m: a, b\nd"


def test_denial_merges_sorts_and_omits_warnings() -> None:
    errors = [
        FieldError("b msg", ("x",)),
        FieldError("a msg", ("z",)),
        FieldError("a msg", ("y",)),
        FieldError("w", ("q",), level="warning"),
    ]
    assert format_errors(errors[:3]) == "a msg: y, z\nb msg: x"
    assert admission_denial(errors) == (
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
        "validation failed: a msg: y, z\nb msg: x"
    )


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (
            {"autoscaling.knative.dev/class": "foo.knative.dev"},
            f"invalid value: foo.knative.dev: {AK}class",
        ),
        (
            {"autoscaling.knative.dev/min-scale": "-1"},
            f"expected 0 <= -1 <= 2147483647: {AK}min-scale",
        ),
        (
            {"autoscaling.knative.dev/minScale": "x"},
            f"invalid value: x: {AK}minScale",
        ),
        (
            {"autoscaling.knative.dev/max-scale": "99999999999"},
            f"expected 0 <= 99999999999 <= 2147483647: {AK}max-scale",
        ),
        (
            {"autoscaling.knative.dev/min-scale": "5", "autoscaling.knative.dev/maxScale": "2"},
            f"max-scale=2 is less than min-scale=5: {AK}max-scale, {AK}min-scale",
        ),
        (
            {"autoscaling.knative.dev/activation-scale": "1"},
            f"activation-scale=1 must be greater than 1: {AK}activation-scale",
        ),
        (
            {
                "autoscaling.knative.dev/activation-scale": "3",
                "autoscaling.knative.dev/min-scale": "4",
            },
            f"min-scale=4 is greater than activation-scale=3: {AK}activation-scale",
        ),
        (
            {
                "autoscaling.knative.dev/activation-scale": "3",
                "autoscaling.knative.dev/max-scale": "2",
            },
            f"max-scale=2 is less than activation-scale=3: {AK}activation-scale",
        ),
        (
            {"autoscaling.knative.dev/target": "0"},
            f"target 0 should be at least 0.01: {AK}target",
        ),
        (
            {"autoscaling.knative.dev/target": "1_0"},
            f"invalid value: 1_0: {AK}target",
        ),
        (
            {"autoscaling.knative.dev/targetUtilizationPercentage": "101"},
            f"expected 1 <= 101 <= 100: {AK}targetUtilizationPercentage",
        ),
        (
            {"autoscaling.knative.dev/target-burst-capacity": "-2"},
            f"invalid value: -2: {AK}target-burst-capacity",
        ),
        (
            {"autoscaling.knative.dev/window": "5s"},
            f"expected 6s <= 5s <= 1h0m0s: {AK}window",
        ),
        (
            {"autoscaling.knative.dev/window": "6.5s"},
            f"must be specified with at most second precision: {AK}window",
        ),
        (
            {"autoscaling.knative.dev/window": "60"},
            f"invalid value: 60: {AK}window",
        ),
        (
            {"autoscaling.knative.dev/panic-window-percentage": "0.5"},
            f"expected 1 <= 0.5 <= 100: {AK}panic-window-percentage",
        ),
        (
            {"autoscaling.knative.dev/panicThresholdPercentage": "100"},
            f"expected 110 <= 100 <= 1000: {AK}panicThresholdPercentage",
        ),
        (
            {"autoscaling.knative.dev/scale-to-zero-pod-retention-period": "2h"},
            f"expected 0s <= 2h <= 1h0m0s: {AK}scale-to-zero-pod-retention-period",
        ),
        (
            {"autoscaling.knative.dev/scaleDownDelay": "1.5s"},
            f"must be specified with at most second precision: {AK}scaleDownDelay",
        ),
        (
            {"autoscaling.knative.dev/metric": "cpu"},
            f"invalid value: cpu: {AK}metric",
        ),
        (
            {
                "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                "autoscaling.knative.dev/metric-aggregation-algorithm": "median",
            },
            f"invalid value: median: {AK}metric-aggregation-algorithm",
        ),
        (
            {"autoscaling.knative.dev/initial-scale": "0"},
            f"invalid value: 0: {AK}initial-scale=0 not allowed by cluster",
        ),
        (
            {"autoscaling.knative.dev/initialScale": "-1"},
            f"invalid value: -1: {AK}initialScale must be greater than 0",
        ),
    ],
)
def test_autoscaling_annotation_errors(annotations: dict[str, str], expected: str) -> None:
    assert errors_of(service(annotations)) == [expected]


@pytest.mark.parametrize(
    "annotations",
    [
        {
            "autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev",
            "autoscaling.knative.dev/metric": "cpu",
        },
        {
            "autoscaling.knative.dev/class": "custom.example.com",
            "autoscaling.knative.dev/metric": "anything",
        },
        {"autoscaling.knative.dev/metric": "rps", "autoscaling.knative.dev/target": "0.01"},
        {"autoscaling.knative.dev/min-scale": "5", "autoscaling.knative.dev/max-scale": "0"},
        {"autoscaling.knative.dev/activation-scale": "3", "autoscaling.knative.dev/max-scale": "3"},
        {"autoscaling.knative.dev/target-burst-capacity": "-1"},
        {"autoscaling.knative.dev/window": "1h"},
        {"autoscaling.knative.dev/scale-down-delay": "1m30s"},
        {
            "autoscaling.knative.dev/metric-aggregation-algorithm": "median"
        },  # not checked without class
        {"autoscaling.knative.dev/initial-scale": "+2"},
    ],
)
def test_autoscaling_annotations_knative_accepts(annotations: dict[str, str]) -> None:
    assert errors_of(service(annotations)) == []


def test_kebab_case_wins_over_camel_case() -> None:
    anns = {"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/minScale": "bad"}
    assert errors_of(service(anns)) == []


def test_cluster_config_changes_outcomes() -> None:
    anns = {"autoscaling.knative.dev/initial-scale": "0"}
    assert errors_of(service(anns), ClusterConfig(allow_zero_initial_scale=True)) == []
    limited = ClusterConfig(max_scale_limit=10)
    assert errors_of(service({"autoscaling.knative.dev/max-scale": "11"}), limited) == [
        f"expected 1 <= 11 <= 10: {AK}max-scale"
    ]
    assert errors_of(service({"autoscaling.knative.dev/max-scale": "0"}), limited) == [
        f"max-scale=0 (unlimited), must be less than 10: {AK}max-scale"
    ]
    hpa = ClusterConfig(pod_autoscaler_class="hpa.autoscaling.knative.dev")
    assert errors_of(service({"autoscaling.knative.dev/metric": "cpu"}), hpa) == []


def test_autoscaling_annotations_rejected_on_service_metadata() -> None:
    (error,) = validate_service(service(annotations={"autoscaling.knative.dev/minScale": "1"}))
    assert str(error) == (
        'invalid key name "autoscaling.knative.dev/minScale": metadata.annotations\n'
        'autoscaling annotations must be put under "spec.template.metadata.annotations" to work'
    )


def test_rollout_duration_on_service_metadata() -> None:
    key = "serving.knative.dev/rollout-duration"
    assert errors_of(service(annotations={key: "240s"})) == []
    assert errors_of(service(annotations={key: "1.5s"})) == [
        f"rollout-duration=1.5s is not at second precision: metadata.annotations.{key}"
    ]
    assert errors_of(service(annotations={key: "-5s"})) == [
        f"rollout-duration=-5s must be positive: metadata.annotations.{key}"
    ]
    assert errors_of(service(annotations={"serving.knative.dev/rolloutDuration": "x"})) == [
        "invalid value: x: metadata.annotations.serving.knative.dev/rolloutDuration"
    ]
    # Under the template it is neither read nor validated.
    assert errors_of(service({key: "nonsense"})) == []


def test_revision_name_rules() -> None:
    assert errors_of(service(revision="hello-v2")) == []
    assert errors_of(service(revision="v2")) == [
        'invalid value: "v2" must have prefix "hello-": spec.template.metadata.name'
    ]
    (error,) = errors_of(service(revision="hello_v2"))
    assert error.startswith("invalid value: not a DNS 1035 label: [a DNS-1035 label")
    assert error.endswith(": spec.template.metadata.name")


def test_service_name_rules() -> None:
    obj = service()
    obj["metadata"]["name"] = "Hello"
    (error,) = errors_of(obj)
    assert error.startswith("not a DNS 1035 label: [") and error.endswith(": metadata.name")
    del obj["metadata"]["name"]
    assert errors_of(obj) == ["name or generateName is required: metadata.name"]


def test_container_concurrency_and_timeout_bounds() -> None:
    assert errors_of(service(containerConcurrency=0)) == []
    assert errors_of(service(containerConcurrency=1001)) == [
        "expected 0 <= 1001 <= 1000: spec.template.spec.containerConcurrency"
    ]
    assert errors_of(
        service(containerConcurrency=0), ClusterConfig(allow_container_concurrency_zero=False)
    ) == ["expected 1 <= 0 <= 1000: spec.template.spec.containerConcurrency"]
    assert errors_of(service(timeoutSeconds=601)) == [
        "expected 0 <= 601 <= 600: spec.template.spec.timeoutSeconds"
    ]


def test_missing_containers_and_image() -> None:
    obj = service()
    obj["spec"]["template"]["spec"] = {}
    assert errors_of(obj) == ["missing field(s): spec.template.spec.containers"]
    obj["spec"]["template"]["spec"] = {"containers": [{"name": "x"}]}
    assert errors_of(obj) == ["missing field(s): spec.template.spec.containers[0].image"]


def test_service_traffic_defaults_then_validates() -> None:
    assert errors_of(service(traffic=[])) == []
    assert errors_of(service(traffic=[{"revisionName": "hello-1", "percent": 50}])) == [
        "Traffic targets sum to 50, want 100: spec.traffic"
    ]


def test_schema_errors_instead_of_crashes() -> None:
    obj = service({"autoscaling.knative.dev/min-scale": 1}, traffic=[{"percent": "100"}])
    errors = validate_service(obj)
    assert {e.rule for e in errors} == {"schema"}
    assert [e.paths[0] for e in errors] == [
        f"{AK}min-scale",
        "spec.traffic[0]",
    ]
    assert validate_service({"metadata": "x", "spec": []})  # does not raise


def test_route_rules() -> None:
    route = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Route",
        "metadata": {"name": "r", "annotations": {"autoscaling.knative.dev/window": "10s"}},
        "spec": {"traffic": [{"configurationName": "c", "percent": 100}]},
    }
    errors = [str(e) for e in validate_route(route)]
    assert errors == [
        'invalid key name "autoscaling.knative.dev/window": metadata.annotations\n'
        'autoscaling annotations must be put under "spec.template.metadata.annotations" to work'
    ]
    route["metadata"] = {"name": "r"}
    route["spec"] = {}
    assert errors_of(route) == ["Traffic targets sum to 0, want 100: spec.traffic"]


def test_configuration_rules() -> None:
    config = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Configuration",
        "metadata": {"name": "c", "labels": {"serving.knative.dev/service": "s"}},
        "spec": {
            "template": {"metadata": {"name": "x-1"}, "spec": {"containers": [{"image": "i"}]}}
        },
    }
    assert [str(e) for e in validate_configuration(config)] == [
        "missing field(s): metadata.labels.serving.knative.dev/service",
        'invalid value: "x-1" must have prefix "c-": spec.template.metadata.name',
    ]


def test_validate_object_rejects_other_kinds() -> None:
    with pytest.raises(ValueError, match=r"not a serving\.knative\.dev/v1"):
        validate_object({"apiVersion": "v1", "kind": "ConfigMap"})
