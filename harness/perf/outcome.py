"""What a perf run measured, as plain values, and how it reads: sentences, report, JSON.

`PerfOutcome` is built by `harness.perf.run` (a load run or a cold start), saved in history
as a `PerfResult`, rendered into a report (`perf_report`) and printed (`perf_document`
for ``--format json``; `PerfOutcome.explanation` for people). Nothing here measures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from analysis import Histogram
from harness.statuses import RunStatus
from harness.store import PerfResult, RunRecord

__all__ = ["COLD_START", "QUANTILES", "PerfOutcome", "perf_document", "perf_report"]

COLD_START = "cold-start"
QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class PerfOutcome:
    """What one run measured, as plain values (saved, reported and printed from here).

    Counts and ``latency`` cover the measured window only (after the warm-up); for a
    cold start they are the first requests, one per repetition. ``server`` is the
    `ServerRecorder` record (None without Prometheus); ``notes`` are sentences for the
    report, e.g. why a server-side number is missing.
    """

    arm: str
    profile: str
    started: float
    finished: float
    duration_s: float
    requests: int
    errors: int
    latency: Histogram
    error_classes: dict[str, int] = field(default_factory=dict)
    revisions_seen: dict[str, int] = field(default_factory=dict)
    server: dict[str, Any] | None = None
    cold_start: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    # Per-second rps and in-flight concurrency of the measured window
    # (`harness.perf.load_series`), kept in the run's summary for `harness autoscale`.
    load_series: dict[str, Any] | None = None

    @property
    def error_rate(self) -> float | None:
        """errors / requests, None without requests."""
        return self.errors / self.requests if self.requests else None

    def quantiles(self) -> dict[str, float]:
        """Client-side latency quantiles in ms (``p50_ms``...), only those that exist."""
        if self.latency.count == 0:
            return {}
        out = {f"p{round(q * 100)}_ms": self.latency.quantile(q) for q in QUANTILES}
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def stats(self) -> dict[str, float]:
        """The numbers trends are drawn from; never a number that was not measured."""
        stats = self.quantiles()
        if self.error_rate is not None:
            stats["error_rate"] = self.error_rate
        if self.profile != COLD_START and self.duration_s > 0:
            stats["rps"] = self.requests / self.duration_s
        server = self.server or {}
        # Server numbers join the trend only when one revision served the arm: a split
        # route's revisions have no single number to draw.
        records = list(server.get("revisions", {}).values())
        if len(records) == 1 and records[0].get("p99_ms") is not None:
            stats["server_p99_ms"] = float(records[0]["p99_ms"])
        autoscaler = list(server.get("autoscaler", {}).values())
        if len(autoscaler) == 1 and autoscaler[0].get("available"):
            summary = autoscaler[0].get("summary", {})
            for key in ("max_actual_pods", "panic_share"):
                if key in summary:
                    stats[key] = float(summary[key])
        return {k: float(v) for k, v in stats.items() if math.isfinite(v)}

    def perf_result(self) -> PerfResult:
        """The store's record of this outcome (histogram and counts, no raw samples)."""
        return PerfResult(
            arm=self.arm,
            requests=self.requests,
            errors=self.errors,
            duration_s=self.duration_s,
            latency=self.latency.to_dict(),
            stats=self.stats(),
            server=self.server,
        )

    def explanation(self) -> list[str]:
        """Sentences for the report and the terminal: what was measured, and what was not."""
        sentences = [_client_sentence(self)]
        if self.cold_start is not None:
            sentences.append(_cold_start_sentence(self.cold_start))
        if self.server is not None:
            sentences += _server_sentences(self.server)
        return sentences + list(self.notes)


def _client_sentence(outcome: PerfOutcome) -> str:
    q = outcome.quantiles()
    what = "first requests" if outcome.profile == COLD_START else "requests"
    text = (
        f"client ({outcome.arm}): {outcome.requests:,} {what} in {outcome.duration_s:.3g}s, "
        f"{outcome.errors:,} errors"
    )
    if outcome.error_rate is not None:
        text += f" ({100 * outcome.error_rate:.3g}%)"
    if q:
        text += "; latency " + ", ".join(
            f"{key.removesuffix('_ms')} {value:.4g} ms" for key, value in q.items()
        )
    return text


