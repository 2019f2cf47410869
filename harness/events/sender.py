"""The sending side of `harness events`, seen from the harness: the Locust user code of a
run and the ids of the events the Broker accepted.

The user class (`harness.events.user`) runs in the `LoadDriver`'s Locust process as a
locustfile (`UserCode`) whose source is generated here from plain values, so the load
path (pacing, shapes, per-arm statistics, Ctrl-C) is `harness load`'s own.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.events.cloudevent import EventShape, require_run_token
from harness.load.plan import Pacing, UserCode
from harness.load.targets import Arm

LOCUSTFILE_NAME = "harness-events.py"
# A bound on what the accounting reads back: ids are short, one per accepted event.
MAX_ID_LENGTH = 200


def new_run_token() -> str:
    """A fresh random run token (8 hex digits)."""
    return secrets.token_hex(4)


def user_config(
    arm: Arm,
    shape: EventShape,
    run: str,
    folder: Path,
    pacing: Pacing,
    max_events: int | None = None,
) -> dict[str, Any]:
    """What `harness.events.user.build_user` needs, as JSON-safe values."""
    shape.validate()
    return {
        "run": require_run_token(run),
        "type": shape.type,
        "source": shape.source,
        "mode": shape.mode,
        "folder": str(folder),
        "arm": arm.name,
        "path": arm.path,
        "interval_s": None if pacing.rate is None else pacing.users / pacing.rate,
        "think_s": pacing.wait_s,
        "max_events": max_events,
    }


def user_code(config: dict[str, Any]) -> UserCode:
    """The locustfile that defines the run's user class (no user input reaches it as code:
    the config is embedded as a JSON string literal)."""
    literal = json.dumps(json.dumps(config))
    source = (
        "import json\n"
        "from harness.events.user import build_user\n"
        f"CloudEventsUser = build_user(json.loads({literal}))\n"
    )
    return UserCode(filename=LOCUSTFILE_NAME, source=source)


def accepted_ids(folder: Path, run: str) -> set[str]:
    """The ids of the run's events the Broker accepted (every Locust process's file)."""
    prefix = f"{run}."
    ids: set[str] = set()
    for path in sorted(folder.glob("accepted-*.txt")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            ids.update(_ids(handle, prefix))
    return ids


def _ids(lines: Iterator[str], prefix: str) -> Iterator[str]:
    for line in lines:
        text = line.rstrip("\n")
        if text.startswith(prefix) and len(text) <= MAX_ID_LENGTH:
            yield text
