"""`harness local up/status/down/apply` and `harness status`, run as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from harness.local.api_client import api_client
from harness.local.launcher import alive, descendants
from harness.local.state import EmulatorInfo
from harness.store import SqliteStore
from tests.conftest import RunningEmulator

MANIFEST = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: greeter
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          env:
            - name: TARGET
              value: {target}
"""

INVALID = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: greeter
spec:
  template:
    spec:
      containers:
        - image: x
  traffic:
    - latestRevision: true
      percent: 60
"""


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        # `local up` waits up to 90 s for the daemon (launcher.START_TIMEOUT): 3x that.
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_up_twice_is_refused_and_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = harness("local", "up", "--port", "0", "--state-dir", str(state), "-o", "json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert set(info) == {
        "api",
        "ingress",
        "prometheus",
        "kubeconfig",
        "pid",
        "max_pods",
        "scale_to_zero",
    }
    # One process per revision, never scaled to zero, unless asked for.
    assert (info["max_pods"], info["scale_to_zero"]) == (1, False)
    spawned = [info["pid"], *descendants(info["pid"])]
    try:
        again = harness("local", "up", "--port", "0", "--state-dir", str(state))
        assert again.returncode == 2
        assert "already running" in again.stderr
        assert "Traceback" not in again.stderr
        status = harness("local", "status", "-o", "json", env={"HARNESS_STATE_DIR": str(state)})
        assert json.loads(status.stdout) == info
        with api_client(EmulatorInfo.from_dict(info)) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        down = harness("local", "down", "--state-dir", str(state))
    assert down.returncode == 0
    assert not [pid for pid in spawned if alive(pid)]
    assert not (state / "emulator.json").exists()
    twice = harness("local", "down", "--state-dir", str(state))
    assert twice.returncode == 0
    assert "no emulator running" in twice.stdout
    status = harness("local", "status", "--state-dir", str(state))
    assert status.returncode == 2


def test_up_on_a_busy_port_fails_with_the_logs_last_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = harness("local", "up", "--port", str(port), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "failed to start" in result.stderr
    assert "address" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert harness("local", "status", "--state-dir", str(tmp_path)).returncode == 2


def test_apply_creates_updates_and_rejects_what_knative_rejects(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    manifest = tmp_path / "greeter.yaml"
    manifest.write_text(MANIFEST.format(target="one"))
    state = str(emulator.state_dir)
    first = harness("local", "apply", "-f", str(manifest), "--state-dir", state, "-o", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"][0]["generation"] == 1
    manifest.write_text(MANIFEST.format(target="two"))
    second = harness("local", "apply", "-f", str(manifest), "--state-dir", state, "-o", "json")
    assert json.loads(second.stdout)["applied"][0]["generation"] == 2
    url = f"{emulator.api}/apis/serving.knative.dev/v1/namespaces/default/services/greeter"
    before = emulator.api_client().get(url).json()
    manifest.write_text(INVALID)
    rejected = harness("local", "apply", "-f", str(manifest), "--state-dir", state)
    assert rejected.returncode == 2
    assert "Traffic targets sum to 60, want 100" in rejected.stderr
    assert "Traceback" not in rejected.stderr
    after = emulator.api_client().get(url).json()
    # The controller may still be writing status; the spec is what must not move.
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] == 2


def test_status_shows_revisions_traffic_and_last_run(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    store_path = tmp_path / "history.sqlite"
    args = ["status", "hello", "--kubeconfig", str(emulator.kubeconfig), "-o", "json"]
    empty = harness(*args, "--store", str(store_path))
    assert empty.returncode == 0, empty.stderr
    doc = json.loads(empty.stdout)
    assert doc["lastRun"] is None
    assert [r["name"] for r in doc["revisions"]] == ["hello-v1", "hello-v2"]
    assert all(r["ready"] for r in doc["revisions"])
    assert doc["traffic"][1] == {
        "percent": 0,
        "revision": "hello-v2",
        "latestRevision": False,
        "tag": "v2",
        "url": "http://v2-hello.default.example.com",
    }
    store = SqliteStore(store_path)
    run = store.create_run("canary", "default", "hello", revisions=("hello-v1", "hello-v2"))
    store.close()
    with_run = json.loads(harness(*args, "--store", str(store_path)).stdout)
    assert with_run["lastRun"]["id"] == run.id
    assert with_run["lastRun"]["revisions"] == ["hello-v1", "hello-v2"]
    text = harness(
        "status", "hello", "--kubeconfig", str(emulator.kubeconfig), "--store", str(store_path)
    )
    assert "v2-hello.default.example.com" in text.stdout
    assert run.id in text.stdout
    missing = harness("status", "nope", "--kubeconfig", str(emulator.kubeconfig))
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("service default/nope not found")
