"""What the judge says after a look: plain frozen values that serialise to JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import Any


class Decision(StrEnum):
    """The judge's decision after one look.

    INVALID: the observed split between arms contradicts the configured one (sample
    ratio mismatch), so the comparison cannot be trusted; halt and restore the baseline.
    """

    CONTINUE = "continue"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    INVALID = "invalid"


class MetricStatus(StrEnum):
    """One metric's state."""

    REGRESSION = "regression"
    NON_INFERIOR = "non_inferior"
    INCONCLUSIVE = "inconclusive"
    INSUFFICIENT_DATA = "insufficient_data"


def _json_number(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


@dataclass(frozen=True)
class MetricVerdict:
    """One metric after one look.

    ``e_value`` is the current e-value against "canary not worse", ``max_e_value`` its
    running maximum (the rollback rule uses it), ``threshold`` = m / alpha. ``estimate``,
    ``lower`` and ``upper`` are on the scale named by ``measure`` (e.g. a ratio canary /
    baseline); ``lower`` holds at the rollback level alpha / m and ``upper`` at the
    promote level, both at all looks simultaneously. ``margin`` is the largest
    degradation tolerated for promotion.

    What `analysis.explain.metric_sentence` renders ``explanation`` from: ``observed``
    (what was compared, in words and numbers), ``blocks`` (looks that counted: the unit
    of comparison), ``dispersion`` (how much more their differences varied than
    independent requests would), ``tolerance`` (the rollback tolerance) and ``note``
    (which bound showed non-inferiority, when not the main one).
    """

    name: str
    status: MetricStatus
    e_value: float
    max_e_value: float
    threshold: float
    estimate: float
    lower: float
    upper: float
    margin: float
    measure: str
    explanation: str
    observed: str = ""
    blocks: int = 0
    dispersion: float = 1.0
    tolerance: float = 1.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (non-finite numbers become None)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, float):
                value = _json_number(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class Verdict:
    """The judge's answer to one look: a decision, its reason and every metric."""

    decision: Decision
    reason: str
    look: int
    baseline_requests: int
    canary_requests: int
    metrics: tuple[MetricVerdict, ...]
    srm_e_value: float | None = None

    def metric(self, name: str) -> MetricVerdict:
        """The verdict of one metric by name (KeyError if absent)."""
        for item in self.metrics:
            if item.name == name:
                return item
        raise KeyError(name)

    def explain(self) -> str:
        """One plain sentence per metric saying why, after the decision's reason."""
        return "\n".join([self.reason, *(m.explanation for m in self.metrics)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "look": self.look,
            "baseline_requests": self.baseline_requests,
            "canary_requests": self.canary_requests,
            "srm_e_value": None if self.srm_e_value is None else _json_number(self.srm_e_value),
            "metrics": [m.to_dict() for m in self.metrics],
        }
