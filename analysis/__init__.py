"""Pure statistics for canary analysis: histograms, e-processes, the sequential judge.

No I/O and no clock: numbers in, verdicts out. Public API::

    from analysis import ArmSnapshot, Decision, Histogram, JudgeConfig, SequentialJudge
"""

from analysis.config import Direction, JudgeConfig
from analysis.histogram import Histogram
from analysis.judge import SequentialJudge
from analysis.snapshot import ArmSnapshot
from analysis.srm import SampleRatioGuard, SrmResult
from analysis.verdict import Decision, MetricStatus, MetricVerdict, Verdict

__all__ = [
    "ArmSnapshot",
    "Decision",
    "Direction",
    "Histogram",
    "JudgeConfig",
    "MetricStatus",
    "MetricVerdict",
    "SampleRatioGuard",
    "SequentialJudge",
    "SrmResult",
    "Verdict",
]
