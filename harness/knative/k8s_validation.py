"""Knative's validation of a revision's pod spec: containers, sidecars, init containers,
volumes, mounts, ports, probes, env, envFrom, resources and security contexts.

Rule for rule from knative/serving ``pkg/apis/serving/k8s_validation.go`` (98e5ef90),
written for plain dicts as read from YAML/JSON. Paths are relative to the pod spec
(``containers[0].ports.containerPort``) and messages are Knative's. Where Knative adds
prefixes to everything collected so far (``envFrom``, probe handlers), so does this.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.knative import fieldmask as mask
from harness.knative.features import Features
from harness.knative.field_error import FieldError
from harness.knative.images import image_reference_error, is_image_reference
from harness.knative.names import dns1123_subdomain_problems
from harness.knative.traffic import json_type

MAX_INT32 = 2**31 - 1
RESERVED_PATHS = frozenset({"/", "/dev", "/dev/log"})
RESERVED_CONTAINER_NAMES = frozenset({"queue-proxy"})
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"})
RESERVED_SIDECAR_ENV = RESERVED_ENV - {"PORT"}
# networking.BackendHTTPPort, BackendHTTP2Port, QueueAdminPort, AutoscalingQueueMetricsPort,
# UserQueueMetricsPort and the profiling port.
RESERVED_PORTS = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
VALID_PORT_NAMES = frozenset({"h2c", "http1", ""})
TERMINATION_MESSAGE_POLICIES = frozenset({"File", "FallbackToLogsOnError", ""})
PULL_POLICIES = frozenset({"IfNotPresent", "Always", "Never", ""})
INSECURE_DEFAULT = (
    "Kubernetes default value is insecure, Knative may default this to secure in a future release"
)

Errors = list[FieldError]
Obj = Mapping[str, Any]
USER, SIDECAR, INIT = "user", "sidecar", "init"


def _err(message: str, *paths: str, details: str = "", rule: str) -> FieldError:
    return FieldError(message, paths, details=details, rule=rule)


def _invalid(value: Any, path: str, details: str = "", *, rule: str) -> FieldError:
    return FieldError(f"invalid value: {_go(value)}", (path,), details=details, rule=rule)


def _bounds(value: Any, low: Any, high: Any, path: str, *, rule: str) -> FieldError:
    return FieldError(f"expected {_go(low)} <= {_go(value)} <= {_go(high)}", (path,), rule=rule)


def _go(value: Any) -> str:
    """How Go's ``%v`` prints a JSON value."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "<nil>"
    return str(value)


def _via(errors: Sequence[FieldError], *prefix: str) -> Errors:
    return [e.via(*prefix) for e in errors]


def _obj(value: Any) -> Obj:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _disallowed(obj: Obj, allowed: Any, *, known: frozenset[str] = frozenset()) -> Errors:
    error = mask.disallowed(obj, allowed, known=known)
    return [error] if error else []


