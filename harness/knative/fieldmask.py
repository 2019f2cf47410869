"""Which pod spec fields Knative lets through: its field masks, as lists of JSON keys.

Mirrors knative/serving ``pkg/apis/serving/fieldmask.go`` (98e5ef90) and knative.dev/pkg
``apis.CheckDisallowedFields``: a field is disallowed when the object sets it (a value
other than the Go zero value) and the mask does not keep it. The error names the
object's own keys only (``lifecycle``, not ``lifecycle.postStart``); a field Go embeds
inline (a probe's handler) is named by the empty path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.knative.features import Features
from harness.knative.field_error import FieldError

# Fields Go declares as pointers: any non-null value (even false or 0) is "set".
POINTER_FIELDS = frozenset(
    {
        "automountServiceAccountToken",
        "terminationGracePeriodSeconds",
        "activeDeadlineSeconds",
        "shareProcessNamespace",
        "enableServiceLinks",
        "priority",
        "runtimeClassName",
        "preemptionPolicy",
        "setHostnameAsFQDN",
        "hostUsers",
        "privileged",
        "readOnlyRootFilesystem",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "procMount",
        "fsGroup",
        "fsGroupChangePolicy",
        "mountPropagation",
        "recursiveReadOnly",
        "optional",
        "mode",
        "expirationSeconds",
        "sizeLimit",
        "restartPolicy",
    }
)

# PodSpec and Container JSON fields Kubernetes knows (k8s.io/api core/v1 v0.35); other
# keys are unknown fields, which the API server refuses under strict field validation.
POD_SPEC_FIELDS = frozenset(
    {
        "volumes",
        "initContainers",
        "containers",
        "ephemeralContainers",
        "restartPolicy",
        "terminationGracePeriodSeconds",
        "activeDeadlineSeconds",
        "dnsPolicy",
        "nodeSelector",
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "nodeName",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "shareProcessNamespace",
        "securityContext",
        "imagePullSecrets",
        "hostname",
        "subdomain",
        "affinity",
        "schedulerName",
        "tolerations",
        "hostAliases",
        "priorityClassName",
        "priority",
        "dnsConfig",
        "readinessGates",
        "runtimeClassName",
        "enableServiceLinks",
        "preemptionPolicy",
        "overhead",
        "topologySpreadConstraints",
        "setHostnameAsFQDN",
        "os",
        "hostUsers",
        "schedulingGates",
        "resourceClaims",
        "resources",
        "hostnameOverride",
    }
)
# RevisionSpec adds these to the pod spec.
REVISION_SPEC_FIELDS = frozenset(
    {"containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"}
)
CONTAINER_FIELDS = frozenset(
    {
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "envFrom",
        "env",
        "resources",
        "resizePolicy",
        "restartPolicy",
        "restartPolicyRules",
        "volumeMounts",
        "volumeDevices",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "imagePullPolicy",
        "securityContext",
        "stdin",
        "stdinOnce",
        "tty",
    }
)

_POD_SPEC_ALWAYS = ("serviceAccountName", "containers", "volumes", "imagePullSecrets")
_POD_SPEC_GATED = (
    ("affinity", "kubernetes.podspec-affinity"),
    ("topologySpreadConstraints", "kubernetes.podspec-topologyspreadconstraints"),
    ("hostAliases", "kubernetes.podspec-hostaliases"),
    ("nodeSelector", "kubernetes.podspec-nodeselector"),
    ("runtimeClassName", "kubernetes.podspec-runtimeclassname"),
    ("tolerations", "kubernetes.podspec-tolerations"),
    ("shareProcessNamespace", "kubernetes.podspec-shareprocessnamespace"),
    ("priorityClassName", "kubernetes.podspec-priorityclassname"),
    ("schedulerName", "kubernetes.podspec-schedulername"),
    ("initContainers", "kubernetes.podspec-init-containers"),
    ("dnsPolicy", "kubernetes.podspec-dnspolicy"),
    ("dnsConfig", "kubernetes.podspec-dnsconfig"),
    ("hostIPC", "kubernetes.podspec-hostipc"),
    ("hostPID", "kubernetes.podspec-hostpid"),
    ("hostNetwork", "kubernetes.podspec-hostnetwork"),
)
CONTAINER_ALLOWED = frozenset(
    {
        "name",
        "args",
        "command",
        "env",
        "workingDir",
        "envFrom",
        "image",
        "imagePullPolicy",
        "livenessProbe",
        "ports",
        "readinessProbe",
        "resources",
        "securityContext",
        "startupProbe",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "volumeMounts",
    }
)
_VOLUME_SOURCE_GATED = (
    ("emptyDir", "kubernetes.podspec-volumes-emptydir"),
    ("persistentVolumeClaim", "kubernetes.podspec-persistent-volume-claim"),
    ("hostPath", "kubernetes.podspec-volumes-hostpath"),
    ("csi", "kubernetes.podspec-volumes-csi"),
    ("ephemeral", "kubernetes.podspec-volumes-ephemeral"),
    ("image", "kubernetes.podspec-volumes-image"),
)
# Masks that do not depend on features: the JSON keys each keeps.
STATIC_MASKS: dict[str, frozenset[str]] = {
    "VolumeProjection": frozenset({"secret", "configMap", "serviceAccountToken", "downwardAPI"}),
    "ConfigMapProjection": frozenset({"name", "items", "optional"}),
    "SecretProjection": frozenset({"name", "items", "optional"}),
    "ServiceAccountTokenProjection": frozenset({"audience", "expirationSeconds", "path"}),
    "DownwardAPIProjection": frozenset({"items"}),
    "DownwardAPIVolumeFile": frozenset({"fieldRef", "resourceFieldRef", "path", "mode"}),
    "KeyToPath": frozenset({"key", "path", "mode"}),
    "Probe": frozenset(
        {
            "exec",
            "httpGet",
            "tcpSocket",
            "grpc",
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
            "terminationGracePeriodSeconds",
        }
    ),
    "ExecAction": frozenset({"command"}),
    "HTTPGetAction": frozenset({"host", "path", "scheme", "httpHeaders", "port"}),
    "TCPSocketAction": frozenset({"host", "port"}),
    "GRPCAction": frozenset({"port", "service"}),
    "ContainerPort": frozenset({"containerPort", "name", "protocol"}),
    "EnvVar": frozenset({"name", "value", "valueFrom"}),
    "EnvFromSource": frozenset({"prefix", "configMapRef", "secretRef"}),
    "ResourceRequirements": frozenset({"limits", "requests"}),
    "ImageVolumeSource": frozenset({"reference", "pullPolicy"}),
    "ObjectReference": frozenset({"apiVersion", "kind", "name"}),
}
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def is_set(key: str, value: Any) -> bool:
    """Whether Go would see ``key: value`` as differing from the field's zero value."""
    if value is None:
        return False
    if key in POINTER_FIELDS:
        return True
    return not (value is False or value == 0 or value == "")


