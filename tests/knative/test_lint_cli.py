"""`harness lint` as a user runs it: a real process, exit codes, outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
HARNESS = [sys.executable, "-m", "harness.cli"]
VALID = FIXTURES / "05-docs-autoscale-go-target.yaml"
INVALID = FIXTURES / "09-docs-initial-scale-zero.yaml"


def run(
    *args: str, stdin: str | None = None, security: bool = False
) -> subprocess.CompletedProcess[str]:
    """``harness lint`` with ARGS; Knative's insecure-default warning (shown by default)
    only with ``security``, so exact outputs stay about the rule under test."""
    flags = [] if security else ["--no-security-warnings"]
    return subprocess.run(
        [*HARNESS, "lint", *flags, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_knatives_insecure_default_warning_is_shown_and_does_not_fail() -> None:
    result = run(str(VALID), security=True)
    assert result.returncode == 0, result.stdout + result.stderr
    insecure = "Kubernetes default value is insecure"
    lines = [line for line in result.stdout.splitlines() if insecure in line]
    assert len(lines) == 1, result.stdout  # one finding, merged as Knative merges it
    assert ": warning " in lines[0]
    assert "securityContext.runAsNonRoot" in lines[0]
    hidden = run(str(VALID), "--feature", "secure-pod-defaults=enabled", security=True)
    assert insecure not in hidden.stdout, hidden.stdout


def test_clean_file_exits_0() -> None:
    result = run(str(VALID))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "0 errors" in result.stderr


def test_errors_exit_1_with_file_line_severity_field_message() -> None:
    result = run(str(INVALID))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{INVALID}:10: error spec.template.metadata.annotations.autoscaling.knative.dev/"
        "initial-scale=0 not allowed by cluster: invalid value: 0"
    ]


def test_output_is_plain_when_not_a_terminal() -> None:
    result = run(
        str(INVALID), str(FIXTURES / "04-serving-rollout-probe-camelcase-annotations.yaml")
    )
    assert "\x1b[" not in result.stdout + result.stderr


def test_cluster_flag_models_the_cluster() -> None:
    assert run("--allow-zero-initial-scale", str(INVALID)).returncode == 0


def test_unparsable_file_exits_2_and_others_are_still_linted(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Service\nmetadata:\n  name: [x\n")
    result = run(str(broken), str(INVALID))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"{re.escape(str(broken))}:4:1: error: YAML syntax error: .+", lines[0])
    assert lines[1].startswith(f"{INVALID}:10: error ")
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2_without_traceback() -> None:
    result = run("/nonexistent/service.yaml")
    assert result.returncode == 2
    assert (
        result.stdout.strip()
        == "/nonexistent/service.yaml: error: cannot read file: No such file or directory"
    )
    assert "Traceback" not in result.stderr


def test_json_output_shape() -> None:
    result = run("-o", "json", str(INVALID), "/nonexistent.yaml")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    first, second = doc["files"]
    assert first == {
        "file": str(INVALID),
        "findings": [
            {
                "severity": "error",
                "field": "spec.template.metadata.annotations.autoscaling.knative.dev/"
                "initial-scale=0 not allowed by cluster",
                "message": "invalid value: 0",
                "rule": "autoscaling-initial-scale-zero",
                "line": 10,
            }
        ],
        "error": None,
    }
    assert second["findings"] == []
    assert second["error"]["message"].startswith("cannot read file")
    assert second["error"]["line"] is None


def test_stdin_is_read_with_dash() -> None:
    result = run("--format", "json", "-", stdin="kind: Service\n  bad: indent\n")
    assert result.returncode == 2
    (report,) = json.loads(result.stdout)["files"]
    assert report["file"] == "<stdin>"
    assert (report["error"]["line"], report["error"]["column"]) == (2, 6)


def test_json_stdin_manifest() -> None:
    manifest = json.dumps(
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "hello"},
            "spec": {
                "template": {"spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go"}]}},
                "traffic": [{"latestRevision": True, "percent": 101}],
            },
        }
    )
    result = run("-o", "json", "-", stdin=manifest)
    assert result.returncode == 1
    rules = [f["rule"] for f in json.loads(result.stdout)["files"][0]["findings"]]
    assert sorted(rules) == ["traffic-percent-range", "traffic-sum"]


def test_no_files_is_a_usage_error() -> None:
    assert run().returncode == 2


def test_a_value_quoted_in_a_finding_is_printed_as_written_never_as_emoji() -> None:
    """rich's emoji codes printed the annotation value ':x:' of a finding as an emoji."""
    manifest = (
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: emo\n"
        "spec:\n  template:\n    metadata:\n      annotations:\n"
        '        autoscaling.knative.dev/target: ":x:"\n'
        "    spec:\n      containers:\n        - image: example.com/a:1\n"
    )
    result = run("-", stdin=manifest)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "invalid value: :x:" in result.stdout and "❌" not in result.stdout, result.stdout
