"""A real PostgreSQL server from Debian's `postgresql` package, in a temporary folder:
initdb + pg_ctl on a free loopback port, as the unprivileged user `nobody` when run as
root (PostgreSQL refuses to run as root). Trust authentication on loopback only."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.teams.servers import free_port

USER = "harness"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "nobody", "--", *args]


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[str]:
    """Start PostgreSQL; yield ``postgresql://harness@127.0.0.1:PORT``; stop and remove it.

    Tests run without fsync (faster, and a crash of the test server loses nothing that
    matters); ``durable`` keeps PostgreSQL's defaults, for benchmarks."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    try:
        data, sockets = folder / "data", folder / "sockets"
        sockets.mkdir()
        if os.geteuid() == 0:
            folder.chmod(0o755)
            for path in (folder, sockets):
                shutil.chown(path, "nobody", "nogroup")
        subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = folder / "postgres.log"
        if os.geteuid() == 0:
            log.touch()
            shutil.chown(log, "nobody", "nogroup")
        started = subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    *("-D", str(data), "-o", options, "-l", str(log)),
                    *("-w", "-t", "90", "start"),
                ]
            ),
            capture_output=True,
            text=True,
            timeout=270,  # 3x pg_ctl's own wait
            check=False,
        )
        assert started.returncode == 0, started.stderr + log.read_text()[-2000:]
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}"
        finally:
            subprocess.run(
                _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server: str, name: str) -> str:
    """A new empty database on ``server``; returns its URL."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


_counter = [0]


def fresh_database(server: str) -> str:
    _counter[0] += 1
    return create_database(
        server, f"h{os.getpid()}_{_counter[0]}_{int(time.time() * 1000) % 100000}"
    )
