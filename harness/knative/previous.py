"""``harness lint --previous FILE``: the objects as they are in the cluster, so that a
manifest can be checked as the update it would be.

The previous file holds the stored objects (``kubectl get ksvc NAME -o yaml``, or the
manifest last applied); each linted Service, Route, Configuration or Revision is checked
as an update of the previous object with the same kind, namespace and name
(``validate_object(..., old=...)``), a new one as a create. The previous object is taken
through Knative's create defaulting (a no-op on what a cluster returns, which is already
defaulted), except a Revision: Knative does not default a Revision on update either, so
two Revision manifests are compared as written. As ``kubectl apply`` sends a merge of
the manifest into the stored object, the stored creator/lastModifier annotations are kept
where the manifest does not set them (``kubectl replace`` would send none and be refused:
"annotation value is immutable").
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from harness.knative.cluster import ClusterConfig
from harness.knative.defaults import set_defaults
from harness.knative.manifest import parse_manifests
from harness.knative.user_info import CREATOR, UPDATER

Key = tuple[str, str, str]
Previous = Mapping[Key, Mapping[str, Any]]


def _key(obj: Mapping[str, Any]) -> Key | None:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    namespace = meta.get("namespace")
    return (str(obj.get("kind")), namespace if isinstance(namespace, str) else "", meta["name"])


def previous_objects(text: str, config: ClusterConfig) -> dict[Key, dict[str, Any]]:
    """The previous file's named objects by (kind, namespace, name), defaulted as stored;
    ``kind: List`` items count. Raises ``ManifestError`` for a file that does not parse."""
    found: dict[Key, dict[str, Any]] = {}
    for document in parse_manifests(text):
        if not isinstance(document.obj, Mapping):
            continue
        key = _key(document.obj)
        if key is not None:
            obj = copy.deepcopy(dict(document.obj))
            if obj.get("kind") != "Revision":
                set_defaults(obj, config)
            found[key] = obj
    return found


def previous_of(obj: Mapping[str, Any], previous: Previous) -> Mapping[str, Any] | None:
    """The stored object ``obj`` updates: same kind and name, and the same namespace (an
    object without one matches a previous one in any namespace)."""
    key = _key(obj)
    if key is None:
        return None
    if key in previous:
        return previous[key]
    if not key[1]:
        same = [o for k, o in previous.items() if (k[0], k[2]) == (key[0], key[2])]
        return same[0] if len(same) == 1 else None
    return None


def as_applied(obj: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` as ``kubectl apply`` would send it over ``old``: the stored creator and
    lastModifier annotations kept where ``obj`` does not set them."""
    out = copy.deepcopy(dict(obj))
    old_meta = old.get("metadata")
    old_annotations = old_meta.get("annotations") if isinstance(old_meta, Mapping) else None
    if not isinstance(old_annotations, Mapping):
        return out
    kept = {k: old_annotations[k] for k in (CREATOR, UPDATER) if k in old_annotations}
    meta = out.get("metadata")
    if not kept or not isinstance(meta, dict):
        return out
    annotations = meta.get("annotations")
    if annotations is None:
        annotations = meta["annotations"] = {}
    if isinstance(annotations, dict):
        for key, value in kept.items():
            annotations.setdefault(key, value)
    return out
