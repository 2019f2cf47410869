"""Perf history at scale: bytes per run and the gate's read path, against two references.

Inserts N perf runs (default 1,000) with realistic fine latency histograms (sparse
`Histogram.to_dict()` of ~30,000 lognormal requests with a slow tail, plus a per-10-s
server-side series) into:

* ``SqliteStore``: the harness store (zlib-compressed histogram JSON, summary columns);
* ``sqlite-json``: the obvious alternative, the same data as plain JSON text in SQLite;
* ``json-files``: one JSON document per run in a folder, as simple tools keep results.

Then measures what `harness gate` reads: the newest two completed runs with their
histograms (reference + candidate, decoded into `Histogram`s) and the trend series of
all N runs. Budgets (issue 7): history grows <= 50 KB per run; `harness gate` <= 1 s with
1,000 runs. Also reports the cost of starting Python and importing the modules the gate
needs, which the store cannot make faster.

Run: ``.venv/bin/python benchmarks/store_history.py [--runs 1000] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis import Histogram
from harness.store import PerfResult, SqliteStore

NAMESPACE, SERVICE = "default", "hello"
BUDGET_BYTES_PER_RUN = 50 * 1024
BUDGET_GATE_S = 1.0


def make_runs(count: int, requests: int, seed: int = 1) -> list[dict[str, Any]]:
    """Realistic perf results: lognormal latencies, 1% slow tail, a 10-s server series."""
    rng = np.random.default_rng(seed)
    runs = []
    for n in range(count):
        median = rng.uniform(4.0, 40.0)
        sigma = rng.uniform(0.25, 0.7)
        samples = rng.lognormal(np.log(median), sigma, requests)
        tail = rng.random(requests) < 0.01
        samples[tail] *= rng.uniform(3, 10)
        hist = Histogram.from_samples(samples)
        errors = int(rng.binomial(requests, 0.002))
        duration = 300.0
        server = {
            "interval_s": 10,
            "requests": rng.poisson(requests / 30, 30).tolist(),
            "errors": rng.poisson(errors / 30 + 1e-9, 30).tolist(),
            "latency": hist.coarsen([5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400,
                                     450, 500, 600, 700, 800, 900, 1000, 2000, 5000, 10000,
                                     20000, 50000, 100000]).to_dict(),
        }  # fmt: skip
        runs.append(
            {
                "started": 1_790_000_000.0 + 3600.0 * n,
                "label": f"build-{n}",
                "spec": {
                    "service": SERVICE,
                    "namespace": NAMESPACE,
                    "profile": "steady",
                    "duration": duration,
                    "rate": 100.0,
                    "warmup": 10.0,
                    "save": True,
                    "label": f"build-{n}",
                    "metrics_profile": "legacy",
                },
                "result": PerfResult(
                    arm="default",
                    requests=requests,
                    errors=errors,
                    duration_s=duration,
                    latency=hist.to_dict(),
                    stats={
                        "p50_ms": hist.quantile(0.5),
                        "p90_ms": hist.quantile(0.9),
                        "p99_ms": hist.quantile(0.99),
                        "mean_ms": hist.mean,
                        "rps": requests / duration,
                        "error_rate": errors / requests,
                    },
                    server=server,
                ),
            }
        )
    return runs


# ----------------------------------------------------------------- the store under test
def insert_store(path: Path, runs: list[dict[str, Any]]) -> None:
    with SqliteStore(path) as store:
        for run in runs:
            record = store.create_run(
                "perf", NAMESPACE, SERVICE, label=run["label"], spec=run["spec"],
                started=run["started"],
            )  # fmt: skip
            store.save_perf_result(record.id, run["result"])
            store.finish_run(record.id, "completed", finished=run["started"] + 300.0)


def gate_read_store(path: Path, trend_limit: int) -> int:
    with SqliteStore(path) as store:
        candidate, reference = store.list_runs(
            NAMESPACE, SERVICE, "perf", status="completed", limit=2
        )
        hists = [
            Histogram.from_dict(result.latency)
            for run in (reference, candidate)
            for result in store.load_perf_results(run.id).values()
        ]
        trend = store.perf_trend(NAMESPACE, SERVICE, limit=trend_limit)
    return len(hists) + len(trend)


# ----------------------------------------------------------------- references
def insert_sqlite_json(path: Path, runs: list[dict[str, Any]]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, service TEXT, started REAL, doc TEXT)")
    db.execute("CREATE INDEX by_service ON runs (service, started)")
    for run in runs:
        db.execute(
            "INSERT INTO runs (service, started, doc) VALUES (?, ?, ?)",
            (SERVICE, run["started"], json.dumps(_document(run))),
        )
    db.close()


def gate_read_sqlite_json(path: Path, trend_limit: int) -> int:
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT doc FROM runs WHERE service = ? ORDER BY started DESC LIMIT ?",
        (SERVICE, trend_limit),
    ).fetchall()
    docs = [json.loads(row[0]) for row in rows]
    hists = [Histogram.from_dict(doc["latency"]) for doc in docs[:2]]
    trend = [doc["stats"] for doc in reversed(docs)]
    db.close()
    return len(hists) + len(trend)


def insert_json_files(folder: Path, runs: list[dict[str, Any]]) -> None:
    folder.mkdir()
    for n, run in enumerate(runs):
        path = folder / f"{n:06d}.json"
        with path.open("w") as handle:
            json.dump(_document(run), handle)
            handle.flush()
            os.fsync(handle.fileno())


def gate_read_json_files(folder: Path, trend_limit: int) -> int:
    paths = sorted(folder.glob("*.json"))[-trend_limit:]
    docs = [json.loads(path.read_text()) for path in paths]
    hists = [Histogram.from_dict(doc["latency"]) for doc in docs[-2:]]
    trend = [doc["stats"] for doc in docs]
    return len(hists) + len(trend)


def _document(run: dict[str, Any]) -> dict[str, Any]:
    result: PerfResult = run["result"]
    return {
        "label": run["label"],
        "spec": run["spec"],
        "requests": result.requests,
        "errors": result.errors,
        "latency": result.latency,
        "stats": result.stats,
        "server": result.server,
    }


# ----------------------------------------------------------------- measuring
def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _median_s(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _import_cost(modules: str, repeat: int) -> float:
    """Median wall time of a fresh Python that imports ``modules`` (start-up included)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30_000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")  # fmt: skip
    start = time.perf_counter()
    runs = make_runs(args.runs, args.requests)
    buckets = statistics.median(len(r["result"].latency["index"]) for r in runs)
    elapsed = time.perf_counter() - start
    print(f"generated {args.runs} runs of {args.requests:,} requests "
          f"(median {buckets:.0f} non-empty fine buckets) in {elapsed:.1f} s")  # fmt: skip

    variants: list[tuple[str, Callable[..., None], Callable[[Path, int], int], str]] = [
        ("SqliteStore (harness)", insert_store, gate_read_store, "history.sqlite"),
        ("reference: sqlite-json", insert_sqlite_json, gate_read_sqlite_json, "plain.sqlite"),
        ("reference: json-files", insert_json_files, gate_read_json_files, "runs"),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, insert, read, filename in variants:
            path = Path(tmp) / filename
            start = time.perf_counter()
            insert(path, runs)
            insert_s = time.perf_counter() - start
            per_run = _size(path) / args.runs
            read_s = _median_s(functools.partial(read, path, args.runs), args.repeat)
            rows.append((name, per_run, 1000 * insert_s / args.runs, 1000 * read_s))
    imports = {
        modules: _import_cost(modules, max(3, args.repeat // 3))
        for modules in (
            "sys",
            "harness.store, harness.report",
            "harness.store, harness.report, analysis",
        )
    }
    startup_s = imports["harness.store, harness.report, analysis"]

    print()
    print(f"{'variant':<26} {'KB/run':>8} {'insert ms/run':>14} {'gate read ms':>13}")
    for name, per_run, insert_ms, read_ms in rows:
        print(f"{name:<26} {per_run / 1024:>8.2f} {insert_ms:>14.2f} {read_ms:>13.1f}")
    store_kb, store_read_ms = rows[0][1] / 1024, rows[0][3]
    print()
    for modules, seconds in imports.items():
        print(f"python start + import {modules}: {1000 * seconds:.0f} ms")
    total_ms = store_read_ms + 1000 * startup_s
    print(f"budget: history <= {BUDGET_BYTES_PER_RUN // 1024} KB/run -> {store_kb:.2f} KB/run "
          f"({'ok' if store_kb * 1024 <= BUDGET_BYTES_PER_RUN else 'OVER'})")  # fmt: skip
    print(f"budget: gate <= {BUDGET_GATE_S * 1000:.0f} ms with {args.runs} runs -> store read "
          f"{store_read_ms:.0f} ms + start-up {1000 * startup_s:.0f} ms = {total_ms:.0f} ms "
          f"({'ok' if total_ms <= BUDGET_GATE_S * 1000 else 'OVER'})")  # fmt: skip


if __name__ == "__main__":
    main()
