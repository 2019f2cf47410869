"""Fixed-horizon tests for reports and the release gate."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from analysis import ArmSnapshot, Histogram
from analysis.config import GateTolerances
from analysis.fixed import (
    GateStatus,
    compare_runs,
    error_rate_test,
    g_test,
    mann_whitney,
    quantile_ci,
)


def lognormal(rng: np.random.Generator, n: int, median: float = 50.0) -> np.ndarray:
    return rng.lognormal(math.log(median), 0.5, n)


def test_mann_whitney_matches_scipy_on_bucketed_values() -> None:
    rng = np.random.default_rng(51)
    base = Histogram.from_samples(lognormal(rng, 400))
    cand = Histogram.from_samples(lognormal(rng, 300, 55.0))
    values = base.representative_values()
    xs = np.repeat(values, base.counts)
    ys = np.repeat(values, cand.counts)
    for alternative in ("two-sided", "greater", "less"):
        ours = mann_whitney(base, cand, alternative)
        theirs = stats.mannwhitneyu(ys, xs, alternative=alternative, method="asymptotic")
        assert ours.statistic == pytest.approx(theirs.statistic)
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-6)


def test_mann_whitney_needs_both_arms() -> None:
    with pytest.raises(ValueError):
        mann_whitney(Histogram.empty(), Histogram.from_samples([1.0]))


def test_g_test_separates_equal_and_different_distributions() -> None:
    rng = np.random.default_rng(52)
    same = g_test(
        Histogram.from_samples(lognormal(rng, 3000)), Histogram.from_samples(lognormal(rng, 3000))
    )
    different = g_test(
        Histogram.from_samples(lognormal(rng, 3000)),
        Histogram.from_samples(lognormal(rng, 3000, 60)),
    )
    assert same.p_value > 0.001
    assert different.p_value < 1e-6


def test_error_rate_test_uses_exact_tests_and_margin() -> None:
    small = error_rate_test(1, 100, 8, 100)
    assert small.method == "Boschloo exact" and small.p_value < 0.05
    large = error_rate_test(50, 10_000, 100, 10_000)
    assert large.method == "Fisher exact" and large.p_value < 0.001
    within = error_rate_test(50, 10_000, 55, 10_000, margin=0.001)
    assert within.p_value > 0.5


def test_quantile_ci_covers_the_true_quantile() -> None:
    rng = np.random.default_rng(53)
    truth = 50.0 * math.exp(0.5 * stats.norm.ppf(0.9))
    covered = 0
    for _ in range(200):
        low, high = quantile_ci(Histogram.from_samples(lognormal(rng, 500)), 0.9, 0.9)
        covered += low <= truth <= high
    assert covered / 200 >= 0.9 - 0.04


def test_quantile_ci_is_infinite_when_too_few_samples() -> None:
    low, high = quantile_ci(Histogram.from_samples([1.0, 2.0, 3.0]), 0.99)
    assert math.isinf(high) and low >= 0
    assert all(math.isnan(x) for x in quantile_ci(Histogram.empty(), 0.5))


def _run(
    rng: np.random.Generator, n: int, error_rate: float, sampler: Callable[[int], np.ndarray]
) -> ArmSnapshot:
    return ArmSnapshot(n, int(rng.binomial(n, error_rate)), Histogram.from_samples(sampler(n)))


def test_compare_runs_passes_identical_runs() -> None:
    rng = np.random.default_rng(54)
    results = compare_runs(
        _run(rng, 20_000, 0.01, lambda n: lognormal(rng, n)),
        _run(rng, 20_000, 0.01, lambda n: lognormal(rng, n)),
    )
    assert [r.name for r in results] == ["error_rate", "p50", "p90", "p99"]
    assert all(r.status is GateStatus.PASS for r in results)
    json.dumps([r.to_dict() for r in results])


def test_compare_runs_fails_a_p99_regression_only() -> None:
    rng = np.random.default_rng(55)

    def slow_tail(n: int) -> np.ndarray:
        x = lognormal(rng, n)
        return np.where(rng.random(n) < 0.03, 4 * x, x)

    results = {
        r.name: r
        for r in compare_runs(
            _run(rng, 20_000, 0.01, lambda n: lognormal(rng, n)), _run(rng, 20_000, 0.01, slow_tail)
        )
    }
    assert results["p99"].status is GateStatus.FAIL
    assert results["p99"].estimate > 1.5
    assert results["p50"].status is GateStatus.PASS
    assert results["error_rate"].status is GateStatus.PASS


def test_compare_runs_reports_insufficient_data_never_pass() -> None:
    rng = np.random.default_rng(56)
    results = {
        r.name: r
        for r in compare_runs(
            _run(rng, 500, 0.0, lambda n: lognormal(rng, n)),
            _run(rng, 500, 0.0, lambda n: lognormal(rng, n)),
            GateTolerances(min_requests=1000),
        )
    }
    assert results["error_rate"].status is GateStatus.INSUFFICIENT_DATA
    assert results["p99"].status is GateStatus.INSUFFICIENT_DATA
    assert results["p50"].status is GateStatus.PASS


def test_compare_runs_on_prometheus_buckets_is_conservative() -> None:
    rng = np.random.default_rng(57)
    bounds = [5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 500, 1000]
    failures = 0
    for _ in range(30):
        a = Histogram.from_samples(lognormal(rng, 5000)).coarsen(bounds)
        b = Histogram.from_samples(lognormal(rng, 5000)).coarsen(bounds)
        results = compare_runs(ArmSnapshot(5000, 50, a), ArmSnapshot(5000, 50, b))
        failures += any(r.status is GateStatus.FAIL for r in results)
    assert failures <= 3
