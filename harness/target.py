"""One way to reach a cluster: the kubeconfig, its backend and the emulator behind it.

The one place that picks where a command goes (as Flagger's ``pkg/router/factory.go``
picks a router). In order: an explicit ``--kubeconfig`` (the CLI also fills it from
``$KUBECONFIG``), then ``$KUBECONFIG``, then ``~/.kube/config`` if it exists, then the
kubeconfig of an emulator running for the state folder. With none of these,
``NoCluster`` (an ``Unavailable``) says how to start one, unless the caller asked to
start an emulator itself (the canary does, for a first try without a cluster).

`Target.emulator` is the running emulator's `EmulatorInfo` when the kubeconfig is its
own (its ingress and Prometheus are then known), else None: a real cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput, Unavailable
from harness.knative.backend import TrafficBackend
from harness.local.state import EmulatorInfo
from harness.statedir import resolve_state_dir

__all__ = ["NoCluster", "Target", "connect", "find_kubeconfig", "open_target"]


class NoCluster(Unavailable):
    """No kubeconfig was given or found and no emulator is running."""


@dataclass(frozen=True)
class Target:
    """Where a command goes: the kubeconfig, its backend, and the emulator if it is one."""

    kubeconfig: Path
    backend: TrafficBackend
    emulator: EmulatorInfo | None = None
    # The state folder of an emulator started for this command (stopped at the end).
    started: Path | None = None

    @property
    def ingress(self) -> str | None:
        """The emulator's ingress; None on a cluster (its hosts resolve there)."""
        return self.emulator.ingress if self.emulator else None

    @property
    def prometheus(self) -> str | None:
        """The emulator's Prometheus, if it runs one; None on a cluster."""
        return self.emulator.prometheus if self.emulator else None


def _running_emulator(state_dir: Path | str | None) -> EmulatorInfo | None:
    from harness.local.launcher import Emulator

    return Emulator.status(resolve_state_dir(state_dir))


def find_kubeconfig(kubeconfig: Path | str | None, state_dir: Path | str | None) -> Path:
    """The kubeconfig to use, by the order above; ``BadInput`` if an explicit one is missing."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            problem = "is not a regular file" if path.exists() else "does not exist"
            raise BadInput(f"kubeconfig {path} {problem}")
        return path
    for candidate in filter(None, os.environ.get("KUBECONFIG", "").split(os.pathsep)):
        path = Path(candidate).expanduser()
        if path.is_file():
            return path
    home_config = Path.home() / ".kube" / "config"
    if home_config.is_file():
        return home_config
    info = _running_emulator(state_dir)
    if info is not None:
        return Path(info.kubeconfig)
    raise NoCluster(
        "no cluster: no --kubeconfig, $KUBECONFIG or ~/.kube/config, and no emulator running "
        f"for {resolve_state_dir(state_dir)}; run `harness local up --demo`"
    )


def connect(
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    state_dir: Path | str | None = None,
) -> TrafficBackend:
    """A ``KubeBackend`` for the chosen cluster (see the module docstring for the order)."""
    from harness.knative.kube import KubeBackend

    return KubeBackend(find_kubeconfig(kubeconfig, state_dir), context)


@contextmanager
def open_target(
    kubeconfig: Path | str | None,
    context: str | None,
    state_dir: Path | str | None,
    *,
    start_emulator: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> Iterator[Target]:
    """The chosen cluster with its backend, closed at the end.

    ``start_emulator``: with no cluster at all, start the emulator with the demo Service
    for this command (``say`` tells the user) and stop it at the end.
    """
    from harness.knative.kube import KubeBackend
    from harness.local.launcher import Emulator

    folder = resolve_state_dir(state_dir)
    started: Path | None = None
    try:
        path = find_kubeconfig(kubeconfig, state_dir)
    except NoCluster:
        if not start_emulator:
            raise
        info = Emulator.start(folder, demo=True)
        started = folder
        say(
            f"no cluster configured: started the local emulator with the demo Service for "
            f"this run (API {info.api}, ingress {info.ingress})"
        )
        path = Path(info.kubeconfig)
    try:
        running = Emulator.status(folder)
        on_emulator = running is not None and Path(running.kubeconfig).resolve() == path.resolve()
        backend = KubeBackend(path, context)
    except BaseException:
        if started is not None:
            Emulator.stop(started)
        raise
    try:
        yield Target(path, backend, running if on_emulator else None, started)
    finally:
        try:
            backend.close()
        finally:
            if started is not None:
                Emulator.stop(started)
                say("stopped the emulator started for this run")
