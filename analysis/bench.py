"""Benchmark of the sequential judge by simulation: ``python -m analysis.bench``.

Simulated canary runs are looked at every 200 requests per arm. Latencies are drawn,
binned into each arm's cumulative fine histogram with ``record_many`` and fed to
`SequentialJudge.update` exactly as the harness does. Reported:

* A/A (no difference): false rollbacks over all looks (bar: <= alpha), the share of
  runs that reach PROMOTE within 20,000 requests per arm (bar: >= 90%), and, beside
  it, a naive two-sided Mann–Whitney test repeated at the same looks.
* Regressions: canary requests to ROLLBACK (median, p80), against the fixed-n oracle
  sample sizes (docs/judge.md, "Benchmark"; bar: median <= 2.5x oracle), and the detection
  probability within 10x the oracle (bar: >= 90%).
* Realistic (`analysis.bench_realistic`): requests dependent within a second (stalls,
  error bursts, load swings, pods, autocorrelation) at 300 requests/s per arm, looks every
  2 s: false rollbacks of the same code (bar: <= 10%), promotions, and seconds to roll
  back real regressions (bar: >= 95%, median <= 30 s).
* Cost: one update on histograms of 10 million requests per arm (bar: <= 20 ms), and
  the judge's state size as the request count grows.

Options: ``--quick`` (fewer runs, for iterating), ``--runs N``, ``--seed S``,
``--jobs J`` (worker processes; the default 1 leaves the machine to others),
``--error-ratio-margin``/``--tail-ratio-margin`` and ``--{error,median,tail}-rollback-ratio``
(instead of the defaults).
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis import bench_realistic as realistic
from analysis.config import JudgeConfig, Margins, Tolerances
from analysis.fixed import mann_whitney
from analysis.histogram import Histogram
from analysis.judge import SequentialJudge
from analysis.snapshot import ArmSnapshot
from analysis.verdict import Decision, MetricStatus

LOOK_EVERY = 200
_CHUNKS = 8  # seeds are per chunk
HORIZON = 20_000
MEDIAN_MS = 50.0
Z90, Z99 = float(stats.norm.ppf(0.90)), float(stats.norm.ppf(0.99))

Sampler = Callable[[np.random.Generator, int], np.ndarray]


# ---------------------------------------------------------------- latency models
@dataclass(frozen=True)
class LogNormal:
    """Lognormal latency with the given median (ms) and log-scale sigma."""

    sigma: float
    median: float = MEDIAN_MS

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(math.log(self.median), self.sigma, n)

    def quantile(self, z: float) -> float:
        return self.median * math.exp(self.sigma * z)


@dataclass(frozen=True)
class Bimodal:
    """Cache hits and misses: 85% lognormal around 30 ms, 15% around 150 ms (sigma 0.3)."""

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        slow = rng.random(n) < 0.15
        medians = np.where(slow, 150.0, 30.0)
        return medians * np.exp(0.3 * rng.standard_normal(n))


@dataclass(frozen=True)
class ParetoTail:
    """Pareto (type I, shape 2.5) latency with median 50 ms: a heavy right tail."""

    shape: float = 2.5

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        scale = MEDIAN_MS / 2.0 ** (1.0 / self.shape)
        return scale * (1.0 + rng.pareto(self.shape, n))


@dataclass(frozen=True)
class Scaled:
    """Every request ``factor`` times slower."""

    base: Sampler
    factor: float

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.factor * self.base(rng, n)


@dataclass(frozen=True)
class TailStretch:
    """Tail-only regression: values above ``start`` stretched so that p99 grows by ``grow``."""

    base: LogNormal
    grow: float = 1.25

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = self.base(rng, n)
        q90, q99 = self.base.quantile(Z90), self.base.quantile(Z99)
        stretch = (self.grow * q99 - q90) / (q99 - q90)
        return np.where(x > q90, q90 + (x - q90) * stretch, x)


@dataclass(frozen=True)
class SlowFraction:
    """A fraction of requests ``factor`` times slower (a second mode)."""

    base: Sampler
    fraction: float = 0.02
    factor: float = 3.0

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = self.base(rng, n)
        return np.where(rng.random(n) < self.fraction, self.factor * x, x)


# ---------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Scenario:
    """One simulated comparison: arms' latency and error rates, horizon and oracle."""

    name: str
    baseline: Sampler
    canary: Sampler
    baseline_errors: float
    canary_errors: float
    horizon: int = HORIZON
    oracle: float | None = None  # fixed-n oracle, requests per arm (docs/judge.md)
    oracle_note: str = ""

    @property
    def is_aa(self) -> bool:
        return self.oracle is None


