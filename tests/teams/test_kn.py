"""The `kn service update` line of a traffic change (pure formatting)."""

from __future__ import annotations

import shlex

from harness.canary.controller import Plan
from harness.knative.kn import kn_update_line, plan_lines
from harness.knative.model import ServiceState
from harness.knative.traffic import TrafficTarget as T


def test_a_canary_step_names_every_revision_and_tag() -> None:
    before = [
        T(percent=100, revision_name="hello-v1", tag="v1"),
        T(percent=0, revision_name="hello-v2", tag="v2"),
    ]
    after = [
        T(percent=90, revision_name="hello-v1", tag="v1"),
        T(percent=10, revision_name="hello-v2", tag="v2"),
    ]
    assert kn_update_line("hello", "default", after, before) == (
        "kn service update hello -n default --tag hello-v1=v1 --tag hello-v2=v2 "
        "--traffic hello-v1=90 --traffic hello-v2=10"
    )


def test_dropped_tags_are_untagged_and_latest_is_at_latest() -> None:
    before = [
        T(percent=100, latest_revision=True),
        T(percent=0, revision_name="hello-v1", tag="baseline"),
        T(percent=0, revision_name="hello-v2", tag="canary"),
    ]
    after = [T(percent=100, revision_name="hello-v2", tag="stable")]
    line = kn_update_line("hello", "team-a", after, before)
    assert line == (
        "kn service update hello -n team-a --untag baseline --untag canary "
        "--tag hello-v2=stable --traffic hello-v2=100"
    )
    latest = kn_update_line("hello", "default", [T(percent=100, latest_revision=True, tag="cur")])
    assert latest == "kn service update hello -n default --tag @latest=cur --traffic @latest=100"


def test_a_revision_in_several_entries_gets_one_traffic_flag_with_its_total() -> None:
    after = [
        T(percent=60, revision_name="hello-v1", tag="a"),
        T(percent=0, revision_name="hello-v1", tag="b"),
        T(percent=40, revision_name="hello-v2"),
    ]
    words = shlex.split(kn_update_line("hello", "default", after))
    traffic = [words[i + 1] for i, w in enumerate(words) if w == "--traffic"]
    tags = [words[i + 1] for i, w in enumerate(words) if w == "--tag"]
    assert traffic == ["hello-v1=60", "hello-v2=40"]
    assert tags == ["hello-v1=a", "hello-v1=b"]


def test_plan_lines_cover_each_step_the_promotion_and_the_rollback() -> None:
    original = (
        T(percent=100, revision_name="hello-v1", tag="v1"),
        T(percent=0, revision_name="hello-v2", tag="v2"),
    )
    plan = Plan(
        namespace="default",
        service="hello",
        baseline="hello-v1",
        canary="hello-v2",
        baseline_tag="v1",
        canary_tag="v2",
        added_tags=(),
        original_traffic=original,
        steps=(10, 100),
        step_interval_s=1,
        look_interval_s=1,
        warmup_s=0,
        max_duration_s=10,
    )
    state = ServiceState(
        name="hello", namespace="default", spec_traffic=original, latest_ready_revision="hello-v2"
    )
    lines = plan_lines(plan, state)
    assert lines == [
        "step 10%: kn service update hello -n default --tag hello-v1=v1 --tag hello-v2=v2 "
        "--traffic hello-v1=90 --traffic hello-v2=10",
        "step 100%: kn service update hello -n default --tag hello-v1=v1 --tag hello-v2=v2 "
        "--traffic hello-v1=0 --traffic hello-v2=100",
        "promote: kn service update hello -n default --tag hello-v1=v1 --tag hello-v2=v2 "
        "--traffic hello-v1=0 --traffic hello-v2=100",
        "rollback: kn service update hello -n default --tag hello-v1=v1 --tag hello-v2=v2 "
        "--traffic hello-v1=100 --traffic hello-v2=0",
    ]