def go_clean(path: str) -> str:
    """Go's ``path.Clean``."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


# --- volumes -------------------------------------------------------------------------


def _key_to_path(item: Obj) -> Errors:
    errors = _disallowed(item, mask.STATIC_MASKS["KeyToPath"])
    if not _str(item.get("key")):
        errors.append(_err("missing field(s)", "key", rule="volumes"))
    if not _str(item.get("path")):
        errors.append(_err("missing field(s)", "path", rule="volumes"))
    return errors


def _items_of(source: Obj) -> Errors:
    errors: Errors = []
    for i, item in enumerate(_items(source.get("items"))):
        errors += _via(_key_to_path(_obj(item)), "items", f"[{i}]")
    return errors


def _projection(proj: Obj) -> Errors:
    errors = _disallowed(proj, mask.STATIC_MASKS["VolumeProjection"])
    specified = []
    for key, kind in (("secret", "SecretProjection"), ("configMap", "ConfigMapProjection")):
        if proj.get(key) is not None:
            specified.append(key)
            source = _obj(proj[key])
            local = _disallowed(source, mask.STATIC_MASKS[kind])
            if not _str(source.get("name")):
                local.append(_err("missing field(s)", "name", rule="volumes"))
            errors += _via(local + _items_of(source), key)
    if (token := proj.get("serviceAccountToken")) is not None:
        specified.append("serviceAccountToken")
        source = _obj(token)
        local = _disallowed(source, mask.STATIC_MASKS["ServiceAccountTokenProjection"])
        if not _str(source.get("path")):
            local.append(_err("missing field(s)", "path", rule="volumes"))
        errors += _via(local, "serviceAccountToken")
    if (dapi := proj.get("downwardAPI")) is not None:
        specified.append("downwardAPI")
        source = _obj(dapi)
        local = _disallowed(source, mask.STATIC_MASKS["DownwardAPIProjection"])
        for i, item in enumerate(_items(source.get("items"))):
            local += _via(_downward_api_file(_obj(item)), "items", f"[{i}]")
        errors += _via(local, "downwardAPI")
    if not specified:
        errors.append(
            _err(
                "expected exactly one, got neither",
                "secret",
                "configMap",
                "serviceAccountToken",
                "downwardAPI",
                rule="volumes",
            )
        )
    elif len(specified) > 1:
        errors.append(_err("expected exactly one, got both", *specified, rule="volumes"))
    return errors


def _downward_api_file(item: Obj) -> Errors:
    errors = _disallowed(item, mask.STATIC_MASKS["DownwardAPIVolumeFile"])
    field_ref, resource_ref = item.get("fieldRef"), item.get("resourceFieldRef")
    if field_ref is None and resource_ref is None:
        errors.append(
            _err(
                "expected exactly one, got neither", "fieldRef", "resourceFieldRef", rule="volumes"
            )
        )
    if field_ref is not None and resource_ref is not None:
        errors.append(
            _err(
                "Within a single item, cannot set both",
                "resourceFieldRef",
                "fieldRef",
                rule="volumes",
            )
        )
    if not _str(item.get("path")):
        errors.append(_err("missing field(s)", "path", rule="volumes"))
    return errors


def _quantity_negative(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value < 0
    return isinstance(value, str) and value.strip().startswith("-")


def _volume(volume: Obj, features: Features) -> Errors:
    rule = "volumes"
    name = _str(volume.get("name"))
    errors: Errors = []
    pvc = volume.get("persistentVolumeClaim")
    if pvc is not None:
        claim = _obj(pvc)
        claim_name = _str(claim.get("claimName"))
        if not features.enabled("kubernetes.podspec-persistent-volume-claim"):
            errors.append(
                _err(
                    "Persistent volume claim support is disabled, but found persistent volume "
                    f"claim {claim_name}",
                    rule=rule,
                )
            )
        if claim.get("readOnly") is not True and not features.enabled(
            "kubernetes.podspec-persistent-volume-write"
        ):
            errors.append(
                _err(
                    "Persistent volume write support is disabled, but found persistent volume "
                    f"claim {claim_name} that is not read-only",
                    rule=rule,
                )
            )
    for key, label, flag in (
        ("image", "Image", "kubernetes.podspec-volumes-image"),
        ("emptyDir", "EmptyDir", "kubernetes.podspec-volumes-emptydir"),
        ("hostPath", "HostPath", "kubernetes.podspec-volumes-hostpath"),
        ("csi", "CSI", "kubernetes.podspec-volumes-csi"),
        ("ephemeral", "Ephemeral", "kubernetes.podspec-volumes-ephemeral"),
    ):
        if volume.get(key) is not None and not features.enabled(flag):
            errors.append(
                _err(
                    f"{label} volume support is disabled, but found {label} volume {name}",
                    rule=rule,
                )
            )
    # Knative replaces (not extends) the errors so far when the name is missing or bad.
    if not name:
        errors = [_err("missing field(s)", "name", rule=rule)]
    elif not is_dns1123_label(name):
        errors = [_invalid(name, "name", rule=rule)]
    errors += _disallowed(volume, mask.volume_source_allowed(features))
    specified = []
    for key in ("secret", "configMap"):
        if volume.get(key) is not None:
            specified.append(key)
            # Knative names these items[i] without the source (k8s_validation.go).
            errors += _items_of(_obj(volume[key]))
    if volume.get("projected") is not None:
        specified.append("projected")
        for i, proj in enumerate(_items(_obj(volume["projected"]).get("sources"))):
            errors += _via(_projection(_obj(proj)), "projected", f"[{i}]")
    if volume.get("emptyDir") is not None:
        specified.append("emptyDir")
        empty_dir = _obj(volume["emptyDir"])
        medium = _str(empty_dir.get("medium"))
        if medium not in ("", "Memory"):
            errors.append(_invalid(medium, "emptyDir.medium", rule=rule))
        size = empty_dir.get("sizeLimit")
        if size is not None and _quantity_negative(size):
            errors.append(_invalid(size, "emptyDir.sizeLimit", rule=rule))
    for key in ("persistentVolumeClaim", "hostPath", "csi", "ephemeral"):
        if volume.get(key) is not None:
            specified.append(key)
    if volume.get("image") is not None:
        specified.append("image")
        image = _obj(volume["image"])
        local = _disallowed(image, mask.STATIC_MASKS["ImageVolumeSource"])
        if not _str(image.get("reference")):
            local.append(_err("missing field(s)", "reference", rule=rule))
        pull = _str(image.get("pullPolicy"))
        if pull not in PULL_POLICIES:
            local.append(_invalid(pull, "pullPolicy", rule=rule))
        errors += _via(local, "image")
    if not specified:
        paths = ["secret", "configMap", "projected"]
        for key, flag in (
            ("emptyDir", "kubernetes.podspec-volumes-emptydir"),
            ("persistentVolumeClaim", "kubernetes.podspec-persistent-volume-claim"),
            ("hostPath", "kubernetes.podspec-volumes-hostpath"),
            ("csi", "kubernetes.podspec-volumes-csi"),
            ("ephemeral", "kubernetes.podspec-volumes-ephemeral"),
            ("image", "kubernetes.podspec-volumes-image"),
        ):
            if features.enabled(flag):
                paths.append(key)
        errors.append(_err("expected exactly one, got neither", *paths, rule=rule))
    elif len(specified) > 1:
        errors.append(_err("expected exactly one, got both", *specified, rule=rule))
    return errors


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns1123_label(value: str) -> bool:
    """Kubernetes' ``IsDNS1123Label``: at most 63 of ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``."""
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None


