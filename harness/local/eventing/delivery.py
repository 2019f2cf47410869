"""A Trigger's delivery policy: retries, backoff, dead letter sink, format.

As knative/eventing 8cf4c4b6 ``pkg/kncloudevents/retries.go``: at most ``retry``
retries; before retry k+1 (k = 0, 1, ... as go-retryablehttp counts) the dispatcher
waits ``backoffDelay * 2**k`` (exponential) or ``backoffDelay * k`` (linear), and no
time at all unless both ``backoffPolicy`` and ``backoffDelay`` are set; a retry follows
no answer, 5xx, 404, 408, 409 and 429 (``SelectiveRetry``). The Trigger's ``delivery``
is used when set, else the Broker's (the reconciler copies one into the subscription).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.knative.eventing_validation import parse_iso8601_duration

RETRYABLE = frozenset({404, 408, 409, 429})
NO_ANSWER = 502  # recorded for an attempt that got no answer (docs/eventing.md)


@dataclass(frozen=True)
class DeliveryPolicy:
    retry: int = 0
    policy: str | None = None
    delay_s: float | None = None
    dead_letter_sink: Mapping[str, Any] | None = None
    structured: bool = False

    def backoff(self, k: int) -> float:
        """Seconds to wait before retry ``k + 1`` (k from 0)."""
        if self.policy is None or self.delay_s is None:
            return 0.0
        if self.policy == "exponential":
            return self.delay_s * 2.0**k
        return self.delay_s * k


def should_retry(code: int | None) -> bool:
    """Knative's ``SelectiveRetry``: None is no answer."""
    return code is None or code >= 500 or code in RETRYABLE


def policy_of(trigger_spec: Mapping[str, Any], broker_spec: Mapping[str, Any]) -> DeliveryPolicy:
    """The Trigger's delivery if it has one, else the Broker's, else no retries."""
    delivery = trigger_spec.get("delivery")
    if not isinstance(delivery, Mapping):
        delivery = broker_spec.get("delivery")
    if not isinstance(delivery, Mapping):
        return DeliveryPolicy()
    retry = delivery.get("retry")
    delay = delivery.get("backoffDelay")
    sink = delivery.get("deadLetterSink")
    return DeliveryPolicy(
        retry=retry if isinstance(retry, int) and retry > 0 else 0,
        policy=delivery.get("backoffPolicy") if delivery.get("backoffPolicy") else None,
        delay_s=parse_iso8601_duration(delay) if isinstance(delay, str) else None,
        dead_letter_sink=sink if isinstance(sink, Mapping) else None,
        structured=delivery.get("format") == "json",
    )
