"""Fixed-horizon tests for reports and release gates, never for the sequential decision.

Each test is computed once on complete data (two whole runs, or a finished canary), so
classical p-values are valid; across metrics they are adjusted with Benjamini–Hochberg.
Everything works from histograms (bucket counts), never raw samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.config import GateTolerances
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
from analysis.histogram import Histogram
from analysis.snapshot import ArmSnapshot

FloatArray = npt.NDArray[np.float64]

# Boschloo's exact test costs O(n^2) evaluations; above this many requests per arm Fisher's
# conditional test is used (nearly as powerful there, and exact).
BOSCHLOO_MAX_REQUESTS = 300


@dataclass(frozen=True)
class TestResult:
    """A fixed-horizon test: its statistic, p-value and a short name of the method."""

    statistic: float
    p_value: float
    method: str


def mann_whitney(
    baseline: Histogram, canary: Histogram, alternative: str = "two-sided"
) -> TestResult:
    """Mann–Whitney U test from bucket counts (ties: values sharing a bucket).

    U counts canary-over-baseline pairs (ties count 1/2); normal approximation with tie
    correction and continuity correction, as ``scipy.stats.mannwhitneyu`` uses for large
    samples. ``alternative``: "two-sided", "greater" (canary slower) or "less". Raises
    ValueError for an empty arm or layouts that cannot be merged.
    """
    base, cand = baseline.common_layout(canary)
    b = base.counts.astype(np.float64)
    c = cand.counts.astype(np.float64)
    n_b, n_c = b.sum(), c.sum()
    if n_b == 0 or n_c == 0:
        raise ValueError("Mann–Whitney needs data in both arms")
    below_b = np.cumsum(b) - b
    u = float(np.dot(c, below_b + 0.5 * b))
    n = n_b + n_c
    ties = b + c
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1)) if n > 1 else 0.0
    variance = n_b * n_c / 12.0 * ((n + 1) - tie_term)
    mean = n_b * n_c / 2.0
    if variance <= 0:
        return TestResult(u, 1.0, "Mann-Whitney U")
    if alternative == "two-sided":
        z = (abs(u - mean) - 0.5) / math.sqrt(variance)
        p = 2.0 * norm_sf(max(z, 0.0))
    elif alternative == "greater":
        p = norm_sf((u - mean - 0.5) / math.sqrt(variance))
    elif alternative == "less":
        p = norm_cdf((u - mean + 0.5) / math.sqrt(variance))
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    return TestResult(u, min(1.0, p), "Mann-Whitney U")


def g_test(baseline: Histogram, canary: Histogram, min_expected: float = 5.0) -> TestResult:
    """G-test (log-likelihood ratio) of equal bucket distributions.

    Adjacent buckets are pooled until every expected count is at least ``min_expected``
    so that the chi-square approximation holds. Raises ValueError for an empty arm.
    """
    base, cand = baseline.common_layout(canary)
    table = np.vstack([base.counts, cand.counts]).astype(np.float64)
    if table[0].sum() == 0 or table[1].sum() == 0:
        raise ValueError("the G-test needs data in both arms")
    pooled = _pool_sparse_columns(table, min_expected)
    if pooled.shape[1] < 2:
        return TestResult(0.0, 1.0, "G-test")
    statistic, df = g_statistic(pooled)
    return TestResult(statistic, chi2_sf(statistic, df), "G-test")


def _pool_sparse_columns(table: FloatArray, min_expected: float) -> FloatArray:
    share = table.sum(axis=1) / table.sum()
    columns: list[FloatArray] = []
    current = np.zeros(2)
    for j in range(table.shape[1]):
        current = current + table[:, j]
        if current.sum() * share.min() >= min_expected:
            columns.append(current)
            current = np.zeros(2)
    if current.sum() > 0:
        if columns:
            columns[-1] = columns[-1] + current
        else:
            columns.append(current)
    return np.array(columns).T


def error_rate_test(
    baseline_errors: int,
    baseline_requests: int,
    canary_errors: int,
    canary_requests: int,
    *,
    margin: float = 0.0,
) -> TestResult:
    """One-sided test that the canary's error rate exceeds the baseline's plus ``margin``.

    ``margin == 0``: Boschloo's exact test (up to `BOSCHLOO_MAX_REQUESTS` per arm), else
    Fisher's exact test. ``margin > 0`` (a tolerated absolute increase): the Wald z-test
    of the difference against the margin, unpooled variance.
    """
    if min(baseline_requests, canary_requests) <= 0:
        raise ValueError("the error-rate test needs requests in both arms")
    if margin == 0.0:
        table = [
            [canary_errors, canary_requests - canary_errors],
            [baseline_errors, baseline_requests - baseline_errors],
        ]
        if max(baseline_requests, canary_requests) <= BOSCHLOO_MAX_REQUESTS:
            from scipy import stats  # slow to import; only small samples need it

            res = stats.boschloo_exact(table, alternative="greater")
            return TestResult(float(res.statistic), float(res.pvalue), "Boschloo exact")
        odds, p_value = fisher_greater(table)
        return TestResult(odds, p_value, "Fisher exact")
    p_c = canary_errors / canary_requests
    p_b = baseline_errors / baseline_requests
    se = math.sqrt(
        max(p_c * (1 - p_c), 0.25 / canary_requests) / canary_requests
        + max(p_b * (1 - p_b), 0.25 / baseline_requests) / baseline_requests
    )
    z = (p_c - p_b - margin) / se
    return TestResult(z, norm_sf(z), "Wald z, non-inferiority margin")


def quantile_ci(hist: Histogram, q: float, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for the q-quantile, widened to bucket edges.

    The interval between order statistics of ranks from the Binomial(n, q) distribution
    (e.g. Hahn & Meeker 1991, section 5.2) covers the quantile with probability at least
    ``confidence``; with bucketed data the lower rank's bucket lower edge and the upper
    rank's bucket upper edge are used, which can only widen it. (nan, nan) when empty;
    an end is +/-inf when n is too small for it.
    """
    n = hist.count
    if n == 0:
        return (math.nan, math.nan)
    tail = (1.0 - confidence) / 2.0
    low_rank = binom_ppf(tail, n, q)  # P(B < low_rank + 1) >= tail ...
    high_rank = binom_ppf(1.0 - tail, n, q) + 1
    bounds = hist.upper_bounds
    cumulative = hist.cumulative()
    lower = -math.inf
    if low_rank >= 1:
        index = int(np.searchsorted(cumulative, low_rank, side="left"))
        lower = float(bounds[index - 1]) if index > 0 else 0.0
        if hist.min is not None:
            lower = max(lower, hist.min)
    upper = math.inf
    if high_rank <= n:
        index = int(np.searchsorted(cumulative, high_rank, side="left"))
        upper = float(bounds[index])
        if hist.max is not None:
            upper = min(upper, hist.max)
    return (max(lower, 0.0) if math.isfinite(lower) else lower, upper)


