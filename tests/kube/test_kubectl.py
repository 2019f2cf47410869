"""kubectl drives the emulator as a user would, with the emulator's kubeconfig."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningEmulator

KUBECTL = shutil.which("kubectl")

MANIFEST = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: kubectl-applied
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          env:
            - name: TARGET
              value: {target}
"""


@pytest.fixture
def kubectl(
    emulator: RunningEmulator, tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl compatibility suite needs it")
    cache = tmp_path / "kube-cache"

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "--cache-dir", str(cache), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    return run


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_get_prints_knative_columns(
    kubectl: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    ksvc = kubectl("get", "ksvc")
    assert ksvc.returncode == 0, ksvc.stderr
    table = rows(ksvc.stdout)
    assert table[0] == ["NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY", "REASON"]
    assert table[1] == ["hello", "http://hello.default.example.com", "hello-v2", "hello-v2", "True"]
    revisions = kubectl("get", "revisions", "-l", "serving.knative.dev/service=hello")
    assert [r[0] for r in rows(revisions.stdout)[1:]] == ["hello-v1", "hello-v2"]
    routes = kubectl("get", "rt", "hello", "-o", "jsonpath={.status.traffic[*].url}")
    assert routes.stdout.split() == [
        "http://v1-hello.default.example.com",
        "http://v2-hello.default.example.com",
    ]


def test_describe_ksvc(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    described = kubectl("describe", "ksvc", "hello")
    assert described.returncode == 0, described.stderr
    assert re.search(r"Latest Ready Revision Name:\s+hello-v2", described.stdout)
    assert re.search(r"Kind:\s+Service", described.stdout)


def test_patch_merge_and_json(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    merge = kubectl(
        "patch",
        "ksvc",
        "hello",
        "--type",
        "merge",
        "-p",
        json.dumps({"metadata": {"labels": {"patched": "merge"}}}),
    )
    assert merge.returncode == 0, merge.stderr
    json_patch = kubectl(
        "patch",
        "ksvc",
        "hello",
        "--type",
        "json",
        "-p",
        json.dumps([{"op": "replace", "path": "/metadata/labels/patched", "value": "json"}]),
    )
    assert json_patch.returncode == 0, json_patch.stderr
    label = kubectl("get", "ksvc", "hello", "-o", "jsonpath={.metadata.labels.patched}")
    assert label.stdout == "json"
    invalid = kubectl(
        "patch",
        "ksvc",
        "hello",
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"traffic": [{"revisionName": "hello-v1", "percent": 101}]}}),
    )
    assert invalid.returncode != 0
    assert "expected 0 <= 101 <= 100" in invalid.stderr
    kubectl(
        "patch",
        "ksvc",
        "hello",
        "--type",
        "json",
        "-p",
        '[{"op":"remove","path":"/metadata/labels"}]',
    )


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_apply_then_delete(
    kubectl: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(MANIFEST.format(target="one"))
    created = kubectl("apply", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert "kubectl-applied created" in created.stdout
    manifest.write_text(MANIFEST.format(target="two"))
    updated = kubectl("apply", "-f", str(manifest))
    assert updated.returncode == 0, updated.stderr
    assert "kubectl-applied configured" in updated.stdout

    def latest_is_second() -> bool:
        out = kubectl(
            "get", "ksvc", "kubectl-applied", "-o", "jsonpath={.status.latestReadyRevisionName}"
        )
        return out.stdout == "kubectl-applied-00002"

    wait_until(latest_is_second)
    deleted = kubectl("delete", "ksvc", "kubectl-applied")
    assert deleted.returncode == 0, deleted.stderr
    gone = kubectl(
        "get", "revisions", "-l", "serving.knative.dev/service=kubectl-applied", "-o", "name"
    )
    assert gone.stdout.strip() == ""


def test_get_watch_shows_changes(
    kubectl: Callable[..., subprocess.CompletedProcess[str]], emulator: RunningEmulator
) -> None:
    assert KUBECTL is not None
    watcher = subprocess.Popen(
        [
            KUBECTL,
            "--kubeconfig",
            str(emulator.kubeconfig),
            "get",
            "ksvc",
            "hello",
            "-w",
            "-o",
            'jsonpath={.metadata.labels.watched}{"\\n"}',
            "--request-timeout=120s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        watcher.stdout.readline()  # the initial state
        patched = kubectl(
            "patch",
            "ksvc",
            "hello",
            "--type",
            "merge",
            "-p",
            '{"metadata":{"labels":{"watched":"yes"}}}',
        )
        assert patched.returncode == 0, patched.stderr
        seen = ""
        deadline = time.monotonic() + 60
        while seen.strip() != "yes" and time.monotonic() < deadline:
            seen = watcher.stdout.readline()
        assert seen.strip() == "yes"
    finally:
        watcher.kill()
        watcher.wait()
        kubectl(
            "patch",
            "ksvc",
            "hello",
            "--type",
            "json",
            "-p",
            '[{"op":"remove","path":"/metadata/labels"}]',
        )
