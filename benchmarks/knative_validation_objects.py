"""Placements for Knative's object-level validation tests (data, not code).

The translator (``knative_validation_translate.py``) reads Go test tables; this module
says where each tested value goes in a manifest for the test files of
``pkg/apis/serving/v1`` (Service, Configuration, Route, Revision, traffic targets,
revision templates), ``pkg/apis/autoscaling/annotation_validation_test.go`` and
``pkg/apis/serving/metadata_validation_test.go``, plus the Go constants, table-local
variables, helper functions and config contexts those tables use.

Tests that validate an update (``apis.WithinUpdate``: the previous object decides) or
user info (``apis.WithUserInfo``) have no single manifest; they are written with a
``skip`` reason, so the left-out count stays honest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from knative_validation_translate import (
    Call,
    Errs,
    Placement,
    Reader,
    Struct,
    Unsupported,
    constants_from,
    go_source,
    to_json,
    tokenize,
)

from harness.knative.field_error import FieldError

API = "serving.knative.dev/v1"
IMAGE = "busybox"

# Go packages whose exported string/int constants the tables use, and the prefix a
# test file outside that package writes them with.
CONSTANT_SOURCES = {
    "pkg/apis/serving/register.go": "serving",
    "pkg/apis/autoscaling/register.go": "autoscaling",
    "pkg/apis/config/defaults.go": "config",
    "pkg/apis/config/features.go": "config",
}
# knative.dev/networking is another module; the one constant the tables use.
EXTRA_CONSTANTS = {"netapi.VisibilityLabelKey": "networking.knative.dev/visibility"}
# The package each test file is in (its own constants go unqualified).
FILE_PACKAGE = {
    "pkg/apis/autoscaling/annotation_validation_test.go": "autoscaling",
    "pkg/apis/serving/metadata_validation_test.go": "serving",
}

UPDATE_SKIP = (
    "update: Knative compares the new object with the stored one (apis.WithinUpdate); "
    "a single manifest has no previous object"
)
USERINFO_SKIP = (
    "user info: the creator/lastModifier annotations come from the request's user "
    "(apis.WithUserInfo), which a manifest does not carry"
)
STATUS_SKIP = "status: validated within status, which the API server's status subresource sets"


def package_constants(repo: Any, commit: str, test_path: str) -> dict[str, Any]:
    """Constants by qualified name (``serving.RouteLabelKey``), and unqualified for the
    test file's own package."""
    env: dict[str, Any] = dict(EXTRA_CONSTANTS)
    own = FILE_PACKAGE.get(test_path)
    for path, pkg in CONSTANT_SOURCES.items():
        for name, value in constants_from(go_source(repo, path, commit)).items():
            env[f"{pkg}.{name}"] = value
            if pkg == own:
                env[name] = value
    return env


# --- Go text helpers ----------------------------------------------------------------------


def expression_end(text: str, start: int) -> int:
    """Where the Go expression starting at ``start`` ends: a ``,`` outside brackets and
    strings (the end of a field's value), or the first newline there that does not
    continue the expression (a trailing ``.``, ``+`` or ``(``)."""
    depth = 0
    i = start
    in_str: str | None = None
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\" and in_str == '"':
                i += 2
                continue
            if c == in_str:
                in_str = None
        elif c in '"`':
            in_str = c
        elif c == "/" and text[i : i + 2] == "//":
            i = text.index("\n", i)
            continue
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
            if depth < 0:
                return i
        elif c == "," and depth == 0:
            return i
        elif c == "\n" and depth == 0:
            before = text[start:i].rstrip()
            if not before.endswith((".", "+", "(")):
                return i
        i += 1
    return i


def local_values(body: str, env: dict[str, Any], helpers: dict[str, Any]) -> dict[str, Any]:
    """``name := expr`` statements at the top of a test function (before its table)."""
    out: dict[str, Any] = {}
    table = re.search(r"^\t\w+ := \[\]struct", body, re.M)
    head = body[: table.start()] if table else body
    for m in re.finditer(r"^\t(\w+) := ", head, re.M):
        end = expression_end(head, m.end())
        try:
            out[m.group(1)] = Reader(tokenize(head[m.end() : end]), env | out, helpers).expr()
        except (Unsupported, IndexError, KeyError, TypeError):
            continue
    return out