AA_SCENARIOS = (
    Scenario("A/A lognormal s=0.3, err 0.5%", LogNormal(0.3), LogNormal(0.3), 0.005, 0.005),
    Scenario("A/A lognormal s=0.5, err 1%", LogNormal(0.5), LogNormal(0.5), 0.01, 0.01),
    Scenario("A/A lognormal s=1.0, err 2%", LogNormal(1.0), LogNormal(1.0), 0.02, 0.02),
    Scenario("A/A bimodal, err 1%", Bimodal(), Bimodal(), 0.01, 0.01),
    Scenario("A/A Pareto tail, err 2%", ParetoTail(), ParetoTail(), 0.02, 0.02),
    Scenario("A/A lognormal s=0.5, err 0.5%", LogNormal(0.5), LogNormal(0.5), 0.005, 0.005),
)


def _detection_scenarios() -> tuple[Scenario, ...]:
    s03, s05, s10 = LogNormal(0.3), LogNormal(0.5), LogNormal(1.0)
    two_sided = "two-sided; {} one-sided"
    return (
        Scenario(
            "errors 0.5% -> 1%", s05, s05, 0.005, 0.01, 46_800, 4673, two_sided.format("3,681")
        ),
        Scenario("errors 1% -> 2%", s05, s05, 0.01, 0.02, 23_200, 2318, two_sided.format("1,826")),
        Scenario(
            "median +10%, s=0.5", s05, Scaled(s05, 1.1), 0.01, 0.01, HORIZON, 432,
            two_sided.format("340"),
        ),
        Scenario(
            "median +10%, s=1.0", s10, Scaled(s10, 1.1), 0.01, 0.01, HORIZON, 1728, "two-sided"
        ),
        Scenario(
            "p99 +25% tail only, s=0.5", s05, TailStretch(s05), 0.01, 0.01, HORIZON, 1149,
            "exceedance above old p99",
        ),
        Scenario(
            "2% of requests 3x slower, s=0.3", s03, SlowFraction(s03), 0.01, 0.01, HORIZON, 533,
            "bimodal canary",
        ),
    )  # fmt: skip


DETECTION_SCENARIOS = _detection_scenarios()


# ---------------------------------------------------------------- simulation
@dataclass(frozen=True)
class RunOutcome:
    """What one simulated run did: first rollback/promote (canary requests) and MW alarm."""

    rollback_at: int | None
    promote_at: int | None
    naive_alarm: bool
    blockers: tuple[str, ...] = ()  # metrics not yet non-inferior at the end, if never promoted


