"""The CLI skeleton: version, help on every command, errors as one line with an exit code."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from harness import __version__
from harness.cli import app

runner = CliRunner()


def test_version_prints_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_every_command_has_help() -> None:
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
    for group in app.registered_groups:
        result = runner.invoke(app, [group.name or "", "--help"])
        assert result.exit_code == 0, (group.name, result.output)


def test_unknown_command_exits_2_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_unusable_arguments_are_one_line_and_exit_2() -> None:
    cases = [
        (["canary", "hello", "--from", "v1", "--to", "v2", "--rate", "fast"], "--rate"),
        (["canary", "--no-such-flag"], "No such option: --no-such-flag"),
        (["local", "up", "--max-pods", "many"], "--max-pods"),
        (["gate"], "Missing argument"),
    ]
    for args, expected in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, args
        assert proc.stderr.count("\n") == 1 and expected in proc.stderr, (args, proc.stderr)
        assert proc.stderr.startswith("error:") and "--help" in proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
