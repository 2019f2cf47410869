"""`harness gate` with a long history, and how fast history grows, next to references.

Builds a history of N perf runs (default 1,000) exactly as `harness perf --save` writes
them (`PerfOutcome.perf_result()`: a fine client histogram of ~30,000 lognormal requests
with a 1% slow tail, the server-side record with a coarse Prometheus histogram and three
autoscaler series of 120 points), through the real stores: `SqliteStore` and, with
``--backends sqlite,postgresql``, `PostgresStore` on a temporary PostgreSQL server
(Debian's, started as tests/teams/pg.py starts it) or ``--postgresql URL`` (an empty
database), the same runs in both. Then, in one run:

* **history growth**: bytes of the store file per run, next to the reference of keeping
  raw samples instead (float32, zlib) — the budget is <= 50 KB per run;
* **`harness gate`, end to end**: the console command in a fresh interpreter
  (``--against previous`` and ``last:10``), median of ``--repeat`` runs, next to the
  floor every such command pays: a fresh interpreter importing the CLI and
  ``analysis.fixed`` and doing nothing;
* **the gate's own work**, in-process: selecting runs, decoding two histograms, the
  fixed-horizon tests, the trend, writing the report; next to a naive gate that decodes
  every saved histogram to find its reference (what reading history without the
  summary columns would cost).

The backends side by side: writing a run, history per run, and the gate end to end and
in-process on each.

Run: ``.venv/bin/python benchmarks/gate_history.py [--runs 1000] [--repeat 7]
[--backends sqlite,postgresql] [--postgresql URL]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from analysis import Histogram
from harness.gate.run import execute_gate, tolerances
from harness.perf.outcome import PerfOutcome
from harness.store import Store, open_store

NAMESPACE, SERVICE, ARM = "default", "hello", "hello"
BUDGET_KB_PER_RUN = 50.0
BUDGET_GATE_S = 1.0
KNATIVE_BOUNDS_MS = (5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600)


def outcome(rng: np.random.Generator, requests: int, started: float) -> tuple[PerfOutcome, int]:
    """One realistic perf outcome and the bytes its raw samples would take (float32, zlib)."""
    median, sigma = rng.uniform(4.0, 40.0), rng.uniform(0.25, 0.7)
    samples = rng.lognormal(np.log(median), sigma, requests)
    slow = rng.random(requests) < 0.01
    samples[slow] *= rng.uniform(3, 10)
    client = Histogram.from_samples(samples)
    server_hist = client.coarsen([*KNATIVE_BOUNDS_MS, float("inf")])
    series = {
        gauge: [[float(t), float(rng.integers(1, 5))] for t in range(0, 600, 5)]
        for gauge in ("desired_pods", "actual_pods", "panic_mode")
    }
    server = {
        "prometheus": "http://prometheus:9090",
        "profile": "legacy",
        "window": {"start": started, "end": started + 300},
        "complete": True,
        "revisions": {
            "hello-v1": {
                "requests": requests,
                "errors": 0,
                "series": 1,
                "latency": server_hist.to_dict(),
                "p50_ms": server_hist.quantile(0.5),
                "p90_ms": server_hist.quantile(0.9),
                "p99_ms": server_hist.quantile(0.99),
            }
        },
        "autoscaler": {
            "hello-v1": {
                "available": True,
                "schema": "legacy",
                "step_s": 5.0,
                "series": series,
                "summary": {"max_actual_pods": 4.0, "panic_share": 0.1},
            }
        },
    }
    result = PerfOutcome(
        arm=ARM,
        profile="steady",
        started=started,
        finished=started + 310,
        duration_s=300.0,
        requests=requests,
        errors=int(rng.binomial(requests, 0.002)),
        latency=client,
        server=server,
    )
    raw = len(zlib.compress(samples.astype(np.float32).tobytes(), 6))
    return result, raw


def build_history(locations: list[str], runs: int, requests: int) -> tuple[list[float], float]:
    """Write the same ``runs`` perf runs into each store; return (seconds per run written
    for each store, raw-sample bytes per run)."""
    rng = np.random.default_rng(7)
    raw_total = 0
    stores = [open_store(location) for location in locations]
    spent = [0.0] * len(stores)
    try:
        for n in range(runs):
            started = 1_790_000_000.0 + 3600.0 * n
            result, raw = outcome(rng, requests, started)
            raw_total += raw
            for index, store in enumerate(stores):
                start = time.perf_counter()
                write_run(store, n, started, result)
                spent[index] += time.perf_counter() - start
    finally:
        for store in stores:
            store.close()
    for location in locations:
        if not location.startswith("postgresql"):
            with sqlite3.connect(location) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return [s / runs for s in spent], raw_total / runs


def write_run(store: Store, n: int, started: float, result: PerfOutcome) -> None:
    """One perf run as `harness perf --save` writes it."""
    run = store.create_run(
        "perf",
        NAMESPACE,
        SERVICE,
        revisions=("hello-v1",),
        label=f"r{n}" if n % 50 == 0 else None,
        spec={"service": SERVICE, "namespace": NAMESPACE, "profile": "steady"},
        started=started,
    )
    store.save_perf_result(run.id, result.perf_result())
    store.finish_run(run.id, "completed", summary={"decision": "completed"})


def size_kb(location: str) -> float:
    """The store's size on disk: the file, or the PostgreSQL schema's relations."""
    if not location.startswith("postgresql"):
        return Path(location).stat().st_size / 1024
    import psycopg

    with psycopg.connect(location) as db:
        row = db.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'knative_harness' AND c.relkind IN ('r', 'm')"
        ).fetchone()
    return float(row[0] or 0) / 1024 if row else 0.0


@contextmanager
def postgres_database(url: str | None) -> Iterator[str]:
    """``url``, or a new database on a temporary PostgreSQL server with its default
    durability (fsync on, synchronous commits), as SQLite's synchronous=FULL."""
    if url is not None:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.teams.pg import create_database, postgres_server

    with postgres_server(durable=True) as server:
        yield create_database(server, "gate_bench")


