"""E-processes whose unit is a time block (one look), robust to dependence inside it.

Requests in the same second share a pod, a stall, an error burst; the two arms share
load swings. So the unit here is the block: one look's new requests in both arms,
loaded at the same time. Each block gives a statistic comparing the arms (a common
shock moves both arms and cancels), and the e-process is a normal mixture over blocks
(Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon, Ann. Statist. 2021) with two changes
that make it robust:

* each block's excess over the null is clipped at ``CLIP`` standard deviations (fewer in
  the first blocks, while the dispersion is unknown), so one block (a stall, a burst)
  can add at most a bounded amount of evidence; for a
  statistic symmetric about its mean under the null, clipping keeps its mean <= 0 and
  only lowers its moment generating function (cosh is increasing in |x|);
* the variance is the block's nominal (within-block, CLT) variance times a predictable
  dispersion factor estimated from earlier blocks' standardized residuals, with
  Bartlett-weighted autocovariances for dependence across neighbouring blocks (Newey &
  West 1987), like the estimated variance of Waudby-Smith, Arbour, Sinha, Kennedy &
  Ramdas' asymptotic confidence sequences (Ann. Statist. 2024, arXiv 2103.06476).

The mixture is tabulated on a grid of the tested parameter, which gives e-values for
every null at once and, inverted, confidence sequences.

Validity is asymptotic (as for any estimated-variance confidence sequence) and assumes
blocks are independent given the past up to the estimated short-range correlation;
inside a block any dependence is allowed. Checked by simulation (tests/analysis).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr

FloatArray = npt.NDArray[np.float64]

CLIP = 3.0  # standard deviations of a block's excess, from the fifth block on
_CLIP_START, _CLIP_STEP = 2.2, 0.2  # the first blocks: 2.2, 2.4, 2.6, 2.8 sd
_LAGS = 10  # autocovariance lags of the dispersion estimate (Bartlett weights)
_PRIOR_BLOCKS = 10.0  # pseudo-blocks at dispersion 1


def log_truncated_normal_mixture(score: float, info: float, center: float, width: float) -> float:
    """Log of the mixture over ``x`` of ``exp(x * score - x^2 * info / 2)``.

    The mixing law is N(center, width^2) restricted to the side of 0 that ``center`` is
    on (``center >= 0`` means x > 0; use ``center = +0.0`` for a half-normal, and a
    negative ``center`` for alternatives below the null). Closed form by completing the
    square (the normal mixture of Johari, Koomen, Pekelis & Walsh, KDD 2017).
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


def log_mixture(
    score: FloatArray, info: FloatArray, center: FloatArray | float, width: FloatArray | float
) -> FloatArray:
    """Vectorised log of the mixture over ``x`` of ``exp(x score - x^2 info / 2)``.

    The mixing law is N(center, width^2) restricted to the side of 0 that ``center`` is
    on (``center >= 0``: x > 0). Closed form by completing the square (as
    `log_truncated_normal_mixture`, for one value).
    """
    center_a = np.asarray(center, dtype=np.float64) + np.zeros_like(score)
    width_a = np.asarray(width, dtype=np.float64) + np.zeros_like(score)
    side = np.where(np.signbit(center_a), -1.0, 1.0)
    mu = np.abs(center_a)
    a = info + 1.0 / width_a**2
    b = side * score + mu / width_a**2
    return np.asarray(
        b * b / (2.0 * a)
        - mu * mu / (2.0 * width_a**2)
        - 0.5 * np.log1p(info * width_a**2)
        + log_ndtr(b / np.sqrt(a))
        - log_ndtr(mu / width_a),
        dtype=np.float64,
    )


class Dispersion:
    """Predictable long-run variance factor of standardized block residuals (>= 1).

    Information-weighted: ``(n0 + sum w_i z_i^2 + 2 sum_l b_l sum_i sqrt(w_i w_{i-l})
    z_i z_{i-l}) / (n0 + sum w_i)`` with weights ``w_i`` relative to the mean weight,
    Bartlett weights ``b_l = 1 - l / (L + 1)`` (Newey & West 1987) and ``n0``
    pseudo-blocks at 1. Weighting by information matters: a block with many events
    (an error burst) weighs as much in the score as its information says.
    """

    def __init__(self, lags: int = _LAGS, prior_blocks: float = _PRIOR_BLOCKS) -> None:
        """No block seen yet: factor 1."""
        self.lags = lags
        self.prior = prior_blocks
        self.count = 0
        self.weight = 0.0
        self.sum_sq = 0.0
        self.cross = np.zeros(lags)
        self._bartlett = 1.0 - np.arange(1, lags + 1) / (lags + 1)
        self._recent: deque[tuple[float, float]] = deque(maxlen=lags)

    @property
    def factor(self) -> float:
        """The current factor (from blocks already added: predictable for the next)."""
        if self.count == 0:
            return 1.0
        unit = self.weight / self.count  # the mean weight: one pseudo-block
        total = self.prior * unit + self.sum_sq + 2.0 * float(np.dot(self._bartlett, self.cross))
        return max(1.0, total / (self.prior * unit + self.weight))

    def add(self, z: float, weight: float) -> None:
        """Add one block's standardized residual with its information weight."""
        root = math.sqrt(weight)
        for lag, (previous, previous_root) in enumerate(reversed(self._recent)):
            self.cross[lag] += root * z * previous_root * previous
        self._recent.append((z, root))
        self.sum_sq += weight * z * z
        self.weight += weight
        self.count += 1


