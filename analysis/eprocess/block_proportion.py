"""One arm's event rate (errors, or requests above an SLO's latency), one look at a time.

The per-request beta-binomial processes of `analysis.eprocess.proportion` are exact when
requests are independent. Real requests are not: an error burst puts tens of errors in
one second of one pod, and counted request by request it is overwhelming evidence that
the rate is above an SLO it is, on average, well under. So here, as in
`analysis.eprocess.block_rate`, the unit is the look (a time block):

* **Rollback** (``H0: p <= p0``): a look counts as at most a Poisson-like ceiling over
  the usual number of events (the lower median of recent looks, as in block_rate, and
  never under the ceiling over ``n p0``), its
  excess ``x - n p0`` is clipped at `blocks.CLIP` standard deviations times the
  estimated dispersion, and the looks are combined by the normal mixture of
  `analysis.eprocess.blocks.BlockGrid` over the log-rate (exposure ``n p``).
* **Bounds** (promotion): the looks count in full (a burst's errors are part of the mean
  rate and must not be clipped away), with the variance scaled by the dispersion that
  the looks themselves show: the estimated-variance confidence sequence of the mean rate
  (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, Ann. Statist. 2024, arXiv 2103.06476).

Both are asymptotic. `ArmRate` combines each with the exact per-request process of
`analysis.eprocess.proportion` (the smaller e-value, the wider bound), so independent
requests keep the exact guarantee and dependent ones get the look-level one.

The cost (tests/analysis/test_block_proportion.py, docs/judge.md): an SLO broken only
by rare bursts is not rolled back by this process (each burst counts as a few events);
its bounds then stay above the SLO, so it is not promoted either. And a mean that rare
bursts make up cannot be bounded before enough bursts were seen: no bound can.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from analysis.eprocess.blocks import BlockGrid, BlockPriors, FloatArray
from analysis.eprocess.proportion import ProportionBounds, ProportionEProcess

_STEP = 0.025  # grid step in log-rate
_LOWEST = 1e-7  # smallest rate on the grid
_HIGHEST = 0.999  # largest rate on the grid
_BOUND_SHIFT = math.log(2.0)  # the bound prior sits at half the tested rate
_SPREAD = 3.0  # a look counts as at most usual + _SPREAD * sqrt(usual) + _SLACK events
_SLACK = 0.5
_USUAL_WINDOW = 60
_USUAL_PSEUDO = 1


class BlockProportionEProcess:
    """Look-level e-process for ``H0: p <= p0`` and anytime-valid bounds on ``p``.

    ``p0``: the rate tested for rollback (an SLO); None for bounds only. ``rollback_scale``:
    half-normal scale of the alternatives above ``p0`` in log-rate units.
    ``bound_width``: spread of the bound's prior (centred at half the tested rate),
    relative to that shift.
    """

    def __init__(
        self, p0: float | None = None, *, rollback_scale: float = 1.0, bound_width: float = 0.25
    ) -> None:
        """An empty process."""
        if p0 is not None and not 0.0 < p0 < 1.0:
            raise ValueError("the rate bound must be within (0, 1)")
        anchor = math.log(p0 if p0 is not None else 1e-3)
        first = math.ceil((math.log(_LOWEST) - anchor) / _STEP)
        last = math.floor((math.log(_HIGHEST) - anchor) / _STEP)
        self.theta: FloatArray = anchor + _STEP * np.arange(first, last + 1, dtype=np.float64)
        self._null_index = -first
        self.p0 = p0
        center = np.full(len(self.theta), -_BOUND_SHIFT)
        priors = BlockPriors(
            rollback_scale=rollback_scale,
            bound_center=center,
            bound_width=bound_width * np.abs(center),
        )
        self._rollback = BlockGrid(self.theta, priors)
        self._bounds = BlockGrid(self.theta, priors, clipped=False)
        self._rate = np.exp(self.theta)
        self._recent: deque[int] = deque(maxlen=_USUAL_WINDOW)
        self.events = 0
        self.trials = 0
        self._clipped_events = 0.0

    def update(self, events: int, trials: int) -> None:
        """Add one look's new events and trials."""
        if events < 0 or trials < 0 or events > trials:
            raise ValueError(f"need 0 <= events <= trials, got {events} of {trials}")
        if trials == 0:
            return
        usual = float(np.quantile([*self._recent, *[0] * _USUAL_PSEUDO], 0.5, method="lower"))
        # Never under what the null itself rarely exceeds (independent events at p0), so
        # the ceiling only ever lowers the count of a look that p0 makes implausible.
        null = trials * self.p0 if self.p0 is not None else 0.0
        ceiling = max(1.0, *(u + _SPREAD * math.sqrt(u) + _SLACK for u in (usual, null)))
        counted = min(float(events), ceiling)
        self._recent.append(events)
        self._add(self._rollback, counted, trials, self._clipped_events, self.trials)
        self._add(self._bounds, float(events), trials, self.events, self.trials)
        self._clipped_events += counted
        self.events += events
        self.trials += trials

    def _add(self, grid: BlockGrid, x: float, n: int, seen_x: float, seen_n: int) -> None:
        p = self._rate
        residual = None
        if seen_n > 0:
            # Pearson residual around the earlier looks' rate (Jeffreys-smoothed), scaled
            # for that estimate's own error.
            rate = (seen_x + 0.5) / (seen_n + 1.0)
            spread = math.sqrt(n * rate * (1.0 - rate) * (1.0 + n / (seen_n + 1.0)))
            residual = (x - n * rate) / spread
        grid.update(x - n * p, n * p * (1.0 - p), n * p, residual)

    @property
    def blocks(self) -> int:
        """Looks that counted (with requests)."""
        return self._bounds.blocks

    @property
    def dispersion(self) -> float:
        """The bounds' dispersion factor for the next look (1: as independent requests)."""
        return self._bounds.dispersion.factor

    @property
    def log_e_value(self) -> float:
        """Log e-value against ``p <= p0`` (0 without ``p0`` or before any look)."""
        if self.p0 is None or self._rollback.blocks == 0:
            return 0.0
        return self._rollback.log_e_value_at(self._null_index)

    def upper_bound(self, alpha: float) -> float:
        """Upper bound on the mean rate at level ``alpha``, valid at all looks."""
        if self._bounds.blocks == 0:
            return 1.0
        return min(1.0, math.exp(self._bounds.upper_bound(alpha)))

    def lower_bound(self, alpha: float) -> float:
        """Lower bound on the mean rate at level ``alpha``, valid at all looks."""
        if self._bounds.blocks == 0:
            return 0.0
        low = self._bounds.lower_bound(alpha)
        return 0.0 if low <= self.theta[0] else math.exp(low)


