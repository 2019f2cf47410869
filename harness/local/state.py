"""The emulator's state folder: where it is, what `emulator.json` says, the kubeconfig.

The folder is chosen as the CLI contract says: an explicit `--state-dir`, else the
`HARNESS_STATE_DIR` environment variable, else `$XDG_STATE_HOME/knative-harness`, else
`~/.local/state/knative-harness`. It holds `emulator.json` (written last by a daemon that
answers, removed when it stops), `kubeconfig`, `daemon.log` and Prometheus data.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput

STATE_ENV = "HARNESS_STATE_DIR"
APP_DIR = "knative-harness"
INFO_FILE = "emulator.json"
KUBECONFIG_FILE = "kubeconfig"
LOG_FILE = "daemon.log"
CONTEXT_NAME = "harness-local"


@dataclass(frozen=True)
class EmulatorInfo:
    """Where a running emulator answers: what `harness local status` prints."""

    api: str
    ingress: str
    prometheus: str | None
    kubeconfig: str
    pid: int
    domain: str = "example.com"
    max_pods: int = 1  # the most pods a revision may run (`local up --max-pods`)
    scale_to_zero: bool = False  # `local up --scale-to-zero`

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmulatorInfo:
        return cls(
            api=str(data["api"]),
            ingress=str(data["ingress"]),
            prometheus=None if data.get("prometheus") is None else str(data["prometheus"]),
            kubeconfig=str(data["kubeconfig"]),
            pid=int(data["pid"]),
            domain=str(data.get("domain", "example.com")),
            max_pods=int(data.get("max_pods", 1)),
            scale_to_zero=bool(data.get("scale_to_zero", False)),
        )


def resolve_state_dir(explicit: Path | str | None = None) -> Path:
    """The state folder to use: `explicit`, else $HARNESS_STATE_DIR, else the XDG state dir."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(STATE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / APP_DIR


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state folder (private to the user) or raise BadInput if that is impossible."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BadInput(f"cannot create state folder {state_dir}: {exc.strerror}") from exc
    if not state_dir.is_dir():
        raise BadInput(f"state folder {state_dir} is not a directory")
    return state_dir


def read_info(state_dir: Path) -> EmulatorInfo | None:
    """The `emulator.json` of `state_dir`, or None when absent or unreadable."""
    try:
        data = json.loads((state_dir / INFO_FILE).read_text())
        return EmulatorInfo.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_info(state_dir: Path, info: EmulatorInfo) -> None:
    """Write `emulator.json` atomically, so a reader never sees half a file."""
    _write_atomic(state_dir / INFO_FILE, json.dumps(info.to_dict(), indent=2) + "\n")


def remove_info(state_dir: Path) -> None:
    """Forget the running emulator (missing file is fine)."""
    (state_dir / INFO_FILE).unlink(missing_ok=True)


def kubeconfig_document(api_url: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig with one plain-HTTP cluster, a dummy token and context `harness-local`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT_NAME, "cluster": {"server": api_url}}],
        "users": [{"name": CONTEXT_NAME, "user": {"token": "harness-local"}}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {
                    "cluster": CONTEXT_NAME,
                    "user": CONTEXT_NAME,
                    "namespace": namespace,
                },
            }
        ],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }


def write_kubeconfig(state_dir: Path, api_url: str) -> Path:
    """Write the emulator's kubeconfig into `state_dir` and return its path."""
    path = state_dir / KUBECONFIG_FILE
    _write_atomic(path, yaml.safe_dump(kubeconfig_document(api_url), sort_keys=False))
    return path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
