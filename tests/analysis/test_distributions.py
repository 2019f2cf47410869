"""The scipy.special-based distribution functions agree with scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.distributions import (
    bh_adjust,
    binom_ppf,
    chi2_sf,
    fisher_greater,
    g_statistic,
    norm_cdf,
    norm_isf,
    norm_sf,
)


@pytest.mark.parametrize("z", [-4.0, -1.3, 0.0, 0.7, 2.5, 6.0])
def test_normal_functions_match_scipy_stats(z: float) -> None:
    assert norm_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-12, abs=1e-300)
    assert norm_cdf(z) == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    p = stats.norm.sf(z)
    assert norm_isf(p) == pytest.approx(z, abs=1e-9)


def test_fisher_greater_matches_scipy_on_random_tables() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n1, n2 = rng.integers(1, 20_000, size=2)
        p1, p2 = rng.uniform(0, 0.05, size=2)
        a, c = rng.binomial(n1, p1), rng.binomial(n2, p2)
        table = [[int(a), int(n1 - a)], [int(c), int(n2 - c)]]
        odds, p = fisher_greater(table)
        ref_odds, ref_p = stats.fisher_exact(table, alternative="greater")
        assert p == pytest.approx(ref_p, rel=1e-6, abs=1e-12), table
        if np.isfinite(ref_odds):
            assert odds == pytest.approx(ref_odds, rel=1e-12)


def test_g_test_matches_chi2_contingency_log_likelihood() -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        table = rng.integers(5, 500, size=(2, int(rng.integers(2, 12))))
        g, df = g_statistic(table)
        ref_g, ref_p, ref_df, _ = stats.chi2_contingency(
            table, lambda_="log-likelihood", correction=False
        )
        assert df == ref_df
        assert g == pytest.approx(ref_g, rel=1e-9)
        assert chi2_sf(g, df) == pytest.approx(ref_p, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("n", "q"), [(10, 0.5), (1_000, 0.99), (123_457, 0.9), (50, 0.02)])
@pytest.mark.parametrize("p", [0.0125, 0.025, 0.5, 0.975, 0.9875])
def test_binomial_ppf_matches_scipy(n: int, q: float, p: float) -> None:
    assert binom_ppf(p, n, q) == int(stats.binom.ppf(p, n, q))


def test_benjamini_hochberg_matches_false_discovery_control() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 2, 5, 17):
        ps = list(rng.uniform(0, 0.2, size=size))
        expected = stats.false_discovery_control(np.asarray(ps), method="bh")
        assert bh_adjust(ps) == pytest.approx(list(expected), rel=1e-12)
    assert bh_adjust([]) == []
