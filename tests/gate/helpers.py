"""Test helpers: perf runs saved through the real store, and the CLI run in-process."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis import Histogram
from harness.store import PerfResult, SqliteStore


def save_run(
    store_path: Path,
    *,
    latency_ms: float = 50.0,
    sigma: float = 0.3,
    requests: int = 2000,
    errors: int = 0,
    seed: int = 0,
    label: str | None = None,
    profile: str = "steady",
    arm: str = "hello",
    service: str = "hello",
    namespace: str = "default",
    started: float | None = None,
) -> str:
    """Save one completed perf run (lognormal latencies, real histogram); return its id."""
    rng = np.random.default_rng(seed)
    latency = Histogram.from_samples(rng.lognormal(np.log(latency_ms), sigma, requests))
    with SqliteStore(store_path) as store:
        run = store.create_run(
            "perf",
            namespace,
            service,
            revisions=(f"{service}-v1",),
            label=label,
            spec={"service": service, "namespace": namespace, "profile": profile, "tag": None},
            started=started,
        )
        stats = {
            "p50_ms": latency.quantile(0.5),
            "p99_ms": latency.quantile(0.99),
            "error_rate": errors / requests,
            "rps": requests / 10.0,
        }
        store.save_perf_result(
            run.id, PerfResult(arm, requests, errors, 10.0, latency.to_dict(), stats)
        )
        store.finish_run(run.id, "completed", summary={"decision": "completed"})
    return run.id


@dataclass(frozen=True)
class CliResult:
    """What one `harness` invocation did."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``harness ARGS`` in this process (as the console script does) and capture it."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["harness", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return CliResult(code, out.getvalue(), err.getvalue())
