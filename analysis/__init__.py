"""Pure statistics for canary analysis: histograms, e-processes, the sequential judge."""

from analysis.histogram import Histogram

__all__ = ["Histogram"]
