"""Bounds on the load one machine is asked to generate (harness.load.limits)."""

from __future__ import annotations

import os

import pytest

from harness.errors import BadInput
from harness.load.limits import MAX_TOTAL_RATE, MAX_TOTAL_USERS, max_local_workers
from harness.load.plan import MAX_USERS_PER_ARM, Distribution, LoadPlan, Pacing
from harness.load.targets import url_arm


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), 1e12, MAX_TOTAL_RATE + 1])
def test_open_pacing_refuses_rates_no_machine_sends(rate: float) -> None:
    with pytest.raises(BadInput, match="--rate"):
        Pacing.open(rate)


def test_the_rate_bound_is_a_total_over_arms() -> None:
    arms = (url_arm("http://127.0.0.1:1/", "a"), url_arm("http://127.0.0.1:1/", "b"))
    LoadPlan(arms[:1], Pacing.open(MAX_TOTAL_RATE), 1.0).validate()
    with pytest.raises(BadInput, match="over 2 arms exceeds 100,000"):
        LoadPlan(arms, Pacing.open(MAX_TOTAL_RATE / 2 + 1), 1.0).validate()


def test_the_user_bound_is_a_total_over_arms() -> None:
    arms = tuple(url_arm("http://127.0.0.1:1/", f"a{i}") for i in range(3))
    assert MAX_USERS_PER_ARM * 3 > MAX_TOTAL_USERS
    with pytest.raises(BadInput, match="users in all"):
        LoadPlan(arms, Pacing.closed(MAX_USERS_PER_ARM), 1.0).validate()


def test_local_workers_are_bounded_by_the_cores() -> None:
    most = max_local_workers()
    assert most == 4 * len(os.sched_getaffinity(0))
    Distribution(local_workers=most).validate()
    with pytest.raises(BadInput, match=f"at most {most}"):
        Distribution(local_workers=most + 1).validate()
    # workers on other machines are theirs to bound
    Distribution(remote_workers=1000).validate()
