"""The store's vocabulary: run kinds and final statuses (`harness.statuses.RunStatus`),
the records it returns, run ids, and how values are kept in rows.

Rows hold the same values on every backend: JSON text, and zlib-compressed JSON for
histograms and arm snapshots, so `harness store migrate` copies them unchanged.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from harness.errors import BadInput
from harness.redact import redact_values
from harness.statuses import RunStatus

__all__ = [
    "ACTION_KINDS",
    "FINAL_STATUSES",
    "RUNNING",
    "RUN_KINDS",
    "ActionKind",
    "ActionRecord",
    "HistoryPoint",
    "JournalLook",
    "PerfResult",
    "RunKind",
    "RunRecord",
    "check_action_kind",
    "check_run_id",
    "dumps",
    "is_run_id",
    "new_run_id",
    "pack",
    "unpack",
]

RunKind = Literal["canary", "perf"]
RUN_KINDS: tuple[str, ...] = ("canary", "perf")


RUNNING = RunStatus.RUNNING
FINAL_STATUSES = frozenset(RunStatus) - {RunStatus.RUNNING}


class ActionKind(StrEnum):
    """What the canary journals before it acts; the store also accepts any other
    lower_snake_case word (`begin_action`)."""

    SET_TRAFFIC = "set_traffic"
    ROLLBACK = "rollback"
    PROMOTE = "promote"
    HOLD = "hold"
    APPLY = "apply"  # written by earlier versions for --apply; read, no longer written


ACTION_KINDS = tuple(ActionKind)
_ACTION_KIND = re.compile(r"[a-z][a-z_]{0,31}")
_RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")


# ----------------------------------------------------------------- records
@dataclass(frozen=True)
class RunRecord:
    """One run. ``revisions`` is (baseline, candidate) for a canary, (revision,) or () for perf.

    ``original_traffic`` is the Service's ``spec.traffic`` (Knative camelCase dicts) before
    a canary touched it; ``summary`` is what `finish_run` recorded (decision, reasons).
    Times are Unix seconds.
    """

    id: str
    kind: str
    namespace: str
    service: str
    revisions: tuple[str, ...]
    label: str | None
    started: float
    finished: float | None
    status: str
    spec: dict[str, Any]
    original_traffic: list[dict[str, Any]] | None
    summary: dict[str, Any] | None

    @property
    def running(self) -> bool:
        """True until `finish_run`; a run killed mid-way stays running (it can be resumed)."""
        return self.status == RUNNING


@dataclass(frozen=True)
class JournalLook:
    """One look of a canary: the cumulative per-arm snapshots and the judge's verdict dict."""

    run_id: str
    seq: int
    t: float
    step: int
    percent: int
    arms: dict[str, Any]
    verdict: dict[str, Any]


@dataclass(frozen=True)
class ActionRecord:
    """An action on the cluster, written as intended before acting; ``done`` once it took effect."""

    run_id: str
    seq: int
    t: float
    kind: str
    payload: dict[str, Any]
    done: bool
    done_t: float | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class PerfResult:
    """What a perf run keeps per arm: counts, a histogram dict and summary numbers.

    ``latency`` is `analysis.Histogram.to_dict()`; ``stats`` holds the numbers trends are
    drawn from (e.g. ``p50_ms``, ``p99_ms``, ``rps``, ``error_rate``); ``server`` is the
    optional server-side (Prometheus) view, any JSON-safe dict.
    """

    arm: str
    requests: int
    errors: int
    duration_s: float
    latency: dict[str, Any]
    stats: dict[str, float] = field(default_factory=dict)
    server: dict[str, Any] | None = None


@dataclass(frozen=True)
class HistoryPoint:
    """One completed perf run's numbers for trend plots, without its histogram."""

    run_id: str
    started: float
    label: str | None
    arm: str
    requests: int
    errors: int
    duration_s: float
    stats: dict[str, float]


# ----------------------------------------------------------------- ids and checks
def is_run_id(text: str) -> bool:
    """True for ids as `create_run` makes them, e.g. ``20261126-185501-ab12``."""
    return bool(_RUN_ID.fullmatch(text))


def check_run_id(run_id: str) -> None:
    """BadInput unless ``run_id`` looks like one (it reaches SQL only as a parameter)."""
    if not is_run_id(run_id):
        raise BadInput(f"{run_id!r} is not a run id (like 20261126-185501-ab12)")


def check_action_kind(kind: str) -> None:
    if not _ACTION_KIND.fullmatch(kind):
        raise BadInput(f"action kind {kind!r} must be a lower_snake_case word")


def new_run_id(started: float | None = None) -> str:
    """A fresh run id for a run starting at ``started`` (now by default)."""
    started = time.time() if started is None else started
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + "-" + secrets.token_hex(2)


# ----------------------------------------------------------------- values in rows
def dumps(value: Any) -> str:
    """Compact JSON of a plain value, passwords in URLs masked; BadInput for anything else."""
    try:
        # A password in a URL (--prometheus http://user:pass@...) is never recorded.
        return json.dumps(redact_values(value), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BadInput(f"store: cannot keep a value that is not plain JSON: {exc}") from None


# Histograms and per-arm snapshots are the bulk of the store; zlib brings a fine
# histogram's JSON to about a third (see docs/reports.md, "Store size").
def pack(value: Any) -> bytes:
    return zlib.compress(dumps(value).encode("utf-8"), 6)


def unpack(blob: bytes | memoryview) -> Any:
    try:
        return json.loads(zlib.decompress(bytes(blob)))
    except (zlib.error, ValueError) as exc:
        raise BadInput(f"store: a stored value is corrupt ({exc})") from None
