"""The emulator's background process: API + controller + data plane + autoscaler +
Prometheus on one loop.

`python -m harness.local.daemon --state-dir DIR [--port N] [--domain D]
[--metrics-schema legacy|otel] [--max-pods N] [--scale-to-zero
[--scale-to-zero-grace-period S]] [--demo]` binds the ingress on `--port` (0 = a free port)
and the API on a free port, all on 127.0.0.1; starts Prometheus when a binary is
installed; writes the kubeconfig; with `--demo` creates Service `hello` and waits until it
is Ready; and only then writes `emulator.json`, which tells `Emulator.start` it answers.
SIGTERM or SIGINT stops everything it started and removes `emulator.json`. Objects live
in memory: a restarted emulator starts empty.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from harness.knative.cluster import ClusterConfig
from harness.knative.cluster_settings import apply_settings
from harness.knative.features import Features
from harness.knative.kpa import STABLE_WINDOW_S, ScalingSettings, revision_scale
from harness.knative.kpa_settings import AutoscalerConfig
from harness.knative.model import SERVING_API_VERSION
from harness.knative.traffic import TrafficTarget
from harness.local import api_tls
from harness.local.api import make_app
from harness.local.autoscaler import Autoscaler, dataplane_revisions
from harness.local.controller import Controller, RevisionWorkload
from harness.local.dataplane import (
    DataPlane,
    HostRoute,
    RevisionReadiness,
    RevisionSpec,
    route_hosts,
)
from harness.local.eventing.api import EventingApi
from harness.local.eventing.demo import create_demo_eventing
from harness.local.eventing.engine import INGRESS_HOST, Eventing
from harness.local.eventing.metrics import EventingMetrics
from harness.local.eventing.server import (
    MetricsServer,
    eventing_targets_path,
    write_eventing_target,
)
from harness.local.objectstore import JSON, ObjectStore
from harness.local.prometheus import (
    PrometheusServer,
    autoscaler_targets_path,
    start_prometheus,
    write_autoscaler_target,
)
from harness.local.state import (
    EmulatorInfo,
    new_token,
    remove_info,
    write_info,
    write_kubeconfig,
)
from harness.statedir import ensure_state_dir

log = logging.getLogger("harness.local.daemon")

DEMO_READY_TIMEOUT = 60.0
DEMO_IMAGE = "ghcr.io/knative/helloworld-go:latest"


class DataPlaneRuntime:
    """The controller's `Runtime` on top of the data plane.

    ``annotations`` looks up a Revision's annotations (its scale bounds and stable window
    matter only on a data plane that scales: more than one pod, or scale to zero).
    """

    def __init__(
        self,
        dataplane: DataPlane,
        annotations: Callable[[str, str], Mapping[str, str]] | None = None,
    ) -> None:
        self.dataplane = dataplane
        self._annotations = annotations

    async def start_revision(self, workload: RevisionWorkload) -> None:
        min_scale, max_scale, initial_scale = 0, 0, 1
        stable_window_s = STABLE_WINDOW_S
        scales = self.dataplane.max_pods > 1 or self.dataplane.scale_to_zero
        if self._annotations is not None and scales:
            annotations = self._annotations(workload.namespace, workload.name)
            min_scale, max_scale, initial_scale = revision_scale(annotations)
            settings = ScalingSettings.from_revision(annotations)
            if settings is not None:
                stable_window_s = settings.stable_window_s
        await self.dataplane.ensure_revision(
            RevisionSpec(
                namespace=workload.namespace,
                service=workload.service,
                configuration=workload.configuration,
                name=workload.name,
                env=dict(workload.env),
                container_concurrency=workload.container_concurrency,
                min_scale=min_scale,
                max_scale=max_scale,
                initial_scale=initial_scale,
                stable_window_s=stable_window_s,
            )
        )

    async def stop_revision(self, namespace: str, name: str) -> None:
        await self.dataplane.remove_revision(namespace, name)

    def program_routes(
        self, traffic: Mapping[tuple[str, str], Sequence[TrafficTarget]], domain: str
    ) -> None:
        table: dict[str, HostRoute] = {}
        for (namespace, route), targets in traffic.items():
            table.update(route_hosts(namespace, route, targets, domain=domain))
        self.dataplane.set_routes(table)


def demo_service(revision: str, target: str, traffic: list[JSON] | None = None) -> JSON:
    """Service `hello` whose template is revision `revision` saying `Hello {target}!`."""
    spec: JSON = {
        "template": {
            "metadata": {"name": revision},
            "spec": {
                "containers": [{"image": DEMO_IMAGE, "env": [{"name": "TARGET", "value": target}]}]
            },
        }
    }
    if traffic is not None:
        spec["traffic"] = traffic
    return {
        "apiVersion": SERVING_API_VERSION,
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": spec,
    }


async def create_demo(controller: Controller) -> None:
    """`hello-v1` (TARGET=v1, 100%, tag v1) and `hello-v2` (TARGET=v2, 0%, tag v2).

    Run before the controller loop starts, so each write is reconciled before the next:
    two templates in a row would otherwise make one revision, not two.
    """
    controller.create_service("default", demo_service("hello-v1", "v1"))
    await controller.reconcile_pending()
    traffic = [
        {"revisionName": "hello-v1", "percent": 100, "tag": "v1"},
        {"revisionName": "hello-v2", "percent": 0, "tag": "v2"},
    ]
    current = controller.store.get("services", "default", "hello")
    assert current is not None
    updated = demo_service("hello-v2", "v2", traffic)
    updated["metadata"] = current["metadata"]
    controller.replace_service("default", "hello", updated)
    await controller.reconcile_pending()


async def wait_ready(store: ObjectStore, namespace: str, name: str, timeout: float) -> None:
    """Poll until the Service is Ready at its generation; RuntimeError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc = store.peek("services", namespace, name)
        if svc is not None:
            status = svc.get("status", {})
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions", [])
            )
            if ready and status.get("observedGeneration") == svc["metadata"]["generation"]:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"service {namespace}/{name} did not become ready in {timeout:.0f}s")


