"""`harness gate`: compare the newest saved perf run with a reference, for a CI release gate.

The candidate is the newest completed perf run of the Service (or the one named); the
reference is chosen by ``--against``:

* ``previous`` — the run saved just before the candidate (``last:1``);
* ``last:N`` — the N runs saved just before it, merged (counts and histograms add exactly);
* ``run:<id>`` — that run;
* ``label:<L>`` — the newest run labelled L other than the candidate.

Only like is compared with like: the same Service, arm (route or tag) and profile.
The comparison is `analysis.fixed.compare_runs` (fixed-horizon tests on whole runs:
Boschloo/Fisher or a Wald non-inferiority test for the error rate, exceedance tests and
quantile confidence intervals for latency, Benjamini–Hochberg across the metrics).

Outcome: ``regression`` (exit 1) when a metric is worse beyond its tolerance;
``passed`` (exit 0) when none is, the error rate and at least one latency quantile were
judged; otherwise ``inconclusive`` (exit 3, not enough data). Quantiles the runs are too
small to resolve (p99 needs about 1,000 requests per run) are reported as skipped. The
gate only reads the store; it never writes, repairs or creates one.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.config import GateTolerances
from harness.errors import Aborted, BadInput
from harness.gate.outcome import GateOutcome
from harness.gate.report import gate_report
from harness.statuses import GateVerdict, RunStatus
from harness.store import (
    PerfResult,
    RunRecord,
    Store,
    history_trend,
    is_run_id,
    new_run_id,
    open_store,
)

if TYPE_CHECKING:
    from analysis import ArmSnapshot

__all__ = [
    "GateOutcome",
    "GateRun",
    "Reference",
    "evaluate_gate",
    "execute_gate",
    "open_history",
    "parse_reference",
    "parse_share",
    "tolerances",
]

# The defaults live in analysis.config (error rate +0.1 point; p50 +5%, p90 +10%, p99 +10%).
_DEFAULT = GateTolerances()
_REFERENCE = re.compile(r"(previous)|last:(\d{1,4})|run:(.+)|label:(.+)")
_SCAN_START = 200


# ----------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Reference:
    """What ``--against`` asked for: ``mode`` previous/last/run/label and its argument."""

    text: str
    mode: str
    count: int = 1
    run_id: str | None = None
    label: str | None = None


def parse_reference(text: str) -> Reference:
    """``previous``, ``last:N`` (N >= 1), ``run:<id>`` or ``label:<L>``; BadInput otherwise."""
    match = _REFERENCE.fullmatch(text.strip())
    if match is None:
        raise BadInput(f"--against {text!r}: use previous, last:N, run:<run-id> or label:<label>")
    previous, last, run_id, label = match.groups()
    if previous:
        return Reference(text, "last", 1)
    if last is not None:
        if int(last) < 1:
            raise BadInput(f"--against {text!r}: N must be at least 1")
        return Reference(text, "last", int(last))
    if run_id is not None:
        if not is_run_id(run_id):
            raise BadInput(
                f"--against {text!r}: {run_id!r} is not a run id (like 20261126-185501-ab12)"
            )
        return Reference(text, "run", run_id=run_id)
    return Reference(text, "label", label=label)


def parse_share(text: str, flag: str, maximum: float = 100.0) -> float:
    """``10%`` -> 0.1, ``0.1`` -> 0.1; BadInput unless finite and in 0..``maximum``. A bare
    number above 1 is refused: ``10`` meant as 10% would silently tolerate +1000%."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1]) / 100.0 if percent else float(raw)
    except ValueError:
        value = math.nan
    if not (0.0 <= value <= maximum):
        raise BadInput(
            f"{flag} {text!r}: want a share like 10% or 0.1 (at most {maximum * 100:g}%)"
        )
    if not percent and value > 1.0:
        raise BadInput(
            f"{flag} {text!r} would be +{value * 100:g}%: write {raw}% for {raw} percent "
            f"(or {value * 100:g}% if that is meant)"
        )
    return value


def tolerances(
    *,
    error_rate: float = _DEFAULT.error_rate,
    p50: float = _DEFAULT.quantile(0.5),
    p90: float = _DEFAULT.quantile(0.9),
    p99: float = _DEFAULT.quantile(0.99),
    alpha: float = _DEFAULT.alpha,
    min_requests: int = _DEFAULT.min_requests,
) -> GateTolerances:
    """`analysis.config.GateTolerances` from the gate's flags (shares, not percents)."""
    if not 0.0 < alpha < 1.0:
        raise BadInput(f"--alpha {alpha!r} must be between 0 and 1")
    if min_requests < 1:
        raise BadInput(f"--min-requests {min_requests!r} must be at least 1")
    return GateTolerances(
        error_rate=error_rate,
        quantiles=((0.5, p50), (0.9, p90), (0.99, p99)),
        alpha=alpha,
        min_requests=min_requests,
    )


