"""``harness canary --confirm`` without a terminal is refused before anything happens.

It used to take the run lease, tag both revisions and warm up for seconds, then abort at
the first question (``< /dev/null`` answers nothing): exit 3 after writes to the Service.
The check comes before the cluster is even opened, so no cluster is needed here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store.sqlite import SqliteStore


@pytest.mark.slow  # runs the CLI as a process
def test_confirm_without_a_terminal_is_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "h.sqlite"
    env = {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
        "HARNESS_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["hello", "--from", "v1", "--to", "v2", "--confirm", "--store", str(store)]
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "canary", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--confirm" in lines[0] and "terminal" in lines[0], proc.stderr
    if store.exists():
        with SqliteStore(store) as s:
            assert s.list_runs() == []
