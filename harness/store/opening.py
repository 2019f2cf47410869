"""Where the store is: `open_store` picks the backend from a ``--store`` value."""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import BadInput
from harness.statedir import ensure_state_dir, resolve_state_dir
from harness.store.contract import Store
from harness.store.postgres import PostgresStore, is_postgres_url
from harness.store.sqlite import SqliteStore

__all__ = ["DEFAULT_STORE_FILE", "default_store_path", "open_store", "store_path"]

DEFAULT_STORE_FILE = "history.sqlite"


def default_store_path() -> Path:
    """``<state dir>/history.sqlite``; the state dir is resolved as `harness local` does."""
    return resolve_state_dir() / DEFAULT_STORE_FILE


def store_path(location: str | Path | None) -> Path | None:
    """The file a ``--store`` value names: None for the default file, a path, or
    ``sqlite:///PATH``; None for another URL scheme (which `open_store` refuses).

    ``sqlite:///PATH`` may arrive normalised by ``pathlib`` (CLI options typed ``Path``
    turn ``sqlite:///tmp/h.sqlite`` into ``sqlite:/tmp/h.sqlite``); both spell the file
    ``/tmp/h.sqlite``.
    """
    if location is None:
        location = os.environ.get("HARNESS_STORE") or None
        if location is None:
            return default_store_path()
    text = str(location)
    if text.startswith("sqlite:"):
        rest = text.removeprefix("sqlite:")
        if not rest.startswith("/"):
            raise BadInput(f"store {text}: write sqlite:///PATH with an absolute PATH")
        return Path("/" + rest.lstrip("/"))
    if re.match(r"^[a-z][a-z0-9+.-]*://", text) or is_postgres_url(text):
        return None
    return Path(text)


def open_store(location: str | Path | None = None) -> Store:
    """The store at ``location``: None for ``$HARNESS_STORE`` or else the default file, a
    path, ``sqlite:///PATH``, or ``postgresql://...`` (`PostgresStore`).

    The default file (and its folder) is created on first use; an explicit path must
    be in an existing folder. Other URL schemes are BadInput.
    An existing file is checked first (header, schema, ``PRAGMA quick_check``) without
    writing anything, so a damaged store is refused before any command uses it.
    """
    if location is None:
        location = os.environ.get("HARNESS_STORE") or None  # a team's shared store
    if location is not None and is_postgres_url(location):
        return PostgresStore(location)
    path = store_path(location)
    if path is None:
        raise BadInput(
            f"store {location}: unsupported scheme "
            "(use a file path, sqlite:///PATH or postgresql://...)"
        )
    if location is None:
        ensure_state_dir(path.parent)
    return SqliteStore(path)
