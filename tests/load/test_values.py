"""The load path's plain values: targets, plans, per-arm statistics and their merges."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import Histogram
from harness.errors import BadInput
from harness.load.plan import LoadPlan, Pacing, UserCode, budget_shares
from harness.load.recorder import INVALID_REVISION, MAX_REVISIONS_PER_ARM, OTHER_REVISION, Recorder
from harness.load.stats import ArmStats, arms_from_wire, arms_to_wire, merge_arms
from harness.load.summary import RunSummary
from harness.load.targets import Arm, url_arm


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/",
        "http://user:pw@host/",
        "http://host/#frag",
        "http://host:99999/",
        "http://ho st/",
        "http://host/a b",
        "http://'quote/",
        "http://",
    ],
)
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(BadInput):
        url_arm(url)


def test_url_arm_via_ingress_keeps_path_and_sets_host() -> None:
    arm = url_arm("http://v2-hello.default.example.com/api?x=1", "canary", "http://127.0.0.1:31080")
    assert arm == Arm("canary", "http://127.0.0.1:31080/api?x=1", "v2-hello.default.example.com")
    assert (arm.base_url, arm.path) == ("http://127.0.0.1:31080", "/api?x=1")
    with pytest.raises(BadInput):
        url_arm("http://a.example.com/", "x", "http://127.0.0.1:31080/some/path")
    with pytest.raises(BadInput):
        url_arm("http://a.example.com/", "Not_A_Label")


def test_open_pacing_spreads_the_rate_over_enough_users() -> None:
    assert Pacing.open(rate=300).users == 75
    assert Pacing.open(rate=0.5).users == 1
    assert Pacing.open(rate=50, users=3).users == 3
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(BadInput):
            Pacing.open(rate=bad)
    with pytest.raises(BadInput):
        Pacing.closed(users=0)


def test_plan_round_trips_and_refuses_rate_with_own_locustfile() -> None:
    plan = LoadPlan(
        arms=(url_arm("http://127.0.0.1:1/", "a"),),
        pacing=Pacing.closed(users=3, wait_s=0.5),
        duration_s=12.0,
        max_requests=40,
        shape="ramp",
        user_code=UserCode("mine.py", "print('hi')"),
    )
    assert LoadPlan.from_wire(plan.to_wire()) == plan
    with pytest.raises(BadInput, match="--rate"):
        LoadPlan(plan.arms, Pacing.open(rate=10), 5.0, user_code=plan.user_code).validate()


def test_budget_shares_add_up() -> None:
    assert budget_shares(10, 3) == [4, 3, 3]
    assert sum(budget_shares(1501, 4)) == 1501  # type: ignore[arg-type]
    assert budget_shares(None, 2) == [None, None]


def test_merged_arm_stats_equal_the_stats_of_all_requests() -> None:
    rng = np.random.default_rng(7)
    first, second = rng.lognormal(3, 0.5, 5000), rng.lognormal(3.2, 0.4, 3000)
    a = ArmStats(
        requests=5000, errors_5xx=3, latency=Histogram.from_samples(first), revisions={"r1": 5000}
    )
    b = ArmStats(
        requests=3001,
        timeouts=1,
        latency=Histogram.from_samples(second),
        revisions={"r1": 2000, "r2": 1000},
    )
    merged = merge_arms({"x": a}, {"x": b})["x"]
    assert merged.latency == Histogram.from_samples(np.concatenate([first, second]))
    assert (merged.requests, merged.errors, merged.failures) == (8001, 4, 4)
    assert dict(merged.revisions) == {"r1": 7000, "r2": 1000}
    assert arms_from_wire(arms_to_wire({"x": merged}))["x"] == merged
    snapshot = merged.to_snapshot()
    assert (snapshot.requests, snapshot.errors, snapshot.latency) == (8001, 4, merged.latency)


class _Response:
    """The two attributes the recorder reads of a Locust response."""

    def __init__(self, status: int, revision: str | None = None) -> None:
        self.status_code = status
        self.headers = {"K-Revision": revision} if revision else {}


def test_recorder_bounds_revision_names_and_adds_open_model_lag() -> None:
    recorder = Recorder(["a"])
    for i in range(MAX_REVISIONS_PER_ARM + 5):
        recorder.on_request("a", 10.0, _Response(200, f"hello-{i:05d}"))
    recorder.on_request("a", 10.0, _Response(200, "../../etc"), context={"harness_lag_ms": 90.0})
    recorder.on_request("elsewhere", 1.0, _Response(200))
    stats = recorder.take()["a"]
    assert stats.requests == MAX_REVISIONS_PER_ARM + 6
    assert stats.revisions[OTHER_REVISION] == 5
    assert stats.revisions[INVALID_REVISION] == 1
    assert len(stats.revisions) == MAX_REVISIONS_PER_ARM + 2
    assert stats.latency.max == pytest.approx(100.0)
    assert recorder.take()["a"].requests == 0, "take() hands over a delta"


def test_summary_json_totals_sum_the_arms() -> None:
    a = ArmStats(requests=100, errors_4xx=2, latency=Histogram.from_samples(np.full(100, 5.0)))
    b = ArmStats(requests=50, connection_errors=50)
    document = RunSummary({"a": a, "b": b}, duration_s=10.0).to_json()
    assert (document["requests"], document["failures"], document["rps"]) == (150, 52, 15.0)
    assert document["arms"]["b"]["latency_ms"] == {
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
    }
    assert document["errors"] == {"5xx": 0, "4xx": 2, "connection": 50, "timeout": 0}


@pytest.mark.parametrize(
    "arm",
    [
        Arm("Bad Name", "http://127.0.0.1:1/"),
        Arm("a", "gopher://127.0.0.1:1/"),
        Arm("a", "http://127.0.0.1:1/", host_header="evil.example.com\r\nX-Injected: 1"),
        Arm("a", "http://127.0.0.1:1/", host_header="a/b"),
    ],
)
def test_hand_built_arms_are_validated_before_a_run(arm: Arm) -> None:
    with pytest.raises(BadInput):
        LoadPlan(arms=(arm,), pacing=Pacing.closed(users=1), duration_s=1.0).validate()
