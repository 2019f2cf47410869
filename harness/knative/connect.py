"""Which cluster the harness talks to, and a ``TrafficBackend`` for it.

In order: an explicit ``--kubeconfig`` (the CLI also fills it from ``$KUBECONFIG``), then
``$KUBECONFIG``, then ``~/.kube/config`` if it exists, then the kubeconfig of an emulator
running for the state folder. With none of these, ``NoCluster`` (an ``Unavailable``) says
how to start one; the canary command catches it to start the emulator itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import BadInput, Unavailable
from harness.knative.backend import TrafficBackend


class NoCluster(Unavailable):
    """No kubeconfig was given or found and no emulator is running."""


def find_kubeconfig(kubeconfig: Path | str | None, state_dir: Path | str | None) -> Path:
    """The kubeconfig to use, by the order above; ``BadInput`` if an explicit one is missing."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise BadInput(f"kubeconfig {path} does not exist")
        return path
    for candidate in filter(None, os.environ.get("KUBECONFIG", "").split(os.pathsep)):
        path = Path(candidate).expanduser()
        if path.is_file():
            return path
    home_config = Path.home() / ".kube" / "config"
    if home_config.is_file():
        return home_config
    from harness.local.launcher import Emulator
    from harness.local.state import resolve_state_dir

    folder = resolve_state_dir(state_dir)
    info = Emulator.status(folder)
    if info is not None:
        return Path(info.kubeconfig)
    raise NoCluster(
        "no cluster: no --kubeconfig, $KUBECONFIG or ~/.kube/config, and no emulator running "
        f"for {folder}; run `harness local up --demo`"
    )


def connect(
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    state_dir: Path | str | None = None,
) -> TrafficBackend:
    """A ``KubeBackend`` for the chosen cluster (see the module docstring for the order)."""
    from harness.knative.kube import KubeBackend

    return KubeBackend(find_kubeconfig(kubeconfig, state_dir), context)
