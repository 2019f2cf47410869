"""Terminal escape sequences in a manifest (or in a name given to a command) are shown
escaped, never sent raw to the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ESC = "\x1b"
MANIFEST = (
    "apiVersion: serving.knative.dev/v1\n"
    "kind: Service\n"
    "metadata:\n"
    '  name: "hello\\e]0;pwned\\a\\e[2J"\n'
    "  annotations:\n"
    '    "autoscaling.knative.dev/\\e[31mmin-scale": "\\e]8;;http://evil\\e\\\\x"\n'
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - image: x\n"
)


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "HARNESS_STATE_DIR": str(cwd / "state")}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_lint_text_output_escapes_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(MANIFEST)
    proc = _harness("lint", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert ESC not in proc.stdout and "\x07" not in proc.stdout and ESC not in proc.stderr
    assert "\\x1b[31mmin-scale" in proc.stdout
    assert len(proc.stdout.splitlines()) >= 2  # one line per finding, none split


def test_lint_json_output_keeps_the_text_escaped_as_json(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(MANIFEST)
    proc = _harness("lint", "-o", "json", str(path), cwd=tmp_path)
    assert ESC not in proc.stdout
    fields = [f["field"] for f in json.loads(proc.stdout)["files"][0]["findings"]]
    assert any(ESC + "[31m" in field for field in fields)  # the value itself is intact


def test_lint_file_name_and_parse_errors_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "bad\x1b[2J.yaml"
    path.write_text("a: [\n")
    proc = _harness("lint", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert ESC not in proc.stdout and "bad\\x1b[2J.yaml" in proc.stdout


def test_cli_error_lines_escape_control_characters(tmp_path: Path) -> None:
    proc = _harness("perf", "hello", "--config", "no\x1b]0;x\x07such.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and ESC not in proc.stderr and "\x07" not in proc.stderr
    assert "no\\x1b]0;x\\x07such.yaml" in proc.stderr
