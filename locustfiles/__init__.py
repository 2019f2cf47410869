"""Locust user classes and load shapes of knative-harness.

`hello.HelloUser` is the built-in user: one GET per task against one arm, paced closed
(users and think time) or open (a due time per request). `shapes` holds the steady,
ramp, spike and soak `LoadTestShape`s. Importing this package imports Locust, which
monkey-patches the process with gevent: only Locust processes import it.
"""

from locustfiles.hello import HelloUser, RequestBudget
from locustfiles.shapes import SHAPES, RampShape, SoakShape, SpikeShape, SteadyShape

__all__ = [
    "SHAPES",
    "HelloUser",
    "RampShape",
    "RequestBudget",
    "SoakShape",
    "SpikeShape",
    "SteadyShape",
]
