"""CandleChart: layout of a frame, indicators, the redraw throttle and visibility."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from engine.clock import NS_PER_SECOND, ist_ns
from engine.indicators import EMA
from engine.models import Bar, Exchange, Instrument, InstrumentType, Interval
from engine.money import format_price
from themes import THEMES
from widgets.candle_chart import (
    CandleChart,
    LowerPane,
    Overlay,
    OverlayKind,
    render_chart,
)

RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
OPEN = ist_ns(date(2025, 1, 6), time(9, 15))
CANDLE_GLYPHS = set("█▀▄│╵╷")


def make_bars(n: int, *, seed: int = 7, interval: Interval = Interval.M5) -> list[Bar]:
    """A seeded random walk of ``n`` bars from 09:15 IST, prices on the 0.05 tick."""
    rnd = random.Random(seed)
    bars: list[Bar] = []
    price = 295000
    for i in range(n):
        open_ = price
        close = open_ + rnd.randint(-60, 60) * 5
        high = max(open_, close) + rnd.randint(0, 30) * 5
        low = min(open_, close) - rnd.randint(0, 30) * 5
        start = OPEN + i * interval.seconds * NS_PER_SECOND
        bars.append(Bar("2885", interval, start, open_, high, low, close,
                        rnd.randint(1_000, 50_000), closed=True))
        price = close
    return bars


def text_of(lines: list[tuple[tuple[str, str], ...]]) -> list[str]:
    return ["".join(text for text, _ in line) for line in lines]


class ChartApp(App[None]):
    """A one-widget app with the cockpit themes."""

    def __init__(self, chart: CandleChart) -> None:
        super().__init__()
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"
        self.chart = chart

    def compose(self) -> ComposeResult:
        yield self.chart


def lines(chart: CandleChart) -> list[str]:
    return [chart.render_line(y).text for y in range(chart.size.height)]


# -- the frame (pure layout) ------------------------------------------------------------------


def test_frame_has_title_candles_axis_volume_rsi_and_time_labels() -> None:
    bars = make_bars(60)
    frame = text_of(render_chart(bars, width=80, height=24, interval=Interval.M5,
                                 instrument=RELIANCE))
    assert len(frame) == 24 and all(len(row) == 80 for row in frame)
    last = bars[-1]
    title = frame[0]
    assert title.startswith(" RELIANCE 5m ")
    for name, value in (("O", last.open), ("H", last.high), ("L", last.low), ("C", last.close)):
        assert f" {name} {format_price(value)}" in title
    # The last close is labelled on the price axis.
    assert any(row.rstrip().endswith("┤ " + format_price(last.close)) for row in frame[1:15])
    assert any("RSI(14)" in row for row in frame)
    assert any(" 70" in row for row in frame) and any(" 30" in row for row in frame)
    # Time labels on the last line, HH:MM in IST on 20-minute marks for 5m bars.
    labels = frame[-1].split()
    assert labels and all(label.endswith(("00", "20", "40")) for label in labels)


def test_every_visible_bar_is_a_candle_and_the_range_fills_the_pane() -> None:
    bars = make_bars(30)
    width, height = 80, 24
    frame = text_of(render_chart(bars, width=width, height=height, interval=Interval.M5,
                                 lower=None, instrument=RELIANCE))
    label_w = max(len(format_price(max(b.high for b in bars))),
                  len(format_price(min(b.low for b in bars))), 6)
    plot_w = width - label_w - 2
    x0 = plot_w - 2 * len(bars)
    price_rows = range(1, 1 + (height - 2) - max(2, (height - 2) // 7))
    columns = ["".join(frame[r][x0 + 2 * j] for r in price_rows) for j in range(len(bars))]
    assert all(set(column) & CANDLE_GLYPHS for column in columns)
    # Without overlays the highest high touches the top row and the lowest low the bottom one.
    top_bar = max(range(len(bars)), key=lambda j: bars[j].high)
    low_bar = min(range(len(bars)), key=lambda j: bars[j].low)
    assert columns[top_bar][0] in CANDLE_GLYPHS
    assert columns[low_bar][-1] in CANDLE_GLYPHS
    # Gap columns between candles hold no candle glyphs.
    assert all(frame[r][x0 + 1] not in CANDLE_GLYPHS for r in price_rows)


def test_up_and_down_candles_use_their_classes() -> None:
    up = Bar("2885", Interval.M1, OPEN, 100_00, 102_00, 99_00, 101_00, 10)
    down = Bar("2885", Interval.M1, OPEN + 60 * NS_PER_SECOND, 101_00, 101_50, 98_00, 99_00, 10)
    frame = render_chart([up, down], width=40, height=16, interval=Interval.M1, lower=None)
    classes = {cls for line in frame[1:] for text, cls in line if set(text) & CANDLE_GLYPHS}
    assert {"candle-chart--up", "candle-chart--down"} <= classes


def test_overlay_legend_shows_the_engine_indicator_value() -> None:
    bars = make_bars(80)
    overlays = [Overlay(OverlayKind.EMA, 20), Overlay(OverlayKind.BOLLINGER, 20)]
    frame = text_of(render_chart(bars, width=160, height=48, interval=Interval.M5,
                                 overlays=overlays, lower=LowerPane.MACD, instrument=RELIANCE))
    ema = EMA.compute_series([b.close for b in bars], 20)[-1]
    assert ema is not None
    assert f"EMA20 {format_price(round(ema))}" in frame[0]
    assert "BB20 " in frame[0]
    assert any("MACD(12,26,9)" in row for row in frame)
    assert any(ch in row for row in frame[1:30] for ch in "⠁⠂⠄⡀⠈⠐⠠⢀⣀⠉⠒⠤")  # braille lines


def test_empty_chart_says_no_bars_yet() -> None:
    frame = text_of(render_chart([], width=80, height=24, interval=Interval.M15,
                                 instrument=RELIANCE))
    assert frame[0].startswith(" RELIANCE 15m")
    assert sum("no bars yet" in row for row in frame) == 1


def test_daily_bars_are_labelled_with_dates() -> None:
    bars = make_bars(40, interval=Interval.D1)
    frame = text_of(render_chart(bars, width=100, height=24, interval=Interval.D1))
    axis = frame[-1]
    assert "Jan" in axis or "Feb" in axis


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=120),
    width=st.integers(min_value=1, max_value=170),
    height=st.integers(min_value=1, max_value=50),
    lower=st.sampled_from([None, LowerPane.RSI, LowerPane.MACD]),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_any_frame_is_exactly_the_widget_size(
    n: int, width: int, height: int, lower: LowerPane | None, seed: int
) -> None:
    frame = text_of(render_chart(make_bars(n, seed=seed), width=width, height=height,
                                 interval=Interval.M5, overlays=[Overlay(OverlayKind.SMA, 5)],
                                 lower=lower))
    assert len(frame) == height
    assert all(len(row) == width for row in frame)


# -- overlays ---------------------------------------------------------------------------------


def test_overlay_parse() -> None:
    assert Overlay.parse("EMA:20") == Overlay(OverlayKind.EMA, 20)
    assert Overlay.parse("sma:50").label == "SMA(50)"
    assert Overlay.parse("bb:20:2.5") == Overlay(OverlayKind.BOLLINGER, 20, 2.5)
    assert Overlay.parse("bb:20").label == "BB(20,2)"
    with pytest.raises(ValueError, match="unknown overlay 'wma:9'"):
        Overlay.parse("wma:9")
    with pytest.raises(ValueError, match="needs a period"):
        Overlay.parse("ema")
    with pytest.raises(ValueError, match="whole number"):
        Overlay.parse("ema:x")
    with pytest.raises(ValueError, match="period must be an int >= 1"):
        Overlay(OverlayKind.SMA, 0)


# -- the widget -------------------------------------------------------------------------------


async def test_two_updates_within_a_second_cause_one_redraw() -> None:
    app = ChartApp(CandleChart(RELIANCE))
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.chart
        await pilot.pause()
        bars = make_bars(50)
        chart.set_bars(bars, interval=Interval.M5, overlays=[Overlay(OverlayKind.EMA, 9)])
        after_set = chart.redraw_count
        last = bars[-1]
        assert chart.update_last_bar(replace(last, close=last.close + 5, closed=False))
        assert chart.update_last_bar(replace(last, close=last.close + 10, closed=False))
        assert chart.redraw_count == after_set and chart.dirty
        await pilot.pause(0.4)
        assert chart.redraw_count == after_set  # still inside the second
        await pilot.pause(0.9)
        assert chart.redraw_count == after_set + 1 and not chart.dirty
        assert f"C {format_price(last.close + 10)}" in lines(chart)[0]
        # Nothing new: no further redraws.
        await pilot.pause(1.1)
        assert chart.redraw_count == after_set + 1


async def test_next_bar_appends_and_stale_or_foreign_bars_are_refused() -> None:
    app = ChartApp(CandleChart(RELIANCE, min_redraw_interval=0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.chart
        bars = make_bars(10)
        chart.set_bars(bars, interval=Interval.M5)
        await pilot.pause()
        nxt = replace(bars[-1], start=bars[-1].start + 300 * NS_PER_SECOND, closed=False)
        assert chart.update_last_bar(nxt)
        assert len(chart.bars) == 11
        assert not chart.update_last_bar(bars[3])  # older than the last bar
        assert not chart.update_last_bar(replace(nxt, token="11536"))
        assert not chart.update_last_bar(replace(nxt, interval=Interval.M1))
        assert len(chart.bars) == 11 and chart.bars[-1] == nxt


async def test_set_bars_rejects_unordered_or_mixed_bars() -> None:
    app = ChartApp(CandleChart(RELIANCE))
    async with app.run_test(size=(80, 24)):
        chart = app.chart
        bars = make_bars(5)
        with pytest.raises(ValueError, match="increasing start order: bar 2"):
            chart.set_bars([bars[0], bars[1], bars[1]], interval=Interval.M5)
        with pytest.raises(ValueError, match="bar 0 is a 5m bar but the chart interval is 1m"):
            chart.set_bars(bars, interval=Interval.M1)


async def test_hidden_chart_waits_and_catches_up_when_shown() -> None:
    app = ChartApp(CandleChart(RELIANCE, min_redraw_interval=0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.chart
        bars = make_bars(20)
        chart.set_bars(bars, interval=Interval.M5)
        await pilot.pause()
        chart.display = False
        await pilot.pause()
        count = chart.redraw_count
        chart.update_last_bar(replace(bars[-1], close=bars[-1].close + 5))
        await pilot.pause()
        assert chart.redraw_count == count and chart.dirty
        chart.display = True
        await pilot.pause()
        assert not chart.dirty and chart.redraw_count > count


async def test_widget_shows_no_bars_then_the_series_then_macd() -> None:
    app = ChartApp(CandleChart(RELIANCE))
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.chart
        await pilot.pause()
        assert sum("no bars yet" in row for row in lines(chart)) == 1
        chart.set_bars(make_bars(60, interval=Interval.M15), interval=Interval.M15)
        await pilot.pause()
        assert lines(chart)[0].startswith(" RELIANCE 15m ")
        assert any("RSI(14)" in row for row in lines(chart))
        chart.set_lower_pane(LowerPane.MACD)
        await pilot.pause()
        assert any("MACD(12,26,9)" in row for row in lines(chart))
        chart.set_lower_pane(None)
        assert not any("MACD" in row or "RSI" in row for row in lines(chart))
        chart.set_instrument(None)
        assert chart.bars == []
        assert sum("no bars yet" in row for row in lines(chart)) == 1
