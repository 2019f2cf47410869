"""Mixing distributions (priors over offsets from the null) for grid e-processes."""

from __future__ import annotations

import numpy as np

from analysis.eprocess.grid import FloatArray, LikelihoodGrid


def logistic_kernel(grid: LikelihoodGrid, scale: float, max_offset: float) -> FloatArray:
    """Half-logistic prior on offsets in (0, max_offset].

    With scale 1 and equal traffic shares this is the uniform prior on the probability
    that an event comes from the canary, Lindon & Malek's Beta(1, 1) mixture.
    """
    offsets = grid.offsets(round(max_offset / grid.step))
    z = offsets / scale
    return grid.kernel(np.exp(-z) / (1.0 + np.exp(-z)) ** 2)


def truncated_normal_kernel(
    grid: LikelihoodGrid, center: float, width: float, max_offset: float
) -> FloatArray:
    """Normal prior N(center, width^2) on offsets, restricted to (0, max_offset].

    Used for non-inferiority bounds: centred one margin away from the tested value, it
    makes the bound tightest where it is compared with the margin.
    """
    offsets = grid.offsets(round(max_offset / grid.step))
    return grid.kernel(np.exp(-0.5 * ((offsets - center) / width) ** 2))
