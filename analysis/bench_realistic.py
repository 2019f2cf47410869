"""Realistic section of ``python -m analysis.bench``: requests that are not independent.

Same code in both arms, but requests within the same second share a pod, a stall, an
error burst or a load swing, and each arm runs on its own pods. Each simulated run sends
``RATE`` requests per second to each arm (equal loads, as the harness' load generator
does), looks every ``LOOK_SECONDS`` seconds, accepts a PROMOTE only after
``PROMOTE_AFTER_S`` and stops at ``CAP_S``. Reported per scenario: false rollbacks (or
rollbacks, for regressions), promotions and the time to the decision in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from analysis.config import JudgeConfig
from analysis.histogram import Histogram
from analysis.judge import SequentialJudge
from analysis.snapshot import ArmSnapshot
from analysis.verdict import Decision

RATE = 300  # requests per second per arm
LOOK_SECONDS = 2
PROMOTE_AFTER_S = 300
CAP_S = 600
MEDIAN_MS = 50.0
SIGMA = 0.5  # log-sd of a request's latency
BASE_ERRORS = 0.001
_CHUNKS = 8


@dataclass(frozen=True)
class Noise:
    """Time-correlated noise of one run (identically distributed in both arms).

    ``stall_rate``: share of an arm's seconds in which one of its pods (at random) stalls;
    every request of that second in that pod gets Uniform(0, ``stall_ms``) ms more (one
    draw per stall). ``burst_rate``: share of an arm's seconds in which one of its pods'
    error rate is ``burst_errors``.
    ``swing``: amplitude (log units) of a load swing common to both arms (latency and
    request rate follow it; period ``swing_period_s``, random phase, plus a random walk).
    ``ar_sd``/``ar_phi``: per-pod AR(1) on log-latency, one step per second (marginal sd,
    lag-1 autocorrelation). ``pods``: pods per arm; ``pod_sd``: log-sd of each pod's
    speed factor (node heterogeneity), drawn per run.
    """

    stall_rate: float = 0.0
    stall_ms: float = 0.0
    burst_rate: float = 0.0
    burst_errors: float = 0.0
    swing: float = 0.0
    swing_period_s: float = 120.0
    ar_sd: float = 0.0
    ar_phi: float = 0.9
    pods: int = 1
    pod_sd: float = 0.0
    burst_phase: bool = False
    base_errors: float = BASE_ERRORS


@dataclass(frozen=True)
class Case:
    """A realistic scenario: the noise, and what differs in the canary (if anything)."""

    name: str
    noise: Noise
    canary_speed: float = 1.0  # every canary request this many times slower (a pod effect)
    canary_error_factor: float = 1.0  # canary's base error rate = factor x BASE_ERRORS
    regression: bool = False  # True: a real regression that must be rolled back


STALLS = Noise(stall_rate=0.01, stall_ms=300.0)
BURSTS = Noise(burst_rate=0.005, burst_errors=0.2)
# All errors come in bursts that straddle looks (the emulator's SIM_ERROR_BURST_* knobs
# in tests/canary/test_canary_noise.py; a CI run rolled back there before the usual
# block weight became a median).
BURSTS_ONLY = Noise(burst_rate=0.04, burst_errors=0.4, burst_phase=True, base_errors=0.0)
SWINGS = Noise(swing=0.3)
PODS = Noise(pods=3, pod_sd=0.01)
AUTOCORRELATED = Noise(ar_sd=0.02, ar_phi=0.8)
ALL = Noise(
    stall_rate=0.01,
    stall_ms=300.0,
    burst_rate=0.005,
    burst_errors=0.2,
    swing=0.3,
    ar_sd=0.02,
    ar_phi=0.8,
    pods=3,
    pod_sd=0.01,
)

SAME_CODE = (
    Case("canary pod 2% slower", Noise(), canary_speed=1.02),
    Case("stalls per arm (1% of s, 0-300 ms)", STALLS),
    Case("error bursts per arm (0.5% of s at 20%)", BURSTS),
    Case("bursts only, across looks (4% of s at 40%)", BURSTS_ONLY),
    Case("common load swings (+-30%)", SWINGS),
    Case("3 pods per arm, pod sd 1%", PODS),
    Case("autocorrelated latency (AR 0.8, 2%)", AUTOCORRELATED),
    Case("all of the above", ALL),
    Case("all + errors 0.1% -> 0.12%", ALL, canary_error_factor=1.2),
)
REGRESSIONS = (
    Case("median +10% under all noise", ALL, canary_speed=1.10, regression=True),
    Case("errors 0.1% -> 1% under all noise", ALL, canary_error_factor=10.0, regression=True),
)


@dataclass(frozen=True)
class SimulatedRun:
    """One run: seconds to the first ROLLBACK / accepted PROMOTE (None if never)."""

    rollback_s: float | None
    promote_s: float | None


def _arm_seconds(
    rng: np.random.Generator,
    noise: Noise,
    seconds: int,
    counts: np.ndarray,
    common: np.ndarray,
    speed: float,
    error_factor: float,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Latencies (ms) of each second's requests in one arm, and its errors per second."""
    pods = max(1, noise.pods)
    pod_log = rng.normal(0.0, noise.pod_sd, pods) if noise.pod_sd > 0 else np.zeros(pods)
    ar = np.zeros((seconds, pods))
    if noise.ar_sd > 0:
        innovation = noise.ar_sd * math.sqrt(1.0 - noise.ar_phi**2)
        state = rng.normal(0.0, noise.ar_sd, pods)
        steps = rng.normal(0.0, innovation, (seconds, pods))
        for t in range(seconds):
            state = noise.ar_phi * state + steps[t]
            ar[t] = state
    stalls = np.zeros((seconds, pods))
    if noise.stall_rate > 0:
        hit = np.flatnonzero(rng.random(seconds) < noise.stall_rate)
        stalls[hit, rng.integers(0, pods, len(hit))] = rng.uniform(0.0, noise.stall_ms, len(hit))
    base = noise.base_errors * error_factor
    error_rate = np.full((seconds, pods), base)
    if noise.burst_rate > 0:
        hit = np.flatnonzero(rng.random(seconds) < noise.burst_rate)
        pod_hit = rng.integers(0, pods, len(hit))
        if noise.burst_phase:
            # a request of second t is in the burst with the chance the burst covers it
            phase = rng.random(len(hit))
            error_rate[hit, pod_hit] = (1 - phase) * noise.burst_errors + phase * base
            later = hit + 1 < seconds
            error_rate[hit[later] + 1, pod_hit[later]] = np.maximum(
                error_rate[hit[later] + 1, pod_hit[later]],
                phase[later] * noise.burst_errors + (1 - phase[later]) * base,
            )
        else:
            error_rate[hit, pod_hit] = noise.burst_errors
    latencies: list[np.ndarray] = []
    errors = np.zeros(seconds, dtype=np.int64)
    for t in range(seconds):
        n = int(counts[t])
        pod = rng.integers(0, pods, n)
        log_ms = (
            math.log(MEDIAN_MS * speed)
            + SIGMA * rng.standard_normal(n)
            + common[t]
            + pod_log[pod]
            + ar[t, pod]
        )
        latencies.append(np.exp(log_ms) + stalls[t, pod])
        errors[t] = int(np.sum(rng.random(n) < error_rate[t, pod]))
    return latencies, errors


