"""The inline SVG charts: event marks, labels inside the chart, identical lines told apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from goroscope.config import Config
from goroscope.render import charts
from goroscope.render.html import render_html

from report_factory import make_report

T0 = datetime(2026, 12, 1, 8, 18, 0, tzinfo=timezone.utc)
TIMES = [T0 + timedelta(seconds=60 * i) for i in range(9)]  # ends at 08:26:00: a tick on the right edge


def _chart(**kw) -> charts.Chart:
    lines = kw.pop("lines", [("a", [1, 2, 3, 4, 5, 6, 7, 8, 9], charts.PALETTE[0], 2.0)])
    return charts.line_chart(title="t", times=TIMES, lines=lines, y_label="goroutines", **kw)


def test_tick_labels_stay_inside_the_chart():
    for times in (TIMES, [T0 + timedelta(seconds=s) for s in (0, 30, 60, 90, 120)], [T0 + timedelta(hours=h) for h in range(7)]):
        c = charts.line_chart(title="t", times=times, lines=[("a", [1] * len(times), "#000", 1.0)], y_label="n")
        for t in c.x_ticks:
            w = charts._text_width(t.label)
            x = float(t.pos)
            lo, hi = {"start": (x, x + w), "end": (x - w, x), "middle": (x - w / 2, x + w / 2)}[t.anchor]
            assert 0 <= lo and hi <= c.width, (t, c.width)
    last = _chart().x_ticks[-1]
    assert float(last.pos) > _chart().width - 40 and last.anchor == "end"


def test_crash_dumps_and_goroutineleak_profiles_are_marked():
    c = _chart(restarts=[TIMES[3]], events=[(TIMES[5], "crash dump"), (TIMES[5] + timedelta(seconds=2), "goroutineleak profile")])
    assert [r.label for r in c.rules] == ["restart", "crash dump", "goroutineleak profile"]
    assert len({(r.color, r.dash) for r in c.rules}) == 3  # each kind of event drawn its own way
    crash, leak = c.rules[1], c.rules[2]
    assert crash.label_y != leak.label_y  # close together: labels stacked, not overprinted


def test_identical_series_are_drawn_dashed_and_named():
    same = [0, 1, 2, 3, 4, 5, 6, 7, 8]
    c = _chart(lines=[("readLoop", same, charts.PALETTE[0], 2.0), ("writeLoop", list(same), charts.PALETTE[1], 2.0), ("other", [1] * 9, "#000", 1.0)])
    a, b, other = c.lines
    assert not a.dashed and a.same_as is None
    assert b.dashed and b.same_as == "readLoop"
    assert not other.dashed


def test_series_chart_of_a_report_marks_events_and_names_both_identical_lines():
    # GIVEN a series with a crash dump, a goroutineleak profile, and two suspects of the same counts
    rep = make_report()
    se = rep.series[0]
    mine = [s for s in rep.suspects if s.series == se.id]
    snaps = list(se.snapshots)
    snaps[-1] = replace(snaps[-1], crash=True)
    se2 = replace(se, snapshots=tuple(snaps), leak_profiles=("a/leak.txt",), leak_profile_times=(snaps[1].time,))
    twin = replace(mine[0], rank=len(mine) + 1, fingerprint="twin", leak_site=replace(mine[0].leak_site, line=mine[0].leak_site.line + 7))
    rep = replace(rep, series=(se2, *rep.series[1:]), suspects=(*rep.suspects, twin))
    # WHEN it is rendered
    html = render_html(rep, Config())
    section = html[html.index(f'id="series-1"'):]
    section = section[: section.index("</section>")]
    # THEN both events are marked, and the twin is dashed and said to be
    assert ">crash dump</text>" in section and ">goroutineleak profile</text>" in section
    assert 'stroke-dasharray="7 5"' in section
    assert "same counts as" in section and "drawn dashed over it" in section
