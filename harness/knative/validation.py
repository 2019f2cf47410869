"""Knative's webhook validation of Services, Routes, Configurations and Revisions.

What ``validation.webhook.serving.knative.dev`` rejects, with its messages and field
paths, from knative/serving ``pkg/apis/serving/v1/*_validation.go`` (service, route,
configuration, revision), ``pkg/apis/serving/metadata_validation.go``,
``pkg/apis/autoscaling/annotation_validation.go`` and knative.dev/pkg
``apis/metadata_validation.go``. Objects are plain dicts as read from YAML/JSON or an
API; wrong shapes (a string where a number belongs) are reported as ``schema`` errors,
as the API server would reject them before the webhook runs.

Objects are validated as the webhook sees them, after Knative's defaulting
(``harness.knative.defaults``, the code the emulator's admission runs too; ``defaults=
False`` validates the object as given, as Knative's unit tests call ``Validate``). On an
update (``validate_object(..., old=stored)``) the checks that compare with the stored
object follow (``harness.knative.update_validation``), and the requesting user's name
goes into the creator/lastModifier annotations first (``harness.knative.user_info``).
Fields outside the CRD schema (``harness.knative.unknown_fields``) are the API server's,
which handles them before the webhook.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from harness.knative.autoscaling import GROUP as AUTOSCALING_GROUP
from harness.knative.autoscaling import validate_autoscaling_annotations
from harness.knative.cluster import ClusterConfig
from harness.knative.defaults import defaulted, set_defaults
from harness.knative.field_error import (
    FieldError,
    admission_denial,
    format_errors,
    join_path,
    only_errors,
)
from harness.knative.goparse import SECOND, format_float, parse_duration, parse_float
from harness.knative.k8s_validation import validate_pod_spec
from harness.knative.model import SERVING_API_VERSION, SERVING_GROUP
from harness.knative.names import dns1035_label_problems
from harness.knative.quantity import is_quantity
from harness.knative.traffic import JSON_FIELDS, TrafficTarget, json_type, validate_traffic
from harness.knative.update_validation import immutable_revision_spec, update_errors
from harness.knative.user_info import set_user_info

__all__ = [
    "ClusterConfig",
    "FieldError",
    "admission_denial",
    "format_errors",
    "only_errors",
    "validate_configuration",
    "validate_object",
    "validate_revision",
    "validate_route",
    "validate_service",
]

API_VERSION = SERVING_API_VERSION
ROLLOUT_DURATION = (f"{SERVING_GROUP}/rollout-duration", f"{SERVING_GROUP}/rolloutDuration")
PROGRESS_DEADLINE = f"{SERVING_GROUP}/progress-deadline"
QUEUE_RESOURCE_PERCENTAGE = (
    f"queue.sidecar.{SERVING_GROUP}/resource-percentage",
    f"queue.sidecar.{SERVING_GROUP}/resourcePercentage",
)
# knative/serving pkg/apis/serving/register.go: queue-proxy resources per revision.
QUEUE_RESOURCES = tuple(
    f"queue.sidecar.{SERVING_GROUP}/{what}-resource-{kind}"
    for what in ("cpu", "memory", "ephemeral-storage")
    for kind in ("request", "limit")
)
NETWORKING_GROUP = "networking.knative.dev"
# knative/networking pkg/apis/networking/metadata_validation.go: the only
# networking.knative.dev annotations a revision template may carry.
NETWORKING_ALLOWED = frozenset(
    f"{NETWORKING_GROUP}/{key}"
    for key in (
        "ingress.class",
        "ingress-class",
        "certificate.class",
        "certificate-class",
        "disableAutoTLS",
        "disable-auto-tls",
        "disable-external-domain-tls",
        "httpOption",
        "http-protocol",
    )
)
SERVICE_LABEL = f"{SERVING_GROUP}/service"
CONFIGURATION_LABEL = f"{SERVING_GROUP}/configuration"
AUTOSCALING_MISPLACED = (
    'autoscaling annotations must be put under "spec.template.metadata.annotations" to work'
)


def _schema(message: str, path: str) -> FieldError:
    return FieldError(message, (path,), rule="schema")


def _object(value: Any, path: str, errors: list[FieldError]) -> Mapping[str, Any]:
    """``value`` if it is a mapping; absent (None) is empty; anything else is a schema error."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    errors.append(_schema(f"expected object, got {json_type(value)}", path))
    return {}


