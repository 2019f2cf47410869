"""A real Prometheus for the emulator, where the ``prometheus`` binary is installed.

The scrape config is generated into the state folder: one job, ``scrape_interval: 1s``,
targets (one per pod) from a ``file_sd_configs`` file that the data plane rewrites as
pods come and go (Prometheus notices file_sd changes by itself), and a second job,
``knative-autoscaler``, for the emulator's autoscaler (its own file_sd file, written by
the daemon once the autoscaler listens). Data lives in
``{state_dir}/prometheus/data``; Prometheus listens on a loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from harness.errors import Unavailable
from harness.local.supervisor import die_with_parent_preexec

log = logging.getLogger(__name__)

JOB_NAME = "knative-queue-proxy"
AUTOSCALER_JOB_NAME = "knative-autoscaler"
EVENTING_JOB_NAME = "knative-eventing"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class MetricsTarget:
    """One pod's queue-proxy metrics endpoint (``http://{address}/metrics``)."""

    namespace: str
    service: str
    configuration: str
    revision: str
    pod: str
    address: str


def prometheus_dir(state_dir: Path) -> Path:
    """Where Prometheus's config, targets file and data live."""
    return state_dir / "prometheus"


def targets_path(state_dir: Path) -> Path:
    """The file_sd targets file the data plane keeps current."""
    return prometheus_dir(state_dir) / "targets.json"


def autoscaler_targets_path(state_dir: Path) -> Path:
    """The file_sd file naming the emulator's autoscaler endpoint (0 or 1 target)."""
    return prometheus_dir(state_dir) / "autoscaler-targets.json"


def write_autoscaler_target(path: Path, address: str | None) -> None:
    """Point the autoscaler job at ``address`` (``host:port``), or at nothing with None.

    The target is labelled like the autoscaler's pod in ``knative-serving``.
    """
    groups = (
        [
            {
                "targets": [address],
                "labels": {
                    "namespace": "knative-serving",
                    "pod": "autoscaler",
                    "container": "autoscaler",
                },
            }
        ]
        if address
        else []
    )
    _write_json_atomically(path, groups)


def write_targets(path: Path, targets: Sequence[MetricsTarget]) -> None:
    """Rewrite the file_sd file atomically (Prometheus never reads half a file).

    One target per pod, each with the labels a Kubernetes pod monitor would add
    (``namespace``, ``pod``, ``container``), as Knative's queue-proxies are scraped pod by
    pod; the revision's own labels come from its metrics.
    """
    groups = [
        {
            "targets": [t.address],
            "labels": {"namespace": t.namespace, "pod": t.pod, "container": "queue-proxy"},
        }
        for t in sorted(targets, key=lambda t: (t.namespace, t.revision, t.pod))
    ]
    _write_json_atomically(path, groups)


def _write_json_atomically(path: Path, groups: Sequence[Mapping[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(groups, indent=1) + "\n")
    os.replace(tmp, path)


def scrape_config(
    targets_file: Path,
    autoscaler_targets_file: Path | None = None,
    eventing_targets_file: Path | None = None,
) -> str:
    """The generated prometheus.yml: 1 s scrapes of every target in ``targets_file``
    (job ``knative-queue-proxy``) and, when given, in ``autoscaler_targets_file``
    (job ``knative-autoscaler``) and ``eventing_targets_file`` (job ``knative-eventing``,
    the broker ingress and filter: docs/eventing.md)."""
    jobs = [(JOB_NAME, targets_file)]
    if autoscaler_targets_file is not None:
        jobs.append((AUTOSCALER_JOB_NAME, autoscaler_targets_file))
    if eventing_targets_file is not None:
        jobs.append((EVENTING_JOB_NAME, eventing_targets_file))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "file_sd_configs": [{"files": [str(path)], "refresh_interval": "1s"}],
            }
            for job, path in jobs
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


class PrometheusServer:
    """A running Prometheus started by :func:`start_prometheus`."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self._process = process
        self.url = url
        self.pid = process.pid

    async def stop(self) -> None:
        """SIGTERM (Prometheus flushes its head block), SIGKILL after a grace period."""
        if self._process.returncode is not None:
            return
        self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), STOP_GRACE_S)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def start_prometheus(
    state_dir: Path, *, port: int = 0, host: str = "127.0.0.1"
) -> PrometheusServer | None:
    """Start Prometheus scraping the data plane's targets (and the autoscaler's, once
    `write_autoscaler_target` names it) and wait until ``/-/ready``.

    Returns None, after logging one line, when no ``prometheus`` binary is on PATH.
    Raises ``Unavailable`` if it is installed but does not become ready. With ``port=0``
    a free port is chosen (retried if another process takes it first).
    """
    binary = shutil.which("prometheus")
    if binary is None:
        log.warning(
            "prometheus is not installed: the emulator runs without server-side metrics "
            "(apt-get install prometheus adds them)"
        )
        return None
    base = prometheus_dir(state_dir)
    (base / "data").mkdir(parents=True, exist_ok=True)
    targets = targets_path(state_dir)
    if not targets.exists():
        write_targets(targets, [])
    autoscaler_targets = autoscaler_targets_path(state_dir)
    if not autoscaler_targets.exists():
        write_autoscaler_target(autoscaler_targets, None)
    config = base / "prometheus.yml"
    eventing_targets = prometheus_dir(state_dir) / "eventing-targets.json"
    if not eventing_targets.exists():
        _write_json_atomically(eventing_targets, [])
    config.write_text(scrape_config(targets, autoscaler_targets, eventing_targets))
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(_PORT_ATTEMPTS if port == 0 else 1):
        listen = port or _free_port(host)
        with (logs / "prometheus.log").open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={base / 'data'}",
                f"--web.listen-address={host}:{listen}",
                "--storage.tsdb.retention.time=7d",
                "--log.level=warn",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                preexec_fn=die_with_parent_preexec(),
            )
        server = PrometheusServer(process, f"http://{host}:{listen}")
        last_error = await _wait_ready(server, process)
        if not last_error:
            return server
        await server.stop()
    raise Unavailable(f"prometheus did not start: {last_error} (see {logs / 'prometheus.log'})")


async def _wait_ready(server: PrometheusServer, process: asyncio.subprocess.Process) -> str:
    """Poll ``/-/ready``: "" once ready, else why not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    timeout = aiohttp.ClientTimeout(total=2.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while loop.time() < deadline:
            if process.returncode is not None:
                return f"it exited with code {process.returncode}"
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(server.url + "/-/ready") as response:
                    if response.status == 200:
                        return ""
            await asyncio.sleep(0.05)
    return f"not ready after {READY_TIMEOUT_S:.0f} s"
