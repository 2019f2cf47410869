"""Knative's ``kmp.ShortDiff`` of two objects, as its update checks print it.

Knative refuses a changed template that keeps its revision name, and any change to a
Revision's spec, with a ``-old +new`` diff in the error's details: go-cmp walking the Go
structs (knative.dev/pkg ``kmp/reporters.go`` at 521cb33b, ``shortDiffReporter``), one
entry per differing leaf::

    {*v1.RevisionTemplateSpec}.Spec.PodSpec.Containers[0].Image:
    \t-: "helloworld:bar"
    \t+: "helloworld:foo"

Our objects are JSON, so the Go view is modelled: ``GO_TYPES`` gives the Go field names,
their order (go-cmp walks struct fields in declaration order) and which fields are
pointers (an absent pointer differs from a zero value; an absent value field *is* the zero
value). Fields not in the table are taken as value fields named by capitalising the JSON
name, in JSON-name order, after the known ones. Quantities compare by value (kmp's
comparer) and print as go-cmp prints ``resource.Quantity`` where its fast path applies.
Not reproducible: the address go-cmp prints for a pointer set on one side only (printed as
``&value``) and the full Go dump of a struct added to or removed from a list (printed as
the fields that are set); a nil and an empty list are taken as equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.knative.quantity import is_quantity

__all__ = ["GO_TYPES", "go_equal", "short_diff"]


@dataclass(frozen=True)
class GoField:
    """A Go struct field: its JSON name ("" for an embedded, inlined struct), Go name, and
    shape: ``scalar``, ``struct``, ``slice`` (of ``elem``), ``map`` (of ``elem``) or
    ``quantity``; ``elem`` names a struct in ``GO_TYPES`` ("" for scalars, "?" for a
    struct not in the table)."""

    json: str
    go: str
    shape: str = "scalar"
    ptr: bool = False
    elem: str = ""


def _f(spec: str) -> GoField:
    # "json:Go:shape:elem" with a leading '*' on Go for a pointer; omitted parts default.
    parts = [*spec.split(":"), "", "", ""]
    json, go, shape, elem = parts[0], parts[1], parts[2] or "scalar", parts[3]
    ptr = go.startswith("*")
    go = go.lstrip("*") or json[:1].upper() + json[1:]
    return GoField(json, go, shape, ptr, elem)


def _type(go_name: str, *fields: str) -> tuple[str, tuple[GoField, ...]]:
    return go_name, tuple(_f(s) for s in fields)


_Q = "quantity"
# Field order and pointers from k8s.io/api core/v1 types.go (v0.35.7) and knative/serving
# pkg/apis/serving/v1/*_types.go (98e5ef90).
GO_TYPES: dict[str, tuple[str, tuple[GoField, ...]]] = {
    "RevisionTemplateSpec": _type(
        "v1.RevisionTemplateSpec",
        "metadata:ObjectMeta:struct:ObjectMeta",
        "spec::struct:RevisionSpec",
    ),
    "ObjectMeta": _type(
        "v1.ObjectMeta",
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid:UID",
        "resourceVersion",
        "generation",
        "creationTimestamp::struct:?",
        "deletionTimestamp:*:struct:?",
        "deletionGracePeriodSeconds:*",
        "labels::map",
        "annotations::map",
        "ownerReferences::slice:?",
        "finalizers::slice",
        "managedFields::slice:?",
    ),
    "RevisionSpec": _type(
        "v1.RevisionSpec",
        ":PodSpec:struct:PodSpec",
        "containerConcurrency:*",
        "timeoutSeconds:*",
        "responseStartTimeoutSeconds:*",
        "idleTimeoutSeconds:*",
    ),
    "ServiceSpec": _type(
        "v1.ServiceSpec",
        ":ConfigurationSpec:struct:ConfigurationSpec",
        ":RouteSpec:struct:RouteSpec",
    ),
    "ConfigurationSpec": _type("v1.ConfigurationSpec", "template::struct:RevisionTemplateSpec"),
    "RouteSpec": _type("v1.RouteSpec", "traffic::slice:TrafficTarget"),
    "TrafficTarget": _type(
        "v1.TrafficTarget",
        "tag",
        "revisionName",
        "configurationName",
        "latestRevision:*",
        "percent:*",
        "url:*URL:struct:?",
    ),
    "PodSpec": _type(
        "v1.PodSpec",
        "volumes::slice:Volume",
        "initContainers::slice:Container",
        "containers::slice:Container",
        "ephemeralContainers::slice:?",
        "restartPolicy",
        "terminationGracePeriodSeconds:*",
        "activeDeadlineSeconds:*",
        "dnsPolicy:DNSPolicy",
        "nodeSelector::map",
        "serviceAccountName",
        "serviceAccount:DeprecatedServiceAccount",
        "automountServiceAccountToken:*",
        "nodeName",
        "hostNetwork",
        "hostPID:HostPID",
        "hostIPC:HostIPC",
        "shareProcessNamespace:*",
        "securityContext:*:struct:?",
        "imagePullSecrets::slice:?",
        "hostname",
        "subdomain",
        "affinity:*:struct:?",
        "schedulerName",
        "tolerations::slice:?",
        "hostAliases::slice:?",
        "priorityClassName",
        "priority:*",
        "dnsConfig:*DNSConfig:struct:?",
        "readinessGates::slice:?",
        "runtimeClassName:*",
        "enableServiceLinks:*",
        "preemptionPolicy:*",
        "overhead::map:" + _Q,
        "topologySpreadConstraints::slice:?",
        "setHostnameAsFQDN:*SetHostnameAsFQDN",
        "os:*OS:struct:?",
        "hostUsers:*",
        "schedulingGates::slice:?",
        "resourceClaims::slice:?",
        "resources:*:struct:ResourceRequirements",
        "hostnameOverride:*",
    ),
    "Container": _type(
        "v1.Container",
        "name",
        "image",
        "command::slice",
        "args::slice",
        "workingDir",
        "ports::slice:ContainerPort",
        "envFrom::slice:EnvFromSource",
        "env::slice:EnvVar",
        "resources::struct:ResourceRequirements",
        "resizePolicy::slice:?",
        "restartPolicy:*",
        "restartPolicyRules::slice:?",
        "volumeMounts::slice:VolumeMount",
        "volumeDevices::slice:?",
        "livenessProbe:*:struct:Probe",
        "readinessProbe:*:struct:Probe",
        "startupProbe:*:struct:Probe",
        "lifecycle:*:struct:?",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "imagePullPolicy",
        "securityContext:*:struct:SecurityContext",
        "stdin",
        "stdinOnce",
        "tty:TTY",
    ),
    "ContainerPort": _type(
        "v1.ContainerPort", "name", "hostPort", "containerPort", "protocol", "hostIP:HostIP"
    ),
    "EnvVar": _type("v1.EnvVar", "name", "value", "valueFrom:*:struct:?"),
    "EnvFromSource": _type(
        "v1.EnvFromSource",
        "prefix",
        "configMapRef:*ConfigMapRef:struct:?",
        "secretRef:*:struct:?",
    ),
    "ResourceRequirements": _type(
        "v1.ResourceRequirements",
        "limits::map:" + _Q,
        "requests::map:" + _Q,
        "claims::slice:?",
    ),
    "VolumeMount": _type(
        "v1.VolumeMount",
        "name",
        "readOnly",
        "recursiveReadOnly:*",
        "mountPath",
        "subPath",
        "mountPropagation:*",
        "subPathExpr",
    ),
    "Probe": _type(
        "v1.Probe",
        ":ProbeHandler:struct:ProbeHandler",
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
        "terminationGracePeriodSeconds:*",
    ),
    "ProbeHandler": _type(
        "v1.ProbeHandler",
        "exec:*:struct:?",
        "httpGet:*HTTPGet:struct:HTTPGetAction",
        "tcpSocket:*TCPSocket:struct:TCPSocketAction",
        "grpc:*GRPC:struct:GRPCAction",
    ),
    "HTTPGetAction": _type(
        "v1.HTTPGetAction",
        "path",
        "port::struct:IntOrString",
        "host",
        "scheme",
        "httpHeaders:HTTPHeaders:slice:?",
    ),
    "TCPSocketAction": _type("v1.TCPSocketAction", "port::struct:IntOrString", "host"),
    "GRPCAction": _type("v1.GRPCAction", "port", "service:*"),
    "IntOrString": _type("intstr.IntOrString", "type", "intVal:IntVal", "strVal:StrVal"),
    "SecurityContext": _type(
        "v1.SecurityContext",
        "capabilities:*:struct:?",
        "privileged:*",
        "seLinuxOptions:*SELinuxOptions:struct:?",
        "windowsOptions:*:struct:?",
        "runAsUser:*",
        "runAsGroup:*",
        "runAsNonRoot:*",
        "readOnlyRootFilesystem:*",
        "allowPrivilegeEscalation:*",
        "procMount:*",
        "seccompProfile:*:struct:?",
        "appArmorProfile:*:struct:?",
    ),
    "Volume": _type("v1.Volume", "name", ":VolumeSource:struct:VolumeSource"),
    "VolumeSource": _type(
        "v1.VolumeSource",
        "hostPath:*:struct:?",
        "emptyDir:*:struct:?",
        "secret:*:struct:?",
        "persistentVolumeClaim:*:struct:?",
        "configMap:*ConfigMap:struct:?",
        "projected:*:struct:?",
        "csi:*CSI:struct:?",
        "ephemeral:*:struct:?",
        "image:*:struct:?",
    ),
}


def _go_name(json_name: str) -> str:
    return json_name[:1].upper() + json_name[1:]


def _json_names(type_name: str) -> set[str]:
    """The JSON names of a struct's fields, those of its embedded structs included."""
    names: set[str] = set()
    for f in GO_TYPES[type_name][1] if type_name in GO_TYPES else ():
        names |= _json_names(f.elem) if not f.json else {f.json}
    return names


