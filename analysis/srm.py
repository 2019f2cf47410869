"""Sample-ratio mismatch: is the observed split between arms the configured one?

Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022
(arXiv 2011.03567), eq. for the Dirichlet-multinomial Bayes factor: with counts ``x``
and null shares ``p``, ``BF = B(a + x) / B(a) / prod(p_i ^ x_i)`` where
``B(a) = prod Gamma(a_i) / Gamma(sum a_i)`` is a test martingale under the null, so a
mismatch may be declared the first time ``BF >= 1 / alpha``. When the configured shares
change (a traffic step), the current segment's Bayes factor is frozen and a new segment
starts from the counts at that moment; the product of segments is still a test
supermartingale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln


@dataclass(frozen=True)
class SrmResult:
    """The guard's state after an update: e-value, whether it flags a mismatch, shares."""

    e_value: float
    mismatch: bool
    observed_shares: tuple[float, ...]
    expected_shares: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "e_value": self.e_value if math.isfinite(self.e_value) else None,
            "mismatch": self.mismatch,
            "observed_shares": list(self.observed_shares),
            "expected_shares": list(self.expected_shares),
        }


def _log_multivariate_beta(a: np.ndarray) -> float:
    return float(gammaln(a).sum() - gammaln(a.sum()))


class SampleRatioGuard:
    """Anytime-valid test that cumulative per-arm counts follow the expected shares.

    ``concentration``: the Dirichlet prior is ``concentration * expected_shares``, so it
    centres on the null and spreads by about ``1 / sqrt(concentration)`` in share.
    """

    def __init__(self, alpha: float = 0.001, concentration: float = 100.0) -> None:
        """A guard that flags a mismatch at e-value ``1 / alpha``."""
        if not 0.0 < alpha < 1.0 or concentration <= 0:
            raise ValueError("need 0 < alpha < 1 and concentration > 0")
        self.alpha = alpha
        self.concentration = concentration
        self._closed_log_e = 0.0
        self._segment_start: np.ndarray | None = None
        self._segment_shares: np.ndarray | None = None
        self._last_counts: np.ndarray | None = None
        self._max_log_e = 0.0

    def update(self, observed_counts: Sequence[int], expected_shares: Sequence[float]) -> SrmResult:
        """Feed cumulative counts per arm and the shares configured since the last call.

        Raises ValueError when counts decrease, lengths differ, or shares are negative or
        do not sum to 1. Feeding the same counts again changes nothing.
        """
        counts = np.asarray(observed_counts, dtype=np.int64)
        shares = np.asarray(expected_shares, dtype=np.float64)
        if counts.shape != shares.shape or counts.ndim != 1 or len(counts) < 2:
            raise ValueError("need one count and one expected share per arm (at least two)")
        if np.any(counts < 0) or np.any(shares < 0) or not math.isclose(shares.sum(), 1.0):
            raise ValueError("counts must be >= 0 and shares >= 0 summing to 1")
        if self._last_counts is not None:
            if counts.shape != self._last_counts.shape:
                raise ValueError("the number of arms changed")
            if np.any(counts < self._last_counts):
                raise ValueError("cumulative counts decreased (counter reset?)")
        if self._segment_shares is None or not np.allclose(shares, self._segment_shares):
            if self._segment_shares is not None and self._segment_start is not None:
                assert self._last_counts is not None
                self._closed_log_e += self._segment_log_e(self._last_counts)
            self._segment_start = (
                self._last_counts.copy() if self._last_counts is not None else np.zeros_like(counts)
            )
            self._segment_shares = shares
        self._last_counts = counts.copy()
        log_e = self._closed_log_e + self._segment_log_e(counts)
        self._max_log_e = max(self._max_log_e, log_e)
        total = counts.sum()
        observed = tuple((counts / total).tolist()) if total else tuple(0.0 for _ in counts)
        return SrmResult(
            e_value=math.exp(min(log_e, 700.0)),
            mismatch=self._max_log_e >= math.log(1.0 / self.alpha),
            observed_shares=observed,
            expected_shares=tuple(shares.tolist()),
        )

    def _segment_log_e(self, counts: np.ndarray) -> float:
        assert self._segment_start is not None and self._segment_shares is not None
        x = (counts - self._segment_start).astype(np.float64)
        p = self._segment_shares
        if np.any((p == 0) & (x > 0)):
            return math.inf
        keep = p > 0
        x, p = x[keep], p[keep]
        prior = self.concentration * p
        log_marginal = _log_multivariate_beta(prior + x) - _log_multivariate_beta(prior)
        return log_marginal - float(np.dot(x, np.log(p)))
