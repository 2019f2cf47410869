"""How fast ``harness autoscale simulate`` replays a trace: simulated seconds per wall second.

Simulates 24-hour traces at 1 s resolution (a diurnal day, and a spiky one) for a few
variants of a Service, each several times, and prints per variant the wall and CPU
time (``time.process_time``, median of ``--repeat``) and the simulated seconds per wall
(and per CPU) second; on a shared machine the CPU time is the number that depends least
on the neighbours. The goal: a 24-hour trace in under 1 s per variant. Prints the
machine (CPU, cores, load average) with the numbers, and the 1-minute load beside each row.

    .venv/bin/python benchmarks/autoscale_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from harness.autoscale.simulate import SimulationOptions, simulate
from harness.autoscale.trace import Trace, synthetic
from harness.knative.kpa_settings import ScalingSettings

A = "autoscaling.knative.dev/"
VARIANTS = {
    "defaults": {},
    "cc20-delay": {A + "scale-down-delay": "5m", A + "target": "15"},
    "panicky": {A + "window": "6s", A + "panic-threshold-percentage": "110"},
}


def spiky_day() -> Trace:
    base = synthetic("diurnal:rps=5..800,period=24h,duration=24h").values
    values = list(base)
    for start in range(1800, 86400, 3600):  # a 45 s burst every hour
        for t in range(start, start + 45):
            values[t] = values[t] * 6
    return Trace("spiky day", "rps", values)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, Python {platform.python_version()}"
    )
    traces = [synthetic("diurnal:rps=0..3000,period=24h,duration=24h"), spiky_day()]
    options = SimulationOptions(pod_start_s=2.0, service_time_s=0.05)
    print(
        f"{'trace':<12} {'variant':<11} {'wall s':>7} {'cpu s':>7} "
        f"{'sim s / wall s':>15} {'sim s / cpu s':>14} {'load 1m':>8}"
    )
    for trace in traces:
        for name, knobs in VARIANTS.items():
            settings = ScalingSettings.from_revision(knobs, 20)
            assert settings is not None
            walls, cpus = [], []
            for _ in range(args.repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                simulate(name, settings, trace, options)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            wall_s, cpu_s = statistics.median(walls), statistics.median(cpus)
            label = trace.source.split(":")[0][:12]
            print(
                f"{label:<12} {name:<11} {wall_s:7.2f} {cpu_s:7.2f} "
                f"{trace.seconds / wall_s:15,.0f} {trace.seconds / cpu_s:14,.0f} "
                f"{os.getloadavg()[0]:8.1f}"
            )


if __name__ == "__main__":
    main()
