"""The emulator's autoscaler loop: feeds every revision's KPA model and acts on it.

The loop decides nothing itself. Every second it reads each ready pod's ``/stats``
(average concurrency or requests per second over the period), adds the requests the
router's activator holds for the revision, and hands the total to the revision's
`RevisionKpa` (``harness.knative.kpa_revision``: collector, decider and reconciler, the
same model ``harness autoscale simulate`` runs), which decides every 2 s, or at once
when the activator pokes it, and returns the replicas to run. The last decisions are
served on ``/metrics`` as Knative's autoscaler gauges (``harness.local.autoscaler_gauges``).
By default the emulator runs one pod per revision and only reports what the KPA would ask
for; with ``harness local up --max-pods N`` or ``--scale-to-zero`` the daemon hands the
replicas to the data plane (``on_decision``), and the data plane's activator reports
waiting requests back (`Autoscaler.activate`). ``actual pods`` is the revision's ready
pods; the observed value is summed over them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import aiohttp
from aiohttp import web

from harness.knative.kpa_revision import RevisionKpa
from harness.knative.kpa_settings import AutoscalerConfig, ScalingSettings
from harness.local.autoscaler_gauges import RevisionGauges, render_gauges
from harness.local.metrics import SCHEMAS, MetricsSchema
from harness.local.prometheus import MetricsTarget
from harness.local.revision import STATS_PATH
from harness.local.supervisor import PodProcess

log = logging.getLogger(__name__)

SCRAPE_INTERVAL_S = 1.0
TICK_INTERVAL_S = 2.0
_SCRAPE_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class ScaledPod:
    """One pod of a revision: its metrics ``host:port`` (None while it has none) and
    whether it passes its readiness probe."""

    name: str
    stats_address: str | None
    ready: bool


@dataclass(frozen=True)
class ScaledRevision:
    """A revision as the autoscaler sees it each scrape (plain values from the emulator)."""

    namespace: str
    service: str
    configuration: str
    name: str
    pods: tuple[ScaledPod, ...]
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    container_concurrency: int = 0
    activator_held: int = 0  # requests the activator holds (no ready pod)

    @property
    def ready_pods(self) -> int:
        """Knative's actual pods: those that pass their readiness probe."""
        return sum(1 for pod in self.pods if pod.ready)


RevisionSource = Callable[[], Sequence[ScaledRevision]]
# (namespace, revision, replicas the KPA wants running)
DecisionCallback = Callable[[str, str, int], None]


@dataclass
class _Tracked:
    revision: ScaledRevision
    kpa: RevisionKpa
    last_stats: dict[str, Mapping[str, float]] = field(default_factory=dict)  # per pod