def validate_volumes(
    volumes: list[Any], mounted: set[str], features: Features
) -> tuple[dict[str, Obj], Errors]:
    """``ValidateVolumes``: the volumes by name, and errors relative to ``volumes``."""
    by_name: dict[str, Obj] = {}
    errors: Errors = []
    for i, item in enumerate(volumes):
        volume = _obj(item)
        name = _str(volume.get("name"))
        index = f"[{i}]"
        if name in by_name:
            errors.append(_err(f'duplicate volume name "{name}"', f"{index}.name", rule="volumes"))
        if name not in mounted:
            errors.append(
                _err(f'volume with name "{name}" not mounted', f"{index}.name", rule="volumes")
            )
        errors += _via(_volume(volume, features), index)
        by_name[name] = volume
    return by_name, errors


def _volume_mounts(mounts: list[Any], volumes: Mapping[str, Obj], features: Features) -> Errors:
    rule = "volume-mounts"
    errors: Errors = []
    seen_paths: set[str] = set()
    allowed = mask.volume_mount_allowed(features)
    for i, item in enumerate(mounts):
        vm = _obj(item)
        index = f"[{i}]"
        name = _str(vm.get("name"))
        errors += _via(_disallowed(vm, allowed), index)
        if name not in volumes:
            errors.append(_err("volumeMount has no matching volume", f"{index}.name", rule=rule))
        mount_path = _str(vm.get("mountPath"))
        clean = go_clean(mount_path)
        if not mount_path:
            errors.append(_err("missing field(s)", f"{index}.mountPath", rule=rule))
        elif clean in RESERVED_PATHS:
            errors.append(
                _err(f'mountPath "{clean}" is a reserved path', f"{index}.mountPath", rule=rule)
            )
        elif not mount_path.startswith("/"):
            errors.append(_invalid(mount_path, f"{index}.mountPath", rule=rule))
        elif clean in seen_paths:
            errors.append(
                _invalid(f'"{mount_path}" must be unique', f"{index}.mountPath", rule=rule)
            )
        seen_paths.add(clean)
        volume = volumes.get(name, {})
        read_only = vm.get("readOnly") is True
        writable_kind = any(
            volume.get(k) is not None for k in ("emptyDir", "persistentVolumeClaim", "ephemeral")
        )
        if not writable_kind and not read_only:
            errors.append(
                _err(
                    "volume mount should be readOnly for this type of volume",
                    f"{index}.readOnly",
                    rule=rule,
                )
            )
        propagation = vm.get("mountPropagation")
        if propagation is not None:
            if not features.enabled("kubernetes.podspec-volumes-mount-propagation"):
                errors.append(
                    _err(
                        "Volume Mount Propagation support is disabled, but found volume mount "
                        f"{name} with mount propagation",
                        rule=rule,
                    )
                )
            if propagation not in ("None", "HostToContainer"):
                errors.append(
                    _err(
                        "mount propagation should be set to None or HostToContainer",
                        f"{index}.mountPropagation",
                        rule=rule,
                    )
                )
        pvc = volume.get("persistentVolumeClaim")
        if pvc is not None and _obj(pvc).get("readOnly") is True and not read_only:
            errors.append(
                _err("volume is readOnly but volume mount is not", f"{index}.readOnly", rule=rule)
            )
    return errors


