"""Small SVG line charts, drawn by hand so a report needs no script and no library.

`line_chart` draws series of (x, y) points on linear or log axes, as lines or steps,
with a legend, horizontal reference lines (thresholds), shaded x spans (e.g. the
autoscaler's panic mode) and point tooltips (``<title>``).
Every text that reaches the SVG is escaped; the result is `Markup`, safe to embed in
an HTML template with autoescaping on. Non-finite points are skipped; on a log axis,
values at or below the axis floor are drawn on the floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from markupsafe import Markup, escape

__all__ = ["HEIGHT", "PALETTE", "WIDTH", "Series", "line_chart", "linear_ticks", "log_ticks"]

WIDTH, HEIGHT = 640, 280
_LEFT, _RIGHT, _BOTTOM = 64, 20, 44
_LEGEND_ROW = 16  # px per legend row; the plot starts below the title and the legend
# Okabe & Ito's colour-blind-safe palette.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_MAX_MARKERS = 120
_MAX_X_LABELS = 8


@dataclass(frozen=True)
class Series:
    """One named line. ``step`` holds each value until the next x (traffic splits).

    ``point_labels``, one per point, name the points in tooltips (e.g. run ids).
    """

    name: str
    points: Sequence[tuple[float, float]]
    step: bool = False
    dashed: bool = False
    color: int | None = None  # palette index; default: the series' position
    markers: bool = True  # dots with a tooltip per point (up to 120 points)
    point_labels: Sequence[str] | None = None  # tooltips instead of the x value


def line_chart(
    series: Sequence[Series],
    *,
    plot_id: str,
    title: str,
    x_label: str,
    y_label: str,
    log_x: bool = False,
    log_y: bool = False,
    y_low: float | None = None,
    y_high: float | None = None,
    hlines: Sequence[tuple[float, str]] = (),
    x_tick_labels: Sequence[tuple[float, str]] | None = None,
    spans: Sequence[tuple[float, float]] = (),
    span_label: str = "",
) -> Markup:
    """An ``<svg class="plot" data-plot="{plot_id}">`` chart of the series.

    ``spans`` are (x start, x end) ranges shaded behind the lines, named ``span_label``
    in the legend and their tooltips (linear x axes only).
    ``y_low``/``y_high`` fix the y range (else it fits the data and ``hlines``);
    ``x_tick_labels`` replaces numeric x ticks with labels at those x positions (at
    most 8 shown). A chart with no finite point says "no data".
    """
    clean = [_clean(s, log_x) for s in series]
    xs = [x for s in clean for x, _ in s.points]
    ys = [y for s in clean for _, y in s.points] + [v for v, _ in hlines]
    parts = [_open_svg(plot_id, title), _text(_LEFT, 18, title, "title")]
    shaded = [
        (a, b) for a, b in spans if math.isfinite(a) and math.isfinite(b) and b > a and not log_x
    ]
    names = [s.name for s in clean] + ([span_label] if shaded and span_label else [])
    legend = _legend_layout(names)
    top = 32 + _LEGEND_ROW * (max((row for _, row in legend), default=0) + 1)
    if not xs:
        parts.append(_text(WIDTH / 2, HEIGHT / 2, "no data", "empty", anchor="middle"))
        parts.append("</svg>")
        return Markup("".join(parts))
    x_scale = _Scale.fit(xs, _LEFT, WIDTH - _RIGHT, log=log_x, nice=False)
    y_scale = _Scale.fit(ys, HEIGHT - _BOTTOM, top, log=log_y, low=y_low, high=y_high)
    parts += _axes(x_scale, y_scale, x_label, y_label, x_tick_labels)
    for start, end in shaded:
        parts.append(_span(x_scale, y_scale, start, end, span_label))
    if len(legend) > len(clean):
        x, row = legend[-1]
        parts.append(_span_legend_entry(x, 32 + _LEGEND_ROW * row, span_label))
    for value, label in hlines:
        parts.append(_hline(y_scale, value, label))
    for index, (line, (x, row)) in enumerate(zip(clean, legend[: len(clean)], strict=True)):
        color = PALETTE[(index if line.color is None else line.color) % len(PALETTE)]
        parts.append(_legend_entry(x, 32 + _LEGEND_ROW * row, line.name, color, line.dashed))
        if line.points:
            parts.append(_path(line, x_scale, y_scale, color))
            if line.markers and len(line.points) <= _MAX_MARKERS:
                parts += _markers(line, x_scale, y_scale, color)
    parts.append("</svg>")
    return Markup("".join(parts))


def linear_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 x 10^k apart) covering [low, high]."""
    if high <= low:
        return [low]
    step = _nice_step((high - low) / count)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten within [low, high] (at most 8, thinned evenly), or 1-2-5 steps when the
    range spans two decades or less; low must be > 0."""
    first, last = math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high) + 1e-9)
    exponents = list(range(first, last + 1))
    if len(exponents) < 3:
        # Two decades or less: 1-2-5 ticks read better than one or two powers of ten.
        candidates = [
            round(m * 10.0**e, 12)
            for e in range(first - 1, last + 1)
            for m in (1, 2, 5)
            if low * (1 - 1e-9) <= m * 10.0**e <= high * (1 + 1e-9)
        ]
        if len(candidates) >= 2:
            return candidates
        return [t for t in linear_ticks(low, high) if t > 0]
    stride = math.ceil(len(exponents) / 8)
    return [10.0**e for e in exponents[::stride]]


# ----------------------------------------------------------------- scales
@dataclass(frozen=True)
class _Scale:
    low: float
    high: float
    pixel_low: float
    pixel_high: float
    log: bool

    @classmethod
    def fit(
        cls,
        values: Sequence[float],
        pixel_low: float,
        pixel_high: float,
        *,
        log: bool,
        low: float | None = None,
        high: float | None = None,
        nice: bool = True,
    ) -> _Scale:
        """The range of ``values`` (``low``/``high`` fix an end); ``nice`` widens a free end
        to a round value (y axes), else the axis ends at the data (x axes)."""
        data = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
        lo = low if low is not None else min(data, default=1.0)
        hi = high if high is not None else max(data, default=lo)
        if log:
            lo, hi = max(lo, 1e-12), max(hi, 1e-12)
            if hi <= lo:
                lo, hi = lo / 10, hi * 10
            if low is None and nice:
                lo = 10.0 ** math.floor(math.log10(lo) + 1e-9)
            if high is None and nice:
                hi = 10.0 ** math.ceil(math.log10(hi) - 1e-9)
        else:
            if hi <= lo:
                pad = abs(lo) * 0.1 or 1.0
                lo, hi = lo - (pad if low is None else 0), hi + pad
            step = _nice_step((hi - lo) / 5)
            if low is None and nice:
                lo = math.floor(lo / step + 1e-9) * step
            if high is None and nice:
                hi = math.ceil(hi / step - 1e-9) * step
        return cls(lo, hi, pixel_low, pixel_high, log)

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.low)
            fraction = math.log10(value / self.low) / math.log10(self.high / self.low)
        else:
            fraction = (value - self.low) / (self.high - self.low)
        fraction = min(max(fraction, -0.02), 1.02)
        return self.pixel_low + fraction * (self.pixel_high - self.pixel_low)

    def ticks(self, count: int = 5) -> list[float]:
        if self.log:
            return log_ticks(self.low, self.high)
        return linear_ticks(self.low, self.high, count)


def _nice_step(rough: float) -> float:
    if rough <= 0 or not math.isfinite(rough):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        if rough <= factor * magnitude * (1 + 1e-9):
            return factor * magnitude
    return 10 * magnitude


def _clean(series: Series, log_x: bool) -> Series:
    """The series without non-finite points (and x <= 0 on a log x axis), labels kept."""
    labels: Sequence[str | None] = series.point_labels or [None] * len(series.points)
    kept = [
        ((float(x), float(y)), label)
        for (x, y), label in zip(series.points, labels, strict=True)
        if x is not None
        and y is not None
        and math.isfinite(x)
        and math.isfinite(y)
        and (x > 0 or not log_x)
    ]
    return replace(
        series,
        points=[point for point, _ in kept],
        point_labels=None if series.point_labels is None else [str(lb) for _, lb in kept],
    )


# ----------------------------------------------------------------- drawing
def _open_svg(plot_id: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{escape(plot_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect class="bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/>'
    )


def _text(
    x: float, y: float, text: str, css: str, anchor: str = "start", rotate: bool = False
) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{transform}>'
        f"{escape(text)}</text>"
    )


def _axes(
    x_scale: _Scale,
    y_scale: _Scale,
    x_label: str,
    y_label: str,
    x_tick_labels: Sequence[tuple[float, str]] | None,
) -> list[str]:
    top, bottom = y_scale.pixel_high, HEIGHT - _BOTTOM
    left, right = _LEFT, WIDTH - _RIGHT
    parts = [
        f'<rect class="frame" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>'
    ]
    for tick in y_scale.ticks():
        y = y_scale(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(left - 6, y + 4, _format_number(tick), "tick", anchor="end"))
    if x_tick_labels is not None:
        stride = max(1, math.ceil(len(x_tick_labels) / _MAX_X_LABELS))
        labelled = list(x_tick_labels)[::stride]
    else:
        # The x axis is wider than tall and ends at the data: room for more ticks.
        labelled = [(tick, _format_number(tick)) for tick in x_scale.ticks(count=8)]
    for position, label in labelled:
        x = x_scale(position)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>')
        parts.append(_text(x, bottom + 16, label, "tick", anchor="middle"))
    parts.append(_text((left + right) / 2, HEIGHT - 8, x_label, "axis", anchor="middle"))
    parts.append(_text(16, (top + bottom) / 2, y_label, "axis", anchor="middle", rotate=True))
    return parts


def _hline(y_scale: _Scale, value: float, label: str) -> str:
    y = y_scale(value)
    return (
        f'<g class="hline"><line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        + _text(WIDTH - _RIGHT - 4, y - 4, label, "hline-label", anchor="end")
        + "</g>"
    )


_SPAN_COLOR = PALETTE[3]


def _span(x_scale: _Scale, y_scale: _Scale, start: float, end: float, label: str) -> str:
    left, right = x_scale(start), x_scale(end)
    top, bottom = y_scale.pixel_high, HEIGHT - _BOTTOM
    tip = f"{label}: " if label else ""
    return (
        f'<rect class="span" x="{left:.1f}" y="{top:.1f}" width="{max(right - left, 1.0):.1f}" '
        f'height="{bottom - top:.1f}" fill="{_SPAN_COLOR}" fill-opacity="0.18">'
        f"<title>{escape(tip)}{_format_number(start)}-{_format_number(end)}</title></rect>"
    )


def _span_legend_entry(x: float, y: float, name: str) -> str:
    return (
        f'<g class="legend"><rect x="{x:.1f}" y="{y - 9:.1f}" width="18" height="10" '
        f'fill="{_SPAN_COLOR}" fill-opacity="0.35"/>'
        + _text(x + 24, y, name, "legend-label")
        + "</g>"
    )


def _legend_layout(names: Sequence[str]) -> list[tuple[float, int]]:
    """(x, row) of each legend entry, wrapping rows at the right edge."""
    placed: list[tuple[float, int]] = []
    x, row = float(_LEFT), 0
    for name in names:
        width = 30 + 6.5 * len(name)
        if x + width > WIDTH - _RIGHT and x > _LEFT:
            x, row = float(_LEFT), row + 1
        placed.append((x, row))
        x += width + 12
    return placed


def _legend_entry(x: float, y: float, name: str, color: str, dashed: bool) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    return (
        f'<g class="legend"><line x1="{x:.1f}" x2="{x + 18:.1f}" y1="{y - 4}" y2="{y - 4}" '
        f'stroke="{color}" stroke-width="2.5"{dash}/>'
        + _text(x + 24, y, name, "legend-label")
        + "</g>"
    )


def _path(line: Series, x_scale: _Scale, y_scale: _Scale, color: str) -> str:
    points = sorted(line.points)
    commands = []
    for index, (x, y) in enumerate(points):
        px, py = x_scale(x), y_scale(y)
        if index == 0:
            commands.append(f"M{px:.1f} {py:.1f}")
        elif line.step:
            commands.append(f"H{px:.1f} V{py:.1f}")
        else:
            commands.append(f"L{px:.1f} {py:.1f}")
    dash = ' stroke-dasharray="5 3"' if line.dashed else ""
    return (
        f'<path class="series" data-series="{escape(line.name)}" d="{" ".join(commands)}" '
        f'fill="none" stroke="{color}" stroke-width="2"{dash}/>'
    )


def _markers(line: Series, x_scale: _Scale, y_scale: _Scale, color: str) -> list[str]:
    labels = line.point_labels or [_format_number(x) for x, _ in line.points]
    return [
        f'<circle class="point" cx="{x_scale(x):.1f}" cy="{y_scale(y):.1f}" r="2.5" '
        f'fill="{color}"><title>{escape(line.name)}: {escape(label)}, '
        f"{_format_number(y)}</title></circle>"
        for (x, y), label in zip(line.points, labels, strict=True)
    ]


def _format_number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if magnitude >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:.3g}"
