"""Run status in Prometheus through a Pushgateway (`--pushgateway URL`).

A run (canary, perf or gate) is one Pushgateway group, keyed by
``job="knative-harness"``, ``kind``, ``namespace``, ``service`` and ``run_id``; every
push replaces the group with the run's whole current state (HTTP PUT), and the group is
never deleted, so the last state (e.g. a rollback) stays for alert rules.

Pushing never fails or slows a run: pushes go through one background thread that only
sends the newest state, each request has a bounded timeout, and the first failure prints
one warning line (later failures are silent). ``close`` waits a bounded time for the
final state to be sent.

Metrics (all gauges; see docs/perf-gate.md and examples/prometheus/):

* ``harness_run_status``: 0 running, 1 succeeded (promoted, completed, passed), 2 failed
  (rolled back, regression), 3 stopped otherwise (aborted, inconclusive, held);
* ``harness_run_decision{decision}``: 1 for the current decision (the judge's ``continue``,
  ``promote``, ``rollback`` during a canary; the outcome at the end);
* ``harness_canary_weight``: the candidate's traffic percent;
* ``harness_metric_e_value{metric,judge}``, its running maximum
  ``harness_metric_max_e_value{metric,judge}`` (rollback when it reaches the threshold)
  and ``harness_metric_threshold{metric,judge}``;
* ``harness_gate_metric_p_value{metric}`` (gate, Benjamini–Hochberg adjusted);
* ``harness_run_duration_seconds``; ``harness_run_looks``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx

from harness.errors import BadInput
from harness.knative.names import require_dns_label
from harness.redact import redact_text
from harness.statuses import GateVerdict, RunStatus

JOB = "knative-harness"
TIMEOUT_S = 2.0
# A run's status (or a gate's verdict) as the harness_run_status gauge; 3 for any other.
STATUS_CODES: dict[str, int] = {
    RunStatus.RUNNING: 0,
    RunStatus.PROMOTED: 1,
    RunStatus.COMPLETED: 1,
    GateVerdict.PASSED: 1,
    RunStatus.ROLLED_BACK: 2,
    GateVerdict.REGRESSION: 2,
    RunStatus.FAILED: 2,
    RunStatus.ABORTED: 3,
    RunStatus.INCONCLUSIVE: 3,
    GateVerdict.INCONCLUSIVE: 3,
    RunStatus.HELD: 3,
}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
KINDS = ("canary", "perf", "gate")


@dataclass(frozen=True)
class MetricState:
    """One judged metric: its e-value against its threshold (or a gate's p-value)."""

    name: str
    judge: str
    e_value: float | None = None
    threshold: float | None = None
    max_e_value: float | None = None  # the running maximum: rollback when >= threshold
    p_value: float | None = None


@dataclass(frozen=True)
class RunState:
    """Everything pushed for a run at one moment."""

    status: str
    duration_s: float
    decision: str | None = None
    weight: int | None = None
    looks: int | None = None
    metrics: tuple[MetricState, ...] = field(default=())


def check_url(url: str) -> str:
    """The Pushgateway base URL (``http(s)://host[:port][/path]``); ``BadInput`` otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"--pushgateway {url!r} must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise BadInput(f"--pushgateway {url!r} must not carry credentials, a query or a fragment")
    return url.strip().rstrip("/")


def group_path(kind: str, namespace: str, service: str, run_id: str) -> str:
    """The group's URL path under the Pushgateway: ``/metrics/job/.../run_id/ID``."""
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    require_dns_label(namespace, "namespace")
    require_dns_label(service, "service")
    if not _RUN_ID.fullmatch(run_id):
        raise BadInput(f"run id {run_id!r} cannot be a Pushgateway label")
    parts = [("job", JOB), ("kind", kind), ("namespace", namespace), ("service", service)]
    parts.append(("run_id", run_id))
    return "/metrics/" + "/".join(f"{k}/{quote(v, safe='')}" for k, v in parts)


def exposition(state: RunState) -> str:
    """The state in Prometheus' text format (0.0.4). Non-finite values are left out
    (an e-value can overflow to inf: it is then pushed as its float maximum)."""
    lines: list[str] = []

    def gauge(
        name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]
    ) -> None:
        rows = [(labels, value) for labels, value in samples if not math.isnan(value)]
        if not rows:
            return
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in rows:
            lines.append(f"{name}{_labels(labels)} {_number(value)}")

    gauge(
        "harness_run_status",
        "0 running, 1 succeeded, 2 failed (rolled back, regression), 3 aborted/inconclusive/held.",
        [({}, float(STATUS_CODES.get(state.status, 3)))],
    )
    if state.decision:
        gauge(
            "harness_run_decision",
            "1 for the run's current decision.",
            [({"decision": state.decision}, 1.0)],
        )
    gauge("harness_run_duration_seconds", "Seconds since the run began.", [({}, state.duration_s)])
    if state.weight is not None:
        gauge(
            "harness_canary_weight",
            "The candidate revision's traffic percent.",
            [({}, float(state.weight))],
        )
    if state.looks is not None:
        gauge("harness_run_looks", "Looks judged so far.", [({}, float(state.looks))])
    e_values = [m for m in state.metrics if m.e_value is not None]
    gauge(
        "harness_metric_e_value",
        "A metric's e-value against 'canary not worse' (rollback when >= threshold).",
        [({"metric": m.name, "judge": m.judge}, float(m.e_value or 0.0)) for m in e_values],
    )
    gauge(
        "harness_metric_max_e_value",
        "The e-value's running maximum, which the rollback rule compares to the threshold.",
        [
            ({"metric": m.name, "judge": m.judge}, float(m.max_e_value))
            for m in state.metrics
            if m.max_e_value is not None
        ],
    )
    gauge(
        "harness_metric_threshold",
        "The e-value at which the metric rolls back (m / alpha).",
        [
            ({"metric": m.name, "judge": m.judge}, float(m.threshold))
            for m in state.metrics
            if m.threshold is not None
        ],
    )
    gauge(
        "harness_gate_metric_p_value",
        "A gate metric's p-value (Benjamini-Hochberg adjusted).",
        [({"metric": m.name}, float(m.p_value)) for m in state.metrics if m.p_value is not None],
    )
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        value = math.copysign(1.7976931348623157e308, value)
    return repr(float(value))