# --- ports ---------------------------------------------------------------------------


def _port_basic(port: Obj) -> Errors:
    rule = "container-ports"
    errors = _disallowed(port, mask.STATIC_MASKS["ContainerPort"])
    number = _int(port.get("containerPort"))
    if number in RESERVED_PORTS:
        errors.append(
            _invalid(
                f"{number} is a reserved port",
                "containerPort",
                f"{number} is a reserved port, please use a different value",
                rule=rule,
            )
        )
    if not 0 <= number <= 65535:
        errors.append(_bounds(number, 0, 65535, "containerPort", rule=rule))
    return errors


def _container_ports(ports: list[Any]) -> Errors:
    if not ports:
        return []
    first = _obj(ports[0])
    errors = _port_basic(first)
    protocol = _str(first.get("protocol"))
    if protocol not in ("", "TCP"):
        errors.append(_invalid(protocol, "protocol", rule="container-ports"))
    name = _str(first.get("name"))
    if name not in VALID_PORT_NAMES:
        errors.append(
            _err(
                f"Port name {name} is not allowed",
                "",
                details="Name must be empty, or one of: 'h2c', 'http1'",
                rule="container-ports",
            )
        )
    return errors


def _serving_port(containers: list[Obj]) -> tuple[Obj, Errors]:
    """``validateContainersPorts``: the serving port (defaults filled) and errors
    relative to ``containers[*]``."""
    count = 0
    port: Obj = {}
    for c in containers:
        ports = _items(c.get("ports"))
        if ports:
            count += len(ports)
            port = _obj(ports[0])
    serving = {
        "name": _str(port.get("name")) or "http",
        "containerPort": _int(port.get("containerPort")) or 8080,
    }
    if count == 0 and len(containers) > 1:
        return serving, [_err("missing field(s)", "ports", rule="serving-container")]
    if count > 1:
        return serving, [
            _err(
                "more than one container port is set",
                "ports",
                details="Only a single port is allowed across all containers",
                rule="serving-container",
            )
        ]
    return serving, []


# --- probes --------------------------------------------------------------------------


def _port_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return str(_int(value))