class Autoscaler:
    """Samples every revision's ``/stats`` each second into its KPA model, serves gauges.

    ``source`` lists the revisions (called once per scrape, on the loop); ``on_decision``,
    when given, gets every revision's replicas after each observation (namespace, name,
    replicas), which is how the daemon scales pods. ``config`` is the cluster's
    ``config-autoscaler`` (the emulator's ``--scale-to-zero`` is its
    ``enable-scale-to-zero``); ``keep_steps`` keeps every model's steps (tests). Use from
    one asyncio loop: `start` binds ``/metrics`` on a free loopback port and returns its
    ``host:port``; `close` stops everything.
    """

    def __init__(
        self,
        source: RevisionSource,
        schema: MetricsSchema = "legacy",
        *,
        scrape_interval_s: float = SCRAPE_INTERVAL_S,
        tick_interval_s: float = TICK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        on_decision: DecisionCallback | None = None,
        config: AutoscalerConfig | None = None,
        keep_steps: bool = False,
    ) -> None:
        if schema not in SCHEMAS:
            raise ValueError(f"unknown metrics schema {schema!r}")
        self.schema = schema
        self._source = source
        self._on_decision = on_decision
        self.config = config or AutoscalerConfig()
        self.keep_steps = keep_steps
        self._scrape_interval = scrape_interval_s
        self._tick_interval = tick_interval_s
        self._clock = clock
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._session: aiohttp.ClientSession | None = None
        self._server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve ``GET /metrics`` and start sampling; returns the ``host:port`` served."""
        loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=_SCRAPE_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._server = await loop.create_server(
            web.Server(self._serve_metrics, access_log=None), host, port
        )
        self._task = loop.create_task(self._run(), name="autoscaler")
        bound = self._server.sockets[0].getsockname()
        return f"{bound[0]}:{bound[1]}"

    async def close(self) -> None:
        """Stop sampling and serving."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._session is not None:
            await self._session.close()

    def gauges(self) -> list[RevisionGauges]:
        """The last decision of every revision that has one."""
        return [
            RevisionGauges(
                namespace=t.revision.namespace,
                service=t.revision.service,
                configuration=t.revision.configuration,
                revision=t.revision.name,
                metric=t.kpa.settings.metric,
                decision=t.kpa.decision,
            )
            for t in self._tracked.values()
            if t.kpa.decision is not None
        ]

    def render(self) -> str:
        """The exposition of :meth:`gauges` in the emulator's schema."""
        return render_gauges(self.gauges(), self.schema)

    async def _serve_metrics(self, request: web.BaseRequest) -> web.Response:
        if request.path != "/metrics":
            return web.Response(status=404, text="404: Not Found\n")
        return web.Response(text=self.render(), content_type="text/plain", charset="utf-8")

    async def _run(self) -> None:
        while True:
            started = self._clock()
            try:
                await self.scrape_once()
            except Exception:  # one bad round must not stop the autoscaler
                log.exception("autoscaler round failed")
            await asyncio.sleep(max(0.0, started + self._scrape_interval - self._clock()))

    def kpa(self, namespace: str, name: str) -> RevisionKpa | None:
        """The KPA model of a tracked revision (tests, status)."""
        tracked = self._tracked.get((namespace, name))
        return tracked.kpa if tracked is not None else None

    def _refresh(self) -> None:
        """Track the listed revisions: a model for each new one (or one whose settings
        changed), none for those gone or of the HPA class."""
        revisions = {(r.namespace, r.name): r for r in self._source()}
        for key in [k for k in self._tracked if k not in revisions]:
            del self._tracked[key]
        for key, revision in revisions.items():
            tracked = self._tracked.get(key)
            if tracked is None or _settings_changed(tracked.revision, revision):
                settings = ScalingSettings.from_revision(
                    revision.annotations, revision.container_concurrency, self.config
                )
                if settings is None:
                    self._tracked.pop(key, None)
                    continue
                kpa = RevisionKpa(
                    settings,
                    self._clock(),
                    replicas=len(revision.pods),
                    ready_pods=revision.ready_pods,
                    tick_interval_s=self._tick_interval,
                    keep_steps=self.keep_steps,
                )
                self._tracked[key] = _Tracked(revision, kpa)
            else:
                tracked.revision = revision

    async def scrape_once(self) -> None:
        """Read every listed revision's stats once and feed each its observation."""
        self._refresh()
        await asyncio.gather(*(self._scrape(t) for t in self._tracked.values()))

    def activate(self, namespace: str, name: str, held: int) -> None:
        """The activator holds ``held`` requests for a revision without a ready pod: its
        stat goes to the model at once (Knative's activator reports a new revision's
        first request right away, and the stat pokes a decider that decided 0)."""
        self._refresh()
        tracked = self._tracked.get((namespace, name))
        if tracked is not None and held > 0:
            revision = tracked.revision
            self._act(tracked, float(held), revision.ready_pods)

    async def _scrape(self, tracked: _Tracked) -> None:
        """Read each ready pod's stats and feed the revision's total to its model."""
        revision = tracked.revision
        pods = [p for p in revision.pods if p.ready and p.stats_address is not None]
        read = await asyncio.gather(*(self._read_stats(p) for p in pods))
        metric = tracked.kpa.settings.metric
        total: float | None = None
        last: dict[str, Mapping[str, float]] = {}
        for pod, stats in zip(pods, read, strict=True):
            if stats is None:
                continue
            last[pod.name] = stats
            value = observed_value(tracked.last_stats.get(pod.name), stats, metric)
            if value is None and metric == "concurrency":
                # A new (or restarted) process: what is in flight now stands for its first
                # period.
                value = float(stats["in_flight"])
            if value is not None:
                total = value + (total or 0.0)
        tracked.last_stats = last
        # Requests held at the activator are its stat (Knative's activator reports them);
        # without a ready pod the activator's stat is all there is (0 when none wait).
        held = revision.activator_held
        if held or not revision.ready_pods:
            total = (total or 0.0) + held
        self._act(tracked, total, revision.ready_pods)

    def _act(self, tracked: _Tracked, value: float | None, ready: int) -> None:
        replicas = tracked.kpa.observe(self._clock(), value, ready)
        if self._on_decision is not None:
            revision = tracked.revision
            self._on_decision(revision.namespace, revision.name, replicas)

    async def _read_stats(self, pod: ScaledPod) -> Mapping[str, float] | None:
        if self._session is None:
            return None
        try:
            async with self._session.get(f"http://{pod.stats_address}{STATS_PATH}") as response:
                stats: dict[str, Any] = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        return stats


