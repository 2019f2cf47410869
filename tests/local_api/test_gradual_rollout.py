"""`serving.knative.dev/rollout-duration` on the emulator: a new latest revision takes its
traffic gradually (1%, then equal steps), as Knative's route reconciler does."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningEmulator
from tests.local_api.test_rest import MERGE, NS_PATH, ready, service, wait_for
from tests.local_api.test_routes import conditions, route, route_ready

DURATION = "serving.knative.dev/rollout-duration"


def with_target(target: str) -> dict[str, Any]:
    """A merge patch giving the Service a new template (so a new revision)."""
    container = {"image": "x", "env": [{"name": "TARGET", "value": target}]}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def latest(revision: str, percent: int, **extra: Any) -> dict[str, Any]:
    return {"revisionName": revision, "latestRevision": True, "percent": percent, **extra}


def watched(
    api: httpx.Client, resource: str, name: str, since: str, last: Callable[[Any], bool]
) -> list[dict[str, Any]]:
    """Every state the object was written in after resourceVersion `since`, up to the first
    for which `last` holds: from a watch, which replays the store's history, so no state
    is missed however slowly a loaded machine runs this test's polls."""
    states: list[dict[str, Any]] = []
    params = {
        "watch": "1",
        "resourceVersion": since,
        "fieldSelector": f"metadata.name={name}",
        "timeoutSeconds": "60",
    }
    with api.stream("GET", f"{NS_PATH}/{resource}", params=params) as stream:
        for line in stream.iter_lines():
            event = json.loads(line)
            states.append(event["object"])
            if last(event["object"]):
                return states
    raise AssertionError(f"{resource}/{name}: the watch ended before the last state: {states}")


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with emulator.api_client() as client:
        yield client


def test_service_rollout_duration_moves_traffic_in_knatives_steps(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    body = service("roll", "a")
    body["metadata"]["annotations"] = {DURATION: "4s"}
    api.post(f"{NS_PATH}/services", json=body).raise_for_status()
    first = wait_for(lambda: ready(api, "roll"))
    assert first["status"]["traffic"] == [latest("roll-00001", 100)]  # nothing to roll from
    patched_at = time.monotonic()
    patched = api.patch(f"{NS_PATH}/services/roll", json=with_target("b"), headers=MERGE)
    patched.raise_for_status()

    def rolling() -> dict[str, Any] | None:
        obj: dict[str, Any] = api.get(f"{NS_PATH}/services/roll").json()
        names = [t["revisionName"] for t in obj["status"].get("traffic", [])]
        return obj if "roll-00002" in names else None

    wait_for(rolling)
    seen_rolling_at = time.monotonic()
    answered: Counter[str] = Counter()
    with httpx.Client(
        base_url=emulator.ingress, headers={"Host": emulator.host("roll")}, timeout=60
    ) as ingress:
        while True:
            traffic = api.get(f"{NS_PATH}/services/roll").json()["status"]["traffic"]
            if traffic == [latest("roll-00002", 100)]:
                break
            assert time.monotonic() - seen_rolling_at < 60, f"rollout not done: {traffic}"
            for _ in range(3):
                answered[ingress.get("/").headers["K-Revision"]] += 1
    done_at = time.monotonic()
    # 4 s: the first second at 1% counts as Knative's ingress-ready time, then 3 steps of
    # 33, each taken at least 1 s after the one before: the 100% split cannot come sooner
    # than 3 s after the patch (exact on the shared monotonic clock, whatever the load).
    assert done_at - patched_at >= 3.0, done_at - patched_at
    # Nor much later than the 4 s asked for once the rollout has begun; the bound has
    # headroom for a loaded machine, where the emulator's step timer and our polls run late.
    assert done_at - seen_rolling_at <= 20, done_at - seen_rolling_at
    # Every state the Service went through: 1% first, then Knative's steps.
    states = watched(
        api,
        "services",
        "roll",
        patched.json()["metadata"]["resourceVersion"],
        lambda obj: obj.get("status", {}).get("traffic") == [latest("roll-00002", 100)],
    )
    started = next(
        obj
        for obj in states
        if "roll-00002" in [t["revisionName"] for t in obj.get("status", {}).get("traffic", [])]
    )
    assert started["status"]["traffic"] == [latest("roll-00001", 99), latest("roll-00002", 1)]
    assert started["status"]["latestReadyRevisionName"] == "roll-00002"
    state = conditions(started)
    assert state["Ready"]["status"] == "Unknown"
    assert state["RoutesReady"]["reason"] == "RolloutInProgress"
    new_percents = {
        t["percent"]
        for obj in states
        for t in obj.get("status", {}).get("traffic", [])
        if t["revisionName"] == "roll-00002"
    }
    assert {1, 100} <= new_percents <= {1, 34, 67, 100}
    assert len(new_percents) >= 3
    assert answered["roll-00001"] > 0 and answered["roll-00002"] > 0
    assert ready(api, "roll") is not None


def test_without_duration_service_switches_at_once_and_annotated_route_rolls_out(
    api: httpx.Client,
) -> None:
    api.post(f"{NS_PATH}/services", json=service("plain", "a")).raise_for_status()
    wait_for(lambda: ready(api, "plain"))
    follow = route(
        "follow",
        [{"configurationName": "plain", "percent": 100, "tag": "live"}],
        annotations={"serving.knative.dev/rolloutDuration": "2s"},
    )
    api.post(f"{NS_PATH}/routes", json=follow).raise_for_status()
    url = "http://live-follow.default.example.com"
    assert route_ready(api, "follow")["status"]["traffic"] == [
        latest("plain-00001", 100, tag="live", url=url)
    ]
    patched = api.patch(f"{NS_PATH}/services/plain", json=with_target("b"), headers=MERGE)
    patched.raise_for_status()
    since = patched.json()["metadata"]["resourceVersion"]

    def rolled_out() -> dict[str, Any] | None:
        obj = route_ready(api, "follow")  # Ready before the rollout starts, too
        done = obj["status"]["traffic"] == [latest("plain-00002", 100, tag="live", url=url)]
        return obj if done else None

    done = wait_for(rolled_out)
    # Every state the Route and the Service went through (a watch replays them all, so
    # the 1 s at 1% is seen however slowly this test polls).
    routes = watched(
        api,
        "routes",
        "follow",
        since,
        lambda obj: (
            obj.get("status", {}).get("traffic")
            == [latest("plain-00002", 100, tag="live", url=url)]
        ),
    )
    rolling = next(obj for obj in routes if len(obj.get("status", {}).get("traffic", [])) == 2)
    assert rolling["status"]["traffic"] == [
        latest("plain-00001", 99, tag="live", url=url),
        latest("plain-00002", 1, tag="live", url=url),
    ]
    assert conditions(rolling)["IngressReady"]["reason"] == "RolloutInProgress"
    assert done["status"]["traffic"] == [latest("plain-00002", 100, tag="live", url=url)]
    settled = wait_for(lambda: ready(api, "plain"))
    assert settled["status"]["traffic"] == [latest("plain-00002", 100)]
    # The Service itself never rolled out: one traffic entry in every state it was in
    # until it settled, while its Route rolled out.
    settled_version = int(settled["metadata"]["resourceVersion"])
    services = watched(
        api,
        "services",
        "plain",
        since,
        lambda obj: int(obj["metadata"]["resourceVersion"]) >= settled_version,
    )
    service_traffic = [obj.get("status", {}).get("traffic", []) for obj in services]
    assert all(len(traffic) == 1 for traffic in service_traffic), service_traffic
