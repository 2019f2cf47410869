"""Shift of mean log-latency between arms: a normal-mixture SPRT (mSPRT).

Johari, Koomen, Pekelis & Walsh, "Peeking at A/B Tests", KDD 2017: with Gaussian
increments of known variance, the normal mixture of likelihood ratios over the shift is
a test martingale. Here each look contributes the difference of the arms' mean
log-latency over that look's new requests, ``d_t ~ N(delta, v_t)`` by the central limit
theorem, with ``v_t = s_b^2 / n_b + s_c^2 / n_c``. The score ``W = sum d_t / v_t`` and
information ``I = sum 1 / v_t`` are sufficient, so the split between arms may change
between looks. Log-latency, not latency: a multiplicative slowdown is a shift there, and
its tails are light enough for the normal approximation even for Pareto-tailed latency.
On a stochastically smaller canary the mean log-latency is smaller too, so the one-sided
test (mixture over ``delta > 0`` only) is valid for "canary not slower".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.special import log_ndtr

_MIN_VARIANCE = 1e-4  # (1% in log units)^2: keeps one-bucket data from claiming certainty


@dataclass(frozen=True)
class BatchMoments:
    """Count, mean and variance (population) of one arm's new log-latencies in a look."""

    count: int
    mean: float
    variance: float


def log_truncated_normal_mixture(score: float, info: float, center: float, width: float) -> float:
    """Log of the mixture over ``x`` of ``exp(x * score - x^2 * info / 2)``.

    The mixing law is N(center, width^2) restricted to the side of 0 that ``center`` is
    on (``center >= 0`` means x > 0; use ``center = +0.0`` for a half-normal, and a
    negative ``center`` for alternatives below the null). Closed form by completing the
    square.
    """
    side = -1.0 if math.copysign(1.0, center) < 0 else 1.0
    mu = abs(center)
    a = info + 1.0 / width**2
    b = side * score + mu / width**2  # mirror so that the alternatives are x > 0
    return (
        b * b / (2.0 * a)
        - mu * mu / (2.0 * width**2)
        - 0.5 * math.log1p(info * width**2)
        + float(log_ndtr(b / math.sqrt(a)))
        - float(log_ndtr(mu / width))
    )


class LogShiftEProcess:
    """mSPRT on ``delta`` = canary minus baseline mean log-latency.

    ``rollback_scale``: scale of the half-normal prior on ``delta > tolerance`` (log
    units above ``log(tolerance)``; the default tolerance 1 tests ``delta <= 0``).
    ``margin``: non-inferiority margin on ``exp(delta)`` (a median ratio for log-scale
    shifts); the upper bound's prior sits ``log(margin)`` below each tested value with
    relative spread ``bound_width``.
    """

    def __init__(
        self,
        *,
        rollback_scale: float = 0.1,
        margin: float = 1.05,
        bound_width: float = 0.25,
        tolerance: float = 1.0,
    ) -> None:
        """An empty process."""
        if margin <= 1.0 or rollback_scale <= 0 or bound_width <= 0:
            raise ValueError("need margin > 1 and positive prior scales")
        if tolerance < 1.0:
            raise ValueError("the rollback tolerance must be >= 1")
        self.rollback_scale = rollback_scale
        self.null_shift = math.log(tolerance)
        self.bound_center = -math.log(margin)
        self.bound_width = bound_width * math.log(margin)
        self.score = 0.0
        self.info = 0.0
        self._moments: dict[str, tuple[int, float, float]] = {}

    def update(self, baseline: BatchMoments, canary: BatchMoments) -> None:
        """Add one look's new log-latency moments per arm.

        The variance used for a look is the larger of the arm's variance over earlier
        looks (predictable) and over this look, floored at 1e-4.
        """
        var_b = self._variance("baseline", baseline)
        var_c = self._variance("canary", canary)
        if baseline.count > 0 and canary.count > 0:
            v = var_b / baseline.count + var_c / canary.count
            self.score += (canary.mean - baseline.mean) / v
            self.info += 1.0 / v
        self._accumulate("baseline", baseline)
        self._accumulate("canary", canary)

    def _variance(self, arm: str, batch: BatchMoments) -> float:
        earlier = self._moments.get(arm)
        earlier_var = earlier[2] / earlier[0] if earlier and earlier[0] > 1 else 0.0
        return max(earlier_var, batch.variance, _MIN_VARIANCE)

    def _accumulate(self, arm: str, batch: BatchMoments) -> None:
        # Chan et al. (1979) parallel update of count, mean and sum of squared deviations.
        if batch.count == 0:
            return
        n0, mean0, m2_0 = self._moments.get(arm, (0, 0.0, 0.0))
        n = n0 + batch.count
        delta = batch.mean - mean0
        mean = mean0 + delta * batch.count / n
        m2 = m2_0 + batch.variance * batch.count + delta * delta * n0 * batch.count / n
        self._moments[arm] = (n, mean, m2)

    @property
    def log_e_value(self) -> float:
        """Log e-value against ``delta <= log(tolerance)`` (half-normal mixture above it).

        Against the edge ``delta0`` the score of ``d_t - delta0`` is ``W - I * delta0``;
        below the edge its increments have a smaller mean, so the test stays valid.
        """
        return log_truncated_normal_mixture(
            self.score - self.info * self.null_shift, self.info, 0.0, self.rollback_scale
        )

    @property
    def estimate(self) -> float:
        """Estimated ratio ``exp(delta)``; nan before any information."""
        return math.exp(self.score / self.info) if self.info > 0 else math.nan

    def lower_bound(self, alpha: float) -> float:
        """Anytime-valid lower bound on ``exp(delta)`` (the rollback prior, inverted)."""
        if self.info <= 0:
            return 0.0
        target = math.log(1.0 / alpha)
        s_null = _solve_increasing(
            lambda s: log_truncated_normal_mixture(s, self.info, 0.0, self.rollback_scale) - target
        )
        return math.exp((self.score - s_null) / self.info)

    def upper_bound(self, alpha: float) -> float:
        """Anytime-valid upper bound on ``exp(delta)`` (prior one margin below the null)."""
        if self.info <= 0:
            return math.inf
        target = math.log(1.0 / alpha)
        s_null = _solve_increasing(
            lambda s: (
                target
                - log_truncated_normal_mixture(s, self.info, self.bound_center, self.bound_width)
            )
        )
        return math.exp((self.score - s_null) / self.info)


def _solve_increasing(f: Callable[[float], float]) -> float:
    """Root of an increasing function of one variable, bracketing outward from 0."""
    low, high = -1.0, 1.0
    while f(low) > 0:
        low *= 2.0
    while f(high) < 0:
        high *= 2.0
    return float(brentq(f, low, high, xtol=1e-10))
