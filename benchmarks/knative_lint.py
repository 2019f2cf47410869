"""Lint throughput and traffic-block computation, side by side with their references.

* ``harness lint`` on a generated multi-document file of N Services (default 500, each
  with autoscaling annotations, a traffic block and a container) against two
  references that do strictly less: ``yaml.safe_load_all`` (the pure-Python parse a
  simple tool would do, no line numbers, no rules) and the libyaml parse
  (``CSafeLoader``), the floor for reading YAML in Python.
* ``canary_split`` on blocks of 2 and 12 entries against ``validate_traffic`` of the
  same block (the least any builder must do: check its output).
* the whole CLI (``harness lint FILE``) as a process, against ``python -c pass``.

Budget: linting a 500-document file in well under a second, a canary step's block in
well under a millisecond (the canary loop patches once per step).

Run: ``.venv/bin/python benchmarks/knative_lint.py [--docs 500] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import yaml

from harness.knative.lint import lint_text
from harness.knative.traffic import TrafficTarget, canary_split, validate_traffic

SERVICE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: svc-{i}
  namespace: default
  annotations:
    serving.knative.dev/rollout-duration: "120s"
spec:
  template:
    metadata:
      name: svc-{i}-v2
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/max-scale: "10"
        autoscaling.knative.dev/target: "50"
        autoscaling.knative.dev/window: "40s"
    spec:
      containerConcurrency: 100
      containers:
      - image: ghcr.io/knative/helloworld-go:latest
        env:
        - name: TARGET
          value: "v{i}"
  traffic:
  - revisionName: svc-{i}-v1
    percent: 90
    tag: stable
  - revisionName: svc-{i}-v2
    percent: 10
    tag: canary
"""


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    """The median wall time of ``repeat`` calls, in seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def block(n: int) -> list[TrafficTarget]:
    others = [
        TrafficTarget(percent=0, revision_name=f"hello-old{i}", tag=f"old{i}") for i in range(n - 2)
    ]
    return [
        TrafficTarget(percent=100, latest_revision=True),
        TrafficTarget(percent=0, revision_name="hello-v2", tag="next"),
        *others,
    ]


CALLS = 2000


def measure_split(n: int, repeat: int) -> tuple[float, float]:
    """Seconds per ``canary_split`` call and per ``validate_traffic`` of its result."""
    current = block(n)
    kwargs: dict[str, Any] = {
        "baseline": "hello-v1",
        "canary": "hello-v2",
        "canary_percent": 25,
        "baseline_tag": "baseline",
        "canary_tag": "canary",
        "latest_ready": "hello-v1",
    }
    split = canary_split(current, **kwargs)
    t_split = best_of(repeat, lambda: [canary_split(current, **kwargs) for _ in range(CALLS)])
    t_valid = best_of(repeat, lambda: [validate_traffic(split) for _ in range(CALLS)])
    return t_split / CALLS, t_valid / CALLS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    text = "---\n".join(SERVICE.format(i=i) for i in range(args.docs))
    lines = text.count("\n")
    rows: list[tuple[str, str, float, str]] = []

    t_lint = best_of(args.repeat, lambda: lint_text(text, "bench.yaml"))
    t_pure = best_of(args.repeat, lambda: list(yaml.safe_load_all(text)))
    t_c = best_of(args.repeat, lambda: list(yaml.load_all(text, Loader=yaml.CSafeLoader)))
    report = lint_text(text, "bench.yaml")
    assert report.error is None and report.errors == 0, report.findings[:3]
    what = f"{args.docs} docs, {lines} lines"
    rows.append(("harness lint_text (parse + lines + all rules)", what, t_lint, "ms"))
    rows.append(("ref: yaml.safe_load_all (pure Python)", what, t_pure, "ms"))
    rows.append(("ref: yaml.load_all CSafeLoader (libyaml)", what, t_c, "ms"))

    for n in (2, 12):
        t_split, t_valid = measure_split(n, args.repeat)
        rows.append(("canary_split", f"{n}-entry block", t_split, "us"))
        rows.append(("ref: validate_traffic of its result", f"{n}-entry block", t_valid, "us"))

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        cli = [sys.executable, "-m", "harness.cli", "lint", path]
        t_cli = best_of(args.repeat, lambda: subprocess.run(cli, capture_output=True, check=True))
        t_py = best_of(
            args.repeat,
            lambda: subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True),
        )
    finally:
        os.unlink(path)
    rows.append(("harness lint FILE (whole process)", what, t_cli, "ms"))
    rows.append(("ref: python -c pass (process start)", "-", t_py, "ms"))

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'measure':<48} {'input':<22} {'median':>12}")
    for name, inp, seconds, unit in rows:
        value = seconds * (1e3 if unit == "ms" else 1e6)
        print(f"{name:<48} {inp:<22} {value:>9.2f} {unit}")


if __name__ == "__main__":
    main()
