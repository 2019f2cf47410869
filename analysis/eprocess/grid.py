"""A cumulative log-likelihood over a grid of one parameter, with mixture e-values.

A mixture of likelihood ratios over alternatives, each a test martingale under the null,
is itself a test martingale (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021).
With the likelihood tabulated on an evenly spaced grid, a discrete prior over grid
offsets gives exact mixture e-values for every grid null at once, and inverting them
gives confidence sequences: the set of grid values not rejected at level ``a`` covers
the truth at all times with probability ``>= 1 - a`` (Ville's inequality).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]


class LikelihoodGrid:
    """Cumulative log-likelihood ``loglik[i]`` of parameter value ``theta[i]``.

    ``theta`` runs from ``low`` to ``high`` in steps of ``step`` and contains 0 exactly.
    Kernels are priors over offsets ``k * step`` (k = 1, 2, ...) from the null being
    tested; they must sum to at most 1.
    """

    def __init__(self, low: float, high: float, step: float) -> None:
        """Grid on [low, high] (low < 0 < high) with spacing ``step``."""
        if not low < 0.0 < high or step <= 0:
            raise ValueError("need low < 0 < high and step > 0")
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        self.step = step
        self.theta: FloatArray = step * np.arange(first, last + 1, dtype=np.float64)
        self.zero_index = -first
        self.loglik: FloatArray = np.zeros(len(self.theta))

    def add(self, increment: FloatArray) -> None:
        """Add one look's log-likelihood increment (one value per grid point)."""
        self.loglik += increment

    def kernel(self, density: FloatArray) -> FloatArray:
        """Normalise a prior density evaluated at offsets ``step, 2*step, ...`` to sum 1."""
        total = float(density.sum())
        if total <= 0:
            raise ValueError("prior density must have positive mass")
        return density / total

    def offsets(self, count: int) -> FloatArray:
        """Offsets ``step * (1..count)`` at which kernels are evaluated."""
        return self.step * np.arange(1, count + 1, dtype=np.float64)

    def log_e_values(self, kernel: FloatArray, side: int) -> FloatArray:
        """Log mixture e-value for every grid null ``theta[j]``.

        ``side=+1`` mixes alternatives above the null (``theta[j] + k*step`` with weight
        ``kernel[k-1]``), ``side=-1`` below it. Alternatives off the grid count as zero,
        which only lowers the e-value (conservative).
        """
        width = len(kernel)
        padded = np.full(len(self.loglik) + width, -np.inf)
        if side > 0:
            padded[: len(self.loglik)] = self.loglik
            windows = sliding_window_view(padded, width)[1 : len(self.loglik) + 1]
            log_kernel = np.log(kernel)
        else:
            padded[width:] = self.loglik
            windows = sliding_window_view(padded, width)[: len(self.loglik)]
            log_kernel = np.log(kernel)[::-1]
        terms = windows + log_kernel
        top = terms.max(axis=1)
        finite = np.isfinite(top)
        result = np.full(len(self.loglik), -np.inf)
        shifted = np.exp(terms[finite] - top[finite, None])
        result[finite] = top[finite] + np.log(shifted.sum(axis=1))
        return result - self.loglik

    def log_e_value_at(self, index: int, log_kernel: FloatArray, side: int) -> float:
        """Log mixture e-value for the single null ``theta[index]`` (see `log_e_values`).

        Takes the kernel's logarithm (callers cache it: this is the hot path).
        """
        if side > 0:
            alt = self.loglik[index + 1 : index + 1 + len(log_kernel)]
        else:
            alt = self.loglik[max(0, index - len(log_kernel)) : index][::-1]
        if len(alt) == 0:
            return -math.inf
        terms = alt + log_kernel[: len(alt)]
        top = float(terms.max())
        return top - float(self.loglik[index]) + math.log(float(np.exp(terms - top).sum()))

    def upper_bound(self, log_threshold: float, log_kernel: FloatArray, hint: int = 0) -> float:
        """Anytime-valid upper confidence bound on theta.

        The grid nulls not rejected by the below-side mixture (``log_kernel``: log prior
        over offsets) form the confidence set; the bound is one grid step above its
        largest member, so that it also covers a truth between grid points; +inf when the
        top of the grid is not rejected. With a concave log-likelihood the below-side
        e-value is non-decreasing in the null (differences of a concave function shrink),
        so a search from ``hint`` (e.g. the previous look's answer) finds the edge.
        """
        first_rejected = self._first_index(
            lambda j: self.log_e_value_at(j, log_kernel, side=-1) >= log_threshold, hint
        )
        top = first_rejected - 1  # largest accepted null
        if top < 0:
            return float(self.theta[0])
        return math.inf if top + 1 >= len(self.theta) else float(self.theta[top + 1])

    def lower_bound(self, log_threshold: float, log_kernel: FloatArray, hint: int = 0) -> float:
        """Anytime-valid lower confidence bound on theta (mirror of `upper_bound`)."""
        bottom = self._first_index(
            lambda j: self.log_e_value_at(j, log_kernel, side=+1) < log_threshold, hint
        )
        if bottom >= len(self.theta):
            return float(self.theta[-1])
        return -math.inf if bottom == 0 else float(self.theta[bottom - 1])

    def index_of(self, theta: float) -> int:
        """Nearest grid index of a parameter value (clipped to the grid)."""
        if not math.isfinite(theta):
            return 0 if theta < 0 else len(self.theta) - 1
        index = round(theta / self.step) + self.zero_index
        return min(max(index, 0), len(self.theta) - 1)

    def _first_index(self, predicate: Callable[[int], bool], hint: int) -> int:
        """Smallest grid index where a monotone (False...True) predicate holds, or len.

        Gallops outward from ``hint`` and then bisects, so a good hint costs a few calls.
        """
        size = len(self.theta)
        hint = min(max(hint, 0), size - 1)
        step = 1
        if predicate(hint):
            high, low = hint, hint - 1
            while low >= 0 and predicate(low):
                high, low = low, low - step
                step *= 2
            low = max(low + 1, 0)
        else:
            low, high = hint + 1, hint + 1
            while high < size and not predicate(high):
                low, high = high + 1, high + step
                step *= 2
            high = min(high, size)
        while low < high:
            mid = (low + high) // 2
            if predicate(mid):
                high = mid
            else:
                low = mid + 1
        return low
