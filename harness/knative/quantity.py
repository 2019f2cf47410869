"""Kubernetes resource quantities (``500m``, ``1Gi``, ``1e3``): which strings parse.

The grammar of k8s.io/apimachinery ``pkg/api/resource/quantity.go`` ``ParseQuantity``
(v0.35): a signed decimal number and an optional binary-SI, decimal-SI or exponent suffix.
"""

from __future__ import annotations

import re

_QUANTITY = re.compile(
    r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)


def is_quantity(value: str) -> bool:
    """True when Kubernetes' ``ParseQuantity`` accepts ``value``."""
    return _QUANTITY.match(value) is not None
