"""Which cluster the harness talks to, and a ``TrafficBackend`` for it.

In order: an explicit ``--kubeconfig`` (the CLI also fills it from ``$KUBECONFIG``), then
``$KUBECONFIG``, then ``~/.kube/config`` if it exists, then the kubeconfig of an emulator
running for the state folder. With none of these, ``NoCluster`` (an ``Unavailable``) says
how to start one; the canary command catches it to start the emulator itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import BadInput, Unavailable
from harness.knative.backend import TrafficBackend


class NoCluster(Unavailable):
    """No kubeconfig was given or found and no emulator is running."""


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


def read_kubeconfig(path: Path | str) -> dict[str, Any]:
    """The kubeconfig at ``path`` as a dict, read within the bounds of `harness.inputs`.

    Raises ``BadInput`` (one line) for a file that cannot be read, is not YAML, or is not
    a kubeconfig (``/etc/passwd``, an empty file): a mapping with ``clusters`` and
    ``contexts`` lists of named entries.
    """
    import yaml

    from harness.inputs import InputError, load_yaml, read_text, yaml_error_text

    try:
        data = load_yaml(read_text(path))
    except InputError as exc:
        raise BadInput(f"kubeconfig {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"kubeconfig {path}: not YAML: {yaml_error_text(exc)}") from None
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise BadInput(f"kubeconfig {path} is not a kubeconfig: {what}")
    for section, entry in (("clusters", "cluster"), ("contexts", "context")):
        items = data.get(section)
        if not isinstance(items, list) or not items:
            raise BadInput(f"kubeconfig {path} is not a kubeconfig: no {section} list")
        for index, item in enumerate(items):
            if not (
                isinstance(item, dict)
                and isinstance(item.get("name"), str)
                and isinstance(item.get(entry), dict)
            ):
                raise BadInput(
                    f"kubeconfig {path}: {section}[{index}] needs a name and a {entry} mapping"
                )
    users = data.get("users") or []
    if not isinstance(users, list) or not all(
        isinstance(u, dict) and isinstance(u.get("name"), str) for u in users
    ):
        raise BadInput(f"kubeconfig {path}: users must be a list of named entries")
    clusters = {c["name"] for c in data["clusters"]}
    user_names = {u["name"] for u in users}
    for item in data["contexts"]:
        context = item["context"]
        if context.get("cluster") not in clusters:
            raise BadInput(
                f"kubeconfig {path}: context {item['name']!r} names cluster "
                f"{context.get('cluster')!r}, which is not in clusters"
            )
        if context.get("user") and context["user"] not in user_names:
            raise BadInput(
                f"kubeconfig {path}: context {item['name']!r} names user "
                f"{context['user']!r}, which is not in users"
            )
    return data


def connect(
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    state_dir: Path | str | None = None,
) -> TrafficBackend:
    """A ``KubeBackend`` for the chosen cluster (see the module docstring for the order)."""
    from harness.knative.kube import KubeBackend

    return KubeBackend(find_kubeconfig(kubeconfig, state_dir), context)
