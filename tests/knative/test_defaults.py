"""Knative's defaulting (harness.knative.defaults), rule by rule, per revision_defaults.go,
service_defaults.go, configuration_defaults.go and route_defaults.go at 98e5ef90."""

from __future__ import annotations

from typing import Any

from harness.knative.cluster import ClusterConfig
from harness.knative.defaults import defaulted, set_defaults
from harness.knative.features import Features
from harness.knative.validation import validate_object


def service(pod: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": pod}, **spec},
    }


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def test_a_bare_service_gets_what_a_cluster_shows() -> None:
    out = defaulted(service({"containers": [{"image": "img"}]}))
    assert pod_of(out) == {
        "containers": [
            {
                "image": "img",
                "name": "user-container",
                "readinessProbe": {"successThreshold": 1, "tcpSocket": {"port": 0}},
                "resources": {},
            }
        ],
        "containerConcurrency": 0,
        "enableServiceLinks": False,
        "timeoutSeconds": 300,
    }
    assert out["spec"]["traffic"] == [{"percent": 100, "latestRevision": True}]


def test_the_input_is_not_changed() -> None:
    obj = service({"containers": [{"image": "img"}]})
    defaulted(obj)
    assert obj["spec"] == {"template": {"spec": {"containers": [{"image": "img"}]}}}


def test_container_names_with_several_containers_and_clashes() -> None:
    pod = {
        "containers": [{"image": "a", "ports": [{"containerPort": 8080}]}, {"image": "b"}],
        "initContainers": [{"image": "i"}, {"name": "init-container-0", "image": "j"}],
    }
    out = pod_of(defaulted(service(pod)))
    assert [c["name"] for c in out["containers"]] == ["user-container-0", "user-container-1"]
    # The taken name is skipped; the suffix counts on.
    assert [c["name"] for c in out["initContainers"]] == ["init-container-1", "init-container-0"]


def test_one_unnamed_container_next_to_a_user_container_gets_a_suffix() -> None:
    pod = {"containers": [{"image": "a", "name": "user-container"}]}
    out = pod_of(defaulted(service(pod)))
    assert out["containers"][0]["name"] == "user-container"
    pod = {"containers": [{"image": "a"}], "initContainers": [{"name": "user-container"}]}
    assert pod_of(defaulted(service(pod)))["containers"][0]["name"] == "user-container-0"


def test_only_the_serving_container_gets_a_readiness_probe() -> None:
    pod = {"containers": [{"image": "a", "ports": [{"containerPort": 8080}]}, {"image": "b"}]}
    out = pod_of(defaulted(service(pod)))
    assert out["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": 0}
    assert "readinessProbe" not in out["containers"][1]


def test_probe_thresholds_when_period_is_set_and_grpc_service() -> None:
    probe = {"httpGet": {"path": "/"}, "periodSeconds": 5}
    liveness = {"grpc": {"port": 9090}}
    pod = {"containers": [{"image": "a", "readinessProbe": probe, "livenessProbe": liveness}]}
    container = pod_of(defaulted(service(pod)))["containers"][0]
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/"},
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 3,
        "timeoutSeconds": 1,
    }
    assert container["livenessProbe"]["grpc"] == {"port": 9090, "service": ""}


def test_timeouts_and_concurrency_from_config_defaults() -> None:
    config = ClusterConfig(
        revision_timeout_seconds=120,
        revision_idle_timeout_seconds=60,
        response_start_timeout_seconds=30,
        container_concurrency=10,
    )
    out = pod_of(defaulted(service({"containers": [{"image": "a"}], "timeoutSeconds": 0}), config))
    assert out["timeoutSeconds"] == 120
    assert out["idleTimeoutSeconds"] == 60
    assert out["responseStartTimeoutSeconds"] == 30
    assert out["containerConcurrency"] == 10
    # Knative's shipped defaults set neither idle nor response-start timeout.
    plain = pod_of(defaulted(service({"containers": [{"image": "a"}], "timeoutSeconds": 10})))
    assert "idleTimeoutSeconds" not in plain and "responseStartTimeoutSeconds" not in plain
    assert plain["timeoutSeconds"] == 10