def simulate_run(
    scenario: Scenario, rng: np.random.Generator, config: JudgeConfig, naive: bool
) -> RunOutcome:
    """One run: a look every `LOOK_EVERY` requests per arm until rollback or the horizon.

    A/A runs go on after a PROMOTE to the horizon, so that any later false rollback
    counts too.
    """
    judge = SequentialJudge(config)
    hist_b, hist_c = Histogram.empty(), Histogram.empty()
    errors_b = errors_c = 0
    rollback_at = promote_at = None
    naive_alarm = False
    for look in range(1, scenario.horizon // LOOK_EVERY + 1):
        hist_b.record_many(scenario.baseline(rng, LOOK_EVERY))
        hist_c.record_many(scenario.canary(rng, LOOK_EVERY))
        errors_b += int(rng.binomial(LOOK_EVERY, scenario.baseline_errors))
        errors_c += int(rng.binomial(LOOK_EVERY, scenario.canary_errors))
        n = look * LOOK_EVERY
        verdict = judge.update(ArmSnapshot(n, errors_b, hist_b), ArmSnapshot(n, errors_c, hist_c))
        if naive and not naive_alarm:
            naive_alarm = mann_whitney(hist_b, hist_c).p_value < config.alpha
        if verdict.decision is Decision.PROMOTE and promote_at is None:
            promote_at = n
        if verdict.decision is Decision.ROLLBACK:
            rollback_at = n
            break
    blockers: tuple[str, ...] = ()
    if promote_at is None and rollback_at is None:
        blockers = tuple(
            m.name for m in verdict.metrics if m.status is not MetricStatus.NON_INFERIOR
        )
    return RunOutcome(rollback_at, promote_at, naive_alarm, blockers)


def _simulate_chunk(args: tuple[Scenario, int, int, int, JudgeConfig, bool]) -> list[RunOutcome]:
    scenario, seed, index, runs, config, naive = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    return [simulate_run(scenario, rng, config, naive) for _ in range(runs)]


def simulate(
    scenario: Scenario,
    runs: int,
    seed: int,
    config: JudgeConfig,
    *,
    jobs: int = 1,
    naive: bool = False,
    scenario_index: int = 0,
) -> list[RunOutcome]:
    """Simulate ``runs`` runs of a scenario (split over ``jobs`` processes), reproducibly."""
    chunks = _CHUNKS  # fixed, so that results do not depend on --jobs
    per_chunk = [runs // chunks + (1 if i < runs % chunks else 0) for i in range(chunks)]
    tasks = [
        (scenario, seed, scenario_index * 1000 + i, count, config, naive)
        for i, count in enumerate(per_chunk)
        if count
    ]
    if jobs <= 1:
        results = [_simulate_chunk(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_simulate_chunk, tasks))
    return [outcome for chunk in results for outcome in chunk]


# ---------------------------------------------------------------- reporting
def _binomial_ci(successes: int, trials: int) -> tuple[float, float]:
    ci = stats.binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


_SHORT = {"error_rate": "err", "latency_median": "med", "latency_tail": "tail"}


def fixed_n_limit(
    rate: float, margin: float, alpha: float, n: int = HORIZON, ratio: float = 1.0
) -> float:
    """Share of A/A runs in which the best fixed-n test could show ``ratio < margin``.

    Two arms of ``n`` requests, the baseline's event rate ``rate`` and the canary's
    ``ratio`` times it (1: A/A); the test of ``H0: ratio >=
    margin`` is the uniformly most powerful unbiased one (conditional on the total of
    events, randomized; Lehmann & Romano, Testing Statistical Hypotheses, 4.5) at level
    ``alpha``, run once at ``n`` with ``n`` known in advance. No rule that may promote at
    any look up to ``n`` while keeping ``P(promote | ratio >= margin) <= alpha`` does
    better, so this is the ceiling of A/A promotion for one rate-ratio metric.
    """
    null_share = margin / (1.0 + margin)  # canary's share of events at the margin
    true_share = ratio / (1.0 + ratio)
    mean = n * rate * (1.0 + ratio)
    totals = np.arange(1, int(mean + 10 * math.sqrt(mean)) + 10)
    # the total of events: a sum of two binomials of rare events, so Poisson (Le Cam 1960)
    weights = stats.poisson.pmf(totals, mean)
    power = 0.0
    for total, weight in zip(totals, weights, strict=True):
        ks = np.arange(total + 1)
        cdf0 = stats.binom.cdf(ks, total, null_share)
        below = np.flatnonzero(cdf0 <= alpha)
        c = int(below[-1]) if len(below) else -1  # reject C <= c for sure
        last = cdf0[c] if c >= 0 else 0.0
        gamma = (alpha - last) / stats.binom.pmf(c + 1, total, null_share)
        sure = stats.binom.cdf(c, total, true_share) if c >= 0 else 0.0
        power += weight * (sure + gamma * stats.binom.pmf(c + 1, total, true_share))
    return float(power)


def report_aa(
    scenarios: Sequence[Scenario], runs: int, seed: int, config: JudgeConfig, jobs: int
) -> list[str]:
    """Rows for the A/A table."""
    lines = [
        f"A/A: {runs} runs each, a look every {LOOK_EVERY} requests per arm up to {HORIZON} "
        f"({HORIZON // LOOK_EVERY} looks); alpha = {config.alpha}; margins: error ratio "
        f"{config.margins.error_ratio:g} or +{100 * config.margins.error_abs:g} point, median "
        f"{config.margins.median_ratio:g}, p{100 * config.margins.tail_quantile:g} exceedance "
        f"{config.margins.tail_ratio:g}",
        f"{'case':34} {'false rollback':>22} {'naive MW':>9} {'promoted':>9}"
        f" {'promote median':>15} {'limit':>6}  not promoted: why",
    ]
    level = config.promote_level
    for i, scenario in enumerate(scenarios):
        outcomes = simulate(scenario, runs, seed, config, jobs=jobs, naive=True, scenario_index=i)
        false_rb = sum(o.rollback_at is not None for o in outcomes)
        low, high = _binomial_ci(false_rb, runs)
        naive_rate = sum(o.naive_alarm for o in outcomes) / runs
        promoted = [
            o.promote_at for o in outcomes if o.promote_at is not None and o.rollback_at is None
        ]
        median_promote = f"{np.median(promoted):,.0f}" if promoted else "-"
        mark = "ok" if false_rb / runs <= config.alpha else "OVER"
        pmark = "ok" if len(promoted) / runs >= 0.9 else "under"
        limit = fixed_n_limit(
            scenario.baseline_errors, config.margins.error_ratio, level
        ) * fixed_n_limit(1.0 - config.margins.tail_quantile, config.margins.tail_ratio, level)
        blocked: dict[str, int] = {}
        for o in outcomes:
            for name in o.blockers:
                blocked[name] = blocked.get(name, 0) + 1
        why = [f"rollback {100 * false_rb / runs:.1f}%"] + [
            f"{_SHORT.get(name, name)} {100 * count / runs:.1f}%"
            for name, count in sorted(blocked.items(), key=lambda item: -item[1])
        ]
        lines.append(
            f"{scenario.name:34} {100 * false_rb / runs:5.1f}%"
            f" [{100 * low:4.1f},{100 * high:4.1f}] {mark:4} {100 * naive_rate:8.1f}%"
            f" {100 * len(promoted) / runs:6.1f}% {pmark:5} {median_promote:>9}"
            f" {100 * limit:5.1f}%  {', '.join(why)}"
        )
    lines.append(
        "limit: ceiling for any rule that promotes within the horizon at these margins — "
        "the best fixed-n test (UMPU, horizon known) of the error ratio and of the tail "
        "exceedance ratio, both passing. why: share of runs rolled back, or ending with "
        "the metric's bound still above its margin."
    )
    return lines


def report_detection(
    scenarios: Sequence[Scenario], runs: int, seed: int, config: JudgeConfig, jobs: int
) -> list[str]:
    """Rows for the time-to-detect table."""
    lines = [
        f"Regressions: {runs} runs each; canary requests to ROLLBACK (looks every {LOOK_EVERY})"
        + _tolerances(config),
        f"{'case':32} {'oracle':>6} {'median':>7} {'x orcl':>6} {'p80':>7} {'x orcl':>6}"
        f" {'det@10x':>8} {'det@20k':>8} {'promoted':>8}  bars",
    ]
    for i, scenario in enumerate(scenarios):
        outcomes = simulate(scenario, runs, seed, config, jobs=jobs, scenario_index=100 + i)
        assert scenario.oracle is not None
        times = np.array(
            [o.rollback_at if o.rollback_at is not None else math.inf for o in outcomes]
        )
        median, p80 = float(np.median(times)), float(np.percentile(times, 80))
        within_10x = float(np.mean(times <= 10 * scenario.oracle))
        within_20k = float(np.mean(times <= HORIZON))
        # a real run stops at PROMOTE: promoting before rolling back ships the regression
        wrongly_promoted = float(
            np.mean(
                [
                    o.promote_at is not None
                    and (o.rollback_at is None or o.promote_at < o.rollback_at)
                    for o in outcomes
                ]
            )
        )
        ok_median = median <= 2.5 * scenario.oracle
        ok_power = within_10x >= 0.9
        bars = (
            ("median ok" if ok_median else "MEDIAN OVER")
            + ", "
            + ("power ok" if ok_power else "POWER UNDER")
        )
        lines.append(
            f"{scenario.name:32} {scenario.oracle:6.0f} {_num(median):>7}"
            f" {median / scenario.oracle:6.2f} {_num(p80):>7} {p80 / scenario.oracle:6.2f}"
            f" {100 * within_10x:7.1f}% {100 * within_20k:7.1f}% {100 * wrongly_promoted:7.1f}%"
            f"  {bars}"
        )
    lines.append("promoted: runs that reached PROMOTE before ROLLBACK (the regression shipped).")
    lines.append("oracle: fixed-n test knowing the effect, alpha 0.05, power 0.8:")
    lines.extend(f"  {s.name}: {s.oracle:,.0f} ({s.oracle_note})" for s in scenarios if s.oracle)
    return lines


def _tolerances(config: JudgeConfig) -> str:
    """'; rollback tolerances: ...' when any is set, else ''."""
    values = (
        config.tolerances.error_ratio,
        config.tolerances.median_ratio,
        config.tolerances.tail_ratio,
    )
    if all(v == 1.0 for v in values):
        return ""
    return "; rollback tolerances: error {:g}, median {:g}, tail {:g}".format(*values)


def _num(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:,.0f}"


def report_cost(config: JudgeConfig, seed: int) -> list[str]:
    """Time of one update on 10-million-request histograms, and state size vs requests."""
    rng = np.random.default_rng(seed)
    chunk = 1_000_000
    hist_b, hist_c = Histogram.empty(), Histogram.empty()
    judge = SequentialJudge(config)
    timings: list[float] = []
    sizes: dict[int, int] = {}
    n = 0
    for _ in range(10):
        hist_b.record_many(rng.lognormal(math.log(MEDIAN_MS), 0.5, chunk))
        hist_c.record_many(rng.lognormal(math.log(MEDIAN_MS), 0.5, chunk))
        n += chunk
        snaps = ArmSnapshot(n, n // 100, hist_b.copy()), ArmSnapshot(n, n // 100, hist_c.copy())
        start = time.perf_counter()
        judge.update(*snaps)
        timings.append(time.perf_counter() - start)
        sizes[n] = len(pickle.dumps(judge))
    small = SequentialJudge(config)
    h_small = Histogram.from_samples(rng.lognormal(math.log(MEDIAN_MS), 0.5, 1000))
    small.update(ArmSnapshot(1000, 10, h_small), ArmSnapshot(1000, 10, h_small.copy()))
    return [
        "Cost: looks of 1,000,000 new requests per arm up to 10,000,000 per arm",
        f"  update at 10M requests per arm: {1000 * timings[-1]:.2f} ms "
        f"(max over the 10 looks {1000 * max(timings):.2f} ms; bar 20 ms)",
        f"  judge state (pickled): {len(pickle.dumps(small)):,} bytes at 1,000 requests per arm, "
        f"{sizes[n]:,} bytes at {n:,}",
        f"  histogram: {hist_b.counts.nbytes:,} bytes of counts at {hist_b.count:,} requests; "
        f"sparse dict with {len(hist_b.to_dict()['index'])} non-empty buckets",
    ]


def _config(args: argparse.Namespace) -> JudgeConfig:
    """The default config with the margins and tolerances given on the command line."""
    margins = {
        name: getattr(args, f"{name}_margin")
        for name in ("error_ratio", "tail_ratio")
        if getattr(args, f"{name}_margin") is not None
    }
    tolerances = {
        f"{kind}_ratio": getattr(args, f"{kind}_rollback_ratio")
        for kind in ("error", "median", "tail")
        if getattr(args, f"{kind}_rollback_ratio") is not None
    }
    return JudgeConfig(margins=Margins(**margins), tolerances=Tolerances(**tolerances))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables; returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="200 runs per case, for iterating")
    parser.add_argument("--runs", type=int, default=None, help="runs per case (default 1000)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--only", choices=("aa", "detect", "realistic", "cost"), default=None)
    parser.add_argument(
        "--realistic-runs", type=int, default=None, help="runs per realistic case (default 200)"
    )
    parser.add_argument(
        "--error-ratio-margin", type=float, default=None, help="instead of the default"
    )
    parser.add_argument(
        "--tail-ratio-margin", type=float, default=None, help="instead of the default"
    )
    for kind in ("error", "median", "tail"):
        parser.add_argument(
            f"--{kind}-rollback-ratio", type=float, default=None, help="a rollback tolerance"
        )
    args = parser.parse_args(argv)
    runs = args.runs or (200 if args.quick else 1000)
    config = _config(args)
    started = time.perf_counter()
    print(
        f"analysis.bench: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, seed {args.seed}, jobs {args.jobs}"
    )
    if args.only in (None, "aa"):
        print("\n".join(report_aa(AA_SCENARIOS, runs, args.seed, config, args.jobs)), flush=True)
        print()
    if args.only in (None, "detect"):
        print(
            "\n".join(report_detection(DETECTION_SCENARIOS, runs, args.seed, config, args.jobs)),
            flush=True,
        )
        print()
    if args.only in (None, "realistic"):
        realistic_runs = args.realistic_runs or (60 if args.quick else 200)
        print("\n".join(realistic.report(realistic_runs, args.seed, config, args.jobs)), flush=True)
        print()
    if args.only in (None, "cost"):
        print("\n".join(report_cost(config, args.seed)))
    print(f"\nbench took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
