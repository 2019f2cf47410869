"""A password in a URL flag is used to connect but never printed or recorded: not on the
console, not in any report format, not in the history store (whose values are zlib'd
JSON, so the test reads them decompressed)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.conftest import RunningEmulator

PASSWORD = "S3cret-Pw0rd"


def _with_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://alice:{PASSWORD}@{rest}"


def _harness(
    args: list[str], emulator: RunningEmulator, cwd: Path
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_STATE_DIR": str(emulator.state_dir), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args, "--kubeconfig", str(emulator.kubeconfig)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def _store_texts(path: Path) -> list[str]:
    """Every value of every table of a SQLite file, blobs decompressed where they can be."""
    texts = []
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):  # names from the file
                for value in row:
                    if isinstance(value, bytes):
                        try:
                            value = zlib.decompress(value).decode("utf-8", "replace")
                        except zlib.error:
                            value = value.decode("utf-8", "replace")
                    texts.append(str(value))
    finally:
        db.close()
    return texts


def _assert_nowhere(proc: subprocess.CompletedProcess[str], folder: Path, store: Path) -> None:
    assert PASSWORD not in proc.stdout and PASSWORD not in proc.stderr
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files), files
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path
    texts = _store_texts(store)
    assert any("alice:***@" in text for text in texts), "the masked URL is recorded"
    assert not any(PASSWORD in text for text in texts)


@pytest.fixture
def prometheus(emulator: RunningEmulator) -> str:
    if emulator.prometheus is None:
        pytest.skip("no prometheus binary installed: nothing reads the --prometheus URL")
    return _with_password(emulator.prometheus)


def test_perf_never_prints_or_records_the_prometheus_password(
    emulator: RunningEmulator, prometheus: str, tmp_path: Path
) -> None:
    store, reports = tmp_path / "history.sqlite", tmp_path / "reports"
    proc = _harness(
        ["perf", "hello", "--duration", "3s", "--rate", "20", "--warmup", "0",
         "--prometheus", prometheus, "--save", "--store", str(store),
         "--report-dir", str(reports)],
        emulator,
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Prometheus" in proc.stdout + proc.stderr  # the URL was used: server-side figures
    _assert_nowhere(proc, reports, store)


def test_canary_never_prints_or_records_the_prometheus_password(
    emulator: RunningEmulator, prometheus: str, tmp_path: Path
) -> None:
    store, reports = tmp_path / "history.sqlite", tmp_path / "reports"
    proc = _harness(
        ["canary", "hello", "--from", "v1", "--to", "v2", "--steps", "50,100",
         "--step-interval", "2s", "--look-interval", "1s", "--warmup", "1s", "--rate", "30",
         "--max-duration", "20s",
         "--prometheus", prometheus, "--store", str(store), "--report-dir", str(reports)],
        emulator,
        tmp_path,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 3), proc.stderr[-2000:]
    _assert_nowhere(proc, reports, store)


def test_an_unreachable_url_is_reported_without_its_password(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    proc = _harness(
        ["perf", "hello", "--duration", "1s", "--prometheus", f"http://bob:{PASSWORD}@127.0.0.1:1"],
        emulator,
        tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "bob:***@127.0.0.1:1" in proc.stderr and PASSWORD not in proc.stderr
