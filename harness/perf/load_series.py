"""A perf run's load per second: request rate and in-flight concurrency, for what-ifs.

The run polls the load generator's cumulative counts (requests completed, and the sum
of their latencies) a few times a second; `load_series` turns those samples into one
value per second of the measured window: the completions in that second (``rps``) and
the sum of their latencies over the second (``concurrency``, Little's law: the average
number in flight). ``harness autoscale simulate --trace perf:RUN_ID`` replays them.
Pure.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

MAX_SECONDS = 7 * 24 * 3600


def load_series(
    samples: Sequence[tuple[float, float, float]],
    start: float,
    end: float,
    *,
    origin: float | None = None,
) -> dict[str, Any] | None:
    """Per-second series over [start, end) from (elapsed s, requests, latency sum ms)
    samples (cumulative, in time order); None with fewer than two samples or no
    whole second. ``mean_latency_s`` is the window's mean latency; ``start_time`` the
    Unix time of the first second when ``origin`` (the Unix time of elapsed 0) is known."""
    if len(samples) < 2 or end - start < 1:
        return None
    times = [s[0] for s in samples]
    seconds = min(math.floor(end - start), MAX_SECONDS)

    def at(t: float, column: int) -> float:
        i = bisect_left(times, t)
        if i <= 0:
            return samples[0][column]
        if i >= len(samples):
            return samples[-1][column]
        t0, t1 = times[i - 1], times[i]
        v0, v1 = samples[i - 1][column], samples[i][column]
        return v0 if t1 <= t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    requests = [at(start + k, 1) for k in range(seconds + 1)]
    latency = [at(start + k, 2) for k in range(seconds + 1)]
    rps = [max(0.0, requests[k + 1] - requests[k]) for k in range(seconds)]
    concurrency = [max(0.0, (latency[k + 1] - latency[k]) / 1000.0) for k in range(seconds)]
    done = requests[-1] - requests[0]
    mean = (latency[-1] - latency[0]) / 1000.0 / done if done > 0 else None
    return {
        "rps": [round(v, 3) for v in rps],
        "concurrency": [round(v, 3) for v in concurrency],
        "mean_latency_s": mean,
        "start_time": None if origin is None else origin + start,
    }
