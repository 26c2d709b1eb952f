"""Chart geometry for the inline SVG charts of the HTML and PDF reports.

Contract: `line_chart()` turns time series into a `Chart` whose every field is
display-ready (coordinates formatted as strings, tick labels, units), so the
`chart()` macro in `_macros.html.j2` only loops and prints: no arithmetic in
templates, and every piece of text goes through jinja2's autoescape (series ids
and labels come from dumps). No JS: weasyprint runs none, and the charts must
be vectors in the PDF.

Axes: x is time (UTC, seconds resolution), y starts at zero with "nice" ticks.
Restarts are drawn as dashed vertical rules labelled "restart".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Tick", "Line", "Rule", "Chart", "PALETTE", "TOTAL_COLOR", "nice_ticks", "line_chart"]

# Colour-blind-safe (Okabe-Ito), dark enough to read on white and in greyscale print.
PALETTE = ("#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7a5c00", "#000000")
TOTAL_COLOR = "#9aa0a6"  # the series total: grey, drawn under the suspects
MEMORY_COLOR = "#6a3d9a"

WIDTH = 640  # viewBox units; the SVG scales to its container
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 44  # plot margins: room for tick labels and axis titles


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """One axis tick: where, and what it says."""

    pos: str  # coordinate along the axis, formatted
    label: str  # the tick's text


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One polyline of a chart."""

    label: str  # legend text
    color: str  # from PALETTE (never from input)
    points: str  # 'x,y x,y ...' in viewBox units
    dots: tuple[tuple[str, str], ...]  # points drawn as dots (few points, or a single one)
    width: str  # stroke width
    dashed: bool = False  # lower-bound stretches, secondary lines


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A vertical marker, e.g. a restart."""

    x: str  # coordinate
    label: str  # text beside it


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """Everything the chart() macro draws."""

    title: str  # accessible name (aria-label / <title>)
    width: int  # viewBox width
    height: int  # viewBox height
    left: str  # plot area, formatted
    right: str
    top: str
    bottom: str
    x_label: str  # axis title with unit
    y_label: str  # axis title with unit
    y_label_x: str  # where the rotated y title sits
    y_label_y: str
    x_label_x: str
    x_label_y: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    x_tick_y: str  # baseline of the x tick labels
    y_tick_x: str  # right edge of the y tick labels
    lines: tuple[Line, ...]
    rules: tuple[Rule, ...] = ()
    rule_label_y: str = "0"


def _fmt(v: float) -> str:
    """Return `v` as a short coordinate string."""
    return f"{v:.1f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def nice_ticks(top: float, want: int = 5) -> list[float]:
    """Return round tick values from 0 to at least `top` (about `want` of them)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / want
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _count_label(v: float) -> str:
    """Return a y tick label for a count."""
    if v >= 10_000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def _time_ticks(t0: float, t1: float, want: int = 6) -> list[float]:
    """Return tick times (epoch seconds) at round clock steps between `t0` and `t1`."""
    span = max(t1 - t0, 1.0)
    steps = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
    step = next((s for s in steps if span / s <= want), 86400 * math.ceil(span / 86400 / want))
    first = math.ceil(t0 / step) * step
    out = []
    t = first
    while t <= t1 + 1e-6:
        out.append(t)
        t += step
    return out or [t0]


def _time_label(t: float, span: float) -> str:
    """Return a clock label for epoch seconds `t` (date shown for multi-day spans)."""
    from datetime import timezone

    d = datetime.fromtimestamp(t, tz=timezone.utc)
    if span >= 2 * 86400:
        return d.strftime("%m-%d %H:%M")
    if span >= 600:
        return d.strftime("%H:%M")
    return d.strftime("%H:%M:%S")


def line_chart(
    *,
    title: str,
    times: Sequence[datetime],
    lines: Sequence[tuple[str, Sequence[float | None], str, float]],
    y_label: str,
    restarts: Sequence[datetime] = (),
    value_label=_count_label,
    x_label: str = "time (UTC)",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Return a Chart of `lines` (label, values aligned with `times`, colour, stroke width).

    A value of None leaves a gap. `restarts` are times where a new segment starts.
    """
    epochs = [t.timestamp() for t in times]
    t0 = min(epochs) if epochs else 0.0
    t1 = max(epochs) if epochs else 1.0
    if t1 - t0 < 1.0:
        # One snapshot (or several at the same second): give the axis some width.
        t0, t1 = t0 - 30, t1 + 30
    vmax = max((v for _, vals, _, _ in lines for v in vals if v is not None), default=0)
    yt = nice_ticks(vmax)
    ytop = yt[-1] or 1.0
    x0, x1, y0, y1 = LEFT, width - RIGHT, TOP, height - BOTTOM

    def sx(t: float) -> float:
        return x0 + (t - t0) / (t1 - t0) * (x1 - x0)

    def sy(v: float) -> float:
        return y1 - v / ytop * (y1 - y0)

    out_lines = []
    for label, vals, color, stroke in lines:
        pts = [(sx(e), sy(v)) for e, v in zip(epochs, vals) if v is not None]
        dots = tuple((_fmt(x), _fmt(y)) for x, y in pts) if len(pts) <= 40 else ()
        out_lines.append(
            Line(
                label=label,
                color=color,
                points=" ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts),
                dots=dots,
                width=_fmt(stroke),
            )
        )
    span = t1 - t0
    x_ticks = tuple(Tick(pos=_fmt(sx(t)), label=_time_label(t, span)) for t in _time_ticks(t0, t1))
    y_ticks = tuple(Tick(pos=_fmt(sy(v)), label=value_label(v)) for v in yt)
    rules = tuple(Rule(x=_fmt(sx(r.timestamp())), label="restart") for r in restarts)
    return Chart(
        title=title,
        width=width,
        height=height,
        left=_fmt(x0),
        right=_fmt(x1),
        top=_fmt(y0),
        bottom=_fmt(y1),
        x_label=x_label,
        y_label=y_label,
        y_label_x="14",
        y_label_y=_fmt((y0 + y1) / 2),
        x_label_x=_fmt((x0 + x1) / 2),
        x_label_y=_fmt(height - 6),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_tick_y=_fmt(y1 + 16),
        y_tick_x=_fmt(x0 - 6),
        lines=tuple(out_lines),
        rules=rules,
        rule_label_y=_fmt(y0 + 10),
    )


def bytes_label(v: float) -> str:
    """Return a y tick label for bytes (MiB / GiB)."""
    if v >= 1024**3:
        return f"{v / 1024**3:.1f} GiB"
    if v >= 1024**2:
        return f"{v / 1024**2:g} MiB" if (v / 1024**2).is_integer() else f"{v / 1024**2:.1f} MiB"
    if v >= 1024:
        return f"{v / 1024:.0f} KiB"
    return f"{v:g} B"
