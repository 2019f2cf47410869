"""Plain-English sentences rendered from a metric verdict's data (no statistics here).

One sentence per metric: what was compared, at which unit, and why the metric says to
continue, promote or roll back. `analysis.judge` fills a `MetricVerdict`'s numbers and
calls `metric_sentence` for its ``explanation``; anything else holding a verdict (a
report, the live view) can render it again from the same fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from analysis.verdict import MetricStatus, MetricVerdict

# How each metric's estimate and bounds are written.
_PERCENT_RATIO = {"latency_median"}
_RATE = {"slo_error_rate", "slo_latency"}


def fmt(value: float) -> str:
    """Three significant digits; n/a for nan, inf for infinity."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def pct(value: float) -> str:
    """A rate as a percentage (three significant digits)."""
    return "n/a" if math.isnan(value) else f"{100 * value:.3g}%"


def ratio_pct(value: float) -> str:
    """A ratio as a percentage with one decimal (100.0% = equal)."""
    return "n/a" if math.isnan(value) or math.isinf(value) else f"{100 * value:.1f}%"


def _scale(name: str) -> Callable[[float], str]:
    if name in _PERCENT_RATIO:
        return ratio_pct
    if name in _RATE:
        return pct
    return lambda v: "unbounded" if math.isinf(v) else f"{fmt(v)}x"


def _unit(v: MetricVerdict) -> str:
    if v.blocks <= 0:
        return ""
    looks = "look" if v.blocks == 1 else "looks"
    spread = (
        ""
        if v.dispersion <= 1.0 + 1e-9
        else f", their spread {fmt(v.dispersion)}x what independent requests would give"
    )
    if v.name in _RATE:
        # The canary alone: judged look by look and request by request (the more cautious).
        return f" over {v.blocks} {looks} (counted per look and per request{spread})"
    return f" over {v.blocks} {looks} (each look's requests compared between the arms{spread})"


def metric_sentence(v: MetricVerdict) -> str:
    """``name: what was compared, at which unit; the numbers; so: continue/promote/roll back.``"""
    show = _scale(v.name)
    head = f"{v.name}: {v.observed}{_unit(v)}"
    slo = v.name in _RATE
    if v.status is MetricStatus.INSUFFICIENT_DATA:
        return f"{v.name}: {v.observed}: keep watching."
    if v.status is MetricStatus.REGRESSION:
        beyond = "" if v.tolerance <= 1.0 or slo else f" beyond the tolerated {show(v.tolerance)}"
        limit = (
            f"over the SLO {show(v.margin)}"
            if slo
            else f"e-value {fmt(v.max_e_value)} >= {fmt(v.threshold)}"
        )
        return f"{head}; it is at least {show(v.lower)} ({limit}): a regression{beyond}, roll back."
    if v.status is MetricStatus.NON_INFERIOR:
        under = v.note or (
            f"its tightest anytime-valid upper bound so far, {show(v.upper)}, is under the "
            f"{'SLO' if slo else 'margin'} {show(v.margin)}"
        )
        return f"{head}; {under}: good enough to promote."
    return (
        f"{head}; it could still be up to {show(v.upper)} ({'SLO' if slo else 'margin'} "
        f"{show(v.margin)}) and its e-value {fmt(v.e_value)} is under {fmt(v.threshold)}: "
        "keep watching."
    )
