"""kubectl's client-side apply as data: the three-way JSON merge patch it sends.

kubectl keeps the manifest it last applied in the annotation
`kubectl.kubernetes.io/last-applied-configuration`. On the next apply it patches the live
object with a JSON merge patch (for a custom resource such as a Knative Service; built-in
kinds get a strategic merge patch) that

- sets what the new manifest sets and the live object does not have (additions and
  changes, from live to new), and
- deletes what the last applied manifest set and the new one no longer does (deletions,
  from last applied to new);

so a field that some other writer set and no manifest ever named, such as `spec.traffic`
moved by a canary, is kept when the manifest has none. Lists are replaced whole, as in a
merge patch. (kubectl: staging/src/k8s.io/kubectl/pkg/cmd/apply/patcher.go and
apimachinery's jsonmergepatch.CreateThreeWayJSONMergePatch.) Pure functions: `harness lint
--previous` and the emulator's `harness local apply` (harness/local/client_apply.py) use them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

JSON = dict[str, Any]


def with_last_applied(manifest: JSON) -> JSON:
    """`manifest` carrying itself (without that annotation) as its last-applied annotation,
    serialised as kubectl does (compact JSON, a trailing newline)."""
    modified = copy.deepcopy(manifest)
    meta = modified.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    original = copy.deepcopy(modified)
    if annotations:
        original["metadata"]["annotations"] = dict(annotations)
    else:
        original["metadata"].pop("annotations", None)
    annotations[LAST_APPLIED] = json.dumps(original, separators=(",", ":"), sort_keys=True) + "\n"
    meta["annotations"] = annotations
    return modified


def last_applied(live: JSON) -> JSON | None:
    """The manifest last applied to `live` (None when it carries none or it is unreadable)."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def three_way_patch(original: JSON | None, modified: JSON, current: JSON) -> JSON:
    """The JSON merge patch kubectl sends to move `current` to `modified`, given the
    `original` last applied (None: nothing was applied before, so nothing is deleted)."""
    patch = _changes(current, modified)
    if original is not None:
        _merge(patch, _deletions(original, modified))
    return patch


def _changes(current: JSON, modified: JSON) -> JSON:
    """Additions and changes from `current` to `modified` (no deletions)."""
    patch: JSON = {}
    for key, want in modified.items():
        have = current.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            inner = _changes(have, want)
            if inner:
                patch[key] = inner
        elif key not in current or have != want:
            patch[key] = copy.deepcopy(want)
    return patch


def _deletions(original: JSON, modified: JSON) -> JSON:
    """Keys `original` sets that `modified` no longer sets, as nulls."""
    patch: JSON = {}
    for key, was in original.items():
        if key not in modified or modified[key] is None:
            patch[key] = None
        elif isinstance(was, dict) and isinstance(modified[key], dict):
            inner = _deletions(was, modified[key])
            if inner:
                patch[key] = inner
    return patch


def _merge(into: JSON, extra: JSON) -> None:
    for key, value in extra.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        elif key not in into:
            into[key] = value
