"""Runs one pod of a revision as an OS process: start, health-check, restart after a crash, stop.

Like a kubelet running one pod of a revision's Deployment (the data plane runs one
supervisor per pod: one by default, more with ``harness local up --max-pods N``): the
process runs ``python -I`` (isolated: no ``PYTHON*`` variable, no user site, no current
folder on the path) with an allow-listed environment (``PATH``, ``HOME``, ``LANG``,
``TZ``, ``K_REVISION``, ``K_SERVICE``, ``K_CONFIGURATION``, ``PORT`` and the queue-proxy
settings); the Service's own env reaches only the app, as one JSON object on the
process's stdin, so ``LD_PRELOAD``, ``PYTHONSTARTUP``, ``BROWSER`` and the like in a
manifest change nothing on the host (docs/emulator.md, "Threat model"). It is
Ready once queue-proxy's probe (``K-Network-Probe: queue``) answers 200; when it exits it
is NotReady (reason ``ExitCode<n>``, message the last line it wrote to stderr) and is
started again after a back-off, like a CrashLoopBackOff but in tenths of a second.

Children never outlive the emulator: each gets ``PR_SET_PDEATHSIG`` = SIGKILL, so even
a SIGKILLed daemon leaves no process behind, and its own session, so a Ctrl-C in the
daemon's terminal reaches only the daemon, which then stops them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import signal
import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.local.revision import (
    ENV_BIND_HOST,
    ENV_CONTAINER_CONCURRENCY,
    ENV_METRICS_SCHEMA,
    ENV_NAMESPACE,
    ENV_POD,
    PROBE_HEADER,
    PROBE_VALUE,
)

HOST = "127.0.0.1"
HANDSHAKE_TIMEOUT_S = 60.0  # a cold Python start on a loaded 2-core machine can take seconds
PROBE_INTERVAL_S = 0.02
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 10.0
HEALTHY_RESET_S = 10.0  # a process that stayed ready this long resets the back-off
STOP_GRACE_S = 3.0
# The only variables of the daemon's own env a revision process gets.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "TZ")
# The package root, put on the isolated interpreter's path by the bootstrap below.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); from harness.local.revision import main; main()"
)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies.

    Linux sends the signal when the *thread* that forked the child exits, so spawn from
    the thread that runs for the emulator's lifetime (the daemon's event loop thread).
    """
    parent = os.getpid()

    def preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


@dataclass(frozen=True)
class RevisionSpec:
    """What the control plane asks to run: one revision of a Service.

    ``min_scale``, ``max_scale`` (0 = no maximum) and ``initial_scale`` are the revision's
    ``autoscaling.knative.dev/`` bounds; the data plane keeps its pod count within them
    and within its own ``max_pods`` (1 by default, which makes them moot).
    ``stable_window_s`` is how long a revision stays active before it may scale to zero.
    """

    namespace: str
    service: str
    configuration: str
    name: str
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    container_concurrency: int = 0
    min_scale: int = 0
    max_scale: int = 0
    initial_scale: int = 1
    stable_window_s: float = 60.0


@dataclass(frozen=True)
class RevisionReadiness:
    """A change of a revision's readiness, as the data plane reports it to the control plane.

    ``actual_replicas`` (ready pods) and ``desired_replicas`` are None on a data plane of
    one pod per revision, where readiness says it all.
    """

    namespace: str
    name: str
    ready: bool
    reason: str
    message: str
    actual_replicas: int | None = None
    desired_replicas: int | None = None


@dataclass(frozen=True)
class RevisionProcess:
    """A snapshot of one supervised revision (``local status``, tests).

    ``ready`` when at least one pod is; the other fields but the counts are those of its
    first ready pod (else of its oldest); ``restarts`` counts every pod's.
    """

    namespace: str
    name: str
    ready: bool
    reason: str
    pid: int | None
    address: str | None
    metrics_address: str | None
    restarts: int
    ready_pods: int = 0
    desired_pods: int = 1


@dataclass(frozen=True)
class PodProcess:
    """A snapshot of one pod (process) of a revision."""

    namespace: str
    revision: str
    pod: str
    ready: bool
    reason: str
    pid: int | None
    address: str | None
    metrics_address: str | None
    restarts: int


def replica_set_hash() -> str:
    """A ReplicaSet's pod-template hash: what the pods of one revision have in common."""
    return secrets.token_hex(5)[:10]


def pod_name(revision: str, template_hash: str | None = None) -> str:
    """A Deployment-style pod name, ``{revision}-deployment-{hash}-{suffix}``; the pods
    of one revision share ``template_hash`` (a new one when None)."""
    alphabet = string.ascii_lowercase + string.digits
    suffix = "".join(secrets.choice(alphabet) for _ in range(5))
    return f"{revision}-deployment-{template_hash or replica_set_hash()}-{suffix}"


