"""Knative Eventing's webhook for ``eventing.knative.dev/v1`` Broker and Trigger: defaults
and validation, pure (no I/O), used by the emulator's admission and by ``harness lint``.

Mirrors knative/eventing at 8cf4c4b673034020f5ecab731fb6a2a7f9350244:
``pkg/apis/eventing/v1/{broker,trigger}_{defaults,validation}.go``,
``pkg/apis/duck/v1/delivery_types.go`` and knative.dev/pkg's ``Destination`` and
``KReference`` validation, with Knative's default features and ConfigMaps (no
cross-namespace links, no delivery timeout or retry-after, ``MTChannelBasedBroker``).
Messages and field paths are Knative's, including its quirk of re-prefixing earlier
``spec.filters`` entries with later indices.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.knative.cesql import CesqlError
from harness.knative.cesql import parse as cesql_parse
from harness.knative.field_error import FieldError, admission_denial

EVENTING_WEBHOOK_NAME = "validation.webhook.eventing.knative.dev"
BROKER_CLASS_ANNOTATION = "eventing.knative.dev/broker.class"
DEFAULT_BROKER_CLASS = "MTChannelBasedBroker"
DEPENDENCY_ANNOTATION = "knative.dev/dependency"
INJECTION_ANNOTATION = "eventing.knative.dev/injection"
BROKER_LABEL = "eventing.knative.dev/broker"
# config-br-defaults in knative-eventing (config/core/configmaps/default-broker.yaml).
DEFAULT_BROKER_CONFIG: dict[str, str] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "name": "config-br-default-channel",
    "namespace": "knative-eventing",
}
FILTER_DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")

_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9]*$")
_NUM = r"\d+(?:[.,]\d+)?"
_PERIOD = re.compile(
    rf"^[-+]?P(?:({_NUM})Y)?(?:({_NUM})M)?(?:({_NUM})W)?(?:({_NUM})D)?"
    rf"(?:T(?:({_NUM})H)?(?:({_NUM})M)?(?:({_NUM})S)?)?$"
)
# rickb777/date period.Duration's approximations of a year and a month, in seconds.
_PERIOD_UNITS_S = (365.2425 * 86400, 30.436875 * 86400, 7 * 86400, 86400, 3600, 60, 1)

JSON = dict[str, Any]


def parse_iso8601_duration(text: str) -> float | None:
    """Seconds of an ISO-8601 period (``PT0.2S``, ``PT1M``, ``P1D``), or None when it is
    not one (as rickb777/date ``period.Parse``, which Knative uses for ``backoffDelay``)."""
    match = _PERIOD.match(text)
    if match is None or all(g is None for g in match.groups()) or text.endswith("T"):
        return None
    seconds = sum(
        float(g.replace(",", ".")) * unit
        for g, unit in zip(match.groups(), _PERIOD_UNITS_S, strict=True)
        if g is not None
    )
    return -seconds if text.startswith("-") else seconds


# ----- the webhooks' decoding -----

# Knative Eventing's webhooks decode the object into its Go types with encoding/json's
# DisallowUnknownFields (cmd/webhook/main.go at 8cf4c4b6: "Whether to disallow unknown
# fields: true"; knative.dev/pkg webhook/json/decode.go at 521cb33b skips metadata). The
# CRD schemas preserve unknown fields under a Trigger's ``spec`` and any ``delivery``, so
# the API server keeps what the Go types lack there and the defaulting webhook, which runs
# first, denies it (pkg webhook/resourcesemantics/defaulting/defaulting.go: "mutation
# failed: cannot decode incoming new object: ..."). The Go types' JSON names (1: a scalar
# or a map of strings): pkg/apis/eventing/v1/{broker,trigger}_types.go,
# pkg/apis/duck/v1/delivery_types.go, knative.dev/pkg apis/duck/v1/{destination,
# knative_reference}.go.
DEFAULTING_WEBHOOK_NAME = "webhook.eventing.knative.dev"
_KREFERENCE: JSON = dict.fromkeys(
    ("kind", "namespace", "name", "apiVersion", "group", "address"), 1
)
_DESTINATION: JSON = {"ref": _KREFERENCE, "uri": 1, "CACerts": 1, "audience": 1}
_DELIVERY: JSON = {
    "deadLetterSink": _DESTINATION,
    **dict.fromkeys(
        ("retry", "timeout", "backoffPolicy", "backoffDelay", "retryAfterMax", "format"), 1
    ),
}
_API_FILTER: JSON = {"exact": 1, "prefix": 1, "suffix": 1, "cesql": 1}
for _nested in ("all", "any", "not"):  # SubscriptionsAPIFilter nests itself
    _API_FILTER[_nested] = _API_FILTER
GO_FIELDS: dict[str, JSON] = {
    "Broker": {"spec": {"config": _KREFERENCE, "delivery": _DELIVERY}},
    "Trigger": {
        "spec": {
            "broker": 1,
            "brokerRef": _KREFERENCE,
            "filter": {"attributes": 1},
            "filters": _API_FILTER,
            "subscriber": _DESTINATION,
            "delivery": _DELIVERY,
        }
    },
}


def _go_match(key: str, fields: Mapping[str, Any]) -> str | None:
    """The Go field encoding/json decodes ``key`` into: the exact name, else one equal
    under case folding (as its ``foldName`` match), else None."""
    if key in fields:
        return key
    folded = key.casefold()
    return next((name for name in fields if name.casefold() == folded), None)


def _undecodable(fields: Any, value: Any, path: str, found: list[tuple[str, str]]) -> None:
    if not isinstance(fields, dict):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _undecodable(fields, item, f"{path}[{i}]", found)
        return
    if not isinstance(value, Mapping):
        return
    for key in sorted(value):  # the API server sends the object with its keys sorted
        child = f"{path}.{key}" if path else str(key)
        name = _go_match(str(key), fields)
        if name is None:
            found.append((child, str(key)))
        else:
            _undecodable(fields[name], value[key], child, found)


def undecodable_fields(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (path, key) of each field of a Broker's or Trigger's ``spec`` its Go type does
    not have, in the order the webhook's decoder meets them (the first is the denial's)."""
    fields = GO_FIELDS.get(str(obj.get("kind")))
    found: list[tuple[str, str]] = []
    if fields is not None and "spec" in obj:
        _undecodable(fields["spec"], obj["spec"], "spec", found)
    return found


