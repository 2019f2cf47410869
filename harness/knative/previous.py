"""``harness lint --previous FILE``: the objects as they are in the cluster, so that a
manifest can be checked as the update it would be.

The previous file holds the stored objects (``kubectl get ksvc NAME -o yaml``, or the
manifest last applied); each linted Service, Route, Configuration or Revision is checked
as an update of the previous object with the same kind and name (and namespace, when
both name one), through ``validate_object(..., old=...)``, and each Broker or Trigger
through Knative Eventing's ``validate_broker``/``validate_trigger(..., old)`` (a
Trigger's ``spec.broker``, a Broker's spec but ``delivery`` and its class annotation do
not change); anything else as a create.

What is checked is what ``kubectl apply`` would send: the three-way JSON merge patch
from the manifest last applied (the stored object's
``kubectl.kubernetes.io/last-applied-configuration``; a previous file that is a manifest,
not a stored object, is taken as that manifest) applied to the stored object
(``harness.local.client_apply``, kubectl's semantics: maps merge, lists are replaced,
fields no manifest named are kept, such as the creator/lastModifier annotations; a
``kubectl replace`` of a manifest without them would be refused: "annotation value is
immutable"). The stored object is the previous one after Knative's create defaulting (a
no-op on what a cluster returns; Knative Eventing's for a Broker or Trigger), except a
Revision's: Knative does not default a Revision on update either.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from harness.knative.apply_patch import LAST_APPLIED, last_applied, three_way_patch
from harness.knative.cluster import ClusterConfig
from harness.knative.defaults import set_defaults
from harness.knative.eventing_validation import EVENTING_DEFAULTS
from harness.knative.manifest import parse_manifests
from harness.knative.model import EVENTING_GROUP
from harness.knative.patches import merge_patch

Key = tuple[str, str, str]
# Fields only a stored object has: an object from the cluster without kubectl's
# annotation was never applied (kubectl then deletes nothing), not a manifest.
_STORED_FIELDS = ("uid", "resourceVersion", "creationTimestamp")
Previous = Mapping[Key, Mapping[str, Any]]


def _is_eventing(obj: Mapping[str, Any]) -> bool:
    api_version = obj.get("apiVersion")
    return isinstance(api_version, str) and api_version.startswith(f"{EVENTING_GROUP}/")


def _key(obj: Mapping[str, Any]) -> Key | None:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    namespace = meta.get("namespace")
    return (str(obj.get("kind")), namespace if isinstance(namespace, str) else "", meta["name"])


def previous_objects(text: str, config: ClusterConfig) -> dict[Key, dict[str, Any]]:
    """The previous file's named objects by (kind, namespace, name), as stored: defaulted,
    with the manifest last applied in kubectl's annotation (the file's own text for the
    object when it has none). ``kind: List`` items count. Raises ``ManifestError`` for a
    file that does not parse."""
    found: dict[Key, dict[str, Any]] = {}
    for document in parse_manifests(text):
        if not isinstance(document.obj, Mapping):
            continue
        key = _key(document.obj)
        if key is None:
            continue
        obj = copy.deepcopy(dict(document.obj))
        if (
            last_applied(obj) is None
            and isinstance(obj.get("metadata"), dict)
            and not any(k in obj["metadata"] for k in _STORED_FIELDS)
        ):
            written = json.dumps(document.obj, separators=(",", ":"), sort_keys=True)
            annotations = obj["metadata"].get("annotations")
            obj["metadata"]["annotations"] = {
                **(annotations if isinstance(annotations, dict) else {}),
                LAST_APPLIED: written,
            }
        if obj.get("kind") in EVENTING_DEFAULTS and _is_eventing(obj):
            EVENTING_DEFAULTS[str(obj["kind"])](obj)
        elif obj.get("kind") != "Revision":
            set_defaults(obj, config)
        found[key] = obj
    return found


def previous_of(obj: Mapping[str, Any], previous: Previous) -> Mapping[str, Any] | None:
    """The stored object ``obj`` updates: same kind and name, and the same namespace when
    both name one (else the only one of that kind and name)."""
    key = _key(obj)
    if key is None:
        return None
    if key in previous:
        return previous[key]
    same = [
        o for k, o in previous.items() if (k[0], k[2]) == (key[0], key[2]) and not (k[1] and key[1])
    ]
    return same[0] if len(same) == 1 else None


def as_applied(obj: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """The object ``kubectl apply`` of ``obj`` would make of the stored ``old``."""
    current = dict(old)
    patch = three_way_patch(last_applied(current), dict(obj), current)
    result = merge_patch(current, patch)
    return result if isinstance(result, dict) else dict(obj)