class GateStatus(StrEnum):
    """Outcome of one metric in a release gate."""

    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class MetricResult:
    """One metric of a fixed-horizon comparison of two runs.

    ``estimate`` is candidate minus reference for the error rate and candidate /
    reference for quantiles, with confidence interval ``ci_low``..``ci_high`` at
    1 - alpha; ``p_value`` tests "worse beyond tolerance", ``p_adjusted`` is
    Benjamini–Hochberg adjusted across the metrics compared.
    """

    name: str
    reference: float
    candidate: float
    estimate: float
    ci_low: float
    ci_high: float
    tolerance: float
    p_value: float
    p_adjusted: float
    status: GateStatus
    method: str
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (non-finite numbers become None)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            out[f.name] = value
        return out


def compare_runs(
    reference: ArmSnapshot, candidate: ArmSnapshot, tolerances: GateTolerances | None = None
) -> list[MetricResult]:
    """Compare two complete runs metric by metric, for a release gate.

    Metrics: ``error_rate`` and ``p<q>`` for each tolerated latency quantile. A metric
    FAILs when its Benjamini–Hochberg adjusted p-value for "candidate worse than
    reference beyond tolerance" is below ``tolerances.alpha``; it is INSUFFICIENT_DATA
    when either run is too small to judge it (never a pass); otherwise it PASSes.
    """
    tol = tolerances or GateTolerances()
    drafts: list[dict[str, Any]] = [_error_draft(reference, candidate, tol)]
    for q, allowed in tol.quantiles:
        drafts.append(_quantile_draft(reference.latency, candidate.latency, q, allowed, tol))
    judged = [d for d in drafts if d["status"] is None]
    adjusted = bh_adjust([d["p_value"] for d in judged])
    for draft, p_adj in zip(judged, adjusted, strict=True):
        draft["p_adjusted"] = p_adj
        failed = p_adj < tol.alpha
        draft["status"] = GateStatus.FAIL if failed else GateStatus.PASS
        verdict = "worse beyond tolerance" if failed else "within tolerance"
        draft["explanation"] += f"; adjusted p = {p_adj:.3g}: {verdict}."
    return [MetricResult(**d) for d in drafts]


