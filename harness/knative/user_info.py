"""The creator/lastModifier annotations Knative's defaulting sets from the request's user.

knative/serving ``pkg/apis/serving/metadata_validation.go`` ``SetUserInfo`` (98e5ef90),
called from the Service's, Configuration's and Route's ``SetDefaults`` (a Configuration
or Route only when it has no ownerReferences): on create both annotations become the
user's name (whatever the manifest said); on an update ``lastModifier`` becomes the
user's name only when the spec changed. The user is what the API server puts in the
admission request (``apis.WithUserInfo``); no user, no annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.knative.go_diff import go_equal
from harness.knative.model import SERVING_GROUP

CREATOR = f"{SERVING_GROUP}/creator"
UPDATER = f"{SERVING_GROUP}/lastModifier"
# The Go type of each kind's spec, for the semantic comparison of old and new.
SPEC_TYPES = {"Service": "ServiceSpec", "Configuration": "ConfigurationSpec", "Route": "RouteSpec"}


def sets_user_info(obj: Mapping[str, Any]) -> bool:
    """Whether Knative's defaulting sets the annotations on this object (``OwnerReferences
    == nil``: absent or null, for Configurations and Routes)."""
    kind = obj.get("kind")
    if kind == "Service":
        return True
    meta = obj.get("metadata")
    owners = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    return kind in ("Configuration", "Route") and owners is None


def set_user_info(obj: dict[str, Any], old: Mapping[str, Any] | None, user: str | None) -> None:
    """``SetUserInfo`` on a (defaulted) object, in place; ``old`` is the stored object on
    an update."""
    if not user or not sets_user_info(obj):
        return
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return
    annotations = meta.get("annotations")
    if annotations is None:
        annotations = meta["annotations"] = {}
    if not isinstance(annotations, dict):
        return
    if old is not None:
        if go_equal(old.get("spec"), obj.get("spec"), SPEC_TYPES[str(obj["kind"])]):
            return
        annotations[UPDATER] = user
    else:
        annotations[CREATOR] = user
        annotations[UPDATER] = user
