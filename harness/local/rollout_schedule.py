"""Knative's gradual rollout of ``latestRevision`` traffic, as pure functions (no clock, no I/O).

The rules are those of knative/serving ``pkg/reconciler/route/traffic/rollout.go`` (called
from ``reconcileRollout`` in ``pkg/reconciler/route/reconcile_resources.go``):

- A Route's ``latestRevision`` targets are grouped by (tag, configuration); each group
  with more than 1% of traffic rolls out on its own. With no previous state (a new Route),
  a new group, or a group of 0% or 1%, traffic goes to the new revision at once.
- When the group's revision changes, the newest revision that still has traffic gives up
  1% to the new one. Then, every step interval, ``step_size`` percent moves to the new
  revision, taken from the newest older revision first; a revision left with 0% drops out.
  The last step is capped at the group's percent, which ends the rollout.
- A revision arriving mid-rollout starts over from the current split (the older
  revisions keep their shares and are drained, newest first, over a fresh schedule).
- A group whose percent changes mid-rollout gives the difference to (or takes it from)
  the newest revision when it grows, and takes it from the oldest ones when it shrinks.
- No rollout duration (0): every group is at its revision at once.

Times are seconds on any monotonic clock the caller chooses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from harness.knative.goparse import SECOND, parse_duration
from harness.knative.validation import ROLLOUT_DURATION

# Knative computes the schedule once the ingress has programmed the 1% split, counting the
# time that took (at least 1 s) as the first step. The emulator's ingress is programmed in
# the same pass, so that time is always Knative's floor.
FIRST_STEP_S = 1.0

RolloutKey = tuple[str, str]
"""(tag, or "" for the untagged targets; configuration name)."""


@dataclass(frozen=True)
class RevisionShare:
    """One revision's part of a group's traffic (a percent of the whole Route)."""

    revision: str
    percent: int


@dataclass(frozen=True)
class TargetRollout:
    """The traffic of one (tag, configuration) group: its revisions, oldest first, and
    when the next step is due (``None`` when no rollout is in progress)."""

    percent: int
    shares: tuple[RevisionShare, ...]
    step_size: int = 0
    step_interval_s: float = 0.0
    next_step_at: float | None = None

    @property
    def in_progress(self) -> bool:
        """Whether traffic is still moving: more than one revision holds a share."""
        return len(self.shares) > 1

    @classmethod
    def settled(cls, revision: str, percent: int) -> TargetRollout:
        """All of the group's traffic on one revision."""
        return cls(percent, (RevisionShare(revision, percent),))


