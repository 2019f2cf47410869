"""Annotation checks Knative does not make: ignored placements, unknown keys, both spellings."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from harness.knative.autoscaling import GROUP as AUTOSCALING
from harness.knative.autoscaling import SPELLINGS
from harness.knative.model import SERVING_GROUP
from harness.knative.rules import Issue, Subject
from harness.knative.rules.access import dig, string_map
from harness.knative.validation import NETWORKING_ALLOWED, NETWORKING_GROUP

SERVING = SERVING_GROUP
QUEUE = f"queue.sidecar.{SERVING}"
FEATURES = "features.knative.dev"
ROLLOUT = (f"{SERVING}/rollout-duration", f"{SERVING}/rolloutDuration")
VISIBILITY = f"{NETWORKING_GROUP}/visibility"

# Annotations read from the revision template only (register.go of each group).
TEMPLATE_ONLY = frozenset(
    [
        f"{SERVING}/progress-deadline",
        *(
            f"{QUEUE}/{k}"
            for k in (
                "resource-percentage",
                "resourcePercentage",
                "cpu-resource-request",
                "cpu-resource-limit",
                "memory-resource-request",
                "memory-resource-limit",
                "ephemeral-storage-resource-request",
                "ephemeral-storage-resource-limit",
            )
        ),
        f"{FEATURES}/queueproxy-podinfo",
        f"{FEATURES}/http-full-duplex",
    ]
)
# Set by Knative itself or read on objects a user writes as a Service/Route.
SERVING_KNOWN = frozenset(
    [
        *ROLLOUT,
        f"{SERVING}/progress-deadline",
        f"{SERVING}/creator",
        f"{SERVING}/lastModifier",
        f"{SERVING}/no-gc",
        f"{SERVING}/routes",
        f"{SERVING}/routingStateModified",
        f"{SERVING}/lastPinned",
    ]
)
KNOWN_BY_GROUP: dict[str, frozenset[str]] = {
    AUTOSCALING: frozenset(s for spellings in SPELLINGS.values() for s in spellings),
    SERVING: SERVING_KNOWN,
    QUEUE: frozenset(k for k in TEMPLATE_ONLY if k.startswith(QUEUE)),
    FEATURES: frozenset(k for k in TEMPLATE_ONLY if k.startswith(FEATURES)),
    NETWORKING_GROUP: NETWORKING_ALLOWED | {VISIBILITY},
}
# The same setting under two spellings (kebab-case first, the one Knative reads).
ALIASES: list[tuple[str, ...]] = [
    *(s for s in SPELLINGS.values() if len(s) > 1),
    ROLLOUT,
    (f"{QUEUE}/resource-percentage", f"{QUEUE}/resourcePercentage"),
    (f"{NETWORKING_GROUP}/ingress.class", f"{NETWORKING_GROUP}/ingress-class"),
    (f"{NETWORKING_GROUP}/certificate.class", f"{NETWORKING_GROUP}/certificate-class"),
    (f"{NETWORKING_GROUP}/disableAutoTLS", f"{NETWORKING_GROUP}/disable-auto-tls"),
    (f"{NETWORKING_GROUP}/httpOption", f"{NETWORKING_GROUP}/http-protocol"),
]


def _group(key: str) -> str | None:
    prefix = key.split("/", 1)[0]
    return prefix if prefix in KNOWN_BY_GROUP else None


def _annotation_maps(subject: Subject) -> Iterator[tuple[str, dict[str, str], bool]]:
    """(path, annotations, is_template) for each annotation map of the object."""
    yield "metadata.annotations", string_map(dig(subject.obj, "metadata", "annotations")), False
    if subject.kind in ("Service", "Configuration"):
        path = "spec.template.metadata.annotations"
        yield (
            path,
            string_map(dig(subject.obj, "spec", "template", "metadata", "annotations")),
            True,
        )


def check_ignored(subject: Subject) -> Iterator[Issue]:
    """Known annotations where Knative does not read them."""
    for path, keys, in_template in _annotation_maps(subject):
        for key in keys:
            field = f"{path}.{key}"
            if key in ROLLOUT and (in_template or subject.kind == "Configuration"):
                where = "under spec.template" if in_template else "on a Configuration"
                yield Issue(
                    "annotation-ignored",
                    field,
                    f"{key} has no effect {where}: Knative reads it from the Service's or "
                    "Route's metadata.annotations",
                )
            elif key in TEMPLATE_ONLY and not in_template:
                yield Issue(
                    "annotation-ignored",
                    field,
                    f"{key} has no effect on the {subject.kind}'s metadata: put it under "
                    "spec.template.metadata.annotations",
                )
            elif key == VISIBILITY and not in_template:
                yield Issue(
                    "annotation-ignored",
                    field,
                    f"{key} is a label, not an annotation: move it to metadata.labels",
                )
            elif key.startswith(NETWORKING_GROUP) and key in NETWORKING_ALLOWED and in_template:
                yield Issue(
                    "annotation-ignored",
                    field,
                    f"{key} has no effect under spec.template: put it on the Service's "
                    "metadata.annotations",
                )


def check_unknown(subject: Subject) -> Iterator[Issue]:
    """Unknown keys in Knative's annotation groups, with the closest known key."""
    for path, keys, _ in _annotation_maps(subject):
        for key in keys:
            group = _group(key)
            if group is None or key in KNOWN_BY_GROUP[group]:
                continue
            if group == NETWORKING_GROUP and path.startswith("spec.template"):
                continue  # the webhook rejects those (networking-annotation)
            known = sorted(k for keys in KNOWN_BY_GROUP.values() for k in keys)
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else ""
            yield Issue("unknown-annotation", f"{path}.{key}", f"unknown annotation {key}{hint}")


def check_both_spellings(subject: Subject) -> Iterator[Issue]:
    """The same setting written twice under its two spellings."""
    for path, keys, _ in _annotation_maps(subject):
        for spellings in ALIASES:
            present = [s for s in spellings if s in keys]
            if len(present) > 1:
                yield Issue(
                    "duplicate-spelling",
                    f"{path}.{present[1]}",
                    f"{present[1]} is ignored: {present[0]} is also set and Knative reads "
                    f"that one ({keys[present[0]]!r})",
                )


CHECKS = [check_ignored, check_unknown, check_both_spellings]