def _canonical(fields: Any, value: Any) -> None:
    if not isinstance(fields, dict):
        return
    if isinstance(value, list):
        for item in value:
            _canonical(fields, item)
        return
    if not isinstance(value, dict):
        return
    winners: dict[str, Any] = {}
    for key in sorted(value):  # a later key of the same Go field wins, as in decoding
        name = _go_match(str(key), fields)
        if name is not None:
            winners[name] = key
    for name, key in winners.items():
        for other in [k for k in value if k != key and _go_match(str(k), fields) == name]:
            del value[other]
        if name != key:
            value[name] = value.pop(key)
        _canonical(fields[name], value[name])


def canonical_field_names(obj: JSON) -> JSON:
    """``obj`` with the ``spec`` keys the Go decoder matched case-insensitively renamed to
    the Go types' JSON names, in place: the defaulting webhook answers the round trip
    through its Go type as a patch (knative.dev/pkg defaulting.go), so a stored
    ``Retry`` is ``retry``."""
    fields = GO_FIELDS.get(str(obj.get("kind")))
    if fields is not None and "spec" in obj:
        _canonical(fields["spec"], obj["spec"])
    return obj


def decoding_denial(obj: Mapping[str, Any]) -> str | None:
    """The defaulting webhook's denial of an object with a field its Go type lacks, as
    the API server relays it, or None."""
    found = undecodable_fields(obj)
    if not found:
        return None
    return (
        f'admission webhook "{DEFAULTING_WEBHOOK_NAME}" denied the request: mutation failed: '
        f'cannot decode incoming new object: json: unknown field "{found[0][1]}"'
    )


def go_field_names(kind: str, path: str) -> list[str]:
    """The Go type's JSON names beside ``path``'s last key (for a did-you-mean)."""
    node: Any = GO_FIELDS.get(kind, {})
    for part in re.sub(r"\[\d+\]", "", path).split(".")[:-1]:
        if not isinstance(node, dict):
            return []
        name = _go_match(part, node)
        node = node.get(name) if name else None
    return sorted(node) if isinstance(node, dict) else []


# ----- defaults -----


