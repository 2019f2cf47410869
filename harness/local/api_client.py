"""An httpx client for the emulator's API, with the token and CA of its kubeconfig.

For the harness's own plumbing (the launcher's health check), tests and benchmarks; the
commands reach the API through `KubeBackend` and the kubeconfig, as on a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from harness.errors import Unavailable
from harness.local.api_tls import client_context
from harness.local.state import ApiCredentials, EmulatorInfo, read_credentials


def credentials(info: EmulatorInfo) -> ApiCredentials:
    """The credentials of `info`'s kubeconfig; Unavailable when it cannot be read."""
    found = read_credentials(Path(info.kubeconfig))
    if found is None:
        raise Unavailable(f"cannot read the emulator's credentials from {info.kubeconfig}")
    return found


def client_options(creds: ApiCredentials) -> dict[str, Any]:
    """`headers` and `verify` for an httpx client of the API."""
    return {
        "headers": creds.headers,
        "verify": client_context(creds.ca_pem) if creds.ca_pem is not None else True,
    }


def api_client(info: EmulatorInfo, *, timeout: float = 10.0) -> httpx.Client:
    """An httpx client with `base_url` the API, its bearer token, trusting its CA."""
    return httpx.Client(base_url=info.api, timeout=timeout, **client_options(credentials(info)))
