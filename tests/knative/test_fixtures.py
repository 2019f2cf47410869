"""Public Knative manifests (fixtures/SOURCES.md) give the outcomes Knative would give."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.knative.cluster import ClusterConfig
from harness.knative.field_error import only_errors
from harness.knative.lint import lint_path
from harness.knative.manifest import parse_manifests
from harness.knative.validation import validate_object

FIXTURES = Path(__file__).parent / "fixtures"

# file -> (rules of the errors, rules of the warnings) under Knative's default config.
# Knative's own insecure-default warning comes once per document with containers
# (INSECURE below), as kubectl shows it on apply.
EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    # {username} is not a valid image reference: the webhook rejects both documents.
    "01-docs-tag-header-based-routing.yaml": (
        ["image-reference", "image-reference"],
        ["placeholder-value", "placeholder-value"],
    ),
    "02-docs-first-traffic-split-hello.yaml": ([], []),
    "03-serving-configuration-and-route.yaml": ([], ["ko-image"]),
    # rollout-duration under spec.template is neither validated nor read.
    "04-serving-rollout-probe-camelcase-annotations.yaml": ([], ["annotation-ignored", "ko-image"]),
    "05-docs-autoscale-go-target.yaml": ([], []),
    # Documentation snippets without containers: the webhook requires one.
    "06-docs-hpa-cpu-metric.yaml": (["containers"], []),
    "07-docs-kpa-rps-metric.yaml": (["containers"], []),
    "08-docs-kpa-window.yaml": ([], []),
    # initial-scale 0 needs allow-zero-initial-scale on the cluster (default false).
    "09-docs-initial-scale-zero.yaml": (["autoscaling-initial-scale-zero"], []),
    "10-serving-load-test-tbc.yaml": ([], ["ko-image", "ko-image", "ko-image"]),
}


INSECURE = {
    "01-docs-tag-header-based-routing.yaml": 2,
    "02-docs-first-traffic-split-hello.yaml": 1,
    "03-serving-configuration-and-route.yaml": 1,
    "04-serving-rollout-probe-camelcase-annotations.yaml": 1,
    "05-docs-autoscale-go-target.yaml": 1,
    "08-docs-kpa-window.yaml": 1,
    "09-docs-initial-scale-zero.yaml": 1,
    "10-serving-load-test-tbc.yaml": 3,
}


def test_every_fixture_has_an_expected_outcome() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_outcome(name: str) -> None:
    report = lint_path(str(FIXTURES / name))
    assert report.error is None
    errors = sorted(f.rule for f in report.findings if f.severity == "error")
    warnings = sorted(f.rule for f in report.findings if f.severity == "warning")
    expected = EXPECTED[name][1] + ["insecure-default"] * INSECURE.get(name, 0)
    assert (errors, warnings) == (sorted(EXPECTED[name][0]), sorted(expected))


def test_initial_scale_zero_passes_where_the_cluster_allows_it() -> None:
    report = lint_path(
        str(FIXTURES / "09-docs-initial-scale-zero.yaml"),
        ClusterConfig(allow_zero_initial_scale=True),
    )
    assert [f.rule for f in report.findings] == ["insecure-default"]


def test_initial_scale_zero_message_is_knatives() -> None:
    (doc,) = parse_manifests((FIXTURES / "09-docs-initial-scale-zero.yaml").read_text())
    (error,) = only_errors(validate_object(doc.obj))
    assert str(error) == (
        "invalid value: 0: spec.template.metadata.annotations."
        "autoscaling.knative.dev/initial-scale=0 not allowed by cluster"
    )


def test_camel_case_annotations_are_read() -> None:
    # minScale 50 / maxScale 100 / targetBurstCapacity -1 are all valid values.
    (doc,) = parse_manifests(
        (FIXTURES / "04-serving-rollout-probe-camelcase-annotations.yaml").read_text()
    )
    anns = doc.obj["spec"]["template"]["metadata"]["annotations"]
    anns["autoscaling.knative.dev/maxScale"] = "10"
    (error,) = only_errors(validate_object(doc.obj))
    assert error.message == "max-scale=10 is less than min-scale=50"