def _fields(type_name: str, value: Mapping[str, Any], *, extras: bool) -> list[GoField]:
    """The struct's fields in Go order; with ``extras``, JSON keys the table lacks follow
    as value fields (only at the outer struct: an embedded one shares its object)."""
    known = list(GO_TYPES[type_name][1]) if type_name in GO_TYPES else []
    if not extras:
        return known
    named = _json_names(type_name)
    extra = sorted(k for k in value if isinstance(k, str) and k not in named)
    return known + [_guess(k, value[k]) for k in extra]


def _guess(key: str, value: Any) -> GoField:
    if isinstance(value, Mapping):
        return GoField(key, _go_name(key), "struct", False, "?")
    if isinstance(value, list):
        elem = "?" if any(isinstance(v, Mapping) for v in value) else ""
        return GoField(key, _go_name(key), "slice", False, elem)
    return GoField(key, _go_name(key), "scalar")


def _zero(other: Any) -> Any:
    if isinstance(other, bool):
        return False
    if isinstance(other, (int, float)):
        return 0
    return ""


def _scalar_text(value: Any) -> str:
    # Go's %+v of a scalar.
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_or_string(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        return {"type": 1, "strVal": value}
    return {"type": 0, "intVal": value if isinstance(value, int) else 0}


_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def _quantity_value(text: str) -> Decimal | None:
    if not is_quantity(text):
        return None
    number, suffix = _split_quantity(text)
    try:
        base = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return base * (2 ** _BINARY[suffix])
    if suffix[:1] in ("e", "E"):
        return base.scaleb(int(suffix[1:]))
    return base.scaleb(_SUFFIXES.get(suffix, 0))


def _split_quantity(text: str) -> tuple[str, str]:
    i = len(text)
    while i > 0 and not (text[i - 1].isdigit() or text[i - 1] == "."):
        i -= 1
    if "e" in text[1:] or "E" in text[1:]:
        cut = max(text.rfind("e"), text.rfind("E"))
        return text[:cut], text[cut:]
    return text[:i], text[i:]


def _quantity_text(text: Any) -> str:
    """go-cmp's ``%+v`` of a ``resource.Quantity`` parsed from ``text`` (the int64 fast
    path of ``ParseQuantity``, k8s.io/apimachinery pkg/api/resource/quantity.go v0.35)."""
    if not isinstance(text, str) or not is_quantity(text):
        return f"{{s:{_scalar_text(text)}}}"
    number, suffix = _split_quantity(text)
    positive = not number.startswith("-")
    digits = number.lstrip("+-")
    num, _, denom = digits.partition(".")
    num = num.lstrip("0") or "0"
    if suffix in _BINARY:
        fmt, scale, mantissa = "BinarySI", 0, 1 << _BINARY[suffix]
    elif suffix[:1] in ("e", "E"):
        fmt, scale, mantissa = "DecimalExponent", int(suffix[1:]), 1
    else:
        fmt, scale, mantissa = "DecimalSI", _SUFFIXES.get(suffix, 0), 1
    scale -= len(denom)
    shifted = num + denom
    value = int(shifted) * mantissa * (1 if positive else -1)
    cached = ""
    if fmt == "BinarySI":
        if _BINARY.get(suffix, 0) % 10 == 0 and int(shifted) & 7 and not denom:
            cached = text
    elif scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
        cached = text
    return f"{{i:{{value:{value} scale:{scale}}} d:{{Dec:<nil>}} s:{cached} Format:{fmt}}}"


def _struct_text(value: Any) -> str:
    # An approximation of Go's %+v for a struct: the fields that are set.
    if isinstance(value, Mapping):
        inner = " ".join(f"{_go_name(str(k))}:{_struct_text(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + " ".join(_struct_text(v) for v in value) + "]"
    return _scalar_text(value)


class _Reporter:
    def __init__(self) -> None:
        self.diffs: list[str] = []

    def report(self, path: str, lines: list[str]) -> None:
        self.diffs.append(f"{path}:\n" + "".join(f"\t{line}\n" for line in lines))


def _side(sign: str, value: Any, shape: str, elem: str) -> str:
    if shape == "quantity":
        return f'{sign}: resource.Quantity: "{_quantity_text(value)}"'
    if shape == "struct" or (elem and isinstance(value, Mapping)):
        go_type = GO_TYPES[elem][0] if elem in GO_TYPES else "struct"
        return f'{sign}: {go_type}: "{_struct_text(value)}"'
    return f'{sign}: "{_scalar_text(value)}"'


def _walk(r: _Reporter, path: str, shape: str, elem: str, old: Any, new: Any) -> None:
    if shape == "quantity":
        ov = _quantity_value(old) if isinstance(old, str) else None
        nv = _quantity_value(new) if isinstance(new, str) else None
        same = old == new if ov is None or nv is None else ov == nv
        if not same:
            r.report(path, [_side("-", old, shape, ""), _side("+", new, shape, "")])
        return
    if shape == "struct":
        if elem == "IntOrString":
            old, new = _int_or_string(old), _int_or_string(new)
        _walk_struct(
            r,
            path,
            elem,
            old if isinstance(old, Mapping) else {},
            new if isinstance(new, Mapping) else {},
        )
        return
    if shape == "slice":
        _walk_slice(
            r,
            path,
            elem,
            old if isinstance(old, list) else [],
            new if isinstance(new, list) else [],
        )
        return
    if shape == "map":
        _walk_map(
            r,
            path,
            elem,
            old if isinstance(old, Mapping) else {},
            new if isinstance(new, Mapping) else {},
        )
        return
    if isinstance(old, (Mapping, list)) or isinstance(new, (Mapping, list)):
        if old != new:
            r.report(path, [f'-: "{_struct_text(old)}"', f'+: "{_struct_text(new)}"'])
        return
    o = _zero(new) if old is None else old
    n = _zero(old) if new is None else new
    if o != n or type(o) is not type(n):
        r.report(path, [_side("-", o, "scalar", ""), _side("+", n, "scalar", "")])


def _walk_struct(
    r: _Reporter,
    path: str,
    type_name: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    extras: bool = True,
) -> None:
    for f in _fields(type_name, {**old, **new}, extras=extras):
        if not f.json:
            # An embedded struct: the same JSON object, one more step in the Go path.
            _walk_struct(r, f"{path}.{f.go}", f.elem, old, new, extras=False)
            continue
        ov, nv = old.get(f.json), new.get(f.json)
        step = f"{path}.{f.go}"
        if f.ptr:
            if ov is None and nv is None:
                continue
            if ov is None or nv is None:
                r.report(step, [_pointer_side("-", ov), _pointer_side("+", nv)])
                continue
            if f.shape == "scalar":
                # Dereferenced at the leaf: go-cmp writes the indirection in front.
                inner = _Reporter()
                _walk(inner, step, "scalar", "", ov, nv)
                r.diffs += ["*" + d for d in inner.diffs]
                continue
        _walk(r, step, f.shape, f.elem, ov, nv)


def _pointer_side(sign: str, value: Any) -> str:
    if value is None:
        return f'{sign}: "<nil>"'
    return f'{sign}: "&{_struct_text(value)}"'


def _walk_slice(r: _Reporter, path: str, elem: str, old: list[Any], new: list[Any]) -> None:
    shape = "struct" if elem else "scalar"
    for i in range(max(len(old), len(new))):
        step = f"{path}[{i}]"
        if i >= len(new):
            r.report(step, [_side("-", old[i], shape, elem)])
        elif i >= len(old):
            r.report(step, [_side("+", new[i], shape, elem)])
        else:
            _walk(r, step, shape, elem, old[i], new[i])


def _walk_map(
    r: _Reporter, path: str, elem: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> None:
    shape = "quantity" if elem == _Q else ("struct" if elem else "scalar")
    for key in sorted(set(old) | set(new), key=str):
        step = f'{path}["{key}"]'
        if key not in new:
            r.report(step, [_side("-", old[key], shape, elem)])
        elif key not in old:
            r.report(step, [_side("+", new[key], shape, elem)])
        else:
            _walk(r, step, shape, elem, old[key], new[key])


def short_diff(old: Any, new: Any, type_name: str, *, pointer: bool = False) -> str:
    """``kmp.ShortDiff(old, new)`` of two JSON values of the Go struct ``type_name``
    (``RevisionTemplateSpec``, ``RevisionSpec``, ...; ``pointer``: Knative passed
    pointers, so the root reads ``{*v1.RevisionTemplateSpec}``). "" when they are equal."""
    go_type = GO_TYPES[type_name][0]
    root = f"{{*{go_type}}}" if pointer else f"{{{go_type}}}"
    r = _Reporter()
    _walk(r, root, "struct", type_name, old, new)
    return "".join(r.diffs)


def go_equal(old: Any, new: Any, type_name: str) -> bool:
    """``equality.Semantic.DeepEqual`` of two JSON values of the Go struct ``type_name``."""
    return not short_diff(old, new, type_name)
