"""Checks a canary makes before its first write, for what would otherwise fail mid-run.

Each raises ``BadInput`` (or ``Unavailable``) with one line, and changes nothing:

- ``check_report_dir`` (`harness.report.folder_check`, shared with perf): the report
  folder can be created and written;
- ``check_user_code``: a ``--locustfile`` runs and defines a User (in a child process,
  since importing Locust monkey-patches the interpreter with gevent);
- ``check_promql`` (`harness.metrics.query_check`, shared with perf): Prometheus parses
  every query of the metric profile, filled in;
- ``wait_for_revision``: after ``--apply``, the new revision becomes Ready, or its
  failure is reported as soon as Knative's status shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from harness.errors import Aborted, BadInput
from harness.knative.backend import TrafficBackend
from harness.knative.model import ServiceState
from harness.load.plan import UserCode

# Revision Ready reasons that mean "still starting" rather than failed.
_STARTING = frozenset({"", "Deploying", "ResolvingDigests", "ContainerCreating", "Pending"})


_LOAD_USER_CODE = """
import sys
from harness.errors import BadInput
from harness.load.plan import UserCode
from harness.load.userclasses import load_user_code
try:
    load_user_code(UserCode(filename=sys.argv[1], source=sys.stdin.read()))
except BadInput as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def check_user_code(code: UserCode, *, timeout: float = 120.0) -> None:
    """Run the locustfile in a child process, as the load generator will; BadInput if it
    fails or defines no User class."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _LOAD_USER_CODE, code.filename],
            input=code.source,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        raise BadInput(
            f"--locustfile {code.filename}: did not finish loading within {timeout:.0f}s"
        ) from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        raise BadInput(why if why.startswith("--locustfile") else f"--locustfile: {why}")


def wait_for_revision(
    backend: TrafficBackend,
    namespace: str,
    service: str,
    before: str | None,
    *,
    timeout: float = 120.0,
    poll: float = 0.2,
) -> ServiceState:
    """After an apply: wait until the Service is Ready with a new latest revision.

    Fails at once (``BadInput``) when Knative reports the new revision failed: the
    Service's Ready condition False with reason ``RevisionFailed`` (Knative's
    ``MarkLatestCreatedFailed``), or the revision itself Ready=False with a reason that is
    not one of starting up. ``Aborted`` at the timeout.
    """
    deadline = time.monotonic() + timeout
    where = f"service {namespace}/{service}"
    while True:
        state = backend.get_service(namespace, service)
        created = state.latest_created_revision
        settled = state.ready and state.observed_generation == state.generation
        if settled and created == before:
            return state  # reconciled without a new revision: the caller says so
        if created and created != before:
            if settled:
                return state
            failure = _failure(backend, state, created)
            if failure is not None:
                raise BadInput(f"the new revision {created} of {where} failed: {failure}")
        if time.monotonic() >= deadline:
            why = state.ready_message or state.ready_reason or "not ready"
            raise Aborted(f"{where}: no new Ready revision within {timeout:.0f}s: {why}")
        time.sleep(poll)


def _failure(backend: TrafficBackend, state: ServiceState, created: str) -> str | None:
    # Ready=False RevisionFailed: knative/serving@f050b205 configuration_lifecycle.go
    if state.ready_reason == "RevisionFailed":
        return state.ready_message or "RevisionFailed"
    for revision in backend.list_revisions(state.namespace, state.name):
        if revision.name == created and not revision.ready:
            reason = revision.reason or ""
            if reason not in _STARTING:
                return f"{reason}: {revision.message}" if revision.message else reason
    return None