def simulate_run(case: Case, rng: np.random.Generator, config: JudgeConfig) -> SimulatedRun:
    """One run: a look every LOOK_SECONDS until a rollback, an accepted promote or the cap."""
    noise = case.noise
    seconds = CAP_S
    common = np.zeros(seconds)
    counts = np.full(seconds, RATE, dtype=np.int64)
    if noise.swing > 0:
        clock = np.arange(seconds)
        phase = rng.uniform(0, 2 * math.pi)
        walk = np.cumsum(rng.normal(0.0, 0.01, seconds))
        common = noise.swing * np.sin(2 * math.pi * clock / noise.swing_period_s + phase) + walk
        counts = np.maximum(1, np.round(RATE * np.exp(common))).astype(np.int64)
    lat_b, err_b = _arm_seconds(rng, noise, seconds, counts, common, 1.0, 1.0)
    lat_c, err_c = _arm_seconds(
        rng, noise, seconds, counts, common, case.canary_speed, case.canary_error_factor
    )
    judge = SequentialJudge(config)
    hist_b, hist_c = Histogram.empty(), Histogram.empty()
    n_b = n_c = e_b = e_c = 0
    for end in range(LOOK_SECONDS, seconds + 1, LOOK_SECONDS):
        for t in range(end - LOOK_SECONDS, end):
            hist_b.record_many(lat_b[t])
            hist_c.record_many(lat_c[t])
            n_b += len(lat_b[t])
            n_c += len(lat_c[t])
            e_b += int(err_b[t])
            e_c += int(err_c[t])
        verdict = judge.update(ArmSnapshot(n_b, e_b, hist_b), ArmSnapshot(n_c, e_c, hist_c))
        if verdict.decision is Decision.ROLLBACK:
            return SimulatedRun(float(end), None)
        if verdict.decision is Decision.PROMOTE and end >= PROMOTE_AFTER_S:
            return SimulatedRun(None, float(end))
    return SimulatedRun(None, None)


