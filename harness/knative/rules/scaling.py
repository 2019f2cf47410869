"""Autoscaling checks Knative does not make: settings it accepts but that do not do
what they say (a target it caps, a scale it overrides, annotations a class ignores)."""

from __future__ import annotations

from collections.abc import Iterator

from harness.knative import autoscaling as a
from harness.knative.cluster import HPA, KPA
from harness.knative.goparse import parse_float, parse_int
from harness.knative.rules import Issue, Subject
from harness.knative.rules.access import dig, string_map

TEMPLATE = "spec.template"
ANNOTATIONS = f"{TEMPLATE}.metadata.annotations"


def _template_annotations(subject: Subject) -> dict[str, str]:
    if subject.kind not in ("Service", "Configuration"):
        return {}
    return string_map(dig(subject.obj, "spec", "template", "metadata", "annotations"))


def _int(annotations: dict[str, str], key: str) -> int | None:
    found = a.lookup(annotations, key)
    if found is None:
        return None
    try:
        return parse_int(found[1], 32)
    except ValueError:
        return None  # the webhook rules report it


def check_target_above_container_concurrency(subject: Subject) -> Iterator[Issue]:
    """A soft concurrency target above the hard limit is capped at the limit."""
    annotations = _template_annotations(subject)
    cc = dig(subject.obj, "spec", "template", "spec", "containerConcurrency")
    found = a.lookup(annotations, a.TARGET)
    if not found or not isinstance(cc, int) or isinstance(cc, bool) or cc <= 0:
        return
    # The cap applies to the concurrency metric, KPA's default (HPA's is cpu).
    default_metric = (
        "concurrency" if a.effective_class(subject.config, annotations) == KPA else "cpu"
    )
    if (a.lookup(annotations, a.METRIC) or ("", default_metric))[1] != "concurrency":
        return
    try:
        target = parse_float(found[1])
    except ValueError:
        return
    if target > cc:
        yield Issue(
            "target-above-container-concurrency",
            f"{ANNOTATIONS}.{found[0]}",
            f"target {found[1]} is above containerConcurrency {cc}: Knative caps the "
            f"target at {cc}, so this setting has no effect",
        )


def check_initial_below_min(subject: Subject) -> Iterator[Issue]:
    """initial-scale below min-scale: the revision is scaled to min-scale regardless."""
    annotations = _template_annotations(subject)
    initial = _int(annotations, a.INITIAL_SCALE)
    low = _int(annotations, a.MIN_SCALE)
    if initial is None or low is None or initial >= low:
        return
    key = (a.lookup(annotations, a.INITIAL_SCALE) or (a.INITIAL_SCALE,))[0]
    yield Issue(
        "initial-scale-below-min-scale",
        f"{ANNOTATIONS}.{key}",
        f"initial-scale={initial} is below min-scale={low}: the revision is scaled to "
        f"{low} pods anyway",
    )


_KPA_ONLY = (a.WINDOW, a.PANIC_WINDOW, a.PANIC_THRESHOLD, a.AGGREGATION)


def check_kpa_only_with_hpa(subject: Subject) -> Iterator[Issue]:
    """KPA-only annotations are ignored by the HPA class."""
    annotations = _template_annotations(subject)
    if a.effective_class(subject.config, annotations) != HPA:
        return
    for key in _KPA_ONLY:
        if found := a.lookup(annotations, key):
            yield Issue(
                "kpa-only-annotation",
                f"{ANNOTATIONS}.{found[0]}",
                f"{found[0]} is read by the KPA autoscaler only; the HPA class ignores it",
            )


def check_unchecked_aggregation(subject: Subject) -> Iterator[Issue]:
    """An invalid aggregation algorithm Knative lets through without an explicit class."""
    annotations = _template_annotations(subject)
    found = a.lookup(annotations, a.AGGREGATION)
    explicit = a.lookup(annotations, a.CLASS)
    if not found or not found[1] or found[1] in a.AGGREGATION_ALGORITHMS:
        return
    if explicit and explicit[1] == KPA:
        return  # the webhook rejects it (autoscaling-aggregation-algorithm)
    yield Issue(
        "aggregation-algorithm-unchecked",
        f"{ANNOTATIONS}.{found[0]}",
        f"{found[1]!r} is not an aggregation algorithm (linear, weighted-exponential); "
        "Knative accepts it only because the class annotation is not set",
    )


CHECKS = [
    check_target_above_container_concurrency,
    check_initial_below_min,
    check_kpa_only_with_hpa,
    check_unchecked_aggregation,
]
