"""The emulator's Kubernetes-style API over plain HTTP, as curl or any client sees it."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from harness.local.launcher import alive, descendants
from tests.conftest import RunningEmulator

NS_PATH = "/apis/serving.knative.dev/v1/namespaces/default"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def service(name: str, target: str, *, revision: str | None = None, **spec: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "spec": {"containers": [{"image": "x", "env": [{"name": "TARGET", "value": target}]}]}
    }
    if revision:
        template["metadata"] = {"name": revision}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (within 60 s by default: a CI
    machine running the suite beside a CPU hog once needed more than 20 s for a revision
    to start; the wait costs nothing once the condition holds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def ready(api: httpx.Client, name: str) -> dict[str, Any] | None:
    obj = api.get(f"{NS_PATH}/services/{name}").json()
    status = obj.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    if (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and conditions.get("Ready") == "True"
    ):
        return obj
    return None


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with emulator.api_client() as client:
        yield client


def test_demo_service_status_is_knative_shaped(api: httpx.Client) -> None:
    obj = api.get(f"{NS_PATH}/services/hello").json()
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"] == 2
    assert status["url"] == "http://hello.default.example.com"
    assert status["address"]["url"] == "http://hello.default.svc.cluster.local"
    assert status["latestCreatedRevisionName"] == "hello-v2"
    assert status["latestReadyRevisionName"] == "hello-v2"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "ConfigurationsReady": "True",
        "Ready": "True",
        "RoutesReady": "True",
    }
    assert all("lastTransitionTime" in c for c in status["conditions"])
    assert status["traffic"] == [
        {
            "tag": "v1",
            "revisionName": "hello-v1",
            "latestRevision": False,
            "percent": 100,
            "url": "http://v1-hello.default.example.com",
        },
        {
            "tag": "v2",
            "revisionName": "hello-v2",
            "latestRevision": False,
            "percent": 0,
            "url": "http://v2-hello.default.example.com",
        },
    ]


def test_revisions_carry_knative_labels_and_owner(api: httpx.Client) -> None:
    rev = api.get(f"{NS_PATH}/revisions/hello-v2").json()
    labels = rev["metadata"]["labels"]
    assert labels["serving.knative.dev/service"] == "hello"
    assert labels["serving.knative.dev/configuration"] == "hello"
    assert labels["serving.knative.dev/configurationGeneration"] == "2"
    owner = rev["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Configuration", "hello", True)
    conditions = {c["type"]: c["status"] for c in rev["status"]["conditions"]}
    assert conditions == {"ContainerHealthy": "True", "Ready": "True", "ResourcesAvailable": "True"}
    listed = api.get(
        f"{NS_PATH}/revisions", params={"labelSelector": "serving.knative.dev/service=hello"}
    ).json()
    assert listed["kind"] == "RevisionList"
    assert [r["metadata"]["name"] for r in listed["items"]] == ["hello-v1", "hello-v2"]


def test_route_mirrors_service_traffic(api: httpx.Client) -> None:
    route = api.get(f"{NS_PATH}/routes/hello").json()
    assert route["kind"] == "Route"
    assert [t["revisionName"] for t in route["status"]["traffic"]] == ["hello-v1", "hello-v2"]
    assert {c["type"] for c in route["status"]["conditions"]} >= {
        "AllTrafficAssigned",
        "IngressReady",
        "Ready",
    }
    everywhere = api.get("/apis/serving.knative.dev/v1/routes").json()
    assert "hello" in [r["metadata"]["name"] for r in everywhere["items"]]


def test_unknown_service_is_404_status(api: httpx.Client) -> None:
    response = api.get(f"{NS_PATH}/services/nope")
    assert response.status_code == 404
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)
    assert body["message"] == 'services.serving.knative.dev "nope" not found'
    assert api.patch(f"{NS_PATH}/services/nope", json={}, headers=MERGE).status_code == 404


def test_invalid_traffic_is_400_with_knative_message_and_changes_nothing(
    api: httpx.Client,
) -> None:
    before = api.get(f"{NS_PATH}/services/hello").json()
    patch = {"spec": {"traffic": [{"revisionName": "hello-v1", "percent": 101}]}}
    response = api.patch(f"{NS_PATH}/services/hello", json=patch, headers=MERGE)
    # A webhook denial, as kube-apiserver answers it (harness/local/admission.py).
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "BadRequest"
    assert body["message"].startswith(
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
        "validation failed: "
    )
    assert "expected 0 <= 101 <= 100: spec.traffic[0].percent" in body["message"]
    assert "details" not in body
    after = api.get(f"{NS_PATH}/services/hello").json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]


def test_stale_resource_version_is_409(api: httpx.Client) -> None:
    api.post(f"{NS_PATH}/services", json=service("occ", "a")).raise_for_status()
    current = api.get(f"{NS_PATH}/services/occ").json()
    stale = current["metadata"]["resourceVersion"]
    api.patch(
        f"{NS_PATH}/services/occ", json={"metadata": {"labels": {"x": "1"}}}, headers=MERGE
    ).raise_for_status()
    response = api.patch(
        f"{NS_PATH}/services/occ",
        json={"metadata": {"resourceVersion": stale, "labels": {"x": "2"}}},
        headers=MERGE,
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"
    current["metadata"]["resourceVersion"] = stale
    assert api.put(f"{NS_PATH}/services/occ", json=current).status_code == 409
    labels = api.get(f"{NS_PATH}/services/occ").json()["metadata"]["labels"]
    assert labels == {"x": "1"}


def test_create_existing_is_409_already_exists(api: httpx.Client) -> None:
    response = api.post(f"{NS_PATH}/services", json=service("hello", "again"))
    assert response.status_code == 409
    assert response.json()["reason"] == "AlreadyExists"


def test_template_changes_make_numbered_revisions_and_latest_follows(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    created = api.post(f"{NS_PATH}/services", json=service("gen", "one"))
    assert created.status_code == 201
    assert created.json()["metadata"]["generation"] == 1
    first = wait_for(lambda: ready(api, "gen"))
    assert first["status"]["latestReadyRevisionName"] == "gen-00001"
    assert first["status"]["traffic"] == [
        {"revisionName": "gen-00001", "latestRevision": True, "percent": 100}
    ]
    patch = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "two"}
    ]
    patched = api.patch(f"{NS_PATH}/services/gen", json=patch, headers=JSON_PATCH)
    assert patched.status_code == 200
    assert patched.json()["metadata"]["generation"] == 2
    second = wait_for(
        lambda: (
            (obj := ready(api, "gen"))
            and obj["status"]["latestReadyRevisionName"] == "gen-00002"
            and obj
        )
    )
    assert second["status"]["traffic"][0]["revisionName"] == "gen-00002"
    body = httpx.get(emulator.ingress, headers={"Host": emulator.host("gen")}, timeout=60).text
    assert body.strip() == "Hello two!"


def test_label_change_bumps_resource_version_not_generation(api: httpx.Client) -> None:
    before = api.get(f"{NS_PATH}/services/hello").json()
    after = api.patch(
        f"{NS_PATH}/services/hello",
        json={"metadata": {"annotations": {"team": "x"}}},
        headers=MERGE,
    ).json()
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    api.patch(
        f"{NS_PATH}/services/hello",
        json={"metadata": {"annotations": {"team": None}}},
        headers=MERGE,
    ).raise_for_status()


def test_user_named_revision_must_change_with_template(api: httpx.Client) -> None:
    api.post(f"{NS_PATH}/services", json=service("byo", "a", revision="byo-a")).raise_for_status()
    changed = {"spec": {"template": service("byo", "b", revision="byo-a")["spec"]["template"]}}
    response = api.patch(f"{NS_PATH}/services/byo", json=changed, headers=MERGE)
    assert response.status_code == 400
    assert "spec.template.metadata.name" in response.json()["message"]
    bad_prefix = api.post(f"{NS_PATH}/services", json=service("pre", "a", revision="other-a"))
    assert bad_prefix.status_code == 400
    assert 'must have prefix "pre-"' in bad_prefix.json()["message"]


def test_route_to_another_services_revision_is_not_owned(api: httpx.Client) -> None:
    traffic = [{"revisionName": "hello-v1", "percent": 100}]
    api.post(f"{NS_PATH}/services", json=service("thief", "t", traffic=traffic)).raise_for_status()

    def not_owned() -> dict[str, Any] | None:
        route = api.get(f"{NS_PATH}/routes/thief").json()
        for cond in route.get("status", {}).get("conditions", []):
            if cond["type"] == "AllTrafficAssigned" and cond.get("reason") == "RevisionNotOwned":
                return cond
        return None

    cond = wait_for(not_owned)
    assert cond["status"] == "False"
    svc = api.get(f"{NS_PATH}/services/thief").json()
    ready_cond = next(c for c in svc["status"]["conditions"] if c["type"] == "Ready")
    assert ready_cond["status"] == "False"


def test_crashing_revision_fails_without_taking_the_emulator_down(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    bad = service("crash", "c")
    bad["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "SIM_ERROR_RATE", "value": "lots"}
    )
    api.post(f"{NS_PATH}/services", json=bad).raise_for_status()

    def failed() -> dict[str, Any] | None:
        rev = api.get(f"{NS_PATH}/revisions/crash-00001").json()
        health = [
            c
            for c in rev.get("status", {}).get("conditions", [])
            if c["type"] == "ContainerHealthy"
        ]
        return rev if health and health[0]["status"] == "False" else None

    # The crash itself takes a second; a CI machine running the suite beside a CPU hog
    # once needed more than 20 s to start the interpreter that crashes.
    rev = wait_for(failed, timeout=60.0)
    health = next(c for c in rev["status"]["conditions"] if c["type"] == "ContainerHealthy")
    assert health["reason"].startswith("ExitCode")
    assert "SIM_ERROR_RATE" in health.get("message", "")
    assert api.get("/healthz").status_code == 200
    hello = httpx.get(emulator.ingress, headers={"Host": emulator.host("hello")}, timeout=60)
    assert hello.headers["K-Revision"] == "hello-v1"


def revision_processes(emulator: RunningEmulator, revision: str) -> list[int]:
    """Processes the daemon spawned for `revision` (by the K_REVISION Knative sets)."""
    marker = f"K_REVISION={revision}".encode()
    found = []
    for pid in descendants(emulator.pid):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_delete_service_removes_its_objects_and_processes(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    api.post(f"{NS_PATH}/services", json=service("gone", "g")).raise_for_status()
    wait_for(lambda: ready(api, "gone"))
    processes = revision_processes(emulator, "gone-00001")
    assert processes
    assert api.delete(f"{NS_PATH}/services/gone").status_code == 200
    wait_for(lambda: not any(alive(pid) for pid in processes))
    for resource in ("services", "routes", "configurations", "revisions"):
        name = "gone-00001" if resource == "revisions" else "gone"
        assert api.get(f"{NS_PATH}/{resource}/{name}").status_code == 404
    assert api.delete(f"{NS_PATH}/services/gone").status_code == 404


def test_watch_streams_events_after_resource_version(api: httpx.Client) -> None:
    listed = api.get(f"{NS_PATH}/services").json()
    since = listed["metadata"]["resourceVersion"]
    api.patch(
        f"{NS_PATH}/services/hello", json={"metadata": {"labels": {"seen": "yes"}}}, headers=MERGE
    ).raise_for_status()
    events = []
    with api.stream(
        "GET",
        f"{NS_PATH}/services",
        params={
            "watch": "1",
            "resourceVersion": since,
            "fieldSelector": "metadata.name=hello",
            "timeoutSeconds": "5",
        },
    ) as stream:
        for line in stream.iter_lines():
            event = json.loads(line)
            events.append(event)
            if event["object"]["metadata"].get("labels", {}).get("seen") == "yes":
                break
    assert events[-1]["type"] == "MODIFIED"
    assert all(e["object"]["metadata"]["name"] == "hello" for e in events)
    api.patch(
        f"{NS_PATH}/services/hello", json={"metadata": {"labels": None}}, headers=MERGE
    ).raise_for_status()


def test_table_view_uses_knative_printer_columns(api: httpx.Client) -> None:
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    table = api.get(f"{NS_PATH}/services/hello", headers=accept).json()
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "URL", "LatestCreated", "LatestReady", "Ready", "Reason"]
    assert table["rows"][0]["cells"][:5] == [
        "hello",
        "http://hello.default.example.com",
        "hello-v2",
        "hello-v2",
        "True",
    ]


def test_discovery_names_knative_resources(api: httpx.Client) -> None:
    assert api.get("/api").json()["versions"] == ["v1"]
    groups = api.get("/apis").json()
    assert groups["groups"][0]["preferredVersion"]["groupVersion"] == "serving.knative.dev/v1"
    resources = {r["name"]: r for r in api.get("/apis/serving.knative.dev/v1").json()["resources"]}
    assert resources["services"]["shortNames"] == ["kservice", "ksvc"]
    assert resources["services"]["namespaced"] is True
    assert "patch" in resources["services"]["verbs"]
    assert api.get("/version").json()["major"] == "1"


def test_bad_bodies_get_status_errors(api: httpx.Client) -> None:
    garbage = api.post(
        f"{NS_PATH}/services", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    assert garbage.json()["kind"] == "Status"
    strategic = api.patch(
        f"{NS_PATH}/services/hello",
        json={},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert strategic.status_code == 415
    bad_op = api.patch(
        f"{NS_PATH}/services/hello",
        json=[{"op": "remove", "path": "/spec/nothing"}],
        headers=JSON_PATCH,
    )
    assert bad_op.status_code == 422
    revisions_are_read_only = api.post(f"{NS_PATH}/revisions", json={})
    assert revisions_are_read_only.status_code == 405


def test_client_vanishing_mid_request_leaves_api_serving(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    address = urlsplit(emulator.api)
    tls = emulator.api_options["verify"]
    auth = emulator.api_options["headers"]["Authorization"]
    head = f"Host: {address.netloc}\r\nAuthorization: {auth}\r\n"
    for _ in range(3):
        with (
            socket.create_connection((address.hostname, address.port)) as raw,
            tls.wrap_socket(raw, server_hostname=address.hostname) as sock,
        ):
            sock.sendall(
                f"POST {NS_PATH}/services HTTP/1.1\r\n{head}"
                'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"api'.encode()
            )
        with (
            socket.create_connection((address.hostname, address.port)) as raw,
            tls.wrap_socket(raw, server_hostname=address.hostname) as sock,
        ):
            sock.sendall(f"GET {NS_PATH}/services?watch=1 HTTP/1.1\r\n{head}\r\n".encode())
            sock.recv(100)
    assert api.get(f"{NS_PATH}/services/hello").status_code == 200
    assert "internal error" not in (emulator.state_dir / "daemon.log").read_text()


def test_prometheus_scrapes_the_revisions_series(emulator: RunningEmulator) -> None:
    if emulator.prometheus is None:
        pytest.skip("no prometheus binary installed: the emulator runs without server-side metrics")
    for _ in range(5):
        httpx.get(emulator.ingress, headers={"Host": emulator.host("hello", tag="v2")}, timeout=60)

    def series() -> list[dict[str, Any]]:
        response = httpx.get(
            f"{emulator.prometheus}/api/v1/query",
            params={"query": 'revision_request_count{revision_name="hello-v2"}'},
            timeout=60,
        )
        found = response.json()["data"]["result"] if response.status_code == 200 else []
        # A scrape may land between the requests: wait for one that counts all five.
        return found if sum(float(s["value"][1]) for s in found) >= 5 else []

    found = wait_for(series)
    labels = found[0]["metric"]
    assert labels["namespace_name"] == "default"
    assert labels["service_name"] == "hello"
