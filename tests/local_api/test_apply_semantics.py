"""`harness local apply` updates as `kubectl apply` does: what no manifest set (such as
`spec.traffic` moved by a canary) survives a re-apply (issue 17, item 8)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.knative.apply_patch import (
    LAST_APPLIED,
    last_applied,
    three_way_patch,
    with_last_applied,
)
from tests.conftest import RunningEmulator
from tests.local_api.test_rest import MERGE, NS_PATH, ready, wait_for

KUBECTL = shutil.which("kubectl")
HARNESS = [sys.executable, "-m", "harness.cli"]


# ----- the patch itself (pure) -----


def test_a_field_no_manifest_set_is_kept() -> None:
    manifest = {"spec": {"template": {"x": 2}}}
    live = {"spec": {"template": {"x": 1}, "traffic": [{"percent": 100}]}}
    patch = three_way_patch({"spec": {"template": {"x": 1}}}, manifest, live)
    assert patch == {"spec": {"template": {"x": 2}}}


def test_a_field_the_last_manifest_set_and_this_one_drops_is_deleted() -> None:
    original = {"spec": {"traffic": [{"percent": 100}]}, "metadata": {"labels": {"a": "1"}}}
    modified: dict[str, Any] = {"spec": {}, "metadata": {"labels": {}}}
    live = {"spec": {"traffic": [{"percent": 50}]}, "metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = three_way_patch(original, modified, live)
    assert patch == {"spec": {"traffic": None}, "metadata": {"labels": {"a": None}}}


def test_without_a_last_applied_manifest_nothing_is_deleted() -> None:
    live = {"spec": {"traffic": [1], "template": {"y": 1}}}
    assert three_way_patch(None, {"spec": {"template": {"y": 2}}}, live) == {
        "spec": {"template": {"y": 2}}
    }
    assert three_way_patch(None, {"spec": {"template": {"y": 1}}}, live) == {}


def test_the_annotation_holds_the_manifest_without_itself() -> None:
    manifest = {"metadata": {"name": "a", "annotations": {"k": "v"}}, "spec": {}}
    modified = with_last_applied(manifest)
    stored = last_applied(modified)
    assert stored == manifest
    assert LAST_APPLIED not in json.dumps(stored)
    assert with_last_applied(modified) == modified  # idempotent
    assert manifest == {"metadata": {"name": "a", "annotations": {"k": "v"}}, "spec": {}}


# ----- end to end, with `harness local apply` and with kubectl -----


def manifest(name: str, revision: str, traffic: list[dict[str, Any]] | None = None) -> str:
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"name": f"{name}-{revision}"},
            "spec": {
                "containers": [
                    {"image": "example.com/app", "env": [{"name": "TARGET", "value": revision}]}
                ]
            },
        }
    }
    if traffic is not None:
        spec["traffic"] = traffic
    return yaml.safe_dump(
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
    )


def local_apply(emulator: RunningEmulator, path: Path) -> None:
    result = subprocess.run(
        [*HARNESS, "local", "apply", "-f", str(path), "--state-dir", str(emulator.state_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def kubectl_apply(emulator: RunningEmulator, path: Path, home: Path) -> None:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def spec_traffic(emulator: RunningEmulator, name: str) -> list[dict[str, Any]]:
    with emulator.api_client() as api:
        traffic: list[dict[str, Any]] = api.get(f"{NS_PATH}/services/{name}").json()["spec"][
            "traffic"
        ]
    return traffic


def split(name: str) -> list[dict[str, Any]]:
    """What a canary leaves: the old revision 90%, the new one 10%, both tagged."""
    return [
        {"revisionName": f"{name}-one", "percent": 90, "tag": "one", "latestRevision": False},
        {"revisionName": f"{name}-two", "percent": 10, "tag": "two", "latestRevision": False},
    ]


def move_traffic(emulator: RunningEmulator, name: str) -> None:
    with emulator.api_client() as api:
        wait_for(lambda: ready(api, name), timeout=60)
        response = api.patch(
            f"{NS_PATH}/services/{name}", json={"spec": {"traffic": split(name)}}, headers=MERGE
        )
        assert response.status_code == 200, response.text
        wait_for(lambda: ready(api, name), timeout=60)


@pytest.mark.parametrize("tool", ["harness", "kubectl"])
def test_reapplying_a_manifest_without_traffic_keeps_the_traffic(
    emulator: RunningEmulator, tmp_path: Path, tool: str
) -> None:
    if tool == "kubectl" and KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl half of this check needs it")
    name = f"keep-{tool[:4]}"
    path = tmp_path / "service.yaml"

    def apply(text: str) -> None:
        path.write_text(text)
        if tool == "kubectl":
            kubectl_apply(emulator, path, tmp_path)
        else:
            local_apply(emulator, path)
        # Each template gets its revision only if reconciled before the next apply.
        with emulator.api_client() as api:
            wait_for(lambda: ready(api, name), timeout=60)

    apply(manifest(name, "one"))
    apply(manifest(name, "two"))
    move_traffic(emulator, name)
    apply(manifest(name, "two"))  # the same manifest again
    assert spec_traffic(emulator, name) == split(name)
    apply(manifest(name, "three"))  # a new template, still no traffic in the manifest
    assert spec_traffic(emulator, name) == split(name)
    # A manifest that sets traffic wins; dropping it again returns to Knative's default.
    pinned = [{"revisionName": f"{name}-three", "percent": 100}]
    apply(manifest(name, "three", pinned))
    assert [t["revisionName"] for t in spec_traffic(emulator, name)] == [f"{name}-three"]
    apply(manifest(name, "three"))
    assert spec_traffic(emulator, name) == [{"latestRevision": True, "percent": 100}]
    with emulator.api_client() as api:
        assert api.delete(f"{NS_PATH}/services/{name}").status_code == 200


def test_harness_and_kubectl_apply_follow_each_other(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: this check needs it")
    name = "mixed"
    path = tmp_path / "service.yaml"
    path.write_text(manifest(name, "one"))
    kubectl_apply(emulator, path, tmp_path)
    with emulator.api_client() as api:
        wait_for(lambda: ready(api, name), timeout=60)
    path.write_text(manifest(name, "two"))
    local_apply(emulator, path)
    move_traffic(emulator, name)
    path.write_text(manifest(name, "two"))
    kubectl_apply(emulator, path, tmp_path)
    assert spec_traffic(emulator, name) == split(name)
    local_apply(emulator, path)
    assert spec_traffic(emulator, name) == split(name)
    with emulator.api_client() as api:
        assert api.delete(f"{NS_PATH}/services/{name}").status_code == 200
