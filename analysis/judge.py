"""The anytime-valid canary judge: one call per look, a decision every time.

Each metric is an e-process comparing the canary with the concurrently running baseline
("is the canary worse?"), never restarted across looks or traffic steps. The unit is the
look (a time block): each look's new requests in both arms give one comparison, so load
swings common to both arms cancel and a stall or an error burst in one arm counts once
(`analysis.eprocess.blocks`):

* ``error_rate``: errors conditional on the arm they came from (`BlockRateRatioEProcess`).
* ``latency_median``: the shift of mean log-latency (`BlockShiftEProcess`).
* ``latency_tail``: the average of exceedance e-processes above the p98, p99, p99.5 and
  p99.9 of both arms' data pooled without arm labels (`BlockRateRatioEProcess`).
* optional absolute SLOs on the canary alone (`ArmRate`: request by request and look by
  look, the more cautious answer).

Rollback when a metric's e-value reaches m / alpha (m metrics: Bonferroni, valid under
any dependence). Promote when every metric's anytime-valid upper bound on its
degradation is under its margin and both arms have the minimum sample. Otherwise
continue. See docs/judge.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.config import (
    ERROR_RATE,
    LATENCY_MEDIAN,
    LATENCY_TAIL,
    SLO_ERROR_RATE,
    SLO_LATENCY,
    Direction,
    JudgeConfig,
)
from analysis.eprocess.block_proportion import ArmRate
from analysis.eprocess.block_rate import BlockRateRatioEProcess
from analysis.eprocess.block_shift import BatchMoments, BlockShiftEProcess
from analysis.eprocess.proportion import ProportionBounds
from analysis.explain import fmt, metric_sentence, pct, ratio_pct
from analysis.histogram import Histogram
from analysis.snapshot import ArmSnapshot
from analysis.srm import SampleRatioGuard
from analysis.verdict import Decision, MetricStatus, MetricVerdict, Verdict

IntArray = npt.NDArray[np.int64]
_RATIO_SHARE = 0.8  # of the promote level, for the error-rate ratio bound
FloatArray = npt.NDArray[np.float64]


@dataclass
class _ArmState:
    """What the judge keeps of an arm's previous snapshot (copied, never aliased)."""

    requests: int = 0
    errors: int = 0
    latency: IntArray | None = None


@dataclass
class _LatencyLayout:
    bounds: FloatArray
    log_values: FloatArray
    finite_top: int  # index of the largest finite bound
    spread: FloatArray  # variance of a value spread evenly over its bucket (log units)


@dataclass
class _Deltas:
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[str, IntArray] | None = None


