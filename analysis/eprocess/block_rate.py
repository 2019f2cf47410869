"""Ratio of two event rates, one time block (look) at a time.

Given the ``k`` events (errors, or requests above a latency threshold) of a block, the
canary's count ``c`` has mean ``k pi(rho)`` with ``pi = rho s / (rho s + 1 - s)``, where
``s`` is the canary's share of the block's requests and ``rho`` the ratio of the
canary's event rate to the baseline's; the baseline rate cancels (Lindon & Malek,
NeurIPS 2022, arXiv 2011.03567, condition on each event's arm). Events of one block are
not assumed independent: an error burst puts many events in one arm at once, often in
two consecutive looks. So a block counts as at most a Poisson-like ceiling over the usual
number of events (the median of recent blocks; with the canary share it showed), its
excess is clipped at `blocks.CLIP` standard deviations (times the estimated dispersion),
and the blocks are combined with the normal mixture of
`analysis.eprocess.blocks.BlockGrid` over the per-event drift of the canary's share.
Under identically distributed arms the block's canary/baseline split is exchangeable,
so its excess is symmetric about 0.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from analysis.eprocess.blocks import BlockGrid, BlockPriors, FloatArray

_LOW, _HIGH, _STEP = -4.0, 4.0, 0.025
_SPREAD = 3.0  # a block counts as at most usual + _SPREAD * sqrt(usual) + _SLACK events
_SLACK = 0.5
_USUAL_WINDOW = 60  # recent blocks whose median is the usual
_USUAL_PSEUDO = 1  # a pseudo-block without events in that median: early bursts weigh little
_PSEUDO_EVENTS = 4.0  # events at the requests' share in the share estimate of residuals


class BlockRateRatioEProcess:
    """Block-level e-process for ``H0: rho <= tolerance`` and bounds on ``rho``.

    ``rollback_scale``: scale of the alternatives above the null, in log-ratio units
    (converted to the per-event drift of the canary's share at the first block's split).
    ``margin``: non-inferiority margin on ``rho``; the upper bound's prior sits
    ``log(margin)`` below each tested value with relative spread ``bound_width``.
    """

    def __init__(
        self,
        *,
        rollback_scale: float = 1.0,
        margin: float = 1.5,
        bound_width: float = 0.25,
        tolerance: float = 1.0,
    ) -> None:
        """An empty process."""
        if margin <= 1.0:
            raise ValueError("the margin on a rate ratio must be > 1")
        if not 1.0 <= tolerance < math.exp(_HIGH):
            raise ValueError("the rollback tolerance on a rate ratio must be >= 1")
        first = math.ceil(_LOW / _STEP - 1e-9)
        self.theta: FloatArray = _STEP * np.arange(
            first, math.floor(_HIGH / _STEP + 1e-9) + 1, dtype=np.float64
        )
        self._null_index = -first + math.ceil(math.log(tolerance) / _STEP - 1e-9)
        self._scale = rollback_scale
        self._margin = margin
        self._bound_width = bound_width
        self.grid: BlockGrid | None = None
        self._blocks = 0
        self._events_c = 0
        self._events_k = 0
        self._share_sum = 0.0
        self._recent: deque[int] = deque(maxlen=_USUAL_WINDOW)
        self.baseline_events = 0
        self.canary_events = 0
        self.baseline_trials = 0
        self.canary_trials = 0

    def _share(self, theta: FloatArray, s: float) -> FloatArray:
        return np.asarray(1.0 / (1.0 + np.exp(-theta) * (1.0 - s) / s), dtype=np.float64)

    def _make_grid(self, s: float) -> BlockGrid:
        # Priors in units of the canary's share per event, fixed at the first block.
        slope = s * (1.0 - s)
        center = self._share(self.theta - math.log(self._margin), s) - self._share(self.theta, s)
        center = np.minimum(center, -1e-6)
        return BlockGrid(
            self.theta,
            BlockPriors(
                rollback_scale=self._scale * slope,
                bound_center=center,
                bound_width=self._bound_width * np.abs(center),
            ),
        )

    def update(
        self,
        baseline_events: int,
        canary_events: int,
        baseline_trials: int,
        canary_trials: int,
        *,
        expected_events: float | None = None,
    ) -> None:
        """Add one block's new events and new trials (requests) per arm.

        ``expected_events``: the block's usual number of events when the design fixes it
        before the split is seen (requests above a pooled quantile q: ``(1 - q) n``);
        otherwise the usual is estimated from earlier blocks (`_weight`).
        """
        if min(baseline_events, canary_events, baseline_trials, canary_trials) < 0:
            raise ValueError("event and trial counts must be non-negative")
        if baseline_events > baseline_trials or canary_events > canary_trials:
            raise ValueError("more events than trials")
        self.baseline_events += baseline_events
        self.canary_events += canary_events
        self.baseline_trials += baseline_trials
        self.canary_trials += canary_trials
        events = baseline_events + canary_events
        if baseline_trials == 0 or canary_trials == 0:
            return
        self._blocks += 1
        # The block counts as `weight` events with the canary share it showed.
        weight = self._weight(events, expected_events)
        self._recent.append(events)
        if events == 0:
            return
        s = canary_trials / (baseline_trials + canary_trials)
        if self.grid is None:
            self.grid = self._make_grid(s)
        pi = self._share(self.theta, s)
        residual = self._residual(canary_events, events, s)
        if residual is not None:
            residual *= math.sqrt(weight / events)
        self.grid.update(
            weight * (canary_events / events - pi),
            weight * pi * (1.0 - pi),
            np.full(len(self.theta), weight),
            residual,
        )
        self._events_c += canary_events
        self._events_k += events
        self._share_sum += events * s

    def _residual(self, canary_events: int, events: int, s: float) -> float | None:
        """Pearson residual of the canary's count around its share in earlier blocks.

        The earlier share is shrunk towards the requests' share with `_PSEUDO_EVENTS`,
        and the residual is scaled for that estimate's own error.
        """
        if self._events_k == 0:
            return None
        prior = _PSEUDO_EVENTS * (self._share_sum / self._events_k)
        known = self._events_k + _PSEUDO_EVENTS
        share = (self._events_c + prior) / known
        share = min(max(share, 1e-3), 1 - 1e-3)
        shrink = math.sqrt(known / (known + events))
        spread = math.sqrt(events * share * (1.0 - share))
        return shrink * (canary_events - events * share) / spread

    def _weight(self, events: int, usual: float | None = None) -> float:
        """How many events a block counts as: its own, at most a Poisson-like ceiling.

        The usual ``u`` is the lower median events of the last `_USUAL_WINDOW` blocks
        (blocks without events count) and `_USUAL_PSEUDO` pseudo-block without events; it
        is predictable (earlier blocks only), so the first two blocks count as one event
        each and a steady rate is trusted from the third. The ceiling
        ``u + 3 sqrt(u) + 0.5`` (never less than one event) is rarely reached by
        independent events (a Poisson count with mean ``u`` stays under it), while a
        burst of errors in one arm, one occurrence and not hundreds of independent ones,
        weighs as a few events that showed the burst's canary share. The median is what
        makes this hold when bursts are most of the events and when a burst straddles
        two looks: a mean, or a median of a few blocks, is pulled up by the bursts
        themselves (a CI run of identical revisions was rolled back so;
        tests/analysis/test_blocks.py replays it).
        """
        if usual is None:
            usual = float(np.quantile([*self._recent, *[0] * _USUAL_PSEUDO], 0.5, method="lower"))
        return float(min(events, max(1.0, usual + _SPREAD * math.sqrt(usual) + _SLACK)))

    @property
    def blocks(self) -> int:
        """Looks that counted (both arms had requests)."""
        return self._blocks

    @property
    def dispersion(self) -> float:
        """The dispersion factor the next block will use (1: as independent events)."""
        return 1.0 if self.grid is None else self.grid.dispersion.factor

    @property
    def log_e_value(self) -> float:
        """Log e-value against ``rho <= tolerance``."""
        return 0.0 if self.grid is None else self.grid.log_e_value_at(self._null_index)

    @property
    def estimate(self) -> float:
        """Ratio of observed rates (canary / baseline); nan without trials, inf if 0/x."""
        if self.baseline_trials == 0 or self.canary_trials == 0:
            return math.nan
        rate_b = self.baseline_events / self.baseline_trials
        rate_c = self.canary_events / self.canary_trials
        if rate_b == 0:
            return math.nan if rate_c == 0 else math.inf
        return rate_c / rate_b

    def upper_bound(self, alpha: float) -> float:
        """Anytime-valid upper confidence bound on ``rho`` at level ``alpha``."""
        return math.inf if self.grid is None else math.exp(self.grid.upper_bound(alpha))

    def lower_bound(self, alpha: float) -> float:
        """Anytime-valid lower confidence bound on ``rho`` at level ``alpha``."""
        return 0.0 if self.grid is None else math.exp(self.grid.lower_bound(alpha))
