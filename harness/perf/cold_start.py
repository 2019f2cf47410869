"""Cold starts: how long the first request to a revision with no instance running takes.

Two ways to have a revision with nothing running:

* **scale to zero** (a Knative cluster, or the emulator started with
  ``harness local up --scale-to-zero``): wait until the autoscaler reports zero pods
  for the revision (it scales to zero after its stable window and grace period without
  traffic, when ``autoscaling.knative.dev/min-scale`` is 0), then send one request
  through the route or tag: the activator holds it while a pod starts. Zero pods is
  read from Prometheus, so this needs it.
* **fresh instance** (an emulator started without ``--scale-to-zero``, which keeps an
  idle revision at one pod): start a new instance of the revision's container the way
  the emulator does (the sample app with the revision's env, so ``SIM_COLD_START_MS``
  applies) on a loopback port and send the request at once, retrying refused
  connections as the activator retries a pod that is not ready yet; the instance is
  stopped afterwards.

``harness.perf.run`` chooses: fresh instances only on an emulator that does not scale
to zero.

Either way one repetition is one first request, and its latency runs from when the
request was first sent (for a fresh instance: when the instance was asked to start) to
the end of its response.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from harness.errors import Aborted, BadInput, Unavailable
from harness.load.targets import Arm
from harness.perf.server_metrics import actual_pods
from harness.printable import printable
from harness.redact import redact_url

__all__ = [
    "FRESH_INSTANCE",
    "SCALE_TO_ZERO",
    "ColdStartResult",
    "fresh_instance_cold_starts",
    "scale_to_zero_cold_starts",
]

FRESH_INSTANCE = "fresh-instance"
SCALE_TO_ZERO = "scale-to-zero"
# Env a Knative container gets from the platform or the sample app reads as knobs: the
# instance takes these from the revision only, never from the harness's own env.
_REVISION_ENV_PREFIXES = ("SIM_", "K_")
_REVISION_ENV_NAMES = frozenset({"TARGET", "PORT"})
_CONNECT_RETRY_S = 0.005
_ZERO_POLL_S = 2.0
_STOP_TIMEOUT_S = 5.0

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ColdStartResult:
    """The first-request latencies of a cold-start run, one per repetition.

    ``latencies_ms`` holds every repetition that got an HTTP response (whatever its
    status); ``errors`` counts 5xx responses, refused or reset connections and timeouts.
    ``waited_s`` is how long each repetition waited for the revision to reach zero pods
    (scale to zero) or 0 (fresh instance).
    """

    method: str
    latencies_ms: tuple[float, ...]
    errors: int
    requests: int
    waited_s: tuple[float, ...]


def fresh_instance_cold_starts(
    revision: str,
    revision_env: Mapping[str, str],
    repetitions: int,
    *,
    timeout_s: float = 60.0,
    on_progress: Progress | None = None,
) -> ColdStartResult:
    """Start ``repetitions`` fresh instances of the revision, one after another.

    ``revision_env`` is the revision's container env (`RevisionState.env`). Raises
    ``BadInput`` when the instance refuses its env (an invalid ``SIM_*`` knob), and
    ``Aborted`` when one does not answer within ``timeout_s`` plus its cold start.
    """
    env = _instance_env(revision, revision_env)
    latencies: list[float] = []
    errors = 0
    for done in range(repetitions):
        if on_progress is not None:
            on_progress(done, repetitions, f"starting a fresh instance of {revision}")
        latency, failed = _first_request_to_new_instance(env, revision, timeout_s)
        if latency is not None:
            latencies.append(latency)
        errors += failed
    if on_progress is not None:
        on_progress(repetitions, repetitions, "done")
    return ColdStartResult(
        FRESH_INSTANCE, tuple(latencies), errors, repetitions, (0.0,) * repetitions
    )


def scale_to_zero_cold_starts(
    arm: Arm,
    prometheus: str,
    namespace: str,
    revision: str,
    repetitions: int,
    *,
    zero_timeout_s: float = 600.0,
    request_timeout_s: float = 120.0,
    series_grace_s: float = 20.0,
    on_progress: Progress | None = None,
) -> ColdStartResult:
    """Wait for zero pods, send one request, ``repetitions`` times.

    Raises ``Unavailable`` when Prometheus has no pod-count series for the revision after
    ``series_grace_s`` (a new revision's first scrape can take a few seconds; without the
    series it cannot tell when the revision is at zero), and ``Aborted`` when the revision
    does not reach zero pods within ``zero_timeout_s`` (min-scale above 0, or other
    traffic). After a first request, Prometheus may still hold the zero it scraped before
    the revision woke: the next wait for zero begins once it has seen the pod (or after
    ``series_grace_s``), so that a stale zero cannot make a warm request look cold.
    """
    latencies: list[float] = []
    waits: list[float] = []
    errors = 0
    headers = {"Host": arm.host_header} if arm.host_header else {}
    with httpx.Client(timeout=request_timeout_s, headers=headers) as client:
        for done in range(repetitions):
            if on_progress is not None:
                on_progress(done, repetitions, f"waiting for {revision} to scale to zero")
            if done:
                _wait_for_pods(prometheus, namespace, revision, series_grace_s)
            waits.append(
                _wait_for_zero(prometheus, namespace, revision, zero_timeout_s, series_grace_s)
            )
            if on_progress is not None:
                on_progress(done, repetitions, f"first request to {revision}")
            start = time.perf_counter()
            try:
                response = client.get(arm.url)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000.0)
            errors += response.status_code >= 500
    if on_progress is not None:
        on_progress(repetitions, repetitions, "done")
    return ColdStartResult(SCALE_TO_ZERO, tuple(latencies), errors, repetitions, tuple(waits))


def _wait_for_pods(prometheus: str, namespace: str, revision: str, timeout_s: float) -> None:
    """Until Prometheus sees the revision's pod(s) (the one the last request woke)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pods = actual_pods(prometheus, namespace, revision)
        if pods is not None and pods > 0:
            return
        time.sleep(_ZERO_POLL_S / 4)