def _probe(probe: Obj, port: Obj | None) -> Errors:
    """``validateProbe``; ``port`` is the serving port for the user container, None for
    a sidecar (whose probes must name a port)."""
    rule = "probes"
    errors = _disallowed(probe, mask.STATIC_MASKS["Probe"])
    handlers = []
    for key, kind in (("httpGet", "HTTPGetAction"), ("tcpSocket", "TCPSocketAction")):
        if probe.get(key) is None:
            continue
        handlers.append(key)
        action = _obj(probe[key])
        errors = _via(errors + _disallowed(action, mask.STATIC_MASKS[kind]), key)
        value = action.get("port")
        if port is not None:
            if isinstance(value, str) and value and value != port.get("name"):
                errors.append(
                    _invalid(
                        value, f"{key}.port", "Probe port must match container port", rule=rule
                    )
                )
        elif not (isinstance(value, str) and value) and _int(value) == 0:
            errors.append(
                _invalid(
                    _port_string(value), f"{key}.port", "Probe port must be specified", rule=rule
                )
            )
    if probe.get("exec") is not None:
        handlers.append("exec")
        errors = _via(
            errors + _disallowed(_obj(probe["exec"]), mask.STATIC_MASKS["ExecAction"]), "exec"
        )
    if probe.get("grpc") is not None:
        handlers.append("gRPC")
        errors = _via(
            errors + _disallowed(_obj(probe["grpc"]), mask.STATIC_MASKS["GRPCAction"]), "grpc"
        )
    if not handlers:
        errors.append(
            _err(
                "expected exactly one, got neither",
                "httpGet",
                "tcpSocket",
                "exec",
                "grpc",
                rule=rule,
            )
        )
    elif len(handlers) > 1:
        errors.append(_err("expected exactly one, got both", *handlers, rule=rule))
    return errors


def _readiness_probe(probe: Obj, port: Obj | None) -> Errors:
    rule = "probes"
    errors = _probe(probe, port)
    period = _int(probe.get("periodSeconds"))
    initial = _int(probe.get("initialDelaySeconds"))
    success = _int(probe.get("successThreshold"))
    failure = _int(probe.get("failureThreshold"))
    timeout = _int(probe.get("timeoutSeconds"))
    if period < 0:
        errors.append(_bounds(period, 0, MAX_INT32, "periodSeconds", rule=rule))
    if initial < 0:
        errors.append(_bounds(initial, 0, MAX_INT32, "initialDelaySeconds", rule=rule))
    if success < 1:
        errors.append(_bounds(success, 1, MAX_INT32, "successThreshold", rule=rule))
    if period == 0:
        if failure != 0:
            errors.append(
                _err(
                    "failureThreshold is disallowed when periodSeconds is zero",
                    "failureThreshold",
                    rule=rule,
                )
            )
        if timeout != 0:
            errors.append(
                _err(
                    "timeoutSeconds is disallowed when periodSeconds is zero",
                    "timeoutSeconds",
                    rule=rule,
                )
            )
    else:
        if timeout < 1:
            errors.append(_bounds(timeout, 1, MAX_INT32, "timeoutSeconds", rule=rule))
        if failure < 1:
            errors.append(_bounds(failure, 1, MAX_INT32, "failureThreshold", rule=rule))
    return errors


# --- env -----------------------------------------------------------------------------


def _env(env: list[Any], role: str, features: Features) -> Errors:
    reserved = RESERVED_ENV if role == USER else RESERVED_SIDECAR_ENV
    errors: Errors = []
    allowed_source = mask.env_var_source_allowed(features)
    for i, item in enumerate(env):
        var = _obj(item)
        local = _disallowed(var, mask.STATIC_MASKS["EnvVar"])
        name = _str(var.get("name"))
        if not name:
            local.append(_err("missing field(s)", "name", rule="env"))
        elif name in reserved:
            local.append(_err(f'"{name}" is a reserved environment variable', "name", rule="env"))
        if var.get("valueFrom") is not None:
            local += _via(_disallowed(_obj(var["valueFrom"]), allowed_source), "valueFrom")
        errors += _via(local, f"[{i}]")
    return errors