def open_history(location: str | Path | None) -> Store:
    """The history store for reading: ``Aborted`` (exit 3) when there is none yet.

    Unlike `open_store`, never creates a file: a gate with no history has nothing to
    compare. A file that is not a harness store is ``BadInput`` (exit 2), left untouched.
    """
    from harness.store import store_path

    path = store_path(location)  # None: another scheme, which open_store refuses
    if path is not None and not (path.expanduser().exists() or path.expanduser().is_symlink()):
        raise Aborted(
            f"no history at {path}: save perf runs with `harness perf SERVICE --save` first"
        )
    return open_store(location)


# ----------------------------------------------------------------- the comparison
def evaluate_gate(
    store: Store,
    namespace: str,
    service: str,
    against: Reference,
    tol: GateTolerances,
    *,
    tag: str | None = None,
    candidate_id: str | None = None,
) -> GateOutcome:
    """Pick the candidate and reference runs from ``store`` and compare them.

    Raises ``Aborted`` (exit 3) when the history holds no candidate or no reference,
    ``BadInput`` (exit 2) for a named run that does not exist or cannot be compared
    (another Service, arm or profile; not a completed perf run; the candidate itself).
    """
    from analysis.fixed import GateStatus, compare_runs

    started = time.time()
    candidate = _candidate(store, namespace, service, tag, candidate_id)
    arm, result = _only_arm(store, candidate)
    profile = _profile(candidate)
    references, notes = _references(store, candidate, arm, profile, against)
    reference_results = [store.load_perf_results(run.id)[arm] for run in references]
    reference_arm = _merged(reference_results)
    candidate_arm = _merged([result])
    metrics = tuple(compare_runs(reference_arm, candidate_arm, tol))
    statuses = {m.name: m.status for m in metrics}
    judged_latency = [
        name
        for name, status in statuses.items()
        if name != "error_rate" and status is not GateStatus.INSUFFICIENT_DATA
    ]
    if GateStatus.FAIL in statuses.values():
        status = GateVerdict.REGRESSION
    elif statuses.get("error_rate") is GateStatus.PASS and judged_latency:
        status = GateVerdict.PASSED
    else:
        status = GateVerdict.INCONCLUSIVE
    return GateOutcome(
        gate_id=_gate_id(started),
        namespace=namespace,
        service=service,
        arm=arm,
        profile=profile,
        against=against.text,
        candidate=candidate,
        references=tuple(references),
        candidate_arm=candidate_arm,
        reference_arm=reference_arm,
        metrics=metrics,
        tolerances=tol,
        status=status,
        started=started,
        finished=time.time(),
        notes=tuple(notes),
    )


def _candidate(
    store: Store, namespace: str, service: str, tag: str | None, candidate_id: str | None
) -> RunRecord:
    where = f"{namespace}/{service}"
    if candidate_id is not None:
        run = store.get_run(candidate_id)
        _require_comparable(run, namespace, service, "--candidate")
        return run
    limit = _SCAN_START
    while True:
        runs = store.list_runs(namespace, service, "perf", status=RunStatus.COMPLETED, limit=limit)
        for run in runs:
            if tag is None or run.spec.get("tag") == tag:
                return run
        if len(runs) < limit:
            scope = f" (tag {tag})" if tag else ""
            flags = (f" -n {namespace}" if namespace != "default" else "") + (
                f" --tag {tag}" if tag else ""
            )
            raise Aborted(
                f"no saved perf run of {where}{scope} in {store.location}: save one with "
                f"`harness perf {service}{flags} --save` first"
            )
        limit *= 8


def _require_comparable(run: RunRecord, namespace: str, service: str, what: str) -> None:
    if run.kind != "perf":
        raise BadInput(f"{what}: run {run.id} is a {run.kind} run, not a perf run")
    if (run.namespace, run.service) != (namespace, service):
        raise BadInput(
            f"{what}: run {run.id} measured {run.namespace}/{run.service}, "
            f"not {namespace}/{service}"
        )
    if run.status != RunStatus.COMPLETED:
        raise BadInput(f"{what}: run {run.id} is {run.status}, not completed")


def _only_arm(store: Store, run: RunRecord) -> tuple[str, PerfResult]:
    results = store.load_perf_results(run.id)
    if len(results) != 1:
        have = ", ".join(sorted(results)) or "none"
        raise BadInput(f"run {run.id} has {len(results)} saved results ({have}); a gate needs one")
    return next(iter(results.items()))


def _profile(run: RunRecord) -> str:
    return str(run.spec.get("profile") or "steady")


