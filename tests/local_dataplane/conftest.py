"""A real data plane on loopback, run on its own event loop thread, for synchronous tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from harness.local.dataplane import (
    DataPlane,
    HostRoute,
    RevisionProcess,
    RevisionReadiness,
    RevisionSpec,
)
from harness.local.metrics import MetricsSchema

T = TypeVar("T")
NAMESPACE = "default"


class PlaneThread:
    """A :class:`DataPlane` living on a background event loop, driven from test code."""

    def __init__(self, state_dir: Path, **options: Any) -> None:
        self.state_dir = state_dir
        self.events: list[RevisionReadiness] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.plane: DataPlane = self.call(self._make(options))
        self.port = self.call(self.plane.start())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _make(self, options: dict[str, Any]) -> DataPlane:
        return DataPlane(self.state_dir, on_readiness=self._record, **options)

    def _record(self, event: RevisionReadiness) -> None:
        with self._lock:
            self.events.append(event)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the plane's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def run(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the plane's loop (the data plane is single-threaded)."""

        async def wrapper() -> T:
            return fn()

        return self.call(wrapper())

    def add(self, name: str, env: Mapping[str, str] | None = None, cc: int = 0) -> RevisionSpec:
        """Start revision ``name`` of Service ``hello``."""
        spec = RevisionSpec(NAMESPACE, "hello", "hello", name, dict(env or {}), cc)
        self.call(self.plane.ensure_revision(spec))
        return spec

    def set_routes(self, routes: Mapping[str, HostRoute]) -> None:
        self.run(lambda: self.plane.set_routes(routes))

    def revision(self, name: str) -> RevisionProcess:
        found = [r for r in self.run(self.plane.revisions) if r.name == name]
        assert found, f"no revision {name}"
        return found[0]

    def wait_for(
        self, name: str, check: Callable[[RevisionProcess], bool], timeout: float = 60.0
    ) -> RevisionProcess:
        """Poll until ``check`` holds for the revision's snapshot (60 s: a revision's
        interpreter may take many seconds to start on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.revision(name)
            if check(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on {name}: {snapshot}")
            time.sleep(0.02)

    def wait_ready(self, name: str, timeout: float = 60.0) -> RevisionProcess:
        return self.wait_for(name, lambda r: r.ready, timeout)

    def events_for(self, name: str) -> list[RevisionReadiness]:
        with self._lock:
            return [e for e in self.events if e.name == name]

    def close(self) -> None:
        try:
            self.call(self.plane.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def start_plane(
    tmp: Path, schema: MetricsSchema = "legacy", **options: Any
) -> Iterator[PlaneThread]:
    plane = PlaneThread(tmp, metrics_schema=schema, **options)
    try:
        yield plane
    finally:
        plane.close()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaneThread]:
    """A data plane with hello-v1 and hello-v2 (no latency), both ready."""
    for p in start_plane(tmp_path_factory.mktemp("plane")):
        p.add("hello-v1", {"TARGET": "v1", "SIM_LATENCY_MS": "0"})
        p.add("hello-v2", {"TARGET": "v2", "SIM_LATENCY_MS": "0"})
        p.wait_ready("hello-v1")
        p.wait_ready("hello-v2")
        yield p


def fetch_many(
    url: str, n: int, headers: Mapping[str, str] | None = None, concurrency: int = 32
) -> list[tuple[int, str | None]]:
    """``n`` GETs, ``concurrency`` at a time: (status, K-Revision) of each."""

    async def run() -> list[tuple[int, str | None]]:
        semaphore = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one() -> tuple[int, str | None]:
                async with semaphore, session.get(url, headers=headers) as response:
                    await response.read()
                    return response.status, response.headers.get("K-Revision")

            return await asyncio.gather(*(one() for _ in range(n)))

    return asyncio.run(run())
