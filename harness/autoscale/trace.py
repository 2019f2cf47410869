"""Load traces at 1 s resolution: synthetic shapes and CSV files (pure parsing).

A `Trace` is one value per second from t = 0: requests per second (``kind`` ``rps``) or
requests in flight (``concurrency``). Sources that need I/O (a saved perf run,
Prometheus) are in `harness.autoscale.sources`; they build the same `Trace`.

Shapes (durations as Go spells them, ``90s``, ``10m``, ``24h``; or plain seconds):

- ``steady:rps=200,duration=10m`` / ``steady:concurrency=100,duration=5m``;
- ``ramp:rps=10..500,duration=10m``: linear from the first to the second value;
- ``spike:rps=50,peak=800,at=5m,width=30s,duration=10m``: base load with a burst;
- ``diurnal:rps=20..400,period=24h,duration=24h``: a cosine day, lowest at t = 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from harness.errors import BadInput
from harness.knative.goparse import SECOND, parse_duration, parse_float

TraceKind = Literal["rps", "concurrency"]
KINDS: tuple[TraceKind, ...] = ("rps", "concurrency")
MAX_SECONDS = 7 * 24 * 3600  # a week at 1 s
MAX_VALUE = 1e7
SHAPES = ("steady", "ramp", "spike", "diurnal")
_CSV_TIME = ("time", "t", "timestamp", "seconds")
_CSV_KIND = {
    "rps": "rps",
    "rate": "rps",
    "requests_per_second": "rps",
    "concurrency": "concurrency",
    "in_flight": "concurrency",
}


@dataclass(frozen=True)
class Trace:
    """Per-second load: ``values[t]`` for second t; ``service_time_s`` when the source
    measured it (a perf run's mean latency); ``start_time`` the Unix time of t = 0 when
    known."""

    source: str
    kind: TraceKind
    values: Sequence[float]
    service_time_s: float | None = None
    start_time: float | None = None

    @property
    def seconds(self) -> int:
        return len(self.values)


def parse_seconds(text: str, what: str) -> float:
    """A duration (``90s``, ``10m``, ``1h30m``) or plain seconds; BadInput otherwise."""
    text = text.strip()
    try:
        return float(parse_duration(text)) / SECOND
    except ValueError:
        pass
    try:
        value = parse_float(text)
    except ValueError:
        raise BadInput(f"{what}: {text!r} is not a duration (e.g. 90s, 10m, 24h)") from None
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"{what}: {text!r} is not a duration (e.g. 90s, 10m, 24h)")
    return value


def _number(text: str, what: str) -> float:
    try:
        value = parse_float(text.strip())
    except ValueError:
        raise BadInput(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_VALUE:
        raise BadInput(f"{what}: {text!r} must be between 0 and {MAX_VALUE:g}")
    return value


def synthetic(spec: str) -> Trace:
    """A shape spelled ``NAME:key=value,...`` (see the module doc); BadInput otherwise."""
    name, _, rest = spec.partition(":")
    if name not in SHAPES:
        raise BadInput(f"trace {spec!r}: unknown shape {name!r} (use {', '.join(SHAPES)})")
    params: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"trace {spec!r}: {item!r} is not key=value")
        params[key.strip()] = value.strip()
    kinds = [k for k in KINDS if k in params]
    if len(kinds) != 1:
        raise BadInput(f"trace {spec!r}: give exactly one of rps= or concurrency=")
    kind = kinds[0]
    allowed = {
        "steady": {kind, "duration"},
        "ramp": {kind, "duration"},
        "spike": {kind, "duration", "peak", "at", "width"},
        "diurnal": {kind, "duration", "period"},
    }[name]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadInput(f"trace {spec!r}: unknown parameter {unknown[0]!r} for {name}")
    if "duration" not in params:
        raise BadInput(f"trace {spec!r}: duration= is required (e.g. duration=10m)")
    seconds = round(parse_seconds(params["duration"], f"trace {spec!r} duration"))
    if not 1 <= seconds <= MAX_SECONDS:
        raise BadInput(f"trace {spec!r}: duration must be between 1s and {MAX_SECONDS // 3600}h")
    what = f"trace {spec!r} {kind}"
    if name in ("ramp", "diurnal"):
        low_text, sep, high_text = params[kind].partition("..")
        if not sep:
            raise BadInput(f"trace {spec!r}: {kind}= takes a range FROM..TO for {name}")
        low, high = _number(low_text, what), _number(high_text, what)
    else:
        low = high = _number(params[kind], what)
    if name == "steady":
        values = [low] * seconds
    elif name == "ramp":
        step = (high - low) / max(seconds - 1, 1)
        values = [low + step * t for t in range(seconds)]
    elif name == "spike":
        peak = _number(params.get("peak", str(low * 10)), f"trace {spec!r} peak")
        at = parse_seconds(params.get("at", str(seconds / 2)), f"trace {spec!r} at")
        width = parse_seconds(params.get("width", "30s"), f"trace {spec!r} width")
        values = [peak if at <= t < at + width else low for t in range(seconds)]
    else:
        period = parse_seconds(params.get("period", "24h"), f"trace {spec!r} period")
        if period <= 0:
            raise BadInput(f"trace {spec!r}: period must be positive")
        mid, half = (low + high) / 2, (high - low) / 2
        values = [mid - half * math.cos(2 * math.pi * t / period) for t in range(seconds)]
    return Trace(source=spec, kind=kind, values=values)


def parse_csv(text: str, source: str) -> Trace:
    """A CSV with a header: a time column (``time``: seconds, Unix seconds or ISO 8601)
    and one of ``rps``/``rate`` or ``concurrency``/``in_flight``. Resampled to 1 s by
    holding each value until the next row; rows may come in any order."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise BadInput(f"trace {source}: empty CSV") from None
    except csv.Error as exc:
        raise BadInput(f"trace {source}: not a CSV ({exc})") from None
    time_col = next((i for i, h in enumerate(header) if h in _CSV_TIME), None)
    value_col = next((i for i, h in enumerate(header) if h in _CSV_KIND), None)
    if time_col is None or value_col is None:
        raise BadInput(
            f"trace {source}: the header needs a time column and one of rps, rate, "
            f"concurrency, in_flight (found {', '.join(header) or 'nothing'})"
        )
    kind: TraceKind = "rps" if _CSV_KIND[header[value_col]] == "rps" else "concurrency"
    rows: list[tuple[float, float]] = []
    try:
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) <= max(time_col, value_col):
                raise BadInput(f"trace {source} line {line}: expected {len(header)} columns")
            when = _csv_time(row[time_col], f"trace {source} line {line} time")
            rows.append((when, _number(row[value_col], f"trace {source} line {line} value")))
    except csv.Error as exc:
        raise BadInput(f"trace {source}: not a CSV ({exc})") from None
    if not rows:
        raise BadInput(f"trace {source}: no rows after the header")
    rows.sort()
    start = rows[0][0]
    span = rows[-1][0] - start
    if span > MAX_SECONDS:
        raise BadInput(f"trace {source}: spans {span / 3600:.0f}h, more than a week")
    seconds = math.floor(span) + 1
    values = [0.0] * seconds
    index = 0
    for t in range(seconds):
        while index + 1 < len(rows) and rows[index + 1][0] - start < t + 1:
            index += 1
        values[t] = rows[index][1]
    return Trace(source=source, kind=kind, values=values)


def _csv_time(text: str, what: str) -> float:
    text = text.strip()
    try:
        value = parse_float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise BadInput(f"{what}: {text!r} is neither seconds nor an ISO 8601 time") from None
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"{what}: {text!r} must be a non-negative number of seconds")
    return value
