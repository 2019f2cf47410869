"""The `kn` command line equivalent to a traffic change, for users who know `kn`.

``kn service update NAME -n NS --untag T ... --tag REV=T ... --traffic REV=PCT ...``:
``--untag`` for every tag the new block drops, ``--tag`` for every tag it has (kn keeps a
tag that is given again), ``--traffic`` for every revision with its total percent (0
included, so the line is complete on its own). Entries that follow the latest ready
revision are spelled ``@latest``. Flags as documented in knative/client
docs/cmd/kn_service_update.md (``--traffic``, ``--tag``, ``--untag``).

``KnEcho`` wraps a ``TrafficBackend`` and says the line after every traffic change it makes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

from harness.knative.backend import TrafficBackend, TrafficCompute
from harness.knative.model import RevisionState, ServiceState
from harness.knative.traffic import TrafficTarget

LATEST = "@latest"


def _ref(target: TrafficTarget) -> str:
    if target.latest_revision or not target.revision_name:
        return LATEST
    return target.revision_name


def kn_update_line(
    service: str,
    namespace: str,
    after: Sequence[TrafficTarget],
    before: Sequence[TrafficTarget] = (),
) -> str:
    """The ``kn service update`` line that turns ``before`` into ``after``."""
    words = ["kn", "service", "update", service, "-n", namespace]
    new_tags = {t.tag for t in after if t.tag}
    for tag in sorted({t.tag for t in before if t.tag} - new_tags):
        words += ["--untag", tag]
    for target in after:
        if target.tag:
            words += ["--tag", f"{_ref(target)}={target.tag}"]
    percents: dict[str, int] = {}
    for target in after:
        ref = _ref(target)
        percents[ref] = percents.get(ref, 0) + (target.percent or 0)
    for ref, percent in percents.items():
        words += ["--traffic", f"{ref}={percent}"]
    return shlex.join(words)


class KnEcho:
    """A ``TrafficBackend`` that says the `kn` equivalent of each traffic change it makes."""

    def __init__(self, inner: TrafficBackend, say: Callable[[str], None]) -> None:
        self._inner = inner
        self._say = say

    def get_service(self, namespace: str, name: str) -> ServiceState:
        return self._inner.get_service(namespace, name)

    def list_revisions(self, namespace: str, service: str) -> list[RevisionState]:
        return self._inner.list_revisions(namespace, service)

    def set_traffic(
        self,
        namespace: str,
        name: str,
        compute: TrafficCompute,
        *,
        timeout: float = 60.0,
    ) -> ServiceState:
        seen: dict[str, tuple[TrafficTarget, ...]] = {}

        def recording(current: ServiceState) -> Sequence[TrafficTarget]:
            block = compute(current)
            seen["before"], seen["after"] = tuple(current.spec_traffic), tuple(block)
            return block

        state = self._inner.set_traffic(namespace, name, recording, timeout=timeout)
        if seen:
            line = kn_update_line(name, namespace, seen["after"], seen["before"])
            self._say(f"kn equivalent: {line}")
        return state

    def wait_ready(self, namespace: str, name: str, *, timeout: float = 60.0) -> ServiceState:
        return self._inner.wait_ready(namespace, name, timeout=timeout)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._inner.apply(obj)

    def close(self) -> None:
        self._inner.close()


def plan_lines(plan: Any, state: ServiceState) -> list[str]:
    """The `kn` lines of a canary plan (``harness.canary.controller.Plan``) on the
    Service as it is now: each step, the promotion, and the rollback. For ``--dry-run``."""
    from harness.knative.traffic import canary_split, promote_split

    lines: list[str] = []
    before: Sequence[TrafficTarget] = tuple(state.spec_traffic)
    steps = (0, *plan.steps) if plan.added_tags else tuple(plan.steps)
    for percent in steps:
        block = canary_split(
            before,
            baseline=plan.baseline,
            canary=plan.canary,
            canary_percent=percent,
            baseline_tag=plan.baseline_tag,
            canary_tag=plan.canary_tag,
            latest_ready=state.latest_ready_revision,
        )
        line = kn_update_line(plan.service, plan.namespace, block, before)
        lines.append(f"step {percent}%: {line}")
        before = block
    promoted = promote_split(
        before,
        canary=plan.canary,
        remove_tags=plan.added_tags,
        latest_ready=state.latest_ready_revision,
    )
    lines.append(f"promote: {kn_update_line(plan.service, plan.namespace, promoted, before)}")
    original = tuple(plan.original_traffic)
    lines.append(f"rollback: {kn_update_line(plan.service, plan.namespace, original, before)}")
    return lines
