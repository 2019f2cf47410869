"""Per-arm statistics across a Locust master and its workers, through Locust's own events.

* Once a worker has connected and registered its handlers, it asks for the `LoadPlan`
  (custom message ``harness_ready``); the master answers (``harness_plan``) with the
  worker's share of the request budget. The master starts users only when every
  expected worker has its plan, and messages to one worker arrive in order, so each
  worker has built the same user classes as the master before its first ``spawn``.
* Every report a worker sends (``report_to_master``) carries the per-arm *delta* since its
  previous report; the master adds it (``worker_report``). Counts and histograms add
  exactly, so the master's totals are the exact sum of what workers recorded.
* At the end the master asks each worker to stop (``harness_stop``); the worker stops its
  users (in-flight requests complete) and sends what is left (``harness_final``, from
  ``test_stop``). The master waits for that message from every worker, so the final
  totals miss nothing, whatever the timing of the periodic reports. Then
  ``harness_quit`` makes the workers exit.

Locust's own ``stop`` message is not used for this: a worker handling it sleeps for the
stop timeout before it reads its next message, which would hold the workers' exit.

Imports Locust: Locust processes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import MasterRunner, WorkerRunner

from harness.errors import HarnessError
from harness.load.plan import LoadPlan, budget_shares
from harness.load.recorder import Recorder
from harness.load.stats import ArmStats, arms_from_wire, arms_to_wire, merge_arms
from harness.load.userclasses import build_user_classes
from locustfiles.hello import RequestBudget

READY_MESSAGE = "harness_ready"
PLAN_MESSAGE = "harness_plan"
STOP_MESSAGE = "harness_stop"
FINAL_MESSAGE = "harness_final"
QUIT_MESSAGE = "harness_quit"
ERROR_MESSAGE = "harness_error"
REPORT_KEY = "harness_arms"
# A worker whose master has been silent this long stops its users and exits.
MASTER_SILENCE_S = 5.0
# After a plan's duration, a worker allows this long for stopping before it exits anyway.
WORKER_GRACE_S = 60.0

logger = logging.getLogger(__name__)


class ArmsMaster:
    """The master's side: plans out, deltas in, totals kept."""

    def __init__(self, runner: MasterRunner, plan: LoadPlan, expected_workers: int) -> None:
        self.runner = runner
        self.plan = plan
        self.totals: dict[str, ArmStats] = {arm.name: ArmStats() for arm in plan.arms}
        self.planned: set[str] = set()
        self.finals: set[str] = set()
        self.error: str | None = None
        self._shares = budget_shares(plan.max_requests, max(expected_workers, 1))
        runner.environment.events.worker_report.add_listener(self._on_worker_report)
        runner.register_message(READY_MESSAGE, self._on_ready)
        runner.register_message(FINAL_MESSAGE, self._on_final)
        runner.register_message(ERROR_MESSAGE, self._on_error)

    def _on_ready(self, msg: Message, **_: Any) -> None:
        index = self.runner.get_worker_index(msg.node_id)
        wire = self.plan.to_wire()
        wire["max_requests"] = self._shares[index] if index < len(self._shares) else 0
        self.runner.send_message(PLAN_MESSAGE, wire, client_id=msg.node_id)
        self.planned.add(msg.node_id)

    def _on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        delta = data.get(REPORT_KEY)
        if delta:
            self.totals = merge_arms(self.totals, arms_from_wire(delta))

    def _on_final(self, msg: Message, **_: Any) -> None:
        self.totals = merge_arms(self.totals, arms_from_wire(msg.data))
        self.finals.add(msg.node_id)

    def _on_error(self, msg: Message, **_: Any) -> None:
        self.error = str(msg.data.get("error")) if isinstance(msg.data, dict) else "unknown"

    def planned_workers(self) -> set[str]:
        """Ids of the connected workers that have the plan."""
        connected = {client.id for client in self.runner.clients.all}
        return self.planned & connected

    def stop_workers(self, timeout_s: float) -> set[str]:
        """Stop every worker's users and wait for their final deltas; return who never sent one."""
        waiting = set(self.planned)
        for client_id in waiting:
            self.runner.send_message(STOP_MESSAGE, client_id=client_id)
        deadline = time.monotonic() + timeout_s
        while not waiting <= self.finals and time.monotonic() < deadline:
            gevent.sleep(0.02)
        return waiting - self.finals

    def quit_workers(self) -> None:
        """Tell every worker that got the plan to exit."""
        for client_id in self.planned:
            self.runner.send_message(QUIT_MESSAGE, client_id=client_id)


class ArmsWorker:
    """The worker's side: builds users from the master's plan and reports deltas."""

    def __init__(self, environment: Environment, runner: WorkerRunner) -> None:
        self.environment = environment
        self.runner = runner
        self.recorder: Recorder | None = None
        self.deadline: float | None = None
        runner.register_message(PLAN_MESSAGE, self._on_plan)
        runner.register_message(STOP_MESSAGE, self._on_stop, concurrent=True)
        runner.register_message(QUIT_MESSAGE, self._on_quit, concurrent=True)
        environment.events.report_to_master.add_listener(self._on_report_to_master)
        environment.events.test_stop.add_listener(self._on_test_stop)
        runner.send_message(READY_MESSAGE)

    def _on_plan(self, msg: Message, **_: Any) -> None:
        if self.recorder is not None:
            return  # a reconnect resends the plan; users and budget are already set
        try:
            plan = LoadPlan.from_wire(msg.data)
            classes = build_user_classes(plan, RequestBudget(plan.max_requests))
        except (HarnessError, ValueError) as exc:
            self.runner.send_message(ERROR_MESSAGE, {"error": str(exc)})
            return
        self.environment.user_classes = classes
        self.environment.stop_timeout = plan.timeout_s + 1.0
        self.recorder = Recorder(arm.name for arm in plan.arms)
        self.environment.events.request.add_listener(self.recorder.on_request)
        self.deadline = time.monotonic() + plan.duration_s + plan.timeout_s + WORKER_GRACE_S

    def _on_stop(self, **_: Any) -> None:
        self.runner.stop()

    def _on_quit(self, **_: Any) -> None:
        self.runner.quit()

    def _on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if self.recorder is not None:
            data[REPORT_KEY] = arms_to_wire(self.recorder.take())

    def _on_test_stop(self, **_: Any) -> None:
        if self.recorder is not None:
            self.runner.send_message(FINAL_MESSAGE, arms_to_wire(self.recorder.take()))

    def watch(self, quit_worker: Callable[[], None]) -> None:
        """Run forever: quit when the master falls silent or the plan's time is long over.

        Locust's own check waits a minute for a silent master; a harness worker must stop
        sending load much sooner when its master is gone.
        """
        started = time.monotonic()
        while True:
            gevent.sleep(0.5)
            now = time.monotonic()
            heard = self.runner.last_heartbeat_timestamp
            silent = time.time() - heard if heard else now - started
            if silent > (MASTER_SILENCE_S if heard else WORKER_GRACE_S):
                logger.warning("master silent for %.0fs; worker exits", silent)
                quit_worker()
                return
            if self.deadline is not None and now > self.deadline:
                logger.warning("run deadline passed; worker exits")
                quit_worker()
                return
