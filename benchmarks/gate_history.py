"""`harness gate` with a long history, and how fast history grows, next to references.

Builds a history of N perf runs (default 1,000) exactly as `harness perf --save` writes
them (`PerfOutcome.perf_result()`: a fine client histogram of ~30,000 lognormal requests
with a 1% slow tail, the server-side record with a coarse Prometheus histogram and three
autoscaler series of 120 points), through the real `SqliteStore`. Then, in one run:

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

Run: ``.venv/bin/python benchmarks/gate_history.py [--runs 1000] [--repeat 7]``
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analysis import Histogram
from harness.gate.run import execute_gate, tolerances
from harness.perf.outcome import PerfOutcome
from harness.store import SqliteStore

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


def build_history(path: Path, runs: int, requests: int) -> tuple[float, float]:
    """Write ``runs`` perf runs; return (seconds per run written, raw-sample bytes per run)."""
    rng = np.random.default_rng(7)
    raw_total = 0
    start = time.perf_counter()
    with SqliteStore(path) as store:
        for n in range(runs):
            started = 1_790_000_000.0 + 3600.0 * n
            result, raw = outcome(rng, requests, started)
            raw_total += raw
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
    elapsed = time.perf_counter() - start
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return elapsed / runs, raw_total / runs


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


def naive_gate(path: Path) -> None:
    """The reference: decode every saved histogram (newest first) to pick and merge runs."""
    with SqliteStore(path) as store:
        runs = store.list_runs(NAMESPACE, SERVICE, "perf", status="completed", limit=10**9)
        decoded = [store.load_perf_results(run.id)[ARM] for run in runs]
        for result in decoded:
            Histogram.from_dict(result.latency)


def main() -> None:
    """Build the history, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gate-bench-") as folder:
        work = Path(folder)
        store = work / "history.sqlite"
        write_s, raw_per_run = build_history(store, args.runs, args.requests)
        kb_per_run = store.stat().st_size / 1024 / args.runs

        tol = tolerances()
        in_process = {
            against: median_time(
                lambda a=against: execute_gate(  # type: ignore[misc]
                    SERVICE, NAMESPACE, a, tol, store=store, report_dir=work / "r"
                ),
                args.repeat,
            )
            for against in ("previous", "last:10")
        }
        cli = {
            against: median_time(
                command(
                    ["-m", "harness.cli", "gate", SERVICE, "--store", str(store),
                     "--against", against, "--report-dir", str(work / "c")],
                    work,
                    {0, 1},
                ),
                args.repeat,
            )
            for against in ("previous", "last:10")
        }  # fmt: skip
        floor = median_time(
            command(["-c", "import harness.cli, analysis.fixed"], work, {0}), args.repeat
        )
        bare = median_time(command(["-c", "pass"], work, {0}), args.repeat)
        naive = median_time(lambda: naive_gate(store), max(1, args.repeat // 3))

    load = os.getloadavg()
    print(f"# gate_history: {args.runs} runs of {args.requests:,} requests each")
    print(
        f"# {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print()
    print("| history growth | KB per run | budget |")
    print("|---|---:|---:|")
    budget = f"<= {BUDGET_KB_PER_RUN:g}"
    print(f"| harness store (histograms + server record) | {kb_per_run:.2f} | {budget} |")
    print(f"| reference: raw samples (float32, zlib) | {raw_per_run / 1024:.1f} | |")
    print(f"\nwriting a run (3 durable commits): {1000 * write_s:.1f} ms")
    print()
    print("| gate with the full history | median s |")
    print("|---|---:|")
    for against, seconds in cli.items():
        name = f"`harness gate --against {against}` (fresh interpreter, end to end)"
        print(f"| {name} | {seconds:.3f} |")
    print(f"| floor: fresh interpreter importing harness.cli + analysis.fixed | {floor:.3f} |")
    print(f"| floor: fresh interpreter doing nothing | {bare:.3f} |")
    for against, seconds in in_process.items():
        print(f"| gate's own work in-process, --against {against} (incl. report) | {seconds:.3f} |")
    print(f"| reference: naive gate decoding every saved histogram | {naive:.3f} |")
    worst = max(cli.values())
    verdict = "within" if worst <= BUDGET_GATE_S else "over"
    print(f"\nbudget harness gate <= {BUDGET_GATE_S:g} s: {verdict} ({worst:.3f} s end to end)")


if __name__ == "__main__":
    main()