@dataclass(frozen=True)
class BlockPriors:
    """Mixing laws: half-normal ``rollback_scale`` above the null; for the upper bound a
    normal centred ``bound_center`` (< 0, per grid point) with spread ``bound_width``."""

    rollback_scale: float
    bound_center: FloatArray
    bound_width: FloatArray


class BlockGrid:
    """Clipped, dispersion-scaled normal-mixture e-process on a grid of the parameter.

    Block ``i`` gives, for every grid value ``theta[j]``, its excess ``r_ij`` over what
    ``theta[j]`` predicts (decreasing in ``theta``), the nominal variance ``v_ij`` and
    the exposure ``a_ij`` (the excess is ``N(delta a, v)`` for a drift ``delta``). With
    the dispersion factor ``phi_i`` the e-process against ``theta[j]`` mixes
    ``exp(delta S_j - delta^2 I_j / 2)`` over ``delta``, where
    ``S_j = sum a clip(r, c sqrt(phi v)) / (phi v)`` and ``I_j = sum a^2 / (phi v)``.
    """

    def __init__(self, theta: FloatArray, priors: BlockPriors, *, clipped: bool = True) -> None:
        """An empty process on the grid ``theta`` (increasing).

        ``clipped=False``: blocks count in full (no clip, and their residuals enter the
        dispersion in full): the estimated-variance confidence sequence of the mean,
        for bounds that must not lose a burst's mass.
        """
        self.theta = theta
        self.priors = priors
        self.clipped = clipped
        self.score = np.zeros(len(theta))
        self.info = np.zeros(len(theta))
        self.dispersion = Dispersion()
        self.blocks = 0

    def update(
        self,
        excess: FloatArray,
        variance: FloatArray,
        exposure: FloatArray,
        residual: float | None = None,
    ) -> None:
        """Add one block (arrays over the grid; variance 0 means no information).

        ``residual``: the block's standardized residual around an estimate from earlier
        blocks only (None when there is none yet), for the dispersion factor; it is
        weighted by the block's information at the current estimate.
        """
        phi = self.dispersion.factor
        clip = self.clip
        informative = variance > 0
        if not np.any(informative):
            return
        j = self.estimate_index()
        if residual is not None and informative[j]:
            limit = clip * math.sqrt(phi)
            weight = float(exposure[j] ** 2 / variance[j])
            self.dispersion.add(min(max(residual, -limit), limit), weight)
        w = np.where(informative, phi * variance, 1.0)
        sd = np.sqrt(w)
        clipped = np.clip(excess, -clip * sd, clip * sd)
        self.score += np.where(informative, exposure * clipped / w, 0.0)
        self.info += np.where(informative, exposure * exposure / w, 0.0)
        self.blocks += 1

    @property
    def clip(self) -> float:
        """Clip of the next block, in standard deviations: tighter while the dispersion
        is still unknown (a stall in each of the first two canary blocks must not look
        like a regression), `CLIP` from the fifth block on; infinite when not clipped."""
        if not self.clipped:
            return math.inf
        return min(CLIP, _CLIP_START + _CLIP_STEP * self.blocks)

    def estimate_index(self) -> int:
        """Grid index where the clipped score crosses zero (a Huber-type M-estimate)."""
        above = np.flatnonzero(self.score <= 0.0)
        return int(above[0]) if len(above) else len(self.theta) - 1

    def log_e_values(self) -> FloatArray:
        """Log e-value against ``theta <= theta[j]`` for every j (mixture above)."""
        return log_mixture(self.score, self.info, 0.0, self.priors.rollback_scale)

    def log_e_value_at(self, index: int) -> float:
        """Log e-value against ``theta <= theta[index]``."""
        return log_truncated_normal_mixture(
            float(self.score[index]), float(self.info[index]), 0.0, self.priors.rollback_scale
        )

    def _log_e_below(self, index: int) -> float:
        """Log e-value against ``theta >= theta[index]`` (the bound prior, below it)."""
        return log_truncated_normal_mixture(
            float(self.score[index]),
            float(self.info[index]),
            float(self.priors.bound_center[index]),
            float(self.priors.bound_width[index]),
        )

    def lower_bound(self, alpha: float) -> float:
        """Smallest grid value not rejected at ``alpha`` (one step outward).

        The e-value decreases along the grid (the clipped score does), so the edge is
        found by bisection.
        """
        if self.blocks == 0:
            return -math.inf
        target = math.log(1.0 / alpha)
        last = len(self.theta) - 1
        if self.log_e_value_at(last) >= target:
            return float(self.theta[last])
        if self.log_e_value_at(0) < target:
            return float(self.theta[0])
        low, high = 0, last  # rejected at low, kept at high
        while high - low > 1:
            mid = (low + high) // 2
            if self.log_e_value_at(mid) >= target:
                low = mid
            else:
                high = mid
        return float(self.theta[max(high - 1, 0)])

    def upper_bound(self, alpha: float) -> float:
        """Largest grid value not rejected at ``alpha`` against smaller values (bisection)."""
        if self.blocks == 0:
            return math.inf
        target = math.log(1.0 / alpha)
        last = len(self.theta) - 1
        if self._log_e_below(last) < target:
            return math.inf
        if self._log_e_below(0) >= target:
            return float(self.theta[0])
        low, high = 0, last  # kept at low, rejected at high
        while high - low > 1:
            mid = (low + high) // 2
            if self._log_e_below(mid) < target:
                low = mid
            else:
                high = mid
        return float(self.theta[min(low + 1, last)])
