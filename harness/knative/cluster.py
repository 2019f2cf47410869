"""``ClusterConfig``: the cluster settings Knative's webhook validation depends on.

Defaults are Knative's own (``config/core/configmaps/autoscaler.yaml``, ``defaults.yaml``
in knative/serving); a cluster may change them in its ConfigMaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.knative.features import Features

KPA = "kpa.autoscaling.knative.dev"
HPA = "hpa.autoscaling.knative.dev"


@dataclass(frozen=True)
class ClusterConfig:
    """Settings of ``config-autoscaler`` and ``config-defaults`` that change what the
    webhook accepts. The defaults are Knative's."""

    # config-autoscaler
    allow_zero_initial_scale: bool = False
    pod_autoscaler_class: str = KPA
    max_scale_limit: int = 0  # 0: no limit
    # config-defaults
    allow_container_concurrency_zero: bool = True
    container_concurrency_max_limit: int = 1000
    max_revision_timeout_seconds: int = 600
    # config-defaults values Knative's defaulting fills in (revision_defaults.go)
    revision_timeout_seconds: int = 300
    revision_idle_timeout_seconds: int = 0
    response_start_timeout_seconds: int = 300
    container_concurrency: int = 0
    enable_service_links: bool | None = False
    user_container_name: str = "user-container"
    init_container_name: str = "init-container"
    # revision-cpu-request, revision-memory-limit, ...: {"cpu": "100m"}; none by default
    revision_requests: Mapping[str, str] = field(default_factory=dict)
    revision_limits: Mapping[str, str] = field(default_factory=dict)
    # config-features (pod spec fields and the rules behind flags)
    features: Features = field(default_factory=Features)
