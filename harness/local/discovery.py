"""What a Kubernetes API server says about itself, and the `Table` view kubectl prints.

Discovery (`/api`, `/api/v1`, `/apis`, `/apis/serving.knative.dev/v1`) names the Knative
resources with Knative's short names (`ksvc`, `rev`, `rt`, `config`), so `kubectl get ksvc`
resolves. Tables use the printer columns of Knative's CRDs (`config/core/300-resources`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness import __version__
from harness.knative.model import SERVING_GROUP
from harness.local.objectstore import JSON

GROUP = SERVING_GROUP
VERSION = "v1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
READ_VERBS = ["get", "list", "watch"]
ALL_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    """One served resource of serving.knative.dev/v1."""

    plural: str
    singular: str
    kind: str
    short_names: tuple[str, ...]
    verbs: tuple[str, ...]


RESOURCES: dict[str, Resource] = {
    r.plural: r
    for r in (
        Resource("services", "service", "Service", ("kservice", "ksvc"), tuple(ALL_VERBS)),
        Resource("revisions", "revision", "Revision", ("rev",), ("delete", "get", "list", "watch")),
        # Writable when no Service owns them (a Service's Route answers 405).
        Resource("routes", "route", "Route", ("rt",), tuple(ALL_VERBS)),
        Resource(
            "configurations", "configuration", "Configuration", ("config", "cfg"), tuple(READ_VERBS)
        ),
    )
}


def version_info() -> JSON:
    """`/version`: a Kubernetes-shaped version that says it is the emulator."""
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"v1.32.0-knative-harness-{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "none",
        "compiler": "none",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> JSON:
    """`/api`: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def core_resources() -> JSON:
    """`/api/v1`: only what kubectl's describe and namespace lookups touch."""
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "namespaces",
                "singularName": "namespace",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["get", "list"],
                "shortNames": ["ns"],
            },
            {
                "name": "events",
                "singularName": "event",
                "namespaced": True,
                "kind": "Event",
                "verbs": ["list"],
                "shortNames": ["ev"],
            },
        ],
    }


def _group() -> JSON:
    preferred = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [preferred], "preferredVersion": preferred}


def api_groups() -> JSON:
    """`/apis`: the one group served."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group()]}


def api_group() -> JSON:
    """`/apis/serving.knative.dev`."""
    return {"kind": "APIGroup", "apiVersion": "v1", **_group()}


def group_resources() -> JSON:
    """`/apis/serving.knative.dev/v1`: kinds, verbs, short names, categories."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": True,
                "kind": r.kind,
                "verbs": list(r.verbs),
                "shortNames": list(r.short_names),
                "categories": ["all", "knative", "serving"],
            }
            for r in RESOURCES.values()
        ],
    }


OPENAPI_V3_GROUP_PATH = f"apis/{GROUP_VERSION}"


def openapi_v3_index() -> JSON:
    """`/openapi/v3`: where the serving.knative.dev/v1 document is."""
    return {
        "paths": {
            OPENAPI_V3_GROUP_PATH: {
                "serverRelativeURL": f"/openapi/v3/{OPENAPI_V3_GROUP_PATH}?hash={__version__}"
            }
        }
    }


def openapi_v3_group() -> JSON:
    """The serving.knative.dev/v1 OpenAPI v3 document, without schemas.

    It declares that writes take the `fieldValidation` query parameter, so kubectl
    leaves validation to the server (Knative's webhook rules) instead of downloading
    schemas; with no schema for the kinds, `kubectl apply` uses JSON merge patches, as
    it does for any custom resource.
    """
    parameter = {
        "name": "fieldValidation",
        "in": "query",
        "description": "Ignore, Warn or Strict; the emulator validates as Knative's webhook.",
        "schema": {"type": "string", "uniqueItems": True},
    }
    paths: JSON = {}
    for resource in RESOURCES.values():
        gvk = {"group": GROUP, "version": VERSION, "kind": resource.kind}
        operation = {
            "operationId": f"patch{resource.kind}",
            "parameters": [parameter],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        item_path = f"/{OPENAPI_V3_GROUP_PATH}/namespaces/{{namespace}}/{resource.plural}/{{name}}"
        paths[item_path] = {"patch": operation}
    return {
        "openapi": "3.0.0",
        "info": {"title": "knative-harness emulator", "version": __version__},
        "paths": paths,
        "components": {"schemas": {}},
    }


def namespace_object(name: str) -> JSON:
    """A Namespace as `/api/v1/namespaces/{name}` returns it."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


# ----- Table (meta.k8s.io/v1), what `kubectl get` asks for -----


def _ready_field(field: str) -> Callable[[JSON], str]:
    def read(obj: JSON) -> str:
        for cond in obj.get("status", {}).get("conditions", []):
            if cond.get("type") == "Ready":
                return str(cond.get(field, ""))
        return ""

    return read


def _status(field: str) -> Callable[[JSON], object]:
    return lambda obj: obj.get("status", {}).get(field, "")


def _label(key: str) -> Callable[[JSON], str]:
    return lambda obj: str(obj["metadata"].get("labels", {}).get(key, ""))


Column = tuple[str, str, Callable[[JSON], object]]

COLUMNS: dict[str, Sequence[Column]] = {
    "services": (
        ("URL", "string", _status("url")),
        ("LatestCreated", "string", _status("latestCreatedRevisionName")),
        ("LatestReady", "string", _status("latestReadyRevisionName")),
        ("Ready", "string", _ready_field("status")),
        ("Reason", "string", _ready_field("reason")),
    ),
    "revisions": (
        ("Config Name", "string", _label(f"{GROUP}/configuration")),
        ("Generation", "string", _label(f"{GROUP}/configurationGeneration")),
        ("Ready", "string", _ready_field("status")),
        ("Reason", "string", _ready_field("reason")),
        ("Actual Replicas", "integer", _status("actualReplicas")),
        ("Desired Replicas", "integer", _status("desiredReplicas")),
    ),
    "routes": (
        ("URL", "string", _status("url")),
        ("Ready", "string", _ready_field("status")),
        ("Reason", "string", _ready_field("reason")),
    ),
    "configurations": (
        ("LatestCreated", "string", _status("latestCreatedRevisionName")),
        ("LatestReady", "string", _status("latestReadyRevisionName")),
        ("Ready", "string", _ready_field("status")),
        ("Reason", "string", _ready_field("reason")),
    ),
}


def _row_object(obj: JSON, include: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(resource: str, objects: Sequence[JSON], resource_version: int, include: str) -> JSON:
    """A `Table` of `objects` with Knative's printer columns; `include` is the
    `includeObject` query parameter (`None`, `Object`, default `Metadata`)."""
    columns = COLUMNS[resource]
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace.",
            "priority": 0,
        }
    ] + [
        {"name": name, "type": kind, "format": "", "description": name, "priority": 0}
        for name, kind, _ in columns
    ]
    rows = []
    for obj in objects:
        row: JSON = {"cells": [obj["metadata"]["name"]] + [read(obj) for _, _, read in columns]}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": definitions,
        "rows": rows,
    }
