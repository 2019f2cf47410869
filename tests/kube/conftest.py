"""Clients we did not write, pointed at the module's emulator: kubectl and the official
`kubernetes` client's CustomObjectsApi (modules that need another shape define their own)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.conftest import RunningEmulator

KUBECTL = shutil.which("kubectl")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(emulator: RunningEmulator, tmp_path: Path) -> Run:
    """``kubectl ARGS`` against the emulator; ``stdin`` a manifest dict or text."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl compatibility suite needs it")
    cache = tmp_path / "kube-cache"

    def run(*args: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "--cache-dir", str(cache), *args],
            input=json.dumps(stdin) if isinstance(stdin, dict) else stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    return run


@pytest.fixture
def objects(emulator: RunningEmulator) -> Iterator[Any]:
    """The client's CustomObjectsApi (typed Any: its answers are plain dicts)."""
    api = config.new_client_from_config(config_file=str(emulator.kubeconfig))
    try:
        yield client.CustomObjectsApi(api)
    finally:
        api.close()
