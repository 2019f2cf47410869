"""Traffic blocks: ``TrafficTarget``, Knative's webhook rules for them, and the pure
functions that compute a new block for a canary step or a promotion.

Rules and messages: knative/serving ``pkg/apis/serving/v1/route_validation.go``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.knative.field_error import FieldError
from harness.knative.names import (
    dns1035_label_problems,
    is_dns1035_label,
    qualified_name_problems,
)

# Knative's camelCase JSON field -> TrafficTarget attribute.
JSON_FIELDS = {
    "tag": "tag",
    "revisionName": "revision_name",
    "configurationName": "configuration_name",
    "latestRevision": "latest_revision",
    "percent": "percent",
    "url": "url",
}


@dataclass(frozen=True)
class TrafficTarget:
    """One entry of ``spec.traffic`` / ``status.traffic`` (``route_types.go``).

    ``percent`` None means the field is absent (Knative treats it as 0);
    ``latest_revision`` None means absent (Knative defaults it to ``revision_name`` unset).
    """

    percent: int | None = None
    revision_name: str | None = None
    tag: str | None = None
    latest_revision: bool | None = None
    configuration_name: str | None = None
    url: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrafficTarget:
        """Build from Knative's camelCase JSON. Raises ``ValueError`` on unknown fields or
        wrong types (the API server's schema would reject those before the webhook)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a traffic target must be an object, not {json_type(data)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in JSON_FIELDS:
                raise ValueError(f'unknown field "{key}"')
            if value is None:
                continue
            expected: type = str
            if key == "percent":
                expected = int
            elif key == "latestRevision":
                expected = bool
            # bool is an int in Python; JSON true is not a valid percent.
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ValueError(
                    f"{key} must be of type {_json_type_name(expected)}, not {json_type(value)}"
                )
            values[JSON_FIELDS[key]] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Knative's camelCase JSON; absent fields are omitted."""
        out: dict[str, Any] = {}
        for key, attr in JSON_FIELDS.items():
            value = getattr(self, attr)
            if value is not None:
                out[key] = value
        return out

    @property
    def effective_percent(self) -> int:
        """The percent Knative routes: an absent percent is 0."""
        return self.percent or 0

    @property
    def follows_latest(self) -> bool:
        """True when the entry floats to the latest ready revision (after Knative's
        defaulting: ``latestRevision`` absent means ``revisionName`` is unset)."""
        if self.latest_revision is None:
            return not self.revision_name
        return self.latest_revision


def _json_type_name(t: type) -> str:
    return {str: "string", int: "integer", bool: "boolean"}.get(t, t.__name__)


def json_type(value: object) -> str:
    """The JSON type name of a parsed value, for messages (``integer``, ``string``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def targets_from_list(data: Sequence[Mapping[str, Any]] | None) -> list[TrafficTarget]:
    """Parse a ``traffic`` list (None gives an empty list); ``ValueError`` on bad input."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"traffic must be an array, not {json_type(data)}")
    targets = []
    for i, item in enumerate(data):
        try:
            targets.append(TrafficTarget.from_dict(item))
        except ValueError as exc:
            raise ValueError(f"traffic[{i}]: {exc}") from None
    return targets


def validate_target(target: TrafficTarget, *, in_service: bool) -> list[FieldError]:
    """Knative's ``TrafficTarget.Validate`` in a spec, paths relative to the entry."""
    errors: list[FieldError] = []
    if target.latest_revision is not None:
        pinned = bool(target.revision_name)
        if pinned == target.latest_revision:
            errors.append(
                FieldError(
                    f"may not set revisionName {_go_quote(target.revision_name or '')} "
                    f"when latestRevision is {str(target.latest_revision).lower()}",
                    ("latestRevision",),
                    rule="traffic-latest-revision",
                )
            )
    if in_service and target.configuration_name:
        errors.append(
            FieldError(
                "must not set the field(s)",
                ("configurationName",),
                rule="traffic-configuration-name",
            )
        )
    elif target.revision_name and target.configuration_name:
        errors.append(
            FieldError(
                "expected exactly one, got both",
                ("configurationName", "revisionName"),
                rule="traffic-revision-or-configuration",
            )
        )
    elif target.revision_name:
        if problems := qualified_name_problems(target.revision_name):
            errors.append(
                FieldError(
                    f"invalid key name {_go_quote(target.revision_name)}",
                    ("revisionName",),
                    details=", ".join(problems),
                    rule="traffic-revision-name",
                )
            )
    elif target.configuration_name:
        if problems := qualified_name_problems(target.configuration_name):
            errors.append(
                FieldError(
                    f"invalid key name {_go_quote(target.configuration_name)}",
                    ("configurationName",),
                    details=", ".join(problems),
                    rule="traffic-revision-name",
                )
            )
    elif not in_service:
        errors.append(
            FieldError(
                "expected exactly one, got neither",
                ("configurationName", "revisionName"),
                rule="traffic-revision-or-configuration",
            )
        )
    if target.percent is not None and not 0 <= target.percent <= 100:
        errors.append(
            FieldError(
                f"expected 0 <= {target.percent} <= 100", ("percent",), rule="traffic-percent-range"
            )
        )
    if target.url:
        # url is status-only; Knative also rejects it on an untagged entry, same message.
        errors.append(FieldError("must not set the field(s)", ("url",), rule="traffic-url"))
    return errors


def validate_traffic(
    targets: Sequence[TrafficTarget], *, path: str = "spec.traffic", in_service: bool = True
) -> list[FieldError]:
    """Knative's webhook rules for a spec traffic block, with its messages and field paths.

    ``path`` prefixes every path (``spec.traffic`` gives ``spec.traffic[1].percent``);
    ``in_service`` applies the Service's rules (``configurationName`` disallowed, a
    missing revisionName means the latest revision) rather than the Route's. Targets are
    taken as the webhook sees them, after defaulting (an absent percent counts as 0).
    """
    errors: list[FieldError] = []
    first_index_of_tag: dict[str, int] = {}
    total = 0
    for i, target in enumerate(targets):
        errors.extend(e.via(path, f"[{i}]") for e in validate_target(target, in_service=in_service))
        total += target.effective_percent
        if not target.tag:
            continue
        if problems := dns1035_label_problems(target.tag):
            errors.append(
                FieldError(
                    f"invalid value: not a DNS 1035 label: {_go_list(problems)}",
                    # Knative's ErrInvalidArrayValue(..., "tag", i): spec.traffic.tag[0]
                    (f"{path}.tag[{i}]",),
                    rule="traffic-tag-name",
                )
            )
        if target.tag in first_index_of_tag:
            errors.append(
                FieldError(
                    f"Multiple definitions for {_go_quote(target.tag)}",
                    (f"{path}[{i}].tag", f"{path}[{first_index_of_tag[target.tag]}].tag"),
                    rule="traffic-tag-unique",
                )
            )
        else:
            first_index_of_tag[target.tag] = i
    if total != 100:
        errors.append(
            FieldError(f"Traffic targets sum to {total}, want 100", (path,), rule="traffic-sum")
        )
    return errors


def _go_quote(s: str) -> str:
    # Go's %q for the printable ASCII strings names are made of.
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_list(items: Sequence[str]) -> str:
    # fmt.Sprint of a []string.
    return "[" + " ".join(items) + "]"


def tag_of(targets: Sequence[TrafficTarget], revision: str) -> str | None:
    """The first tag naming ``revision`` in a block, or None."""
    for t in targets:
        if t.revision_name == revision and t.tag:
            return t.tag
    return None


def _pin_latest(current: Sequence[TrafficTarget], latest_ready: str | None) -> list[TrafficTarget]:
    pinned = []
    for t in current:
        if t.follows_latest:
            if not latest_ready:
                raise ValueError(
                    "the traffic block follows the latest revision, but no revision is ready"
                )
            t = replace(t, revision_name=latest_ready, latest_revision=False, url=None)
        else:
            t = replace(t, url=None)
        if not t.revision_name:
            raise ValueError("a traffic target names neither a revision nor the latest revision")
        pinned.append(t)
    return pinned


def _arm_entries(
    entries: Sequence[TrafficTarget], revision: str, percent: int, wanted_tag: str | None
) -> list[TrafficTarget]:
    """One revision's entries in the new block: ``percent`` on the first entry with the
    revision's existing (or else the wanted) tag, then its other tags at 0%."""
    tags: list[str] = []
    for e in entries:
        if e.tag and e.tag not in tags:
            tags.append(e.tag)
    if not tags and wanted_tag:
        tags.append(wanted_tag)
    main = TrafficTarget(
        percent=percent,
        revision_name=revision,
        tag=tags[0] if tags else None,
        latest_revision=False,
    )
    extra = [
        TrafficTarget(percent=0, revision_name=revision, tag=tag, latest_revision=False)
        for tag in tags[1:]
    ]
    return [main, *extra]


def _assemble(
    pinned: Sequence[TrafficTarget], arms: dict[str, list[TrafficTarget]]
) -> list[TrafficTarget]:
    # Keep the order of the current block: each arm's entries where the arm first
    # appeared, other revisions' entries untouched; arms that were absent go last.
    out: list[TrafficTarget] = []
    placed: set[str] = set()
    for t in pinned:
        rev = t.revision_name or ""
        if rev in arms:
            if rev not in placed:
                out.extend(arms[rev])
                placed.add(rev)
        else:
            out.append(t)
    for rev, entries in arms.items():
        if rev not in placed:
            out.extend(entries)
    return out


def _check_tag(tag: str | None, what: str) -> None:
    if tag is not None and not is_dns1035_label(tag):
        raise ValueError(f"{what} {tag!r} is not a DNS-1035 label")


def _check_valid(targets: Sequence[TrafficTarget]) -> None:
    if errors := validate_traffic(targets):
        raise ValueError("; ".join(str(e) for e in errors))


def canary_split(
    current: Sequence[TrafficTarget],
    *,
    baseline: str,
    canary: str,
    canary_percent: int,
    baseline_tag: str | None,
    canary_tag: str | None,
    latest_ready: str | None,
) -> list[TrafficTarget]:
    """The traffic block of one canary step.

    ``canary`` gets ``canary_percent`` with its tag, ``baseline`` gets what is left
    (100 - canary - other revisions' share) with its tag; entries of other revisions keep
    their percent and tags. A revision that already has a tag keeps it (and its extra
    tags, as 0% entries) instead of the ``*_tag`` asked for. Entries following the latest
    revision are pinned to ``latest_ready`` so a new revision cannot capture traffic
    mid-run; entries of baseline/canary are merged into one (plus one per extra tag).
    The result is a valid Knative Service traffic block summing to 100.

    Raises ``ValueError`` when that is impossible: other revisions hold more than
    ``100 - canary_percent``, a tag is not a DNS-1035 label or already names another
    revision, baseline equals canary, or latest-following entries exist with no
    ``latest_ready``.
    """
    if baseline == canary:
        raise ValueError(f"baseline and canary are the same revision {baseline!r}")
    if isinstance(canary_percent, bool) or not 0 <= canary_percent <= 100:
        raise ValueError(f"canary percent {canary_percent!r} is not in 0..100")
    _check_tag(baseline_tag, "baseline tag")
    _check_tag(canary_tag, "canary tag")
    pinned = _pin_latest(current, latest_ready)
    others_percent = sum(
        t.effective_percent for t in pinned if t.revision_name not in (baseline, canary)
    )
    baseline_percent = 100 - canary_percent - others_percent
    if baseline_percent < 0:
        raise ValueError(
            f"other revisions hold {others_percent}% of traffic, so the canary cannot get "
            f"{canary_percent}%"
        )
    arms = {
        baseline: _arm_entries(
            [t for t in pinned if t.revision_name == baseline],
            baseline,
            baseline_percent,
            baseline_tag,
        ),
        canary: _arm_entries(
            [t for t in pinned if t.revision_name == canary], canary, canary_percent, canary_tag
        ),
    }
    # A tag asked for may already name another revision; moving it would silently
    # re-point someone's URL, so refuse.
    owners = {t.tag: t.revision_name for t in pinned if t.tag}
    for rev, entries in arms.items():
        for e in entries:
            if e.tag in owners and owners[e.tag] != rev:
                raise ValueError(
                    f"tag {e.tag!r} already names revision {owners[e.tag]!r}, not {rev!r}"
                )
    if arms[baseline][0].tag and arms[baseline][0].tag == arms[canary][0].tag:
        raise ValueError(f"baseline and canary cannot share the tag {arms[canary][0].tag!r}")
    result = _assemble(pinned, arms)
    _check_valid(result)
    return result


def promote_split(
    current: Sequence[TrafficTarget],
    *,
    canary: str,
    remove_tags: Sequence[str],
    latest_ready: str | None,
    follow_latest: bool = False,
) -> list[TrafficTarget]:
    """The traffic block after promoting ``canary``: it gets 100%, every other revision 0%.

    Tags in ``remove_tags`` (the ones a run added) are dropped; every other tag is kept
    on a 0% entry (the canary's first kept tag carries its 100%). Untagged entries of
    other revisions disappear, having no share and no URL. With ``follow_latest`` the
    100% entry follows the latest revision instead of naming ``canary`` (valid only when
    ``canary`` is ``latest_ready``; otherwise ``ValueError``).
    """
    if follow_latest and canary != latest_ready:
        raise ValueError(f"{canary!r} is not the latest ready revision, so it cannot float")
    pinned = _pin_latest(current, latest_ready)
    removed = set(remove_tags)
    kept = [t for t in pinned if t.tag and t.tag not in removed]
    canary_tags = [t.tag for t in kept if t.revision_name == canary]
    main = TrafficTarget(
        percent=100,
        revision_name=None if follow_latest else canary,
        tag=canary_tags[0] if canary_tags else None,
        latest_revision=follow_latest,
    )
    # The 100% entry goes where the canary first appeared, keeping the block's order.
    result: list[TrafficTarget] = []
    for t in pinned:
        if t.revision_name == canary and main not in result:
            result.append(main)
        elif t in kept and t.tag != main.tag:
            result.append(replace(t, percent=0))
    if main not in result:
        result.append(main)
    _check_valid(result)
    return result


def traffic_merge_patch(targets: Sequence[TrafficTarget]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) that replaces ``spec.traffic`` and nothing else.

    ``url`` is dropped: it is a status-only field the webhook rejects in a spec.
    """
    return {"spec": {"traffic": [replace(t, url=None).to_dict() for t in targets]}}
