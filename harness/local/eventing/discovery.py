"""What the API says about ``eventing.knative.dev/v1``: the resource list kubectl
discovers, the group, an OpenAPI v3 document without schemas, and ``Table`` views with
the printer columns of Knative's CRDs (``config/core/resources/{broker,trigger}.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness import __version__
from harness.knative.model import EVENTING_GROUP
from harness.local.objectstore import JSON

VERSION = "v1"
GROUP_VERSION = f"{EVENTING_GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP_VERSION}"
OPENAPI_V3_GROUP_PATH = f"apis/{GROUP_VERSION}"
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
RESOURCES = {"brokers": ("broker", "Broker"), "triggers": ("trigger", "Trigger")}


def _group() -> JSON:
    preferred = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": EVENTING_GROUP, "versions": [preferred], "preferredVersion": preferred}


def api_group_entry() -> JSON:
    """The group's entry in ``/apis``."""
    return _group()


def api_group() -> JSON:
    """``/apis/eventing.knative.dev``."""
    return {"kind": "APIGroup", "apiVersion": "v1", **_group()}


def group_resources() -> JSON:
    """``/apis/eventing.knative.dev/v1``."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {
                "name": plural,
                "singularName": singular,
                "namespaced": True,
                "kind": kind,
                "verbs": list(VERBS),
                "shortNames": [],
                "categories": ["all", "knative", "eventing"],
            }
            for plural, (singular, kind) in RESOURCES.items()
        ],
    }


def openapi_v3_index_entry() -> JSON:
    """The group's entry in ``/openapi/v3`` ``paths``."""
    return {
        OPENAPI_V3_GROUP_PATH: {
            "serverRelativeURL": f"/openapi/v3/{OPENAPI_V3_GROUP_PATH}?hash={__version__}"
        }
    }


def openapi_v3_group() -> JSON:
    """The group's OpenAPI v3 document: no schemas, ``fieldValidation`` declared (kubectl
    then leaves validation to the server and uses JSON merge patches)."""
    parameter = {
        "name": "fieldValidation",
        "in": "query",
        "description": "Ignore, Warn or Strict; the emulator validates as Knative's webhook.",
        "schema": {"type": "string", "uniqueItems": True},
    }
    paths: JSON = {}
    for plural, (_, kind) in RESOURCES.items():
        gvk = {"group": EVENTING_GROUP, "version": VERSION, "kind": kind}
        paths[f"/{OPENAPI_V3_GROUP_PATH}/namespaces/{{namespace}}/{plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{kind}",
                "parameters": [parameter],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "knative-harness emulator", "version": __version__},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _ready(field: str) -> Callable[[JSON], object]:
    def read(obj: JSON) -> object:
        for cond in (obj.get("status") or {}).get("conditions", []):
            if cond.get("type") == "Ready":
                return cond.get(field, "")
        return ""

    return read


Column = tuple[str, str, Callable[[JSON], object]]
COLUMNS: dict[str, Sequence[Column]] = {
    "brokers": (
        ("URL", "string", lambda o: ((o.get("status") or {}).get("address") or {}).get("url", "")),
        ("Ready", "string", _ready("status")),
        ("Reason", "string", _ready("reason")),
    ),
    "triggers": (
        ("Broker", "string", lambda o: (o.get("spec") or {}).get("broker", "")),
        ("Subscriber_URI", "string", lambda o: (o.get("status") or {}).get("subscriberUri", "")),
        ("Ready", "string", _ready("status")),
        ("Reason", "string", _ready("reason")),
    ),
}


def table(resource: str, objects: Sequence[JSON], resource_version: int, include: str) -> JSON:
    """A meta.k8s.io/v1 ``Table`` of eventing objects (``include``: ``includeObject``)."""
    definitions = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ] + [
        {"name": name, "type": kind, "format": "", "description": name, "priority": 0}
        for name, kind, _ in COLUMNS[resource]
    ]
    rows = []
    for obj in objects:
        row: JSON = {
            "cells": [obj["metadata"]["name"]] + [read(obj) for _, _, read in COLUMNS[resource]]
        }
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": definitions,
        "rows": rows,
    }
