"""A store never loses a written look and never damages a file it cannot read."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.errors import EXIT_BAD_INPUT, BadInput
from harness.store import SqliteStore
from harness.store.sqlite import SCHEMA_VERSION


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_refused_untouched(path: Path, match: str) -> None:
    before = _digest(path), path.stat().st_mtime_ns
    with pytest.raises(BadInput, match=match) as raised:
        SqliteStore(path)
    assert raised.value.exit_code == EXIT_BAD_INPUT
    assert "\n" not in str(raised.value)
    assert (_digest(path), path.stat().st_mtime_ns) == before


def test_random_bytes_are_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(os.urandom(8192))
    _assert_refused_untouched(path, "not an SQLite database")


def test_an_empty_file_is_refused_not_initialised(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.touch()
    _assert_refused_untouched(path, "not an SQLite database")
    assert path.stat().st_size == 0


def test_another_applications_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (id TEXT, secret TEXT)")
    db.execute("INSERT INTO runs VALUES ('1', 'keep me')")
    db.commit()
    db.close()
    _assert_refused_untouched(path, "another application")
    assert sqlite3.connect(path).execute("SELECT secret FROM runs").fetchall() == [("keep me",)]


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    _assert_refused_untouched(path, "newer harness")


def test_corrupt_pages_give_a_clear_error_and_the_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with SqliteStore(path) as store:
        for n in range(200):
            run = store.create_run("perf", "default", "hello", spec={"pad": "x" * 500, "n": n})
            store.finish_run(run.id, "completed")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[2 * page : len(data) - page] = os.urandom(len(data) - 3 * page)
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(BadInput, match=r"corrupt|unreadable|malformed") as raised:
        store = SqliteStore(path)
        try:
            store.list_runs(limit=1000)
        finally:
            store.close()
    assert "\n" not in str(raised.value)
    assert _digest(path) == before


def test_a_symlink_to_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(BadInput, match="not a regular file"):
        SqliteStore(tmp_path / "link")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from harness.store import SqliteStore

    store = SqliteStore(Path(sys.argv[1]))
    run = store.create_run("canary", "default", "hello")
    print(run.id, flush=True)
    seq = 0
    while True:
        seq = store.record_look(run.id, step=0, percent=1, arms={}, verdict={}).seq
        action = store.begin_action(run.id, "set_traffic", {"percent": seq})
        print(seq, action.seq, flush=True)
    """
)


def test_a_look_written_before_sigkill_survives(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        deadline = time.monotonic() + 60
        last_look = last_action = 0
        while last_look < 20 and time.monotonic() < deadline:
            last_look, last_action = map(int, child.stdout.readline().split())
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert last_look >= 20, "the writer did not get going within 60 s"
    with SqliteStore(path) as store:
        looks = store.looks(run_id)
        actions = store.actions(run_id)
        assert len(looks) >= last_look
        assert [look.seq for look in looks] == list(range(1, len(looks) + 1))
        assert len(actions) >= last_action
        assert not any(action.done for action in actions)
        assert store.get_run(run_id).running


def test_two_processes_creating_the_store_at_once_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    code = (
        "import sys; from pathlib import Path; from harness.store import SqliteStore; "
        "s = SqliteStore(Path(sys.argv[1])); "
        "print(s.create_run('perf', 'default', 'hello').id)"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    ids = {child.communicate(timeout=60)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    with SqliteStore(path) as store:
        assert {run.id for run in store.list_runs()} == ids
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
