"""Standalone Routes (no Service owns them) through the emulator's REST API and ingress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningEmulator
from tests.local_api.test_rest import JSON_PATCH, MERGE, NS_PATH, ready, service, wait_for

SPLIT = [
    {"revisionName": "hello-v1", "percent": 50},
    {"revisionName": "hello-v2", "percent": 50, "tag": "canary"},
]


def route(name: str, traffic: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Route",
        "metadata": {"name": name, **metadata},
        "spec": {"traffic": traffic},
    }


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def route_ready(api: httpx.Client, name: str, generation: int | None = None) -> dict[str, Any]:
    """The Route once it has reconciled its current (or the given) generation and is Ready."""

    def check() -> dict[str, Any] | None:
        obj = api.get(f"{NS_PATH}/routes/{name}").json()
        wanted = generation or obj["metadata"]["generation"]
        ready_cond = conditions(obj).get("Ready", {})
        if obj["status"].get("observedGeneration") == wanted and ready_cond.get("status") == "True":
            return obj
        return None

    result: dict[str, Any] = wait_for(check)
    return result


def revisions_answering(emulator: RunningEmulator, host: str, requests: int) -> Counter[str]:
    """Which revision answered each of `requests` GETs through the ingress to `host`."""
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=emulator.ingress, headers={"Host": host}, timeout=60) as client:
        for _ in range(requests):
            response = client.get("/")
            assert response.status_code == 200, response.text
            seen[response.headers["K-Revision"]] += 1
    return seen


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with emulator.api_client() as client:
        yield client


def test_created_route_reports_knative_status_and_splits_traffic(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    created = api.post(f"{NS_PATH}/routes", json=route("split", SPLIT))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["metadata"]["generation"] == 1
    assert [t["latestRevision"] for t in body["spec"]["traffic"]] == [False, False]
    obj = route_ready(api, "split")
    status = obj["status"]
    assert status["observedGeneration"] == 1
    assert status["url"] == "http://split.default.example.com"
    assert status["address"]["url"] == "http://split.default.svc.cluster.local"
    assert status["traffic"] == [
        {"revisionName": "hello-v1", "latestRevision": False, "percent": 50},
        {
            "tag": "canary",
            "revisionName": "hello-v2",
            "latestRevision": False,
            "percent": 50,
            "url": "http://canary-split.default.example.com",
        },
    ]
    assert {t: c["status"] for t, c in conditions(obj).items()} == {
        "AllTrafficAssigned": "True",
        "CertificateProvisioned": "True",
        "IngressReady": "True",
        "Ready": "True",
    }
    main = revisions_answering(emulator, emulator.host("split"), 60)
    assert set(main) == {"hello-v1", "hello-v2"}
    tagged = revisions_answering(emulator, emulator.host("split", tag="canary"), 10)
    assert tagged == Counter({"hello-v2": 10})
    # The Service's own Route is untouched by the standalone one.
    assert revisions_answering(emulator, emulator.host("hello"), 5) == Counter({"hello-v1": 5})


def test_merge_and_json_patches_change_the_split(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    api.post(f"{NS_PATH}/routes", json=route("patched", SPLIT)).raise_for_status()
    route_ready(api, "patched")
    merge = {"spec": {"traffic": [{"revisionName": "hello-v1", "percent": 100, "tag": "only"}]}}
    merged = api.patch(f"{NS_PATH}/routes/patched", json=merge, headers=MERGE)
    assert merged.status_code == 200, merged.text
    assert merged.json()["metadata"]["generation"] == 2
    route_ready(api, "patched", generation=2)
    assert revisions_answering(emulator, emulator.host("patched"), 10) == Counter({"hello-v1": 10})
    assert revisions_answering(emulator, emulator.host("patched", tag="only"), 3) == Counter(
        {"hello-v1": 3}
    )
    ops = [{"op": "replace", "path": "/spec/traffic/0/revisionName", "value": "hello-v2"}]
    patched = api.patch(f"{NS_PATH}/routes/patched", json=ops, headers=JSON_PATCH)
    assert patched.status_code == 200, patched.text
    obj = route_ready(api, "patched", generation=3)
    assert obj["status"]["traffic"][0]["revisionName"] == "hello-v2"
    assert revisions_answering(emulator, emulator.host("patched"), 10) == Counter({"hello-v2": 10})


def test_label_change_bumps_resource_version_not_generation(api: httpx.Client) -> None:
    api.post(f"{NS_PATH}/routes", json=route("labelled", SPLIT)).raise_for_status()
    before = route_ready(api, "labelled")
    after = api.patch(
        f"{NS_PATH}/routes/labelled", json={"metadata": {"labels": {"team": "x"}}}, headers=MERGE
    ).json()
    assert after["metadata"]["generation"] == before["metadata"]["generation"] == 1
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["status"] == before["status"]


def test_stale_resource_version_is_409(api: httpx.Client) -> None:
    api.post(f"{NS_PATH}/routes", json=route("occ-route", SPLIT)).raise_for_status()
    current = api.get(f"{NS_PATH}/routes/occ-route").json()
    stale = current["metadata"]["resourceVersion"]
    api.patch(
        f"{NS_PATH}/routes/occ-route", json={"metadata": {"labels": {"x": "1"}}}, headers=MERGE
    ).raise_for_status()
    response = api.patch(
        f"{NS_PATH}/routes/occ-route",
        json={"metadata": {"resourceVersion": stale, "labels": {"x": "2"}}},
        headers=MERGE,
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"
    current["metadata"]["resourceVersion"] = stale
    assert api.put(f"{NS_PATH}/routes/occ-route", json=current).status_code == 409
    assert api.get(f"{NS_PATH}/routes/occ-route").json()["metadata"]["labels"] == {"x": "1"}


def test_invalid_traffic_is_400_with_knative_message_and_stores_nothing(
    api: httpx.Client,
) -> None:
    short = [
        {"revisionName": "hello-v1", "percent": 40},
        {"revisionName": "hello-v2", "percent": 50},
    ]
    response = api.post(f"{NS_PATH}/routes", json=route("short", short))
    # kube-apiserver's answer to a webhook denial: 400 BadRequest, no details.
    assert response.status_code == 400
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
    assert body["message"] == (
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
        "validation failed: Traffic targets sum to 90, want 100: spec.traffic"
    )
    assert "details" not in body
    assert api.get(f"{NS_PATH}/routes/short").status_code == 404
    both = [{"revisionName": "hello-v1", "configurationName": "hello", "percent": 100}]
    response = api.post(f"{NS_PATH}/routes", json=route("both", both))
    assert response.status_code == 400
    assert (
        "expected exactly one, got both: spec.traffic[0].configurationName, "
        "spec.traffic[0].revisionName" in response.json()["message"]
    )
    api.post(f"{NS_PATH}/routes", json=route("kept", SPLIT)).raise_for_status()
    before = api.get(f"{NS_PATH}/routes/kept").json()
    dup = {"spec": {"traffic": [{**t, "tag": "same"} for t in SPLIT]}}
    response = api.patch(f"{NS_PATH}/routes/kept", json=dup, headers=MERGE)
    assert response.status_code == 400
    assert 'Multiple definitions for "same"' in response.json()["message"]
    after = api.get(f"{NS_PATH}/routes/kept").json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_unknown_revision_is_not_ready_with_revision_missing(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    missing = [{"revisionName": "hello-nope", "percent": 100}]
    api.post(f"{NS_PATH}/routes", json=route("dangling", missing)).raise_for_status()

    def assigned() -> dict[str, Any] | None:
        obj = api.get(f"{NS_PATH}/routes/dangling").json()
        return obj if "AllTrafficAssigned" in conditions(obj) else None

    obj = wait_for(assigned)
    cond = conditions(obj)
    assert cond["AllTrafficAssigned"]["status"] == "False"
    assert cond["AllTrafficAssigned"]["reason"] == "RevisionMissing"
    assert cond["AllTrafficAssigned"]["message"] == (
        'Revision "hello-nope" referenced in traffic not found.'
    )
    assert (cond["Ready"]["status"], cond["Ready"]["reason"]) == ("False", "RevisionMissing")
    assert "traffic" not in obj["status"]
    assert obj["status"]["url"] == "http://dangling.default.example.com"
    host = {"Host": emulator.host("dangling")}
    assert httpx.get(emulator.ingress, headers=host, timeout=60).status_code == 404


def test_configuration_target_follows_its_latest_ready_revision(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    latest = [{"configurationName": "hello", "percent": 100, "tag": "latest"}]
    created = api.post(f"{NS_PATH}/routes", json=route("follow", latest))
    assert created.json()["spec"]["traffic"][0]["latestRevision"] is True
    obj = route_ready(api, "follow")
    assert obj["status"]["traffic"] == [
        {
            "tag": "latest",
            "revisionName": "hello-v2",
            "latestRevision": True,
            "percent": 100,
            "url": "http://latest-follow.default.example.com",
        }
    ]
    assert revisions_answering(emulator, emulator.host("follow"), 5) == Counter({"hello-v2": 5})
    gone = [{"configurationName": "nothing", "percent": 100}]
    api.post(f"{NS_PATH}/routes", json=route("follow-nothing", gone)).raise_for_status()

    def missing() -> dict[str, Any] | None:
        cond = conditions(api.get(f"{NS_PATH}/routes/follow-nothing").json())
        return cond.get("AllTrafficAssigned")

    assert wait_for(missing)["reason"] == "ConfigurationMissing"


def test_delete_removes_the_routes_hosts(api: httpx.Client, emulator: RunningEmulator) -> None:
    api.post(f"{NS_PATH}/routes", json=route("doomed", SPLIT)).raise_for_status()
    route_ready(api, "doomed")
    hosts = [emulator.host("doomed"), emulator.host("doomed", tag="canary")]
    assert all(
        httpx.get(emulator.ingress, headers={"Host": h}, timeout=60).status_code == 200
        for h in hosts
    )
    deleted = api.delete(f"{NS_PATH}/routes/doomed")
    assert deleted.status_code == 200
    assert deleted.json()["metadata"]["name"] == "doomed"
    wait_for(
        lambda: all(
            httpx.get(emulator.ingress, headers={"Host": h}, timeout=60).status_code == 404
            for h in hosts
        )
    )
    assert api.get(f"{NS_PATH}/routes/doomed").status_code == 404
    assert api.delete(f"{NS_PATH}/routes/doomed").status_code == 404
    # The revisions it served still serve their Service.
    assert revisions_answering(emulator, emulator.host("hello", tag="v2"), 3) == Counter(
        {"hello-v2": 3}
    )


def test_writes_to_a_services_route_are_405(api: httpx.Client) -> None:
    before = api.get(f"{NS_PATH}/routes/hello").json()
    owned = 'routes.serving.knative.dev "hello": it is owned by Service "hello"'
    patched = api.patch(f"{NS_PATH}/routes/hello", json={"spec": {}}, headers=MERGE)
    assert patched.status_code == 405
    assert patched.json()["message"].startswith(f"patch is not supported on {owned}")
    replaced = api.put(f"{NS_PATH}/routes/hello", json=before)
    assert replaced.status_code == 405
    assert replaced.json()["message"].startswith(f"update is not supported on {owned}")
    deleted = api.delete(f"{NS_PATH}/routes/hello")
    assert deleted.status_code == 405
    assert deleted.json()["reason"] == "MethodNotAllowed"
    taken = api.post(f"{NS_PATH}/routes", json=route("hello", SPLIT))
    assert taken.status_code == 409
    assert taken.json()["reason"] == "AlreadyExists"
    assert api.get(f"{NS_PATH}/routes/hello").json() == before
    config = api.patch(f"{NS_PATH}/configurations/hello", json={}, headers=MERGE)
    assert config.status_code == 405
    verbs = {
        r["name"]: r["verbs"] for r in api.get("/apis/serving.knative.dev/v1").json()["resources"]
    }
    assert {"create", "patch", "update", "delete"} <= set(verbs["routes"])
    assert "patch" not in verbs["configurations"]


def test_route_may_not_claim_a_service_as_owner(api: httpx.Client) -> None:
    svc = api.get(f"{NS_PATH}/services/hello").json()
    owner = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello"}
    claimed = route("claimed", SPLIT, ownerReferences=[{**owner, "uid": svc["metadata"]["uid"]}])
    response = api.post(f"{NS_PATH}/routes", json=claimed)
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "metadata.ownerReferences"
    assert api.get(f"{NS_PATH}/routes/claimed").status_code == 404


def test_service_named_like_a_standalone_route_waits_for_the_name(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    api.post(f"{NS_PATH}/routes", json=route("squat", SPLIT)).raise_for_status()
    route_ready(api, "squat")
    api.post(f"{NS_PATH}/services", json=service("squat", "s")).raise_for_status()

    def not_owned() -> dict[str, Any] | None:
        cond = conditions(api.get(f"{NS_PATH}/services/squat").json()).get("RoutesReady", {})
        return cond if cond.get("reason") == "NotOwned" else None

    cond = wait_for(not_owned)
    assert cond["status"] == "False"
    assert cond["message"] == 'There is an existing Route "squat" that we do not own.'
    standalone = api.get(f"{NS_PATH}/routes/squat").json()
    assert "ownerReferences" not in standalone["metadata"]
    assert set(revisions_answering(emulator, emulator.host("squat"), 20)) <= {
        "hello-v1",
        "hello-v2",
    }
    api.delete(f"{NS_PATH}/routes/squat").raise_for_status()
    svc = wait_for(lambda: ready(api, "squat"))
    assert svc["status"]["traffic"][0]["revisionName"] == "squat-00001"
    assert revisions_answering(emulator, emulator.host("squat"), 3) == Counter({"squat-00001": 3})
    api.delete(f"{NS_PATH}/services/squat").raise_for_status()
