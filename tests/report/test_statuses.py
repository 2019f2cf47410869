"""Statuses are enums whose JSON is the plain word: rows, run statuses, gate verdicts."""

from __future__ import annotations

import json

import pytest

from harness.report import MetricRow, RowStatus
from harness.report.model import outcome_class
from harness.statuses import GateVerdict, RunStatus
from harness.store import FINAL_STATUSES, RUNNING


def test_a_row_status_given_as_a_word_becomes_the_enum() -> None:
    row = MetricRow("latency p99", "fail", "latency p99 regressed")  # type: ignore[arg-type]
    assert row.status is RowStatus.FAIL
    with pytest.raises(ValueError, match="metric status must be one of pass, fail"):
        MetricRow("latency p99", "failed", "no such status")  # type: ignore[arg-type]


def test_enums_serialise_as_their_words() -> None:
    document = {
        "row": RowStatus.INCONCLUSIVE,
        "run": RunStatus.ROLLED_BACK,
        "gate": GateVerdict.REGRESSION,
    }
    assert json.dumps(document) == (
        '{"row": "inconclusive", "run": "rolled_back", "gate": "regression"}'
    )


def test_the_store_accepts_every_final_run_status_and_nothing_else() -> None:
    assert RUNNING == "running"
    assert set(FINAL_STATUSES) == set(RunStatus) - {RunStatus.RUNNING}
    assert sorted(FINAL_STATUSES) == [
        "aborted",
        "completed",
        "failed",
        "held",
        "inconclusive",
        "promoted",
        "rolled_back",
    ]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (RunStatus.PROMOTED, "good"),
        (RunStatus.COMPLETED, "good"),
        (GateVerdict.PASSED, "good"),
        (RunStatus.ROLLED_BACK, "bad"),
        (RunStatus.FAILED, "bad"),
        (GateVerdict.REGRESSION, "bad"),
        (RunStatus.HELD, "neutral"),
        (RunStatus.ABORTED, "neutral"),
        (RunStatus.INCONCLUSIVE, "neutral"),
        (RunStatus.RUNNING, "neutral"),
        (GateVerdict.INCONCLUSIVE, "neutral"),
        ("passed", "good"),  # a report.json read back holds the plain word
    ],
)
def test_every_status_has_an_outcome_class(status: str, outcome: str) -> None:
    assert outcome_class(status) == outcome


def test_the_pushgateway_has_a_code_for_every_status() -> None:
    from harness.metrics.pushgateway import STATUS_CODES

    assert set(STATUS_CODES) == set(RunStatus) | set(GateVerdict)
    assert STATUS_CODES[RunStatus.RUNNING] == 0
    assert {STATUS_CODES[s] for s in GOOD} == {1}
    assert {STATUS_CODES[s] for s in (RunStatus.ROLLED_BACK, RunStatus.FAILED)} == {2}


GOOD = (RunStatus.PROMOTED, RunStatus.COMPLETED, GateVerdict.PASSED)
