"""``KubeBackend``: the ``TrafficBackend`` over the Kubernetes API, with lightkube.

One code path for a real cluster and the emulator: both are reached through a kubeconfig.
Traffic changes are JSON merge patches of ``spec.traffic`` carrying the
``resourceVersion`` that was read, so a concurrent writer makes the API answer 409 instead
of being overwritten; the backend then re-reads and recomputes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.core import exceptions as lk_exceptions
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from harness.errors import Aborted, BadInput, Unavailable
from harness.knative.backend import StaleWrite, TrafficCompute
from harness.knative.model import SERVING_GROUP, RevisionState, ServiceState
from harness.knative.names import require_dns_label
from harness.knative.traffic import traffic_merge_patch

GROUP = SERVING_GROUP
API_VERSION = f"{GROUP}/v1"
SERVICE_LABEL = f"{GROUP}/service"
CONFLICT_RETRIES = 10
POLL_INTERVAL = 0.05
FIELD_MANAGER = "knative-harness"

KService = create_namespaced_resource(GROUP, "v1", "Service", "services")
KRevision = create_namespaced_resource(GROUP, "v1", "Revision", "revisions")

# lightkube raises its HTTP library's transport errors (httpx, or httpx2 in lightkube 1.x).
TransportError: type[Exception] = lk_exceptions.httpx.TransportError
HTTPStatusError = lk_exceptions.httpx.HTTPStatusError


def _dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class KubeBackend:
    """``TrafficBackend`` for the cluster a kubeconfig (and context) points at."""

    def __init__(
        self, kubeconfig: Path, context: str | None = None, *, request_timeout: float = 10.0
    ) -> None:
        from harness.knative.kubeconfig import read_kubeconfig

        try:
            config = KubeConfig.from_dict(read_kubeconfig(kubeconfig), fname=kubeconfig)
            single = config.get(context_name=context)
        except ConfigError as exc:
            raise BadInput(f"kubeconfig {kubeconfig}: {exc}") from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInput(f"kubeconfig {kubeconfig} is not a usable kubeconfig: {exc!r}") from exc
        if single is None:
            raise BadInput(f"kubeconfig {kubeconfig} has no context {context!r}")
        self.server = single.cluster.server
        self.default_namespace = single.namespace or "default"
        try:
            self._client = Client(
                single,
                namespace=self.default_namespace,
                field_manager=FIELD_MANAGER,
                timeout=lk_exceptions.httpx.Timeout(request_timeout),
                lazy=False,
            )
        except (ConfigError, OSError, ValueError, lk_exceptions.httpx.InvalidURL) as exc:
            # A server URL httpx cannot parse, certificate data that is not base64 or not
            # PEM (ssl.SSLError is an OSError), an unreadable certificate file.
            raise BadInput(f"kubeconfig {kubeconfig}: {_one_line(exc)}") from exc
        # Writes of one process go one at a time (a lease renewal and a traffic change of
        # the same run would otherwise make each other's resourceVersion stale).
        self._write_lock = threading.Lock()

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def __enter__(self) -> KubeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- reads -----

    def _get_raw(self, namespace: str, name: str) -> dict[str, Any]:
        require_dns_label(namespace, "namespace")
        require_dns_label(name, "service")
        with self._errors(f"service {namespace}/{name}"):
            return _dict(self._client.get(KService, name, namespace=namespace))

    def get_service(self, namespace: str, name: str) -> ServiceState:
        """The Service now; ``BadInput`` if missing, ``Unavailable`` if unreachable."""
        return ServiceState.from_object(self._get_raw(namespace, name))

    def get_service_object(self, namespace: str, name: str) -> dict[str, Any]:
        """The Service as the API returns it (a plain dict)."""
        return self._get_raw(namespace, name)

    def list_revisions(self, namespace: str, service: str) -> list[RevisionState]:
        """The Service's revisions, oldest first."""
        require_dns_label(namespace, "namespace")
        require_dns_label(service, "service")
        with self._errors(f"revisions of {namespace}/{service}"):
            items = [
                RevisionState.from_object(_dict(rev))
                for rev in self._client.list(
                    KRevision, namespace=namespace, labels={SERVICE_LABEL: service}
                )
            ]
        return sorted(items, key=lambda r: (r.configuration_generation or 0, r.name))

    # ----- writes -----

    def set_traffic(
        self,
        namespace: str,
        name: str,
        compute: TrafficCompute,
        *,
        timeout: float = 60.0,
    ) -> ServiceState:
        """Merge-patch ``spec.traffic`` with optimistic concurrency, then wait for Ready."""
        deadline = time.monotonic() + timeout
        for _ in range(CONFLICT_RETRIES):
            try:
                with self._write_lock:
                    current = self.get_service(namespace, name)
                    patch = traffic_merge_patch(list(compute(current)))
                    patch["metadata"] = {"resourceVersion": current.resource_version}
                    with self._errors(f"service {namespace}/{name}"):
                        patched = self._client.patch(
                            KService,
                            name,
                            patch,
                            namespace=namespace,
                            patch_type=PatchType.MERGE,
                        )
            except _Conflict:
                continue
            generation = ServiceState.from_object(_dict(patched)).generation or 0
            return self._wait(namespace, name, generation, deadline, timeout)
        raise Aborted(
            f"service {namespace}/{name} kept changing under us: {CONFLICT_RETRIES} conflicting "
            "writes in a row; traffic not changed"
        )

    def wait_ready(self, namespace: str, name: str, *, timeout: float = 60.0) -> ServiceState:
        """Poll until Ready at the current generation; ``Aborted`` on timeout."""
        current = self.get_service(namespace, name)
        return self._wait(
            namespace, name, current.generation or 0, time.monotonic() + timeout, timeout
        )

    def _wait(
        self, namespace: str, name: str, generation: int, deadline: float, timeout: float
    ) -> ServiceState:
        while True:
            state = self.get_service(namespace, name)
            if state.ready and (state.observed_generation or 0) >= generation:
                return state
            if time.monotonic() >= deadline:
                why = state.ready_message or state.ready_reason or "not ready"
                raise Aborted(
                    f"service {namespace}/{name} did not become ready within {timeout:.0f}s: {why}"
                )
            time.sleep(POLL_INTERVAL)

    def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        *,
        resource_version: str | None,
    ) -> ServiceState:
        """Merge-patch ``metadata.annotations`` (None removes a key) if the Service is still
        at ``resource_version``; ``StaleWrite`` when it changed since (a 409)."""
        require_dns_label(namespace, "namespace")
        require_dns_label(name, "service")
        # With a resourceVersion the patch is conditional (409 when the Service changed);
        # without one the key is left out: a null would drop the version from the patched
        # object, which the API server refuses for custom resources.
        metadata: dict[str, Any] = {"annotations": annotations}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        patch = {"metadata": metadata}
        try:
            with self._write_lock, self._errors(f"service {namespace}/{name}"):
                patched = self._client.patch(
                    KService, name, patch, namespace=namespace, patch_type=PatchType.MERGE
                )
        except _Conflict as exc:
            raise StaleWrite(str(exc)) from None
        return ServiceState.from_object(_dict(patched))

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create a Knative Service, or replace its spec when it exists (409s retried)."""
        if obj.get("apiVersion") != API_VERSION or obj.get("kind") != "Service":
            raise BadInput(
                f"only {API_VERSION} Service objects can be applied, not "
                f"{obj.get('apiVersion')}/{obj.get('kind')}"
            )
        meta = obj.get("metadata") or {}
        name = require_dns_label(meta.get("name", ""), "service")
        namespace = require_dns_label(meta.get("namespace") or self.default_namespace, "namespace")
        for _ in range(CONFLICT_RETRIES):
            try:
                with self._errors(f"service {namespace}/{name}"):
                    existing = _dict(self._client.get(KService, name, namespace=namespace))
            except _NotFound:
                body = {**obj, "metadata": {**meta, "namespace": namespace}}
                with self._errors(f"service {namespace}/{name}"):
                    created = self._client.create(KService.from_dict(body), namespace=namespace)
                return _dict(created)
            body = _replacement(existing, obj)
            try:
                with self._write_lock, self._errors(f"service {namespace}/{name}"):
                    replaced = self._client.replace(KService.from_dict(body))
            except _Conflict:
                continue
            return _dict(replaced)
        raise Aborted(f"service {namespace}/{name} kept changing; not applied")

    # ----- errors -----

    def _errors(self, what: str) -> _ErrorMapping:
        return _ErrorMapping(what, self.server)


def _replacement(existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` with the existing object's identity, resourceVersion, labels and annotations
    (desired ones win), so an apply does not drop what another writer added there."""
    old_meta = existing.get("metadata", {})
    new_meta = dict(desired.get("metadata") or {})
    for key in ("labels", "annotations"):
        merged = {**old_meta.get(key, {}), **(new_meta.get(key) or {})}
        if merged:
            new_meta[key] = merged
    new_meta.update(
        name=old_meta["name"],
        namespace=old_meta["namespace"],
        resourceVersion=old_meta["resourceVersion"],
    )
    return {**desired, "metadata": new_meta}


