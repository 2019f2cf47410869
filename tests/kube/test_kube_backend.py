"""`KubeBackend` against the emulator, through its kubeconfig: the code path a cluster gets."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.errors import Aborted, BadInput, Unavailable
from harness.knative.kube import KubeBackend
from harness.knative.model import ServiceState
from harness.knative.traffic import TrafficTarget, canary_split
from harness.local.state import kubeconfig_document
from harness.target import NoCluster, connect, find_kubeconfig
from tests.conftest import RunningEmulator

SERVICE_URL = "/apis/serving.knative.dev/v1/namespaces/default/services"
DEMO_TRAFFIC = [
    TrafficTarget(percent=100, revision_name="hello-v1", tag="v1"),
    TrafficTarget(percent=0, revision_name="hello-v2", tag="v2"),
]


@pytest.fixture
def backend(emulator: RunningEmulator) -> Iterator[KubeBackend]:
    with KubeBackend(emulator.kubeconfig) as kube:
        yield kube
        # Put the shared demo Service back as the fixture made it.
        kube.set_traffic("default", "hello", lambda _: DEMO_TRAFFIC)


def revisions_seen(emulator: RunningEmulator, host: str, requests: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=emulator.ingress, headers={"Host": host}, timeout=60) as client:
        for _ in range(requests):
            seen[client.get("/").headers["K-Revision"]] += 1
    return seen


def test_get_service_and_revisions(backend: KubeBackend) -> None:
    state = backend.get_service("default", "hello")
    assert state.ready
    assert state.tag_urls() == {
        "v1": "http://v1-hello.default.example.com",
        "v2": "http://v2-hello.default.example.com",
    }
    revisions = backend.list_revisions("default", "hello")
    assert [(r.name, r.ready, r.env["TARGET"]) for r in revisions] == [
        ("hello-v1", True, "v1"),
        ("hello-v2", True, "v2"),
    ]


def test_set_traffic_is_visible_in_routing(backend: KubeBackend, emulator: RunningEmulator) -> None:
    def half(current: ServiceState) -> list[TrafficTarget]:
        return canary_split(
            current.spec_traffic,
            baseline="hello-v1",
            canary="hello-v2",
            canary_percent=50,
            baseline_tag="v1",
            canary_tag="v2",
            latest_ready=current.latest_ready_revision,
        )

    state = backend.set_traffic("default", "hello", half)
    assert state.ready
    assert state.observed_generation == state.generation
    assert sorted((t.revision_name, t.percent) for t in state.status_traffic) == [
        ("hello-v1", 50),
        ("hello-v2", 50),
    ]
    split = revisions_seen(emulator, emulator.host("hello"), 200)
    assert set(split) == {"hello-v1", "hello-v2"}
    assert 60 <= split["hello-v2"] <= 140, split
    tagged = revisions_seen(emulator, emulator.host("hello", tag="v2"), 20)
    assert tagged == Counter({"hello-v2": 20})


def test_a_concurrent_write_forces_a_reread_and_survives(
    backend: KubeBackend, emulator: RunningEmulator
) -> None:
    calls: list[ServiceState] = []

    def compute(current: ServiceState) -> list[TrafficTarget]:
        calls.append(current)
        if len(calls) == 1:
            # Someone else edits the Service between our read and our patch.
            emulator.api_client().patch(
                f"{emulator.api}{SERVICE_URL}/hello",
                json={"metadata": {"annotations": {"owner": "someone-else"}}},
                headers={"Content-Type": "application/merge-patch+json"},
            ).raise_for_status()
        return [
            TrafficTarget(percent=90, revision_name="hello-v1", tag="v1"),
            TrafficTarget(percent=10, revision_name="hello-v2", tag="v2"),
        ]

    state = backend.set_traffic("default", "hello", compute)
    assert len(calls) == 2, "the 409 should have made the backend read and compute again"
    assert calls[1].annotations.get("owner") == "someone-else"
    assert state.annotations.get("owner") == "someone-else"
    assert [t.percent for t in state.spec_traffic] == [90, 10]
    emulator.api_client().patch(
        f"{emulator.api}{SERVICE_URL}/hello",
        json={"metadata": {"annotations": {"owner": None}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()


def test_errors_are_one_line_harness_errors(backend: KubeBackend) -> None:
    with pytest.raises(BadInput, match="service default/nope not found"):
        backend.get_service("default", "nope")
    with pytest.raises(BadInput, match="not a valid name"):
        backend.get_service("default", "../etc")
    with pytest.raises(BadInput, match=r"Traffic targets sum to 70, want 100"):
        backend.set_traffic(
            "default", "hello", lambda _: [TrafficTarget(percent=70, revision_name="hello-v1")]
        )
    assert backend.get_service("default", "hello").ready


def test_unreachable_cluster_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubeconfig_document(f"http://127.0.0.1:{port}", "t" * 43)))
    with KubeBackend(config) as kube, pytest.raises(Unavailable, match=f"127.0.0.1:{port}"):
        kube.get_service("default", "hello")


def test_traffic_to_a_revision_that_never_gets_ready_aborts(backend: KubeBackend) -> None:
    manifest = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "broken", "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"image": "x", "env": [{"name": "SIM_LATENCY_MS", "value": "-1"}]}
                    ]
                }
            }
        },
    }
    created = backend.apply(manifest)
    assert created["metadata"]["generation"] == 1
    with pytest.raises(Aborted, match="did not become ready"):
        backend.wait_ready("default", "broken", timeout=1.5)


def test_apply_keeps_annotations_others_added(
    backend: KubeBackend, emulator: RunningEmulator
) -> None:
    manifest: dict[str, Any] = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "applied", "annotations": {"mine": "1"}},
        "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}},
    }
    backend.apply(manifest)
    emulator.api_client().patch(
        f"{emulator.api}{SERVICE_URL}/applied",
        json={"metadata": {"annotations": {"theirs": "2"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).raise_for_status()
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "TARGET", "value": "b"}
    ]
    updated = backend.apply(manifest)
    # Knative's creator/lastModifier (the emulator's user) are kept too.
    assert updated["metadata"]["annotations"] == {
        "mine": "1",
        "theirs": "2",
        "serving.knative.dev/creator": "harness-local",
        "serving.knative.dev/lastModifier": "harness-local",
    }
    assert updated["metadata"]["generation"] == 2
    assert (
        backend.wait_ready("default", "applied", timeout=60).latest_ready_revision
        == "applied-00002"
    )


def test_connect_prefers_explicit_then_env_then_emulator(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert find_kubeconfig(None, emulator.state_dir) == emulator.kubeconfig
    with pytest.raises(NoCluster, match="harness local up --demo"):
        find_kubeconfig(None, tmp_path / "nothing-running")
    monkeypatch.setenv("KUBECONFIG", str(emulator.kubeconfig))
    assert find_kubeconfig(None, tmp_path / "nothing-running") == emulator.kubeconfig
    with pytest.raises(BadInput, match="does not exist"):
        find_kubeconfig(tmp_path / "missing", None)
    backend = connect(emulator.kubeconfig)
    try:
        assert backend.get_service("default", "hello").name == "hello"
    finally:
        backend.close()
