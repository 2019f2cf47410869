"""Harness overhead per canary look, and `harness canary hello --from v1 --to v2` end to end.

Runs the real command twice in temporary state folders:

1. the embedded default (no kubeconfig, no emulator running: the command starts the
   emulator with the demo Service itself), as `make demo` does, timed end to end;
2. against an already running emulator, the same flags.

Then reads every look's timings from the run journal (load snapshot, Prometheus queries,
judge, journal write) and prints their distribution beside the reference: the same
number of bare Prometheus queries (`vector(1)`) through httpx against the same Prometheus.

    .venv/bin/python benchmarks/canary_look.py
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness.local.launcher import Emulator
from harness.store import SqliteStore

QUERIES_PER_LOOK = 6  # requests, errors, buckets for each of two revisions


def run_canary(state: Path, extra: list[str]) -> tuple[int, float, str]:
    env = dict(os.environ, HARNESS_STATE_DIR=str(state), HOME=str(state / "home"))
    env.pop("KUBECONFIG", None)
    (state / "home").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "canary",
            "hello",
            "--from",
            "v1",
            "--to",
            "v2",
            "--store",
            str(state / "h.sqlite"),
            "--report-dir",
            str(state / "report"),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    return proc.returncode, time.monotonic() - started, proc.stderr


def look_timings(store: Path) -> list[dict[str, float]]:
    with SqliteStore(store) as s:
        run = s.list_runs(kind="canary")[0]
        return [look.arms["timings_ms"] for look in s.looks(run.id)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_queries(prometheus: str, looks: int) -> list[float]:
    out = []
    with httpx.Client(base_url=prometheus, timeout=5) as client:
        for _ in range(looks):
            t0 = time.perf_counter()
            for _ in range(QUERIES_PER_LOOK):
                client.get("/api/v1/query", params={"query": "vector(1)"}).raise_for_status()
            out.append(1000 * (time.perf_counter() - t0))
    return out


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        embedded = Path(tmp) / "embedded"
        code, seconds, err = run_canary(embedded, [])
        print(f"\nembedded default (starts the emulator itself): exit {code} in {seconds:.1f} s")
        if code != 0:
            print(err[-2000:])

        running = Path(tmp) / "running"
        info = Emulator.start(running, demo=True)
        try:
            code, seconds, err = run_canary(
                running, ["--kubeconfig", info.kubeconfig, "--state-dir", str(running)]
            )
            print(f"against a running emulator: exit {code} in {seconds:.1f} s")
            timings = look_timings(running / "h.sqlite")
            reference = bare_queries(info.prometheus, len(timings)) if info.prometheus else []
        finally:
            Emulator.stop(running)

    parts = ["load_snapshot", "prometheus", "judge", "journal_previous"]
    rows = {p: [t[p] for t in timings if t.get(p) is not None] for p in parts}
    totals = [sum(t.get(p) or 0.0 for p in parts) for t in timings[1:]]
    print(f"\nper look ({len(timings)} looks), milliseconds:")
    print(f"{'part':<34}{'median':>10}{'p95':>10}")
    for part, values in rows.items():
        if values:
            print(f"{part:<34}{statistics.median(values):>10.2f}{pct(values, 0.95):>10.2f}")
    if totals:
        label = "total harness overhead"
        print(f"{label:<34}{statistics.median(totals):>10.2f}{pct(totals, 0.95):>10.2f}")
    if reference:
        label = f"reference: {QUERIES_PER_LOOK} bare vector(1) queries"
        print(f"{label:<34}{statistics.median(reference):>10.2f}{pct(reference, 0.95):>10.2f}")


if __name__ == "__main__":
    main()
