"""Every lint rule with a manifest that triggers it and one that does not.

``test_every_rule_has_cases`` keeps the table complete: a rule added to the catalogue
without cases here fails the suite.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.knative.cluster import ClusterConfig
from harness.knative.features import Features
from harness.knative.lint import lint_text
from harness.knative.rules.catalogue import RULES
from harness.knative.update_validation import UPDATE_RULES

K = "autoscaling.knative.dev/"


def service(
    template_annotations: dict[str, Any] | None = None,
    *,
    annotations: dict[str, Any] | None = None,
    traffic: list[dict[str, Any]] | None = None,
    revision: str | None = None,
    name: str = "hello",
    image: str = "ghcr.io/knative/helloworld-go:latest",
    env: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    template: dict[str, Any] = {"spec": {"containers": [container], **spec}}
    if template_annotations is not None or revision is not None:
        template["metadata"] = {}
        if template_annotations is not None:
            template["metadata"]["annotations"] = template_annotations
        if revision is not None:
            template["metadata"]["name"] = revision
    obj: dict[str, Any] = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"template": template},
    }
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    if traffic is not None:
        obj["spec"]["traffic"] = traffic
    return obj


def route(traffic: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Route",
        "metadata": {"name": "r", **metadata},
        "spec": {"traffic": traffic},
    }


def rev(name: str, percent: int | None = None, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"revisionName": name}
    if percent is not None:
        entry["percent"] = percent
    entry.update(more)
    return entry


def with_(obj: dict[str, Any], *keys: str, value: Any) -> dict[str, Any]:
    """A copy of obj with obj[k1]...[kn] = value."""
    out = copy.deepcopy(obj)
    target = out
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return out


@dataclass
class Case:
    rule: str
    bad: dict[str, Any] | str
    good: dict[str, Any] | str
    config: ClusterConfig = field(default_factory=ClusterConfig)
    security_warnings: bool = False


def anns(**kv: str) -> dict[str, str]:
    return {K + k.replace("_", "-"): v for k, v in kv.items()}


HPA = {K + "class": "hpa.autoscaling.knative.dev"}
S = service()

CASES = [
    Case("yaml-syntax", "kind: Service\nmetadata: [\n", S),
    Case("schema", service({K + "min-scale": 1}), service({K + "min-scale": "1"})),
    Case(
        "duplicate-key",
        yaml.safe_dump(S) + "kind: Service\n",
        yaml.safe_dump(S),
    ),
    Case("api-version", with_(S, "apiVersion", value="serving.knative.dev/v1alpha1"), S),
    Case("metadata-name", service(name="Hello"), S),
    Case(
        "metadata-owner-label",
        route([rev("s-1", 100)], labels={"serving.knative.dev/service": "s"}),
        route(
            [rev("s-1", 100)],
            labels={"serving.knative.dev/service": "s"},
            ownerReferences=[{"kind": "Service", "name": "s", "apiVersion": "v1", "uid": "u"}],
        ),
    ),
    Case(
        "traffic-sum", service(traffic=[rev("hello-1", 50)]), service(traffic=[rev("hello-1", 100)])
    ),
    Case(
        "traffic-percent-range",
        service(traffic=[rev("hello-1", 101), rev("hello-2", -1)]),
        service(traffic=[rev("hello-1", 100), rev("hello-2", 0, tag="b")]),
    ),
    Case(
        "traffic-tag-name",
        service(traffic=[rev("hello-1", 100, tag="Blue")]),
        service(traffic=[rev("hello-1", 100, tag="blue")]),
    ),
    Case(
        "traffic-tag-unique",
        service(traffic=[rev("hello-1", 100, tag="a"), rev("hello-2", 0, tag="a")]),
        service(traffic=[rev("hello-1", 100, tag="a"), rev("hello-2", 0, tag="b")]),
    ),
    Case(
        "traffic-latest-revision",
        service(traffic=[rev("hello-1", 100, latestRevision=True)]),
        service(traffic=[rev("hello-1", 100, latestRevision=False)]),
    ),
    Case(
        "traffic-configuration-name",
        service(traffic=[{"configurationName": "hello", "percent": 100}]),
        service(traffic=[{"latestRevision": True, "percent": 100}]),
    ),
    Case(
        "traffic-revision-or-configuration",
        route([{"percent": 100}]),
        route([{"configurationName": "c", "percent": 100}]),
    ),
    Case(
        "traffic-revision-name",
        service(traffic=[rev("hello-1$", 100)]),
        service(traffic=[rev("hello-1", 100)]),
    ),
    Case(
        "traffic-url",
        service(traffic=[rev("hello-1", 100, tag="a", url="http://a")]),
        service(traffic=[rev("hello-1", 100, tag="a")]),
    ),
    Case("revision-name", service(revision="hello_v2"), service(revision="hello-v2")),
    Case("revision-name-prefix", service(revision="v2"), service(revision="hello-v2")),
    Case("containers", with_(S, "spec", "template", "spec", value={}), S),
    Case("disallowed-field", service(nodeSelector={"disk": "ssd"}), S),
    Case("unknown-field", service(nodName="node-1"), S),
    Case(
        "serving-container",
        service(containers=[{"image": "a", "ports": [{"containerPort": 8080}]}, {"image": "b"}]),
        S,
        config=ClusterConfig(features=Features.parse(["multi-container=disabled"])),
    ),
    Case(
        "container-ports",
        service(containers=[{"image": "a", "ports": [{"containerPort": 8012}]}]),
        service(containers=[{"image": "a", "ports": [{"containerPort": 8080}]}]),
    ),
    Case(
        "probes",
        service(containers=[{"image": "a", "livenessProbe": {"periodSeconds": 5}}]),
        service(containers=[{"image": "a", "livenessProbe": {"httpGet": {"path": "/"}}}]),
    ),
    Case("env", service(env={"PORT": "9000"}), service(env={"MY_PORT": "9000"})),
    Case(
        "volumes",
        service(
            containers=[{"image": "a", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
            volumes=[{"name": "v"}],
        ),
        service(
            containers=[{"image": "a", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
            volumes=[{"name": "v", "secret": {"secretName": "s"}}],
        ),
    ),
    Case(
        "volume-mounts",
        service(containers=[{"image": "a", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]),
        S,
    ),
    Case("init-containers", service(initContainers=[{"image": "a"}]), S),
    Case(
        "security-context",
        service(containers=[{"image": "a", "securityContext": {"runAsUser": -1}}]),
        service(containers=[{"image": "a", "securityContext": {"runAsUser": 1000}}]),
    ),
    Case(
        "service-account-name",
        service(serviceAccountName="Bad_Name"),
        service(serviceAccountName="builder"),
    ),
    Case(
        "queue-resource-annotation",
        service({"queue.sidecar.serving.knative.dev/cpu-resource-request": "lots"}),
        service({"queue.sidecar.serving.knative.dev/cpu-resource-request": "250m"}),
    ),
    Case(
        "insecure-default",
        S,
        service(
            containers=[
                {
                    "image": "a",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "allowPrivilegeEscalation": False,
                        "seccompProfile": {"type": "RuntimeDefault"},
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ]
        ),
        security_warnings=True,
    ),
    Case("image-reference", service(image="Docker.io/Me/App"), service(image="docker.io/me/app:1")),
    Case(
        "container-concurrency",
        service(containerConcurrency=1001),
        service(containerConcurrency=1000),
    ),
    Case("timeout-seconds", service(timeoutSeconds=601), service(timeoutSeconds=600)),
    Case(
        "autoscaling-annotation-placement",
        service(annotations={K + "min-scale": "1"}),
        service({K + "min-scale": "1"}),
    ),
    Case(
        "networking-annotation",
        service({"networking.knative.dev/visibility": "cluster-local"}),
        service({"networking.knative.dev/ingress.class": "kourier.ingress.networking.knative.dev"}),
    ),
    Case(
        "autoscaling-class", service(anns(**{"class": "kpb.autoscaling.knative.dev"})), service(HPA)
    ),
    Case("autoscaling-min-scale", service(anns(min_scale="-1")), service(anns(min_scale="0"))),
    Case("autoscaling-max-scale", service(anns(max_scale="x")), service(anns(max_scale="10"))),
    Case(
        "autoscaling-max-below-min",
        service(anns(min_scale="3", max_scale="2")),
        service(anns(min_scale="3", max_scale="3")),
    ),
    Case(
        "autoscaling-activation-scale",
        service(anns(activation_scale="1")),
        service(anns(activation_scale="2")),
    ),
    Case("autoscaling-target", service(anns(target="0.001")), service(anns(target="0.01"))),
    Case(
        "autoscaling-target-utilization",
        service({K + "targetUtilizationPercentage": "0"}),
        service({K + "targetUtilizationPercentage": "70"}),
    ),
    Case(
        "autoscaling-target-burst-capacity",
        service(anns(target_burst_capacity="-5")),
        service(anns(target_burst_capacity="-1")),
    ),
    Case("autoscaling-window", service(anns(window="2h")), service(anns(window="40s"))),
    Case(
        "autoscaling-panic-window",
        service(anns(panic_window_percentage="101")),
        service(anns(panic_window_percentage="10")),
    ),
    Case(
        "autoscaling-panic-threshold",
        service(anns(panic_threshold_percentage="1001")),
        service(anns(panic_threshold_percentage="200")),
    ),
    Case(
        "autoscaling-scale-to-zero-retention",
        service(anns(scale_to_zero_pod_retention_period="-1s")),
        service(anns(scale_to_zero_pod_retention_period="1m")),
    ),
    Case(
        "autoscaling-scale-down-delay",
        service(anns(scale_down_delay="2h")),
        service(anns(scale_down_delay="15m")),
    ),
    Case("autoscaling-metric", service(anns(metric="cpu")), service({**HPA, K + "metric": "cpu"})),
    Case(
        "autoscaling-aggregation-algorithm",
        service(
            {K + "class": "kpa.autoscaling.knative.dev", K + "metric-aggregation-algorithm": "mean"}
        ),
        service(
            {
                K + "class": "kpa.autoscaling.knative.dev",
                K + "metric-aggregation-algorithm": "linear",
            }
        ),
    ),
    Case(
        "autoscaling-initial-scale",
        service(anns(initial_scale="-1")),
        service(anns(initial_scale="2")),
    ),
    Case(
        "autoscaling-initial-scale-zero",
        service(anns(initial_scale="0")),
        service(anns(initial_scale="1")),
    ),
    Case(
        "rollout-duration",
        service(annotations={"serving.knative.dev/rollout-duration": "1.5s"}),
        service(annotations={"serving.knative.dev/rollout-duration": "380s"}),
    ),
    Case(
        "progress-deadline",
        service({"serving.knative.dev/progress-deadline": "10"}),
        service({"serving.knative.dev/progress-deadline": "10m"}),
    ),
    Case(
        "queue-resource-percentage",
        service({"queue.sidecar.serving.knative.dev/resource-percentage": "200"}),
        service({"queue.sidecar.serving.knative.dev/cpu-resource-request": "100m"}),
    ),
    Case(
        "annotation-ignored",
        service({"serving.knative.dev/rollout-duration": "240s"}),
        service(annotations={"serving.knative.dev/rollout-duration": "240s"}),
    ),
    Case("unknown-annotation", service({K + "minscale": "1"}), service({K + "minScale": "1"})),
    Case(
        "duplicate-spelling",
        service(anns(min_scale="1") | {K + "minScale": "2"}),
        service(anns(min_scale="1", max_scale="2")),
    ),
    Case(
        "placeholder-value",
        service(env={"TARGET": "<your-name>"}),
        service(env={"TARGET": "World"}),
    ),
    Case("ko-image", service(image="ko://example.com/app"), service(image="example.com/app")),
    Case(
        "target-above-container-concurrency",
        service(anns(target="50"), containerConcurrency=10),
        service(anns(target="10"), containerConcurrency=10),
    ),
    Case(
        "initial-scale-below-min-scale",
        service(anns(initial_scale="1", min_scale="3")),
        service(anns(initial_scale="3", min_scale="3")),
    ),
    Case("kpa-only-annotation", service({**HPA, K + "window": "40s"}), service(anns(window="40s"))),
    Case(
        "aggregation-algorithm-unchecked",
        service(anns(metric_aggregation_algorithm="median")),
        service(anns(metric_aggregation_algorithm="weighted-exponential")),
    ),
    Case(
        "revision-not-owned",
        service(traffic=[rev("other-1", 100)]),
        service(traffic=[rev("hello-1", 100)]),
    ),
    Case(
        "tag-host-too-long",
        service(traffic=[rev("hello-1", 100, tag="t" * 60)]),
        service(traffic=[rev("hello-1", 100, tag="t" * 57)]),
    ),
    Case(
        "traffic-untagged-zero",
        service(traffic=[rev("hello-1", 100), rev("hello-2", 0)]),
        service(traffic=[rev("hello-1", 100), rev("hello-2", 0, tag="next")]),
    ),
    Case("skipped-kind", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, S),
]


def _text(manifest: dict[str, Any] | str) -> str:
    return manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False)


def _rules(
    manifest: dict[str, Any] | str, config: ClusterConfig, security_warnings: bool = False
) -> set[str]:
    report = lint_text(_text(manifest), "m.yaml", config, security_warnings=security_warnings)
    if report.error:
        return {"yaml-syntax"}
    return {f.rule for f in report.findings}


def test_every_rule_has_cases() -> None:
    # The update rules need a previous object: tests/knative/test_update_validation.py.
    assert sorted({c.rule for c in CASES} | set(UPDATE_RULES)) == sorted(RULES)


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_rule_fires_on_bad_manifest(case: Case) -> None:
    assert case.rule in _rules(case.bad, case.config, case.security_warnings)


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_rule_silent_on_good_manifest(case: Case) -> None:
    assert case.rule not in _rules(case.good, case.config, case.security_warnings)


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_finding_severity_matches_catalogue(case: Case) -> None:
    report = lint_text(
        _text(case.bad), "m.yaml", case.config, security_warnings=case.security_warnings
    )
    for finding in report.findings:
        if finding.rule == case.rule and case.rule != "queue-resource-percentage":
            assert finding.severity == RULES[case.rule].severity


def test_queue_resource_percentage_is_also_a_deprecation_warning() -> None:
    report = lint_text(
        _text(service({"queue.sidecar.serving.knative.dev/resource-percentage": "50"})),
        "m",
        security_warnings=False,
    )
    assert [(f.severity, f.rule) for f in report.findings] == [
        ("warning", "queue-resource-percentage")
    ]


def test_did_you_mean_suggests_the_close_key() -> None:
    report = lint_text(_text(service({K + "max-scales": "3"})), "m", security_warnings=False)
    (finding,) = report.findings
    assert finding.message == f"unknown annotation {K}max-scales; did you mean {K}max-scale?"


def test_findings_point_at_the_line_of_their_field() -> None:
    text = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations:
    autoscaling.knative.dev/minScale: "1"
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/window: "1s"
    spec:
      containers:
      - image: ghcr.io/knative/helloworld-go
  traffic:
  - revisionName: hello-1
    percent: 90
"""
    findings = {f.rule: f for f in lint_text(text, "m").findings}
    assert findings["autoscaling-annotation-placement"].line == 6
    assert findings["autoscaling-window"].line == 11
    assert findings["autoscaling-window"].field == f"spec.template.metadata.annotations.{K}window"
    assert findings["autoscaling-window"].message == "expected 6s <= 1s <= 1h0m0s"
    assert findings["traffic-sum"].line == 15
    assert findings["traffic-sum"].message == "Traffic targets sum to 90, want 100"


