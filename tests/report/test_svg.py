"""The hand-drawn SVG charts: valid XML, escaped text, sane axes."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from analysis import Histogram
from harness.report.plots import cdf_points
from harness.report.svg import Series, line_chart, linear_ticks, log_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def _find(element: ET.Element, path: str) -> ET.Element:
    found = element.find(path)
    assert found is not None, path
    return found


def _attr(element: ET.Element, name: str) -> str:
    value = element.get(name)
    assert value is not None, name
    return value


def test_a_chart_is_an_svg_with_one_path_per_series_and_a_legend() -> None:
    svg = _parse(
        line_chart(
            [Series("baseline", [(0, 1), (1, 2), (2, 3)]), Series("canary", [(0, 2), (2, 5)])],
            plot_id="demo",
            title="Demo",
            x_label="x",
            y_label="y",
        )
    )
    assert svg.tag == f"{SVG}svg" and svg.get("data-plot") == "demo"
    paths = svg.findall(f".//{SVG}path")
    assert [p.get("data-series") for p in paths] == ["baseline", "canary"]
    legend = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "legend-label"]
    assert legend == ["baseline", "canary"]
    assert len(svg.findall(f".//{SVG}circle")) == 5


def test_text_from_outside_is_escaped_inside_the_svg() -> None:
    markup = str(
        line_chart(
            [Series('<script>alert("x")</script>', [(0, 1), (1, 2)], point_labels=["<b>", "&"])],
            plot_id='"><script>',
            title="<img src=x onerror=alert(1)>",
            x_label="</text>",
            y_label="y",
            hlines=[(1.5, "<i>limit</i>")],
        )
    )
    assert "<script" not in markup and "<img" not in markup and "<i>" not in markup
    svg = _parse(markup)
    assert svg.get("data-plot") == '"><script>'
    assert _find(svg, f"{SVG}title").text == "<img src=x onerror=alert(1)>"


def test_step_series_draw_horizontal_then_vertical_segments() -> None:
    svg = _parse(
        line_chart(
            [Series("share", [(0, 1), (30, 5), (60, 50)], step=True)],
            plot_id="traffic",
            title="t",
            x_label="s",
            y_label="%",
            y_low=0,
            y_high=100,
        )
    )
    d = _attr(_find(svg, f".//{SVG}path"), "d")
    assert d.startswith("M") and d.count("H") == 2 and d.count("V") == 2 and "L" not in d


def test_log_axis_skips_nothing_finite_and_draws_the_threshold() -> None:
    svg = _parse(
        line_chart(
            [Series("p99", [(1, 0.0), (2, 1e-9), (3, 5.0), (4, math.inf), (5, 800.0)])],
            plot_id="evalues",
            title="e",
            x_label="t",
            y_label="e",
            log_y=True,
            y_low=0.01,
            hlines=[(60.0, "roll back at 60")],
        )
    )
    assert len(svg.findall(f".//{SVG}circle")) == 4  # inf dropped; 0 and 1e-9 sit on the floor
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "0.01" in labels and "1k" in labels
    assert svg.find(f".//{SVG}g[@class='hline']") is not None
    for circle in svg.findall(f".//{SVG}circle"):
        assert 0 <= float(_attr(circle, "cy")) <= 280


def test_a_chart_without_data_says_so() -> None:
    svg = _parse(
        line_chart(
            [Series("a", [(float("nan"), 1.0)])], plot_id="e", title="t", x_label="", y_label=""
        )
    )
    assert any(t.text == "no data" for t in svg.iter(f"{SVG}text"))
    assert svg.findall(f".//{SVG}path") == []


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0, 100), (3.2, 17.9), (-5, 5), (0, 0.0023)])
def test_linear_ticks_are_round_and_cover_the_range(low: float, high: float) -> None:
    ticks = linear_ticks(low, high)
    assert 3 <= len(ticks) <= 11
    assert all(low - 1e-9 <= t <= high + 1e-9 for t in ticks)
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5))


def test_log_ticks_are_powers_of_ten_and_at_most_eight() -> None:
    assert log_ticks(0.01, 1000) == [0.01, 0.1, 1, 10, 100, 1000]
    assert len(log_ticks(1e-12, 1e12)) <= 8
    assert all(t > 0 for t in log_ticks(2, 7))


def test_cdf_points_rise_to_one_over_increasing_latencies() -> None:
    rng = np.random.default_rng(1)
    hist = Histogram.from_samples(rng.lognormal(np.log(20), 0.5, 20_000))
    points = cdf_points(hist.to_dict())
    xs, ys = zip(*points, strict=True)
    assert len(points) <= 400
    assert all(b > a for a, b in itertools.pairwise(xs))
    assert all(b >= a for a, b in itertools.pairwise(ys))
    assert ys[-1] == 1.0 and ys[0] <= 0.01
    median_x = next(x for x, y in points if y >= 0.5)
    assert 19 < median_x < 21.5
    assert cdf_points(Histogram.empty().to_dict()) == []


def test_the_x_axis_ends_at_the_data_and_narrow_log_ranges_get_1_2_5_ticks() -> None:
    def ticks_and_points(points: list[tuple[float, float]], log_x: bool) -> tuple[list, list]:
        svg = _parse(
            line_chart(
                [Series("s", points)], plot_id="p", title="t", x_label="x", y_label="y", log_x=log_x
            )
        )
        labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
        xs = [float(_attr(c, "cx")) for c in svg.findall(f".//{SVG}circle")]
        return labels, xs

    labels, xs = ticks_and_points([(1.8, 0.0), (5.0, 0.5), (16.0, 1.0)], log_x=True)
    assert {"2", "5", "10"} <= set(labels) and "100" not in labels and "1" not in labels[-3:]
    assert xs[0] == pytest.approx(64) and xs[-1] == pytest.approx(620)  # frame's left, right
    labels, xs = ticks_and_points([(0.0, 1.0), (118.0, 2.0)], log_x=False)
    assert "150" not in labels and {"0", "20", "100"} <= set(labels)
    assert xs == pytest.approx([64, 620])


def test_log_ticks_in_two_decades_or_less_are_1_2_5() -> None:
    assert log_ticks(1.8, 16) == [2, 5, 10]
    assert log_ticks(2, 7) == [2, 5]
    assert log_ticks(0.5, 300) == [1, 10, 100]
