"""The store contract's backends: every test that takes ``location``, ``reopen`` or
``store`` runs on an SQLite file and on a real PostgreSQL database (Debian's postgresql,
initdb + pg_ctl in a temporary folder, one server per test process; tests/teams/pg.py).
The PostgreSQL cases are slow tests: they start a server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.store import Store, open_store
from tests.teams.pg import fresh_database, postgres_server

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.slow),
]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="psycopg 3 (pyproject) drives PostgreSQL")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store of this test: an SQLite file's path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return fresh_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def reopen(location: str) -> Callable[[], Store]:
    """Opens this test's store again each time it is called."""
    return lambda: open_store(location)


@pytest.fixture
def store(reopen: Callable[[], Store]) -> Iterator[Store]:
    opened = reopen()
    try:
        yield opened
    finally:
        opened.close()
