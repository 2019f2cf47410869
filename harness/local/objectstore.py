"""The emulator's object store: Kubernetes objects by kind, a resourceVersion, watch events.

Like etcd behind a Kubernetes API server: one counter gives every write a new
`resourceVersion`, every write is an event (ADDED, MODIFIED, DELETED) that watchers
receive, and a bounded history lets a watch resume from a recent `resourceVersion`
(older ones get 410 Gone, as Kubernetes answers). Everything runs on one asyncio loop,
so no locking is needed: a write is never interleaved with another.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.knative.model import SERVING_GROUP

JSON = dict[str, Any]
HISTORY = 2000


class ApiError(Exception):
    """A Kubernetes API failure, rendered as a `Status` object with `code`."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        """The `Status` body Kubernetes sends with this error."""
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(resource: str, name: str) -> ApiError:
    """404 as Kubernetes words it: `services.serving.knative.dev "x" not found`."""
    return ApiError(
        404,
        "NotFound",
        f'{resource}.{SERVING_GROUP} "{name}" not found',
        details={"name": name, "group": SERVING_GROUP, "kind": resource},
    )


def conflict(resource: str, name: str) -> ApiError:
    """409 for a stale resourceVersion, with Kubernetes' wording."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource}.{SERVING_GROUP} "{name}": '
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
        details={"name": name, "group": SERVING_GROUP, "kind": resource},
    )


@dataclass(frozen=True)
class WatchEvent:
    """One write: what kind of change, to which object, at which resourceVersion."""

    resource_version: int
    resource: str
    type: str
    object: JSON


@dataclass(eq=False)
class _Watcher:
    resource: str
    namespace: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: WatchEvent) -> bool:
        if event.resource != self.resource:
            return False
        return self.namespace is None or event.object["metadata"]["namespace"] == self.namespace


class ObjectStore:
    """Objects keyed by (resource, namespace, name); every write bumps the resourceVersion."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str], JSON] = {}
        self._version = 0
        self._history: deque[WatchEvent] = deque(maxlen=HISTORY)
        self._watchers: set[_Watcher] = set()
        self.namespaces: set[str] = {"default"}

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out (a list's `metadata.resourceVersion`)."""
        return self._version

    def get(self, resource: str, namespace: str, name: str) -> JSON | None:
        """A deep copy of the stored object, or None."""
        found = self._objects.get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def peek(self, resource: str, namespace: str, name: str) -> JSON | None:
        """The stored object itself, for read-only use by the controller."""
        return self._objects.get((resource, namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[JSON]:
        """Deep copies of the objects of `resource`, in `namespace` or all, sorted by name."""
        return [copy.deepcopy(obj) for obj in self.iter(resource, namespace)]

    def iter(self, resource: str, namespace: str | None = None) -> Iterator[JSON]:
        """The stored objects (not copies), sorted by namespace and name; do not mutate."""
        keys = sorted(
            key
            for key in self._objects
            if key[0] == resource and (namespace is None or key[1] == namespace)
        )
        for key in keys:
            yield self._objects[key]

    def put(self, resource: str, obj: JSON) -> JSON:
        """Store `obj` with a fresh resourceVersion; returns a copy of what was stored."""
        meta = obj["metadata"]
        key = (resource, meta["namespace"], meta["name"])
        kind = "MODIFIED" if key in self._objects else "ADDED"
        self._version += 1
        meta["resourceVersion"] = str(self._version)
        stored = copy.deepcopy(obj)
        self._objects[key] = stored
        self.namespaces.add(meta["namespace"])
        self._emit(WatchEvent(self._version, resource, kind, stored))
        return copy.deepcopy(stored)

    def delete(self, resource: str, namespace: str, name: str) -> JSON | None:
        """Remove an object; returns it with the resourceVersion of its deletion."""
        stored = self._objects.pop((resource, namespace, name), None)
        if stored is None:
            return None
        self._version += 1
        gone = copy.deepcopy(stored)
        gone["metadata"]["resourceVersion"] = str(self._version)
        self._emit(WatchEvent(self._version, resource, "DELETED", gone))
        return copy.deepcopy(gone)

    def watch(
        self, resource: str, namespace: str | None, since: int | None
    ) -> asyncio.Queue[WatchEvent | None]:
        """A queue of events after `since` (now when None); ApiError 410 if too old.

        Call `unwatch` with the queue when done. A `None` in the queue means the store
        is closing.
        """
        watcher = _Watcher(resource, namespace)
        if since is not None and since < self._version:
            oldest = self._history[0].resource_version if self._history else self._version + 1
            if since + 1 < oldest:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({oldest - 1})")
            for event in self._history:
                if event.resource_version > since and watcher.wants(event):
                    watcher.queue.put_nowait(event)
        self._watchers.add(watcher)
        return watcher.queue

    def unwatch(self, queue: asyncio.Queue[WatchEvent | None]) -> None:
        """Stop delivering events to `queue`."""
        self._watchers = {w for w in self._watchers if w.queue is not queue}

    def close(self) -> None:
        """End every watch."""
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
        self._watchers.clear()

    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        for watcher in self._watchers:
            if watcher.wants(event):
                watcher.queue.put_nowait(event)
