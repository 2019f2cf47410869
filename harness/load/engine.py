"""The Locust process behind a `LoadDriver`: ``python -m harness.load.engine --control-fd N``.

Locust runs here as a library (its `Environment` and runners), in its own process: the
import of ``locust.env`` below monkey-patches this process with gevent, and only this
one, so the caller (the canary controller, the CLI) stays plain Python and a judge step
that holds the CPU cannot delay a request's send time. The driver talks to this
process over a socket (`harness.load.channel`):

    -> {"op": "start", "plan": ..., "distribution": ...}   <- {"ok": true} | {"ok": false, ...}
    -> {"op": "snapshot"}   <- {"ok": true, "state", "elapsed_s", "users", "arms", ...}
                               (state: running, stopping, finished)
    -> {"op": "stop"}       <- the final snapshot, once every user has stopped
    -> {"op": "close"}      <- {"ok": true}; the process exits

A snapshot is taken inside one greenlet step, so it is consistent across arms. The run
ends by itself at its duration or request budget; the end of the control stream (the
driver is gone) ends it too.
"""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import time
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import STATE_STOPPED, LocalRunner, MasterRunner

from harness.errors import BadInput, HarnessError, Unavailable
from harness.load.channel import Channel, ChannelClosed
from harness.load.distributed import ArmsMaster
from harness.load.plan import Distribution, LoadPlan
from harness.load.recorder import Recorder
from harness.load.stats import ArmStats, arms_to_wire, merge_arms
from harness.load.userclasses import build_shape, build_user_classes
from locustfiles.hello import RequestBudget

RUNNING = "running"
STOPPING = "stopping"
FINISHED = "finished"
_POLL_S = 0.05
# Time for workers' final reports beyond the request timeout of their in-flight requests.
_FINALS_TIMEOUT_S = 15.0
# After the run, how long the process waits for the driver to collect the results.
_LINGER_S = 300.0
# How long local workers get to exit after being told to quit, all together.
_WORKERS_EXIT_S = 10.0

logger = logging.getLogger(__name__)


