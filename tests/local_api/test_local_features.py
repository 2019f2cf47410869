"""`harness local up --feature KEY=VALUE`: the admission's config-features, as `harness lint`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.local.api_client import api_client
from harness.local.launcher import alive, descendants
from harness.local.state import EmulatorInfo

pytestmark = pytest.mark.slow

NS_PATH = "/apis/serving.knative.dev/v1/namespaces/default"
SELECTOR: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {"name": "pinned"},
    "spec": {
        "template": {"spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"image": "x"}]}}
    },
}


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        # `local up` waits up to 90 s for the daemon (launcher.START_TIMEOUT): 3x that.
        timeout=300,
        env=dict(os.environ),
    )


def test_a_bad_feature_is_one_line_and_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for flag in ("kubernetes.podspec-nodeselectr=enabled", "multi-container=maybe", "novalue"):
        result = harness("local", "up", "--port", "0", "--feature", flag, "--state-dir", str(state))
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "--feature" in result.stderr and "Traceback" not in result.stderr
        assert not (state / "emulator.json").exists()


def test_the_feature_lets_a_gated_field_through(tmp_path: Path) -> None:
    state = tmp_path / "state"
    flag = "kubernetes.podspec-nodeselector=enabled"
    up = harness(
        "local", "up", "--port", "0", "--feature", flag, "--state-dir", str(state), "-o", "json"
    )
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    spawned = [info["pid"], *descendants(info["pid"])]
    try:
        with api_client(EmulatorInfo.from_dict(info)) as client:
            admitted = client.post(f"{NS_PATH}/services", params={"dryRun": "All"}, json=SELECTOR)
            assert admitted.status_code == 201, admitted.text
            assert admitted.json()["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    finally:
        assert harness("local", "down", "--state-dir", str(state)).returncode == 0
    assert not [pid for pid in spawned if alive(pid)]
    # Without the flag, Knative's default refuses the field.
    up = harness("local", "up", "--port", "0", "--state-dir", str(state), "-o", "json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    try:
        with api_client(EmulatorInfo.from_dict(info)) as client:
            refused = client.post(f"{NS_PATH}/services", params={"dryRun": "All"}, json=SELECTOR)
            assert refused.status_code == 400
            assert refused.json()["message"].endswith(
                "must not set the field(s): spec.template.spec.nodeSelector"
            )
    finally:
        assert harness("local", "down", "--state-dir", str(state)).returncode == 0
