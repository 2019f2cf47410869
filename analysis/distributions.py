"""The few distribution functions the fixed-horizon tests need, on ``scipy.special``.

``scipy.stats`` takes most of a second to import, which a CI gate pays on every run;
``scipy.special`` holds the same functions at a fraction of that. Each function here is
checked against its ``scipy.stats`` counterpart in tests/analysis/test_distributions.py.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import bdtr, chdtrc, gammaln, ndtr, ndtri


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return float(ndtr(-z))


def norm_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return float(ndtr(z))


def norm_isf(p: float) -> float:
    """The z with P(Z > z) = p."""
    return float(-ndtri(p))


def chi2_sf(statistic: float, df: int) -> float:
    """P(X > statistic) for X chi-square with ``df`` degrees of freedom."""
    return float(chdtrc(df, statistic))


def g_statistic(table: np.ndarray) -> tuple[float, int]:
    """G = 2 sum O ln(O/E) of a contingency table and its degrees of freedom
    (Sokal & Rohlf, Biometry, the G-test of independence)."""
    observed = np.asarray(table, dtype=np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    mask = observed > 0
    g = 2.0 * float(np.sum(observed[mask] * np.log(observed[mask] / expected[mask])))
    df = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    return max(g, 0.0), df


def _log_choose(n: float, k: np.ndarray) -> np.ndarray:
    return np.asarray(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))


def fisher_greater(table: list[list[int]]) -> tuple[float, float]:
    """Fisher's exact test of a 2x2 table, one-sided "greater": the sample odds ratio and
    P(X >= a) for X hypergeometric with the table's margins (Fisher 1935; as
    ``scipy.stats.fisher_exact(table, alternative="greater")``)."""
    (a, b), (c, d) = table
    row, col, total = a + b, a + c, a + b + c + d
    low, high = max(0, col - (total - row)), min(row, col)
    if a <= low:
        p = 1.0
    else:
        k = np.arange(a, high + 1, dtype=np.float64)
        log_pmf = _log_choose(row, k) + _log_choose(total - row, col - k)
        log_pmf -= float(_log_choose(total, np.asarray(float(col))))
        top = float(log_pmf.max())
        p = min(1.0, math.exp(top) * float(np.sum(np.exp(log_pmf - top))))
    odds = (a * d) / (b * c) if b * c > 0 else (math.inf if a * d > 0 else math.nan)
    return float(odds), p


def binom_ppf(p: float, n: int, q: float) -> int:
    """The smallest k with P(B <= k) >= p for B ~ Binomial(n, q)."""
    low, high = 0, n
    while low < high:
        mid = (low + high) // 2
        if float(bdtr(mid, n, q)) >= p:
            high = mid
        else:
            low = mid + 1
    return low


def bh_adjust(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (Benjamini & Hochberg 1995): the smallest
    false discovery rate at which each hypothesis would be rejected."""
    m = len(p_values)
    if m == 0:
        return []
    order = np.argsort(p_values)
    ranked = np.asarray(p_values, dtype=np.float64)[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    out = np.empty(m)
    out[order] = adjusted_sorted
    return [float(x) for x in out]
