"""Every command that opens the store refuses a damaged one, the same way, before anything.

The refusal is `status`'s: one line naming the file as corrupt, exit 2, the file left
byte-for-byte as it was and no ``-wal``/``-shm`` file created next to it. The commands
check the store before they look for a cluster, so no cluster is needed here (a command
that got past the store would fail on the missing kubeconfig instead, with another
message).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store import SqliteStore, open_store, store_path

PAGE = 4096


def _corrupt_store(path: Path) -> str:
    """A harness store whose inner pages are overwritten (header and schema page intact)."""
    with SqliteStore(path) as store:
        for n in range(200):
            run = store.create_run("perf", "default", "hello", spec={"pad": "x" * 500, "n": n})
            store.finish_run(run.id, "completed")
        running = store.create_run("canary", "default", "hello", original_traffic=[])
    data = bytearray(path.read_bytes())
    assert len(data) > 6 * PAGE
    data[2 * PAGE : len(data) - PAGE] = os.urandom(len(data) - 3 * PAGE)
    path.write_bytes(bytes(data))
    return running.id


def _harness(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env["HARNESS_STATE_DIR"] = str(tmp_path / "state")
    env["HOME"] = str(tmp_path / "home")
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


NO_CLUSTER = ("--kubeconfig", "/nonexistent/kubeconfig")

COMMANDS: dict[str, tuple[str, ...]] = {
    "status": ("status", "hello", *NO_CLUSTER),
    "canary": ("canary", "hello", "--from", "v1", "--to", "v2", *NO_CLUSTER),
    "rollback": ("rollback", "hello", *NO_CLUSTER),
    "perf --save": ("perf", "hello", "--save", "--duration", "2s", *NO_CLUSTER),
    "gate": ("gate", "hello"),
    "canary --resume": ("canary", "--resume", "RUN_ID", *NO_CLUSTER),
}


@pytest.mark.parametrize("spelling", ["path", "sqlite-url"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_corrupt_store_and_writes_nothing(
    tmp_path: Path, command: str, spelling: str
) -> None:
    path = tmp_path / "history.sqlite"
    run_id = _corrupt_store(path)
    before = _digest(path), path.stat().st_mtime_ns
    where = str(path) if spelling == "path" else f"sqlite://{path}"
    args = [a.replace("RUN_ID", run_id) for a in COMMANDS[command]]
    proc = _harness(tmp_path, *args, "--store", where)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"store {path}: corrupt" in lines[0]
    assert "nothing was changed" in lines[0]
    assert (_digest(path), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("history")) == [
        "history.sqlite"
    ]


def test_the_default_store_is_checked_too(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "history.sqlite"
    _corrupt_store(path)
    before = _digest(path)
    proc = _harness(tmp_path, "perf", "hello", "--save", "--duration", "2s", *NO_CLUSTER)
    assert proc.returncode == 2, proc.stderr
    assert f"store {path}: corrupt" in proc.stderr
    assert _digest(path) == before
    assert sorted(p.name for p in state.iterdir()) == ["history.sqlite"]


def test_a_refused_wal_store_gets_no_companion_files(tmp_path: Path) -> None:
    """A store in WAL mode, damaged: the check reads it without creating -wal/-shm."""
    path = tmp_path / "history.sqlite"
    _corrupt_store(path)
    assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL mode in the header
    before = _digest(path)
    with pytest.raises(Exception, match="corrupt"):
        open_store(path)
    assert _digest(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["history.sqlite"]


def test_sqlite_urls_name_the_file_in_every_spelling(tmp_path: Path) -> None:
    file = tmp_path / "h.sqlite"
    assert store_path(f"sqlite://{file}") == file
    assert store_path(f"sqlite:///{file}") == file
    # what a CLI option typed Path makes of sqlite:///PATH
    assert store_path(Path(f"sqlite://{file}")) == file
    store = open_store(Path(f"sqlite://{file}"))
    store.close()
    assert file.is_file()


def test_gate_finds_a_store_given_as_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    SqliteStore(path).close()
    proc = _harness(tmp_path, "gate", "hello", "--store", f"sqlite://{path}")
    # An empty store: no saved perf run to gate (exit 3), found at the right place.
    assert proc.returncode == 3, proc.stderr
    assert "no saved perf run" in proc.stderr
    assert str(path) in proc.stderr