def disallowed(
    obj: Mapping[str, Any], allowed: Iterable[str], *, known: frozenset[str] = frozenset()
) -> FieldError | None:
    """``must not set the field(s)`` for the keys ``obj`` sets outside ``allowed``;
    with ``known``, keys outside it are left to :func:`unknown_fields`."""
    keep = frozenset(allowed)
    keys = sorted(
        str(k)
        for k, v in obj.items()
        if k not in keep and (not known or k in known) and is_set(str(k), v)
    )
    if not keys:
        return None
    return FieldError("must not set the field(s)", tuple(keys), rule="disallowed-field")


def pod_spec_allowed(spec: Mapping[str, Any], features: Features) -> set[str]:
    """The pod spec keys Knative's ``PodSpecMask`` keeps."""
    keep = set(_POD_SPEC_ALWAYS) | {"enableServiceLinks"}
    if spec.get("automountServiceAccountToken") is False:
        keep.add("automountServiceAccountToken")
    keep |= {key for key, flag in _POD_SPEC_GATED if not features.disabled(flag)}
    if not features.disabled("kubernetes.podspec-securitycontext") or not features.disabled(
        "secure-pod-defaults"
    ):
        keep.add("securityContext")
    return keep


def volume_source_allowed(features: Features) -> set[str]:
    """The volume source keys ``VolumeSourceMask`` keeps (plus the volume's name)."""
    keep = {"name", "secret", "configMap", "projected"}
    return keep | {key for key, flag in _VOLUME_SOURCE_GATED if not features.disabled(flag)}


def volume_mount_allowed(features: Features) -> set[str]:
    """``VolumeMountMask``: mountPropagation only behind its feature."""
    keep = {"name", "readOnly", "mountPath", "subPath"}
    if not features.disabled("kubernetes.podspec-volumes-mount-propagation"):
        keep.add("mountPropagation")
    return keep


def env_var_source_allowed(features: Features) -> set[str]:
    """``EnvVarSourceMask``: fieldRef and resourceFieldRef only behind podspec-fieldref."""
    keep = {"configMapKeyRef", "secretKeyRef"}
    if not features.disabled("kubernetes.podspec-fieldref"):
        keep |= {"fieldRef", "resourceFieldRef"}
    return keep


def security_context_allowed(sc: Mapping[str, Any]) -> set[str]:
    """``SecurityContextMask``: privileged only when false."""
    keep = {
        "capabilities",
        "readOnlyRootFilesystem",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "seccompProfile",
    }
    if sc.get("privileged") is False:
        keep.add("privileged")
    return keep


def capabilities_allowed(caps: Mapping[str, Any], features: Features) -> set[str]:
    """``CapabilitiesMask``: add behind containerspec-addcapabilities, or exactly
    NET_BIND_SERVICE under secure-pod-defaults."""
    keep = {"drop"}
    exact_bind = features.secure_pod_defaults and caps.get("add") == ["NET_BIND_SERVICE"]
    if features.enabled("kubernetes.containerspec-addcapabilities") or exact_bind:
        keep.add("add")
    return keep


def pod_security_context_allowed(psc: Mapping[str, Any], features: Features) -> set[str]:
    """``PodSecurityContextMask``."""
    keep: set[str] = set()
    if features.secure_pod_defaults:
        profile = psc.get("seccompProfile")
        if (
            isinstance(profile, Mapping)
            and set(profile) <= {"type"}
            and profile.get("type") in ("RuntimeDefault", "Unconfined")
        ):
            keep.add("seccompProfile")
    if features.disabled("kubernetes.podspec-securitycontext"):
        return keep
    return keep | {
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "fsGroup",
        "supplementalGroups",
        "seccompProfile",
    }


def unknown_fields(obj: Mapping[str, Any], known: frozenset[str]) -> list[str]:
    """Keys of ``obj`` Kubernetes does not know (typos, fields from other kinds)."""
    return sorted(str(k) for k in obj if k not in known)
