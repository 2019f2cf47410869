"""The emulator's gradual-rollout schedule (Knative's `rollout.go`), without processes."""

from __future__ import annotations

import pytest

from harness.knative.traffic import TrafficTarget
from harness.local.rollout_schedule import (
    RevisionShare,
    RolloutKey,
    TargetRollout,
    advance,
    next_step_at,
    rollout_duration_s,
    step_plan,
)
from harness.local.router import RouteBackend, route_hosts

MAIN: RolloutKey = ("", "hello")


def shares(
    rollouts: dict[RolloutKey, TargetRollout], key: RolloutKey = MAIN
) -> list[tuple[str, int]]:
    return [(s.revision, s.percent) for s in rollouts[key].shares]


@pytest.mark.parametrize(
    ("percent", "duration_s", "plan"),
    [
        (100, 4, (33, 1.0)),  # 1% -> 34 -> 67 -> 100, one step a second
        (100, 1, (99, 1.0)),  # shorter than the first step: one step
        (100, 7, (17, 1.0)),  # 99 / 6 = 16.5 rounds half away from zero, as Go does
        (100, 300, (1, 299 / 99)),  # at most one step per remaining percent
        (50, 11, (5, 1.0)),  # a target's share, not the Route's whole traffic
        (2, 10, (1, 9.0)),
    ],
)
def test_step_plan_follows_knatives_compute_properties(
    percent: int, duration_s: int, plan: tuple[int, float]
) -> None:
    assert step_plan(percent, duration_s) == pytest.approx(plan)


def test_new_revision_gets_one_percent_then_equal_steps_until_it_has_everything() -> None:
    state = advance(None, {MAIN: ("v1", 100)}, 4, now=0.0)
    assert shares(state) == [("v1", 100)]
    state = advance(state, {MAIN: ("v2", 100)}, 4, now=10.0)
    assert shares(state) == [("v1", 99), ("v2", 1)]
    assert next_step_at(state) == 11.0
    assert shares(advance(state, {MAIN: ("v2", 100)}, 4, now=10.5)) == [("v1", 99), ("v2", 1)]
    seen = []
    for now in (11.0, 12.0, 13.0):
        state = advance(state, {MAIN: ("v2", 100)}, 4, now=now)
        seen.append(shares(state))
    assert seen == [[("v1", 66), ("v2", 34)], [("v1", 33), ("v2", 67)], [("v2", 100)]]
    assert next_step_at(state) is None
    assert not state[MAIN].in_progress


def test_revision_arriving_mid_rollout_takes_its_percent_from_the_newest_first() -> None:
    state = advance(None, {MAIN: ("v1", 100)}, 4, now=0.0)
    state = advance(state, {MAIN: ("v2", 100)}, 4, now=0.0)
    state = advance(state, {MAIN: ("v2", 100)}, 4, now=1.0)
    assert shares(state) == [("v1", 66), ("v2", 34)]
    state = advance(state, {MAIN: ("v3", 100)}, 4, now=1.5)
    assert shares(state) == [("v1", 66), ("v2", 33), ("v3", 1)]
    assert next_step_at(state) == 2.5  # a fresh schedule
    state = advance(state, {MAIN: ("v3", 100)}, 4, now=2.5)
    assert shares(state) == [("v1", 66), ("v3", 34)]


def test_no_rollout_without_previous_state_duration_or_more_than_one_percent() -> None:
    assert shares(advance(None, {MAIN: ("v2", 100)}, 4, now=0.0)) == [("v2", 100)]
    before = {MAIN: TargetRollout.settled("v1", 100)}
    assert shares(advance(before, {MAIN: ("v2", 100)}, 0, now=0.0)) == [("v2", 100)]
    one = {MAIN: TargetRollout.settled("v1", 1)}
    assert shares(advance(one, {MAIN: ("v2", 1)}, 4, now=0.0)) == [("v2", 1)]
    assert advance(before, {MAIN: ("v2", 0)}, 4, now=0.0) == {}
    tagged: RolloutKey = ("canary", "hello")  # a group (tag) not served before
    assert shares(advance(before, {tagged: ("v2", 100)}, 4, now=0.0), tagged) == [("v2", 100)]


def test_removing_the_duration_mid_rollout_finishes_at_once() -> None:
    state = advance({MAIN: TargetRollout.settled("v1", 100)}, {MAIN: ("v2", 100)}, 4, now=0.0)
    assert state[MAIN].in_progress
    assert shares(advance(state, {MAIN: ("v2", 100)}, 0, now=0.1)) == [("v2", 100)]


def test_group_percent_change_mid_rollout_grows_the_newest_and_shrinks_the_oldest() -> None:
    rolling = TargetRollout(
        50, (RevisionShare("v1", 30), RevisionShare("v2", 20)), 10, 1.0, next_step_at=5.0
    )
    grown = advance({MAIN: rolling}, {MAIN: ("v2", 80)}, 10, now=0.0)
    assert shares(grown) == [("v1", 30), ("v2", 50)]
    shrunk = advance({MAIN: rolling}, {MAIN: ("v2", 25)}, 10, now=0.0)
    assert shares(shrunk) == [("v1", 5), ("v2", 20)]


def test_rollout_duration_annotation_in_whole_seconds_kebab_case_first() -> None:
    key, alias = "serving.knative.dev/rollout-duration", "serving.knative.dev/rolloutDuration"
    assert rollout_duration_s({key: "4s"}) == 4
    assert rollout_duration_s({alias: "2m"}) == 120
    assert rollout_duration_s({key: "10s", alias: "2m"}) == 10
    assert rollout_duration_s({}) == 0
    assert rollout_duration_s({key: ""}) == 0


def test_tag_host_of_a_rolling_tagged_target_splits_like_the_main_host() -> None:
    traffic = [
        TrafficTarget(percent=99, revision_name="v1", tag="live", latest_revision=True),
        TrafficTarget(percent=1, revision_name="v2", tag="live", latest_revision=True),
    ]
    routes = route_hosts("default", "hello", traffic, domain="example.com")
    expected = (RouteBackend("default", "v1", 99), RouteBackend("default", "v2", 1))
    assert routes["hello.default.example.com"].backends == expected
    assert routes["live-hello.default.example.com"].backends == expected
