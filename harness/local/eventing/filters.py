"""Trigger filters, as the broker filter applies them (knative/eventing 8cf4c4b6,
``pkg/broker/filter/filter_handler.go`` ``filterEvent``, ``pkg/eventfilter/attributes``,
``pkg/eventfilter/subscriptionsapi``).

A filter answers PASS, FAIL or NONE (no opinion); the broker delivers unless FAIL.
``spec.filters`` (all entries must pass) wins over ``spec.filter.attributes``. An entry
Knative cannot build (an empty one, an ``exact``/``prefix``/``suffix`` with an empty
value) is skipped, as Knative skips it. ``cesql`` is evaluated by
:mod:`harness.knative.cesql` (PASS when the expression is true; FAIL when false, not a
boolean, or on an evaluation error such as a missing attribute).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from harness.knative.cesql import CesqlError, parse
from harness.local.eventing.cloudevent import CloudEvent


class Result(Enum):
    PASS = "pass"
    FAIL = "fail"
    NONE = "none"


Filter = Callable[[CloudEvent], Result]


def _none(_: CloudEvent) -> Result:
    return Result.NONE


def _fail(_: CloudEvent) -> Result:
    return Result.FAIL


def attributes_filter(attributes: Mapping[str, str]) -> Filter:
    """``spec.filter.attributes``: each attribute equal to its value ("" matches anything)."""
    wanted = [(k, str(v)) for k, v in attributes.items() if v != ""]

    def check(event: CloudEvent) -> Result:
        attrs = event.attributes
        for key, value in wanted:
            if attrs.get(key) != value:
                return Result.FAIL
        return Result.PASS

    return check


def _string_match(table: Mapping[str, Any], test: Callable[[str, str], bool]) -> Filter | None:
    pairs = [(str(k), str(v)) for k, v in table.items()]
    if any(k == "" or v == "" for k, v in pairs):
        return None

    def check(event: CloudEvent) -> Result:
        attrs = event.attributes
        for key, value in pairs:
            found = attrs.get(key)
            if found is None or not test(found, value):
                return Result.FAIL
        return Result.PASS

    return check


def _all(filters: Sequence[Filter]) -> Filter:
    if len(filters) == 1:
        return filters[0]

    def check(event: CloudEvent) -> Result:
        result = Result.NONE
        for f in filters:
            result = f(event)
            if result is Result.FAIL:
                return result
        return result

    return check


def _any(filters: Sequence[Filter]) -> Filter:
    if len(filters) == 1:
        return filters[0]

    def check(event: CloudEvent) -> Result:
        result = Result.NONE
        for f in filters:
            result = f(event)
            if result is Result.PASS:
                return result
        return result

    return check


def _not(inner: Filter | None) -> Filter:
    if inner is None:
        return _none

    def check(event: CloudEvent) -> Result:
        result = inner(event)
        if result is Result.FAIL:
            return Result.PASS
        if result is Result.PASS:
            return Result.FAIL
        return Result.NONE

    return check


def subscriptions_filter(spec: Mapping[str, Any]) -> Filter | None:
    """One ``spec.filters`` entry (``MaterializeSubscriptionsAPIFilter``); None when
    Knative would skip it."""
    if spec.get("exact"):
        return _string_match(spec["exact"], str.__eq__)
    if spec.get("prefix"):
        return _string_match(spec["prefix"], str.startswith)
    if spec.get("suffix"):
        return _string_match(spec["suffix"], str.endswith)
    if spec.get("all"):
        return _all(filter_list(spec["all"]))
    if spec.get("any"):
        return _any(filter_list(spec["any"]))
    if spec.get("not") is not None:
        inner = spec["not"]
        return _not(subscriptions_filter(inner) if isinstance(inner, Mapping) else None)
    if spec.get("cesql"):
        return _cesql(spec["cesql"])
    return None


def _cesql(text: object) -> Filter:
    try:
        expression = parse(str(text))
    except CesqlError:  # admission refuses it; a stored one never matches
        return _fail
    matches = expression.matches

    def check(event: CloudEvent) -> Result:
        return Result.PASS if matches(event.attributes) else Result.FAIL

    return check


def filter_list(entries: object) -> list[Filter]:
    """The entries Knative can build, in order."""
    if not isinstance(entries, list):
        return []
    built = [subscriptions_filter(e) for e in entries if isinstance(e, Mapping)]
    return [f for f in built if f is not None]


def trigger_filter(spec: Mapping[str, Any]) -> Filter:
    """The filter of a Trigger's spec: ``filters`` if any, else ``filter.attributes``."""
    filters = spec.get("filters")
    if isinstance(filters, list) and filters:
        built = filter_list(filters)
        return _all(built) if built else _none
    flt = spec.get("filter")
    if isinstance(flt, Mapping):
        attributes = flt.get("attributes")
        return attributes_filter(attributes if isinstance(attributes, Mapping) else {})
    return _none


def type_filter(spec: Mapping[str, Any]) -> str:
    """The legacy ``filter_type`` label: the attribute filter's ``type``, else ``any``."""
    flt = spec.get("filter")
    if isinstance(flt, Mapping) and isinstance(flt.get("attributes"), Mapping):
        value = flt["attributes"].get("type")
        if value:
            return str(value)
    return "any"
