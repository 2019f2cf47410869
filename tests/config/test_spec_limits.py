"""Spec values a careless file or flag can carry: YAML booleans as numbers, rates and user
counts no machine can generate, unparsable URLs, namespaces Kubernetes allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_canary_spec, load_perf_spec
from harness.errors import BadInput
from harness.load.limits import MAX_TOTAL_RATE

CANARY = {"service": "hello", "from": "v1", "to": "v2"}


def _canary_error(overrides: dict[str, object], path: Path | None = None) -> str:
    with pytest.raises(BadInput) as raised:
        load_canary_spec(path, {**CANARY, **overrides})
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "line",
    [
        "rate: true",
        "users: false",
        "alpha: true",
        "margins: {tail_ratio: true}",
        "priors: {rate_scale: false}",
        "steps: [true, 100]",
    ],
)
def test_yaml_booleans_are_not_numbers(line: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"service: hello\nfrom: v1\nto: v2\n{line}\n")
    message = _canary_error({}, spec)
    assert "must be a number, not true/false" in message or "must be a valid" in message


def test_rate_true_in_a_perf_spec_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "perf.yaml"
    spec.write_text("service: hello\nrate: true\n")
    with pytest.raises(BadInput, match="rate: must be a number, not true/false"):
        load_perf_spec(spec)


@pytest.mark.parametrize("rate", [1e12, float("inf"), float("nan"), MAX_TOTAL_RATE / 2 + 1])
def test_canary_rate_is_bounded_over_both_arms(rate: float) -> None:
    message = _canary_error({"rate": rate})
    assert message.startswith("canary spec: rate:"), message


def test_canary_rate_at_the_bound_is_accepted() -> None:
    spec = load_canary_spec(None, {**CANARY, "rate": MAX_TOTAL_RATE / 2})
    assert spec.requests_per_second == MAX_TOTAL_RATE / 2


def test_perf_rate_is_bounded_for_its_one_arm() -> None:
    assert load_perf_spec(None, {"service": "hello", "rate": MAX_TOTAL_RATE}).rate == MAX_TOTAL_RATE
    with pytest.raises(BadInput, match="rate: at most 100,000"):
        load_perf_spec(None, {"service": "hello", "rate": MAX_TOTAL_RATE + 1})


def test_users_are_bounded() -> None:
    assert "users: at most 5,000 per arm" in _canary_error({"users": 10_000_000})


@pytest.mark.parametrize("flag", ["ingress", "prometheus"])
@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "http://h:0"])
def test_unparsable_urls_are_one_line(flag: str, url: str) -> None:
    message = _canary_error({flag: url})
    assert message.startswith(f"canary spec: {flag}: must be an http:// or https:// URL")


def test_namespace_is_a_dns1123_label() -> None:
    assert load_canary_spec(None, {**CANARY, "namespace": "1abc"}).namespace == "1abc"
    assert "namespace: must be a DNS-1123 label" in _canary_error({"namespace": "-abc"})
    assert "namespace: must be a DNS-1123 label" in _canary_error({"namespace": "a" * 64})
    # Service names keep Knative's DNS-1035 rule
    assert "service: must be a DNS label" in _canary_error({"service": "1abc"})


def test_durations_are_bounded_to_a_week() -> None:
    import pytest

    from harness.config import MAX_DURATION_S, parse_duration

    assert parse_duration("168h") == MAX_DURATION_S
    with pytest.raises(ValueError, match="at most 7 days"):
        parse_duration("99999999h")