class ArmRate:
    """One arm's rate judged both ways: request by request (exact when requests are
    independent) and look by look (robust to bursts); the more cautious answer wins."""

    def __init__(
        self, p0: float | None = None, *, rollback_scale: float = 1.0, bound_width: float = 0.25
    ) -> None:
        """An empty pair; ``p0`` as in `BlockProportionEProcess`."""
        self.p0 = p0
        self._exact = ProportionEProcess(p0) if p0 is not None else None
        self._bounds = ProportionBounds()
        self._blocks = BlockProportionEProcess(
            p0, rollback_scale=rollback_scale, bound_width=bound_width
        )

    def update(self, events: int, trials: int) -> None:
        """Add one look's new events and trials."""
        self._blocks.update(events, trials)
        if self._exact is not None:
            self._exact.update(events, trials)

    @property
    def events(self) -> int:
        return self._blocks.events

    @property
    def trials(self) -> int:
        return self._blocks.trials

    @property
    def blocks(self) -> int:
        return self._blocks.blocks

    @property
    def dispersion(self) -> float:
        return self._blocks.dispersion

    @property
    def log_e_value(self) -> float:
        """The smaller of the two log e-values against ``p <= p0``."""
        if self._exact is None:
            return 0.0
        return min(self._exact.log_e_value, self._blocks.log_e_value)

    def upper_bound(self, alpha: float) -> float:
        """The larger of the two upper bounds at level ``alpha``."""
        exact = self._bounds.upper(self.events, self.trials, alpha)
        return max(exact, self._blocks.upper_bound(alpha))

    def lower_bound(self, alpha: float) -> float:
        """The smaller of the two lower bounds at level ``alpha``."""
        exact = self._bounds.lower(self.events, self.trials, alpha)
        return min(exact, self._blocks.lower_bound(alpha))
