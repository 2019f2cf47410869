"""Keep a `harness events` run in the history, as `harness perf --save` keeps its runs, so
`harness gate BROKER` gates on it.

The run is a ``perf`` run of the Broker (the store's ``service`` is the Broker's name)
with profile ``events`` and one arm ``events``: ``requests`` = events sent, ``errors`` =
events that did not make it (publish failures, lost, dead-lettered), the latency
histogram = end-to-end delivery latency. The gate compares like with like (same
Service, arm and profile), so event runs are only ever gated against event runs.
"""

from __future__ import annotations

import time
from typing import Any

from harness.events.accounting import EventsSummary
from harness.statuses import RunStatus
from harness.store import PerfResult, RunRecord, Store

PROFILE = "events"
ARM = "events"


def perf_result(summary: EventsSummary) -> PerfResult:
    """The store's record of a run: counts, the delivery latency histogram, the figures."""
    stats: dict[str, float] = {
        "events_per_s": round(summary.events_per_s, 3),
        "rps": round(summary.events_per_s, 3),
        "error_rate": summary.errors / summary.sent if summary.sent else 0.0,
    }
    for name, q in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
        if summary.delivery_latency.count:
            stats[name] = round(summary.delivery_latency.quantile(q), 3)
    for key in ("sent", "accepted", "delivered", "lost", "duplicated", "unexpected"):
        stats[key] = float(getattr(summary, key))
    stats["dead_lettered"] = float(summary.dead_lettered)
    return PerfResult(
        arm=ARM,
        requests=summary.sent,
        errors=summary.errors,
        duration_s=summary.duration_s,
        latency=summary.delivery_latency.to_dict(),
        stats=stats,
    )


def save_run(
    store: Store,
    namespace: str,
    broker: str,
    summary: EventsSummary,
    spec: dict[str, Any],
    *,
    label: str | None = None,
    started: float | None = None,
) -> RunRecord:
    """Create, fill and complete the run; returns the completed record."""
    run = store.create_run(
        "perf",
        namespace,
        broker,
        revisions=tuple(summary.revisions),
        label=label,
        spec={**spec, "profile": PROFILE},
        started=started if started is not None else time.time() - summary.duration_s,
    )
    store.save_perf_result(run.id, perf_result(summary))
    return store.finish_run(
        run.id,
        RunStatus.COMPLETED,
        summary={
            "decision": RunStatus.COMPLETED,
            "explanation": [explain(summary)],
            "profile": PROFILE,
            "arm": ARM,
            "events": summary.to_json(),
        },
    )


def explain(summary: EventsSummary) -> str:
    """One sentence with the run's accounting."""
    return (
        f"{summary.sent} events sent ({summary.events_per_s:.1f}/s), {summary.accepted} "
        f"accepted, {summary.delivered} delivered, {summary.lost} lost, "
        f"{summary.duplicated} duplicated, {summary.unexpected} unexpected, "
        f"{summary.dead_lettered} dead-lettered"
    )