def _settings_changed(old: ScaledRevision, new: ScaledRevision) -> bool:
    return (old.annotations, old.container_concurrency) != (
        new.annotations,
        new.container_concurrency,
    )


def observed_value(
    previous: Mapping[str, float] | None, current: Mapping[str, float], metric: str
) -> float | None:
    """The average concurrency (or requests per second) between two ``/stats`` snapshots
    of one process; None for the first snapshot or across a restart (counters went back)."""
    if previous is None:
        return None
    elapsed = float(current["t"]) - float(previous["t"])
    if elapsed <= 0:
        return None
    if metric == "rps":
        delta = float(current["requests"]) - float(previous["requests"])
    else:
        delta = float(current["concurrency_seconds"]) - float(previous["concurrency_seconds"])
    return delta / elapsed if delta >= 0 else None


def dataplane_revisions(
    targets: Callable[[], Sequence[MetricsTarget]],
    pods: Callable[[], Sequence[PodProcess]],
    revision_object: Callable[[str, str], Mapping[str, Any] | None],
    supervised: Callable[[], Sequence[tuple[str, str]]] | None = None,
    activator_held: Callable[[str, str], int] | None = None,
) -> RevisionSource:
    """A `RevisionSource` over the data plane (``DataPlane.metrics_targets``,
    ``DataPlane.pods`` and ``DataPlane.activator_held``) and the Revision objects
    (annotations, containerConcurrency, service and configuration labels).

    A revision is listed while ``supervised`` (the data plane's ``(namespace, name)`` of
    every revision) has it, or, without ``supervised``, while one of its pods listens; a
    revision at zero pods stays listed with none and keeps its gauges, as on a cluster.
    Its pods are those that listen (their metrics address) and those still starting."""
    known: dict[tuple[str, str], tuple[str, str]] = {}  # -> (service, configuration)

    def source() -> list[ScaledRevision]:
        processes = list(pods())
        ready = {(p.namespace, p.pod): p.ready for p in processes}
        grouped: dict[tuple[str, str], list[MetricsTarget]] = {}
        for target in targets():
            grouped.setdefault((target.namespace, target.revision), []).append(target)
        for key, members in grouped.items():
            known[key] = (members[0].service, members[0].configuration)
        alive = set(supervised()) if supervised is not None else set(grouped)
        for key in [k for k in known if k not in alive]:
            del known[key]
        revisions = []
        for namespace, name in sorted(alive):
            obj = revision_object(namespace, name) or {}
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            if (namespace, name) not in known:
                labels = meta.get("labels") or {}
                service = str(labels.get("serving.knative.dev/service") or "")
                configuration = str(labels.get("serving.knative.dev/configuration") or name)
                known[(namespace, name)] = (service, configuration)
            service, configuration = known[(namespace, name)]
            members = grouped.get((namespace, name), [])
            listening = {t.pod for t in members}
            scaled = [
                ScaledPod(t.pod, t.address, ready.get((namespace, t.pod), False)) for t in members
            ]
            scaled += [
                ScaledPod(p.pod, None, False)
                for p in processes
                if (p.namespace, p.revision) == (namespace, name) and p.pod not in listening
            ]
            revisions.append(
                ScaledRevision(
                    namespace=namespace,
                    service=service,
                    configuration=configuration,
                    name=name,
                    pods=tuple(scaled),
                    annotations=dict(meta.get("annotations") or {}),
                    container_concurrency=int(spec.get("containerConcurrency") or 0),
                    activator_held=activator_held(namespace, name) if activator_held else 0,
                )
            )
        return revisions

    return source