class RevisionSupervisor:
    """Keeps one revision process running and reports every readiness change.

    ``on_change`` is called on the event loop after each change of ``ready``, ``reason``
    or the addresses; read the new state from the supervisor's attributes.
    """

    def __init__(
        self,
        spec: RevisionSpec,
        *,
        log_path: Path,
        metrics_schema: str,
        on_change: Callable[[RevisionSupervisor], None],
        template_hash: str | None = None,
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        self.pod = pod_name(spec.name, template_hash)
        self.ready = False
        self.reason = "Deploying"
        self.message = ""
        self.address: str | None = None
        self.metrics_address: str | None = None
        self.restarts = 0
        self._metrics_schema = metrics_schema
        self._on_change = on_change
        self._proc: asyncio.subprocess.Process | None = None
        self._spawning: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The running process's pid, if any."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def snapshot(self) -> PodProcess:
        """The current state as a plain value."""
        return PodProcess(
            namespace=self.spec.namespace,
            revision=self.spec.name,
            pod=self.pod,
            ready=self.ready,
            reason=self.reason,
            pid=self.pid,
            address=self.address,
            metrics_address=self.metrics_address,
            restarts=self.restarts,
        )

    def start(self) -> None:
        """Start supervising (returns at once; progress arrives through ``on_change``)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"revision {self.spec.namespace}/{self.spec.name}"
        )

    async def stop(self) -> None:
        """Stop supervising and end the process (SIGTERM, then SIGKILL after a grace period)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._spawning is not None and not self._spawning.cancelled():
            # Cancelled mid-spawn: the shielded spawn may still have produced a process.
            with contextlib.suppress(Exception):
                self._proc = await self._spawning
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self.ready = False

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        self._on_change(self)  # NotReady, Deploying
        while True:
            self._spawning = loop.create_task(self._spawn())
            self._proc = await asyncio.shield(self._spawning)
            self._spawning = None
            ready_at, code = await self._run_once(self._proc)
            healthy = ready_at is not None and loop.time() - ready_at >= HEALTHY_RESET_S
            failures = 1 if healthy else failures + 1
            self.restarts += 1
            self.ready = False
            self.address = self.metrics_address = None
            # Kubernetes reports death by signal N as exit code 128 + N (SIGKILL: 137).
            self.reason = f"ExitCode{128 - code if code < 0 else code}"
            self.message = self._last_log_line() or f"exited with code {code}"
            self._on_change(self)
            await asyncio.sleep(min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (failures - 1)))

    async def _spawn(self) -> asyncio.subprocess.Process:
        with self.log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-c",
                _BOOTSTRAP,
                _PACKAGE_ROOT,
                env=self._child_env(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent_preexec(),
            )
        assert proc.stdin is not None
        with contextlib.suppress(ConnectionError):  # it died at once: the exit says why
            proc.stdin.write(json.dumps(dict(self.spec.env)).encode())
            await proc.stdin.drain()
        proc.stdin.close()
        return proc

    def _child_env(self) -> dict[str, str]:
        spec = self.spec
        env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
        env.update(
            {
                "K_REVISION": spec.name,
                "K_SERVICE": spec.service,
                "K_CONFIGURATION": spec.configuration,
                "PORT": "0",  # any free port; the handshake line names it
                ENV_NAMESPACE: spec.namespace,
                ENV_POD: self.pod,
                ENV_CONTAINER_CONCURRENCY: str(spec.container_concurrency),
                ENV_METRICS_SCHEMA: self._metrics_schema,
                ENV_BIND_HOST: HOST,
            }
        )
        return env

    async def _run_once(self, proc: asyncio.subprocess.Process) -> tuple[float | None, int]:
        """Handshake, probe until ready, then wait for the exit: (time it got ready, exit code)."""
        exited = asyncio.ensure_future(proc.wait())
        try:
            ports = await self._handshake(proc, exited)
            if ports is None:
                return None, await exited
            port, metrics_port = ports
            self.address = f"{HOST}:{port}"
            self.metrics_address = f"{HOST}:{metrics_port}"
            self._on_change(self)
            while not exited.done():
                if await _probe(HOST, port):
                    self.ready, self.reason, self.message = True, "", ""
                    self._on_change(self)
                    ready_at = asyncio.get_running_loop().time()
                    return ready_at, await exited
                await asyncio.wait({exited}, timeout=PROBE_INTERVAL_S)
            return None, await exited
        finally:
            if not exited.done():
                exited.cancel()

    async def _handshake(
        self, proc: asyncio.subprocess.Process, exited: asyncio.Future[int]
    ) -> tuple[int, int] | None:
        assert proc.stdout is not None
        line_task = asyncio.ensure_future(proc.stdout.readline())
        waiting: set[asyncio.Future[Any]] = {line_task, exited}
        try:
            done, _ = await asyncio.wait(
                waiting,
                timeout=HANDSHAKE_TIMEOUT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if not line_task.done():
                line_task.cancel()
        if line_task not in done or not line_task.result():
            if not exited.done():
                proc.kill()  # hung before listening: treat as a crash
            return None
        try:
            data = json.loads(line_task.result())
            return int(data["port"]), int(data["metrics_port"])
        except (ValueError, KeyError, TypeError):
            proc.kill()
            return None

    def _last_log_line(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 4096))
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return next((line.strip() for line in reversed(lines) if line.strip()), "")


async def _probe(host: str, port: int) -> bool:
    """queue-proxy's readiness probe: one request with ``K-Network-Probe: queue``; 200 = ready."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(
            f"GET / HTTP/1.1\r\nHost: {host}\r\n{PROBE_HEADER}: {PROBE_VALUE}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        status_line = await asyncio.wait_for(reader.readline(), 1.0)
        return status_line.split(b" ", 2)[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
