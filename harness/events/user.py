"""The Locust user of `harness events`: POST one CloudEvent per task to a Broker (or any URL).

Pacing is the built-in user's (`locustfiles.hello.HelloUser`): closed model, or an open
model whose latency counts from each event's due time. Each event gets a unique id
(`harness.events.cloudevent.event_id`) and its send time; the id of every event the
Broker accepted (2xx) is appended to ``accepted-<pid>.txt`` in the run's folder, which
the accounting reads after the run (the Locust process flushes it as it exits).

To a plain ``http://`` URL each user sends on its own keep-alive connection
(`harness.events.wire`) and fires Locust's ``request`` event itself, with what Locust's
client would give its listeners (so statistics and per-arm counts are `harness load`'s);
Locust's client walked the seven ``ce-*`` headers so often that an event cost 1.6x a
plain GET. Other schemes (https) use Locust's client.

Imports Locust: Locust processes only. `harness.events.sender` writes the locustfile
source that builds this class from a plain config.
"""

from __future__ import annotations

import atexit
import itertools
import os
import time
from pathlib import Path
from typing import IO, Any, ClassVar

from locust.exception import StopUser

from harness.events.cloudevent import Encoder, EventShape, event_id
from harness.events.wire import Wire, WireAnswer, WireError, endpoint
from harness.load.recorder import LAG_CONTEXT_KEY
from locustfiles.hello import HelloUser, RequestBudget

_files: dict[str, IO[str]] = {}
_numbers = itertools.count()


def _accepted_file(folder: str) -> IO[str]:
    handle = _files.get(folder)
    if handle is None:
        handle = open(  # noqa: SIM115  # kept open for the process's life, closed at exit
            Path(folder) / f"accepted-{os.getpid()}.txt", "a", buffering=1 << 16
        )
        _files[folder] = handle
    return handle


@atexit.register
def _flush_all() -> None:
    for handle in _files.values():
        handle.close()


class CloudEventsUser(HelloUser):
    """POST a CloudEvent to ``path`` of the user's host; requests are named ``arm``."""

    abstract = True
    run_token: ClassVar[str] = ""
    shape: ClassVar[EventShape] = EventShape()
    folder: ClassVar[str] = ""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._encoder = Encoder(self.shape, self.run_token)
        self._sender = f"{os.getpid()}-{next(_numbers)}"
        self._seq = 0
        self._accepted = _accepted_file(self.folder)
        # Plain http: the user's own keep-alive connection (harness.events.wire).
        target = endpoint(self.host or "")
        self._wire: Wire | None = None
        self._host_header = ""
        self._url = (self.host or "") + self.path
        if target is not None:
            timeout = float(getattr(self, "network_timeout", 60.0))
            connect = float(getattr(self, "connection_timeout", 60.0))
            self._wire = Wire(target[0], target[1], connect_timeout=connect, timeout=timeout)
            defaults = getattr(self, "default_headers", None) or {}
            self._host_header = str(defaults.get("Host", target[2]))

    def on_stop(self) -> None:
        """Flush the accepted ids (the process flushes again as it exits)."""
        self._accepted.flush()
        if self._wire is not None:
            self._wire.close()

    def send(self) -> None:
        """One event, if the process' request budget allows; else this user stops."""
        if not self.budget.take():
            raise StopUser()
        if self.interval_s is not None:
            late_s = _now() - self._due
            self._context[LAG_CONTEXT_KEY] = late_s * 1000.0 if late_s > 0 else 0.0
            self._due += self.interval_s
        self._seq += 1
        eid = event_id(self.run_token, self._sender, self._seq)
        headers, body = self._encoder.encode(eid, _wall_ns())
        if self._wire is not None:
            status = self._send_on_wire(self._wire, headers, body)
        else:  # https and the like: Locust's client
            response = self.client.request(
                "POST",
                self.path,
                name=self.arm,
                data=body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as they are
                headers=headers,
            )
            status = response.status_code or 0
        if 200 <= status < 300:
            self._accepted.write(eid + "\n")

    def _send_on_wire(self, wire: Wire, headers: dict[str, str], body: bytes) -> int:
        """POST on the user's own connection and fire Locust's ``request`` event with what
        `FastHttpSession.request` gives its listeners; the status (0: no answer)."""
        context = self.context()
        start_time = time.time()
        started = _now()
        answer: WireAnswer | None = None
        exception: BaseException | None = None
        try:
            answer = wire.post(self.path, self._host_header, headers, body)
        except OSError as exc:  # WireError, refused, reset, TimeoutError
            exception = exc
        if answer is not None and answer.status_code >= 400:
            exception = WireError(f"HTTP {answer.status_code}")
        self.environment.events.request.fire(
            request_type="POST",
            name=self.arm,
            context=context,
            response=answer,
            exception=exception,
            start_time=start_time,
            url=self._url,
            response_length=len(answer.content) if answer is not None else 0,
            response_time=(_now() - started) * 1000.0,
        )
        return answer.status_code if answer is not None else 0


# Locust's metaclass adds the base class's tasks (HelloUser's GET) to a subclass's own:
# replace them after the fact, so sending an event is the only task.
CloudEventsUser.tasks = [CloudEventsUser.send]


_now = time.perf_counter
_wall_ns = time.time_ns


def build_user(config: dict[str, Any]) -> type[CloudEventsUser]:
    """The user class for one run (``config`` from `harness.events.sender.user_config`)."""
    interval = config.get("interval_s")
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "abstract": False,
        "run_token": str(config["run"]),
        "shape": EventShape(
            type=str(config["type"]), source=str(config["source"]), mode=str(config["mode"])
        ),
        "folder": str(config["folder"]),
        "arm": str(config["arm"]),
        "path": str(config["path"]),
        "interval_s": None if interval is None else float(interval),
        "think_s": float(config.get("think_s", 0.0)),
        "budget": RequestBudget(config.get("max_events")),
        "weight": 1,
    }
    return type("CloudEventsUser", (CloudEventsUser,), attrs)