def test_resources_per_config_defaults_keep_the_users() -> None:
    config = ClusterConfig(revision_requests={"cpu": "100m"}, revision_limits={"memory": "1Gi"})
    pod = {"containers": [{"image": "a", "resources": {"requests": {"cpu": "1"}}}]}
    resources = pod_of(defaulted(service(pod), config))["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}


def test_mounts_of_read_only_volume_kinds_become_read_only() -> None:
    pod = {
        "containers": [
            {
                "image": "a",
                "volumeMounts": [
                    {"name": "secret", "mountPath": "/s"},
                    {"name": "scratch", "mountPath": "/tmp/x"},
                ],
            }
        ],
        "volumes": [
            {"name": "secret", "secret": {"secretName": "s"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    }
    mounts = pod_of(defaulted(service(pod)))["containers"][0]["volumeMounts"]
    assert mounts[0]["readOnly"] is True
    assert "readOnly" not in mounts[1]


def test_secure_pod_defaults() -> None:
    pod = {"containers": [{"image": "a", "ports": [{"containerPort": 80}]}]}
    enabled = ClusterConfig(features=Features.from_map({"secure-pod-defaults": "Enabled"}))
    sc = pod_of(defaulted(service(pod), enabled))["containers"][0]["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "runAsNonRoot": True,
    }
    bounded = ClusterConfig(features=Features.from_map({"secure-pod-defaults": "AllowRootBounded"}))
    sc = pod_of(defaulted(service(pod), bounded))["containers"][0]["securityContext"]
    assert "runAsNonRoot" not in sc
    assert "securityContext" not in pod_of(defaulted(service(pod)))["containers"][0]


def test_traffic_targets_and_routes() -> None:
    out = defaulted(service({"containers": [{"image": "a"}]}, traffic=[{"revisionName": "x"}]))
    assert out["spec"]["traffic"] == [{"revisionName": "x", "latestRevision": False, "percent": 0}]
    route = {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": {"name": "r"}}
    assert defaulted(route)["spec"] == {}  # a Route gets no default traffic


def test_an_update_keeping_a_named_template_is_not_defaulted() -> None:
    old = defaulted(service({"containers": [{"image": "a"}]}))
    old["spec"]["template"]["metadata"] = {"name": "hello-one"}
    changed = service({"containers": [{"image": "b"}]})
    changed["spec"]["template"]["metadata"] = {"name": "hello-one"}
    set_defaults(changed, None, old)
    assert pod_of(changed) == {"containers": [{"image": "b"}]}
    # The same template re-sent without the server's fields is the stored one.
    same = service({"containers": [{"image": "a"}]})
    same["spec"]["template"]["metadata"] = {"name": "hello-one"}
    set_defaults(same, None, old)
    assert same["spec"]["template"] == old["spec"]["template"]


def test_a_revision_is_defaulted_on_create_only() -> None:
    rev = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {"name": "r"},
        "spec": {"containers": [{"image": "a"}]},
    }
    assert defaulted(rev)["spec"]["timeoutSeconds"] == 300
    update = {**rev, "spec": {"containers": [{"image": "a"}]}}
    set_defaults(update, None, rev)
    assert update["spec"] == {"containers": [{"image": "a"}]}


def test_validation_sees_the_defaulted_object() -> None:
    # Without defaulting, two unnamed containers would both be "" (no duplicate error:
    # Knative names them first); a port-less multi-container pod has no serving port.
    pod = {"containers": [{"image": "a", "ports": [{"containerPort": 8080}]}, {"image": "b"}]}
    assert [e for e in validate_object(service(pod)) if e.level == "error"] == []
