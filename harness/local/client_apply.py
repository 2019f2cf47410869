"""`harness local apply`: create a Service, or patch it as `kubectl apply` would.

The three-way JSON merge patch kubectl sends is `harness.knative.apply_patch` (pure);
this module sends it to the emulator's API. Applying the same manifest as kubectl
therefore leaves the same object, and either tool can follow the other.
"""

from __future__ import annotations

import httpx

from harness.errors import Aborted, BadInput, Unavailable
from harness.knative.apply_patch import (
    JSON,
    last_applied,
    three_way_patch,
    with_last_applied,
)
from harness.knative.model import SERVING_API_VERSION
from harness.knative.names import require_dns_label

CONFLICT_RETRIES = 5
SERVICES = f"/apis/{SERVING_API_VERSION}/namespaces/{{namespace}}/services"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def apply_service(client: httpx.Client, manifest: JSON, namespace: str) -> JSON:
    """Create the Service `manifest` describes, or patch it as `kubectl apply` would;
    returns the stored object. BadInput for what the API refuses (its message),
    Unavailable when it cannot be reached, Aborted when it keeps changing."""
    name = require_dns_label(str((manifest.get("metadata") or {}).get("name") or ""), "service")
    namespace = require_dns_label(
        str((manifest.get("metadata") or {}).get("namespace") or namespace), "namespace"
    )
    modified = with_last_applied(manifest)
    modified["metadata"]["namespace"] = namespace
    collection = SERVICES.format(namespace=namespace)
    for _ in range(CONFLICT_RETRIES):
        live = _call(client, "GET", f"{collection}/{name}", f"service {namespace}/{name}")
        if live is None:
            created = _call(client, "POST", collection, f"service {namespace}/{name}", modified)
            if created is not None:
                return created
            continue  # created meanwhile by someone else: patch it
        patch = three_way_patch(last_applied(live), modified, live)
        if not patch:
            return live
        patched = _call(
            client, "PATCH", f"{collection}/{name}", f"service {namespace}/{name}", patch
        )
        if patched is not None:
            return patched
    raise Aborted(f"service {namespace}/{name} kept changing; not applied")


def _call(
    client: httpx.Client, method: str, path: str, what: str, body: JSON | None = None
) -> JSON | None:
    """The API's answer to one request; None for 404 on GET and 409 on a write."""
    headers = MERGE_PATCH if method == "PATCH" else None
    try:
        response = client.request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"{what}: the emulator's API did not answer: {exc}") from None
    if (method == "GET" and response.status_code == 404) or (
        method != "GET" and response.status_code == 409
    ):
        return None
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code >= 500:
        raise Unavailable(f"{what}: the emulator's API answered {response.status_code}")
    if response.status_code >= 400:
        message = data.get("message") if isinstance(data, dict) else None
        raise BadInput(f"{what}: {message or f'refused ({response.status_code})'}")
    if not isinstance(data, dict):
        raise Unavailable(f"{what}: the emulator's API answered no object")
    return data