def _env_from(sources: list[Any]) -> Errors:
    errors: Errors = []
    for i, item in enumerate(sources):
        source = _obj(item)
        errors += _via(_disallowed(source, mask.STATIC_MASKS["EnvFromSource"]), f"[{i}]")
        cm, sm = source.get("configMapRef"), source.get("secretRef")
        # Knative re-prefixes everything collected so far here (k8s_validation.go).
        if sm is not None:
            errors = _via(errors, f"[{i}]", "secretRef")
        if cm is not None:
            errors = _via(errors, f"[{i}]", "configMapRef")
        if cm is not None and sm is not None:
            errors.append(
                _err("expected exactly one, got both", "configMapRef", "secretRef", rule="env")
            )
        elif cm is None and sm is None:
            errors.append(
                _err("expected exactly one, got neither", "configMapRef", "secretRef", rule="env")
            )
    return errors


# --- security contexts ---------------------------------------------------------------


def _id_range(sc: Obj, key: str, path: str = "") -> Errors:
    value = sc.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_INT32:
        return [_bounds(value, 0, MAX_INT32, path or key, rule="security-context")]
    return []


def _security_context(sc: Obj, features: Features) -> Errors:
    errors = _disallowed(sc, mask.security_context_allowed(sc))
    if sc.get("capabilities") is not None:
        caps = _obj(sc["capabilities"])
        errors += _via(_disallowed(caps, mask.capabilities_allowed(caps, features)), "capabilities")
    return errors + _id_range(sc, "runAsUser") + _id_range(sc, "runAsGroup")


def validate_pod_security_context(psc: Obj, features: Features) -> Errors:
    """``ValidatePodSecurityContext``, relative to ``securityContext``."""
    errors = _disallowed(psc, mask.pod_security_context_allowed(psc, features))
    errors += _id_range(psc, "runAsUser") + _id_range(psc, "runAsGroup") + _id_range(psc, "fsGroup")
    for i, gid in enumerate(_items(psc.get("supplementalGroups"))):
        errors += _id_range({"g": gid}, "g", f"supplementalGroups[{i}]")
    return errors


def insecure_default_warnings(psc: Obj, sc: Obj, features: Features) -> Errors:
    """``warnDefaultContainerSecurityContext``: warnings for a container's security
    context fields left at Kubernetes' insecure defaults (relative to ``securityContext``)."""
    if features.secure_pod_defaults:
        return []

    def warn(path: str) -> FieldError:
        return FieldError(INSECURE_DEFAULT, (path,), level="warning", rule="insecure-default")

    warnings: Errors = []
    if psc.get("runAsNonRoot") is None and sc.get("runAsNonRoot") is None:
        warnings.append(warn("runAsNonRoot"))
    if sc.get("allowPrivilegeEscalation") is None:
        warnings.append(warn("allowPrivilegeEscalation"))
    psc_profile, sc_profile = psc.get("seccompProfile"), sc.get("seccompProfile")
    if psc_profile is None and sc_profile is None:
        warnings.append(warn("seccompProfile"))
    elif not _str(_obj(psc_profile).get("type")) and not _str(_obj(sc_profile).get("type")):
        warnings.append(warn("seccompProfile.type"))
    caps = sc.get("capabilities")
    if caps is None:
        warnings.append(warn("capabilities"))
    else:
        drop = _obj(caps).get("drop")
        if drop is None:
            warnings.append(warn("capabilities.drop"))
        elif isinstance(drop, list) and drop and drop[0] == "all":
            warnings.append(
                FieldError(
                    "invalid value: all",
                    ("capabilities.drop",),
                    details="Must be spelled as 'ALL'",
                    level="warning",
                    rule="insecure-default",
                )
            )
    return warnings


# --- containers ----------------------------------------------------------------------


