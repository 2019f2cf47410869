"""Reading a kubeconfig within the bounds of `harness.inputs`.

Which kubeconfig a command uses, and the backend for it, is `harness.target`'s choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import BadInput

__all__ = ["read_kubeconfig"]


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
