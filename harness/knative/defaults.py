"""Knative's defaulting webhook (``SetDefaults``), which runs before validation.

From knative/serving ``pkg/apis/serving/v1/{service,configuration,route,revision}_defaults.go``
(98e5ef90), with the ``config-defaults`` values of ``ClusterConfig``:

* a revision spec: ``timeoutSeconds`` (absent or 0: revision-timeout-seconds),
  ``idleTimeoutSeconds`` / ``responseStartTimeoutSeconds`` (their config defaults when
  non-zero and below the timeout), ``containerConcurrency``, container names
  (``user-container``; with several containers or a clash ``user-container-0``, ``-1``, ...;
  init containers likewise), per container resources from revision-cpu-request etc.,
  the serving container's readiness probe (a TCP probe when none is given;
  successThreshold 1; failureThreshold 3 and timeoutSeconds 1 when periodSeconds is set),
  a gRPC probe's ``service`` "", ``enableServiceLinks`` on create, mounts of read-only
  volume kinds made readOnly, and the ``secure-pod-defaults`` securityContext;
* a Service: its template (unless an update keeps the template's own revision name) and
  its traffic (none: 100% to the latest revision); a Configuration: its template; a
  Route: its traffic targets (``latestRevision`` when no revisionName, ``percent`` 0);
  a Revision: its spec, on create only.

The creator/lastModifier annotations (``SetUserInfo``), which need the requesting user,
are ``harness.knative.user_info``'s. Objects are JSON dicts; parts of the wrong shape
are left alone for validation to report.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from harness.knative.cluster import ClusterConfig
from harness.knative.features import ALLOW_ROOT_BOUNDED, ENABLED, SECURE_POD_DEFAULTS

JSON = dict[str, Any]

USER_CONTAINER = "user-container"
INIT_CONTAINER = "init-container"
_HANDLERS = ("tcpSocket", "httpGet", "exec", "grpc")
_WRITABLE = ("emptyDir", "persistentVolumeClaim", "ephemeral")
_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _dicts(value: Any) -> list[JSON]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _mapping(parent: JSON, key: str) -> JSON | None:
    """``parent[key]`` as a dict, created when absent; None when it has another shape."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else None


def _name_containers(containers: list[JSON], taken: set[str], default: str) -> None:
    # applyDefaultContainerNames: with several containers, or when the default name is
    # a user's, unnamed ones get default-0, default-1, ... skipping names in use.
    suffix = 0
    for container in containers:
        if container.get("name"):
            continue
        name = default
        if len(containers) > 1 or name in taken:
            while True:
                name = f"{default}-{suffix}"
                suffix += 1
                if name not in taken:
                    break
        container["name"] = name


def _resources(container: JSON, config: ClusterConfig) -> None:
    resources = _mapping(container, "resources")
    if resources is None:
        return
    for kind, defaults in (
        ("requests", config.revision_requests),
        ("limits", config.revision_limits),
    ):
        wanted = {k: v for k, v in defaults.items() if k in _RESOURCES}
        if not wanted:
            continue
        values = _mapping(resources, kind)
        if values is None:
            continue
        for name, quantity in wanted.items():
            values.setdefault(name, quantity)


def _readiness(container: JSON, serving: bool) -> None:
    if serving:
        probe = _mapping(container, "readinessProbe")
        if probe is not None and all(probe.get(h) is None for h in _HANDLERS):
            # An empty TCPSocketAction: its port marshals as 0.
            probe["tcpSocket"] = {"port": 0}
    probe = container.get("readinessProbe")
    if not isinstance(probe, dict):
        return
    if not probe.get("successThreshold"):
        probe["successThreshold"] = 1
    if probe.get("periodSeconds"):
        if not probe.get("failureThreshold"):
            probe["failureThreshold"] = 3
        if not probe.get("timeoutSeconds"):
            probe["timeoutSeconds"] = 1


def _grpc_service(container: JSON) -> None:
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(kind)
        grpc = probe.get("grpc") if isinstance(probe, dict) else None
        if isinstance(grpc, dict) and grpc.get("service") is None:
            grpc["service"] = ""


def _secure_context(pod: JSON, container: JSON, flag: str) -> None:
    # defaultSecurityContext: the restricted profile's fields, when secure-pod-defaults
    # is Enabled or AllowRootBounded.
    if flag not in (ENABLED, ALLOW_ROOT_BOUNDED):
        return
    pod_sc = pod.get("securityContext")
    psc: JSON = pod_sc if isinstance(pod_sc, dict) else {}
    sc = container.get("securityContext")
    if sc is None:
        sc = {}
    if not isinstance(sc, dict):
        return
    sc.setdefault("allowPrivilegeEscalation", False)
    pod_seccomp = psc.get("seccompProfile")
    if not isinstance(pod_seccomp, dict) or not pod_seccomp.get("type"):
        seccomp = sc.get("seccompProfile")
        if not isinstance(seccomp, dict):
            seccomp = sc["seccompProfile"] = {}
        if not seccomp.get("type"):
            seccomp["type"] = "RuntimeDefault"
    if sc.get("capabilities") is None:
        capabilities: JSON = {"drop": ["ALL"]}
        ports = _dicts(container.get("ports"))
        if any(
            isinstance(p.get("containerPort"), int) and p["containerPort"] < 1024 for p in ports
        ):
            capabilities["add"] = ["NET_BIND_SERVICE"]
        sc["capabilities"] = capabilities
    if flag == ENABLED and psc.get("runAsNonRoot") is None:
        sc.setdefault("runAsNonRoot", True)
    if sc:
        container["securityContext"] = sc


