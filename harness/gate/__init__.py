"""Release gates: compare the newest saved run with a reference from history.

Public face: `execute_gate` and `GateRun` (`run.py`), `gate_document` (`report.py`).
"""

from harness.gate.report import gate_document
from harness.gate.run import GateRun, execute_gate

__all__ = ["GateRun", "execute_gate", "gate_document"]
