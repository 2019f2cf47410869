"""E-processes: closed forms and their guarantees checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from analysis.eprocess import ProportionBounds, ProportionEProcess
from analysis.eprocess.blocks import log_mixture, log_truncated_normal_mixture

LOG_20 = math.log(20.0)


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


def test_vectorised_mixture_agrees_with_the_closed_form_for_one_value() -> None:
    score = np.array([3.0, -2.0, 0.5])
    info = np.array([10.0, 40.0, 2.0])
    center = np.array([0.0, -0.2, 0.3])
    width = np.array([0.5, 0.1, 0.2])
    vectorised = log_mixture(score, info, center, width)
    for i in range(3):
        assert vectorised[i] == pytest.approx(
            log_truncated_normal_mixture(score[i], info[i], center[i], width[i]), rel=1e-12
        )