def return_helpers(text: str, env: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """Top-level ``func name(params) T { return expr }`` helpers as callables."""
    helpers: dict[str, Callable[..., Any]] = {}
    pattern = re.compile(r"^func (\w+)\(([^)]*)\) [^{\n]*\{\n\treturn (.*?)\n\}", re.M | re.S)
    for m in pattern.finditer(text):
        params = [p.strip().split(" ")[0] for p in m.group(2).split(",") if p.strip()]
        body = m.group(3)
        if body.startswith("func"):
            continue  # config options (withX()) stay symbolic calls

        def helper(*args: Any, _params: list[str] = params, _body: str = body) -> Any:
            local = env | dict(zip(_params, args, strict=False))
            return Reader(tokenize(_body), local, helpers).expr()

        helpers[m.group(1)] = helper
    return helpers


# --- contexts: config-features, config-defaults, config-autoscaler --------------------------

# config-defaults / config-autoscaler keys -> ClusterConfig fields.
CONFIG_KEYS = {
    "max-revision-timeout-seconds": ("max_revision_timeout_seconds", int),
    "revision-timeout-seconds": ("revision_timeout_seconds", int),
    "revision-response-start-timeout-seconds": ("response_start_timeout_seconds", int),
    "revision-idle-timeout-seconds": ("revision_idle_timeout_seconds", int),
    "container-concurrency-max-limit": ("container_concurrency_max_limit", int),
    "allow-container-concurrency-zero": ("allow_container_concurrency_zero", "bool"),
    "allow-zero-initial-scale": ("allow_zero_initial_scale", "bool"),
}
# Go autoscaler config struct fields -> ClusterConfig fields.
AUTOSCALER_FIELDS = {
    "MaxScaleLimit": "max_scale_limit",
    "AllowZeroInitialScale": "allow_zero_initial_scale",
    "PodAutoscalerClass": "pod_autoscaler_class",
}


def _config_value(kind: Any, raw: str) -> Any:
    if kind == "bool":
        return raw.lower() == "true"
    return kind(raw)


def config_from_maps(text: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Features and cluster settings from the ConfigMap data a ``wc``/``ctx`` sets."""
    features: dict[str, str] = {}
    config: dict[str, Any] = {}
    for key, value in re.findall(r'"([\w.-]+)":\s*"([^"]*)"', text):
        if key in CONFIG_KEYS:
            name, kind = CONFIG_KEYS[key]
            config[name] = _config_value(kind, value)
        elif key == "initial-scale":
            continue  # config-autoscaler's default initial scale: no validation reads it
        else:
            features[key] = value.capitalize() if value.islower() else value
    return features, config


def config_from_struct(text: str, env: dict[str, Any]) -> dict[str, Any]:
    """``&autoscalerconfig.Config{AllowZeroInitialScale: true}`` and ``c.MaxScale = 11``."""
    config: dict[str, Any] = {}
    for name, value in re.findall(r"\b(\w+)(?::|\s*=)\s*([\w.\"-]+)", text):
        if name not in AUTOSCALER_FIELDS:
            continue
        config[AUTOSCALER_FIELDS[name]] = Reader(tokenize(value), env, {}).expr()
    return config


def cut_func_literals(raw: str) -> tuple[str, list[str]]:
    """The case text with each ``func(...) ... { ... }`` literal replaced by ``nil``, and
    the literals' texts (their config effects are read from the text)."""
    found: list[str] = []
    out = raw
    while (m := re.search(r"\bfunc\s*\([^)]*\)[^{\n]*\{", out)) is not None:
        depth = 0
        i = m.end() - 1
        while i < len(out):
            if out[i] == "{":
                depth += 1
            elif out[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        found.append(out[m.start() : i + 1])
        out = out[: m.start()] + "nil" + out[i + 1 :]
    return out, found


# --- manifests --------------------------------------------------------------------------


def _object(kind: str, value: Any) -> dict[str, Any]:
    body = to_json(value) if isinstance(value, Struct) else dict(value or {})
    body.pop("status", None)
    return {"apiVersion": API, "kind": kind, **body}


def _service(template: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Service",
        "metadata": meta if meta is not None else {"name": "corpus"},
        "spec": {"template": template},
    }


def _containers() -> dict[str, Any]:
    return {"containers": [{"image": IMAGE}]}


def _errs_from_text(text: str) -> Errs:
    """An expected error given as ``Error()`` text: ``message: path, path`` per line."""
    leaves = []
    for line in text.split("\n") if text else []:
        message, _, paths = line.rpartition(": ")
        if not message:
            raise Unsupported(f"cannot read error line {line!r}")
        leaves.append(FieldError(message, tuple(paths.split(", "))))
    return Errs(leaves)


def place_kind(kind: str) -> Callable[[Any, dict[str, Any]], tuple[dict[str, Any], str]]:
    def place(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if value is None:
            raise Unsupported("no object")
        return _object(kind, value), ""

    return place


def place_traffic(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    wc = fields.get("__wc", "")
    if "WithinStatus" in wc:
        raise Unsupported(STATUS_SKIP)
    target = dict(value or {})
    if "WithDefaultConfigurationName" in wc:
        # A Service's traffic: its own configuration is the default.
        manifest = _service({"spec": _containers()})
        manifest["spec"]["traffic"] = [target]
    else:
        manifest = {
            "apiVersion": API,
            "kind": "Route",
            "metadata": {"name": "corpus"},
            "spec": {"traffic": [target]},
        }
    return manifest, "spec.traffic[0]"


def place_revision_spec(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    return _service({"spec": dict(value or {})}), "spec.template.spec"


def place_template(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    # The Go test validates within a parent named "parent".
    return _service(dict(value or {}), {"name": "parent"}), "spec.template"


def place_annotations(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    template: dict[str, Any] = {"spec": _containers()}
    if value:
        template["metadata"] = {"annotations": dict(value)}
    return _service(template), "spec.template.metadata.annotations"


def place_object_meta(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    # allowAutoscaling: ValidateObjectMetadata as a Revision calls it; else as a Service.
    meta = dict(value or {})
    if fields.get("allowAutoscaling"):
        return {
            "apiVersion": API,
            "kind": "Revision",
            "metadata": meta,
            "spec": _containers(),
        }, "metadata"
    return _service({"spec": _containers()}, meta), "metadata"


def place_service_annotations(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    meta: dict[str, Any] = {"name": "corpus"}
    if value:
        meta["annotations"] = dict(value)
    return _service({"spec": _containers()}, meta), "metadata.annotations"


def place_container_concurrency(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    spec = _containers()
    if value is not None:
        spec["containerConcurrency"] = value
    return _service({"spec": spec}), "spec.template.spec.containerConcurrency"


def place_timeout(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    spec = dict(_containers(), timeoutSeconds=value)
    return _service({"spec": spec}), "spec.template.spec"


def place_rollout(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    meta = {"name": "corpus", "annotations": {"serving.knative.dev/rollout-duration": value or ""}}
    return _service({"spec": _containers()}, meta), "metadata.annotations"


def place_revision_name(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    parent = to_json(fields.get("objectMeta")) or {}
    template_meta = {}
    if fields.get("revName"):
        template_meta["name"] = fields["revName"]
    if fields.get("revGenerateName"):
        template_meta["generateName"] = fields["revGenerateName"]
    template: dict[str, Any] = {"spec": _containers()}
    if template_meta:
        template["metadata"] = template_meta
    return _service(template, parent), "spec.template"


def place_queue_annotations(value: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    fields["__level"] = "all"
    return place_annotations(value, fields)


SERVING_V1 = "pkg/apis/serving/v1/"

PLACEMENTS: dict[str, dict[str, Placement]] = {
    f"{SERVING_V1}service_validation_test.go": {
        "TestServiceValidation": Placement("r", place_kind("Service"), "wantErr"),
    },
    f"{SERVING_V1}configuration_validation_test.go": {
        "TestConfigurationValidation": Placement("c", place_kind("Configuration")),
        "TestConfigurationLabelValidation": Placement("c", place_kind("Configuration")),
    },
    f"{SERVING_V1}route_validation_test.go": {
        "TestTrafficTargetValidation": Placement("tt", place_traffic),
        "TestRouteValidation": Placement("r", place_kind("Route")),
        "TestRouteLabelValidation": Placement("r", place_kind("Route")),
    },
    f"{SERVING_V1}revision_validation_test.go": {
        "TestRevisionValidation": Placement("r", place_kind("Revision")),
        "TestRevisionLabelAnnotationValidation": Placement("r", place_kind("Revision")),
        "TestContainerConcurrencyValidation": Placement("cc", place_container_concurrency),
        "TestRevisionSpecValidation": Placement("rs", place_revision_spec),
        "TestRevisionTemplateSpecValidation": Placement("rts", place_template),
        "TestValidateQueueSidecarAnnotation": Placement(
            "annotation", place_queue_annotations, "expectErr"
        ),
        "TestValidateTimeoutSecond": Placement("timeout", place_timeout, "expectErr"),
        "TestValidateRevisionName": Placement("revName", place_revision_name, "expectErr"),
    },
    "pkg/apis/autoscaling/annotation_validation_test.go": {
        "TestValidateAnnotations": Placement("annotations", place_annotations, "expectErr"),
    },
    "pkg/apis/serving/metadata_validation_test.go": {
        "TestValidateObjectMetadata": Placement("objectMeta", place_object_meta, "expectErr"),
        "TestValidateHasNoAutoscalingAnnotation": Placement(
            "annotation", place_service_annotations, "expectErr"
        ),
        "TestValidateContainerConcurrency": Placement(
            "containerConcurrency", place_container_concurrency, "expectErr"
        ),
        "TestValidateRolloutDurationAnnotation": Placement("value", place_rollout, "want"),
    },
}

SKIPPED_FUNCTIONS = {
    "TestImmutableServiceFields": UPDATE_SKIP,
    "TestServiceSubresourceUpdate": UPDATE_SKIP,
    "TestServiceAnnotationUpdate": UPDATE_SKIP,
    "TestImmutableConfigurationFields": UPDATE_SKIP,
    "TestConfigurationSubresourceUpdate": UPDATE_SKIP,
    "TestConfigurationAnnotationUpdate": UPDATE_SKIP,
    "TestRouteAnnotationUpdate": UPDATE_SKIP,
    "TestImmutableFields": UPDATE_SKIP,
    "TestAnnotationCreate": USERINFO_SKIP,
    "TestAnnotationUpdate": UPDATE_SKIP,
}


def wanted_errors(want: Any) -> list[FieldError]:
    """The expected errors whatever form the table gives them in."""
    if want is None or want == "":
        return []
    if isinstance(want, Errs):
        return want.leaves
    if isinstance(want, str):
        return _errs_from_text(want).leaves
    if isinstance(want, Call):
        raise Unsupported(f"want {want.name}")
    raise Unsupported(f"want {type(want).__name__}")
