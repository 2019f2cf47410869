"""Fields outside Knative's CRD schemas: what the API server prunes or refuses.

Before Knative's webhook sees an object, the API server decodes it against the CRD's
structural schema (``harness.knative.crd_fields``, generated from knative/serving
``config/core/300-resources/*.yaml`` and knative/eventing
``config/core/resources/{broker,trigger}.yaml``). A field the schema does not declare is an
*unknown field*: with ``fieldValidation=Strict`` (kubectl's default) the request fails
with ``strict decoding error: unknown field "spec.template.spec.nodName"``; with
``Warn`` (the server's default) the field is dropped and a ``Warning`` header names it;
with ``Ignore`` it is dropped silently. Paths are as the API server prints them
(``spec.template.spec.containers[0].imagePullPolicyy``), sorted.

Eventing's schemas preserve unknown fields under a Trigger's ``spec`` and any
``delivery``: what the API server keeps there, Knative Eventing's webhook refuses when
its Go types lack it (``eventing_validation.undecodable_fields``).

``hint`` is the linter's did-you-mean: a Kubernetes field Knative leaves out of its
schema, or the closest declared field for a typo.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from harness.knative.crd_fields import TREES
from harness.knative.features import feature_of_field
from harness.knative.fieldmask import CONTAINER_FIELDS, POD_SPEC_FIELDS

# metav1.ObjectMeta's JSON fields: the API server decodes metadata itself.
OBJECT_META = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def _walk(tree: Any, value: Any, path: str, found: list[str], prune: bool) -> None:
    if tree == "*" or tree == 1 or value is None:
        return
    if not isinstance(tree, dict):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _walk(tree, item, f"{path}[{i}]", found, prune)
        return
    if not isinstance(value, dict):
        return
    if "{}" in tree:
        for key, item in value.items():
            _walk(tree["{}"], item, f"{path}.{key}" if path else str(key), found, prune)
        return
    for key in list(value):
        child = f"{path}.{key}" if path else str(key)
        if key in tree:
            _walk(tree[key], value[key], child, found, prune)
        elif "*" not in tree:
            found.append(child)
            if prune:
                del value[key]


def _check(obj: dict[str, Any], kind: str, prune: bool) -> list[str]:
    tree = TREES.get(kind)
    if tree is None:
        return []
    found: list[str] = []
    for key in list(obj):
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            meta = obj[key]
            if isinstance(meta, dict):
                for name in [k for k in meta if k not in OBJECT_META]:
                    found.append(f"metadata.{name}")
                    if prune:
                        del meta[name]
            continue
        if key in tree:
            _walk(tree[key], obj[key], str(key), found, prune)
        else:
            found.append(str(key))
            if prune:
                del obj[key]
    return sorted(found)


def unknown_fields(obj: Mapping[str, Any], kind: str | None = None) -> list[str]:
    """The paths of ``obj``'s fields outside the CRD schema of its kind, sorted."""
    # Nothing is changed without prune: no copy needed.
    return _check(dict(obj), kind or str(obj.get("kind")), prune=False)


def prune_unknown(obj: dict[str, Any], kind: str | None = None) -> list[str]:
    """Drop ``obj``'s unknown fields in place (as the API server prunes them); their paths."""
    return _check(obj, kind or str(obj.get("kind")), prune=True)


def strict_decoding_error(kind: str, paths: list[str]) -> str:
    """The API server's message for unknown fields under ``fieldValidation=Strict``."""
    fields = ", ".join(f'unknown field "{p}"' for p in paths)
    return f'{kind} in version "v1" cannot be handled as a {kind}: strict decoding error: {fields}'


_INDEX = re.compile(r"\[\d+\]")


def _siblings(kind: str, path: str) -> list[str]:
    """The declared field names next to ``path``'s last key."""
    parts = _INDEX.sub("", path).split(".")
    if parts[0] == "metadata" and len(parts) == 2:
        return sorted(OBJECT_META)
    node: Any = TREES.get(kind, {})
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return []
        node = node.get(part, node.get("{}"))
    return sorted(k for k in node if k not in ("*", "{}")) if isinstance(node, dict) else []


def _kubernetes_fields(kind: str, parent: str) -> tuple[str, frozenset[str]]:
    """("pod", PodSpec fields) / ("container", Container fields) at ``parent``."""
    if parent.endswith("spec.template.spec") or (kind == "Revision" and parent == "spec"):
        return "pod", POD_SPEC_FIELDS
    if parent.endswith(("containers", "initContainers")):
        return "container", CONTAINER_FIELDS
    return "", frozenset()


def hint(kind: str, path: str) -> str:
    """A did-you-mean for an unknown field: what Knative makes of a Kubernetes pod or
    container field it leaves out, else the closest declared (or Kubernetes) name, with
    the feature flag that name needs ('' when nothing is close)."""
    key = path.rsplit(".", 1)[-1]
    parent = _INDEX.sub("", path).rsplit(".", 1)[0] if "." in path else ""
    what, kubernetes = _kubernetes_fields(kind, parent)
    if key in kubernetes:
        return f"Knative does not support the {what} field {key}"
    declared = _siblings(kind, path)
    close = difflib.get_close_matches(key, sorted(set(declared) | kubernetes), n=1, cutoff=0.6)
    if not close:
        return ""
    match = close[0]
    if match not in declared:
        return f"did you mean {match}? (a Kubernetes {what} field Knative does not support)"
    gate = feature_of_field(match) if what else None
    return (
        f"did you mean {match}? (it needs the feature {gate})"
        if gate
        else (f"did you mean {match}?")
    )


def feature_hint(field: str) -> str:
    """For a field Knative's webhook refuses (``must not set``): the config-features flag
    that lets it through, if one does."""
    key = _INDEX.sub("", field).rsplit(".", 1)[-1]
    flag = feature_of_field(key)
    if flag is None:
        return ""
    return f"{key} needs the feature {flag} (--feature {flag}=enabled)"