def _chunk(args: tuple[Case, int, int, int, JudgeConfig]) -> list[SimulatedRun]:
    case, seed, index, runs, config = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, index]))
    return [simulate_run(case, rng, config) for _ in range(runs)]


def simulate(
    case: Case, runs: int, seed: int, config: JudgeConfig, *, jobs: int = 1, index: int = 0
) -> list[SimulatedRun]:
    """``runs`` runs of one case, reproducible whatever ``jobs`` is."""
    per_chunk = [runs // _CHUNKS + (1 if i < runs % _CHUNKS else 0) for i in range(_CHUNKS)]
    tasks = [
        (case, seed, index * 1000 + i, count, config) for i, count in enumerate(per_chunk) if count
    ]
    if jobs <= 1:
        results = [_chunk(task) for task in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_chunk, tasks))
    return [outcome for chunk in results for outcome in chunk]


def _median(values: Sequence[float]) -> str:
    return f"{float(np.median(values)):5.0f}" if values else "    -"


def report(
    runs: int, seed: int, config: JudgeConfig, jobs: int = 1, cases: Sequence[Case] | None = None
) -> list[str]:
    """The realistic table: one line per case."""
    chosen = list(cases) if cases is not None else [*SAME_CODE, *REGRESSIONS]
    lines = [
        f"Realistic: {runs} runs each, {RATE} req/s per arm, a look every {LOOK_SECONDS} s, "
        f"promotion accepted after {PROMOTE_AFTER_S} s, cap {CAP_S} s; lognormal latency "
        f"(median {MEDIAN_MS:g} ms, sigma {SIGMA:g}), errors {100 * BASE_ERRORS:g}%",
        f"{'case':44s} {'rolled back':>12s} {'promoted':>9s} {'neither':>8s} "
        f"{'rollback s':>10s} {'promote s':>9s}  bar",
    ]
    for index, case in enumerate(chosen):
        outcomes = simulate(case, runs, seed, config, jobs=jobs, index=100 + index)
        rolled = [o.rollback_s for o in outcomes if o.rollback_s is not None]
        promoted = [o.promote_s for o in outcomes if o.promote_s is not None]
        neither = runs - len(rolled) - len(promoted)
        share = len(rolled) / runs
        if case.regression:
            ok = share >= 0.95 and not promoted and (rolled and float(np.median(rolled)) <= 30)
            bar = "ok" if ok else "MISSED (>= 95%, median <= 30 s, never promoted)"
        else:
            bar = "ok" if share <= 0.10 else "MISSED (<= 10% false rollbacks)"
        lines.append(
            f"{case.name:44s} {100 * share:11.1f}% {100 * len(promoted) / runs:8.1f}% "
            f"{100 * neither / runs:7.1f}% {_median(rolled):>10s} {_median(promoted):>9s}  {bar}"
        )
    lines.append(
        "rolled back: false rollbacks for same-code cases; rollback/promote s: median "
        "seconds to that decision among runs that reached it."
    )
    return lines