class SequentialJudge:
    """Stateful judge of one canary run; feed it cumulative snapshots look after look."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        """A judge with no data yet; ``config`` defaults to `JudgeConfig()`."""
        self.config = config or JudgeConfig()
        cfg = self.config
        self._arms = {"baseline": _ArmState(), "canary": _ArmState()}
        self._layout: _LatencyLayout | None = None
        self._errors = BlockRateRatioEProcess(
            rollback_scale=cfg.priors.rate_scale,
            margin=cfg.margins.error_ratio,
            bound_width=cfg.priors.bound_width,
            tolerance=cfg.tolerances.error_ratio,
        )
        self._shift = BlockShiftEProcess(
            rollback_scale=cfg.priors.shift_scale,
            margin=cfg.margins.median_ratio,
            bound_width=cfg.priors.bound_width,
            tolerance=cfg.tolerances.median_ratio,
        )
        self._tail = [
            BlockRateRatioEProcess(
                rollback_scale=cfg.priors.rate_scale,
                margin=cfg.margins.tail_ratio,
                bound_width=cfg.priors.bound_width,
                tolerance=cfg.tolerances.tail_ratio,
            )
            for _ in cfg.tail_quantiles
        ]
        self._tail_thresholds: list[int | None] = [None] * len(cfg.tail_quantiles)
        self._pending: dict[str, IntArray] | None = None  # latency not yet in a block
        rate = {"rollback_scale": cfg.priors.rate_scale, "bound_width": cfg.priors.bound_width}
        self._slo_error = (
            None if cfg.slos.error_rate is None else ArmRate(cfg.slos.error_rate, **rate)
        )
        self._slo_latency = (
            None
            if cfg.slos.latency_ms is None
            else ArmRate(1.0 - cfg.slos.latency_quantile, **rate)
        )
        self._slo_latency_index: int | None = None
        self._rates = ProportionBounds()
        self._max_log_e = dict.fromkeys(cfg.metric_names, 0.0)
        self._best_upper: dict[str, float] = {}
        self._srm: SampleRatioGuard | None = None
        self._srm_e: float | None = None
        self._srm_share = 0.5
        self._srm_mismatch = False
        self._look = 0
        self._last: Verdict | None = None

    # ------------------------------------------------------------------ the look
    def update(
        self,
        baseline: ArmSnapshot,
        canary: ArmSnapshot,
        *,
        expected_canary_share: float | None = None,
    ) -> Verdict:
        """Judge one look from cumulative snapshots of both arms.

        Snapshots are cumulative since the run began; the judge takes the difference from
        the previous call itself. Feeding the same snapshots again changes nothing and
        returns the same verdict. Raises ValueError when a count or histogram bucket
        decreases (a counter reset: the caller must repair the series first) or when the
        latency layout changes to one that cannot be coarsened onto the first one.
        ``expected_canary_share``, when given, is the share of requests the canary should
        receive; a sample-ratio mismatch makes the decision INVALID.
        """
        deltas = self._deltas(baseline, canary)
        if expected_canary_share is not None:
            self._check_sample_ratio(baseline.requests, canary.requests, expected_canary_share)
        has_new = any(deltas.requests.values()) or (
            deltas.latency is not None and any(int(d.sum()) for d in deltas.latency.values())
        )
        if not has_new and self._last is not None and expected_canary_share is None:
            return self._last
        if has_new:
            self._look += 1
            self._update_errors(deltas)
            if deltas.latency is not None:
                self._update_latency(deltas.latency)
            self._commit(baseline, canary)
        self._last = self._verdict(baseline, canary)
        return self._last

    @property
    def last_verdict(self) -> Verdict | None:
        """The verdict of the latest look, if any."""
        return self._last

    # ------------------------------------------------------------------ deltas
    def _deltas(self, baseline: ArmSnapshot, canary: ArmSnapshot) -> _Deltas:
        deltas = _Deltas()
        latency: dict[str, IntArray] = {}
        for name, snap in (("baseline", baseline), ("canary", canary)):
            prev = self._arms[name]
            if snap.requests < prev.requests or snap.errors < prev.errors:
                raise ValueError(
                    f"{name} counts went down ({prev.requests} -> {snap.requests} requests, "
                    f"{prev.errors} -> {snap.errors} errors): counter reset or stale snapshot"
                )
            deltas.requests[name] = snap.requests - prev.requests
            deltas.errors[name] = snap.errors - prev.errors
            if snap.latency is not None:
                counts = self._layout_counts(snap.latency)
                before = prev.latency if prev.latency is not None else np.zeros_like(counts)
                diff = counts - before
                if np.any(diff < 0):
                    raise ValueError(
                        f"{name} latency histogram went down: counter reset or stale snapshot"
                    )
                latency[name] = diff
        if len(latency) == 2:
            deltas.latency = latency
        return deltas

    def _layout_counts(self, hist: Histogram) -> IntArray:
        """Counts of ``hist`` on the run's latency layout (fixed at the first look)."""
        if self._layout is None:
            bounds = hist.upper_bounds.copy()
            values = np.log(np.maximum(hist.representative_values(), 1e-6))
            self._layout = _LatencyLayout(
                bounds, values, finite_top=len(bounds) - 2, spread=_bucket_spread(bounds)
            )
            return hist.counts
        if len(hist.upper_bounds) == len(self._layout.bounds) and np.array_equal(
            hist.upper_bounds, self._layout.bounds
        ):
            return hist.counts
        try:
            return hist.coarsen(self._layout.bounds).counts
        except ValueError as exc:
            raise ValueError(
                "latency histograms must keep one bucket layout for the whole run "
                f"(or a finer one that coarsens onto it): {exc}"
            ) from exc

    def _commit(self, baseline: ArmSnapshot, canary: ArmSnapshot) -> None:
        for name, snap in (("baseline", baseline), ("canary", canary)):
            state = self._arms[name]
            state.requests, state.errors = snap.requests, snap.errors
            if snap.latency is not None:
                state.latency = self._layout_counts(snap.latency)

    # ------------------------------------------------------------------ metrics
    def _ordered(self, metric: str, values: dict[str, int]) -> tuple[int, int]:
        """(reference, tested) values: the tested arm is the one that may be worse."""
        if self.config.direction(metric) is Direction.LOWER_IS_WORSE:
            return values["canary"], values["baseline"]
        return values["baseline"], values["canary"]

    def _update_errors(self, deltas: _Deltas) -> None:
        ref_e, test_e = self._ordered(ERROR_RATE, deltas.errors)
        ref_n, test_n = self._ordered(ERROR_RATE, deltas.requests)
        self._errors.update(ref_e, test_e, ref_n, test_n)
        if self._slo_error is not None:
            self._slo_error.update(deltas.errors["canary"], deltas.requests["canary"])

    def _update_latency(self, new: dict[str, IntArray]) -> None:
        """Add a look's latency; a block is judged once both arms have enough requests.

        Looks with fewer than ``min_block_requests`` requests in an arm are merged with
        the next ones (a mean of a handful of requests is not near-normal).
        """
        if self._pending is None:
            self._pending = {name: counts.copy() for name, counts in new.items()}
        else:
            for name, counts in new.items():
                self._pending[name] = self._pending[name] + counts
        if min(int(c.sum()) for c in self._pending.values()) < self.config.min_block_requests:
            return
        latency, self._pending = self._pending, None
        assert self._layout is not None
        log_values = self._layout.log_values
        spread = self._layout.spread
        moments = {name: _moments(counts, log_values, spread) for name, counts in latency.items()}
        if self.config.direction(LATENCY_MEDIAN) is Direction.LOWER_IS_WORSE:
            self._shift.update(moments["canary"], moments["baseline"])
        else:
            self._shift.update(moments["baseline"], moments["canary"])
        self._set_tail_thresholds(latency)
        ref_name, test_name = self._tail_arms()
        ref, test = latency[ref_name], latency[test_name]
        ref_n, test_n = int(ref.sum()), int(test.sum())
        for process, index, q in zip(
            self._tail, self._tail_thresholds, self.config.tail_quantiles, strict=True
        ):
            if index is not None:
                raised = self._raised_index(index)
                process.update(
                    int(ref[index + 1 :].sum()),
                    int(test[raised + 1 :].sum()),
                    ref_n,
                    test_n,
                    # requests above a pooled quantile: their usual number is known
                    expected_events=(1.0 - q) * (ref_n + test_n),
                )
        if self._slo_latency is not None:
            index = self._slo_index()
            canary = latency["canary"]
            self._slo_latency.update(int(canary[index + 1 :].sum()), int(canary.sum()))

    def _raised_index(self, index: int) -> int:
        """Index of the smallest bound >= the latency tolerance x bound ``index``.

        The tested arm's tail threshold is raised by ``tolerances.median_ratio``, so that
        a canary uniformly that much slower has no more requests above its threshold
        than the baseline above the pooled one: the latency tolerance applies to the
        whole distribution. With coarse buckets the next bound may be far above: the
        bucket width bounds what can be said.
        """
        assert self._layout is not None
        tolerance = self.config.tolerances.median_ratio
        if tolerance <= 1.0:
            return index
        target = float(self._layout.bounds[index]) * tolerance * (1 - 1e-9)
        raised = int(np.searchsorted(self._layout.bounds, target, side="left"))
        return min(raised, self._layout.finite_top)

    def _tail_arms(self) -> tuple[str, str]:
        if self.config.direction(LATENCY_TAIL) is Direction.LOWER_IS_WORSE:
            return "canary", "baseline"
        return "baseline", "canary"

    def _set_tail_thresholds(self, latency: dict[str, IntArray]) -> None:
        """Tail thresholds: quantiles of both arms' data pooled, through this look.

        Computed without arm labels, so under identical arms the labels of this look's
        requests above a threshold stay exchangeable (see `BlockRateRatioEProcess`); the
        data of earlier looks is the past. A bucket's upper bound is the threshold.
        """
        assert self._layout is not None
        pooled = latency["baseline"] + latency["canary"]
        for arm in self._arms.values():
            if arm.latency is not None:
                pooled = pooled + arm.latency
        cumulative = np.cumsum(pooled)
        total = int(cumulative[-1])
        if total == 0:
            return
        for k, q in enumerate(self.config.tail_quantiles):
            rank = max(1, math.ceil(q * total))
            index = int(np.searchsorted(cumulative, rank, side="left"))
            self._tail_thresholds[k] = min(index, self._layout.finite_top)

    def _slo_index(self) -> int:
        """Bucket index of the largest bound <= the latency SLO (conservative)."""
        if self._slo_latency_index is None:
            assert self._layout is not None and self.config.slos.latency_ms is not None
            finite = self._layout.bounds[: self._layout.finite_top + 1]
            below = np.flatnonzero(finite <= self.config.slos.latency_ms * (1 + 1e-9))
            self._slo_latency_index = int(below[-1]) if len(below) else -1
        return self._slo_latency_index

    def _check_sample_ratio(self, baseline_n: int, canary_n: int, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError("expected_canary_share must be within [0, 1]")
        if self._srm is None:
            self._srm = SampleRatioGuard(alpha=self.config.srm_alpha)
        result = self._srm.update([baseline_n, canary_n], [1.0 - share, share])
        self._srm_e = result.e_value
        self._srm_share = share
        self._srm_mismatch = result.mismatch

    # ------------------------------------------------------------------ verdict
    def _verdict(self, baseline: ArmSnapshot, canary: ArmSnapshot) -> Verdict:
        cfg = self.config
        metrics = [self._error_verdict(), self._median_verdict(), self._tail_verdict()]
        if self._slo_error is not None:
            metrics.append(self._slo_error_verdict())
        if self._slo_latency is not None:
            metrics.append(self._slo_latency_verdict())
        smallest_arm = min(baseline.requests, canary.requests)
        regressions = [m for m in metrics if m.status is MetricStatus.REGRESSION]
        pending = [m.name for m in metrics if m.status is not MetricStatus.NON_INFERIOR]
        if self._srm_mismatch:
            decision = Decision.INVALID
            reason = _mismatch_reason(
                baseline.requests, canary.requests, self._srm_share, self._srm_e, cfg.srm_alpha
            )
        elif regressions:
            decision = Decision.ROLLBACK
            worst = max(regressions, key=lambda m: m.max_e_value)
            reason = (
                f"ROLLBACK: {', '.join(m.name for m in regressions)} reached e-value "
                f"{fmt(worst.max_e_value)} >= {fmt(worst.threshold)} "
                f"({len(metrics)} metrics / alpha {cfg.alpha:g})."
            )
        elif pending:
            decision = Decision.CONTINUE
            reason = f"CONTINUE: not yet conclusive: {', '.join(pending)}."
        elif smallest_arm < cfg.min_requests_per_arm:
            decision = Decision.CONTINUE
            reason = (
                f"CONTINUE: every margin is met but promotion needs "
                f"{cfg.min_requests_per_arm} requests per arm ({smallest_arm} so far)."
            )
        else:
            decision = Decision.PROMOTE
            reason = (
                "PROMOTE: every metric's anytime-valid upper bound is under its margin "
                f"after {smallest_arm} requests per arm."
            )
        return Verdict(
            decision=decision,
            reason=reason,
            look=self._look,
            baseline_requests=baseline.requests,
            canary_requests=canary.requests,
            metrics=tuple(metrics),
            srm_e_value=self._srm_e,
        )

    def _rollback_level(self) -> float:
        return self.config.alpha / len(self.config.metric_names)

    def _track(self, name: str, log_e: float) -> tuple[float, float, bool]:
        """Current and running-max e-value of a metric, and whether it is a regression."""
        self._max_log_e[name] = max(self._max_log_e[name], log_e)
        threshold = self.config.rollback_e_value
        return (
            _exp(log_e),
            _exp(self._max_log_e[name]),
            self._max_log_e[name] >= math.log(threshold),
        )

    def _tighten(self, name: str, upper: float) -> float:
        """Running minimum of an upper bound (the intersection of the confidence sets)."""
        best = min(self._best_upper.get(name, math.inf), upper)
        self._best_upper[name] = best
        return best

    def _status(self, regression: bool, has_data: bool, non_inferior: bool) -> MetricStatus:
        """The one status rule: regression, then no data, then margin met, else wait."""
        if regression:
            return MetricStatus.REGRESSION
        if not has_data:
            return MetricStatus.INSUFFICIENT_DATA
        return MetricStatus.NON_INFERIOR if non_inferior else MetricStatus.INCONCLUSIVE

    def _metric(self, **fields: Any) -> MetricVerdict:
        """A metric verdict with its sentence rendered from its own data."""
        verdict = MetricVerdict(threshold=self.config.rollback_e_value, explanation="", **fields)
        return replace(verdict, explanation=metric_sentence(verdict))

    def _error_verdict(self) -> MetricVerdict:
        cfg = self.config
        proc = self._errors
        e_value, max_e, regression = self._track(ERROR_RATE, proc.log_e_value)
        level = cfg.promote_level
        # The ratio OR the absolute increase may show non-inferiority, so the promote level
        # is split between them (mostly to the ratio; the absolute bound is for services
        # with almost no errors, where a ratio says nothing).
        upper = self._tighten(ERROR_RATE, proc.upper_bound(level * _RATIO_SHARE))
        ref_n, test_n = proc.baseline_trials, proc.canary_trials
        ref_e, test_e = proc.baseline_events, proc.canary_events
        side_level = level * (1.0 - _RATIO_SHARE) / 2.0
        abs_upper = self._tighten(
            "error_abs",
            self._rates.upper(test_e, test_n, side_level)
            - self._rates.lower(ref_e, ref_n, side_level),
        )
        has_data = ref_n > 0 and test_n > 0
        by_ratio = upper < cfg.margins.error_ratio
        by_abs = abs_upper < cfg.margins.error_abs
        note = ""
        if by_abs and not by_ratio:
            note = (
                f"the increase's tightest anytime-valid upper bound so far, {pct(abs_upper)}, "
                f"is under the margin {pct(cfg.margins.error_abs)}"
            )
        rate_ref = ref_e / ref_n if ref_n else math.nan
        rate_test = test_e / test_n if test_n else math.nan
        observed = (
            f"error rates compared, canary {pct(rate_test)} vs baseline {pct(rate_ref)} "
            "(ratio canary / baseline)"
            if has_data
            else "no requests yet in one of the arms"
        )
        return self._metric(
            name=ERROR_RATE,
            status=self._status(regression, has_data, by_ratio or by_abs),
            e_value=e_value,
            max_e_value=max_e,
            estimate=proc.estimate,
            lower=proc.lower_bound(self._rollback_level()),
            upper=upper,
            margin=cfg.margins.error_ratio,
            measure="ratio of error rates, canary / baseline",
            observed=observed,
            blocks=proc.blocks,
            dispersion=proc.dispersion,
            tolerance=cfg.tolerances.error_ratio,
            note=note,
        )

    def _median_verdict(self) -> MetricVerdict:
        cfg = self.config
        proc = self._shift
        e_value, max_e, regression = self._track(LATENCY_MEDIAN, proc.log_e_value)
        has_data = proc.info > 0
        upper = self._tighten(LATENCY_MEDIAN, proc.upper_bound(cfg.promote_level))
        observed = (
            f"geometric-mean latency compared, canary {ratio_pct(proc.estimate)} of the baseline's"
            if has_data
            else f"no latency block of {cfg.min_block_requests}+ requests from both arms yet"
        )
        return self._metric(
            name=LATENCY_MEDIAN,
            status=self._status(regression, has_data, upper < cfg.margins.median_ratio),
            e_value=e_value,
            max_e_value=max_e,
            estimate=proc.estimate,
            lower=proc.lower_bound(self._rollback_level()),
            upper=upper,
            margin=cfg.margins.median_ratio,
            measure="ratio of geometric-mean latency, canary / baseline",
            observed=observed,
            blocks=proc.blocks,
            dispersion=proc.dispersion,
            tolerance=cfg.tolerances.median_ratio,
        )

    def _tail_verdict(self) -> MetricVerdict:
        cfg = self.config
        weighted = [
            math.log(w) + p.log_e_value for w, p in zip(cfg.tail_weights, self._tail, strict=True)
        ]
        e_value, max_e, regression = self._track(LATENCY_TAIL, float(np.logaddexp.reduce(weighted)))
        k = cfg.tail_quantiles.index(cfg.margins.tail_quantile)
        if regression:  # name the threshold that carries the evidence
            k = int(np.argmax(weighted))
        proc = self._tail[cfg.tail_quantiles.index(cfg.margins.tail_quantile)]
        shown = self._tail[k]
        has_data = proc.baseline_trials > 0 and proc.canary_trials > 0
        upper = self._tighten(LATENCY_TAIL, proc.upper_bound(cfg.promote_level))
        label = f"p{100 * cfg.tail_quantiles[k]:g}"
        raised = ""
        if cfg.tolerances.median_ratio > 1.0:
            raised = (
                " (the canary's raised by the latency tolerance "
                f"{ratio_pct(cfg.tolerances.median_ratio)})"
            )
        observed = (
            f"shares of requests above the pooled {label} ({fmt(self._threshold_ms(k))} ms)"
            f"{raised} compared, {_share_ratio(shown.estimate)}"
            if has_data
            else "no latency data from both arms yet"
        )
        return self._metric(
            name=LATENCY_TAIL,
            status=self._status(regression, has_data, upper < cfg.margins.tail_ratio),
            e_value=e_value,
            max_e_value=max_e,
            estimate=shown.estimate,
            lower=shown.lower_bound(self._rollback_level()),
            upper=upper,
            margin=cfg.margins.tail_ratio,
            measure=(
                "ratio of shares of requests above the pooled "
                f"p{100 * cfg.margins.tail_quantile:g}, canary / baseline"
            ),
            observed=observed,
            blocks=shown.blocks,
            dispersion=shown.dispersion,
            tolerance=cfg.tolerances.tail_ratio,
        )

    def _threshold_ms(self, k: int) -> float:
        index = self._tail_thresholds[k]
        if index is None or self._layout is None:
            return math.nan
        return float(self._layout.bounds[index])

    def _slo_verdict(
        self,
        name: str,
        proc: ArmRate,
        what: str,
        measure: str,
    ) -> MetricVerdict:
        cfg = self.config
        e_value, max_e, regression = self._track(name, proc.log_e_value)
        x, n, p0 = proc.events, proc.trials, proc.p0
        assert p0 is not None
        upper = self._tighten(name, proc.upper_bound(cfg.promote_level))
        estimate = x / n if n else math.nan
        return self._metric(
            name=name,
            status=self._status(regression, n > 0, upper <= p0),
            e_value=e_value,
            max_e_value=max_e,
            estimate=estimate,
            lower=proc.lower_bound(self._rollback_level()),
            upper=upper,
            margin=p0,
            measure=measure,
            observed=(
                f"{what} against the SLO, {pct(estimate)} (the canary alone)"
                if n
                else "no canary data yet"
            ),
            blocks=proc.blocks,
            dispersion=proc.dispersion,
        )

    def _slo_error_verdict(self) -> MetricVerdict:
        assert self._slo_error is not None
        return self._slo_verdict(
            SLO_ERROR_RATE, self._slo_error, "the canary error rate", "canary error rate"
        )

    def _slo_latency_verdict(self) -> MetricVerdict:
        assert self._slo_latency is not None and self.config.slos.latency_ms is not None
        bound = self.config.slos.latency_ms
        if self._layout is not None and self._slo_index() >= 0:
            bound = float(self._layout.bounds[self._slo_index()])
        return self._slo_verdict(
            SLO_LATENCY,
            self._slo_latency,
            f"the canary's share of requests slower than {fmt(bound)} ms",
            f"share of canary requests above {fmt(bound)} ms",
        )


def _moments(counts: IntArray, log_values: FloatArray, spread: FloatArray) -> BatchMoments:
    """Mean and variance of log-latency from bucket counts.

    The variance adds each bucket's own spread (a value anywhere in its bucket), so a
    block whose requests all fall in one coarse bucket does not claim certainty.
    """
    n = int(counts.sum())
    if n == 0:
        return BatchMoments(0, 0.0, 0.0)
    mean = float(np.dot(counts, log_values)) / n
    variance = float(np.dot(counts, (log_values - mean) ** 2 + spread)) / n
    return BatchMoments(n, mean, variance)


def _bucket_spread(bounds: FloatArray) -> FloatArray:
    """Variance of log(value) spread uniformly over each bucket's log-width.

    The first bucket counts from half its bound, the +inf bucket is as wide as the one
    below it (as `Histogram.representative_values` places them).
    """
    finite = bounds[np.isfinite(bounds)]
    lower = np.empty_like(finite)
    lower[0] = finite[0] / 2.0
    lower[1:] = finite[:-1]
    widths = np.log(np.maximum(finite, 1e-9) / np.maximum(lower, 1e-9))
    if len(finite) < len(bounds):
        widths = np.append(widths, widths[-1] if len(widths) else 0.0)
    return np.asarray(widths**2 / 12.0, dtype=np.float64)


def _exp(log_value: float) -> float:
    return math.exp(min(log_value, 700.0))


def _mismatch_reason(
    baseline_n: int, canary_n: int, share: float, e_value: float | None, alpha: float
) -> str:
    """One sentence: which arm lost requests, by how much, and why the run stops."""
    total = baseline_n + canary_n
    observed = canary_n / total if total else math.nan
    short = "canary" if observed < share else "baseline"
    return (
        f"INVALID: the {short} arm lost requests (dropped, timed out or answered elsewhere): "
        f"the canary completed {canary_n:,} and the baseline {baseline_n:,}, a canary share "
        f"of {pct(observed)} where {pct(share)} was expected (sample-ratio e-value "
        f"{fmt(e_value if e_value is not None else math.nan)} >= {1 / alpha:.0f}), so the "
        "comparison cannot be trusted and nothing is judged."
    )


def _share_ratio(estimate: float) -> str:
    """The tail comparison in words; a baseline with no request above the threshold has no ratio."""
    if math.isinf(estimate):
        return "the canary has requests above it and the baseline none"
    return f"the canary's {fmt(estimate)}x the baseline's"