def set_revision_spec_defaults(spec: JSON, config: ClusterConfig, *, create: bool = True) -> None:
    """``RevisionSpec.SetDefaults``, in place."""
    timeout = spec.get("timeoutSeconds")
    if timeout is None or timeout == 0:
        spec["timeoutSeconds"] = timeout = config.revision_timeout_seconds
    if isinstance(timeout, int) and not isinstance(timeout, bool):
        idle = config.revision_idle_timeout_seconds
        if spec.get("idleTimeoutSeconds") is None and idle != 0 and idle < timeout:
            spec["idleTimeoutSeconds"] = idle
        start = config.response_start_timeout_seconds
        if spec.get("responseStartTimeoutSeconds") is None and start != 0 and start < timeout:
            spec["responseStartTimeoutSeconds"] = start
    if spec.get("containerConcurrency") is None:
        spec["containerConcurrency"] = config.container_concurrency
    containers = _dicts(spec.get("containers"))
    init = _dicts(spec.get("initContainers"))
    taken = {str(c.get("name")) for c in containers + init if c.get("name")}
    _name_containers(containers, taken, config.user_container_name)
    _name_containers(init, taken, config.init_container_name)
    writable = {
        v.get("name")
        for v in _dicts(spec.get("volumes"))
        if any(v.get(k) is not None for k in _WRITABLE)
    }
    flag = config.features.flag(SECURE_POD_DEFAULTS)
    for container in containers:
        _resources(container, config)
        serving = len(spec.get("containers") or []) == 1 or bool(container.get("ports"))
        _readiness(container, serving)
        _grpc_service(container)
        links = config.enable_service_links
        if spec.get("enableServiceLinks") is None and create and links is not None:
            spec["enableServiceLinks"] = links
        for mount in _dicts(container.get("volumeMounts")):
            if mount.get("name") not in writable:
                mount["readOnly"] = True
        _secure_context(spec, container, flag)
    for container in init:
        _secure_context(spec, container, flag)


def default_revision_spec(
    spec: Mapping[str, Any], config: ClusterConfig | None = None, *, create: bool = True
) -> JSON:
    """A defaulted copy of a revision template's ``spec``."""
    out = copy.deepcopy(dict(spec))
    set_revision_spec_defaults(out, config or ClusterConfig(), create=create)
    return out


def _set_template_defaults(
    spec: JSON, config: ClusterConfig, old: Mapping[str, Any] | None
) -> None:
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    if old is not None:
        # ConfigurationSpec.SetDefaults: an update that keeps the template's own
        # revision name leaves the template alone.
        old_spec = old.get("spec")
        old_t = old_spec.get("template") if isinstance(old_spec, Mapping) else None
        old_meta = old_t.get("metadata") if isinstance(old_t, Mapping) else None
        meta = template.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if name and isinstance(old_meta, Mapping) and old_meta.get("name") == name:
            # A template the same as the stored one but for the fields defaulting filled
            # in (what a re-sent manifest is, and what kubectl apply's merge leaves) is
            # taken as the stored one; any other change keeps its own values and
            # Knative's name-change check refuses it.
            candidate = copy.deepcopy(template)
            pod = candidate.get("spec")
            if isinstance(pod, dict):
                set_revision_spec_defaults(pod, config, create=False)
            if candidate == old_t or _without_links(candidate) == _without_links(old_t):
                spec["template"] = copy.deepcopy(old_t)
            return
    pod = template.get("spec")
    if pod is None:
        pod = template["spec"] = {}
    if isinstance(pod, dict):
        set_revision_spec_defaults(pod, config, create=old is None)
        if old is not None and pod.get("enableServiceLinks") is None:
            # Defaulted on create only; an update through kubectl apply keeps the stored
            # value (its merge patch does not remove it), and so does the emulator.
            old_pod = _path(old, "spec", "template", "spec")
            if isinstance(old_pod, Mapping) and "enableServiceLinks" in old_pod:
                pod["enableServiceLinks"] = old_pod["enableServiceLinks"]


def _path(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _without_links(template: Any) -> Any:
    # enableServiceLinks is defaulted on create only.
    out = copy.deepcopy(template)
    if isinstance(out, dict) and isinstance(out.get("spec"), dict):
        out["spec"].pop("enableServiceLinks", None)
    return out


def _set_traffic_defaults(spec: JSON, *, in_service: bool) -> None:
    traffic = spec.get("traffic")
    if not traffic and in_service:
        spec["traffic"] = [{"percent": 100, "latestRevision": True}]
        return
    for target in _dicts(traffic):
        if target.get("latestRevision") is None:
            target["latestRevision"] = not target.get("revisionName")
        if target.get("percent") is None:
            target["percent"] = 0


def set_defaults(obj: JSON, config: ClusterConfig | None = None, old: JSON | None = None) -> None:
    """Knative's ``SetDefaults`` for a Service, Configuration, Route or Revision, in place;
    ``old`` is the stored object on an update (None on create)."""
    config = config or ClusterConfig()
    kind = obj.get("kind")
    spec = obj.get("spec")
    if spec is None and kind in ("Service", "Configuration", "Route", "Revision"):
        spec = obj["spec"] = {}
    if not isinstance(spec, dict):
        return
    if kind in ("Service", "Configuration"):
        _set_template_defaults(spec, config, old)
    if kind == "Service":
        _set_traffic_defaults(spec, in_service=True)
    elif kind == "Route":
        _set_traffic_defaults(spec, in_service=False)
    elif kind == "Revision" and old is None:
        set_revision_spec_defaults(spec, config, create=True)


def defaulted(obj: Mapping[str, Any], config: ClusterConfig | None = None) -> JSON:
    """A defaulted copy of ``obj`` as the webhook would see it on create."""
    out = copy.deepcopy(dict(obj))
    set_defaults(out, config)
    return out