class Engine:
    """One bounded run of a `LoadPlan` on a Locust runner (local, or a master)."""

    def __init__(self, plan: LoadPlan, distribution: Distribution) -> None:
        self.plan = plan
        self.distribution = distribution
        self.state = RUNNING
        self.finished = Event()
        self._stop_requested = Event()
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._totals: dict[str, ArmStats] = {arm.name: ArmStats() for arm in plan.arms}
        self._workers: list[subprocess.Popen[bytes]] = []
        self._dispatch: gevent.Greenlet | None = None
        self.environment = Environment(
            user_classes=build_user_classes(plan, RequestBudget(plan.max_requests)),
            shape_class=build_shape(plan),
            stop_timeout=plan.timeout_s + 1.0,
            catch_exceptions=True,
        )
        self.recorder: Recorder | None = None
        self.master: ArmsMaster | None = None
        self.runner: LocalRunner | MasterRunner
        if distribution.expected_workers == 0:
            self.runner = self.environment.create_local_runner()
            self.recorder = Recorder(arm.name for arm in plan.arms)
            self.environment.events.request.add_listener(self.recorder.on_request)
        else:
            self.runner = self._create_master()
            self.master = ArmsMaster(self.runner, plan, distribution.expected_workers)

    def _create_master(self) -> MasterRunner:
        try:
            return self.environment.create_master_runner(
                self.distribution.bind_host, self.distribution.port
            )
        except SystemExit:
            # Locust logs the reason and exits when the port is taken.
            raise Unavailable(
                f"cannot listen for workers on {self.distribution.bind_host}:"
                f"{self.distribution.port} (port in use?)"
            ) from None

    @property
    def total_users(self) -> int:
        """Users across all arms (a shape may change it as the run goes)."""
        return self.plan.pacing.users * len(self.plan.arms)

    def start(self) -> None:
        """Start the users (after the expected workers connected, for a master).

        Raises ``Unavailable`` when workers do not connect in time, ``BadInput`` when a
        worker cannot build the plan's users.
        """
        if isinstance(self.runner, MasterRunner):
            self._start_local_workers(self.runner)
            self._wait_for_workers(self.runner)
        self._started_at = time.monotonic()
        if self.environment.shape_class is not None:
            self.runner.start_shape()
        elif isinstance(self.runner, MasterRunner):
            # The master's start blocks while it dispatches; keep the control channel live.
            self._dispatch = gevent.spawn(
                self.runner.start, self.total_users, float(self.total_users)
            )
        else:
            self.runner.start(self.total_users, spawn_rate=float(self.total_users))

    def _start_local_workers(self, runner: MasterRunner) -> None:
        port = runner.server.port
        for _ in range(self.distribution.local_workers):
            self._workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "harness.load.worker",
                        "--master-host",
                        "127.0.0.1",
                        "--master-port",
                        str(port),
                    ],
                    stdin=subprocess.DEVNULL,
                )
            )

    def _wait_for_workers(self, runner: MasterRunner) -> None:
        deadline = time.monotonic() + self.distribution.wait_s
        expected = self.distribution.expected_workers
        assert self.master is not None
        while len(self.master.planned_workers()) < expected:
            if self.master.error:
                raise BadInput(f"a worker cannot run the plan: {self.master.error}")
            if any(worker.poll() is not None for worker in self._workers):
                raise Unavailable("a local worker process exited before the run started")
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"{runner.worker_count} of {expected} workers connected within "
                    f"{self.distribution.wait_s:g}s"
                )
            gevent.sleep(_POLL_S)

    def run(self) -> None:
        """Block until the run is over (duration, budget, shape end, stop request), then stop."""
        assert self._started_at is not None, "start() first"
        deadline = self._started_at + self.plan.duration_s
        budget = self.plan.max_requests
        while not self._stop_requested.wait(timeout=_POLL_S):
            if time.monotonic() >= deadline:
                break
            if budget is not None and self._requests_so_far() >= budget:
                break
            if self.runner.state == STATE_STOPPED:
                break  # a shape ended the run, or every worker quit
            if self.master is not None and self.master.error:
                logger.error("a worker failed: %s", self.master.error)
                break
        self._finish()

    def request_stop(self) -> None:
        """Ask `run` to stop the users now."""
        self._stop_requested.set()

    def _requests_so_far(self) -> int:
        if self.master is not None:
            return sum(stats.requests for stats in self.master.totals.values())
        done = sum(stats.requests for stats in self._totals.values())
        if self.recorder is not None:
            done += self.recorder.pending_requests()
        return done

    def _finish(self) -> None:
        self._stopped_at = time.monotonic()
        self.state = STOPPING
        if self._dispatch is not None:
            self._dispatch.join()  # a dispatch in progress would respawn stopped users
        if isinstance(self.runner, MasterRunner) and self.master is not None:
            # Stops the master's shape and state only; workers stop through the harness'
            # own handshake, which also collects their final deltas.
            self.runner.stop(send_stop_to_client=False)
            missing = self.master.stop_workers(self.plan.timeout_s + _FINALS_TIMEOUT_S)
            if missing:
                logger.error("no final report from %d worker(s)", len(missing))
        else:
            self.runner.stop()
        self.state = FINISHED
        self.finished.set()

    def snapshot(self) -> dict[str, Any]:
        """Cumulative per-arm statistics and the run's state, consistent across arms."""
        if self.recorder is not None:
            self._totals = merge_arms(self._totals, self.recorder.take())
        elif self.master is not None:
            self._totals = dict(self.master.totals)
        now = self._stopped_at if self._stopped_at is not None else time.monotonic()
        elapsed = now - self._started_at if self._started_at is not None else 0.0
        return {
            "ok": True,
            "state": self.state,
            "elapsed_s": elapsed,
            "users": 0 if self.state == FINISHED else self.runner.user_count,
            "cpu_percent": self._cpu_percent(),
            "cpu_warning": bool(
                self.runner.cpu_warning_emitted or self.runner.worker_cpu_warning_emitted
            ),
            "arms": arms_to_wire(self._totals),
        }

    def _cpu_percent(self) -> float:
        if isinstance(self.runner, MasterRunner):
            usages = [client.cpu_usage for client in self.runner.clients.all]
            return float(max(usages, default=0.0))
        return float(self.runner.current_cpu_usage)

    def close(self) -> None:
        """Tell workers to quit and reap the local ones (killed if they linger)."""
        if self.master is not None:
            self.master.quit_workers()
            self.runner.quit()
        # One deadline for all of them: N lingering workers cost 10 s, not N times 10 s.
        deadline = time.monotonic() + _WORKERS_EXIT_S
        for worker in self._workers:
            try:
                worker.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def serve(channel: Channel, engine: Engine) -> None:
    """Answer the driver until it closes the channel; its end of stream stops the run.

    Each answer echoes the request's ``id``, so a driver interrupted while waiting can
    tell a late answer from the one it waits for.
    """
    while True:
        try:
            request = channel.receive()
        except ChannelClosed:
            engine.request_stop()
            return
        op = request.get("op")
        reply: dict[str, Any]
        if op == "snapshot":
            reply = engine.snapshot()
        elif op in ("stop", "close"):
            engine.request_stop()
            engine.finished.wait()
            reply = engine.snapshot() if op == "stop" else {"ok": True}
        else:
            reply = {"ok": False, "kind": "protocol", "error": f"unknown op {op!r}"}
        reply["id"] = request.get("id")
        channel.send(reply)
        if op == "close":
            return


def _error_reply(exc: BaseException) -> dict[str, Any]:
    kind = "unavailable" if isinstance(exc, Unavailable) else "bad_input"
    message = exc.message if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
    return {"ok": False, "kind": kind, "error": message}


def main(argv: list[str] | None = None) -> None:
    """Entry point: read the plan from the control socket, run it, serve snapshots, exit."""
    parser = argparse.ArgumentParser(prog="python -m harness.load.engine", description=__doc__)
    parser.add_argument("--control-fd", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="engine %(levelname)s %(message)s")
    channel = Channel(socket.socket(fileno=args.control_fd))
    request: dict[str, Any] = {}
    try:
        request = channel.receive()
        plan = LoadPlan.from_wire(request["plan"])
        distribution = Distribution(**request["distribution"])
        engine = Engine(plan, distribution)
    except ChannelClosed:
        return
    except (HarnessError, ValueError, KeyError, TypeError) as exc:
        channel.send({**_error_reply(exc), "id": request.get("id")})
        return
    try:
        engine.start()
    except HarnessError as exc:
        channel.send({**_error_reply(exc), "id": request.get("id")})
        engine.close()
        return
    channel.send({"ok": True, "id": request.get("id")})
    server = gevent.spawn(serve, channel, engine)
    engine.run()
    server.join(timeout=_LINGER_S)
    engine.close()


if __name__ == "__main__":
    main()
