"""Scaling of ``--workers``: one Locust process, one worker, two workers, against one nginx.

Run: ``.venv/bin/python benchmarks/load_workers.py [--users 20] [--seconds 15] [--rounds 2]``

Each run is a `LoadDriver` with the same users in all; requests/s is the final count over
the run time (a distributed run's totals arrive with the workers' reports, so a window
inside the run would lag). Next to it, the CPU each process used during the run, in % of
one core: the Locust process (the master when distributed), the workers, nginx, and the
whole machine (every process, other tenants included). On a 2-core machine, two workers
and nginx share two cores: the CPU columns show where the limit is when two workers do
not reach twice one worker. ``req/load-CPU-s`` is requests per CPU-second of the load
processes together: when it holds steady, the load scales with the CPU it gets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.load.driver import LoadDriver
from harness.load.plan import Distribution, Pacing
from harness.load.targets import url_arm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_nginx import nginx
from load_throughput import machine


@dataclass(frozen=True)
class Run:
    """One run: requests/s and CPU (% of a core) per process role."""

    rps: float
    engine_cpu: float
    workers_cpu: float
    nginx_cpu: float
    machine_cpu: float


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _load_processes() -> tuple[psutil.Process | None, list[psutil.Process]]:
    engine, workers = None, []
    for child in psutil.Process().children(recursive=True):
        command = " ".join(child.cmdline())
        if "harness.load.engine" in command:
            engine = child
        elif "harness.load.worker" in command:
            workers.append(child)
    return engine, workers


def run(url: str, nginx_pid: int, users: int, seconds: float, workers: int) -> Run:
    """One bounded run with ``workers`` local workers (0: users in the Locust process)."""
    server = psutil.Process(nginx_pid)
    with LoadDriver(Distribution(local_workers=workers)) as driver:
        server_before = _cpu_s(server)
        psutil.cpu_percent(percpu=True)  # starts the machine-wide measurement
        driver.start([url_arm(url, "a")], Pacing.closed(users=users), seconds)
        engine, worker_processes = _load_processes()
        assert engine is not None
        before = {p.pid: _cpu_s(p) for p in [engine, *worker_processes]}
        status = driver.status()
        while not status.finished:
            time.sleep(0.25)
            after = {p.pid: _cpu_s(p) for p in [engine, *worker_processes] if p.is_running()}
            status = driver.status()
        server_after = _cpu_s(server)
        machine_cpu = sum(psutil.cpu_percent(percpu=True))
        final = driver.finish()
    elapsed = final.elapsed_s
    workers_cpu = sum(after[p.pid] - before[p.pid] for p in worker_processes)
    return Run(
        rps=final.arms["a"].requests / elapsed,
        engine_cpu=100 * (after[engine.pid] - before[engine.pid]) / elapsed,
        workers_cpu=100 * workers_cpu / elapsed,
        nginx_cpu=100 * (server_after - server_before) / elapsed,
        machine_cpu=machine_cpu,
    )


def main() -> None:
    """Run the rounds (interleaved) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    setups = {"one Locust process": 0, "--workers 1": 1, "--workers 2": 2}
    results: dict[str, list[Run]] = {name: [] for name in setups}
    print(f"machine: {machine()}")
    with nginx() as (url, nginx_pid):
        for _ in range(args.rounds):
            for name, workers in setups.items():
                results[name].append(run(url, nginx_pid, args.users, args.seconds, workers))
    print(f"\n{args.users} users, {args.seconds:g}s per run, {args.rounds} rounds (interleaved)")
    cores = psutil.cpu_count() or 1
    print("CPU in % of one core; machine: all processes, of", f"{100 * cores}%")
    header = (
        f"{'req/s':>8} {'Locust proc':>12} {'workers':>8} {'nginx':>6} {'machine':>8} "
        f"{'req/load-CPU-s':>15}"
    )
    print(f"{'':20} {header}   req/s of each round")
    for name, runs in results.items():
        rounds = "  ".join(f"{r.rps:7.0f}" for r in runs)
        print(
            f"{name:20} {statistics.median(r.rps for r in runs):8.0f} "
            f"{statistics.median(r.engine_cpu for r in runs):11.0f}% "
            f"{statistics.median(r.workers_cpu for r in runs):7.0f}% "
            f"{statistics.median(r.nginx_cpu for r in runs):5.0f}% "
            f"{statistics.median(r.machine_cpu for r in runs):7.0f}% "
            f"{statistics.median(100 * r.rps / (r.engine_cpu + r.workers_cpu) for r in runs):15.0f}"
            f"   {rounds}"
        )
    one = statistics.median(r.rps for r in results["--workers 1"])
    two = statistics.median(r.rps for r in results["--workers 2"])
    print(f"\n--workers 2 / --workers 1: {two / one:.2f}x (target >= 1.6x where CPU allows)")
    print(f"after: load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
