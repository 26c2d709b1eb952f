"""Chart geometry for the inline SVG charts of the HTML and PDF reports.

Contract: `line_chart()` turns time series into a `Chart` whose every field is
display-ready (coordinates formatted as strings, tick labels, units), so the
`chart()` macro in `_macros.html.j2` only loops and prints: no arithmetic in
templates, and every piece of text goes through jinja2's autoescape (series ids
and labels come from dumps). No JS: weasyprint runs none, and the charts must
be vectors in the PDF.

Axes: x is time (UTC, seconds resolution), y starts at zero with "nice" ticks;
the labels of the first and last x ticks are anchored inward so neither is cut
by the chart's edge. Events are vertical rules with a label: a restart (red,
dashed), a crash dump taken (dark, dotted), a goroutineleak profile run
(purple, dash-dot); labels of rules close together are stacked, not overprinted.
A line whose values equal an earlier line's is drawn dashed over it, and
`same_as` names that line, so two identical series never hide each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Tick", "Line", "Rule", "Chart", "PALETTE", "TOTAL_COLOR", "EVENTS", "nice_ticks", "line_chart"]

# Colour-blind-safe (Okabe-Ito), dark enough to read on white and in greyscale print.
PALETTE = ("#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7a5c00", "#000000")
TOTAL_COLOR = "#9aa0a6"  # the series total: grey, drawn under the suspects
MEMORY_COLOR = "#6a3d9a"

WIDTH = 640  # viewBox units; the SVG scales to its container
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 44  # plot margins: room for tick labels and axis titles


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One polyline of a chart."""

    label: str  # legend text
    color: str  # from PALETTE (never from input)
    points: str  # 'x,y x,y ...' in viewBox units
    dots: tuple[tuple[str, str], ...]  # points drawn as dots (few points, or a single one)
    width: str  # stroke width
    dashed: bool = False  # drawn dashed: it lies on an earlier line of the same values
    same_as: str | None = None  # label of the earlier line with the same values


# event -> (colour, dash pattern) of its rule
EVENTS = {
    "restart": ("#b00020", "5 3"),
    "crash dump": ("#3c4043", "2 2"),
    "goroutineleak profile": ("#6a1b9a", "6 2 2 2"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """One axis tick: where, and what it says."""

    pos: str  # coordinate along the axis, formatted
    label: str  # the tick's text
    anchor: str = "middle"  # text-anchor: start / end at the plot's edges, so the label is not cut


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A vertical marker of an event: a restart, a crash dump, a goroutineleak profile."""

    x: str  # coordinate
    label: str  # text beside it (a key of EVENTS)
    color: str  # stroke and text colour (from EVENTS, never from input)
    dash: str  # stroke-dasharray
    label_y: str  # baseline of its label (stacked when rules are close)
    anchor: str = "start"  # label left of the rule near the right edge


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


def _text_width(text: str, size: float = 11) -> float:
    """Return about how wide `text` is in viewBox units at font `size` (DejaVu Sans: ~0.6 em a glyph)."""
    return len(text) * size * 0.6


def _x_tick(x: float, label: str, x0: float, x1: float) -> Tick:
    """Return an x tick whose label stays inside the chart: anchored inward near either edge."""
    half = _text_width(label) / 2
    anchor = "end" if x + half > x1 + RIGHT - 2 else ("start" if x - half < 2 else "middle")
    return Tick(pos=_fmt(x), label=label, anchor=anchor)


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
    events: Sequence[tuple[datetime, str]] = (),
    value_label=_count_label,
    x_label: str = "time (UTC)",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Return a Chart of `lines` (label, values aligned with `times`, colour, stroke width).

    A value of None leaves a gap. `restarts` are times where a new segment starts;
    `events` are (time, kind) pairs of other moments to mark, kind a key of EVENTS.
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
    seen: dict[tuple, str] = {}  # values -> label of the first line drawn with them
    for label, vals, color, stroke in lines:
        pts = [(sx(e), sy(v)) for e, v in zip(epochs, vals) if v is not None]
        dots = tuple((_fmt(x), _fmt(y)) for x, y in pts) if len(pts) <= 40 else ()
        key = tuple(vals[: len(epochs)])
        same_as = seen.get(key) if pts else None
        seen.setdefault(key, label)
        out_lines.append(
            Line(
                label=label,
                color=color,
                points=" ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts),
                dots=dots,
                width=_fmt(stroke),
                dashed=same_as is not None,
                same_as=same_as,
            )
        )
    span = t1 - t0
    x_ticks = tuple(_x_tick(sx(t), _time_label(t, span), x0, x1) for t in _time_ticks(t0, t1))
    y_ticks = tuple(Tick(pos=_fmt(sy(v)), label=value_label(v)) for v in yt)
    marks = sorted([(r.timestamp(), "restart") for r in restarts] + [(t.timestamp(), kind) for t, kind in events])
    rules = []
    level = 0
    last_x = -1e9
    for t, kind in marks:
        x = sx(min(max(t, t0), t1))
        level = level + 1 if x - last_x < _text_width(kind) + 8 else 0
        last_x = x
        color, dash = EVENTS[kind]
        near_right = x + _text_width(kind) + 4 > x1
        rules.append(Rule(x=_fmt(x), label=kind, color=color, dash=dash, label_y=_fmt(y0 + 10 + 12 * (level % 3)), anchor="end" if near_right else "start"))
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
        rules=tuple(rules),
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