def set_broker_defaults(broker: JSON) -> JSON:
    """Broker.SetDefaults with Knative's default config-br-defaults: the class annotation
    and ``spec.config``; a dead letter sink's ``ref.namespace`` from the Broker. In place."""
    meta = broker.setdefault("metadata", {})
    namespace = str(meta.get("namespace") or "default")
    spec = broker.get("spec")
    if not isinstance(spec, dict):
        spec = broker["spec"] = {}
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    if "config" not in spec:
        spec["config"] = dict(DEFAULT_BROKER_CONFIG)
    elif isinstance(spec["config"], dict) and not spec["config"].get("namespace"):
        spec["config"]["namespace"] = namespace
    _default_delivery(spec.get("delivery"), namespace)
    annotations.setdefault(BROKER_CLASS_ANNOTATION, DEFAULT_BROKER_CLASS)
    return broker


def set_trigger_defaults(trigger: JSON) -> JSON:
    """Trigger.SetDefaults: ``spec.filter: {}``, ref namespaces, the broker label. In place."""
    meta = trigger.setdefault("metadata", {})
    namespace = str(meta.get("namespace") or "default")
    spec = trigger.get("spec")
    if not isinstance(spec, dict):
        spec = trigger["spec"] = {}
    if spec.get("filter") is None:
        spec["filter"] = {}
    _default_destination(spec.get("subscriber"), namespace)
    _default_delivery(spec.get("delivery"), namespace)
    broker = spec.get("broker")
    if isinstance(broker, str) and broker:
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels[BROKER_LABEL] = broker
    return trigger


def _default_destination(destination: object, namespace: str) -> None:
    if isinstance(destination, dict):
        ref = destination.get("ref")
        if isinstance(ref, dict) and not ref.get("namespace"):
            ref["namespace"] = namespace


def _default_delivery(delivery: object, namespace: str) -> None:
    if isinstance(delivery, dict):
        _default_destination(delivery.get("deadLetterSink"), namespace)


# ----- validation -----


def _is_set(value: object) -> bool:
    return value is not None and value != "" and value != {} and value != []


