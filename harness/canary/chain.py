"""Which traffic block `harness rollback` restores: from before the first run of a chain.

A run *changed traffic* when it journaled a traffic action (``set_traffic``, ``promote``,
``rollback``; begun counts, since a crash may fall between the patch and its
completion). A run that changed nothing (rejected, dry run, refused) is never the one
restored from.

A run *left traffic changed* when it is still ``running`` (in progress, or killed), was
``held``, or ended otherwise without a completed restore of its original block (a
``rollback`` action done last). A promotion is a deliberate end, not a leftover.

The runs that changed traffic form a chain, newest first, as long as each earlier run
left traffic changed when the next one started (the later run then recorded a changed
block as its "original"). Rollback restores the original block of the chain's first
(oldest) run. Pure: works on the records a `Store` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.statuses import RunStatus
from harness.store import ActionKind, ActionRecord, RunRecord, Store

TRAFFIC_ACTIONS = frozenset({ActionKind.SET_TRAFFIC, ActionKind.PROMOTE, ActionKind.ROLLBACK})


def changed_traffic(actions: Sequence[ActionRecord]) -> bool:
    """True when the run journaled any traffic action (done or only begun)."""
    return any(a.kind in TRAFFIC_ACTIONS for a in actions)


def left_traffic_changed(run: RunRecord, actions: Sequence[ActionRecord]) -> bool:
    """True when the run ended (or stopped) without its original block restored."""
    if run.running or run.status == RunStatus.HELD:
        return True
    if run.status == RunStatus.PROMOTED:
        return False
    traffic = [a for a in actions if a.kind in TRAFFIC_ACTIONS]
    return bool(traffic) and not (traffic[-1].kind == ActionKind.ROLLBACK and traffic[-1].done)


@dataclass(frozen=True)
class Chain:
    """The runs to undo, newest first; ``first`` is the one whose original block is restored."""

    runs: tuple[RunRecord, ...]

    @property
    def first(self) -> RunRecord:
        return self.runs[-1]

    @property
    def newest(self) -> RunRecord:
        return self.runs[0]


def rollback_chain(store: Store, namespace: str, service: str, limit: int = 500) -> Chain | None:
    """The chain of runs ending with the newest run that changed traffic, or None."""
    chain: list[RunRecord] = []
    for run in store.list_runs(namespace, service, "canary", limit=limit):
        actions = store.actions(run.id)
        if not changed_traffic(actions):
            continue
        if chain and not left_traffic_changed(run, actions):
            break
        chain.append(run)
    return Chain(tuple(chain)) if chain else None
