"""Where a canary runs: the cluster it opens (or the emulator it starts for the run), and
the run lease it holds on the Service until that cluster closes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.canary.lease import ServiceLease, holder_name
from harness.config import CanarySpec
from harness.knative.backend import TrafficBackend

Say = Callable[[str], None]


@dataclass(frozen=True)
class Cluster:
    """Where the run happens: the backend, and what an emulator tells us about itself."""

    backend: TrafficBackend
    ingress: str | None
    prometheus: str | None
    started_emulator: Path | None
    # Run (last first) before the backend closes, e.g. releasing the run lease.
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    # Where the backend came from (an event canary reads the Broker through it too).
    kubeconfig: Path | None = None
    context: str | None = None


@contextmanager
def open_cluster(
    kubeconfig: Path | None, context: str | None, state_dir: Path | None, say: Say
) -> Iterator[Cluster]:
    """Connect to the chosen cluster; with none at all, start the emulator for this run."""
    from harness.target import open_target

    with open_target(kubeconfig, context, state_dir, start_emulator=True, say=say) as target:
        cluster = Cluster(
            backend=target.backend,
            ingress=target.ingress,
            prometheus=target.prometheus,
            started_emulator=target.started,
            kubeconfig=target.kubeconfig,
            context=context,
        )
        try:
            yield cluster
        finally:
            for cleanup in reversed(cluster.cleanups):
                cleanup()


def take_service(spec: CanarySpec, cluster: Cluster, run_id: str, say: Say) -> ServiceLease:
    """Take the run lease on the Service (`harness.canary.lease`), renewed until the
    cluster closes, where it is released."""
    lease = ServiceLease(
        cluster.backend, spec.namespace, spec.service, holder_name(run_id), say=say
    )
    _unwind_on_sigterm(cluster)
    lease.acquire()
    cluster.cleanups.append(lease.release)
    lease.start()
    return lease


def _unwind_on_sigterm(cluster: Cluster) -> None:
    """While the lease is held, SIGTERM unwinds like Ctrl-C (exit 3) instead of killing the
    process, so the lease is released on the way out; the controller's own handler takes
    over during the run itself."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, handler)
    cluster.cleanups.append(restore)