def _cold_start_sentence(cold: Mapping[str, Any]) -> str:
    if cold["method"] == "fresh-instance":
        how = (
            "each from a fresh instance of the revision "
            "(an emulator started without --scale-to-zero)"
        )
    else:
        how = "each after the revision scaled to zero"
    return f"cold start: {cold['repetitions']} repetitions, {how}"


def _server_sentences(server: Mapping[str, Any]) -> list[str]:
    sentences = []
    source = f"Prometheus, {server.get('profile')} profile"
    for name, record in server.get("revisions", {}).items():
        if not record.get("series"):
            sentences.append(f"server ({name}): not available: no request series ({source})")
            continue
        text = (
            f"server ({name}, {source}): {record['requests']:,} requests, "
            f"{record['errors']:,} errors"
        )
        latency = [
            f"{key.removesuffix('_ms')} {record[key]:.4g} ms"
            for key in ("p50_ms", "p90_ms", "p99_ms")
            if record.get(key) is not None
        ]
        if latency:
            text += "; latency " + ", ".join(latency)
        sentences.append(text)
    if server.get("complete") is False:
        sentences.append(
            "server: Prometheus had not scraped past the end of the load in time; the last "
            "requests may be missing from the server-side counts"
        )
    for name, series in server.get("autoscaler", {}).items():
        if not series.get("available"):
            sentences.append(f"autoscaler ({name}): not available: {series.get('reason')}")
            continue
        summary = series.get("summary", {})
        parts = [
            f"{label} {summary[f'min_{key}']:g}-{summary[f'max_{key}']:g}"
            for key, label in (("desired_pods", "desired pods"), ("actual_pods", "actual pods"))
            if f"max_{key}" in summary
        ]
        if "max_stable_concurrency" in summary:
            text = f"stable concurrency up to {summary['max_stable_concurrency']:.3g}"
            if "target_concurrency" in summary:
                text += f" (target {summary['target_concurrency']:.3g} per pod)"
            parts.append(text)
        if "panic_s" in summary:
            parts.append(f"panic mode for {summary['panic_s']:g}s")
        sentences.append(f"autoscaler ({name}, {series['schema']} schema): " + ", ".join(parts))
    return sentences


def perf_report(run: RunRecord, outcome: PerfOutcome, trend: Sequence[Any] = ()) -> Any:
    """The run's `ReportData`: explanation sentences, client (and server) CDFs, the trend."""
    from harness.report import report_from_perf_run

    data = report_from_perf_run(run, {outcome.arm: outcome.perf_result()}, trend)
    histograms = {f"{outcome.arm} (client)": outcome.latency.to_dict()}
    for name, record in (outcome.server or {}).get("revisions", {}).items():
        if record.get("latency") is not None:
            histograms[f"{name} (server)"] = record["latency"]
    return replace(
        data,
        explanation=outcome.explanation(),
        histograms=histograms,
        decision=RunStatus.COMPLETED,
    )


def perf_document(
    run: RunRecord,
    outcome: PerfOutcome,
    *,
    saved: bool,
    store: str | None,
    report: Mapping[str, Path],
) -> dict[str, Any]:
    """The ``--format json`` summary of a run (one JSON document), with any password in
    a URL in it (``--prometheus http://user:pass@...``) masked as in the store."""
    from harness.redact import redact_values

    document: dict[str, Any] = {
        "run_id": run.id,
        "saved": saved,
        "store": store,
        "namespace": run.namespace,
        "service": run.service,
        "arm": outcome.arm,
        "tag": run.spec.get("tag"),
        "revisions": list(run.revisions),
        "profile": outcome.profile,
        "label": run.label,
        "started": outcome.started,
        "finished": outcome.finished,
        "duration_s": outcome.duration_s,
        "requests": outcome.requests,
        "errors": outcome.errors,
        "error_rate": outcome.error_rate,
        "error_classes": outcome.error_classes,
        "revisions_seen": outcome.revisions_seen,
        "stats": outcome.stats(),
        "server": outcome.server,
        "cold_start": outcome.cold_start,
        "explanation": outcome.explanation(),
        "report": {kind: str(path) for kind, path in report.items()},
    }
    redacted: dict[str, Any] = redact_values(document)
    return redacted
