"""The endpoint serving the eventing metrics (``/metrics``) and the file that tells the
emulator's Prometheus (job ``knative-eventing``) and the harness where it is."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aiohttp import web

from harness.local.eventing.metrics import EventingMetrics

JOB_NAME = "knative-eventing"


def eventing_targets_path(state_dir: Path) -> Path:
    """``<state dir>/prometheus/eventing-targets.json`` (file_sd: 0 or 1 target)."""
    return state_dir / "prometheus" / "eventing-targets.json"


def write_eventing_target(path: Path, address: str | None) -> None:
    """Name the eventing metrics endpoint (``host:port``), or nothing with None. The
    target is labelled like Knative's broker pods in ``knative-eventing``."""
    groups = (
        [{"targets": [address], "labels": {"namespace": "knative-eventing", "pod": "mt-broker"}}]
        if address
        else []
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(groups, indent=1) + "\n")
    os.replace(tmp, path)


def metrics_address(state_dir: Path) -> str | None:
    """The ``host:port`` of a running emulator's eventing metrics, or None."""
    try:
        groups = json.loads(eventing_targets_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    for group in groups if isinstance(groups, list) else []:
        targets = group.get("targets") if isinstance(group, dict) else None
        if targets:
            return str(targets[0])
    return None


class MetricsServer:
    """``GET /metrics`` with the text of an :class:`EventingMetrics`."""

    def __init__(self, metrics: EventingMetrics) -> None:
        self.metrics = metrics
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen; returns ``host:port``."""
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        return f"{bound[0]}:{bound[1]}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=self.metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