class _NotFound(BadInput):
    """A 404: the object (or its namespace) does not exist."""


class _Conflict(Exception):
    """A 409 on a write: the object changed since it was read."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _raised_by_credentials(tb: Any) -> bool:
    """Whether a traceback passes through lightkube's credential code (token file, exec)."""
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "lightkube.config.client_adapter":
            return True
        tb = tb.tb_next
    return False


class _ErrorMapping:
    """Turn API and transport errors into the harness's one-line errors."""

    def __init__(self, what: str, server: str) -> None:
        self.what = what
        self.server = server

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, ApiError):
            code = exc.status.code
            # Knative joins several field errors with newlines; the CLI shows one line.
            message = (exc.status.message or str(exc)).replace("\n", "; ")
            if code == 404:
                raise _NotFound(f"{self.what} not found") from exc
            if code == 409 and exc.status.reason == "Conflict":
                raise _Conflict(message) from exc
            if code in (400, 409, 422):
                raise BadInput(message) from exc
            if code in (401, 403):
                raise Unavailable(f"the cluster at {self.server} refused: {message}") from exc
            raise Unavailable(f"the cluster at {self.server} answered {code}: {message}") from exc
        if isinstance(exc, HTTPStatusError):
            # An answer without a Kubernetes Status body (a proxy in the way, say).
            code = exc.response.status_code
            if code == 404:
                raise _NotFound(f"{self.what} not found") from exc
            raise Unavailable(f"the cluster at {self.server} answered HTTP {code}") from exc
        if isinstance(exc, TransportError):
            raise Unavailable(f"cannot reach the cluster at {self.server}: {exc}") from exc
        if isinstance(exc, ConfigError) or _raised_by_credentials(tb):
            # The kubeconfig's user: a token file that is missing, an exec plugin that is
            # missing, fails or prints no ExecCredential, an exec apiVersion lightkube lacks.
            raise BadInput(f"kubeconfig user for {self.server}: {_one_line(exc)}") from exc