def _str(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _missing(*paths: str) -> FieldError:
    return FieldError("missing field(s)", paths)


def _invalid(value: object, path: str, details: str = "") -> FieldError:
    return FieldError(f"invalid value: {_go_value(value)}", (path,), details)


def _go_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _via(errors: Sequence[FieldError], *prefix: str) -> list[FieldError]:
    return [e.via(*prefix) for e in errors]


def validate_kreference(ref: object) -> list[FieldError]:
    """KReference.Validate (no Group feature): name, apiVersion and kind required."""
    if not isinstance(ref, Mapping):
        return [_missing("name"), _missing("apiVersion"), _missing("kind")]
    errors: list[FieldError] = []
    if not _str(ref.get("name")):
        errors.append(_missing("name"))
    if _str(ref.get("group")):
        errors.append(FieldError("must not set the field(s)", ("group",)))
    if not _str(ref.get("apiVersion")):
        errors.append(_missing("apiVersion"))
    if not _str(ref.get("kind")):
        errors.append(_missing("kind"))
    return errors


def _has_scheme(uri: str) -> bool:
    """Go's ``url.URL.IsAbs``: a non-empty scheme."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) is not None


def _absolute_with_host(uri: str) -> bool:
    scheme, sep, rest = uri.partition("://")
    if not sep or not _has_scheme(scheme + ":"):
        return False
    return bool(rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])


def validate_destination(destination: object) -> list[FieldError]:
    """knative.dev/pkg ValidateDestination: one of ``ref`` and ``uri`` (an absolute URI
    alone, or a relative one beside a ref)."""
    if destination is None:
        return []
    if not isinstance(destination, Mapping):
        return [FieldError("expected at least one, got none", ("ref", "uri"))]
    ref, uri = destination.get("ref"), destination.get("uri")
    has_uri = isinstance(uri, str) and uri != ""
    if ref is None and not has_uri:
        return [FieldError("expected at least one, got none", ("ref", "uri"))]
    if ref is not None and has_uri and _has_scheme(str(uri)):
        return [
            FieldError(
                "Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present",
                ("[apiVersion, kind, name]", "ref", "uri"),
            )
        ]
    if ref is None and has_uri and not _absolute_with_host(str(uri)):
        return [
            _invalid(
                "Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent", "uri"
            )
        ]
    if ref is not None and not has_uri:
        return _via(validate_kreference(ref), "ref")
    return []


def validate_delivery(delivery: object) -> list[FieldError]:
    """DeliverySpec.Validate with Knative's default features (timeout and retryAfterMax off)."""
    if delivery is None:
        return []
    if not isinstance(delivery, Mapping):
        return [FieldError("expected an object", ("",))]
    errors: list[FieldError] = []
    errors += _via(validate_destination(delivery.get("deadLetterSink")), "deadLetterSink")
    retry = delivery.get("retry")
    if retry is not None and (not isinstance(retry, int) or isinstance(retry, bool) or retry < 0):
        errors.append(_invalid(retry, "retry"))
    if delivery.get("timeout") is not None:
        errors.append(FieldError("must not set the field(s)", ("timeout",)))
    policy = delivery.get("backoffPolicy")
    if policy is not None and policy not in ("linear", "exponential"):
        errors.append(_invalid(policy, "backoffPolicy"))
    delay = delivery.get("backoffDelay")
    if delay is not None and (not isinstance(delay, str) or parse_iso8601_duration(delay) is None):
        errors.append(_invalid(delay, "backoffDelay"))
    fmt = delivery.get("format")
    if fmt is not None and fmt not in ("json", "binary"):
        errors.append(_invalid(fmt, "format"))
    if delivery.get("retryAfterMax") is not None:
        errors.append(FieldError("must not set the field(s)", ("retryAfterMax",)))
    return errors


def validate_attribute_names(attributes: object) -> list[FieldError]:
    """ValidateAttributesNames: keys ``^[a-z][a-z0-9]*$``."""
    if not isinstance(attributes, Mapping):
        return []
    return [
        FieldError(
            f'invalid key name "{name}"',
            (f"[{name}]",),
            "Attribute name must start with a letter and can only contain lowercase alphanumeric",
        )
        for name in attributes
        if not _ATTRIBUTE_NAME.match(str(name))
    ]


def _has_multiple_dialects(flt: Mapping[str, Any]) -> bool:
    found = 0
    for dialect in ("exact", "prefix", "suffix", "all", "any"):
        if flt.get(dialect):
            found += 1
    if flt.get("not") is not None:
        found += 1
    if flt.get("cesql") and found:
        return True
    return found > 1


def validate_filter(flt: object) -> list[FieldError]:
    """ValidateSubscriptionAPIFilter (one dialect per entry, recursively); a ``cesql``
    expression must parse (harness.knative.cesql)."""
    if flt is None:
        return []
    if not isinstance(flt, Mapping):
        return [FieldError("expected an object", ("",))]
    errors: list[FieldError] = []
    if _has_multiple_dialects(flt):
        errors.append(
            FieldError("multiple dialects found, filters can have only one dialect set", ())
        )
    for dialect in ("exact", "prefix", "suffix"):
        errors += _via(validate_attribute_names(flt.get(dialect)), dialect)
    errors += _via(validate_filter_list(flt.get("all")), "all")
    errors += _via(validate_filter_list(flt.get("any")), "any")
    errors += _via(validate_filter(flt.get("not")), "not")
    cesql = flt.get("cesql")
    if cesql is not None and not isinstance(cesql, str):
        errors.append(_invalid(cesql, "cesql"))
    elif cesql:  # ValidateCESQLExpression: the expression must parse
        try:
            cesql_parse(cesql)
        except CesqlError as exc:
            errors.append(_invalid(cesql, "cesql", str(exc)))
    return errors


def validate_filter_list(filters: object) -> list[FieldError]:
    """ValidateSubscriptionAPIFiltersList, with Knative's accumulate-then-ViaIndex quirk:
    the errors of entry i are prefixed by every index from i to the last failing one."""
    if filters is None:
        return []
    if not isinstance(filters, list):
        return [FieldError("expected a list", ("",))]
    errors: list[FieldError] = []
    for index, flt in enumerate(filters):
        errors = _via(errors + validate_filter(flt), f"[{index}]")
    return errors


def _validate_dependency(value: str, namespace: str) -> list[FieldError]:
    try:
        ref = json.loads(value)
    except ValueError as exc:
        return [
            FieldError(
                f"The provided annotation was not a corev1.ObjectReference: {json.dumps(value)}",
                ("",),
                str(exc),
            )
        ]
    if not isinstance(ref, Mapping):
        return [
            FieldError(
                f"The provided annotation was not a corev1.ObjectReference: {json.dumps(value)}",
                ("",),
                "json: cannot unmarshal into Go value of type v1.ObjectReference",
            )
        ]
    errors: list[FieldError] = []
    ns = _str(ref.get("namespace"))
    if ns and ns != namespace:
        errors.append(
            FieldError(
                f'Namespace must be empty or equal to the trigger namespace "{namespace}"',
                ("namespace",),
            )
        )
    for key in ("kind", "name", "apiVersion"):
        if not _str(ref.get(key)):
            errors.append(_missing(key))
    return errors


def _validate_injection(value: str, broker: str) -> list[FieldError]:
    if value not in ("enabled", "disabled"):
        return [
            FieldError(
                'The provided injection annotation value can only be "enabled" or "disabled", '
                f"not {json.dumps(value)}",
                ("",),
            )
        ]
    if broker != "default":
        return [
            FieldError(
                "The provided injection annotation is only used for default broker, but "
                f"non-default broker specified here: {json.dumps(broker)}",
                ("",),
            )
        ]
    return []


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = _meta(obj).get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def validate_broker(
    broker: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> list[FieldError]:
    """Broker.Validate: class annotation, ``spec.config`` and ``spec.delivery``; on update
    ``spec`` (but delivery) and the class annotation are immutable."""
    errors: list[FieldError] = []
    if not _str(_annotations(broker).get(BROKER_CLASS_ANNOTATION)):
        errors.append(_missing(BROKER_CLASS_ANNOTATION))
    spec = _spec(broker)
    if spec.get("config") is not None:
        errors += _via(validate_kreference(spec["config"]), "spec", "config")
    errors += _via(validate_delivery(spec.get("delivery")), "spec", "delivery")
    if old is not None:
        errors += _broker_immutable(broker, old)
    return errors


def _broker_immutable(broker: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    # Broker.CheckImmutableFields (broker_validation.go at 8cf4c4b6): the spec but
    # Delivery, then the class annotation; the first change found is the one error.
    diff = _broker_spec_diff(_spec(old).get("config"), _spec(broker).get("config"))
    if diff:
        return [FieldError("Immutable fields changed (-old +new)", ("spec",), diff)]
    before = _str(_annotations(old).get(BROKER_CLASS_ANNOTATION))
    after = _str(_annotations(broker).get(BROKER_CLASS_ANNOTATION))
    if before != after:
        return [
            FieldError(
                "Immutable annotations changed (-old +new)",
                ("annotations",),
                _string_diff(before, after),
            )
        ]
    return []


def _string_diff(old: str, new: str) -> str:
    """knative.dev/pkg ``kmp.ShortDiff`` of two Go strings (kmp/reporters.go at 521cb33b:
    go-cmp names the root step by its type)."""
    return f'{{string}}:\n\t-: "{old}"\n\t+: "{new}"\n' if old != new else ""


# KReference's fields in Go declaration order (knative.dev/pkg apis/duck/v1
# knative_reference.go at 521cb33b): JSON name, Go name; Address is a *string.
_KREFERENCE_GO = (
    ("kind", "Kind"),
    ("namespace", "Namespace"),
    ("name", "Name"),
    ("apiVersion", "APIVersion"),
    ("group", "Group"),
    ("address", "Address"),
)


def _kreference_text(ref: Mapping[str, Any]) -> str:
    """Go's ``%+v`` of a ``*KReference``."""
    parts = []
    for json_name, go_name in _KREFERENCE_GO:
        value = ref.get(json_name)
        if json_name == "address":
            # go-cmp prints the pointer's address; its target is printed instead.
            parts.append(f"{go_name}:{'<nil>' if value is None else '&' + _str(value)}")
        else:
            parts.append(f"{go_name}:{_str(value)}")
    return "&{" + " ".join(parts) + "}"


def _broker_spec_diff(old: object, new: object) -> str:
    """``kmp.ShortDiff`` of two BrokerSpecs ignoring Delivery: its one other field is the
    ``*KReference`` Config. (An ``address`` set on one side only prints as ``&target``,
    where go-cmp prints the pointer's address.)"""
    root = "{v1.BrokerSpec}.Config"
    old_ref = old if isinstance(old, Mapping) else None
    new_ref = new if isinstance(new, Mapping) else None
    if old_ref is None and new_ref is None:
        return ""
    if old_ref is None or new_ref is None:
        old_text = "<nil>" if old_ref is None else _kreference_text(old_ref)
        new_text = "<nil>" if new_ref is None else _kreference_text(new_ref)
        return f'{root}:\n\t-: "{old_text}"\n\t+: "{new_text}"\n'
    diffs = []
    for json_name, go_name in _KREFERENCE_GO:
        before, after = old_ref.get(json_name), new_ref.get(json_name)
        if json_name == "address":
            if before != after:
                diffs.append(
                    f'*{root}.{go_name}:\n\t-: "{_str(before)}"\n\t+: "{_str(after)}"\n'
                    if before is not None and after is not None
                    else f"{root}.{go_name}:\n\t-: "
                    f'"{"<nil>" if before is None else "&" + _str(before)}"\n\t+: '
                    f'"{"<nil>" if after is None else "&" + _str(after)}"\n'
                )
        elif _str(before) != _str(after):
            diffs.append(f'{root}.{go_name}:\n\t-: "{_str(before)}"\n\t+: "{_str(after)}"\n')
    return "".join(diffs)


def validate_trigger(
    trigger: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> list[FieldError]:
    """Trigger.Validate: broker (one of broker/brokerRef; brokerRef's namespace refused),
    filter attribute names, ``spec.filters``, subscriber, delivery, the dependency and
    injection annotations; on update ``spec.broker`` is immutable."""
    spec = _spec(trigger)
    errors: list[FieldError] = []
    broker, broker_ref = spec.get("broker"), spec.get("brokerRef")
    if broker_ref is None and not broker:
        errors.append(_missing("broker"))
    elif broker_ref is not None and broker:
        errors.append(FieldError("expected exactly one, got both", ("broker", "brokerRef")))
    if isinstance(broker_ref, Mapping) and _str(broker_ref.get("namespace")):
        errors.append(
            FieldError(
                "must not set the field(s)",
                ("namespace",),
                "only name, apiVersion and kind are supported fields when "
                "feature.CrossNamespaceEventLinks is disabled",
            )
        )
    flt = spec.get("filter")
    if isinstance(flt, Mapping):
        errors += _via(validate_attribute_names(flt.get("attributes")), "filter", "attributes")
    errors += _via(validate_filter_list(spec.get("filters")), "filters")
    subscriber = spec.get("subscriber")
    errors += _via(validate_destination(subscriber if subscriber is not None else {}), "subscriber")
    errors += _via(validate_delivery(spec.get("delivery")), "delivery")
    errors = _via(errors, "spec")
    namespace = _str(_meta(trigger).get("namespace")) or "default"
    annotations = _annotations(trigger)
    if DEPENDENCY_ANNOTATION in annotations:
        errors += _via(
            _validate_dependency(_str(annotations[DEPENDENCY_ANNOTATION]), namespace),
            f"metadata.annotations[{DEPENDENCY_ANNOTATION}]",
        )
    if INJECTION_ANNOTATION in annotations:
        errors += _via(
            _validate_injection(_str(annotations[INJECTION_ANNOTATION]), _str(broker)),
            f"metadata.annotations[{INJECTION_ANNOTATION}]",
        )
    # Trigger.CheckImmutableFields (trigger_validation.go at 8cf4c4b6): spec.broker.
    if old is not None and (diff := _string_diff(_str(_spec(old).get("broker")), _str(broker))):
        errors.append(FieldError("Immutable fields changed (-old +new)", ("spec.broker",), diff))
    return errors


EVENTING_VALIDATORS = {"Broker": validate_broker, "Trigger": validate_trigger}
EVENTING_DEFAULTS = {"Broker": set_broker_defaults, "Trigger": set_trigger_defaults}


def validate_eventing_object(obj: Mapping[str, Any]) -> list[FieldError]:
    """Default a copy of a Broker or Trigger as the webhook does, then validate it."""
    copy = json.loads(json.dumps(obj))
    kind = obj.get("kind")
    if kind == "Broker":
        return validate_broker(set_broker_defaults(copy))
    if kind == "Trigger":
        return validate_trigger(set_trigger_defaults(copy))
    return []


def eventing_denial(errors: Sequence[FieldError]) -> str:
    """The message Kubernetes returns when Knative's eventing webhook rejects an object."""
    return admission_denial(errors, EVENTING_WEBHOOK_NAME)
