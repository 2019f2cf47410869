"""TrafficTarget JSON, Knative's traffic rules, and the canary/promotion block builders."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.knative.field_error import format_errors
from harness.knative.traffic import (
    TrafficTarget,
    canary_split,
    promote_split,
    tag_of,
    targets_from_list,
    traffic_merge_patch,
    validate_traffic,
)

T = TrafficTarget


def test_round_trip_in_camel_case() -> None:
    data = {"tag": "canary", "revisionName": "hello-v2", "latestRevision": False, "percent": 5}
    target = T.from_dict(data)
    assert target == T(percent=5, revision_name="hello-v2", tag="canary", latest_revision=False)
    assert target.to_dict() == data
    assert T().to_dict() == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"percent": "50"}, "percent must be of type integer, not string"),
        ({"percent": True}, "percent must be of type integer, not boolean"),
        ({"latestRevision": "true"}, "latestRevision must be of type boolean"),
        ({"precent": 5}, 'unknown field "precent"'),
    ],
)
def test_from_dict_rejects_wrong_shapes(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        T.from_dict(data)


def test_targets_from_list_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"traffic\[1\]"):
        targets_from_list([{"percent": 100}, {"percent": "x"}])
    assert targets_from_list(None) == []


def _messages(targets: list[TrafficTarget], in_service: bool = True) -> list[str]:
    return [str(e) for e in validate_traffic(targets, in_service=in_service)]


def test_valid_blocks_have_no_errors() -> None:
    assert _messages([T(percent=100, latest_revision=True)]) == []
    assert (
        _messages([T(percent=90, revision_name="a-1"), T(percent=10, revision_name="a-2", tag="c")])
        == []
    )


def test_sum_must_be_100() -> None:
    assert _messages([T(percent=60, revision_name="a-1"), T(revision_name="a-2")]) == [
        "Traffic targets sum to 60, want 100: spec.traffic"
    ]


def test_percent_out_of_range_has_knative_path() -> None:
    errors = _messages([T(percent=101, revision_name="a-1"), T(percent=-1, revision_name="a-2")])
    assert "expected 0 <= 101 <= 100: spec.traffic[0].percent" in errors
    assert "expected 0 <= -1 <= 100: spec.traffic[1].percent" in errors


def test_tag_must_be_dns_label_and_unique() -> None:
    targets = [
        T(percent=100, revision_name="a-1", tag="Prod"),
        T(percent=0, revision_name="a-2", tag="x"),
        T(percent=0, revision_name="a-3", tag="x"),
    ]
    text = format_errors(validate_traffic(targets))
    assert 'Multiple definitions for "x": spec.traffic[1].tag, spec.traffic[2].tag' in text
    assert "invalid value: not a DNS 1035 label: [a DNS-1035 label must" in text
    assert text.splitlines()[-1].endswith(": spec.traffic.tag[0]")


def test_latest_revision_sense_must_match() -> None:
    assert _messages([T(percent=100, revision_name="a-1", latest_revision=True)]) == [
        'may not set revisionName "a-1" when latestRevision is true: spec.traffic[0].latestRevision'
    ]
    assert _messages([T(percent=100, latest_revision=False)]) == [
        'may not set revisionName "" when latestRevision is false: spec.traffic[0].latestRevision'
    ]


def test_service_rejects_configuration_name_and_url() -> None:
    errors = _messages([T(percent=100, configuration_name="c", url="http://x", tag="t")])
    assert errors == [
        "must not set the field(s): spec.traffic[0].configurationName",
        "must not set the field(s): spec.traffic[0].url",
    ]


def test_route_needs_exactly_one_of_revision_or_configuration() -> None:
    assert _messages([T(percent=100)], in_service=False) == [
        "expected exactly one, got neither: spec.traffic[0].configurationName, "
        "spec.traffic[0].revisionName"
    ]
    both = [T(percent=100, revision_name="r", configuration_name="c", latest_revision=False)]
    assert _messages(both, in_service=False) == [
        "expected exactly one, got both: spec.traffic[0].configurationName, "
        "spec.traffic[0].revisionName"
    ]
    assert _messages([T(percent=100, configuration_name="c")], in_service=False) == []


def test_revision_name_must_be_a_qualified_name() -> None:
    (error,) = validate_traffic([T(percent=100, revision_name="-bad")])
    assert error.message == 'invalid key name "-bad"'
    assert error.paths == ("spec.traffic[0].revisionName",)
    assert error.details.startswith("name part must consist")


def test_merge_patch_touches_only_spec_traffic_and_drops_url() -> None:
    patch = traffic_merge_patch([T(percent=100, revision_name="a-1", tag="t", url="http://x")])
    assert patch == {"spec": {"traffic": [{"tag": "t", "revisionName": "a-1", "percent": 100}]}}


# --- canary_split ---------------------------------------------------------------------


def _split(current: list[TrafficTarget], percent: int, **kw: object) -> list[TrafficTarget]:
    args: dict[str, object] = {
        "baseline": "hello-v1",
        "canary": "hello-v2",
        "canary_percent": percent,
        "baseline_tag": "baseline",
        "canary_tag": "canary",
        "latest_ready": "hello-v2",
    }
    args.update(kw)
    return canary_split(current, **args)  # type: ignore[arg-type]


def test_canary_gets_its_percent_baseline_the_rest() -> None:
    current = [T(percent=100, revision_name="hello-v1")]
    assert _split(current, 5) == [
        T(percent=95, revision_name="hello-v1", tag="baseline", latest_revision=False),
        T(percent=5, revision_name="hello-v2", tag="canary", latest_revision=False),
    ]


def test_other_revisions_keep_their_entries() -> None:
    other = T(percent=10, revision_name="hello-v0", tag="old")
    current = [other, T(percent=90, revision_name="hello-v1")]
    result = _split(current, 25)
    assert result[0] == other
    assert [t.percent for t in result] == [10, 65, 25]


def test_impossible_split_raises() -> None:
    current = [T(percent=80, revision_name="hello-v0"), T(percent=20, revision_name="hello-v1")]
    with pytest.raises(ValueError, match="other revisions hold 80%"):
        _split(current, 50)


def test_existing_tags_are_reused_and_extra_tags_kept() -> None:
    current = [
        T(percent=100, revision_name="hello-v1", tag="stable"),
        T(percent=0, revision_name="hello-v1", tag="blue"),
        T(percent=0, revision_name="hello-v2", tag="v2"),
    ]
    result = _split(current, 50)
    assert result == [
        T(percent=50, revision_name="hello-v1", tag="stable", latest_revision=False),
        T(percent=0, revision_name="hello-v1", tag="blue", latest_revision=False),
        T(percent=50, revision_name="hello-v2", tag="v2", latest_revision=False),
    ]
    assert tag_of(result, "hello-v2") == "v2"


def test_latest_revision_entries_are_pinned_to_latest_ready() -> None:
    current = [T(percent=100, latest_revision=True)]
    result = _split(current, 1, latest_ready="hello-v1")
    assert all(t.latest_revision is False and t.revision_name for t in result)
    assert [(t.revision_name, t.percent) for t in result] == [("hello-v1", 99), ("hello-v2", 1)]


def test_latest_entries_without_a_ready_revision_raise() -> None:
    with pytest.raises(ValueError, match="no revision is ready"):
        _split([T(percent=100, latest_revision=True)], 5, latest_ready=None)


def test_entries_of_one_revision_are_merged() -> None:
    current = [T(percent=60, revision_name="hello-v1"), T(percent=40, revision_name="hello-v1")]
    result = _split(current, 10)
    assert [(t.revision_name, t.percent) for t in result] == [("hello-v1", 90), ("hello-v2", 10)]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"canary": "hello-v1"}, "same revision"),
        ({"canary_tag": "Canary"}, "not a DNS-1035 label"),
        ({"canary_tag": "baseline"}, "cannot share the tag"),
        ({"canary_percent": 101}, "not in 0..100"),
    ],
)
def test_bad_arguments_raise(kw: dict[str, object], message: str) -> None:
    current = [T(percent=100, revision_name="hello-v1")]
    with pytest.raises(ValueError, match=message):
        _split(current, kw.pop("canary_percent", 5), **kw)  # type: ignore[arg-type]


def test_a_tag_owned_by_another_revision_is_not_moved() -> None:
    current = [
        T(percent=100, revision_name="hello-v1"),
        T(percent=0, revision_name="hello-v0", tag="canary"),
    ]
    with pytest.raises(ValueError, match="already names revision 'hello-v0'"):
        _split(current, 5)


# --- promote_split --------------------------------------------------------------------


def test_promotion_gives_canary_100_and_removes_run_tags() -> None:
    current = _split(
        [
            T(percent=90, revision_name="hello-v1"),
            T(percent=10, revision_name="hello-v0", tag="old"),
        ],
        50,
    )
    result = promote_split(
        current, canary="hello-v2", remove_tags=["baseline", "canary"], latest_ready="hello-v2"
    )
    assert result == [
        T(percent=0, revision_name="hello-v0", tag="old"),
        T(percent=100, revision_name="hello-v2", latest_revision=False),
    ]


def test_promotion_keeps_preexisting_canary_tag_and_can_follow_latest() -> None:
    current = [
        T(percent=90, revision_name="hello-v1", tag="b"),
        T(percent=10, revision_name="hello-v2", tag="v2"),
    ]
    result = promote_split(current, canary="hello-v2", remove_tags=["b"], latest_ready="hello-v2")
    assert result == [T(percent=100, revision_name="hello-v2", tag="v2", latest_revision=False)]
    floating = promote_split(
        current,
        canary="hello-v2",
        remove_tags=["b", "v2"],
        latest_ready="hello-v2",
        follow_latest=True,
    )
    assert floating == [T(percent=100, latest_revision=True)]
    with pytest.raises(ValueError, match="not the latest"):
        promote_split(
            current, canary="hello-v2", remove_tags=[], latest_ready="hello-v3", follow_latest=True
        )


# --- properties -----------------------------------------------------------------------

REVISIONS = ["hello-v0", "hello-v1", "hello-v2", "hello-v3"]
TAGS = ["a", "b", "c", "stable", "old", "x1"]


@st.composite
def valid_blocks(draw: st.DrawFn) -> list[TrafficTarget]:
    """Valid Service traffic blocks: up to 6 entries, unique tags, summing to 100."""
    n = draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1)))
    percents = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    tags: list[str | None] = list(draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=n)))
    tags += [None] * (n - len(tags))
    tags = draw(st.permutations(tags))
    block = []
    for percent, tag in zip(percents, tags, strict=True):
        latest = draw(st.booleans())
        if latest:
            block.append(
                T(percent=percent, tag=tag, latest_revision=draw(st.sampled_from([True, None])))
            )
        else:
            block.append(
                T(
                    percent=percent,
                    revision_name=draw(st.sampled_from(REVISIONS)),
                    tag=tag,
                    latest_revision=draw(st.sampled_from([False, None])),
                )
            )
    assert validate_traffic(block) == []
    return block


def _share(block: list[TrafficTarget], latest_ready: str) -> Counter[str]:
    share: Counter[str] = Counter()
    for t in block:
        share[t.revision_name or latest_ready] += t.effective_percent
    return share


def _tags(block: list[TrafficTarget], latest_ready: str) -> dict[str, str]:
    return {t.tag: t.revision_name or latest_ready for t in block if t.tag}


@settings(max_examples=300, deadline=None)
@given(
    block=valid_blocks(),
    arms=st.lists(st.sampled_from(REVISIONS), min_size=2, max_size=2, unique=True),
    percent=st.integers(0, 100),
    latest_ready=st.sampled_from(REVISIONS),
    tags=st.lists(
        st.sampled_from(["baseline", "canary", "a", "b"]), min_size=2, max_size=2, unique=True
    ),
)
def test_canary_split_properties(
    block: list[TrafficTarget], arms: list[str], percent: int, latest_ready: str, tags: list[str]
) -> None:
    baseline, canary = arms
    try:
        result = canary_split(
            block,
            baseline=baseline,
            canary=canary,
            canary_percent=percent,
            baseline_tag=tags[0],
            canary_tag=tags[1],
            latest_ready=latest_ready,
        )
    except ValueError as exc:
        before = _share(block, latest_ready)
        others = sum(v for k, v in before.items() if k not in arms)
        tag_owner = _tags(block, latest_ready)
        untagged_arms_wanting = [
            (arm, wanted)
            for arm, wanted in zip(arms, tags, strict=True)
            if arm not in tag_owner.values()
        ]
        # Only the documented reasons may refuse a split.
        assert others > 100 - percent or any(
            tag_owner.get(w, arm) != arm for arm, w in untagged_arms_wanting
        ), exc
        return
    assert validate_traffic(result) == [], format_errors(validate_traffic(result))
    assert sum(t.effective_percent for t in result) == 100
    assert all(t.revision_name and not t.follows_latest for t in result)
    after = _share(result, latest_ready)
    before = _share(block, latest_ready)
    assert after[canary] == percent
    for rev in REVISIONS:
        if rev not in arms:
            assert after[rev] == before[rev]
    # Every tag that existed still names the same revision.
    new_tags = _tags(result, latest_ready)
    for tag, rev in _tags(block, latest_ready).items():
        assert new_tags[tag] == rev
    assert tag_of(result, canary) and tag_of(result, baseline)
    # Other revisions' entries are kept as they were (only pinned).
    kept = [t for t in result if t.revision_name not in arms]
    assert len(kept) == sum(1 for t in block if (t.revision_name or latest_ready) not in arms)


@settings(max_examples=200, deadline=None)
@given(
    block=valid_blocks(), canary=st.sampled_from(REVISIONS), remove=st.lists(st.sampled_from(TAGS))
)
def test_promote_split_properties(
    block: list[TrafficTarget], canary: str, remove: list[str]
) -> None:
    latest_ready = "hello-v3"
    result = promote_split(block, canary=canary, remove_tags=remove, latest_ready=latest_ready)
    assert validate_traffic(result) == []
    assert _share(result, latest_ready)[canary] == 100
    expected_tags = {t: r for t, r in _tags(block, latest_ready).items() if t not in remove}
    assert _tags(result, latest_ready) == expected_tags
