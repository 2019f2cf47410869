"""`harness rollback SERVICE`: the traffic block from before the first run of the newest
chain of canary runs on a Service is put back, under the run lease; interrupted runs of
that chain are journaled as rolled back and finished as aborted."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.canary.lease import ServiceLease, holder_name
from harness.canary.resume import original_traffic
from harness.errors import BadInput
from harness.knative.kn import KnEcho
from harness.statuses import RunStatus
from harness.store import ActionKind


def run_rollback_command(
    service: str,
    *,
    namespace: str,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
    store: Path | None,
    force: bool = False,
) -> int:
    """Restore the traffic block from before the first run of the newest chain of runs
    on a Service (`harness.canary.chain`), holding the run lease while it does."""
    from harness.canary.chain import rollback_chain
    from harness.knative.names import require_dns_label
    from harness.store import open_store
    from harness.target import connect

    require_dns_label(service, "service")
    require_dns_label(namespace, "namespace")
    journal = open_store(store)
    try:
        chain = rollback_chain(journal, namespace, service)
        if chain is None:
            raise BadInput(
                f"no canary run that changed the traffic of {namespace}/{service} is recorded "
                f"in {journal.location}"
            )
        first = chain.first
        original = original_traffic(first)
        running = [run for run in chain.runs if run.running]
        raw = connect(kubeconfig, context, state_dir)
        backend = KnEcho(raw, print)
        try:
            lease = ServiceLease(raw, namespace, service, holder_name("rollback"), say=_stderr_line)
            lease.acquire(force=force)
            try:
                # Interrupted runs get the restore journaled like their own actions; a
                # finished run's journal is closed (undoing it is the user's own change).
                payload = {"traffic": [t.to_dict() for t in original], "by": "harness rollback"}
                begun = [
                    (run, journal.begin_action(run.id, ActionKind.ROLLBACK, payload))
                    for run in running
                ]
                backend.set_traffic(namespace, service, lambda _current: original)
                for run, action in begun:
                    journal.complete_action(run.id, action.seq)
            finally:
                lease.release()
        finally:
            backend.close()
        for run in running:
            journal.finish_run(
                run.id,
                RunStatus.ABORTED,
                summary={
                    "decision": RunStatus.ABORTED,
                    "explanation": ["rolled back by `harness rollback`"],
                },
            )
        chained = ""
        if len(chain.runs) > 1:
            later = ", ".join(run.id for run in reversed(chain.runs[:-1]))
            chained = (
                f" (the first of {len(chain.runs)} runs in a row that left it changed; "
                f"{later} followed)"
            )
        print(f"restored the traffic of {namespace}/{service} from before run {first.id}{chained}")
        return 0
    finally:
        journal.close()


def _stderr_line(message: str) -> None:
    print(message, file=sys.stderr)
