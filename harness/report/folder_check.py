"""Preflight for a report folder: it can be created and written, before a run starts.

Shared by `harness canary` and `harness perf`, so an unwritable ``--report-dir`` is one
line and exit 2 before any write, not an error after the run (issue 17).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from harness.errors import BadInput


def check_report_dir(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".harness-write-check-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BadInput(
            f"--report-dir {folder}: cannot write there ({exc.strerror or exc})"
        ) from None
