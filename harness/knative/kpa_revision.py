"""One revision's whole KPA on one clock: collector, decider and reconciler together.

The one model both the emulator (``harness.local.autoscaler``) and the what-if simulator
(``harness.autoscale.simulate``) run: they only feed it observations and act on the
replicas it returns. Every scaling rule is here or in the modules it drives:

- the collector's windows and the decider (`KpaModel`, ``kpa.py``, ``kpa_windows.py``);
- the multiscaler's cadence (knative/serving ``pkg/autoscaler/scaling/multiscaler.go`` at
  98e5ef90aa7033797aa0a61ef97f3ff7e49a3944): a decision every 2 s from the decider's
  creation (``runScalerTicker``), and at once when a stat pushed by the activator has
  concurrency while the last decided scale is 0 (``Poke``); before its first decision
  the scale is -1 and the excess burst capacity that of ``initial-scale`` pods
  (``createScaler``);
- the reconciler (`KpaScaler`, ``kpa_scaler.py``: ``kpa/scaler.go`` and ``kpa.go``):
  min-, max- and initial-scale, scale to zero after the stable window, grace and
  retention periods, and whether the activator is in the request path.

Knative reconciles when the decision changes and when a period it waits for ends;
`RevisionKpa.observe` reconciles at every observation (every second), which gives the
same replicas within a second. Pure: times are explicit seconds, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.knative.kpa import KpaModel, ScaleDecision
from harness.knative.kpa_scaler import SCALE_UNKNOWN, KpaScaler
from harness.knative.kpa_settings import TICK_INTERVAL_S, ScalingSettings


@dataclass(frozen=True)
class KpaStep:
    """One observation of a revision and what the KPA made of it.

    ``decided`` says whether the decider ran (a tick or a poke); ``desired_scale`` is
    its last scale (-1 before it had data), ``want`` and ``replicas`` the reconciler's
    wanted scale (-1 unknown) and the Deployment's replicas after it, which is what the
    emulator runs and the simulator starts pods for."""

    t: float
    ready_pods: int
    observed: float | None
    decided: bool
    desired_scale: int
    excess_burst_capacity: int
    want: int
    replicas: int
    activator_in_path: bool
    panic: bool


class RevisionKpa:
    """Knative's KPA for one revision created at ``now`` with ``replicas`` pods
    (default ``initial-scale``; 0: behind the activator) of which ``ready_pods`` are
    ready (more than one: the decider starts in panic, as after an autoscaler restart).

    ``steps`` keeps every `KpaStep` when ``keep_steps`` (tests compare the emulator's
    with the simulator's); ``tick_interval_s`` is Knative's 2 s."""

    def __init__(
        self,
        settings: ScalingSettings,
        now: float = 0.0,
        *,
        replicas: int = -1,
        ready_pods: int = 0,
        tick_interval_s: float = TICK_INTERVAL_S,
        keep_steps: bool = False,
    ) -> None:
        self.settings = settings
        self.model = KpaModel(settings, ready_pods, now)
        self.scaler = KpaScaler(settings, now, replicas)
        self.tick_interval_s = tick_interval_s
        self.next_tick = now + tick_interval_s
        self.desired_scale = SCALE_UNKNOWN
        burst = settings.target_burst_capacity
        self.excess_burst_capacity = (
            int(burst) if burst in (-1, 0) else int(settings.initial_scale * settings.total - burst)
        )
        self.steps: list[KpaStep] | None = [] if keep_steps else None

    @property
    def replicas(self) -> int:
        """The Deployment's replicas as the reconciler last set them."""
        return self.scaler.replicas

    @property
    def activator_in_path(self) -> bool:
        """The ServerlessService's mode: True in proxy mode (the activator in the path)."""
        return self.scaler.proxy

    @property
    def decision(self) -> ScaleDecision | None:
        """The decider's last decision (what Knative's autoscaler gauges show)."""
        return self.model.decision

    @property
    def in_panic(self) -> bool:
        return self.model.decider.in_panic

    def observe(self, now: float, value: float | None, ready_pods: int) -> int:
        """One observation at ``now``: the revision's average concurrency (or requests
        per second) over the last period, summed over its pods and the requests held at
        the activator, or None when nothing could be read. Decides when a tick is due, or
        at once when the activator reported it (it is in the path, or no pod is ready)
        with requests while the last decided scale is 0 (Knative's ``Poke``); then
        reconciles. Returns the replicas to run (`activator_in_path` and `in_panic` tell
        the rest)."""
        if value is not None:
            self.model.record(now, value)
        decided = False
        if now >= self.next_tick:
            while self.next_tick <= now:
                self.next_tick += self.tick_interval_s
            decided = self._decide(now, ready_pods)
        elif value and self.desired_scale == 0 and (self.scaler.proxy or ready_pods == 0):
            decided = self._decide(now, ready_pods)
        if self.steps is None:
            scaler = self.scaler
            scaler.reconcile_want(now, self.desired_scale, self.excess_burst_capacity, ready_pods)
            return scaler.replicas
        return self._reconcile(now, value, ready_pods, decided)

    def _decide(self, now: float, ready_pods: int) -> bool:
        counts = self.model.decide_counts(now, ready_pods)
        if counts is None:
            return False  # no data: Knative's Scale is not valid, the last scale stays
        self.desired_scale, self.excess_burst_capacity = counts
        return True

    def _reconcile(self, now: float, value: float | None, ready_pods: int, decided: bool) -> int:
        """Reconcile, and keep the step."""
        scaler = self.scaler
        want = scaler.reconcile_want(
            now, self.desired_scale, self.excess_burst_capacity, ready_pods
        )
        step = KpaStep(
            t=now,
            ready_pods=ready_pods,
            observed=value,
            decided=decided,
            desired_scale=self.desired_scale,
            excess_burst_capacity=self.excess_burst_capacity,
            want=want,
            replicas=scaler.replicas,
            activator_in_path=scaler.proxy,
            panic=self.model.decider.in_panic,
        )
        if self.steps is not None:
            self.steps.append(step)
        return scaler.replicas
