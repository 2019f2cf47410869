"""The emulator's state folder: where it is, what `emulator.json` says, the kubeconfig.

The folder is chosen by `harness.statedir` (the CLI contract's rule, shared with the
run store). It holds `emulator.json` (written last by a daemon that
answers, removed when it stops), `kubeconfig`, `daemon.log` and Prometheus data.

The folder is the user's alone (mode 0700), and `kubeconfig` and `emulator.json` are
0600: the kubeconfig holds the API's bearer token, a new random one at every start.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

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


def new_token() -> str:
    """A fresh API bearer token (256 random bits)."""
    return secrets.token_urlsafe(32)


def kubeconfig_document(
    api_url: str, token: str, ca_pem: bytes | None = None, namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig with one cluster (trusting `ca_pem`, the emulator's own CA, when
    given), the API's bearer token and context `harness-local`."""
    cluster: dict[str, Any] = {"server": api_url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT_NAME, "cluster": cluster}],
        "users": [{"name": CONTEXT_NAME, "user": {"token": token}}],
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


def write_kubeconfig(state_dir: Path, api_url: str, token: str, ca_pem: bytes) -> Path:
    """Write the emulator's kubeconfig (mode 0600) into `state_dir` and return its path."""
    path = state_dir / KUBECONFIG_FILE
    document = kubeconfig_document(api_url, token, ca_pem)
    _write_atomic(path, yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass(frozen=True)
class ApiCredentials:
    """What a client needs to call the emulator's API: its bearer token and its CA."""

    token: str
    ca_pem: bytes | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def read_credentials(kubeconfig: Path | str) -> ApiCredentials | None:
    """The token and CA of the emulator's kubeconfig (its `harness-local` user and
    cluster), or None when the file cannot be read or has no token."""
    try:
        with open(kubeconfig, "rb") as stream:
            data = yaml.safe_load(stream.read(1024 * 1024))
        token = next(u["user"]["token"] for u in data["users"] if u["name"] == CONTEXT_NAME)
        cluster = next(c["cluster"] for c in data["clusters"] if c["name"] == CONTEXT_NAME)
        ca = cluster.get("certificate-authority-data")
        ca_pem = base64.b64decode(ca) if isinstance(ca, str) else None
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, StopIteration):
        return None
    return ApiCredentials(token, ca_pem) if isinstance(token, str) else None


def _write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file created 0600 (never readable by
    others, not even for a moment), then renamed over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    os.replace(tmp, path)
