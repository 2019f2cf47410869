"""E-processes: nonnegative supermartingales under the null, valid at any stopping time."""

from analysis.eprocess.grid import LikelihoodGrid
from analysis.eprocess.log_shift import LogShiftEProcess
from analysis.eprocess.proportion import ProportionBounds, ProportionEProcess
from analysis.eprocess.rate_ratio import RateRatioEProcess

__all__ = [
    "LikelihoodGrid",
    "LogShiftEProcess",
    "ProportionBounds",
    "ProportionEProcess",
    "RateRatioEProcess",
]
