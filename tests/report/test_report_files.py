"""write_report and update_index: four well-formed files per run, escaped, and an index."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.report import (
    REPORT_SCHEMA,
    MetricRow,
    ReportData,
    RowStatus,
    report_dir_for,
    update_index,
    write_report,
)
from tests.report.samples import canary_report, gate_report

EVIL = '<script>alert("pwned")</script> | `x` $y$'


def test_write_report_writes_four_files_and_returns_their_paths(tmp_path: Path) -> None:
    paths = write_report(canary_report(), tmp_path / "run")
    assert {kind: path.name for kind, path in paths.items()} == {
        "html": "report.html",
        "json": "report.json",
        "junit": "junit.xml",
        "markdown": "summary.md",
    }
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths.values())
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        p.name for p in paths.values()
    )


def test_report_json_round_trips_and_is_strict_json(tmp_path: Path) -> None:
    data = canary_report()
    path = write_report(data, tmp_path)["json"]
    document = json.loads(
        path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")
    )
    assert document["schema"] == REPORT_SCHEMA
    assert {"run_id", "kind", "status", "decision", "looks", "metrics", "histograms"} <= set(
        document
    )
    assert ReportData.from_dict(document) == data
    with pytest.raises(ValueError, match="not a knative-harness/report/v1"):
        ReportData.from_dict({**document, "schema": "other"})


def test_non_finite_numbers_become_null_in_json(tmp_path: Path) -> None:
    data = canary_report()
    look = replace(data.looks[0], e_values={"latency p99": float("inf")})
    path = write_report(replace(data, looks=[look]), tmp_path)["json"]
    assert json.loads(path.read_text())["looks"][0]["e_values"] == {"latency p99": None}


def test_junit_has_one_testcase_per_metric_and_a_failure_naming_it(tmp_path: Path) -> None:
    root = ET.parse(write_report(canary_report(), tmp_path)["junit"]).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "error rate",
        "latency p50",
        "latency p99",
        "slo p99",
    ]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("latency p99 regressed: 13.9 ms vs 8.1 ms")
    out = cases[2].find("system-out")
    assert out is not None and "candidate: 13.9 ms" in (out.text or "")
    assert "ratio: 1.72\n" in (out.text or "") + "\n"
    assert cases[3].find("skipped") is not None and cases[0].find("failure") is None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run_id"] == "20260921-120000-ab12" and properties["status"] == "rolled_back"


def test_junit_of_a_run_without_metrics_reports_the_run_itself(tmp_path: Path) -> None:
    data = replace(canary_report(), metrics=[], status="aborted", explanation=["interrupted"])
    root = ET.parse(write_report(data, tmp_path)["junit"]).getroot()
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["run"]
    skipped = cases[0].find("skipped")
    assert skipped is not None and skipped.get("message") == "run aborted: interrupted"
    failed = replace(data, status="rolled_back")
    root = ET.parse(write_report(failed, tmp_path)["junit"]).getroot()
    assert root.find("testsuite/testcase/failure") is not None


def test_markdown_summary_has_a_row_per_metric(tmp_path: Path) -> None:
    text = write_report(canary_report(), tmp_path)["markdown"].read_text()
    assert text.startswith("### ❌ Canary hello: hello-v1 → hello-v2: rolled back\n")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 4
    assert "| latency p99 | ❌ fail | 8.1 ms | 13.9 ms |" in text
    assert "full report: report.html" in text


def _evil_report() -> ReportData:
    data = canary_report(service="hello", message_suffix=" " + EVIL)
    arms = {EVIL: data.looks[0].arms["canary"]}
    return replace(
        data,
        service=EVIL,
        label=EVIL,
        baseline=EVIL,
        spec={"note": EVIL},
        looks=[replace(look, arms=arms, e_values={EVIL: 2.0}) for look in data.looks],
        histograms={EVIL: data.histograms["canary"]},
        metrics=[*data.metrics, MetricRow(EVIL, RowStatus.FAIL, EVIL, {EVIL: EVIL}, unit=EVIL)],
    )


def test_text_from_outside_is_escaped_in_every_format(tmp_path: Path) -> None:
    paths = write_report(_evil_report(), tmp_path)
    html = paths["html"].read_text()
    assert not re.search(r"<script", html, re.IGNORECASE)
    assert "&lt;script&gt;" in html
    junit_text = paths["junit"].read_text()
    assert "<script" not in junit_text
    root = ET.parse(paths["junit"]).getroot()
    assert any(c.get("name") == EVIL for c in root.iter("testcase"))
    failure_messages = [f.get("message") for f in root.iter("failure")]
    assert EVIL in failure_messages
    markdown = paths["markdown"].read_text()
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    assert markdown.count("\n| ") == 1 + 5  # a '|' in a name never splits a table cell


def test_control_characters_do_not_break_junit(tmp_path: Path) -> None:
    data = replace(canary_report(), explanation=["bell \x07 and nul \x00 in a message"])
    root = ET.parse(write_report(data, tmp_path)["junit"]).getroot()
    out = root.find("testsuite/system-out")
    assert out is not None and out.text == "bell  and nul  in a message"


def test_html_is_standalone(tmp_path: Path) -> None:
    html = write_report(canary_report(), tmp_path)["html"].read_text()
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert all(ref.startswith(("data:", "#")) for ref in references), references
    assert re.findall(r"https?://[^\s\"'<>]+", html) == ["http://www.w3.org/2000/svg"] * html.count(
        "<svg"
    )
    assert "<script" not in html and "@import" not in html
    assert "Content-Security-Policy" in html


def test_html_has_the_plots_of_its_kind(tmp_path: Path) -> None:
    canary = write_report(canary_report(), tmp_path / "c")["html"].read_text()
    assert re.findall(r'data-plot="([^"]+)"', canary) == [
        "traffic",
        "evalues",
        "error-rate",
        "latency-looks",
        "latency-cdf",
    ]
    gate = write_report(gate_report(), tmp_path / "g")["html"].read_text()
    assert re.findall(r'data-plot="([^"]+)"', gate) == [
        "latency-cdf",
        "trend-latency",
        "trend-error-rate",
        "trend-rps",
    ]


def test_index_lists_runs_newest_first_and_flags_unreadable_ones(tmp_path: Path) -> None:
    write_report(canary_report(), tmp_path / "20260921-120000-ab12")
    write_report(gate_report(), tmp_path / "20260921-300000-bbbb")
    broken = tmp_path / "broken & <odd> name"
    broken.mkdir()
    (broken / "report.json").write_text("{not json")
    (tmp_path / "no-report").mkdir()
    index = update_index(tmp_path)
    html = index.read_text()
    links = re.findall(r'<a href="([^"]+)">', html)
    assert links == [
        "20260921-300000-bbbb/report.html",
        "20260921-120000-ab12/report.html",
        "broken%20%26%20%3Codd%3E%20name/report.html",
    ]
    assert "unreadable" in html and "<odd>" not in html


def test_update_index_creates_an_empty_index_for_a_new_root(tmp_path: Path) -> None:
    index = update_index(tmp_path / "reports")
    assert index.is_file() and "0 runs" in index.read_text()


def test_report_dir_for_refuses_names_that_leave_the_root(tmp_path: Path) -> None:
    assert report_dir_for("20260921-120000-ab12", tmp_path) == tmp_path / "20260921-120000-ab12"
    for bad in ("../etc", "a/b", ".hidden", ""):
        with pytest.raises(BadInput):
            report_dir_for(bad, tmp_path)


def test_an_unwritable_folder_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BadInput, match="report folder"):
        write_report(canary_report(), blocker / "run")
