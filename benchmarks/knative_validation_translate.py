"""Translate Knative's table-driven validation tests into our corpus (data, not code).

Reads the test tables of knative/serving (a checkout made with the ``fetch`` tool; the
corpus in ``tests/knative/corpus/`` records the commit) and writes one YAML file per Go
test file: each case is a manifest as a user would write it (the tested object placed in
a Service at the place Knative's validation sees it), the config-features flags the case
sets, Knative's verdict, and, where the test states it, the error text as Knative's
``FieldError.Error()`` prints it with paths seen from the manifest's root.

This is a reader of Go composite literals (``corev1.Container{Image: "x"}``) and of
knative.dev/pkg ``apis`` error constructors, enough for these tables; a case it cannot
read is written with ``skip: <reason>`` so the count of what was left out stays honest.

Run: ``.venv/bin/python benchmarks/knative_validation_translate.py /path/to/serving``

The 44 update and user-info cases (``old:``, ``user:``, ``subresource:``) were translated
by hand and live only in the corpus: this script writes them as ``skip``, so after a
re-run restore them from git (``git diff tests/knative/corpus``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.knative.field_error import FieldError, format_errors
from harness.knative.names import dns1123_subdomain_problems

OUT = Path(__file__).parents[1] / "tests" / "knative" / "corpus"
# Run as a script: the placements module imports this one by name and must get these
# very classes, not a second copy.
sys.modules.setdefault("knative_validation_translate", sys.modules[__name__])


class Unsupported(Exception):
    """A construct this reader does not translate."""


# --- tokens ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*|/\*.*?\*/)
      |(?P<raw>`[^`]*`)
      |(?P<str>"(?:\\.|[^"\\])*")
      |(?P<char>'(?:\\.|[^'\\])')
      |(?P<num>\d+\.\d+|\d+)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op>\.\.\.|:=|==|!=|&&|\|\||<=|>=|[{}()\[\],:;.&*+\-/<>=!|%])""",
    re.S | re.X,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise Unsupported(f"cannot tokenize at {text[pos : pos + 30]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        value = m.group()
        if kind == "raw":
            tokens.append(("str", value[1:-1]))
        elif kind == "str":
            tokens.append(("str", bytes(value[1:-1], "utf-8").decode("unicode_escape")))
        else:
            tokens.append((kind, value))
    return tokens


# --- values ----------------------------------------------------------------------------


@dataclass
class Struct:
    """A Go struct literal: its type name and fields in Go names."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Errs:
    """A knative.dev/pkg FieldError tree, flattened to leaves."""

    leaves: list[FieldError]


@dataclass
class Call:
    """A call we keep symbolic (test helpers, config options)."""

    name: str
    args: list[Any]


INLINE = {
    "VolumeSource",
    "ProbeHandler",
    "LocalObjectReference",
    "TypeMeta",
    "ConfigurationSpec",
    "RouteSpec",
    "PodSpec",
}
RENAMES = {"ObjectMeta": "metadata", "Spec": "spec", "Status": "status"}
CONSTANTS: dict[str, Any] = {
    "math.MaxInt32": 2**31 - 1,
    "math.MaxInt64": 2**63 - 1,
    "nil": None,
    "true": True,
    "false": False,
    "apis.CurrentField": "",
    "apis.WarningLevel": "warning",
    "apis.ErrorLevel": "error",
    "corev1.ProtocolTCP": "TCP",
    "corev1.ProtocolUDP": "UDP",
    "corev1.ProtocolSCTP": "SCTP",
    "corev1.TerminationMessageReadFile": "File",
    "corev1.TerminationMessageFallbackToLogsOnError": "FallbackToLogsOnError",
    "corev1.MountPropagationBidirectional": "Bidirectional",
    "corev1.MountPropagationHostToContainer": "HostToContainer",
    "corev1.MountPropagationNone": "None",
    "corev1.URISchemeHTTP": "HTTP",
    "corev1.URISchemeHTTPS": "HTTPS",
    "corev1.PullAlways": "Always",
    "corev1.PullNever": "Never",
    "corev1.PullIfNotPresent": "IfNotPresent",
    "corev1.SeccompProfileTypeRuntimeDefault": "RuntimeDefault",
    "corev1.SeccompProfileTypeUnconfined": "Unconfined",
    "corev1.SeccompProfileTypeLocalhost": "Localhost",
    "corev1.StorageMediumMemory": "Memory",
    "corev1.ReadWriteOnce": "ReadWriteOnce",
    "corev1.ReadOnlyMany": "ReadOnlyMany",
    "corev1.StorageMediumDefault": "",
    "corev1.ResourceCPU": "cpu",
    "corev1.ResourceMemory": "memory",
    "corev1.ResourceEphemeralStorage": "ephemeral-storage",
    "corev1.RestartPolicyAlways": "Always",
    "corev1.DNSClusterFirst": "ClusterFirst",
    "corev1.DNSDefault": "Default",
    "corev1.TaintEffectNoSchedule": "NoSchedule",
    "corev1.TolerationOpEqual": "Equal",
    "corev1.TolerationOpExists": "Exists",
    "corev1.NodeSelectorOpIn": "In",
    "intstr.String": "string",
    "intstr.Int": "int",
    "config.Enabled": "Enabled",
    "config.Disabled": "Disabled",
    "config.Allowed": "Allowed",
}


def json_name(go: str) -> str:
    """Go field name -> JSON name: leading capitals lowered (HTTPGet -> httpGet)."""
    if go in RENAMES:
        return RENAMES[go]
    m = re.match(r"^([A-Z]+)(?=[A-Z][a-z]|$)", go)
    if m and len(m.group(1)) > 1:
        return m.group(1).lower() + go[len(m.group(1)) :]
    return go[0].lower() + go[1:]


def to_json(value: Any) -> Any:
    """A Go value as the JSON the API server would hand Knative."""
    if isinstance(value, Struct):
        if value.type == "apis.URL":  # marshals as a string
            f = value.fields
            scheme = f"{f['Scheme']}:" if f.get("Scheme") else ""
            return f"{scheme}//{f.get('Host', '')}{f.get('Path', '')}"
        if value.type in ("intstr.IntOrString",):
            if value.fields.get("Type") == "string":
                return value.fields.get("StrVal", "")
            return value.fields.get("IntVal", 0)
        out: dict[str, Any] = {}
        for k, v in value.fields.items():
            j = to_json(v)
            if k in INLINE and isinstance(j, dict):
                out.update(j)
            elif k == "Status":
                continue
            else:
                out[json_name(k)] = j
        return out
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(to_json(k)): to_json(v) for k, v in value.items()}
    if isinstance(value, (Errs, Call)):
        raise Unsupported(f"{type(value).__name__} inside an object")
    return value


# --- errors (knative.dev/pkg apis) -------------------------------------------------------


def _go_str(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "<nil>"
    if isinstance(v, float):
        return format(v, "g") if v != int(v) else str(int(v)) if abs(v) < 1e21 else format(v, "g")
    if isinstance(v, list):
        return "[" + " ".join(_go_str(x) for x in v) + "]"
    if isinstance(v, Struct):
        raise Unsupported("struct printed with %v")
    return str(v)


def _sprintf(fmt: str, args: list[Any]) -> str:
    it = iter(args)

    def repl(m: re.Match[str]) -> str:
        verb = m.group(1)
        if verb == "%":
            return "%"
        v = next(it)
        if verb == "q":
            return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        return _go_str(v)

    return re.sub(r"%[-+# 0-9.]*([vdsqfgt%])", repl, fmt)


def _leaf(message: str, paths: list[str], details: str = "", level: str = "error") -> Errs:
    # A Go test may write two paths as one string ("a.port, b.port"); Knative's own
    # errors carry them as two paths, which matters once a prefix is added.
    split = [p for path in paths for p in str(path).split(", ")]
    return Errs(
        [FieldError(message, tuple(split), details, "warning" if level == "warning" else "error")]
    )


def _via(errs: Errs, *prefix: str) -> Errs:
    return Errs([e.via(*prefix) if e.paths else e for e in errs.leaves])


def _flat_paths(args: list[Any]) -> list[str]:
    out: list[str] = []
    for a in args:
        if isinstance(a, list):
            out += [str(x) for x in a]
        else:
            out.append(str(a))
    return out


def apis_call(name: str, args: list[Any]) -> Errs:
    if name == "ErrMissingField":
        return _leaf("missing field(s)", _flat_paths(args))
    if name == "ErrDisallowedFields":
        return _leaf("must not set the field(s)", _flat_paths(args))
    if name == "ErrDisallowedUpdateDeprecatedFields":
        return _leaf("must not update deprecated field(s)", _flat_paths(args))
    if name == "ErrInvalidValue":
        return _leaf(f"invalid value: {_go_str(args[0])}", [args[1]], "\n".join(args[2:]))
    if name == "ErrInvalidArrayValue":
        return _leaf(f"invalid value: {_go_str(args[0])}", [f"{args[1]}[{args[2]}]"])
    if name == "ErrGeneric":
        return _leaf(args[0], _flat_paths(args[1:]))
    if name == "ErrMissingOneOf":
        return _leaf("expected exactly one, got neither", _flat_paths(args))
    if name == "ErrMultipleOneOf":
        return _leaf("expected exactly one, got both", _flat_paths(args))
    if name == "ErrInvalidKeyName":
        return _leaf(f'invalid key name "{args[0]}"', [args[1]], "\n".join(args[2:]))
    if name == "ErrOutOfBoundsValue":
        return _leaf(
            f"expected {_go_str(args[1])} <= {_go_str(args[0])} <= {_go_str(args[2])}", [args[3]]
        )
    raise Unsupported(f"apis.{name}")


def errs_method(errs: Errs | None, name: str, args: list[Any]) -> Errs | None:
    if errs is None:
        errs = Errs([])
    if name == "ViaField":
        return _via(errs, *args)
    if name == "ViaIndex":
        return _via(errs, f"[{args[0]}]")
    if name == "ViaFieldIndex":
        return _via(errs, args[0], f"[{args[1]}]")
    if name == "ViaKey":
        return _via(errs, f"[{args[0]}]")
    if name == "ViaFieldKey":
        return _via(errs, args[0], f"[{args[1]}]")
    if name == "Also":
        leaves = list(errs.leaves)
        for a in args:
            if isinstance(a, Errs):
                leaves += a.leaves
            elif a is not None:
                raise Unsupported("Also of a non-error")
        return Errs(leaves)
    if name == "At":
        return Errs([FieldError(e.message, e.paths, e.details, args[0]) for e in errs.leaves])
    if name == "Error":
        return errs
    raise Unsupported(f"FieldError.{name}")


# --- parser/evaluator ---------------------------------------------------------------------


class Reader:
    """Evaluates Go expressions from tokens; ``env`` holds local variables and helpers."""

    def __init__(
        self,
        tokens: list[tuple[str, str]],
        env: dict[str, Any],
        helpers: dict[str, Callable[..., Any]],
    ):
        self.t = tokens
        self.i = 0
        self.env = env
        self.helpers = helpers

    def peek(self, k: int = 0) -> tuple[str, str]:
        return self.t[self.i + k] if self.i + k < len(self.t) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise Unsupported(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def type_expr(self) -> str:
        """A type: []T, map[K]V, *T, pkg.T, T."""
        tok = self.peek()
        if tok[1] == "[":
            self.take("[")
            self.take("]")
            return "[]" + self.type_expr()
        if tok[1] == "*":
            self.take()
            return self.type_expr()
        if tok[1] == "map":
            self.take()
            self.take("[")
            self.type_expr()
            self.take("]")
            return "map:" + self.type_expr()
        name = self.take()[1]
        if self.peek()[1] == "." and self.peek(1)[0] == "ident":
            self.take()
            name += "." + self.take()[1]
        return name

    def composite(self, typ: str) -> Any:
        self.take("{")
        is_list = typ.startswith("[]")
        is_map = typ.startswith("map:")
        elem = typ[2:] if is_list else typ[4:] if is_map else ""
        items: list[Any] = []
        mapping: dict[Any, Any] = {}
        fields: dict[str, Any] = {}
        while self.peek()[1] != "}":
            if self.peek()[1] == "{":
                value = self.composite(elem)
                if is_map:
                    raise Unsupported("map key literal")
                items.append(value)
            else:
                if (
                    not is_list
                    and not is_map
                    and self.peek()[0] == "ident"
                    and self.peek(1)[1] == ":"
                ):
                    key = self.take()[1]
                    self.take(":")
                    fields[key] = self.value_in(elem)
                else:
                    value = self.expr()
                    if self.peek()[1] == ":":
                        self.take(":")
                        mapping[value] = self.value_in(elem)
                    else:
                        items.append(value)
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        if is_list:
            return items
        if is_map:
            return mapping
        if typ == "apis.FieldError":
            return _leaf(
                fields.get("Message", ""),
                list(fields.get("Paths") or []),
                fields.get("Details", ""),
                fields.get("Level", "error"),
            )
        return Struct(typ, fields)

    def value_in(self, elem: str) -> Any:
        if self.peek()[1] == "{":
            return self.composite(elem)
        return self.expr()

    def expr(self) -> Any:
        left = self.unary()
        while self.peek()[1] in ("+", "-", "*"):
            op = self.take()[1]
            right = self.unary()
            if op == "+":
                left = left + right
            elif op == "-":
                left = left - right
            else:
                left = left * right
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if tok[1] == "&":
            self.take()
            return self.unary()
        if tok[1] == "-":
            self.take()
            return -self.unary()
        return self.postfix(self.primary())

    def args(self) -> list[Any]:
        self.take("(")
        out = []
        while self.peek()[1] != ")":
            out.append(self.expr())
            if self.peek()[1] == "...":
                self.take()
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        return out

    def postfix(self, value: Any) -> Any:
        while self.peek()[1] == ".":
            self.take()
            name = self.take()[1]
            args = self.args() if self.peek()[1] == "(" else []
            if isinstance(value, Errs) or value is None:
                value = errs_method(value, name, args)
            else:
                raise Unsupported(f"method {name} on {type(value).__name__}")
        while self.peek()[1] == "[":
            self.take("[")
            index = self.expr()
            self.take("]")
            value = value[index]
        return value

    def primary(self) -> Any:
        kind, text = self.peek()
        if kind == "str":
            self.take()
            return text
        if kind == "num":
            self.take()
            return float(text) if "." in text else int(text)
        if text == "(":
            self.take()
            v = self.expr()
            self.take(")")
            return v
        if text in ("[", "map", "*"):
            typ = self.type_expr()
            return self.composite(typ)
        if kind != "ident":
            raise Unsupported(f"unexpected {text!r}")
        if text == "func":
            raise Unsupported("function literal")
        self.take()
        name = text
        if self.peek()[1] == "." and self.peek(1)[0] == "ident":
            name = f"{text}.{self.peek(1)[1]}"
            if name not in CONSTANTS and text not in self.env:
                self.take()
                self.take()
            else:
                name = text if text in self.env else name
                if name == f"{text}.{self.peek(1)[1]}":
                    self.take()
                    self.take()
        if self.peek()[1] == "{" and (name[:1].isupper() or "." in name):
            return self.composite(name)
        if self.peek()[1] == "(":
            return self.call(name, self.args())
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in self.env:
            return self.env[name]
        raise Unsupported(f"identifier {name}")

    def call(self, name: str, args: list[Any]) -> Any:
        pkg, _, fn = name.rpartition(".")
        if pkg == "apis":
            return apis_call(fn, args)
        if pkg == "ptr" or name in ("int64", "int32", "int", "float64", "string"):
            return args[0]
        if name == "resource.MustParse":
            return args[0]
        if name == "resource.NewQuantity":
            return str(args[0])
        if name in ("intstr.FromInt", "intstr.FromInt32", "intstr.FromString"):
            return args[0]
        if name == "fmt.Sprintf":
            return _sprintf(args[0], args[1:])
        if name == "fmt.Sprint":
            return "".join(_go_str(a) for a in args)
        if name == "strings.Join":
            return args[1].join(args[0])
        if name == "strings.Repeat":
            return args[0] * args[1]
        if name == "validation.IsDNS1123Subdomain":
            return dns1123_subdomain_problems(args[0])
        if pkg == "corev1" and len(args) == 1:
            return args[0]  # typed conversion, corev1.TerminationMessagePolicy("x")
        if name in self.helpers:
            return self.helpers[name](*args)
        return Call(name, args)


# --- test tables ---------------------------------------------------------------------------


def go_source(repo: Path, path: str, commit: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def constants_from(text: str) -> dict[str, Any]:
    """String constants declared as ``Name = "..."`` or concatenations of them."""
    found: dict[str, Any] = {}
    for m in re.finditer(r"^\s*([A-Z]\w*)\s*(?:\w+\s*)?=\s*([^\n]+)$", text, re.M):
        name, rhs = m.group(1), m.group(2)
        try:
            tokens = tokenize(rhs)
            reader = Reader(tokens, dict(found), {})
            value = reader.expr()
        except (Unsupported, IndexError, TypeError, KeyError):
            continue
        if isinstance(value, (str, int)) and reader.i == len(tokens):
            found[name] = value
    return found


def functions(text: str) -> dict[str, str]:
    """Top-level function bodies by name."""
    out = {}
    for m in re.finditer(r"^func (\w+)\([^)]*\)[^{]*\{\n(.*?)^\}", text, re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def table_cases(body: str) -> tuple[str, list[str]]:
    """The table literal's case bodies (text inside each ``{...}``) and the table var name."""
    m = re.search(r"(\w+)\s*:?=\s*\[\]struct\s*\{.*?\n\t\}\{", body, re.S)
    if not m:
        m = re.search(r"(\w+)\s*(?::?=\s*)?\[\]\w+\s*\{", body)
        if not m:
            raise Unsupported("no table")
    start = m.end() - 1
    depth = 0
    i = start
    cases = []
    case_start = None
    in_str: str | None = None
    while i < len(body):
        c = body[i]
        if in_str:
            if c == "\\" and in_str == '"':
                i += 2
                continue
            if c == in_str:
                in_str = None
        elif c in '"`':
            in_str = c
        elif c == "/" and body[i : i + 2] == "//":
            i = body.index("\n", i)
            continue
        elif c == "{":
            depth += 1
            if depth == 2:
                case_start = i
        elif c == "}":
            if depth == 2 and case_start is not None:
                cases.append(body[case_start : i + 1])
            depth -= 1
            if depth == 0:
                break
        i += 1
    return m.group(1), cases


@dataclass
class Case:
    """One translated case."""

    file: str
    test: str
    name: str
    manifest: dict[str, Any] | None
    features: dict[str, str]
    valid: bool | None
    errors: str | None
    scope: str
    skip: str = ""
    level: str = "error"
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"test": self.test, "name": self.name}
        if self.skip:
            out["skip"] = self.skip
            return out
        out["features"] = self.features
        if self.config:
            out["config"] = self.config
        out["scope"] = self.scope
        if self.level != "error":
            out["level"] = self.level
        out["valid"] = self.valid
        if self.errors is not None:
            out["errors"] = self.errors
        out["manifest"] = self.manifest
        return out