def _references(
    store: Store, candidate: RunRecord, arm: str, profile: str, against: Reference
) -> tuple[list[RunRecord], list[str]]:
    where = f"{candidate.namespace}/{candidate.service}"
    if against.mode == "run":
        assert against.run_id is not None
        run = store.get_run(against.run_id)
        _require_comparable(
            run, candidate.namespace, candidate.service, f"--against {against.text}"
        )
        if run.id == candidate.id:
            raise BadInput(f"--against {against.text}: that is the candidate run itself")
        other_arm, _ = _only_arm(store, run)
        if other_arm != arm:
            raise BadInput(
                f"--against {against.text}: run {run.id} measured arm {other_arm!r}, the "
                f"candidate {arm!r}"
            )
        if _profile(run) != profile:
            raise BadInput(
                f"--against {against.text}: run {run.id} is a {_profile(run)} run, the "
                f"candidate a {profile} run"
            )
        return [run], []
    wanted = against.count if against.mode == "last" else 1
    found = _eligible(store, candidate, arm, profile, against, wanted)
    if not found:
        scope = f"labelled {against.label!r} " if against.mode == "label" else "earlier "
        raise Aborted(
            f"no {scope}saved perf run of {where} (arm {arm}, profile {profile}) to compare "
            f"run {candidate.id} with (--against {against.text})"
        )
    notes = []
    if len(found) < wanted:
        notes.append(f"only {len(found)} earlier run(s) exist of the {wanted} asked for")
    return found, notes


def _eligible(
    store: Store,
    candidate: RunRecord,
    arm: str,
    profile: str,
    against: Reference,
    wanted: int,
) -> list[RunRecord]:
    """Newest first: completed runs of the candidate's Service, arm and profile."""
    limit = _SCAN_START + 2 * wanted
    while True:
        runs = store.list_runs(
            candidate.namespace,
            candidate.service,
            "perf",
            label=against.label,
            status=RunStatus.COMPLETED,
            limit=limit,
        )
        # The trend reads no histogram: a cheap way to learn each run's arm.
        with_arm = {
            point.run_id
            for point in store.perf_trend(
                candidate.namespace, candidate.service, label=against.label, arm=arm, limit=limit
            )
        }
        found = [
            run
            for run in runs
            if run.id != candidate.id
            and run.id in with_arm
            and _profile(run) == profile
            and (
                against.mode != "last" or (run.started, run.id) < (candidate.started, candidate.id)
            )
        ]
        if len(found) >= wanted or len(runs) < limit:
            return found[:wanted]
        limit *= 8


def _merged(results: Sequence[PerfResult]) -> ArmSnapshot:
    from analysis import ArmSnapshot, Histogram

    try:
        arms = [ArmSnapshot(r.requests, r.errors, Histogram.from_dict(r.latency)) for r in results]
        return functools.reduce(operator.add, arms)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"store: a saved perf result cannot be read ({exc})") from None


def _gate_id(started: float) -> str:
    return "gate-" + new_run_id(started)  # the store's run-id format, marked as a gate


# ----------------------------------------------------------------- the command
@dataclass(frozen=True)
class GateRun:
    """A finished `harness gate`: its outcome and where its report went."""

    outcome: GateOutcome
    report: dict[str, Path]


def execute_gate(
    service: str,
    namespace: str,
    against: str,
    tol: GateTolerances,
    *,
    store: str | Path | None = None,
    tag: str | None = None,
    candidate_id: str | None = None,
    report_dir: Path | None = None,
    trend_runs: int = 100,
) -> GateRun:
    """Validate the names, read the history, compare, write the report (and the index)."""
    from harness.knative.names import require_dns_label
    from harness.report import DEFAULT_REPORTS_ROOT, report_dir_for, update_index, write_report

    require_dns_label(service, "service")
    require_dns_label(namespace, "namespace")
    if tag is not None:
        require_dns_label(tag, "tag")
    reference = parse_reference(against)
    if candidate_id is not None and not is_run_id(candidate_id):
        raise BadInput(f"--candidate {candidate_id!r} is not a run id (like 20261126-185501-ab12)")
    history = open_history(store)
    try:
        outcome = evaluate_gate(
            history, namespace, service, reference, tol, tag=tag, candidate_id=candidate_id
        )
        trend = history_trend(history, namespace, service, outcome.arm, outcome.profile, trend_runs)
    finally:
        history.close()
    folder = report_dir or report_dir_for(outcome.gate_id, DEFAULT_REPORTS_ROOT)
    paths = write_report(gate_report(outcome, trend), folder)
    if report_dir is None:
        update_index(DEFAULT_REPORTS_ROOT)
    return GateRun(outcome, paths)
