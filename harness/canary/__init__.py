"""The canary: a state machine that moves traffic step by step while a judge watches.

Public face: `run_canary_command` and `run_rollback_command` (the CLI's entry points),
`CanaryController` (the state machine, `controller.py`) and its `Plan`.
"""

from harness.canary.controller import CanaryController, Outcome, Plan
from harness.canary.rollback import run_rollback_command
from harness.canary.run import run_canary_command

__all__ = ["CanaryController", "Outcome", "Plan", "run_canary_command", "run_rollback_command"]