FEATURE_OPTIONS = {
    "withMultiContainerDisabled": ("multi-container", "Disabled"),
    "withPodSpecFieldRefEnabled": ("kubernetes.podspec-fieldref", "Enabled"),
    "withPodSpecAffinityEnabled": ("kubernetes.podspec-affinity", "Enabled"),
    "withPodSpecTopologySpreadConstraintsEnabled": (
        "kubernetes.podspec-topologyspreadconstraints",
        "Enabled",
    ),
    "withPodSpecHostAliasesEnabled": ("kubernetes.podspec-hostaliases", "Enabled"),
    "withPodSpecNodeSelectorEnabled": ("kubernetes.podspec-nodeselector", "Enabled"),
    "withPodSpecTolerationsEnabled": ("kubernetes.podspec-tolerations", "Enabled"),
    "withPodSpecRuntimeClassNameEnabled": ("kubernetes.podspec-runtimeclassname", "Enabled"),
    "withPodSpecSecurityContextEnabled": ("kubernetes.podspec-securitycontext", "Enabled"),
    "withSecurePodDefaultsEnabled": ("secure-pod-defaults", "Enabled"),
    "withSecurePodDefaultsAllowRootBounded": ("secure-pod-defaults", "AllowRootBounded"),
    "withContainerSpecAddCapabilitiesEnabled": (
        "kubernetes.containerspec-addcapabilities",
        "Enabled",
    ),
    "withPodSpecVolumesEmptyDirEnabled": ("kubernetes.podspec-volumes-emptydir", "Enabled"),
    "withPodSpecPersistentVolumeClaimEnabled": (
        "kubernetes.podspec-persistent-volume-claim",
        "Enabled",
    ),
    "withPodSpecVolumesHostPathEnabled": ("kubernetes.podspec-volumes-hostpath", "Enabled"),
    "withPodSpecVolumesCSIEnabled": ("kubernetes.podspec-volumes-csi", "Enabled"),
    "withPodSpecVolumesEphemeralEnabled": ("kubernetes.podspec-volumes-ephemeral", "Enabled"),
    "withPodSpecVolumesImageEnabled": ("kubernetes.podspec-volumes-image", "Enabled"),
    "withPodSpecPersistentVolumeWriteEnabled": (
        "kubernetes.podspec-persistent-volume-write",
        "Enabled",
    ),
    "WithPodSpecMountPropagationEnabled": (
        "kubernetes.podspec-volumes-mount-propagation",
        "Enabled",
    ),
    "withPodSpecPriorityClassNameEnabled": ("kubernetes.podspec-priorityclassname", "Enabled"),
    "withPodSpecSchedulerNameEnabled": ("kubernetes.podspec-schedulername", "Enabled"),
    "withPodSpecProcessNamespaceEnabled": ("kubernetes.podspec-shareprocessnamespace", "Enabled"),
    "withPodSpecInitContainersEnabled": ("kubernetes.podspec-init-containers", "Enabled"),
    "withMultiContainerProbesEnabled": ("multi-container-probing", "Enabled"),
    "withPodSpecDNSPolicyEnabled": ("kubernetes.podspec-dnspolicy", "Enabled"),
    "withPodSpecDNSConfigEnabled": ("kubernetes.podspec-dnsconfig", "Enabled"),
}