def test_cluster_flags_change_outcomes() -> None:
    zero = service(anns(initial_scale="0"))
    assert "autoscaling-initial-scale-zero" in _rules(zero, ClusterConfig())
    assert _rules(zero, ClusterConfig(allow_zero_initial_scale=True)) == set()
    hpa_default = ClusterConfig(pod_autoscaler_class="hpa.autoscaling.knative.dev")
    assert _rules(service(anns(metric="cpu")), hpa_default) == set()
    selector = service(nodeSelector={"disk": "ssd"})
    assert _rules(selector, ClusterConfig()) == {"disallowed-field"}
    gate = Features.parse(["kubernetes.podspec-nodeselector=enabled"])
    assert _rules(selector, ClusterConfig(features=gate)) == set()


def test_unknown_fields_get_the_api_servers_refusal_and_a_did_you_mean() -> None:
    manifest = service(
        nodName="n",
        hostname="h",
        containers=[{"image": "a", "imagePullPolicyy": "Always", "lifecycle": {}}],
    )
    report = lint_text(_text(manifest), "m", security_warnings=False)
    found = {f.field: (f.rule, f.message) for f in report.findings}
    pod = "spec.template.spec"
    assert found[f"{pod}.nodName"] == (
        "unknown-field",
        f'unknown field "{pod}.nodName"; did you mean nodeName? (a Kubernetes pod field '
        "Knative does not support)",
    )
    assert found[f"{pod}.hostname"][1].endswith("Knative does not support the pod field hostname")
    assert found[f"{pod}.containers[0].imagePullPolicyy"][1].endswith(
        "did you mean imagePullPolicy?"
    )
    assert found[f"{pod}.containers[0].lifecycle"] == (
        "unknown-field",
        f'unknown field "{pod}.containers[0].lifecycle"; Knative does not support the '
        "container field lifecycle",
    )
    # The API server refuses lifecycle before the webhook: no second finding for it.
    assert [f.rule for f in report.findings].count("disallowed-field") == 0
    assert all(f.line for f in report.findings)


