"""Fixtures of the load tests: real servers on loopback, in their own processes.

* `serve(...)`: the counting test server of `server.py` (statuses, delays, a stall);
* `sample_app(env)`: the emulator's sample app (``python -m harness.local.app``) with
  ``SIM_*`` knobs and ``K_REVISION``;
* `run_load(*args)`: ``harness load ...`` as a user runs it, in a subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("server.py")
_START_TIMEOUT_S = 60.0  # a server process starting on a loaded machine


@dataclass
class CountingServer:
    """A running `server.py`: its base URL, and how many requests it has seen."""

    url: str
    port: int

    def count(self) -> int:
        """Requests seen so far (``GET /_count`` is not one of them)."""
        with urllib.request.urlopen(f"{self.url}_count", timeout=5) as response:
            return int(response.read())


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Poll until ``port`` accepts connections; fail if the process died or time ran out."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port} after {_START_TIMEOUT_S}s")


@pytest.fixture
def serve() -> Iterator[Callable[..., CountingServer]]:
    """Start `server.py` with the given options (``serve("--status", "503")``)."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> CountingServer:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), *args], stdout=subprocess.PIPE, text=True
        )
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            pytest.fail(f"test server did not start: {line!r}")
        port = int(line.split()[1])
        return CountingServer(url=f"http://127.0.0.1:{port}/", port=port)

    yield start
    for process in processes:
        process.kill()
        process.wait()


@pytest.fixture
def sample_app() -> Iterator[Callable[[Mapping[str, str]], str]]:
    """Start the sample app with the given env knobs; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(env: Mapping[str, str]) -> str:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.local.app", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            cwd=REPO,
        )
        processes.append(process)
        wait_for_port(port, process)
        return f"http://127.0.0.1:{port}/"

    yield start
    for process in processes:
        process.kill()
        process.wait()


def harness_command(*args: str) -> list[str]:
    """The command line of ``harness load ARGS`` with this interpreter."""
    return [sys.executable, "-m", "harness.cli", "load", *args]


@pytest.fixture
def run_load() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``harness load ARGS`` to completion; returns its exit code and output."""

    def run(*args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            harness_command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            check=False,
        )

    return run
