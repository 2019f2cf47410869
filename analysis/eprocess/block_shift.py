"""Shift of mean log-latency between arms, one time block (look) at a time.

Each block gives ``d = mean log-latency(canary) - mean log-latency(baseline)`` over its
new requests, with nominal variance ``s_b^2 / n_b + s_c^2 / n_c`` (central limit theorem
inside the block, plus the variance of values spread over a histogram bucket). The
shift ``delta`` (a latency ratio ``exp(delta)``) is tested with the clipped,
dispersion-scaled normal mixture of `analysis.eprocess.blocks.BlockGrid`: a block that
is slow in one arm only (a stall, a GC pause) adds a bounded amount of evidence, a slow
period common to both arms cancels in ``d``. Under "same code, canary at most
``tolerance`` times slower" the block difference minus the shift is symmetric about
its mean (the arms' noise is identically distributed), which is what clipping needs.
The mSPRT on blocks: Johari, Koomen, Pekelis & Walsh, KDD 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.eprocess.blocks import BlockGrid, BlockPriors

_LOW, _HIGH, _STEP = -1.5, 1.5, 0.002
_MIN_VARIANCE = 1e-8


@dataclass(frozen=True)
class BatchMoments:
    """Count, mean and variance (population) of one arm's new log-latencies in a look."""

    count: int
    mean: float
    variance: float


class BlockShiftEProcess:
    """Block-level e-process for ``H0: delta <= log(tolerance)`` and bounds on ``exp(delta)``.

    ``rollback_scale``: half-normal scale of the shift above the null (log units);
    ``margin``: non-inferiority margin on ``exp(delta)``; the upper bound's prior sits
    ``log(margin)`` below each tested value with relative spread ``bound_width``.
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
        if not 1.0 <= tolerance < math.exp(_HIGH):
            raise ValueError("the rollback tolerance must be >= 1")
        first = math.ceil(_LOW / _STEP - 1e-9)
        theta = _STEP * np.arange(first, math.floor(_HIGH / _STEP + 1e-9) + 1, dtype=np.float64)
        self._null_index = -first + math.ceil(math.log(tolerance) / _STEP - 1e-9)
        center = math.log(margin)
        self.grid = BlockGrid(
            theta,
            BlockPriors(
                rollback_scale=rollback_scale,
                bound_center=np.full(len(theta), -center),
                bound_width=np.full(len(theta), bound_width * center),
            ),
        )
        self.blocks = 0

    def update(
        self, baseline: BatchMoments, canary: BatchMoments, extra_variance: float = 0.0
    ) -> None:
        """Add one block's log-latency moments per arm (both arms must have requests).

        ``extra_variance``: per-request variance the data cannot show (values spread over
        a histogram bucket), added to both arms' variances.
        """
        if baseline.count == 0 or canary.count == 0:
            return
        variance = (baseline.variance + extra_variance) / baseline.count + (
            canary.variance + extra_variance
        ) / canary.count
        variance = max(variance, _MIN_VARIANCE)
        theta = self.grid.theta
        difference = canary.mean - baseline.mean
        residual = None
        if self.blocks:
            # around the estimate from earlier blocks, scaled for that estimate's own error
            earlier = self.info * self.dispersion
            shrink = math.sqrt(earlier / (earlier + 1.0 / variance))
            residual = shrink * (difference - math.log(self.estimate)) / math.sqrt(variance)
        self.grid.update(
            difference - theta,
            np.full(len(theta), variance),
            np.ones(len(theta)),
            residual,
        )
        self.blocks += 1

    @property
    def info(self) -> float:
        """Information so far (0 before any block)."""
        return float(self.grid.info[self._null_index])

    @property
    def dispersion(self) -> float:
        """The dispersion factor the next block will use (1: as independent requests)."""
        return self.grid.dispersion.factor

    @property
    def log_e_value(self) -> float:
        """Log e-value against ``delta <= log(tolerance)``."""
        if self.blocks == 0:
            return 0.0
        return self.grid.log_e_value_at(self._null_index)

    @property
    def estimate(self) -> float:
        """Estimated ratio ``exp(delta)`` (clipped M-estimate); nan before any block."""
        if self.blocks == 0:
            return math.nan
        return math.exp(float(self.grid.theta[self.grid.estimate_index()]))

    def lower_bound(self, alpha: float) -> float:
        """Anytime-valid lower bound on ``exp(delta)``."""
        return math.exp(self.grid.lower_bound(alpha)) if self.blocks else 0.0

    def upper_bound(self, alpha: float) -> float:
        """Anytime-valid upper bound on ``exp(delta)``."""
        return math.exp(self.grid.upper_bound(alpha)) if self.blocks else math.inf
