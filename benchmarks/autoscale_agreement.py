"""Does the what-if simulator agree with the emulator's live autoscaler on the same load?

Starts an emulator with ``--max-pods N``, creates a Service of the sample app (fixed
200 ms latency; target 3 requests per pod at 100%, a 20 s window), and loads it with
``harness perf --profile ramp|spike --users U --save`` (closed loop: in-flight
concurrency follows the users; the ramp climbs to 9 users, the spike goes from 2 to
10). The run stores its per-second load; ``harness autoscale`` replays it
(``perf:RUN_ID``, after the idle seconds between Ready and the load) with the same
Service, ``max-scale=N`` and scale to zero off (the emulator's default). The emulator's
ready pods per second come from Prometheus (``autoscaler_actual_pods``: the count at the
autoscaler's last decision, so the simulation's ready pods are read the same way).
Prints, per profile, the share of seconds where simulated and emulated ready pods are
within one pod (the issue asks >= 90%). On a loaded machine the emulator's pods take
longer than ``--pod-start`` to start, which shows as a lag of a few seconds.

    .venv/bin/python benchmarks/autoscale_agreement.py [--max-pods 5] [--users 2]
        [--ramp-users 9] [--duration 120] [--pod-start 2s] [--profiles ramp,spike]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.autoscale.simulate import SimulationOptions, simulate
from harness.autoscale.sources import perf_trace
from harness.autoscale.trace import Trace, parse_seconds
from harness.autoscale.variants import ServiceKnobs, build_variants, cluster_config
from harness.knative.kube import KubeBackend
from harness.local.launcher import Emulator
from harness.local.state import EmulatorInfo

A = "autoscaling.knative.dev/"
HARNESS = [sys.executable, "-m", "harness.cli"]


@dataclass(frozen=True)
class Agreement:
    profile: str
    seconds: int
    within_one: float
    max_simulated: int
    max_emulated: int
    run_id: str


def service(name: str, max_pods: int) -> dict[str, object]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        A + "target": "3",
                        A + "target-utilization-percentage": "100",
                        A + "window": "20s",
                        A + "max-scale": str(max_pods),
                    }
                },
                "spec": {
                    "containers": [
                        {
                            "image": "example.com/hello:latest",
                            "env": [{"name": "SIM_LATENCY_MS", "value": "200"}],
                        }
                    ]
                },
            }
        },
    }


def emulated_pods(info: EmulatorInfo, revision: str, start: float, seconds: int) -> list[float]:
    """Ready pods per second from the emulator autoscaler's gauge (last value held)."""
    assert info.prometheus is not None
    query = f'max(autoscaler_actual_pods{{namespace_name="default",revision_name="{revision}"}})'
    response = httpx.get(
        f"{info.prometheus}/api/v1/query_range",
        params={"query": query, "start": start, "end": start + seconds, "step": "1s"},
        timeout=30,
    )
    result = response.json()["data"]["result"]
    points = {round(float(t) - start): float(v) for t, v in result[0]["values"]} if result else {}
    values, last = [], 1.0
    for t in range(seconds):
        last = points.get(t, last)
        values.append(last)
    return values


def as_reported(ready: list[int]) -> list[int]:
    """Ready pods as the autoscaler's ``actual_pods`` gauge shows them: the count at its
    last decision (every 2 s: the model ticks at even seconds), read by a scrape up
    to a second later."""
    out = []
    for t in range(len(ready)):
        seen = t - 1
        tick = seen if seen % 2 == 0 else seen - 1
        out.append(ready[max(tick, 0)])
    return out


