"""Trace parsing without processes: shapes, CSV resampling, a perf run's load series."""

from __future__ import annotations

import pytest

from harness.autoscale.trace import parse_csv, parse_seconds, synthetic
from harness.errors import BadInput
from harness.perf.load_series import load_series


def test_shapes() -> None:
    steady = synthetic("steady:concurrency=100,duration=5m")
    assert (steady.kind, steady.seconds, set(steady.values)) == ("concurrency", 300, {100.0})
    ramp = synthetic("ramp:rps=10..500,duration=50s")
    assert ramp.values[0] == 10 and ramp.values[-1] == pytest.approx(500)
    spike = synthetic("spike:rps=50,peak=800,at=1m,width=30s,duration=3m")
    assert spike.values[59] == 50 and spike.values[60] == 800 and spike.values[89] == 800
    assert spike.values[90] == 50
    day = synthetic("diurnal:rps=20..400,period=24h,duration=24h")
    assert day.seconds == 86400 and day.values[0] == pytest.approx(20)
    assert day.values[43200] == pytest.approx(400)
    assert parse_seconds("1h30m", "x") == 5400 and parse_seconds("90", "x") == 90


@pytest.mark.parametrize(
    "spec",
    [
        "steady:rps=1",
        "steady:rps=1,duration=0s",
        "steady:rps=1,duration=8d",
        "ramp:rps=5,duration=1m",
        "spike:rps=1,duration=1m,color=red",
        "diurnal:rps=1..2,duration=1m,period=0s",
        "steady:rps=nan,duration=1m",
        "steady:rps",
    ],
)
def test_bad_shapes_are_bad_input(spec: str) -> None:
    with pytest.raises(BadInput):
        synthetic(spec)


def test_csv_is_resampled_to_seconds_holding_values() -> None:
    trace = parse_csv("time,rps\n10,5\n0,1\n12.5,7\n", "t.csv")
    assert trace.kind == "rps" and trace.values == [1.0] * 10 + [5.0, 5.0, 7.0]
    iso = parse_csv(
        "timestamp,in_flight\n2026-12-01T00:00:00Z,3\n2026-12-01T00:00:02Z,4\n", "i.csv"
    )
    assert iso.kind == "concurrency" and iso.values == [3.0, 3.0, 4.0]
    for bad in ("", "a,b\n1,2\n", "time,rps\n", "time,rps\n0,-1\n", "time,rps\nx,1\n"):
        with pytest.raises(BadInput):
            parse_csv(bad, "bad.csv")


def test_load_series_interpolates_polls_into_seconds() -> None:
    # Polls every 0.5 s: 10 requests/s, each taking 200 ms (2 in flight).
    samples = [(t / 2, 5.0 * t, 5.0 * t * 200.0) for t in range(0, 21)]
    series = load_series(samples, 2.0, 10.0)
    assert series is not None
    assert series["rps"] == [10.0] * 8 and series["concurrency"] == [2.0] * 8
    assert series["mean_latency_s"] == pytest.approx(0.2)
    assert load_series(samples[:1], 0.0, 5.0) is None