def test_a_gated_field_names_its_feature() -> None:
    report = lint_text(_text(service(nodeSelector={"disk": "ssd"})), "m", security_warnings=False)
    (finding,) = report.findings
    assert finding.message == (
        "must not set the field(s); nodeSelector needs the feature "
        "kubernetes.podspec-nodeselector (--feature kubernetes.podspec-nodeselector=enabled)"
    )
    typo = lint_text(_text(service(nodeSelecter={"a": "b"})), "m", security_warnings=False)
    (finding,) = typo.findings
    assert finding.message.endswith(
        "did you mean nodeSelector? (it needs the feature kubernetes.podspec-nodeselector)"
    )


def test_non_knative_documents_do_not_stop_the_others() -> None:
    text = (
        _text({"apiVersion": "v1", "kind": "ConfigMap"}) + "---\n" + _text(service(revision="v2"))
    )
    report = lint_text(text, "m", security_warnings=False)
    assert [(f.severity, f.rule) for f in report.findings] == [
        ("info", "skipped-kind"),
        ("error", "revision-name-prefix"),
    ]


def test_docs_list_every_rule_with_its_severity() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "lint.md").read_text()
    for rule in RULES.values():
        assert f"| `{rule.id}` | {rule.severity} |" in docs, rule.id


def test_documentation_placeholders_are_flagged() -> None:
    manifest = service(
        annotations={
            "networking.knative.dev/ingress.class": "<ingress-type>.ingress.networking.knative.dev"
        }
    )
    (finding,) = lint_text(_text(manifest), "m", security_warnings=False).findings
    assert finding.rule == "placeholder-value"
    assert finding.field == "metadata.annotations.networking.knative.dev/ingress.class"
    assert finding.message.startswith("<ingress-type> looks like a placeholder")


def test_a_skipped_document_says_what_it_lacks_and_what_lint_checks() -> None:
    """A document without apiVersion or kind (a canary spec, a workflow) was reported as
    'None/None is not a Knative Service, Route, Configuration or Revision', a list that
    left out the Brokers and Triggers lint also checks."""
    cases = {
        "name: x\n": "skipped: a document without apiVersion and kind is not",
        "kind: Service\n": "skipped: kind Service without apiVersion is not",
        "apiVersion: v1\n": "skipped: v1 without kind is not",
        "apiVersion: v1\nkind: ConfigMap\n": "skipped: v1/ConfigMap is not",
    }
    for text, start in cases.items():
        (finding,) = lint_text(text, "m", security_warnings=False).findings
        assert finding.rule == "skipped-kind"
        assert finding.message.startswith(start), finding.message
        assert finding.message.endswith(
            "a Knative Service, Route, Configuration, Revision, Broker or Trigger"
        ), finding.message
