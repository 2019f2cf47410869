"""Scheduled performance runs: load a Service, measure it, keep the run in history.

Public face: `execute_perf` and `PerfRun` (`run.py`), `PerfOutcome` (`outcome.py`).
"""

from harness.perf.outcome import PerfOutcome
from harness.perf.run import PerfRun, execute_perf

__all__ = ["PerfOutcome", "PerfRun", "execute_perf"]
