"""Sample-ratio guard: silent on the configured split, loud on a skewed one."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.srm import SampleRatioGuard


def test_guard_rarely_flags_the_configured_split() -> None:
    rng = np.random.default_rng(41)
    runs, flagged = 300, 0
    for _ in range(runs):
        guard = SampleRatioGuard(alpha=0.05)
        counts = np.zeros(2, dtype=np.int64)
        for _ in range(50):
            counts += rng.multinomial(400, [0.9, 0.1])
            if guard.update(counts.tolist(), [0.9, 0.1]).mismatch:
                flagged += 1
                break
    assert flagged / runs <= 0.05 + 0.02


def test_guard_flags_a_skewed_split() -> None:
    rng = np.random.default_rng(42)
    guard = SampleRatioGuard()
    counts = np.zeros(2, dtype=np.int64)
    result = None
    for _ in range(100):
        counts += rng.multinomial(1000, [0.52, 0.48])
        result = guard.update(counts.tolist(), [0.5, 0.5])
    assert result is not None and result.mismatch
    assert result.observed_shares[0] == pytest.approx(0.52, abs=0.01)


def test_guard_follows_traffic_steps_without_false_alarm() -> None:
    rng = np.random.default_rng(43)
    guard = SampleRatioGuard(alpha=0.01)
    counts = np.zeros(2, dtype=np.int64)
    for share in (0.01, 0.05, 0.25, 0.5):
        for _ in range(20):
            counts += rng.multinomial(500, [1 - share, share])
            result = guard.update(counts.tolist(), [1 - share, share])
    assert not result.mismatch


def test_guard_flags_traffic_to_an_arm_expected_to_get_none() -> None:
    guard = SampleRatioGuard()
    assert guard.update([100, 1], [1.0, 0.0]).mismatch


def test_guard_is_idempotent_and_rejects_counter_resets() -> None:
    guard = SampleRatioGuard()
    first = guard.update([480, 520], [0.5, 0.5])
    assert guard.update([480, 520], [0.5, 0.5]).e_value == pytest.approx(first.e_value)
    with pytest.raises(ValueError, match="decreased"):
        guard.update([400, 520], [0.5, 0.5])
    with pytest.raises(ValueError):
        guard.update([480, 520], [0.6, 0.6])


def test_result_serialises() -> None:
    data = SampleRatioGuard().update([10, 10], [0.5, 0.5]).to_dict()
    assert data["mismatch"] is False and data["expected_shares"] == [0.5, 0.5]
