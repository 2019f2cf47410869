"""Autoscaler what-if: replay a load trace through Knative's KPA (``harness autoscale``).

`harness.autoscale.trace` and `sources` read traces, `variants` and `target` the
Service's knobs, `simulate` runs the KPA model of `harness.knative.kpa` (the one the
emulator runs) second by second, `render` and `explain` show the results.
"""

from harness.autoscale.simulate import SimulationOptions, VariantRun, simulate
from harness.autoscale.trace import Trace

__all__ = ["SimulationOptions", "Trace", "VariantRun", "simulate"]
