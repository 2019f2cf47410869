"""Go's parsers as Knative applies them."""

from __future__ import annotations

import math

import pytest

from harness.knative.goparse import (
    GoRangeError,
    format_duration,
    parse_duration,
    parse_float,
    parse_int,
)

S = 10**9


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("-0", 0),
        ("6s", 6 * S),
        ("1h30m", 5400 * S),
        ("1.5s", 1_500_000_000),
        (".5s", S // 2),
        ("1.s", S),
        ("300ms", 300_000_000),
        ("2us", 2000),
        ("2µs", 2000),
        ("-5s", -5 * S),
        ("+1m", 60 * S),
    ],
)
def test_parse_duration_accepts_go_syntax(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "5", "s", "1d", "1 s", ".s", "1h 2m", "-", "1e3s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_int_range_and_syntax() -> None:
    assert parse_int("+7", 32) == 7 and parse_int("-3") == -3
    with pytest.raises(GoRangeError):
        parse_int("2147483648", 32)
    for bad in ["", "1_0", " 1", "1.0", "0x10"]:
        with pytest.raises(ValueError):
            parse_int(bad)


def test_parse_float_go_grammar() -> None:
    assert parse_float("1e2") == 100.0
    assert parse_float(".5") == 0.5
    assert parse_float("0x1p-2") == 0.25
    assert math.isinf(parse_float("+Inf"))
    assert math.isnan(parse_float("NaN"))
    for bad in ["", "1_000", " 1", "1e400", "abc", "1.2.3"]:
        with pytest.raises(ValueError):
            parse_float(bad)


def test_format_duration_like_go() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(6 * S) == "6s"
    assert format_duration(3600 * S) == "1h0m0s"
    assert format_duration(90 * S) == "1m30s"
