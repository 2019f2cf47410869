"""Pure statistics for canary analysis: histograms, e-processes, the sequential judge.

No I/O and no clock: numbers in, verdicts out. Public API::

    from analysis import ArmSnapshot, Decision, Histogram, JudgeConfig, SequentialJudge

The judge and the sample-ratio guard load scipy, which takes about half a second; they
are imported on first use, so code that only records histograms (the load generator)
starts fast. Histograms (numpy) are imported on first use too, so that the CLI can read
the judge's defaults from `analysis.config` without loading numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from analysis.config import Direction, JudgeConfig, Margins, Priors, Slos, Tolerances
from analysis.verdict import Decision, MetricStatus, MetricVerdict, Verdict

if TYPE_CHECKING:
    from analysis.histogram import Histogram
    from analysis.judge import SequentialJudge
    from analysis.snapshot import ArmSnapshot
    from analysis.srm import SampleRatioGuard, SrmResult

_LAZY = {
    "ArmSnapshot": "analysis.snapshot",
    "Histogram": "analysis.histogram",
    "SequentialJudge": "analysis.judge",
    "SampleRatioGuard": "analysis.srm",
    "SrmResult": "analysis.srm",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


__all__ = [
    "ArmSnapshot",
    "Decision",
    "Direction",
    "Histogram",
    "JudgeConfig",
    "Margins",
    "MetricStatus",
    "MetricVerdict",
    "Priors",
    "SampleRatioGuard",
    "SequentialJudge",
    "Slos",
    "SrmResult",
    "Tolerances",
    "Verdict",
]
