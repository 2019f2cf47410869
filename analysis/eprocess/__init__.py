"""E-processes: nonnegative supermartingales under the null, valid at any stopping time."""

from analysis.eprocess.proportion import ProportionBounds, ProportionEProcess

__all__ = [
    "ProportionBounds",
    "ProportionEProcess",
]