def run_profile(
    info: EmulatorInfo, state_dir: Path, store: Path, profile: str, args: argparse.Namespace
) -> Agreement:
    name = f"whatif-{profile}"
    manifest = service(name, args.max_pods)
    backend = KubeBackend(Path(info.kubeconfig))
    try:
        backend.apply(manifest)
        backend.wait_ready("default", name, timeout=60)
        ready_at = time.time()
        revision = backend.get_service("default", name).latest_ready_revision
    finally:
        backend.close()
    assert revision is not None
    perf = subprocess.run(
        [
            *HARNESS,
            "perf",
            name,
            "--profile",
            profile,
            "--users",
            str(args.ramp_users if profile == "ramp" else args.users),
            "--duration",
            f"{args.duration}s",
            "--warmup",
            "0s",
            "--save",
            "--store",
            str(store),
            "--kubeconfig",
            info.kubeconfig,
            "--state-dir",
            str(state_dir),
            "--report-dir",
            str(state_dir / f"report-{profile}"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=args.duration + 300,
        check=False,
    )
    if perf.returncode != 0:
        raise SystemExit(f"harness perf failed: {perf.stderr.strip()}")
    document = json.loads(perf.stdout)
    measured = perf_trace(document["run_id"], str(store))
    # The emulator's autoscaler saw the revision idle from Ready until the load began:
    # replay that idle time too, and compare the measured window only.
    started = measured.start_time or float(document["started"])
    idle = max(0, round(started - ready_at))
    trace = Trace(
        measured.source,
        measured.kind,
        [0.0] * idle + list(measured.values),
        measured.service_time_s,
    )
    knobs = ServiceKnobs.from_object(manifest, name)
    config = cluster_config(["enable-scale-to-zero=false"])
    baseline = build_variants(knobs, [], [], config)[0]
    options = SimulationOptions(
        pod_start_s=parse_seconds(args.pod_start, "--pod-start"),
        service_time_s=trace.service_time_s or 0.2,
    )
    ready = simulate("baseline", baseline.settings, trace, options).series.ready_pods
    simulated = as_reported(ready)[idle:]
    emulated = emulated_pods(info, revision, started, len(simulated))
    close = sum(1 for s, e in zip(simulated, emulated, strict=True) if abs(s - e) <= 1)
    if args.verbose:
        print("load:     ", " ".join(f"{v:.0f}" for v in measured.values))
        print("simulated:", " ".join(str(v) for v in simulated))
        print("emulated: ", " ".join(f"{v:.0f}" for v in emulated))
    return Agreement(
        profile=profile,
        seconds=len(simulated),
        within_one=close / max(len(simulated), 1),
        max_simulated=max(simulated, default=0),
        max_emulated=int(max(emulated, default=0)),
        run_id=document["run_id"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pods", type=int, default=5)
    parser.add_argument("--users", type=int, default=2, help="Users of the spike profile.")
    parser.add_argument("--ramp-users", type=int, default=9, help="Users at the ramp's top.")
    parser.add_argument("--duration", type=int, default=120)
    parser.add_argument("--pod-start", default="2s")
    parser.add_argument("--profiles", default="ramp,spike")
    parser.add_argument("--verbose", action="store_true", help="Print both series.")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; emulator --max-pods "
        f"{args.max_pods}, ramp to {args.ramp_users} users, spike {args.users} -> "
        f"{args.users * 5} users, {args.duration} s per profile"
    )
    with tempfile.TemporaryDirectory(prefix="autoscale-agreement-") as tmp:
        state_dir = Path(tmp) / "state"
        info = Emulator.start(state_dir, max_pods=args.max_pods)
        try:
            if info.prometheus is None:
                raise SystemExit("the emulator has no Prometheus: install prometheus")
            print(
                f"{'profile':<8} {'seconds':>7} {'within 1 pod':>12} {'max sim':>7} {'max emu':>7}"
            )
            for profile in args.profiles.split(","):
                found = run_profile(info, state_dir, Path(tmp) / "history.sqlite", profile, args)
                print(
                    f"{found.profile:<8} {found.seconds:>7} {found.within_one:>11.0%} "
                    f"{found.max_simulated:>7} {found.max_emulated:>7}"
                )
                time.sleep(1)
        finally:
            Emulator.stop(state_dir)


if __name__ == "__main__":
    main()
