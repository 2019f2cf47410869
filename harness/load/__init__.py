"""Load generation with Locust against a Service's tagged revision URLs.

Public API (import from the submodules; this package imports nothing, so that a Locust
process can import Locust, and with it gevent's monkey-patching, before anything else):

* `harness.load.targets`: `Arm`, `url_arm`, `service_arms`, `check_reachable`;
* `harness.load.plan`: `Pacing`, `LoadPlan`, `UserCode`, `Distribution`;
* `harness.load.stats`: `ArmStats` (per-arm counts, latency `Histogram`, revisions);
* `harness.load.driver`: `LoadDriver` (`start`, `status`, `snapshot`, `stop`);
* `harness.load.summary`: `RunSummary` (what `harness load` prints).

Modules that import Locust (`engine`, `worker`, `distributed`, `userclasses`) run only
in the Locust processes the driver starts, never in the caller's process.
"""