class Pusher:
    """Sends the newest ``RunState`` of one run to a Pushgateway, in the background."""

    def __init__(
        self,
        url: str,
        path: str,
        *,
        warn: Callable[[str], None],
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.url = check_url(url)
        self.target = self.url + path
        self.timeout_s = timeout_s
        self._warn = warn
        self._warned = False
        self._pending: str | None = None
        self._closing = False
        self._busy = False
        self._cond = threading.Condition()
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._loop, name="pushgateway", daemon=True)
        self._thread.start()

    def push(self, state: RunState) -> None:
        """Queue ``state`` (replacing any state not sent yet); returns at once."""
        body = exposition(state)
        with self._cond:
            if self._closing:
                return
            self._pending = body
            self._cond.notify()

    def close(self, final: RunState | None = None) -> None:
        """Queue ``final``, then wait at most about two timeouts for it to be sent."""
        with self._cond:
            if final is not None and not self._closing:
                self._pending = exposition(final)
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout=2 * self.timeout_s + 0.5)

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while True:
                with self._cond:
                    while self._pending is None and not self._closing:
                        self._cond.wait()
                    body, self._pending = self._pending, None
                    if body is None:
                        return
                self._send(client, body)

    def _send(self, client: httpx.Client, body: str) -> None:
        try:
            response = client.put(
                self.target,
                content=body.encode(),
                headers={"Content-Type": "text/plain; version=0.0.4"},
            )
            if response.status_code >= 300:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text.strip()[:200]}")
            self.sent += 1
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            self.failed += 1
            if not self._warned:
                self._warned = True
                self._warn(
                    redact_text(
                        f"warning: pushing to the Pushgateway {self.url} failed ({exc}); "
                        "the run goes on without it"
                    )
                )


class RunClock:
    """Seconds since a run began (monotonic)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._start