def _container(c: Obj, role: str, volumes: Mapping[str, Obj], features: Features) -> Errors:
    """Knative's ``validate``: checks every container gets (relative to the container)."""
    if not c:
        return [_err("missing field(s)", "", rule="containers")]
    errors = _disallowed(c, mask.CONTAINER_ALLOWED, known=mask.CONTAINER_FIELDS)
    name = _str(c.get("name"))
    if name in RESERVED_CONTAINER_NAMES:
        errors.append(_err(f'"{name}" is a reserved container name', "name", rule="containers"))
    errors += _via(_env(_items(c.get("env")), role, features), "env")
    errors += _via(_env_from(_items(c.get("envFrom"))), "envFrom")
    image = c.get("image")
    if not isinstance(image, str) and image is not None:
        errors.append(
            FieldError(f"expected string, got {json_type(image)}", ("image",), rule="schema")
        )
    elif not image:
        errors.append(_err("missing field(s)", "image", rule="containers"))
    elif not is_image_reference(image):
        errors.append(
            _err(
                "Failed to parse image reference",
                "image",
                details=image_reference_error(image),
                rule="image-reference",
            )
        )
    ports = _items(c.get("ports"))
    if role == INIT:
        port_errors = [e for p in ports for e in _port_basic(_obj(p))]
    else:
        port_errors = _container_ports(ports)
    errors += _via(port_errors, "ports")
    if c.get("resources") is not None:
        resources = _obj(c["resources"])
        errors += _via(
            _disallowed(resources, mask.STATIC_MASKS["ResourceRequirements"]), "resources"
        )
    if c.get("securityContext") is not None:
        errors += _via(_security_context(_obj(c["securityContext"]), features), "securityContext")
    policy = c.get("terminationMessagePolicy")
    if policy is not None and policy not in TERMINATION_MESSAGE_POLICIES:
        errors.append(_invalid(policy, "terminationMessagePolicy", rule="containers"))
    errors += _via(_volume_mounts(_items(c.get("volumeMounts")), volumes, features), "volumeMounts")
    return errors


def _user_container(c: Obj, volumes: Mapping[str, Obj], port: Obj, features: Features) -> Errors:
    errors: Errors = []
    if c.get("livenessProbe") is not None:
        errors += _via(_probe(_obj(c["livenessProbe"]), port), "livenessProbe")
    if c.get("readinessProbe") is not None:
        errors += _via(_readiness_probe(_obj(c["readinessProbe"]), port), "readinessProbe")
    if c.get("startupProbe") is not None:
        errors += _via(_probe(_obj(c["startupProbe"]), port), "startupProbe")
    return errors + _container(c, USER, volumes, features)


def _sidecar(c: Obj, volumes: Mapping[str, Obj], features: Features) -> Errors:
    errors: Errors = []
    probing = features.enabled("multi-container-probing")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(key) is None:
            continue
        probe = _obj(c[key])
        if not probing:
            # Knative masks a sidecar's probe to nothing: every set field is disallowed,
            # the handler (inlined in Go) as the probe itself.
            fields = {"" if k in mask.PROBE_HANDLERS else k: v for k, v in probe.items()}
            if any(probe.get(h) is not None for h in mask.PROBE_HANDLERS):
                fields[""] = True
            local = _disallowed(fields, ())
        elif key == "readinessProbe":
            local = _readiness_probe(probe, None)
        else:
            local = _probe(probe, None)
        errors += _via(local, key)
    return errors + _container(c, SIDECAR, volumes, features)


def _init_container(c: Obj, volumes: Mapping[str, Obj], features: Features) -> Errors:
    errors = [
        _err("field not allowed in an init container", key, rule="init-containers")
        for key in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle")
        if c.get(key) is not None
    ]
    return errors + _container(c, INIT, volumes, features)


