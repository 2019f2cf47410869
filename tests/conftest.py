"""Shared fixtures. `emulator`: a running Knative emulator with the demo Service.

Use it in any test that needs a cluster::

    def test_something(emulator):
        backend = KubeBackend(emulator.kubeconfig)          # the same code path as a cluster
        httpx.get(emulator.ingress, headers={"Host": emulator.host("hello", tag="v2")})

`emulator` is module-scoped: one daemon per test module, started with `--demo` (Service
`hello` in `default`: `hello-v1` 100% tag `v1`, `hello-v2` 0% tag `v2`) on free ports in a
temporary state folder. Tests in a module share it, so a test that changes `hello` should
put it back or use `fresh_emulator` (function-scoped, a new daemon per test, ~1 s).
At teardown the daemon is stopped and the fixture fails the test if any process it
spawned (revisions, Prometheus) is still alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.local.api_client import client_options, credentials
from harness.local.launcher import Emulator, alive, descendants
from harness.local.state import EmulatorInfo


@dataclass(frozen=True)
class RunningEmulator:
    """Where a test's emulator answers. `prometheus` is None where none is installed."""

    api: str
    ingress: str
    prometheus: str | None
    kubeconfig: Path
    state_dir: Path
    pid: int
    domain: str
    # `headers` (the bearer token) and `verify` (the emulator's CA) for httpx.
    api_options: dict[str, Any]

    def api_client(self, timeout: float = 10.0) -> httpx.Client:
        """An httpx client of the API, authenticated as the kubeconfig is."""
        return httpx.Client(base_url=self.api, timeout=timeout, **self.api_options)

    def host(self, route: str, namespace: str = "default", tag: str | None = None) -> str:
        """The Host header for a route (or one of its tags): `v2-hello.default.example.com`."""
        prefix = f"{tag}-" if tag else ""
        return f"{prefix}{route}.{namespace}.{self.domain}"


def _running(info: EmulatorInfo, state_dir: Path) -> RunningEmulator:
    return RunningEmulator(
        api=info.api,
        ingress=info.ingress,
        prometheus=info.prometheus,
        kubeconfig=Path(info.kubeconfig),
        state_dir=state_dir,
        pid=info.pid,
        domain=info.domain,
        api_options=client_options(credentials(info)),
    )


def start_emulator(state_dir: Path, *, demo: bool = True) -> Iterator[RunningEmulator]:
    """Start an emulator in `state_dir`, yield it, stop it and check nothing is left."""
    info = Emulator.start(state_dir, demo=demo)
    try:
        yield _running(info, state_dir)
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        left = [pid for pid in spawned if alive(pid)]
        assert not left, f"emulator processes left after stop: {left}"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A demo emulator shared by the tests of one module (see the module docstring)."""
    yield from start_emulator(tmp_path_factory.mktemp("emulator"))


@pytest.fixture
def fresh_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A demo emulator of this test's own."""
    yield from start_emulator(tmp_path / "emulator")
