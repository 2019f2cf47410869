"""``Features``: Knative's ``config-features`` flags, which gate pod spec fields.

Keys, values and defaults as knative/serving ``pkg/apis/config/features.go`` (98e5ef90)
ships them. A flag is ``Enabled``, ``Disabled`` or ``Allowed`` (``secure-pod-defaults``
also ``AllowRootBounded``); values are matched case-insensitively, as Knative does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ENABLED = "Enabled"
DISABLED = "Disabled"
ALLOWED = "Allowed"
ALLOW_ROOT_BOUNDED = "AllowRootBounded"

SECURE_POD_DEFAULTS = "secure-pod-defaults"

# config-features keys and Knative's shipped defaults.
DEFAULTS: dict[str, str] = {
    "multi-container": ENABLED,
    "multi-container-probing": DISABLED,
    "kubernetes.podspec-affinity": DISABLED,
    "kubernetes.podspec-topologyspreadconstraints": DISABLED,
    "kubernetes.podspec-hostaliases": DISABLED,
    "kubernetes.podspec-fieldref": DISABLED,
    "kubernetes.podspec-nodeselector": DISABLED,
    "kubernetes.podspec-runtimeclassname": DISABLED,
    "kubernetes.podspec-securitycontext": DISABLED,
    "kubernetes.podspec-shareprocessnamespace": DISABLED,
    "kubernetes.podspec-hostipc": DISABLED,
    "kubernetes.podspec-hostpid": DISABLED,
    "kubernetes.podspec-hostnetwork": DISABLED,
    "kubernetes.podspec-priorityclassname": DISABLED,
    "kubernetes.podspec-schedulername": DISABLED,
    "kubernetes.containerspec-addcapabilities": DISABLED,
    "kubernetes.podspec-tolerations": DISABLED,
    "kubernetes.podspec-volumes-emptydir": ENABLED,
    "kubernetes.podspec-volumes-hostpath": DISABLED,
    "kubernetes.podspec-volumes-mount-propagation": DISABLED,
    "kubernetes.podspec-volumes-csi": DISABLED,
    "kubernetes.podspec-volumes-ephemeral": DISABLED,
    "kubernetes.podspec-volumes-image": DISABLED,
    "kubernetes.podspec-persistent-volume-claim": DISABLED,
    "kubernetes.podspec-persistent-volume-write": DISABLED,
    "kubernetes.podspec-init-containers": DISABLED,
    "kubernetes.podspec-dnspolicy": DISABLED,
    "kubernetes.podspec-dnsconfig": DISABLED,
    "queueproxy.mount-podinfo": DISABLED,
    "queueproxy.resource-defaults": DISABLED,
    SECURE_POD_DEFAULTS: DISABLED,
    "tag-header-based-routing": DISABLED,
    "autodetect-http2": DISABLED,
}

_FLAGS = (ENABLED, ALLOWED, DISABLED)
_SECURE_FLAGS = (DISABLED, ALLOW_ROOT_BOUNDED, ENABLED)


def _allowed_values(key: str) -> tuple[str, ...]:
    return _SECURE_FLAGS if key == SECURE_POD_DEFAULTS else _FLAGS


@dataclass(frozen=True)
class Features:
    """The cluster's ``config-features``: Knative's defaults plus ``overrides``."""

    overrides: tuple[tuple[str, str], ...] = field(default=())

    def flag(self, key: str) -> str:
        """The flag of ``key`` (``Enabled``, ``Disabled``, ``Allowed``, ``AllowRootBounded``)."""
        for k, v in self.overrides:
            if k == key:
                return v
        return DEFAULTS[key]

    def enabled(self, key: str) -> bool:
        """``flag == Enabled``: what Knative's validation checks for most gates."""
        return self.flag(key) == ENABLED

    def disabled(self, key: str) -> bool:
        """``flag == Disabled``: what Knative's field masks check (``Allowed`` passes)."""
        return self.flag(key) == DISABLED

    @property
    def secure_pod_defaults(self) -> bool:
        """secure-pod-defaults is Enabled or AllowRootBounded."""
        return self.flag(SECURE_POD_DEFAULTS) in (ENABLED, ALLOW_ROOT_BOUNDED)

    @classmethod
    def from_map(cls, data: Mapping[str, str]) -> Features:
        """Flags from ``config-features`` data; raises ``ValueError`` for an unknown key or
        value (Knative ignores those; a typo in a flag should not pass silently here)."""
        overrides = []
        for key, raw in data.items():
            if key not in DEFAULTS:
                raise ValueError(f"unknown config-features key {key!r}")
            allowed = _allowed_values(key)
            value = next((f for f in allowed if f.lower() == str(raw).lower()), None)
            if value is None:
                raise ValueError(f"{key}={raw!r}: expected one of {', '.join(allowed)}")
            overrides.append((key, value))
        return cls(tuple(sorted(overrides)))

    @classmethod
    def parse(cls, assignments: Iterable[str]) -> Features:
        """Flags from ``key=value`` strings (``kubernetes.podspec-affinity=enabled``)."""
        data: dict[str, str] = {}
        for item in assignments:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--feature {item!r}: expected KEY=VALUE")
            data[key.strip()] = value.strip()
        return cls.from_map(data)


def feature_of_field(field_name: str) -> str | None:
    """The config-features key that lets a pod spec field through, if one does."""
    return _FIELD_FEATURES.get(field_name)


# Pod spec / container fields Knative's field masks gate behind a flag (fieldmask.go).
_FIELD_FEATURES = {
    "affinity": "kubernetes.podspec-affinity",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "tolerations": "kubernetes.podspec-tolerations",
    "securityContext": "kubernetes.podspec-securitycontext",
    "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "initContainers": "kubernetes.podspec-init-containers",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "hostIPC": "kubernetes.podspec-hostipc",
    "hostPID": "kubernetes.podspec-hostpid",
    "hostNetwork": "kubernetes.podspec-hostnetwork",
    "emptyDir": "kubernetes.podspec-volumes-emptydir",
    "persistentVolumeClaim": "kubernetes.podspec-persistent-volume-claim",
    "hostPath": "kubernetes.podspec-volumes-hostpath",
    "csi": "kubernetes.podspec-volumes-csi",
    "ephemeral": "kubernetes.podspec-volumes-ephemeral",
    "image": "kubernetes.podspec-volumes-image",
    "mountPropagation": "kubernetes.podspec-volumes-mount-propagation",
    "fieldRef": "kubernetes.podspec-fieldref",
    "resourceFieldRef": "kubernetes.podspec-fieldref",
    "add": "kubernetes.containerspec-addcapabilities",
}
