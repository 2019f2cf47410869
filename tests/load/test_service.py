"""`harness load SVC --tag T` against the emulator: tags resolved from the Service's status,
sent through the ingress with the tag host, attributed by ``K-Revision``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from harness.errors import BadInput
from harness.knative.model import ServiceState
from harness.load.targets import service_arms
from tests.conftest import RunningEmulator

Run = Callable[..., subprocess.CompletedProcess[str]]


def _cluster(emulator: RunningEmulator) -> list[str]:
    return ["--kubeconfig", str(emulator.kubeconfig), "--state-dir", str(emulator.state_dir)]


def test_each_tag_is_an_arm_answered_by_its_revision(
    emulator: RunningEmulator, run_load: Run
) -> None:
    result = run_load(
        "hello", "--tag", "v1", "--tag", "v2", *_cluster(emulator),
        "--rate", "20", "--duration", "1.5s", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    arms = json.loads(result.stdout)["arms"]
    assert set(arms) == {"v1", "v2"}
    for tag in ("v1", "v2"):
        assert arms[tag]["requests"] > 0
        assert arms[tag]["failures"] == 0
        assert arms[tag]["revisions"] == {f"hello-{tag}": arms[tag]["requests"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--tag", "v1"], "nosuch"),
        (["hello", "--tag", "v9"], "no tag 'v9'"),
        (["hello", "--tag", "Not_A_Label"], "not a valid name"),
    ],
    ids=["unknown service", "unknown tag", "invalid tag"],
)
def test_unknown_service_or_tag_is_exit_2(
    args: list[str], message: str, emulator: RunningEmulator, run_load: Run
) -> None:
    result = run_load(*args, *_cluster(emulator), "--duration", "5s")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "load summary" not in result.stdout


def test_a_tag_without_url_is_bad_input() -> None:
    state = ServiceState.from_object(
        {
            "metadata": {"name": "hello", "namespace": "default"},
            "status": {
                "url": "http://hello.default.example.com",
                "traffic": [
                    {"tag": "v1", "revisionName": "hello-v1", "percent": 100,
                     "url": "http://v1-hello.default.example.com"},
                    {"tag": "v2", "revisionName": "hello-v2", "percent": 0},
                ],
            },
        }
    )  # fmt: skip
    with pytest.raises(BadInput, match=r"tag 'v2' .* has no URL"):
        service_arms(state, ["v2"])
    arm = service_arms(state, ["v1"], ingress="http://127.0.0.1:8080")[0]
    assert (arm.name, arm.url, arm.host_header) == (
        "v1",
        "http://127.0.0.1:8080",
        "v1-hello.default.example.com",
    )
    route = service_arms(state, [])[0]
    assert (route.name, route.url, route.host_header) == (
        "hello",
        "http://hello.default.example.com",
        None,
    )
