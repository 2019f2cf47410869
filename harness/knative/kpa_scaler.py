"""The KPA reconciler's rules for one revision: bounds, initial scale, scale to zero.

Pure and time-stepped: `KpaScaler.reconcile` is one reconcile of the PodAutoscaler
(knative/serving ``pkg/reconciler/autoscaling/kpa/kpa.go`` ReconcileKind and
``scaler.go`` scale/handleScaleToZero at 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944),
given the decider's desired scale (-1 before it has data), its excess burst capacity and
the ready pods. It keeps the PodAutoscaler's Active condition and the ServerlessService's
mode:

- the desired scale is kept within [min-scale, max-scale]; until the revision has once
  reached ``initial-scale`` ready pods, min-scale is at least initial-scale;
- a desired 0 becomes 1 while scale to zero is disabled; an Active revision is marked
  Inactive (still 1 pod) only after it was Active for a stable window; an Inactive one
  goes to 0 once the activator is in its path and it has been Inactive for
  max(``scale-to-zero-grace-period``, ``scale-to-zero-pod-retention-period``), or
  Inactive for the retention and the activator in the path for the grace period;
- the activator is in the path (SKS proxy mode) unless the revision wants pods and its
  excess burst capacity is >= 0 (target-burst-capacity -1: always in the path).

Knative re-enqueues the reconcile at the moments these periods end; calling
`reconcile` every second gives the same outcome within a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.knative.kpa_settings import ACTIVATION_TIMEOUT_S, ScalingSettings

SCALE_UNKNOWN = -1


class Activity(StrEnum):
    """The PodAutoscaler's Active condition."""

    activating = "Activating"  # Active=Unknown
    active = "Active"  # Active=True
    inactive = "Inactive"  # Active=False


@dataclass(frozen=True)
class Reconciled:
    """One reconcile: the scale wanted (-1 unknown), the Deployment's replicas after it,
    and whether the activator is in the request path."""

    want: int
    replicas: int
    activator_in_path: bool


class KpaScaler:
    """One revision's PodAutoscaler state across reconciles.

    ``replicas`` and ``activity`` start as a revision that just became Ready with
    ``replicas`` pods (initial-scale by default; 0 starts Inactive behind the activator).
    """

    def __init__(self, settings: ScalingSettings, now: float = 0.0, replicas: int = -1) -> None:
        self.settings = settings
        self.replicas = settings.initial_scale if replicas < 0 else replicas
        self.activity = Activity.active if self.replicas > 0 else Activity.inactive
        self.activity_since = now
        self.initialized = self.replicas >= max(settings.min_scale, settings.initial_scale)
        self.proxy = self.replicas == 0 or settings.target_burst_capacity == -1
        self.proxy_since = now

    @property
    def settings(self) -> ScalingSettings:
        return self._settings

    @settings.setter
    def settings(self, spec: ScalingSettings) -> None:
        # What every reconcile reads of the settings, worked out once.
        self._settings = spec
        low = spec.min_scale if spec.reachable else 0
        self._low = low  # the lowest scale once initialized
        self._low_before_initial = (
            max(spec.initial_scale, low) if spec.initial_scale > 1 and spec.reachable else low
        )
        self._high = spec.max_scale
        self._active_at = max(low, 1)  # min_ready once initialized
        self._active_before_initial = max(low, spec.initial_scale)
        self._always_proxy = spec.target_burst_capacity == -1

    def min_ready(self) -> int:
        """``activeThreshold``: the ready pods that make the revision Active."""
        return self._active_at if self.initialized else self._active_before_initial

    def reconcile(
        self, now: float, desired: int, excess_burst_capacity: int, ready: int
    ) -> Reconciled:
        """One reconcile at ``now``."""
        want = self.reconcile_want(now, desired, excess_burst_capacity, ready)
        return Reconciled(want, self.replicas, self.proxy)

    def reconcile_want(
        self, now: float, desired: int, excess_burst_capacity: int, ready: int
    ) -> int:
        """`reconcile` without the `Reconciled`: the scale wanted (-1 unknown); the
        replicas and the activator's mode are then `replicas` and `proxy`."""
        activity = self.activity
        initialized = self.initialized
        # scale: the desired scale within the bounds, or the scale-to-zero rules
        if desired < 0 and activity is not Activity.activating:
            want = desired
        else:
            low = self._low if initialized else self._low_before_initial
            high = self._high
            if desired < low:
                want = low
            elif high and desired > high:
                want = high
            else:
                want = desired
            if want != 0:
                self.replicas = want
            else:
                want, apply = self._to_zero(now)
                if apply:
                    self.replicas = want
        # the activator in the path
        if self._always_proxy or (want == SCALE_UNKNOWN and activity is Activity.inactive):
            proxy = True
        else:
            proxy = not (want > 0 and excess_burst_capacity >= 0)
        if proxy != self.proxy:
            self.proxy = proxy
            self.proxy_since = now
        # the Active condition
        minimum = self._active_at if initialized else self._active_before_initial
        if ready >= minimum:
            self.initialized = True
        if want == 0 or minimum == 0:
            new = Activity.inactive
        elif want > 0 or activity is not Activity.inactive:
            new = Activity.activating if ready < minimum else Activity.active
        else:
            return want
        if new is not activity:
            self.activity = new
            self.activity_since = now
        return want

    def _to_zero(self, now: float) -> tuple[int, bool]:
        """A desired scale of 0 (after the bounds): the scale and whether it is applied."""
        spec = self._settings
        if not spec.enable_scale_to_zero:
            return 1, True
        since = now - self.activity_since
        if self.activity is Activity.activating:
            if since >= ACTIVATION_TIMEOUT_S:
                return 0, True
            return SCALE_UNKNOWN, False
        if self.activity is Activity.active:
            if since >= spec.stable_window_s:
                return 0, False  # mark Inactive, keep the pods for now
            return 1, True
        if not self.proxy:
            return 0, False  # the activator is not in the path yet
        retention = spec.scale_to_zero_retention_s if spec.reachable else 0.0
        if since >= max(spec.scale_to_zero_grace_s, retention):
            return 0, True
        if retention > 0 and since < retention:
            return 0, False
        if spec.scale_to_zero_grace_s - (now - self.proxy_since) <= 0:
            return 0, True
        return 0, False
