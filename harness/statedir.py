"""The state folder: where the emulator, the run store and their files live.

Chosen as the CLI contract says: an explicit ``--state-dir``, else the
``HARNESS_STATE_DIR`` environment variable, else ``$XDG_STATE_HOME/knative-harness``,
else ``~/.local/state/knative-harness``. The folder is the user's alone (mode 0700).

Every layer may import this module (it imports only `harness.errors`): the store keeps
its default file here and the emulator its daemon's files, without either importing
the other.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.errors import BadInput

__all__ = ["APP_DIR", "STATE_ENV", "ensure_state_dir", "resolve_state_dir"]

STATE_ENV = "HARNESS_STATE_DIR"
APP_DIR = "knative-harness"


def resolve_state_dir(explicit: Path | str | None = None) -> Path:
    """The state folder to use: `explicit`, else $HARNESS_STATE_DIR, else the XDG state dir."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(STATE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / APP_DIR


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state folder, private to the user (0700; an existing one of the user's
    is made so), or raise BadInput if that is impossible or it belongs to someone else."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = state_dir.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise BadInput(f"state folder {state_dir} is not a directory")
        if info.st_uid != os.getuid():
            raise BadInput(f"state folder {state_dir} belongs to another user")
        if stat.S_IMODE(info.st_mode) & 0o077:
            state_dir.chmod(0o700)
    except OSError as exc:
        raise BadInput(f"cannot create state folder {state_dir}: {exc.strerror}") from exc
    return state_dir
