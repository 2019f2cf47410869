"""E-processes: closed forms, bisection, and their guarantees checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from analysis.eprocess import (
    LikelihoodGrid,
    LogShiftEProcess,
    ProportionBounds,
    ProportionEProcess,
    RateRatioEProcess,
)
from analysis.eprocess.log_shift import BatchMoments, log_truncated_normal_mixture

LOG_20 = math.log(20.0)


def test_grid_contains_zero_and_flat_likelihood_gives_e_value_at_most_one() -> None:
    grid = LikelihoodGrid(-1.0, 2.0, 0.1)
    assert grid.theta[grid.zero_index] == 0.0
    kernel = grid.kernel(np.ones(10))
    assert grid.log_e_value_at(grid.zero_index, np.log(kernel), side=+1) == pytest.approx(0.0)


def test_grid_bounds_by_search_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        process = RateRatioEProcess()
        for _ in range(int(rng.integers(1, 30))):
            rate = rng.uniform(0.001, 0.05)
            process.update(
                int(rng.binomial(300, rate)),
                int(rng.binomial(300, rate * rng.uniform(0.3, 3.0))),
                300,
                300,
            )
        grid = process.grid
        below = grid.log_e_values(process.bound_kernel, side=-1)
        accepted = np.flatnonzero(below < LOG_20)
        expected_upper = (
            math.inf if accepted[-1] + 1 >= len(grid.theta) else grid.theta[accepted[-1] + 1]
        )
        hint = int(rng.integers(0, len(grid.theta)))
        assert grid.upper_bound(LOG_20, np.log(process.bound_kernel), hint) == expected_upper
        above = grid.log_e_values(process.alt_kernel, side=+1)
        accepted = np.flatnonzero(above < LOG_20)
        expected_lower = -math.inf if accepted[0] == 0 else grid.theta[accepted[0] - 1]
        assert grid.lower_bound(LOG_20, np.log(process.alt_kernel), hint) == expected_lower
        j = int(rng.integers(0, len(grid.theta) - 1))
        assert grid.log_e_value_at(j, np.log(process.alt_kernel), +1) == pytest.approx(above[j])


def test_rate_ratio_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        RateRatioEProcess().update(5, 0, 4, 10)
    with pytest.raises(ValueError):
        RateRatioEProcess(margin=1.0)


def test_rate_ratio_ignores_looks_where_the_arm_of_events_is_certain() -> None:
    process = RateRatioEProcess()
    process.update(0, 7, 0, 100)
    assert process.log_e_value == pytest.approx(0.0, abs=1e-9)


def _rate_ratio_run(
    rng: np.random.Generator, p_base: float, ratio: float, looks: int, shares: bool
) -> RateRatioEProcess:
    process = RateRatioEProcess()
    for look in range(looks):
        n_c = 50 + 100 * (look % 4) if shares else 200  # the split changes between looks
        n_b = 200
        process.update(
            int(rng.binomial(n_b, p_base)), int(rng.binomial(n_c, p_base * ratio)), n_b, n_c
        )
    return process


def test_rate_ratio_e_process_false_alarms_stay_below_alpha_with_changing_split() -> None:
    rng = np.random.default_rng(11)
    runs, alarms = 400, 0
    for _ in range(runs):
        process = RateRatioEProcess()
        for look in range(60):
            n_c = 50 + 100 * (look % 4)
            process.update(int(rng.binomial(200, 0.02)), int(rng.binomial(n_c, 0.02)), 200, n_c)
            if process.log_e_value >= LOG_20:
                alarms += 1
                break
    assert alarms / runs <= 0.05 + 0.02


def test_rate_ratio_detects_doubled_rate() -> None:
    rng = np.random.default_rng(12)
    detected = sum(
        _rate_ratio_run(rng, 0.01, 2.0, looks=60, shares=False).log_e_value >= LOG_20
        for _ in range(50)
    )
    assert detected >= 45


def test_rate_ratio_upper_bound_covers_the_truth_at_all_looks() -> None:
    rng = np.random.default_rng(13)
    runs, misses = 150, 0
    for _ in range(runs):
        process = RateRatioEProcess()
        for _ in range(40):
            process.update(int(rng.binomial(300, 0.02)), int(rng.binomial(300, 0.03)), 300, 300)
            if process.upper_bound(0.05) < 1.5 or process.lower_bound(0.05) > 1.5:
                misses += 1
                break
    assert misses / runs <= 0.1 + 0.03


@pytest.mark.parametrize(
    ("score", "info", "center", "width"), [(3.0, 10.0, 0.0, 0.5), (-2.0, 40.0, -0.2, 0.1)]
)
def test_log_truncated_normal_mixture_matches_numerical_integration(
    score: float, info: float, center: float, width: float
) -> None:
    side = -1.0 if center < 0 else 1.0
    mu = abs(center)

    def prior(x: float) -> float:
        return math.exp(-0.5 * ((x - mu) / width) ** 2) / (width * math.sqrt(2 * math.pi))

    value, _ = integrate.quad(
        lambda x: math.exp(side * x * score - x * x * info / 2) * prior(x), 0, 10
    )
    mass, _ = integrate.quad(prior, 0.0, 10.0)
    assert log_truncated_normal_mixture(score, info, center, width) == pytest.approx(
        math.log(value / mass), rel=1e-6
    )


def _batch(rng: np.random.Generator, n: int, shift: float) -> BatchMoments:
    x = rng.normal(math.log(50) + shift, 0.5, n)
    return BatchMoments(n, float(x.mean()), float(x.var()))


def test_log_shift_false_alarms_stay_below_alpha() -> None:
    rng = np.random.default_rng(21)
    runs, alarms = 300, 0
    for _ in range(runs):
        process = LogShiftEProcess()
        for _ in range(50):
            process.update(_batch(rng, 200, 0.0), _batch(rng, 200, 0.0))
            if process.log_e_value >= LOG_20:
                alarms += 1
                break
    assert alarms / runs <= 0.05 + 0.02


def test_log_shift_detects_ten_percent_slowdown_and_bounds_cover() -> None:
    rng = np.random.default_rng(22)
    process = LogShiftEProcess()
    for _ in range(10):
        process.update(_batch(rng, 200, 0.0), _batch(rng, 200, math.log(1.1)))
    assert process.log_e_value >= LOG_20
    assert process.lower_bound(0.05) <= 1.1 <= process.upper_bound(0.05)
    assert process.estimate == pytest.approx(1.1, rel=0.05)


def test_log_shift_upper_bound_coverage() -> None:
    rng = np.random.default_rng(23)
    runs, misses = 200, 0
    for _ in range(runs):
        process = LogShiftEProcess()
        for _ in range(30):
            process.update(_batch(rng, 200, 0.0), _batch(rng, 200, 0.03))
            if process.upper_bound(0.05) < math.exp(0.03):
                misses += 1
                break
    assert misses / runs <= 0.05 + 0.03


def test_proportion_bounds_cover_the_rate_at_all_times() -> None:
    rng = np.random.default_rng(31)
    bounds = ProportionBounds()
    runs, misses = 200, 0
    for _ in range(runs):
        events = trials = 0
        for _ in range(40):
            events += int(rng.binomial(250, 0.01))
            trials += 250
            if not bounds.lower(events, trials, 0.05) <= 0.01 <= bounds.upper(events, trials, 0.05):
                misses += 1
                break
    assert misses / runs <= 0.05 + 0.03


def test_proportion_bounds_edge_cases() -> None:
    bounds = ProportionBounds()
    assert bounds.upper(0, 0, 0.05) == 1.0
    assert bounds.lower(0, 1000, 0.05) == 0.0
    assert bounds.upper(0, 20_000, 0.0125) < 0.001
    assert bounds.upper(10, 10, 0.05) == 1.0
    with pytest.raises(ValueError):
        bounds.upper(3, 2, 0.05)


def test_slo_e_process_is_valid_at_the_slo_and_detects_double_the_rate() -> None:
    rng = np.random.default_rng(32)
    runs, alarms = 300, 0
    for _ in range(runs):
        process = ProportionEProcess(0.01)
        for _ in range(50):
            process.update(int(rng.binomial(200, 0.01)), 200)
            if process.log_e_value >= LOG_20:
                alarms += 1
                break
    assert alarms / runs <= 0.05 + 0.02
    bad = ProportionEProcess(0.01)
    bad.update(int(rng.binomial(10_000, 0.02)), 10_000)
    assert bad.log_e_value >= LOG_20


def test_rate_ratio_upper_bound_at_the_default_margin_rarely_falls_under_it() -> None:
    # A canary with exactly twice the baseline's rate (the judge's default margin): the
    # bound, whose prior is centred on that margin, may fall under 2 in <= 5% of runs.
    rng = np.random.default_rng(14)
    runs, under = 200, 0
    for _ in range(runs):
        process = RateRatioEProcess(margin=2.0)
        for _ in range(60):
            process.update(int(rng.binomial(300, 0.005)), int(rng.binomial(300, 0.01)), 300, 300)
            if process.upper_bound(0.05) < 2.0:
                under += 1
                break
    assert under / runs <= 0.05 + 0.03


def test_rate_ratio_with_a_tolerance_stays_valid_at_its_edge_and_still_detects() -> None:
    # H0: rho <= 1.3. A canary exactly 1.3x worse alarms in <= alpha of the runs (the
    # split changes every look); a doubled rate is still caught.
    rng = np.random.default_rng(15)
    runs, alarms = 300, 0
    for _ in range(runs):
        process = RateRatioEProcess(tolerance=1.3)
        for look in range(60):
            n_c = 100 + 100 * (look % 3)
            process.update(int(rng.binomial(300, 0.02)), int(rng.binomial(n_c, 0.026)), 300, n_c)
            if process.log_e_value >= LOG_20:
                alarms += 1
                break
    assert alarms / runs <= 0.05 + 0.02
    doubled = [RateRatioEProcess(tolerance=1.3) for _ in range(40)]
    for process in doubled:
        for _ in range(60):
            process.update(int(rng.binomial(300, 0.02)), int(rng.binomial(300, 0.04)), 300, 300)
    assert sum(p.log_e_value >= LOG_20 for p in doubled) >= 36


def test_rate_ratio_tolerance_one_is_the_plain_test() -> None:
    rng = np.random.default_rng(16)
    plain, tolerant = RateRatioEProcess(), RateRatioEProcess(tolerance=1.0)
    for _ in range(10):
        counts = (int(rng.binomial(300, 0.02)), int(rng.binomial(300, 0.03)), 300, 300)
        plain.update(*counts)
        tolerant.update(*counts)
    assert tolerant.log_e_value == plain.log_e_value


def test_log_shift_with_a_tolerance_stays_valid_at_its_edge_and_still_detects() -> None:
    rng = np.random.default_rng(24)
    runs, alarms = 300, 0
    for _ in range(runs):
        process = LogShiftEProcess(tolerance=1.02)
        for _ in range(50):
            process.update(_batch(rng, 200, 0.0), _batch(rng, 200, math.log(1.02)))
            if process.log_e_value >= LOG_20:
                alarms += 1
                break
    assert alarms / runs <= 0.05 + 0.02
    process = LogShiftEProcess(tolerance=1.02)
    for _ in range(20):
        process.update(_batch(rng, 200, 0.0), _batch(rng, 200, math.log(1.1)))
    assert process.log_e_value >= LOG_20
    with pytest.raises(ValueError):
        LogShiftEProcess(tolerance=0.9)
