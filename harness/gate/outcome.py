"""A gate's result as plain values, shared by the comparison (`run.py`) and the report
(`report.py`), so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK
from harness.statuses import GateVerdict
from harness.store import RunRecord

if TYPE_CHECKING:  # analysis.fixed loads scipy: only when a gate compares
    from analysis import ArmSnapshot
    from analysis.config import GateTolerances
    from analysis.fixed import MetricResult

__all__ = ["EXIT_CODES", "GateOutcome", "metric_name"]


EXIT_CODES = {
    GateVerdict.PASSED: EXIT_OK,
    GateVerdict.REGRESSION: EXIT_FAILED,
    GateVerdict.INCONCLUSIVE: EXIT_ABORTED,
}


def metric_name(name: str) -> str:
    """``error_rate`` -> ``error rate``, ``p99`` -> ``latency p99``: how reports name them."""
    return "error rate" if name == "error_rate" else f"latency {name}"


@dataclass(frozen=True)
class GateOutcome:
    """A gate's result as plain values: the runs compared, each metric, the verdict.

    ``metrics`` are `analysis.fixed.MetricResult` in the order error rate, p50, p90,
    p99; ``status`` is passed, regression or inconclusive (`exit_code` 0, 1, 3).
    """

    gate_id: str
    namespace: str
    service: str
    arm: str
    profile: str
    against: str
    candidate: RunRecord
    references: tuple[RunRecord, ...]
    candidate_arm: ArmSnapshot
    reference_arm: ArmSnapshot
    metrics: tuple[MetricResult, ...]
    tolerances: GateTolerances
    status: GateVerdict
    started: float
    finished: float
    notes: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        """0 passed, 1 regression, 3 inconclusive."""
        return EXIT_CODES[self.status]

    def explanation(self) -> list[str]:
        """Sentences saying what was compared and why the gate decided as it did."""
        from analysis.fixed import GateStatus

        refs = self.references
        if len(refs) == 1:
            what = f"reference run {refs[0].id}" + (f" ({refs[0].label})" if refs[0].label else "")
        else:
            what = f"{len(refs)} reference runs merged ({refs[-1].id} … {refs[0].id})"
        label = f" ({self.candidate.label})" if self.candidate.label else ""
        sentences = [
            f"candidate run {self.candidate.id}{label} vs {what}, --against {self.against}; "
            f"arm {self.arm}, profile {self.profile}",
            f"candidate {self.candidate_arm.requests:,} requests, {self.candidate_arm.errors:,} "
            f"errors; reference {self.reference_arm.requests:,} requests, "
            f"{self.reference_arm.errors:,} errors",
        ]
        failed = [metric_name(m.name) for m in self.metrics if m.status is GateStatus.FAIL]
        skipped = [
            metric_name(m.name)
            for m in self.metrics
            if m.status not in (GateStatus.FAIL, GateStatus.PASS)
        ]
        if failed:
            sentences.append(f"regression in {', '.join(failed)}")
        elif self.status is GateVerdict.PASSED:
            sentences.append("no metric is worse than its tolerance")
        else:
            sentences.append("not enough data to judge the error rate and a latency quantile")
        if skipped:
            sentences.append(f"not judged (too few requests): {', '.join(skipped)}")
        return sentences + list(self.notes)
