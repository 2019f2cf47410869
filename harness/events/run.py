"""One `harness events` run: preflight, CloudEvents load, drain, accounting.

Preflight reads the Broker and its Triggers, builds the sending arm (the Broker's
address, through the ingress when needed) and the receiver sources (the subscriber's
tag URLs, or ``--receiver`` URLs) and asks each receiver for the run's (empty) report:
anything missing is ``BadInput``/``Unavailable`` before a single event is sent. The load
is `harness load`'s `LoadDriver` with the CloudEvents user; after it, the receivers are
read every second until every accepted event is delivered or dead-lettered, or the
drain period ends: only then are the missing ones counted as lost.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput
from harness.events.accounting import EventsSummary, account
from harness.events.cloudevent import EventShape
from harness.events.collect import Collected, collect
from harness.events.discovery import BrokerInfo
from harness.events.sender import accepted_ids, new_run_token, user_code, user_config
from harness.knative.model import ServiceState
from harness.load.plan import Pacing
from harness.load.stats import ArmStats
from harness.load.targets import Arm, check_reachable, service_arms, url_arm

SENDER_ARM = "events"
_DRAIN_POLL_S = 1.0
_REFRESH_S = 0.25

Say = Callable[[str], None]


@dataclass(frozen=True)
class EventsPlan:
    """What a run sends, where, for how long, and how long it waits for deliveries."""

    namespace: str
    broker: str
    shape: EventShape
    pacing: Pacing
    duration_s: float
    drain_s: float = 30.0
    load_shape: str | None = None
    max_events: int | None = None
    timeout_s: float = 10.0


def sender_arm(info: BrokerInfo, ingress: str | None) -> Arm:
    """The arm that POSTs to the Broker's address (via ``ingress`` with its Host)."""
    return url_arm(info.url, SENDER_ARM, ingress)


def receiver_sources(
    info: BrokerInfo,
    services: Sequence[ServiceState],
    receivers: Sequence[str],
    ingress: str | None,
) -> list[Arm]:
    """Where the run's deliveries are read: ``receivers`` URLs if given, else every tag
    URL of the subscriber (and dead letter) Services. ``BadInput`` when a revision that
    takes events has no tag (its deliveries could not be read: they would look lost)."""
    if receivers:
        return [url_arm(url, f"receiver-{i + 1}", ingress) for i, url in enumerate(receivers)]
    if not info.subscribers:
        others = ", ".join(info.other_subscribers) or "none"
        raise BadInput(
            f"broker {info.namespace}/{info.name} has no Trigger to a Knative Service "
            f"(other triggers: {others}): pass --receiver URL"
        )
    if len(info.subscribers) > 1:
        raise BadInput(
            f"broker {info.namespace}/{info.name} delivers to several Services "
            f"({', '.join(info.subscribers)}), each event once per Trigger: pass --receiver "
            "URL for the one to account"
        )
    arms: list[Arm] = []
    for state in services:
        tagged = {t.revision_name for t in state.status_traffic if t.tag and t.url}
        for target in state.status_traffic:
            if (target.percent or 0) > 0 and target.revision_name not in tagged:
                raise BadInput(
                    f"revision {target.revision_name} of {state.namespace}/{state.name} "
                    "receives events but has no tag to read its receiver through: tag it "
                    "or pass --receiver URL"
                )
        tags = sorted({t.tag for t in state.status_traffic if t.tag and t.url})
        for arm in service_arms(state, tags, ingress):
            arms.append(Arm(f"{state.name}-{arm.name}", arm.url, arm.host_header))
    return arms


def check_receivers(sources: Sequence[Arm], run: str) -> None:
    """Every source answers a report (receiver mode on): nothing is sent otherwise."""
    check_reachable(sources)
    collect(sources, run)


def drain(
    sources: Sequence[Arm],
    run: str,
    accepted: set[str],
    drain_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Collected:
    """Read the receivers until every accepted event arrived (delivered or dead-lettered)
    or ``drain_s`` passed; the last reading."""
    deadline = clock() + drain_s
    while True:
        got = collect(sources, run)
        done = {d.event_id for d in got.deliveries if 200 <= d.status < 300}
        if accepted <= done or clock() >= deadline:
            return got
        sleep(min(_DRAIN_POLL_S, max(0.0, deadline - clock())))


@dataclass(frozen=True)
class EventsOutcome:
    """The accounting and where its numbers came from."""

    summary: EventsSummary
    publish: ArmStats
    receivers: tuple[str, ...]
    overflow: int
    cpu_warning: bool


def run_events(
    plan: EventsPlan,
    arm: Arm,
    sources: Sequence[Arm],
    *,
    on_status: Callable[[object], None] | None = None,
    say: Say = lambda message: None,
) -> EventsOutcome:
    """Send, drain, account. Ctrl-C stops the sending; the drain and accounting still run."""
    from harness.load.driver import LoadDriver

    run = new_run_token()
    check_receivers(sources, run)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="harness-events-") as folder:
        config = user_config(
            arm, plan.shape, run, Path(folder), plan.pacing, max_events=plan.max_events
        )
        with LoadDriver() as driver:
            # The user paces itself (open model included, from its config); Locust only
            # needs how many users to start.
            driver.start(
                [arm],
                Pacing.closed(plan.pacing.users),
                plan.duration_s,
                plan.max_events,
                timeout_s=plan.timeout_s,
                shape=plan.load_shape,
                user_code=user_code(config),
            )
            try:
                status = driver.status()
                while not status.finished:
                    if on_status is not None:
                        on_status(status)
                    time.sleep(_REFRESH_S)
                    status = driver.status()
            except KeyboardInterrupt:
                interrupted = True
                say("interrupted: stopping the senders, then draining")
            final = driver.finish()
        accepted = accepted_ids(Path(folder), run)
    publish = final.arms.get(arm.name, ArmStats())
    say(f"sent {publish.requests} events; waiting up to {plan.drain_s:g}s for deliveries")
    got = drain(sources, run, accepted, plan.drain_s)
    summary = account(
        publish,
        accepted,
        got.deliveries,
        duration_s=final.elapsed_s,
        drain_s=plan.drain_s,
        run=run,
        interrupted=interrupted,
    )
    return EventsOutcome(summary, publish, got.receivers, got.overflow, final.cpu_warning)