def _error_draft(
    reference: ArmSnapshot, candidate: ArmSnapshot, tol: GateTolerances
) -> dict[str, Any]:
    n_r, n_c = reference.requests, candidate.requests
    rate_r = reference.errors / n_r if n_r else math.nan
    rate_c = candidate.errors / n_c if n_c else math.nan
    draft: dict[str, Any] = {
        "name": "error_rate",
        "reference": rate_r,
        "candidate": rate_c,
        "estimate": rate_c - rate_r,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "tolerance": tol.error_rate,
        "p_value": math.nan,
        "p_adjusted": math.nan,
        "status": None,
        "method": "",
        "explanation": "",
    }
    if min(n_r, n_c) < tol.min_requests:
        draft["status"] = GateStatus.INSUFFICIENT_DATA
        draft["explanation"] = (
            f"error_rate: {min(n_r, n_c)} requests in the smaller run, {tol.min_requests} needed."
        )
        return draft
    test = error_rate_test(reference.errors, n_r, candidate.errors, n_c, margin=tol.error_rate)
    z = norm_isf(tol.alpha / 2)
    se = math.sqrt(rate_c * (1 - rate_c) / n_c + rate_r * (1 - rate_r) / n_r)
    draft.update(
        ci_low=rate_c - rate_r - z * se,
        ci_high=rate_c - rate_r + z * se,
        p_value=test.p_value,
        method=test.method,
        explanation=(
            f"error_rate: candidate {100 * rate_c:.3g}% vs reference {100 * rate_r:.3g}% "
            f"(tolerated increase {100 * tol.error_rate:.3g} points)"
        ),
    )
    return draft


def _quantile_draft(
    reference: Histogram | None,
    candidate: Histogram | None,
    q: float,
    allowed: float,
    tol: GateTolerances,
) -> dict[str, Any]:
    name = f"p{100 * q:g}".replace(".", "")
    draft: dict[str, Any] = {
        "name": name,
        "reference": math.nan,
        "candidate": math.nan,
        "estimate": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "tolerance": allowed,
        "p_value": math.nan,
        "p_adjusted": math.nan,
        "status": None,
        "method": "exceedance Fisher test at the tolerated quantile",
        "explanation": "",
    }
    smaller = min(reference.count if reference else 0, candidate.count if candidate else 0)
    if reference is None or candidate is None or smaller * (1 - q) < tol.min_tail_events:
        draft["status"] = GateStatus.INSUFFICIENT_DATA
        needed = math.ceil(tol.min_tail_events / (1 - q))
        draft["explanation"] = (
            f"{name}: {smaller} latency samples in the smaller run, {needed} needed."
        )
        return draft
    ref, cand = reference.common_layout(candidate)
    q_ref, q_cand = ref.quantile(q), cand.quantile(q)
    conf = 1.0 - tol.alpha / 2  # each arm's interval, so that the ratio's holds at 1 - alpha
    ref_low, ref_high = quantile_ci(ref, q, conf)
    cand_low, cand_high = quantile_ci(cand, q, conf)
    # Under H0 (candidate quantile <= (1 + tolerance) * reference quantile) the candidate's
    # share above the tolerated level (rounded up to a bound) is <= 1 - q, and the
    # reference's share above the LOWER edge of its quantile's bucket is >= 1 - q, so a
    # one-sided Fisher test of the two shares is conservative whatever the bucket widths.
    bounds = ref.upper_bounds
    ref_index = int(np.searchsorted(ref.cumulative(), max(1, math.ceil(q * ref.count))))
    ref_index = min(ref_index, len(bounds) - 2)
    tolerated = float(bounds[ref_index]) * (1.0 + allowed)
    cand_index = min(int(np.searchsorted(bounds, tolerated, side="left")), len(bounds) - 2)
    ref_above = int(ref.counts[ref_index:].sum())
    cand_above = int(cand.counts[cand_index + 1 :].sum())
    ref_edge = float(bounds[ref_index - 1]) if ref_index > 0 else 0.0
    table = [[cand_above, cand.count - cand_above], [ref_above, ref.count - ref_above]]
    _, p_value = fisher_greater(table)
    draft.update(
        reference=q_ref,
        candidate=q_cand,
        estimate=q_cand / q_ref if q_ref > 0 else math.nan,
        ci_low=cand_low / ref_high if ref_high > 0 else math.nan,
        ci_high=cand_high / ref_low if ref_low > 0 else math.inf,
        p_value=float(p_value),
        explanation=(
            f"{name}: candidate {q_cand:.4g} ms vs reference {q_ref:.4g} ms "
            f"(tolerated +{100 * allowed:.3g}%); {cand_above} candidate requests above "
            f"{bounds[cand_index]:.4g} ms vs {ref_above} reference above {ref_edge:.4g} ms"
        ),
    )
    return draft
