"""Sentences are rendered from a metric verdict's data, one per metric."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from analysis import ArmSnapshot, Histogram, MetricStatus, SequentialJudge
from analysis.explain import metric_sentence


def _verdict() -> SequentialJudge:
    rng = np.random.default_rng(9)
    judge = SequentialJudge()
    hb, hc = Histogram.empty(), Histogram.empty()
    for look in range(1, 4):
        hb.record_many(rng.lognormal(math.log(50.0), 0.5, 300))
        hc.record_many(rng.lognormal(math.log(50.0), 0.5, 300))
        judge.update(ArmSnapshot(300 * look, 3 * look, hb), ArmSnapshot(300 * look, 3 * look, hc))
    return judge


def test_each_sentence_says_what_at_which_unit_and_why() -> None:
    verdict = _verdict().last_verdict
    assert verdict is not None
    lines = verdict.explain().splitlines()
    assert len(lines) == 1 + len(verdict.metrics)
    for metric, line in zip(verdict.metrics, lines[1:], strict=True):
        assert line == metric.explanation == metric_sentence(metric)
        assert line.startswith(f"{metric.name}: ") and "compared" in line
        assert "over 3 looks" in line  # the unit
        assert line.endswith(("keep watching.", "good enough to promote.", "roll back."))


def test_the_sentence_follows_the_data_not_the_statistics() -> None:
    verdict = _verdict().last_verdict
    assert verdict is not None
    median = verdict.metric("latency_median")
    rolled = replace(
        median, status=MetricStatus.REGRESSION, lower=1.031, max_e_value=75.0, tolerance=1.02
    )
    text = metric_sentence(rolled)
    assert "at least 103.1%" in text and "e-value 75 >= 60" in text
    assert "beyond the tolerated 102.0%, roll back." in text
    spread = metric_sentence(replace(median, dispersion=3.4))
    assert "their spread 3.4x what independent requests would give" in spread
