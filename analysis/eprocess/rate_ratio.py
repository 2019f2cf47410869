"""Ratio of two event rates, from events conditional on the arm they came from.

Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022
(arXiv 2011.03567): given that an event (an error, a request slower than a threshold)
happened in a look, it came from the canary with probability
``pi = rho * s / (rho * s + 1 - s)``, where ``s`` is the canary's share of the look's
requests and ``rho`` the ratio of the canary's event rate to the baseline's. The
baseline rate cancels, so the split between arms may change from look to look.

Validity with a fixed number of requests per arm: the canary's share of a look's events
is then hypergeometric, which Hoeffding (1963, Theorem 4) shows is dominated in convex
order by the binomial used here, so every likelihood ratio that is convex in the canary
count (all of ours) has expectation <= 1 under ``rho = 1``; a better canary
(``rho < 1``) is stochastically smaller, so the one-sided test stays valid.
"""

from __future__ import annotations

import math

import numpy as np

from analysis.eprocess.grid import LikelihoodGrid
from analysis.eprocess.priors import logistic_kernel, truncated_normal_kernel

_GRID_LOW, _GRID_HIGH, _GRID_STEP = -4.0, 4.0, 0.025


class RateRatioEProcess:
    """Mixture e-process for ``H0: rho <= tolerance`` and confidence sequence for ``rho``.

    ``rollback_scale``: scale of the half-logistic prior on ``log rho`` under the
    alternative. ``tolerance`` (default 1): the null's edge, rounded up to the grid (a
    larger null only makes the test more conservative). ``margin``: the non-inferiority
    margin on ``rho``; the upper bound's prior is centred ``log(margin)`` below each
    tested value, with ``bound_width`` relative spread.
    """

    def __init__(
        self,
        *,
        rollback_scale: float = 1.0,
        margin: float = 1.5,
        bound_width: float = 0.25,
        tolerance: float = 1.0,
    ) -> None:
        """Set up an empty process (log-likelihood 0 everywhere)."""
        if margin <= 1.0:
            raise ValueError("the margin on a rate ratio must be > 1")
        if not 1.0 <= tolerance < math.exp(_GRID_HIGH):
            raise ValueError("the rollback tolerance on a rate ratio must be >= 1")
        self.grid = LikelihoodGrid(_GRID_LOW, _GRID_HIGH, _GRID_STEP)
        self._null_index = self.grid.zero_index + math.ceil(math.log(tolerance) / _GRID_STEP - 1e-9)
        center = math.log(margin)
        self.alt_kernel = logistic_kernel(self.grid, rollback_scale, max_offset=_GRID_HIGH)
        self.bound_kernel = truncated_normal_kernel(
            self.grid, center, bound_width * center, max_offset=3.0 * center
        )
        self._log_alt_kernel = np.log(self.alt_kernel)
        self._log_bound_kernel = np.log(self.bound_kernel)
        self._upper_hint = self.grid.zero_index
        self._lower_hint = self.grid.zero_index
        self.baseline_events = 0
        self.canary_events = 0
        self.baseline_trials = 0
        self.canary_trials = 0

    def update(
        self, baseline_events: int, canary_events: int, baseline_trials: int, canary_trials: int
    ) -> None:
        """Add one look's new events and new trials (requests) per arm."""
        if min(baseline_events, canary_events, baseline_trials, canary_trials) < 0:
            raise ValueError("event and trial counts must be non-negative")
        if baseline_events > baseline_trials or canary_events > canary_trials:
            raise ValueError("more events than trials")
        self.baseline_events += baseline_events
        self.canary_events += canary_events
        self.baseline_trials += baseline_trials
        self.canary_trials += canary_trials
        events = baseline_events + canary_events
        if events == 0 or baseline_trials == 0 or canary_trials == 0:
            return  # no event, or the arm of every event is certain: likelihood ratio 1
        share = canary_trials / (baseline_trials + canary_trials)
        # log pi(theta) and log(1 - pi(theta)), pi = s e^theta / (s e^theta + 1 - s).
        log_norm = np.logaddexp(self.grid.theta + math.log(share), math.log1p(-share))
        log_pi = self.grid.theta + math.log(share) - log_norm
        log_not_pi = math.log1p(-share) - log_norm
        self.grid.add(canary_events * log_pi + baseline_events * log_not_pi)

    @property
    def log_e_value(self) -> float:
        """Log e-value against ``rho <= tolerance`` (mixture over larger ``rho``).

        Valid for every ``rho`` at or below the edge: per event, the likelihood ratio of
        a larger canary share to the edge's has expectation linear in the true share,
        1 at the edge and smaller below it.
        """
        return self.grid.log_e_value_at(self._null_index, self._log_alt_kernel, side=+1)

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
        theta = self.grid.upper_bound(
            math.log(1.0 / alpha), self._log_bound_kernel, hint=self._upper_hint
        )
        self._upper_hint = self.grid.index_of(theta)
        return math.exp(theta)

    def lower_bound(self, alpha: float) -> float:
        """Anytime-valid lower confidence bound on ``rho`` at level ``alpha``."""
        theta = self.grid.lower_bound(
            math.log(1.0 / alpha), self._log_alt_kernel, hint=self._lower_hint
        )
        self._lower_hint = self.grid.index_of(theta)
        return math.exp(theta)