def _wait_for_zero(
    prometheus: str, namespace: str, revision: str, timeout_s: float, series_grace_s: float
) -> float:
    start = time.monotonic()
    while True:
        pods = actual_pods(prometheus, namespace, revision)
        if pods is None and time.monotonic() - start < series_grace_s:
            time.sleep(_ZERO_POLL_S)
            continue
        if pods is None:
            raise Unavailable(
                f"Prometheus at {printable(redact_url(prometheus))} has no pod-count series "
                f"for {namespace}/{revision} "
                "(autoscaler_actual_pods or kn_revision_pods_count), so a cold start cannot be "
                "told from a warm one"
            )
        if pods == 0:
            return time.monotonic() - start
        if time.monotonic() - start >= timeout_s:
            raise Aborted(
                f"revision {namespace}/{revision} still has {pods:g} pod(s) after {timeout_s:g}s; "
                "a cold start needs autoscaling.knative.dev/min-scale 0 and no other traffic"
            )
        time.sleep(_ZERO_POLL_S)


def _instance_env(revision: str, revision_env: Mapping[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_REVISION_ENV_PREFIXES) and name not in _REVISION_ENV_NAMES
    }
    env.update(revision_env)
    env["K_REVISION"] = revision
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_request_to_new_instance(
    env: dict[str, str], revision: str, timeout_s: float
) -> tuple[float | None, int]:
    """(latency ms or None, errors) of the first request to a new instance."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.local.app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(timeout=timeout_s) as client:
            while True:
                try:
                    response = client.get(url)
                except httpx.ConnectError:
                    if process.poll() is not None:
                        raise _instance_failed(revision, process) from None
                    if time.perf_counter() - start > timeout_s:
                        raise Aborted(
                            f"a fresh instance of {revision} did not answer within {timeout_s:g}s"
                        ) from None
                    time.sleep(_CONNECT_RETRY_S)
                    continue
                except httpx.HTTPError:
                    return None, 1
                latency = (time.perf_counter() - start) * 1000.0
                return latency, int(response.status_code >= 500)
    finally:
        _stop(process)


def _instance_failed(revision: str, process: subprocess.Popen[bytes]) -> BadInput:
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    why = lines[-1].removeprefix("error: ") if lines else f"exit code {process.returncode}"
    return BadInput(f"revision {revision} cannot start: {why}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stderr is not None:
        with contextlib.suppress(OSError):
            process.stderr.close()
