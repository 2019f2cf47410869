"""Knative's checks of an update, which compare the new object with the stored one.

From knative/serving ``pkg/apis/serving/v1/{service,configuration,route,revision}_validation.go``
(98e5ef90, the ``apis.IsInUpdate`` branches) and knative.dev/pkg
``apis/metadata_validation.go`` ``ValidateCreatorAndModifier`` (521cb33b):

* the ``serving.knative.dev/creator`` annotation may not change; ``lastModifier`` may
  change only with the spec (Services always; Configurations and Routes only without
  ownerReferences, as their Service writes those);
* a Service's or Configuration's template that keeps a user-chosen revision name may not
  change (``VerifyNameChange``), with go-cmp's diff as the details;
* a Revision's spec may not change at all; that error is then the only one.

Paths are from the object's root. The diffs are ``harness.knative.go_diff``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.knative.field_error import FieldError
from harness.knative.go_diff import go_equal, short_diff
from harness.knative.user_info import CREATOR, SPEC_TYPES, UPDATER, sets_user_info

# The lint rules of these checks (harness.knative.rules.catalogue).
UPDATE_RULES = ("revision-name-change", "revision-immutable", "creator-immutable", "last-modifier")
NAME_CHANGE = "Saw the following changes without a name change (-old +new)"
IMMUTABLE_SPEC = "Immutable fields changed (-old +new)"


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = _get(obj, "metadata", "annotations")
    return value if isinstance(value, Mapping) else {}


def creator_and_modifier(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """``ValidateCreatorAndModifier`` via ``metadata.annotations``."""
    old_a, new_a = _annotations(old), _annotations(new)
    errors = []
    if old_a.get(CREATOR, "") != new_a.get(CREATOR, ""):
        errors.append(
            FieldError(
                "annotation value is immutable",
                (f"metadata.annotations.{CREATOR}",),
                rule="creator-immutable",
            )
        )
    same_spec = go_equal(old.get("spec"), new.get("spec"), SPEC_TYPES[str(new.get("kind"))])
    if same_spec and old_a.get(UPDATER, "") != new_a.get(UPDATER, ""):
        errors.append(
            FieldError(
                f"invalid value: {new_a.get(UPDATER, '')}",
                (f"metadata.annotations.{UPDATER}",),
                rule="last-modifier",
            )
        )
    return errors


def verify_name_change(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """``RevisionTemplateSpec.VerifyNameChange`` via ``spec.template``."""
    new_t, old_t = _get(new, "spec", "template"), _get(old, "spec", "template")
    name = _get(new_t, "metadata", "name")
    if not name or name != _get(old_t, "metadata", "name"):
        return []
    diff = short_diff(old_t, new_t, "RevisionTemplateSpec", pointer=True)
    if not diff:
        return []
    return [
        FieldError(
            NAME_CHANGE, ("spec.template.metadata.name",), details=diff, rule="revision-name-change"
        )
    ]


def immutable_revision_spec(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """A Revision's spec never changes (``Revision.Validate`` in an update)."""
    diff = short_diff(old.get("spec"), new.get("spec"), "RevisionSpec")
    if not diff:
        return []
    return [FieldError(IMMUTABLE_SPEC, ("spec",), details=diff, rule="revision-immutable")]


def update_errors(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """What Knative adds to a Service's, Configuration's or Route's errors on an update
    (a Revision's is ``immutable_revision_spec``, which replaces its other checks)."""
    kind = new.get("kind")
    errors: list[FieldError] = []
    # Services always; Configurations and Routes without ownerReferences.
    if kind == "Service" or sets_user_info(new):
        errors += creator_and_modifier(new, old)
    if kind in ("Service", "Configuration"):
        errors += verify_name_change(new, old)
    return errors