async def serve(args: argparse.Namespace) -> None:
    """Run the emulator until SIGTERM/SIGINT; clean up whatever was started."""
    state_dir = ensure_state_dir(Path(args.state_dir))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    store = ObjectStore()
    controller_ref: list[Controller] = []

    def on_readiness(report: RevisionReadiness) -> None:
        if controller_ref:
            replicas = None
            if report.actual_replicas is not None and report.desired_replicas is not None:
                replicas = (report.actual_replicas, report.desired_replicas)
            controller_ref[0].revision_readiness(
                report.namespace,
                report.name,
                report.ready,
                report.reason,
                report.message,
                replicas,
            )

    def revision_annotations(namespace: str, name: str) -> Mapping[str, str]:
        revision = store.peek("revisions", namespace, name) or {}
        return dict((revision.get("metadata") or {}).get("annotations") or {})

    dataplane = DataPlane(
        state_dir,
        on_readiness=on_readiness,
        metrics_schema=args.metrics_schema,
        max_pods=args.max_pods,
        scale_to_zero=args.scale_to_zero,
    )
    # The KPA model (harness/knative/kpa_revision.py) decides every scale; the data plane
    # acts on it. --scale-to-zero and its grace period are config-autoscaler's keys.
    autoscaler = Autoscaler(
        dataplane_revisions(
            dataplane.metrics_targets,
            dataplane.pods,
            lambda namespace, name: store.peek("revisions", namespace, name),
            lambda: [(r.namespace, r.name) for r in dataplane.revisions()],
            dataplane.activator_held,
        ),
        args.metrics_schema,
        # One pod per revision (the default): the decisions are only reported.
        on_decision=dataplane.scale_revision if args.max_pods > 1 or args.scale_to_zero else None,
        config=AutoscalerConfig(
            enable_scale_to_zero=args.scale_to_zero,
            scale_to_zero_grace_period_s=args.scale_to_zero_grace_period,
        ),
    )
    dataplane.on_activate = autoscaler.activate
    autoscaler_started = False
    # Knative Eventing (docs/eventing.md): the broker ingress on the ingress port.
    eventing_metrics = EventingMetrics(args.metrics_schema)
    eventing = Eventing(store, eventing_metrics)
    eventing_started = False
    eventing_metrics_server = MetricsServer(eventing_metrics)
    runner: web.AppRunner | None = None
    prometheus: PrometheusServer | None = None
    controller_task: asyncio.Task[None] | None = None
    try:
        ingress_port = await dataplane.start(host="127.0.0.1", port=args.port)
        dataplane.router.set_local_host(INGRESS_HOST, eventing.handle_ingress)
        await eventing.start(f"http://127.0.0.1:{ingress_port}", dataplane.router)
        eventing_started = True
        write_eventing_target(
            eventing_targets_path(state_dir), await eventing_metrics_server.start("127.0.0.1")
        )
        controller = Controller(
            store,
            DataPlaneRuntime(dataplane, revision_annotations),
            domain=args.domain,
            # config-features from `harness local up --feature` (Knative's defaults else).
            # and config-defaults / config-autoscaler from `--cluster-config`.
            cluster_config=apply_settings(
                ClusterConfig(features=Features.parse(args.feature or [])),
                args.cluster_config or [],
            ),
        )
        controller_ref.append(controller)
        # A new token and certificates at every start; only the kubeconfig holds them.
        token, certificates = new_token(), api_tls.generate()
        runner = web.AppRunner(
            make_app(controller, token, EventingApi(eventing)),
            handle_signals=False,
            access_log=None,
        )
        await runner.setup()
        tls = certificates.server_context(state_dir)
        site = web.TCPSite(runner, "127.0.0.1", args.api_port, ssl_context=tls)
        await site.start()
        api_port = runner.addresses[0][1]
        api_url = f"https://127.0.0.1:{api_port}"
        log.info("API on %s, ingress on 127.0.0.1:%d", api_url, ingress_port)
        autoscaler_address = await autoscaler.start("127.0.0.1")
        autoscaler_started = True
        write_autoscaler_target(autoscaler_targets_path(state_dir), autoscaler_address)
        log.info("autoscaler metrics on http://%s/metrics", autoscaler_address)
        prometheus = await start_prometheus(state_dir)
        kubeconfig = write_kubeconfig(state_dir, api_url, token, certificates.ca_pem)
        if args.demo:
            await create_demo(controller)
            create_demo_eventing(eventing)
        controller_task = asyncio.create_task(controller.run())
        if args.demo:
            await wait_ready(store, "default", "hello", DEMO_READY_TIMEOUT)
        write_info(
            state_dir,
            EmulatorInfo(
                api=api_url,
                ingress=f"http://127.0.0.1:{ingress_port}",
                prometheus=prometheus.url if prometheus else None,
                kubeconfig=str(kubeconfig),
                pid=os.getpid(),
                domain=args.domain,
                max_pods=args.max_pods,
                scale_to_zero=args.scale_to_zero,
            ),
        )
        log.info("emulator ready (pid %d)", os.getpid())
        await stop.wait()
        log.info("stopping")
    finally:
        remove_info(state_dir)
        store.close()
        if runner is not None:
            await runner.cleanup()
        if controller_task is not None:
            controller_task.cancel()
        if autoscaler_started:
            await autoscaler.close()
        if eventing_started:
            await eventing.close()
        await eventing_metrics_server.close()
        await dataplane.close()
        if prometheus is not None:
            await prometheus.stop()
        log.info("stopped")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The daemon's flags (it is started by `Emulator.start`, not by users)."""
    parser = argparse.ArgumentParser(prog="python -m harness.local.daemon")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--port", type=int, default=0, help="ingress port (0 = free)")
    parser.add_argument("--api-port", type=int, default=0, help="API port (0 = free)")
    parser.add_argument("--domain", default="example.com")
    parser.add_argument("--metrics-schema", choices=["legacy", "otel"], default="legacy")
    parser.add_argument(
        "--max-pods", type=int, default=1, help="most pods per revision (1 = no scaling)"
    )
    parser.add_argument("--scale-to-zero", action="store_true")
    parser.add_argument(
        "--scale-to-zero-grace-period", type=float, default=30.0, help="seconds (Knative: 30)"
    )
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--feature", action="append", help="config-features KEY=VALUE")
    parser.add_argument(
        "--cluster-config", action="append", help="config-defaults/autoscaler KEY=VALUE"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: log to stderr (the launcher points it at `daemon.log`), run, exit code."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except Exception as exc:
        log.exception("emulator failed")
        # The last line of the log is what `harness local up` shows the user.
        log.error("emulator failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
