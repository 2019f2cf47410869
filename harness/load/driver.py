"""`LoadDriver`: runs a load plan in a Locust process and hands out per-arm snapshots.

Locust runs in a child process (``python -m harness.load.engine``), not in the caller's:

* importing Locust monkey-patches a process with gevent; the canary controller (httpx,
  SQLite, scipy, threads) stays a plain Python process;
* the judge's CPU work cannot delay a request's send time, and Locust's greenlets cannot
  delay the controller;
* ``snapshot()`` is one round trip on a local socket (about a millisecond, see
  docs/load.md) and may be called from any thread, at any time, as often as wanted.

Every run is bounded by its duration (and optionally a request count) and stops by
itself; if the caller dies, the Locust process sees its control socket close and stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import Aborted, BadInput, Unavailable
from harness.load.channel import Channel, ChannelClosed
from harness.load.plan import Distribution, LoadPlan, Pacing, UserCode
from harness.load.stats import ArmStats, arms_from_wire
from harness.load.targets import Arm, check_reachable, require_unique_names

FINISHED = "finished"
_REPLY_TIMEOUT_S = 30.0
_EXIT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LoadStatus:
    """A consistent look at a run: cumulative per-arm statistics and where the run is."""

    state: str
    elapsed_s: float
    users: int
    cpu_percent: float
    cpu_warning: bool
    arms: dict[str, ArmStats]

    @property
    def finished(self) -> bool:
        """True once every user has stopped and the statistics are final."""
        return self.state == FINISHED


class LoadDriver:
    """Starts, observes and stops one load run (use as a context manager)."""

    def __init__(
        self,
        distribution: Distribution | None = None,
        *,
        log_path: Path | None = None,
    ) -> None:
        self.distribution = distribution or Distribution()
        self._log_path = log_path
        self._own_log = log_path is None
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: Channel | None = None
        self._plan: LoadPlan | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._final: LoadStatus | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(
        self,
        arms: Sequence[Arm],
        pacing: Pacing,
        duration_s: float,
        max_requests: int | None = None,
        *,
        timeout_s: float = 10.0,
        shape: str | None = None,
        user_code: UserCode | None = None,
        check_targets: bool = True,
    ) -> None:
        """Validate, check every target accepts a TCP connection, then start the users.

        Returns once the Locust process runs (and, distributed, every expected worker
        connected). Raises ``BadInput`` for a bad plan or locustfile, ``Unavailable`` for
        an unreachable target or missing workers; in both cases no request was sent.
        """
        if self._process is not None:
            raise RuntimeError("a LoadDriver runs one plan; create another for the next run")
        plan = LoadPlan(
            arms=tuple(arms),
            pacing=pacing,
            duration_s=duration_s,
            max_requests=max_requests,
            timeout_s=timeout_s,
            shape=shape,
            user_code=user_code,
        )
        plan.validate()
        require_unique_names(plan.arms)
        self.distribution.validate()
        if check_targets:
            check_reachable(plan.arms)
        self._plan = plan
        self._spawn()
        reply = self._request(
            {
                "op": "start",
                "plan": plan.to_wire(),
                "distribution": self.distribution.to_wire(),
            },
            timeout_s=self.distribution.wait_s + _REPLY_TIMEOUT_S,
        )
        if not reply.get("ok"):
            self._kill()
            message = str(reply.get("error", "the load generator failed to start"))
            if reply.get("kind") == "unavailable":
                raise Unavailable(message)
            raise BadInput(message)

    def _spawn(self) -> None:
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="harness-load-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        parent_end, child_end = socket.socketpair()
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "harness.load.engine",
                    "--control-fd",
                    str(child_end.fileno()),
                ],
                pass_fds=[child_end.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own session: a terminal's Ctrl-C reaches the caller only, which then
                # stops the run cleanly and still collects the final statistics.
                start_new_session=True,
            )
        child_end.close()
        self._channel = Channel(parent_end)

    def status(self) -> LoadStatus:
        """Cumulative per-arm statistics now, consistent across arms; callable any time."""
        if self._final is not None:
            return self._final
        return _status(self._request({"op": "snapshot"}))

    def snapshot(self) -> dict[str, ArmStats]:
        """Per-arm statistics since the run began (the `LoadDriver` contract)."""
        return self.status().arms

    def finish(self) -> LoadStatus:
        """Stop the users now (or collect the results of a run that ended by itself).

        In-flight requests complete (up to the request timeout) and are counted; the
        Locust process then exits. Idempotent.
        """
        if self._final is not None:
            return self._final
        timeout = (self._plan.timeout_s if self._plan else 10.0) + _REPLY_TIMEOUT_S
        self._final = _status(self._request({"op": "stop"}, timeout_s=timeout))
        with contextlib.suppress(Aborted):
            self._request({"op": "close"})
        self._reap()
        return self._final

    def stop(self) -> dict[str, ArmStats]:
        """Stop the run and return the final per-arm statistics (the contract's name)."""
        return self.finish().arms

    def close(self) -> None:
        """Release the Locust process whatever state it is in (kills it if still running)."""
        if self._process is not None and self._process.poll() is None:
            if self._final is None:
                with contextlib.suppress(Aborted):
                    self.finish()
            self._kill()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._own_log and self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()

    def __enter__(self) -> LoadDriver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _request(
        self, message: dict[str, Any], timeout_s: float = _REPLY_TIMEOUT_S
    ) -> dict[str, Any]:
        channel = self._channel
        if channel is None:
            raise Aborted("the load generator is not running")
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            try:
                channel.settimeout(timeout_s)
                channel.send({**message, "id": request_id})
                while True:
                    reply = channel.receive()
                    # Answers to requests abandoned by an interrupt arrive first; skip them.
                    if reply.get("id") == request_id:
                        return reply
            except (ChannelClosed, TimeoutError, ValueError) as exc:
                self._kill()
                raise Aborted(
                    f"the load generator stopped answering: {self._last_log_line() or exc}"
                ) from None

    def _reap(self) -> None:
        if self._process is None:
            return
        try:
            self._process.wait(timeout=_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill()

    def _kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        # The whole session: the Locust process and any local workers it started.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _last_log_line(self) -> str:
        if self._log_path is None:
            return ""
        try:
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""


def _status(reply: dict[str, Any]) -> LoadStatus:
    if not reply.get("ok"):
        raise Aborted(str(reply.get("error", "the load generator reported an error")))
    return LoadStatus(
        state=str(reply["state"]),
        elapsed_s=float(reply["elapsed_s"]),
        users=int(reply["users"]),
        cpu_percent=float(reply["cpu_percent"]),
        cpu_warning=bool(reply["cpu_warning"]),
        arms=arms_from_wire(reply["arms"]),
    )
