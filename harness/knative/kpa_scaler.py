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

from harness.knative.kpa import apply_bounds
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

    def min_ready(self) -> int:
        """``activeThreshold``: the ready pods that make the revision Active."""
        low = self.settings.min_scale if self.settings.reachable else 0
        if not self.initialized:
            return max(low, self.settings.initial_scale)
        return max(low, 1)

    def reconcile(
        self, now: float, desired: int, excess_burst_capacity: int, ready: int
    ) -> Reconciled:
        """One reconcile at ``now``."""
        want, apply = self._scale(now, desired)
        if apply:
            self.replicas = want
        if want == SCALE_UNKNOWN and self.activity is Activity.inactive:
            proxy = True
        else:
            proxy = not (want > 0 and excess_burst_capacity >= 0)
        if self.settings.target_burst_capacity == -1:
            proxy = True
        if proxy != self.proxy:
            self.proxy = proxy
            self.proxy_since = now
        self._compute_active(now, want, ready)
        return Reconciled(want, self.replicas, self.proxy)

    def _scale(self, now: float, desired: int) -> tuple[int, bool]:
        spec = self.settings
        if desired < 0 and self.activity is not Activity.activating:
            return desired, False
        low = spec.min_scale if spec.reachable else 0
        if spec.initial_scale > 1 and not self.initialized and spec.reachable:
            low = max(spec.initial_scale, low)
        desired = apply_bounds(low, spec.max_scale, desired)
        if desired != 0:
            return desired, True
        if not spec.enable_scale_to_zero:
            return 1, True
        since = now - self.activity_since
        if self.activity is Activity.activating:
            if since >= ACTIVATION_TIMEOUT_S:
                return desired, True
            return SCALE_UNKNOWN, False
        if self.activity is Activity.active:
            if since >= spec.stable_window_s:
                return desired, False  # mark Inactive, keep the pods for now
            return 1, True
        if not self.proxy:
            return desired, False  # the activator is not in the path yet
        retention = spec.scale_to_zero_retention_s if spec.reachable else 0.0
        if since >= max(spec.scale_to_zero_grace_s, retention):
            return desired, True
        if retention > 0 and since < retention:
            return desired, False
        if spec.scale_to_zero_grace_s - (now - self.proxy_since) <= 0:
            return desired, True
        return desired, False

    def _compute_active(self, now: float, want: int, ready: int) -> None:
        minimum = self.min_ready()
        if ready >= minimum:
            self.initialized = True
        if want == 0 or minimum == 0:
            self._set(now, Activity.inactive)
        elif ready < minimum:
            if want > 0 or self.activity is not Activity.inactive:
                self._set(now, Activity.activating)
        elif want > 0 or self.activity is not Activity.inactive:
            self._set(now, Activity.active)

    def _set(self, now: float, activity: Activity) -> None:
        if activity is not self.activity:
            self.activity = activity
            self.activity_since = now
