"""The sample app's time-correlated fault knobs: stalls, error bursts, pod speed."""

from __future__ import annotations

import math

import pytest

from harness.local.app import AppKnobs, KnobError, SampleApp


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stall_delays_every_request_of_that_second_by_the_same_amount() -> None:
    knobs = AppKnobs(latency_ms=0.0, stall_rate=0.3, stall_ms=200.0, seed=3, revision="r1")
    clock = Clock()
    app = SampleApp(knobs, clock)
    per_second = []
    for second in range(200):
        clock.now = second + 0.5
        delays = {app.draw()[1] for _ in range(20)}
        assert len(delays) == 1  # the whole second shares one stall (or none)
        per_second.append(delays.pop())
    stalled = [d for d in per_second if d > 0]
    assert 0.15 < len(stalled) / 200 < 0.45
    assert all(d <= 0.2 for d in stalled)


def test_an_error_burst_fails_a_share_of_that_seconds_requests() -> None:
    knobs = AppKnobs(
        latency_ms=0.0, error_burst_rate=0.1, error_burst_errors=1.0, seed=5, revision="r"
    )
    clock = Clock()
    app = SampleApp(knobs, clock)
    failed_seconds = 0
    for second in range(300):
        clock.now = float(second)
        statuses = {app.draw()[0] for _ in range(10)}
        assert len(statuses) == 1  # a burst second fails all (errors 1.0), others none
        failed_seconds += statuses == {500}
    assert 10 < failed_seconds < 60


def test_pod_speed_differs_between_pods_and_revisions_of_the_same_seed() -> None:
    speeds = {
        SampleApp(AppKnobs(pod_speed_sd=0.05, seed=1, revision=rev, pod=pod)).speed
        for rev in ("a", "b")
        for pod in ("p1", "p2")
    }
    assert len(speeds) == 4
    assert all(0.8 < s < 1.25 for s in speeds)
    same = AppKnobs(pod_speed_sd=0.05, seed=1, revision="a", pod="p1")
    assert SampleApp(same).speed == SampleApp(same).speed  # reproducible


def test_fault_knobs_come_from_the_env_and_bad_values_are_one_line() -> None:
    knobs = AppKnobs.from_env(
        {
            "SIM_STALL_RATE": "0.01",
            "SIM_STALL_MS": "300",
            "SIM_ERROR_BURST_RATE": "0.005",
            "SIM_ERROR_BURST_ERRORS": "0.2",
            "SIM_POD_SPEED_SD": "0.02",
            "SERVING_POD": "hello-00001-deployment-1",
        }
    )
    assert (knobs.stall_rate, knobs.stall_ms) == (0.01, 300.0)
    assert (knobs.error_burst_rate, knobs.error_burst_errors) == (0.005, 0.2)
    assert math.isclose(knobs.pod_speed_sd, 0.02)
    assert knobs.pod == "hello-00001-deployment-1"
    with pytest.raises(KnobError, match=r"invalid SIM_STALL_RATE='2': want a number between"):
        AppKnobs.from_env({"SIM_STALL_RATE": "2"})
