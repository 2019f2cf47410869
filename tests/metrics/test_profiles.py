"""Metric profiles render only validated names and reject unknown placeholders."""

from __future__ import annotations

import pytest

from harness.config import CustomQueries
from harness.errors import BadInput
from harness.metrics.profiles import PROFILES, custom_profile, get_profile, resolve_profile


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_builtin_profiles_render_names_into_every_query(name: str) -> None:
    profile = get_profile(name)
    for template in (profile.requests, profile.errors, profile.latency_buckets):
        query = profile.render(
            template, namespace="default", service="hello", revision="hello-v2", tag="canary"
        )
        assert "hello-v2" in query
        assert "{revision}" not in query and "{namespace}" not in query


def test_legacy_profile_selects_revision_and_5xx() -> None:
    p = get_profile("legacy")
    q = p.render(p.errors, namespace="default", service="hello", revision="hello-v1", tag="")
    assert q == (
        'revision_request_count{namespace_name="default",revision_name="hello-v1",'
        'response_code_class="5xx"}'
    )


@pytest.mark.parametrize("bad", ['x"} or vector(1) #', "Hello", "a/b", "", "-a"])
def test_names_that_are_not_dns_labels_never_reach_promql(bad: str) -> None:
    p = get_profile("legacy")
    with pytest.raises(BadInput):
        p.render(p.requests, namespace="default", service="hello", revision=bad, tag="")


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(BadInput, match="legacy"):
        get_profile("datadog")


def test_custom_profile_rejects_unknown_placeholder() -> None:
    with pytest.raises(BadInput, match=r"\{pod\}"):
        custom_profile(
            requests='my_requests{rev="{revision}",pod="{pod}"}',
            errors='my_requests{rev="{revision}",code=~"5.."}',
            latency_buckets='my_latency_bucket{rev="{revision}"}',
        )


def test_custom_profile_fills_all_placeholders() -> None:
    p = custom_profile(
        requests='r{ns="{namespace}",svc="{service}",rev="{revision}",tag="{tag}"}',
        errors='e{rev="{revision}",code=~"5.."}',
        latency_buckets='l_bucket{rev="{revision}"}',
        latency_unit_ms=1000,
    )
    q = p.render(p.requests, namespace="ns1", service="svc", revision="svc-2", tag="canary")
    assert q == 'r{ns="ns1",svc="svc",rev="svc-2",tag="canary"}'


def test_canary_and_perf_resolve_a_profile_the_same_way() -> None:
    assert resolve_profile("otel", None) == get_profile("otel")
    queries = CustomQueries(
        requests='sum(req{revision="{revision}"})',
        errors='sum(err{revision="{revision}"})',
        latency_buckets='sum by (le) (lat_bucket{revision="{revision}"})',
    )
    custom = resolve_profile("custom", queries)
    assert custom == custom_profile(
        queries.requests, queries.errors, queries.latency_buckets, queries.latency_unit_ms
    )
    with pytest.raises(BadInput, match="custom metrics profile needs PromQL templates"):
        resolve_profile("custom", None)
    with pytest.raises(BadInput, match="unknown metrics profile"):
        resolve_profile("nope", None)