IMAGE = "busybox"
SERVING_PORT_CONTAINER = {"name": "serving", "image": IMAGE, "ports": [{"containerPort": 8080}]}


def service(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "corpus", "namespace": "default"},
        "spec": {"template": {"spec": pod_spec}},
    }


SPEC = "spec.template.spec"


@dataclass
class Placement:
    """How a test function's input becomes a manifest: the table field holding the
    input, and a function of (input json, case fields) -> (manifest, scope)."""

    input_field: str
    place: Callable[[Any, dict[str, Any]], tuple[dict[str, Any], str]]
    want_field: str = "want"
    filter_errors: bool = True


def _volumes_of(fields: dict[str, Any]) -> list[Any]:
    vols = fields.get("volumes") or {}
    return [
        dict(to_json(v), name=to_json(k)) if isinstance(v, Struct) else v for k, v in vols.items()
    ]


def place_pod_spec(ps: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    return service(ps), SPEC


def place_user_container(c: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    spec: dict[str, Any] = {"containers": [c]}
    if vols := _volumes_of(fields):
        spec["volumes"] = vols
    return service(spec), f"{SPEC}.containers[0]"


def place_sidecar(c: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    filler = dict(SERVING_PORT_CONTAINER)
    if isinstance(c, dict) and c.get("ports"):
        # A container with a port is the serving one; the filler must not add another.
        del filler["ports"]
    spec: dict[str, Any] = {"containers": [filler, c]}
    if vols := _volumes_of(fields):
        spec["volumes"] = vols
    return service(spec), f"{SPEC}.containers[1]"


def place_init(c: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    # The Go test calls validateInitContainer directly, past the feature gate.
    fields["__features"] = {"kubernetes.podspec-init-containers": "Enabled"}
    spec: dict[str, Any] = {"containers": [{"image": IMAGE}], "initContainers": [c]}
    if vols := _volumes_of(fields):
        spec["volumes"] = vols
    # Knative names init containers' errors containers[i] (k8s_validation.go).
    return service(spec), f"{SPEC}.containers[0]"


def place_volume(v: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    name = v.get("name", "") if isinstance(v, dict) else ""
    mount = {"name": name, "mountPath": "/corpus", "readOnly": True}
    container: dict[str, Any] = {"image": IMAGE, "volumeMounts": [mount]}
    return service({"containers": [container], "volumes": [v]}), f"{SPEC}.volumes[0]"


def place_pod_security_context(sc: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    # The Go test runs with kubernetes.podspec-securitycontext enabled.
    fields["__features"] = {"kubernetes.podspec-securitycontext": "Enabled"}
    spec: dict[str, Any] = {"containers": [{"image": IMAGE}]}
    if sc is not None:
        spec["securityContext"] = sc
    return service(spec), f"{SPEC}.securityContext"


PLACEMENTS: dict[str, dict[str, Placement]] = {
    "pkg/apis/serving/k8s_validation_test.go": {
        "TestPodSpecValidation": Placement("ps", place_pod_spec),
        "TestPodSpecMultiContainerValidation": Placement("ps", place_pod_spec),
        "TestPodSpecFeatureValidation": Placement("ps", place_pod_spec),
        "TestPodSpecFieldRefValidation": Placement("ps", place_pod_spec),
        "TestUserContainerValidation": Placement("c", place_user_container),
        "TestSidecarContainerValidation": Placement("c", place_sidecar),
        "TestInitContainerValidation": Placement("c", place_init),
        "TestVolumeValidation": Placement("v", place_volume),
        "TestPodSpecSecurityContextValidation": Placement("sc", place_pod_security_context),
    },
}

SKIPPED_FUNCTIONS = {
    "TestObjectReferenceValidation": "ValidateNamespacedObjectReference: no manifest field",
}


def translate_file(repo: Path, commit: str, path: str, helpers_env: dict[str, Any]) -> list[Case]:
    import knative_validation_objects as objects

    text = go_source(repo, path, commit)
    funcs = functions(text)
    placements = PLACEMENTS.get(path) or objects.PLACEMENTS.get(path, {})
    skipped = SKIPPED_FUNCTIONS | objects.SKIPPED_FUNCTIONS
    common = funcs.get("getCommonContainerValidationTestCases", "")
    base_env = dict(helpers_env) | objects.package_constants(repo, commit, path)
    helpers = objects.return_helpers(text, base_env)
    cases: list[Case] = []
    for fname, body in funcs.items():
        if not fname.startswith("Test"):
            continue
        if fname in skipped:
            try:
                _, skipped_cases = table_cases(body)
            except Unsupported:
                skipped_cases = []
            for i, case_text in enumerate(skipped_cases):
                m = re.search(r'name:\s*"((?:\\.|[^"\\])*)"', case_text)
                label = m.group(1) if m else f"#{i}"
                cases.append(
                    Case(path, fname, label, None, {}, None, None, "", skip=skipped[fname])
                )
            continue
        if fname == "TestPodSpecFeatureValidation":
            cases += feature_matrix(path, fname, body)
            continue
        placement = placements.get(fname)
        try:
            _, raw_cases = table_cases(body)
        except Unsupported:
            continue
        if "getCommonContainerValidationTestCases()" in body and common:
            _, extra = table_cases(common)
            raw_cases = raw_cases + extra
        env = dict(base_env)
        for m in re.finditer(r"^\t(\w+) := (corev1\.\w+|\"[^\"]*\"|true|false|\d+)$", body, re.M):
            env[m.group(1)] = Reader(tokenize(m.group(2)), {}, {}).expr()
        env |= objects.local_values(body, env, helpers)
        for i, case_text in enumerate(raw_cases):
            cases.append(translate_case(path, fname, i, case_text, placement, env, helpers))
    return cases


FEATURE_COMBOS = (
    ("flag disabled: %s not present", False, False),
    ("flag disabled: %s present", False, True),
    ("flag enabled: %s not present", True, False),
    ("flag enabled: %s present", True, True),
)


def feature_matrix(path: str, fname: str, body: str) -> list[Case]:
    """TestPodSpecFeatureValidation: each gated field, with and without its flag."""
    env: dict[str, Any] = {}
    for m in re.finditer(r"^\t(\w+) := (\"[^\"]*\"|true|false|\d+)$", body, re.M):
        env[m.group(1)] = Reader(tokenize(m.group(2)), {}, {}).expr()
    _, raw_cases = table_cases(body)
    cases = []
    for raw in raw_cases:
        name = re.search(r'name:\s*"([^"]*)"', raw)
        label = name.group(1) if name else "?"
        try:
            fields = parse_case(raw, env)
            spec = to_json(fields["featureSpec"])
            flags = dict(FEATURE_OPTIONS[o.name] for o in fields.get("cfgOpts") or [])
            err = fields.get("err")
            if fields.get("errLevel") == "warning":
                raise Unsupported("warning-level feature case")
        except (Unsupported, KeyError, TypeError, AttributeError) as exc:
            for template, _, _ in FEATURE_COMBOS:
                cases.append(
                    Case(
                        path,
                        fname,
                        template % label,
                        None,
                        {},
                        None,
                        None,
                        "",
                        skip=f"not translated: {exc}",
                    )
                )
            continue
        for template, enable, include in FEATURE_COMBOS:
            pod = (
                dict(spec, containers=[{"image": IMAGE}])
                if include
                else {"containers": [{"image": IMAGE}]}
            )
            leaves = err.leaves if isinstance(err, Errs) and include and not enable else []
            blocking = [_seen_from(e, SPEC) for e in leaves if e.level == "error"]
            cases.append(
                Case(
                    path,
                    fname,
                    template % label,
                    service(pod),
                    flags if enable else {},
                    not blocking,
                    format_errors(blocking) if blocking else None,
                    SPEC,
                )
            )
    return cases


def parse_case(raw: str, env: dict[str, Any]) -> dict[str, Any]:
    reader = Reader(tokenize(raw), env, {})
    value = reader.composite("case")
    if not isinstance(value, Struct):
        raise Unsupported("case is not a struct")
    return value.fields


def _seen_from(error: FieldError, scope: str) -> FieldError:
    """The error as Knative reports it for the whole manifest."""
    if not error.paths:
        return error
    if error.message == "more than one container port is set":
        # validateContainersPorts' error is reported at containers[*] in a pod spec.
        return FieldError(error.message, (f"{SPEC}.containers[*].ports",), error.details)
    return error.via(scope)


def translate_case(
    path: str,
    fname: str,
    i: int,
    raw: str,
    placement: Placement | None,
    env: dict[str, Any],
    helpers: dict[str, Callable[..., Any]] | None = None,
) -> Case:
    import knative_validation_objects as objects

    name_match = re.search(r'name:\s*"((?:\\.|[^"\\])*)"', raw)
    name = name_match.group(1) if name_match else f"#{i}"
    if placement is None:
        return Case(
            path,
            fname,
            name,
            None,
            {},
            None,
            None,
            "",
            skip="no placement for this test function yet",
        )
    try:
        # Config contexts (wc/ctx/configMutator functions, config.ToContext) are read
        # from their text: ConfigMap data and autoscaler config fields.
        text, literals = objects.cut_func_literals(raw)
        features: dict[str, str] = {}
        config: dict[str, Any] = {}
        contexts = list(literals)
        context_field = re.compile(r"^\t\t(wc|ctx|configMutator):\s*(?!nil,)", re.M)
        while (field_match := context_field.search(text)) is not None:
            end = objects.expression_end(text, field_match.end())
            contexts.append(text[field_match.end() : end])
            text = text[: field_match.end()] + "nil" + text[end:]
        for context_text in contexts:
            more_features, more_config = objects.config_from_maps(context_text)
            features |= more_features
            config |= more_config | objects.config_from_struct(context_text, env)
            if ctx := re.search(r"autoscalerConfigCtx\((true|false)", context_text):
                config["allow_zero_initial_scale"] = ctx.group(1) == "true"
        wc = "\n".join(contexts)
        reader = Reader(tokenize(text), env, helpers or {})
        value = reader.composite("case")
        if not isinstance(value, Struct):
            raise Unsupported("case is not a struct")
        fields = value.fields
        fields["__wc"] = wc
        for opt in fields.get("cfgOpts") or []:
            if not isinstance(opt, Call) or opt.name not in FEATURE_OPTIONS:
                raise Unsupported(f"config option {opt}")
            key, flag = FEATURE_OPTIONS[opt.name]
            features[key] = flag
        obj = to_json(fields.get(placement.input_field))
        manifest, scope = placement.place(obj, fields)
        features.update(fields.get("__features", {}))
        level = fields.get("__level") or fields.get("errLevel")
        errors = objects.wanted_errors(fields.get(placement.want_field))
        wanted = level if level in ("warning", "all") else "error"
        blocking = [_seen_from(e, scope) for e in errors if wanted == "all" or e.level == wanted]
        return Case(
            path,
            fname,
            name,
            manifest,
            features,
            not blocking,
            format_errors(blocking) if blocking else None,
            scope,
            level=wanted,
            config=config,
        )
    except (Unsupported, IndexError, KeyError, TypeError, ValueError) as exc:
        return Case(path, fname, name, None, {}, None, None, "", skip=f"not translated: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a knative/serving git directory")
    parser.add_argument("--commit", default="98e5ef90aa7033797aa0a61ef97f3ff7e49a3944")
    args = parser.parse_args(argv)
    from knative_validation_objects import PLACEMENTS as OBJECT_PLACEMENTS

    files = list(PLACEMENTS) + list(OBJECT_PLACEMENTS)
    OUT.mkdir(parents=True, exist_ok=True)
    for path in files:
        cases = translate_file(args.repo, args.commit, path, {})
        doc = {
            "source": f"knative/serving {path} at {args.commit}",
            "cases": [c.to_dict() for c in cases],
        }
        out = OUT / (Path(path).stem + ".yaml")
        out.write_text(yaml.safe_dump(doc, sort_keys=False, width=100), encoding="utf-8")
        done = sum(1 for c in cases if not c.skip)
        print(f"{path}: {done} of {len(cases)} translated -> {out.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
