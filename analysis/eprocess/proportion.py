"""One arm's event rate (e.g. its error rate): beta-binomial mixtures.

Robbins (1970) / Lindon & Malek (2022, the two-category case): for Bernoulli trials the
Beta(a, b) mixture of likelihood ratios against ``p0``,
``B(a + x, b + n - x) / B(a, b) / (p0^x (1 - p0)^(n - x))``, is a test martingale under
``p = p0``; inverting it in ``p0`` gives a confidence sequence for ``p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.special import betainc, betaincc, betaln


def _log_null(x: int, n: int, p0: float) -> float:
    """Binomial log-likelihood (without the coefficient) at ``p0``."""
    log_p = math.log(p0) if x else 0.0
    log_q = math.log1p(-p0) if n - x else 0.0
    return x * log_p + (n - x) * log_q


@dataclass(frozen=True)
class ProportionBounds:
    """Anytime-valid confidence sequence for a rate from cumulative counts.

    ``a`` and ``b`` are the Beta prior's parameters (Jeffreys' 1/2, 1/2 by default).
    """

    a: float = 0.5
    b: float = 0.5

    def log_e_value(self, events: int, trials: int, p0: float) -> float:
        """Log of the two-sided mixture e-value against ``p = p0``."""
        if not 0.0 < p0 < 1.0:
            return math.inf
        log_marginal = betaln(self.a + events, self.b + trials - events) - betaln(self.a, self.b)
        return float(log_marginal) - _log_null(events, trials, p0)

    def upper(self, events: int, trials: int, alpha: float) -> float:
        """Upper bound on ``p`` holding at all times with probability ``>= 1 - alpha``."""
        _check_counts(events, trials)
        if trials == 0 or events == trials:
            return 1.0
        target = math.log(1.0 / alpha)
        estimate = events / trials
        if self.log_e_value(events, trials, max(estimate, 1e-300)) >= target:
            return estimate
        high = 1.0 - 1e-15
        if self.log_e_value(events, trials, high) < target:
            return 1.0
        return float(
            brentq(
                lambda p: self.log_e_value(events, trials, p) - target, max(estimate, 1e-300), high
            )
        )

    def lower(self, events: int, trials: int, alpha: float) -> float:
        """Lower bound on ``p`` holding at all times with probability ``>= 1 - alpha``."""
        _check_counts(events, trials)
        if trials == 0 or events == 0:
            return 0.0
        target = math.log(1.0 / alpha)
        estimate = events / trials
        low = 1e-300
        if self.log_e_value(events, trials, low) < target:
            return 0.0
        return float(brentq(lambda p: self.log_e_value(events, trials, p) - target, low, estimate))


class ProportionEProcess:
    """E-process against ``H0: p <= p0`` for one arm's rate (an absolute SLO).

    Mixture over ``p > p0`` with a Beta(1, 1/p0) prior restricted to ``(p0, 1)``; each
    component's likelihood ratio is monotone in the event count, so the mixture stays a
    supermartingale for every ``p <= p0``.
    """

    def __init__(self, p0: float) -> None:
        """Test the rate against the bound ``p0`` (0 < p0 < 1)."""
        if not 0.0 < p0 < 1.0:
            raise ValueError("the rate bound must be within (0, 1)")
        self.p0 = p0
        self.a, self.b = 1.0, 1.0 / p0
        self.events = 0
        self.trials = 0

    def update(self, events: int, trials: int) -> None:
        """Add one look's new events and trials."""
        _check_counts(events, trials)
        self.events += events
        self.trials += trials

    @property
    def log_e_value(self) -> float:
        """Log e-value of the evidence that the rate exceeds ``p0``."""
        x, n = self.events, self.trials
        a_post, b_post = self.a + x, self.b + n - x
        tail_post = float(betaincc(a_post, b_post, self.p0))
        tail_prior = float(betaincc(self.a, self.b, self.p0))
        if tail_post <= 0.0:
            # Posterior mass above p0 underflows: the evidence is overwhelmingly for H0.
            upper_mass = 1.0 - float(betainc(a_post, b_post, self.p0))
            if upper_mass <= 0.0:
                return -math.inf
            tail_post = upper_mass
        log_marginal = float(betaln(a_post, b_post) - betaln(self.a, self.b))
        return log_marginal + math.log(tail_post) - math.log(tail_prior) - _log_null(x, n, self.p0)


def _check_counts(events: int, trials: int) -> None:
    if events < 0 or trials < 0 or events > trials:
        raise ValueError(f"need 0 <= events <= trials, got {events} of {trials}")
