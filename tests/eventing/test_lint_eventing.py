"""`harness lint` runs Knative Eventing's webhook on Brokers and Triggers. Pure, except
the last test, which runs the command as a user does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.knative.lint import lint_text

GOOD = """\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
spec:
  delivery:
    retry: 3
    backoffPolicy: exponential
    backoffDelay: PT0.2S
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders
spec:
  broker: default
  filters:
    - prefix:
        type: com.example.order
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: hello
"""

BAD = """\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: bad
spec:
  filter:
    attributes:
      Type: x
  delivery:
    backoffDelay: 5s
  subscriber:
    uri: /relative
"""


def test_valid_broker_and_trigger_have_no_findings() -> None:
    report = lint_text(GOOD, "good.yaml")
    assert report.findings == ()
    assert report.errors == 0


def test_invalid_trigger_findings_on_their_lines() -> None:
    report = lint_text(BAD, "bad.yaml")
    found = {(f.field, f.line) for f in report.findings}
    assert ("spec.broker", 5) in found
    assert ("spec.filter.attributes[Type]", 8) in found
    assert ("spec.delivery.backoffDelay", 10) in found
    assert ("spec.subscriber.uri", 12) in found
    assert all(f.severity == "error" for f in report.findings)
    assert report.errors == 4


def test_a_cesql_filter_must_parse() -> None:
    good = GOOD.replace(
        "    - prefix:\n        type: com.example.order\n",
        "    - cesql: \"type LIKE 'com.example.%' AND EXISTS subject\"\n",
    )
    assert "cesql" in good
    assert lint_text(good, "good.yaml").findings == ()
    bad = good.replace("AND EXISTS subject", "AND")
    report = lint_text(bad, "bad.yaml")
    assert [(f.field, f.severity) for f in report.findings] == [("spec.filters[0].cesql", "error")]
    assert "syntax error" in report.findings[0].message


def test_other_eventing_kinds_are_skipped_and_old_versions_refused() -> None:
    other = lint_text(
        "apiVersion: eventing.knative.dev/v1\nkind: EventType\nmetadata: {name: x}\n", "o"
    )
    assert [f.rule for f in other.findings] == ["skipped-kind"]
    old = lint_text(BAD.replace("eventing.knative.dev/v1", "eventing.knative.dev/v1beta1"), "o")
    assert [f.rule for f in old.findings] == ["api-version"]


@pytest.mark.slow  # runs the command
def test_lint_command(tmp_path: Path) -> None:
    manifest = tmp_path / "trigger.yaml"
    manifest.write_text(BAD)
    run = subprocess.run(
        [str(Path(sys.executable).parent / "harness"), "lint", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    assert "spec.delivery.backoffDelay" in run.stdout
    assert "Traceback" not in run.stderr