def median_time(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``action`` over ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(args: list[str], cwd: Path, expect: set[int]) -> Callable[[], object]:
    """A fresh-interpreter run of ``python args`` that must exit with one of ``expect``."""

    def run() -> object:
        done = subprocess.run(
            [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False
        )
        if done.returncode not in expect:
            raise SystemExit(f"{args}: exit {done.returncode}: {done.stderr.strip()}")
        return done

    return run


def naive_gate(location: str) -> None:
    """The reference: decode every saved histogram (newest first) to pick and merge runs."""
    store = open_store(location)
    try:
        runs = store.list_runs(NAMESPACE, SERVICE, "perf", status="completed", limit=10**9)
        decoded = [store.load_perf_results(run.id)[ARM] for run in runs]
        for result in decoded:
            Histogram.from_dict(result.latency)
    finally:
        store.close()


def measure(location: str, work: Path, repeat: int) -> dict[str, float]:
    """The gate on one store: in-process and end to end, both references."""
    tol = tolerances()
    out: dict[str, float] = {}
    for against in ("previous", "last:10"):
        out[f"in-process {against}"] = median_time(
            lambda a=against: execute_gate(  # type: ignore[misc]
                SERVICE, NAMESPACE, a, tol, store=location, report_dir=work / "r"
            ),
            repeat,
        )
        out[f"cli {against}"] = median_time(
            command(
                ["-m", "harness.cli", "gate", SERVICE, "--store", location,
                 "--against", against, "--report-dir", str(work / "c")],
                work,
                {0, 1},
            ),
            repeat,
        )  # fmt: skip
    out["naive"] = median_time(lambda: naive_gate(location), max(1, repeat // 3))
    return out


def main() -> None:
    """Build the history, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backends", default="sqlite", help="sqlite, postgresql or both")
    parser.add_argument("--postgresql", default=None, help="an empty database's URL")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not set(backends) <= {"sqlite", "postgresql"}:
        raise SystemExit("--backends: sqlite and/or postgresql")

    with tempfile.TemporaryDirectory(prefix="gate-bench-") as folder, ExitStack() as stack:
        work = Path(folder)
        locations = {
            "sqlite": str(work / "history.sqlite"),
            "postgresql": "postgresql",  # replaced below
        }
        if "postgresql" in backends:
            locations["postgresql"] = stack.enter_context(postgres_database(args.postgresql))
        chosen = [locations[b] for b in backends]
        write_s, raw_per_run = build_history(chosen, args.runs, args.requests)
        results = {b: measure(locations[b], work, args.repeat) for b in backends}
        sizes = {b: size_kb(locations[b]) / args.runs for b in backends}
        floor = median_time(
            command(["-c", "import harness.cli, analysis.fixed"], work, {0}), args.repeat
        )
        bare = median_time(command(["-c", "pass"], work, {0}), args.repeat)

    load = os.getloadavg()
    print(f"# gate_history: {args.runs} runs of {args.requests:,} requests each")
    print(
        f"# {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print()
    print(f"| | {' | '.join(backends)} |")
    print(f"|---|{'---:|' * len(backends)}")

    def row(name: str, values: list[str]) -> None:
        print(f"| {name} | {' | '.join(values)} |")

    row(
        f"history per run, KB (budget <= {BUDGET_KB_PER_RUN:g})",
        [f"{sizes[b]:.2f}" for b in backends],
    )
    row("writing a run (3 durable commits), ms", [f"{1000 * w:.1f}" for w in write_s])
    for against in ("previous", "last:10"):
        row(
            f"`harness gate --against {against}`, fresh interpreter, end to end, s",
            [f"{results[b][f'cli {against}']:.3f}" for b in backends],
        )
    for against in ("previous", "last:10"):
        row(
            f"gate's own work in-process, --against {against} (incl. report), s",
            [f"{results[b][f'in-process {against}']:.3f}" for b in backends],
        )
    row(
        "reference: naive gate decoding every saved histogram, s",
        [f"{results[b]['naive']:.3f}" for b in backends],
    )
    print(f"\nreference: raw samples (float32, zlib): {raw_per_run / 1024:.1f} KB per run")
    print(f"floor: fresh interpreter importing harness.cli + analysis.fixed: {floor:.3f} s")
    print(f"floor: fresh interpreter doing nothing: {bare:.3f} s")
    worst = max(results[b][f"cli {a}"] for b in backends for a in ("previous", "last:10"))
    verdict = "within" if worst <= BUDGET_GATE_S else "over"
    print(f"\nbudget harness gate <= {BUDGET_GATE_S:g} s: {verdict} ({worst:.3f} s end to end)")


if __name__ == "__main__":
    main()
