"""Hostile and careless input files: every reader refuses them quickly, in one line, exit 2.

Each case runs the real CLI in a subprocess under a 1.5 GB address-space cap
(``prlimit --as``), so a parser that expanded an alias bomb or recursed without bound
would fail here (MemoryError, a traceback, or the deadline) instead of taking the
machine down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.inputs import MAX_INPUT_BYTES
from tests.conftest import RunningEmulator

MEMORY_CAP = 1_500_000_000
# Generous for a loaded 2-core machine: the refusals themselves take milliseconds and the
# run about 1 s, mostly Python's start-up, which a CI machine beside a CPU hog once
# stretched past 20 s. A parser that expanded a bomb would take minutes (or hit the cap).
DEADLINE_S = 60.0

pytestmark = pytest.mark.skipif(
    shutil.which("prlimit") is None, reason="prlimit (util-linux) is needed for the memory cap"
)


def billion_laughs(fan_out: int, levels: int) -> str:
    """Each level is a list of ``fan_out`` aliases of the level before: fan_out**levels values."""
    names = "abcdefghijklmnop"
    lines = [f"a: &a [{','.join(['lol'] * fan_out)}]"]
    for level in range(1, levels):
        refs = ",".join([f"*{names[level - 1]}"] * fan_out)
        lines.append(f"{names[level]}: &{names[level]} [{refs}]")
    return "\n".join(lines) + "\n"


def deep_block(levels: int) -> str:
    return "".join(f"{'  ' * i}a:\n" for i in range(levels)) + f"{'  ' * levels}b: 1\n"


SERVICE_HEAD = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\n"

TEXT_CASES: dict[str, str] = {
    "laughs-370-bytes": billion_laughs(9, 9),
    "laughs-1k": billion_laughs(16, 16),
    "recursive-alias": "a: &a [1, *a]\n",
    "deep-block-1200": deep_block(1200),
    "deep-flow-5000": "[" * 5000 + "]" * 5000 + "\n",
    "deep-json-5000": '{"a":' * 5000 + "1" + "}" * 5000 + "\n",
    "int-5000-digits": SERVICE_HEAD + "spec:\n  x: " + "9" * 5000 + "\n",
    # A tab inside a JSON flow mapping makes YAML give up: the JSON reader takes over.
    "json-int-5000-digits": '{\t"a": ' + "9" * 5000 + "}\n",
}
BYTES_CASES: dict[str, bytes] = {
    "binary-with-nul": bytes(range(256)) * 16,
    "binary-not-utf8": bytes(range(0x80, 0x100)) * 16,
}
REASONS = {
    "laughs-370-bytes": "aliases are expanded",
    "laughs-1k": "aliases are expanded",
    "recursive-alias": "recursive alias",
    "deep-block-1200": "nested more than 100 levels",
    "deep-flow-5000": "nested more than 100 levels",
    "deep-json-5000": "nested more than 100 levels",
    "int-5000-digits": "more than 4,300 digits",
    "json-int-5000-digits": "more than 4,300 digits",
    "binary-with-nul": "binary data",
    "binary-not-utf8": "binary data",
    "huge": "larger than 10 MB",
    "dev-zero": "larger than 10 MB",
}


def test_the_370_byte_bomb_is_small() -> None:
    assert len(billion_laughs(9, 9)) <= 370 and len(billion_laughs(16, 16)) <= 1100


def _write_case(name: str, folder: Path) -> Path:
    if name == "dev-zero":
        return Path("/dev/zero")
    path = folder / f"{name}.yaml"
    if name == "huge":
        line = b"# " + b"x" * 97 + b"\n"
        with path.open("wb") as out:
            for _ in range(MAX_INPUT_BYTES // len(line) + 2):
                out.write(line)
    elif name in BYTES_CASES:
        path.write_bytes(BYTES_CASES[name])
    else:
        path.write_text(TEXT_CASES[name])
    return path


def _harness(
    args: list[str], tmp_path: Path, stdin: Path | None = None, state_dir: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **os.environ,
        "HARNESS_STATE_DIR": str(state_dir or tmp_path / "state"),
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
    }
    env.pop("KUBECONFIG", None)
    started = time.monotonic()
    with open(stdin or os.devnull, "rb") as source:
        proc = subprocess.run(
            ["prlimit", f"--as={MEMORY_CAP}", sys.executable, "-m", "harness.cli", *args],
            stdin=source,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            cwd=tmp_path,
            timeout=180,
            check=False,
        )
    return proc, time.monotonic() - started


def _assert_refused(
    proc: subprocess.CompletedProcess[str], elapsed: float, reason: str, *, where: str
) -> None:
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output[-2000:]
    assert proc.returncode == 2, (proc.returncode, output[-2000:])
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert reason in (proc.stderr if where == "stderr" else proc.stdout), output[-2000:]
    assert elapsed < DEADLINE_S, f"took {elapsed:.1f} s"


ALL_CASES = [*TEXT_CASES, *BYTES_CASES, "huge", "dev-zero"]


@pytest.mark.parametrize("case", ALL_CASES)
def test_lint_refuses_hostile_file(case: str, tmp_path: Path) -> None:
    path = _write_case(case, tmp_path)
    proc, elapsed = _harness(["lint", str(path)], tmp_path)
    # lint prints a file's error as a finding on stdout and the total on stderr
    _assert_refused(proc, elapsed, REASONS[case], where="stdout")
    assert "1 unreadable in 1 file" in proc.stderr


@pytest.mark.parametrize("case", ["laughs-370-bytes", "binary-with-nul", "dev-zero", "huge"])
def test_lint_refuses_hostile_stdin(case: str, tmp_path: Path) -> None:
    path = _write_case(case, tmp_path)
    proc, elapsed = _harness(["lint", "-"], tmp_path, stdin=path)
    _assert_refused(proc, elapsed, REASONS[case], where="stdout")
    assert proc.stdout.startswith("<stdin>")


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "local-apply": lambda path: ["local", "apply", "-f", str(path)],
    "canary-config": lambda path: ["canary", "--config", str(path)],
    "perf-config": lambda path: ["perf", "hello", "--config", str(path)],
    "status-kubeconfig": lambda path: ["status", "hello", "--kubeconfig", str(path)],
}
SOME_CASES = [
    "laughs-1k",
    "deep-block-1200",
    "int-5000-digits",
    "binary-with-nul",
    "binary-not-utf8",
    "dev-zero",
]


@pytest.mark.parametrize("case", SOME_CASES)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_reader_refuses_hostile_file(command: str, case: str, tmp_path: Path) -> None:
    path = _write_case(case, tmp_path)
    proc, elapsed = _harness(COMMANDS[command](path), tmp_path)
    reason = REASONS[case]
    if command == "status-kubeconfig" and case == "dev-zero":
        reason = "is not a regular file"
    _assert_refused(proc, elapsed, reason, where="stderr")
    assert proc.stderr.startswith("error: ")


@pytest.mark.parametrize("case", ["laughs-370-bytes", "deep-flow-5000", "binary-with-nul"])
def test_canary_apply_refuses_hostile_manifest(
    case: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = _write_case(case, tmp_path)
    args = ["canary", "hello", "--from", "v1", "--apply", str(path),
            "--kubeconfig", str(emulator.kubeconfig),
            "--store", str(tmp_path / "h.sqlite")]  # fmt: skip
    proc, elapsed = _harness(args, tmp_path, state_dir=emulator.state_dir)
    _assert_refused(proc, elapsed, REASONS[case], where="stderr")
    with emulator.api_client() as api:
        revisions = api.get("/apis/serving.knative.dev/v1/namespaces/default/revisions").json()
    assert sorted(r["metadata"]["name"] for r in revisions["items"]) == ["hello-v1", "hello-v2"]