def rollout_duration_s(annotations: Mapping[str, str]) -> int:
    """Whole seconds of ``serving.knative.dev/rollout-duration`` (or ``rolloutDuration``;
    the kebab-case spelling wins), 0 when absent or not a duration (as ``RolloutDuration``
    in ``route_lifecycle.go``; admission has already refused bad values)."""
    value = next((annotations[k] for k in ROLLOUT_DURATION if k in annotations), "")
    if not value:
        return 0
    try:
        return max(0, parse_duration(value) // SECOND)
    except ValueError:
        return 0


def _round_half_away(value: float) -> int:
    # Go's math.Round; Python's round() rounds halves to even.
    return math.floor(value + 0.5)


def step_plan(percent: int, duration_s: int) -> tuple[int, float]:
    """Step size (percent) and interval (seconds) for moving a group of ``percent`` (> 1)
    from the first 1% to all of it within ``duration_s`` (``computeProperties``).

    The first step counts as ``FIRST_STEP_S``; the rest of the duration (at least 1 s) is
    cut into intervals of that length, at most one per remaining percent, and the step
    size is the remaining percent over that count, rounded half away from zero.
    """
    rest_s = max(1.0, duration_s - FIRST_STEP_S)
    steps = min(max(1.0, rest_s / FIRST_STEP_S), float(percent - 1))
    return _round_half_away((percent - 1) / steps), rest_s / steps


def _resize(shares: list[RevisionShare], goal: int) -> list[RevisionShare]:
    """``adjustPercentage``: a grown group gives the difference to its newest revision, a
    shrunk one takes it from its oldest revisions (dropping those that reach 0%)."""
    diff = goal - sum(s.percent for s in shares)
    if diff > 0:
        shares[-1] = replace(shares[-1], percent=shares[-1].percent + diff)
        return shares
    cut = -diff
    while cut > 0 and shares:
        if shares[0].percent > cut:
            shares[0] = replace(shares[0], percent=shares[0].percent - cut)
            break
        cut -= shares.pop(0).percent
    return shares


def _take_step(rollout: TargetRollout, now: float) -> TargetRollout:
    """``stepRevisions``: move one step to the newest revision, from the newest older
    revisions first; the rollout ends once the newest holds the whole group."""
    older, newest = list(rollout.shares[:-1]), rollout.shares[-1]
    wanted = rollout.step_size
    while wanted > 0 and older:
        if older[-1].percent > wanted:
            older[-1] = replace(older[-1], percent=older[-1].percent - wanted)
            break
        wanted -= older.pop().percent
    newest = replace(newest, percent=min(rollout.percent, newest.percent + rollout.step_size))
    if not older:
        return TargetRollout.settled(newest.revision, newest.percent)
    return replace(
        rollout,
        shares=(*older, newest),
        next_step_at=now + rollout.step_interval_s,
    )


def _start(
    shares: list[RevisionShare], revision: str, percent: int, duration_s: int, now: float
) -> TargetRollout:
    """A new revision: the newest revision with traffic gives it 1%, then a fresh schedule."""
    for index in range(len(shares) - 1, -1, -1):
        if shares[index].percent > 0:
            shares[index] = replace(shares[index], percent=shares[index].percent - 1)
            break
    kept = tuple(s for s in shares if s.percent > 0)
    size, interval = step_plan(percent, duration_s)
    return TargetRollout(
        percent=percent,
        shares=(*kept, RevisionShare(revision, 1)),
        step_size=size,
        step_interval_s=interval,
        next_step_at=now + interval,
    )


def _advance_group(
    previous: TargetRollout, revision: str, percent: int, duration_s: int, now: float
) -> TargetRollout:
    """``stepConfig`` for one group that existed before and has more than 1%."""
    shares = _resize(list(previous.shares), percent)
    if shares and shares[-1].revision != revision:
        return _start(shares, revision, percent, duration_s, now)
    if len(shares) < 2:
        return TargetRollout.settled(revision, percent)
    rolling = replace(previous, percent=percent, shares=tuple(shares))
    due = rolling.next_step_at
    if rolling.step_size > 0 and due is not None and now >= due:
        return _take_step(rolling, now)
    return rolling


def advance(
    previous: Mapping[RolloutKey, TargetRollout] | None,
    current: Mapping[RolloutKey, tuple[str, int]],
    duration_s: int,
    now: float,
) -> dict[RolloutKey, TargetRollout]:
    """A Route's rollout state at ``now`` (``Rollout.Step``).

    ``previous`` is the state the ingress serves (None for a Route never programmed);
    ``current`` maps each ``latestRevision`` group to the revision it resolves to now and
    its percent of the Route. Groups at 0% are left out of the result. At most one step is
    taken per group per call, and only once its ``next_step_at`` has come.
    """
    result: dict[RolloutKey, TargetRollout] = {}
    for key, (revision, percent) in current.items():
        if percent <= 0:
            continue
        before = (previous or {}).get(key)
        if duration_s <= 0 or before is None or percent == 1:
            result[key] = TargetRollout.settled(revision, percent)
        else:
            result[key] = _advance_group(before, revision, percent, duration_s, now)
    return result


def next_step_at(rollouts: Mapping[RolloutKey, TargetRollout]) -> float | None:
    """When the earliest step of any group is due, None when no rollout is in progress."""
    due = [r.next_step_at for r in rollouts.values() if r.next_step_at is not None]
    return min(due) if due else None
