"""The CLI skeleton: version, help on every command, errors as one line with an exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness import __version__
from harness.cli import app
from tests.conftest import RunningEmulator

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


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_ctrl_c_during_perf_exits_3_and_leaves_no_load_process(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    env = {**os.environ, "HARNESS_STATE_DIR": str(emulator.state_dir), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "perf", "hello", "--duration", "60s",
         "--rate", "10", "--kubeconfig", str(emulator.kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        # a test runner may ignore SIGINT; the harness must see it as a user's Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    engines: list[int] = []
    while not engines and proc.poll() is None and time.monotonic() < deadline:
        engines = [c for c in _children(proc.pid) if "harness.load.engine" in _cmdline(c)]
        time.sleep(0.1)
    assert engines, "the load generator never started"
    time.sleep(1.0)  # the run is under way
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, (proc.returncode, stderr[-2000:])
    assert "Traceback" not in stderr
    assert stderr.rstrip().splitlines()[-1] == "interrupted"
    assert not any(Path(f"/proc/{pid}").exists() and _cmdline(pid) for pid in engines)


def test_a_namespace_starting_with_a_digit_works_end_to_end(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    manifest = tmp_path / "hello.yaml"
    manifest.write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\n"
        "metadata: {name: hello, namespace: 1abc}\n"
        "spec:\n  template:\n    metadata: {name: hello-v1}\n"
        "    spec:\n      containers: [{image: harness/sample-app}]\n"
    )
    env = {**os.environ, "HARNESS_STATE_DIR": str(emulator.state_dir), "NO_COLOR": "1"}

    def harness(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harness.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=240,  # 3x and more the load's own 60 s bound
            check=False,
        )

    applied = harness("local", "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    kubeconfig = ["--kubeconfig", str(emulator.kubeconfig)]
    deadline = time.monotonic() + 60
    status = harness("status", "hello", "-n", "1abc", *kubeconfig)
    # The whole line: a reason while not ready ("... not ready (RevisionMissing)", a
    # message) may itself contain "Ready".
    while "Service 1abc/hello: Ready" not in status.stdout and time.monotonic() < deadline:
        time.sleep(0.5)
        status = harness("status", "hello", "-n", "1abc", *kubeconfig)
    assert status.returncode == 0 and "Service 1abc/hello: Ready" in status.stdout, status
    # A number of requests, not 1 s of them: a loaded machine may answer none in 1 s.
    load = harness("load", "hello", "-n", "1abc", "--rate", "10", "--requests", "10",
                   "--duration", "60s", "-o", "json", *kubeconfig)  # fmt: skip
    assert load.returncode == 0, load.stderr
    assert '"failures": 0' in load.stdout and '"requests": 0' not in load.stdout


def test_status_text_keeps_the_last_run_on_one_line_on_a_pipe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On a pipe (a CI log) rich assumed 80 columns and broke 'Last run: ... (started'
    from its date, so a grep for the run's line missed its times."""
    from harness.commands.status import _print_text

    doc: dict[str, Any] = {
        "service": {"namespace": "default", "name": "hello", "ready": True, "reason": None,
                    "message": None, "url": "http://hello.default.example.com"},
        "revisions": [],
        "traffic": [],
        "lease": None,
        "lastRun": {"id": "20261202-135239-530f", "kind": "canary",
                    "revisions": ["hello-v1", "hello-v2"], "status": "promoted",
                    "started": "2026-12-02T13:52:39Z", "finished": "2026-12-02T13:53:39Z"},
    }  # fmt: skip
    _print_text(doc)
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "Last run" in line]
    assert line.endswith("finished 2026-12-02T13:53:39Z)"), line


def test_an_error_message_is_printed_as_written_never_as_emoji() -> None:
    """rich's emoji codes turned the ':x:' of "trace 'bogus:x:'" into an emoji in the
    one-line error (seen as 'error: trace bogus❌ unknown source')."""
    manifest = Path(__file__).parents[1] / "examples" / "sample-app" / "service-v1.yaml"
    command = ["autoscale", "simulate", str(manifest), "--trace", "bogus:x:y"]
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *command],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "bogus:x:y" in proc.stderr and "❌" not in proc.stderr, proc.stderr


def test_status_text_prints_a_message_with_brackets_and_colons_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A not-ready reason or message is the cluster's text: '[/bin/sh]' was read as a
    rich closing tag (a MarkupError traceback) and ':x:' as an emoji."""
    from harness.commands.status import _print_text

    doc: dict[str, Any] = {
        "service": {"namespace": "default", "name": "hello", "ready": False,
                    "reason": "RevisionFailed", "url": None,
                    "message": 'exec [/bin/sh] failed :x:'},
        "revisions": [{"name": "hello-v1", "ready": False, "reason": "[/Exit]",
                       "message": None, "created": None}],
        "traffic": [],
        "lease": None,
        "lastRun": None,
    }  # fmt: skip
    _print_text(doc)
    out = capsys.readouterr().out
    assert "exec [/bin/sh] failed :x:" in out and "[/Exit]" in out, out


def test_status_says_a_lease_whose_holder_is_gone_is_stale(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After a canary was killed (kill -9), `harness status` showed its lease as 'held by
    ...' for up to a minute, although the next run or rollback takes it over at once."""
    import socket
    import time as clock

    from harness.canary.lease import LEASE_ANNOTATION, LeaseRecord
    from harness.commands.status import _lease, _print_text
    from harness.knative.model import ServiceState

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    holder = f"20261202-141913-8719@{socket.gethostname()}:{dead.stdout.strip()}"
    now = clock.time()
    record = LeaseRecord(holder=holder, renewed=now, expires=now + 60)
    state = ServiceState.from_object(
        {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
         "metadata": {"name": "hello", "namespace": "default",
                      "annotations": {LEASE_ANNOTATION: record.to_json()}}}
    )  # fmt: skip
    lease = _lease(state)
    assert lease is not None and lease["holderGone"] is True and lease["expired"] is False
    doc: dict[str, Any] = {
        "service": {"namespace": "default", "name": "hello", "ready": True, "reason": None,
                    "message": None, "url": None},
        "revisions": [], "traffic": [], "lease": lease, "lastRun": None,
    }  # fmt: skip
    _print_text(doc)
    assert "Run lease: stale (its process is gone on this host) by " + holder in (
        capsys.readouterr().out
    )


def test_a_bad_choice_is_one_line_without_pydantics_prefix() -> None:
    """typer's validation of a choice came out as "Invalid value for '--format' / '-o':
    Value error, 'yaml' is not one of 'text', 'json'" (pydantic's wording leaking)."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lint", "--format", "yaml", "x.yaml"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "'--format' / '-o': 'yaml' is not one of 'text', 'json'" in proc.stderr, proc.stderr
    assert "Value error" not in proc.stderr, proc.stderr
