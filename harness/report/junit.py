"""JUnit XML: one testcase per metric, so CI systems show each metric as a test.

A failing metric is ``<failure message="...">`` (its sentence names the metric), an
erroring one ``<error>``, an inconclusive one ``<skipped>``; every testcase carries its
numbers in ``<system-out>``. A report without metrics gets one testcase for the run's
own outcome, so a run that stopped early never looks like an empty, passing suite.
Text is escaped by ElementTree; characters XML 1.0 cannot hold are dropped.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

from harness.report.format import format_value
from harness.report.model import MetricRow, ReportData, RowStatus, outcome_class

__all__ = ["render_junit"]

# Characters outside XML 1.0's Char production (control characters, lone surrogates).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(data: ReportData) -> str:
    """The junit.xml document of a report, as a string with an XML declaration."""
    metrics = data.metrics or [_run_outcome(data)]
    counts = {
        status: sum(1 for m in metrics if m.status == status)
        for status in (RowStatus.FAIL, RowStatus.ERROR, RowStatus.INCONCLUSIVE)
    }
    duration = f"{data.duration_s or 0.0:.3f}"
    totals = {
        "tests": str(len(metrics)),
        "failures": str(counts[RowStatus.FAIL]),
        "errors": str(counts[RowStatus.ERROR]),
        "skipped": str(counts[RowStatus.INCONCLUSIVE]),
        "time": duration,
    }
    root = ET.Element("testsuites", {"name": "knative-harness", **totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _clean(data.title),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(data.started)),
            **totals,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", data.run_id),
        ("kind", data.kind),
        ("namespace", data.namespace),
        ("service", data.service),
        ("baseline", data.baseline),
        ("candidate", data.candidate),
        ("label", data.label),
        ("status", data.status),
        ("decision", data.decision),
    ):
        if value is not None:
            ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    classname = _clean(f"harness.{data.kind}.{data.namespace}.{data.service}")
    for metric in metrics:
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": _clean(metric.name), "time": "0"}
        )
        numbers = _numbers(metric)
        if metric.status is RowStatus.FAIL:
            failure = ET.SubElement(
                case, "failure", {"message": _clean(metric.message), "type": "regression"}
            )
            failure.text = numbers
        elif metric.status is RowStatus.ERROR:
            error = ET.SubElement(
                case, "error", {"message": _clean(metric.message), "type": "error"}
            )
            error.text = numbers
        elif metric.status is RowStatus.INCONCLUSIVE:
            ET.SubElement(case, "skipped", {"message": _clean(metric.message)})
        ET.SubElement(case, "system-out").text = _clean(metric.message) + "\n" + numbers
    if data.explanation:
        ET.SubElement(suite, "system-out").text = _clean("\n".join(data.explanation))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _run_outcome(data: ReportData) -> MetricRow:
    outcome = outcome_class(data.status)
    status = {"good": RowStatus.PASS, "bad": RowStatus.FAIL}.get(outcome, RowStatus.INCONCLUSIVE)
    message = f"run {data.status.replace('_', ' ')}"
    if data.explanation:
        message += ": " + data.explanation[0]
    return MetricRow(name="run", status=status, message=message)


def _numbers(metric: MetricRow) -> str:
    return _clean(
        "\n".join(
            f"{key}: {format_value(key, value, metric.unit, exact=True)}"
            for key, value in metric.values.items()
        )
    )


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)