def _string_map(value: Any, path: str, errors: list[FieldError]) -> dict[str, str]:
    """Labels/annotations: a map of strings. Non-string values (an unquoted ``5`` in YAML)
    are schema errors and left out."""
    result: dict[str, str] = {}
    for key, item in _object(value, path, errors).items():
        if isinstance(item, str):
            result[str(key)] = item
        else:
            errors.append(
                _schema(
                    f"expected string, got {json_type(item)} (quote the value)",
                    join_path(path, str(key)),
                )
            )
    return result


def _string(value: Any, path: str, errors: list[FieldError]) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    errors.append(_schema(f"expected string, got {json_type(value)}", path))
    return ""


def _integer(value: Any, path: str, errors: list[FieldError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    errors.append(_schema(f"expected integer, got {json_type(value)}", path))
    return None


def _mask_trailing_dash(prefix: str) -> str:
    # Kubernetes' maskTrailingDash: a generateName prefix may end in '-'.
    return prefix[:-2] + "a" if len(prefix) > 1 and prefix.endswith("-") else prefix


def _object_metadata(meta: Mapping[str, Any]) -> list[FieldError]:
    # knative.dev/pkg apis.ValidateObjectMetadata: the first problem only.
    errors: list[FieldError] = []
    name = _string(meta.get("name"), "name", errors)
    generate_name = _string(meta.get("generateName"), "generateName", errors)
    if errors:
        return errors
    if generate_name:
        masked = _mask_trailing_dash(generate_name)
        if problems := dns1035_label_problems(masked):
            return [
                FieldError(
                    f"not a DNS 1035 label prefix: [{' '.join(problems)}]",
                    ("generateName",),
                    rule="metadata-name",
                )
            ]
    if name and (problems := dns1035_label_problems(name)):
        return [
            FieldError(
                f"not a DNS 1035 label: [{' '.join(problems)}]", ("name",), rule="metadata-name"
            )
        ]
    if not generate_name and not name:
        return [FieldError("name or generateName is required", ("name",), rule="metadata-name")]
    return []


def _no_autoscaling_annotations(annotations: Mapping[str, str]) -> list[FieldError]:
    return [
        FieldError(
            f'invalid key name "{key}"',
            ("annotations",),
            details=AUTOSCALING_MISPLACED,
            rule="autoscaling-annotation-placement",
        )
        for key in sorted(annotations)
        if key.startswith(AUTOSCALING_GROUP)
    ]


def _second_precision_duration(
    annotations: Mapping[str, str], spellings: tuple[str, ...], what: str, rule: str
) -> list[FieldError]:
    # ValidateRolloutDurationAnnotation / validateProgressDeadlineAnnotation.
    key = next((k for k in spellings if k in annotations), spellings[0])
    value = annotations.get(key, "")
    if not value:
        return []
    try:
        nanos = parse_duration(value)
    except ValueError:
        return [FieldError(f"invalid value: {value}", (key,), rule=rule)]
    if nanos % SECOND:
        return [FieldError(f"{what}={value} is not at second precision", (key,), rule=rule)]
    if nanos < 0:
        return [FieldError(f"{what}={value} must be positive", (key,), rule=rule)]
    return []


def _rollout_duration(annotations: Mapping[str, str]) -> list[FieldError]:
    return _second_precision_duration(
        annotations, ROLLOUT_DURATION, "rollout-duration", "rollout-duration"
    )


def _owner_label(
    meta: Mapping[str, Any],
    labels: Mapping[str, str],
    label: str = SERVICE_LABEL,
    kind: str = "Service",
) -> list[FieldError]:
    # verifyLabelOwnerRef: a Route/Configuration labelled as a Service's must be owned
    # by that Service; a Revision labelled as a Configuration's, by that Configuration.
    if label not in labels:
        return []
    refs = meta.get("ownerReferences")
    owned = isinstance(refs, list) and any(
        isinstance(r, Mapping) and r.get("kind") == kind and r.get("name") == labels[label]
        for r in refs
    )
    if owned:
        return []
    return [FieldError("missing field(s)", (f"labels.{label}",), rule="metadata-owner-label")]


def _metadata(
    obj: Mapping[str, Any], *, rollout: bool, owner_label: bool
) -> tuple[Mapping[str, Any], list[FieldError]]:
    """Validate a top-level object's metadata; returns it and errors under ``metadata``."""
    errors: list[FieldError] = []
    meta = _object(obj.get("metadata"), "metadata", errors)
    local: list[FieldError] = []
    annotations = _string_map(meta.get("annotations"), "annotations", local)
    labels = _string_map(meta.get("labels"), "labels", local)
    local += _object_metadata(meta)
    local += _no_autoscaling_annotations(annotations)
    if owner_label:
        local += _owner_label(meta, labels)
    if rollout:
        local += [e.via("annotations") for e in _rollout_duration(annotations)]
    errors += [e.via("metadata") for e in local]
    return meta, errors


def _revision_spec(spec: Mapping[str, Any], config: ClusterConfig) -> list[FieldError]:
    errors = validate_pod_spec(spec, config.features)
    timeout = _integer(spec.get("timeoutSeconds"), "timeoutSeconds", errors)
    if timeout and not 0 <= timeout <= config.max_revision_timeout_seconds:
        errors.append(
            FieldError(
                f"expected 0 <= {timeout} <= {config.max_revision_timeout_seconds}",
                ("timeoutSeconds",),
                rule="timeout-seconds",
            )
        )
    cc = _integer(spec.get("containerConcurrency"), "containerConcurrency", errors)
    low = 0 if config.allow_container_concurrency_zero else 1
    if cc is not None and not low <= cc <= config.container_concurrency_max_limit:
        errors.append(
            FieldError(
                f"expected {low} <= {cc} <= {config.container_concurrency_max_limit}",
                ("containerConcurrency",),
                rule="container-concurrency",
            )
        )
    return errors


def _revision_name(name: str, generate_name: str, parent: Mapping[str, Any]) -> list[FieldError]:
    # validateRevisionName: the first problem only; paths relative to the template.
    if generate_name:
        masked = _mask_trailing_dash(generate_name)
        if problems := dns1035_label_problems(masked):
            return [
                FieldError(
                    f"invalid value: not a DNS 1035 label prefix: [{' '.join(problems)}]",
                    ("metadata.generateName",),
                    rule="revision-name",
                )
            ]
    if not name:
        return []
    if problems := dns1035_label_problems(name):
        return [
            FieldError(
                f"invalid value: not a DNS 1035 label: [{' '.join(problems)}]",
                ("metadata.name",),
                rule="revision-name",
            )
        ]
    parent_name = parent.get("name") if isinstance(parent.get("name"), str) else ""
    if not parent_name and parent.get("generateName"):
        # A parent named by generateName has no name to prefix the revision with yet.
        return [FieldError("must not set the field(s)", ("metadata.name",), rule="revision-name")]
    prefix = f"{parent_name}-"
    if not name.startswith(prefix):
        return [
            FieldError(
                f'invalid value: "{name}" must have prefix "{prefix}"',
                ("metadata.name",),
                rule="revision-name-prefix",
            )
        ]
    return []


def _networking_annotations(annotations: Mapping[str, str]) -> list[FieldError]:
    return [
        FieldError(f'invalid key name "{key}"', ("",), rule="networking-annotation")
        for key in sorted(annotations)
        if key.startswith(NETWORKING_GROUP) and key not in NETWORKING_ALLOWED
    ]


def _queue_resource_percentage(annotations: Mapping[str, str]) -> list[FieldError]:
    key = next((k for k in QUEUE_RESOURCE_PERCENTAGE if k in annotations), None)
    if key is None:
        return []
    path = f"[{key}]"
    value = annotations[key]
    errors = [
        FieldError(
            "Queue proxy resource percentage annotation is deprecated. Please use the available "
            "annotations to explicitly set resource values per service",
            # Knative attaches the key to an error without paths, so it has none.
            (),
            level="warning",
            rule="queue-resource-percentage",
        )
    ]
    try:
        number = parse_float(value)
    except ValueError:
        errors.append(
            FieldError(f"invalid value: {value}", (path,), rule="queue-resource-percentage")
        )
    else:
        if not 0.1 <= number <= 100:
            errors.append(
                FieldError(
                    f"expected 0.1 <= {format_float(number)} <= 100",
                    (path,),
                    rule="queue-resource-percentage",
                )
            )
    return errors


def _queue_resources(annotations: Mapping[str, str]) -> list[FieldError]:
    # validateQueueSidecarResourceAnnotations: each value parses as a quantity.
    return [
        FieldError(
            f"invalid value: {annotations[key]}", (f"[{key}]",), rule="queue-resource-annotation"
        )
        for key in QUEUE_RESOURCES
        if key in annotations and not is_quantity(annotations[key])
    ]


def validate_template(
    template: Mapping[str, Any],
    parent: Mapping[str, Any],
    config: ClusterConfig,
    *,
    defaults: bool = True,
) -> list[FieldError]:
    """Knative's ``RevisionTemplateSpec.Validate``; paths relative to the template
    (``metadata.annotations.autoscaling.knative.dev/window``). ``parent`` is the owning
    Service's or Configuration's metadata, whose name revision names must start with.
    The template is validated as given (``defaults`` is kept for callers; the object
    validators default the whole object first)."""
    errors: list[FieldError] = []
    meta = _object(template.get("metadata"), "metadata", errors)
    spec = _object(template.get("spec"), "spec", errors)
    annotations = _string_map(meta.get("annotations"), "metadata.annotations", errors)
    name = _string(meta.get("name"), "metadata.name", errors)
    generate_name = _string(meta.get("generateName"), "metadata.generateName", errors)
    errors += [e.via("spec") for e in _revision_spec(spec, config)]
    errors += [
        e.via("metadata.annotations") for e in validate_autoscaling_annotations(annotations, config)
    ]
    errors += [e.via("metadata.annotations") for e in _networking_annotations(annotations)]
    errors += _revision_name(name, generate_name, parent)
    errors += [e.via("metadata.annotations") for e in _queue_resource_percentage(annotations)]
    errors += [e.via("metadata.annotations") for e in _queue_resources(annotations)]
    errors += [
        e.via("metadata.annotations")
        for e in _second_precision_duration(
            annotations, (PROGRESS_DEADLINE,), "progress-deadline", "progress-deadline"
        )
    ]
    return errors


def _parse_traffic(value: Any, path: str) -> tuple[list[TrafficTarget], list[FieldError]]:
    """Traffic entries from JSON, with schema errors for entries that cannot be read
    (those entries are left out)."""
    errors: list[FieldError] = []
    if value is None:
        return [], errors
    if not isinstance(value, list):
        return [], [_schema(f"expected array, got {json_type(value)}", path)]
    targets = []
    for i, item in enumerate(value):
        entry_path = f"{path}[{i}]"
        entry = _object(item, entry_path, errors)
        unknown = [key for key in entry if key not in JSON_FIELDS]
        errors += [
            _schema(f'unknown field "{key}"', join_path(entry_path, str(key))) for key in unknown
        ]
        try:
            targets.append(
                TrafficTarget.from_dict({k: v for k, v in entry.items() if k not in unknown})
            )
        except ValueError as exc:
            errors.append(_schema(str(exc), entry_path))
    return targets, errors


def _spec_traffic(spec: Mapping[str, Any], *, in_service: bool) -> list[FieldError]:
    targets, errors = _parse_traffic(spec.get("traffic"), "traffic")
    if errors:
        # Without every entry, a sum or a duplicate would be reported wrongly.
        return errors
    if in_service and not targets:
        # Knative's defaulting: a Service without traffic sends 100% to its latest revision.
        targets = [TrafficTarget(percent=100, latest_revision=True)]
    return validate_traffic(targets, path="traffic", in_service=in_service)


def _defaulted(obj: Mapping[str, Any], kind: str, config: ClusterConfig) -> Mapping[str, Any]:
    """The object after Knative's defaulting webhook (``harness.knative.defaults``), the
    same code path the emulator's admission runs."""
    return defaulted(dict(obj, kind=kind), config)


def validate_service(
    obj: Mapping[str, Any], config: ClusterConfig | None = None, *, defaults: bool = True
) -> list[FieldError]:
    """Every error (and warning) Knative's webhook gives for this Service on create
    (after its defaulting, unless ``defaults=False``)."""
    config = config or ClusterConfig()
    if defaults:
        obj = _defaulted(obj, "Service", config)
    meta, errors = _metadata(obj, rollout=True, owner_label=False)
    spec = _object(obj.get("spec"), "spec", errors)
    template = _object(spec.get("template"), "spec.template", errors)
    errors += [
        e.via("spec.template") for e in validate_template(template, meta, config, defaults=False)
    ]
    errors += [e.via("spec") for e in _spec_traffic(spec, in_service=True)]
    return errors


def validate_route(
    obj: Mapping[str, Any], config: ClusterConfig | None = None, *, defaults: bool = True
) -> list[FieldError]:
    """Every error Knative's webhook gives for this Route on create."""
    if defaults:
        obj = _defaulted(obj, "Route", config or ClusterConfig())
    _, errors = _metadata(obj, rollout=True, owner_label=True)
    spec = _object(obj.get("spec"), "spec", errors)
    errors += [e.via("spec") for e in _spec_traffic(spec, in_service=False)]
    return errors


def validate_configuration(
    obj: Mapping[str, Any], config: ClusterConfig | None = None, *, defaults: bool = True
) -> list[FieldError]:
    """Every error (and warning) Knative's webhook gives for this Configuration on create."""
    config = config or ClusterConfig()
    if defaults:
        obj = _defaulted(obj, "Configuration", config)
    meta, errors = _metadata(obj, rollout=False, owner_label=True)
    spec = _object(obj.get("spec"), "spec", errors)
    template = _object(spec.get("template"), "spec.template", errors)
    errors += [
        e.via("spec.template") for e in validate_template(template, meta, config, defaults=False)
    ]
    return errors


def _revision_metadata(obj: Mapping[str, Any], config: ClusterConfig) -> list[FieldError]:
    errors: list[FieldError] = []
    meta = _object(obj.get("metadata"), "metadata", errors)
    local: list[FieldError] = []
    annotations = _string_map(meta.get("annotations"), "annotations", local)
    labels = _string_map(meta.get("labels"), "labels", local)
    local += _object_metadata(meta)
    local += [e.via("annotations") for e in validate_autoscaling_annotations(annotations, config)]
    local += _owner_label(meta, labels, CONFIGURATION_LABEL, "Configuration")
    return errors + [e.via("metadata") for e in local]


def validate_revision(
    obj: Mapping[str, Any], config: ClusterConfig | None = None, *, defaults: bool = True
) -> list[FieldError]:
    """Every error (and warning) Knative's webhook gives for a Revision on create
    (``Revision.Validate`` in revision_validation.go): metadata with its autoscaling
    annotations, the configuration label's owner, and the revision spec."""
    config = config or ClusterConfig()
    if defaults:
        obj = _defaulted(obj, "Revision", config)
    errors = _revision_metadata(obj, config)
    spec = _object(obj.get("spec"), "spec", errors)
    errors += [e.via("spec") for e in _revision_spec(spec, config)]
    return errors


VALIDATORS = {
    "Service": validate_service,
    "Route": validate_route,
    "Configuration": validate_configuration,
    "Revision": validate_revision,
}


def validate_object(
    obj: Mapping[str, Any],
    config: ClusterConfig | None = None,
    *,
    defaults: bool = True,
    old: Mapping[str, Any] | None = None,
    user: str | None = None,
    subresource: str = "",
) -> list[FieldError]:
    """Validate a ``serving.knative.dev/v1`` Service, Route, Configuration or Revision by kind,
    after Knative's defaulting as the webhook does (``defaults=False``: validation alone,
    as Knative's unit tests call it). ``old`` is the stored object when this is an update
    (its checks follow the others; a Revision's spec may not change and its spec is not
    validated again), ``user`` the requesting user's name (the creator/lastModifier
    annotations, set by defaulting), ``subresource`` the subresource written (``status``:
    a Service's or Configuration's metadata and spec are not validated, as Knative elides
    them for the controller's status writes). Raises ``ValueError`` for any other
    apiVersion/kind."""
    kind = obj.get("kind")
    if obj.get("apiVersion") != API_VERSION or kind not in VALIDATORS:
        raise ValueError(
            f"not a {API_VERSION} Service, Route, Configuration or Revision: "
            f"{obj.get('apiVersion')}/{kind}"
        )
    config = config or ClusterConfig()
    if defaults:
        out = copy.deepcopy(dict(obj))
        set_defaults(out, config, dict(old) if old is not None else None)
        set_user_info(out, old, user)
        obj = out
    if old is not None and kind == "Revision":
        return immutable_revision_spec(obj, old) or _revision_metadata(obj, config)
    if subresource == "status" and kind in ("Service", "Configuration"):
        errors: list[FieldError] = []
    else:
        errors = VALIDATORS[kind](obj, config, defaults=False)
    if old is not None:
        errors += update_errors(obj, old)
    return errors