def _init_containers(
    init: list[Obj], containers: list[Obj], volumes: Mapping[str, Obj], features: Features
) -> Errors:
    if not init:
        return []
    if not features.enabled("kubernetes.podspec-init-containers"):
        return [
            _err(
                "pod spec support for init-containers is off, "
                f"but found {len(init)} init containers",
                rule="init-containers",
            )
        ]
    names = {_str(c.get("name")) for c in containers}
    errors: Errors = []
    for i, c in enumerate(init):
        name = _str(c.get("name"))
        # Knative names init containers' errors ``containers[i]`` (sic), and prefixes
        # everything collected so far when it finds a duplicate name.
        if name and name in names:
            duplicate = _err(f'duplicate container name "{name}"', "name", rule="init-containers")
            errors = _via([*errors, duplicate], "containers", f"[{i}]")
        errors += _via(_init_container(c, volumes, features), "containers", f"[{i}]")
    return errors


def _multi_container(
    containers: list[Obj], volumes: Mapping[str, Obj], port: Obj, features: Features
) -> Errors:
    if not features.enabled("multi-container"):
        return [
            _err(
                f"multi-container is off, but found {len(containers)} containers",
                rule="serving-container",
            )
        ]
    errors: Errors = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        name = _str(c.get("name"))
        # An empty name is given a unique default by Knative's defaulting first.
        if name and name in seen:
            errors.append(
                _err(
                    f'duplicate container name "{name}"', f"containers[{i}].name", rule="containers"
                )
            )
        seen.add(name)
        if _items(c.get("ports")):
            local = _user_container(c, volumes, port, features)
        else:
            local = _sidecar(c, volumes, features)
        errors += _via(local, "containers", f"[{i}]")
    return errors


def _container_list(value: Any, path: str, errors: Errors) -> list[Obj]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(FieldError(f"expected array, got {json_type(value)}", (path,), rule="schema"))
        return []
    result = []
    for i, item in enumerate(value):
        if item is not None and not isinstance(item, Mapping):
            errors.append(
                FieldError(
                    f"expected object, got {json_type(item)}", (f"{path}[{i}]",), rule="schema"
                )
            )
        result.append(_obj(item))
    return result


def validate_pod_spec(spec: Obj, features: Features | None = None) -> Errors:
    """``ValidatePodSpec`` on a revision's spec: errors and warnings, paths relative to it."""
    features = features or Features()
    errors: Errors = []
    containers = _container_list(spec.get("containers"), "containers", errors)
    init = _container_list(spec.get("initContainers"), "initContainers", errors)
    known = mask.POD_SPEC_FIELDS | mask.REVISION_SPEC_FIELDS
    pod_fields = {k: v for k, v in spec.items() if k not in mask.REVISION_SPEC_FIELDS}
    errors += _disallowed(pod_fields, mask.pod_spec_allowed(spec, features), known=known)
    psc = _obj(spec.get("securityContext"))
    if spec.get("securityContext") is not None:
        errors += _via(validate_pod_security_context(psc, features), "securityContext")
    for key, group in (("containers", containers), ("initContainers", init)):
        for i, c in enumerate(group):
            sc = _obj(c.get("securityContext"))
            errors += _via(
                insecure_default_warnings(psc, sc, features), key, f"[{i}]", "securityContext"
            )
    mounted = {
        _str(_obj(vm).get("name"))
        for c in init + containers
        for vm in _items(c.get("volumeMounts"))
    }
    volumes, volume_errors = validate_volumes(_items(spec.get("volumes")), mounted, features)
    errors += _via(volume_errors, "volumes")
    errors += _via(_init_containers(init, containers, volumes, features), "")
    port, port_errors = _serving_port(containers)
    errors += _via(port_errors, "containers[*]")
    if not containers:
        if spec.get("containers") is None or isinstance(spec.get("containers"), list):
            errors.append(_err("missing field(s)", "containers", rule="containers"))
    elif len(containers) == 1:
        errors += _via(_user_container(containers[0], volumes, port, features), "containers[0]")
    else:
        errors += _multi_container(containers, volumes, port, features)
    account = spec.get("serviceAccountName")
    if isinstance(account, str) and account:
        errors += [
            _invalid(account, "serviceAccountName", problem, rule="service-account-name")
            for problem in dns1123_subdomain_problems(account)
        ]
    return errors
