"""`harness canary`'s lines on a pipe (a CI log) stay whole.

Off a terminal rich assumes 80 columns, and the canary's stderr console broke every
longer line: 'kn equivalent: kn service update hello ... --tag' / 'hello-v2=v2 --traffic
...', 'look 1 ... max e' / '1/120 (error_rate) -> continue'. A grep for a look or a kn
line in a CI log missed its end. The other canary tests set COLUMNS=200; this one does not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.canary.conftest import canary_command
from tests.conftest import RunningEmulator


def test_a_dry_runs_lines_are_not_broken_at_80_columns(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env.pop("COLUMNS", None)
    command = canary_command(
        emulator, tmp_path / "h.sqlite", "hello", "--from", "v1", "--to", "v2", "--dry-run",
        "--steps", "100", "--step-interval", "2s", "--look-interval", "1s", "--warmup", "1s",
        "--max-duration", "3s", "--report-dir", str(tmp_path / "report"),
    )  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 3, proc.stderr  # no decision within 3 s
    lines = proc.stderr.splitlines()
    promote = [line for line in lines if line.startswith("  promote: kn service update hello")]
    assert promote and promote[0].endswith("--traffic hello-v2=100"), proc.stderr
    looks = [line for line in lines if line.startswith("look ")]
    assert looks and all(
        line.endswith(("-> continue", "-> promote", "-> rollback")) for line in looks
    ), proc.stderr
