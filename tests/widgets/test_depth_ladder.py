"""DepthLadder under a real Textual app: layout, repaint economy, cursor and LevelSelected."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color
from textual.app import App, ComposeResult

from engine.models import DepthLevel, Exchange, Instrument, InstrumentType, Quote, Side
from themes import THEMES
from widgets.depth_ladder import DepthLadder, cumulative_bar

RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
TCS = Instrument("11536", Exchange.NSE, "TCS-EQ", "TCS", InstrumentType.EQUITY)


def make_quote(levels: int = 5, *, token: str = "2885", **changes: object) -> Quote:
    """Best bid 2950.00, best ask 2950.10 (2 ticks), bids 100/200/.. and asks 150/300/.."""
    quote = Quote(
        token,
        295005,
        last_qty=25,
        close=294000,
        total_buy_qty=123_456,
        total_sell_qty=98_765,
        bids=tuple(DepthLevel(295000 - 5 * i, 100 * (i + 1), i + 1) for i in range(levels)),
        asks=tuple(DepthLevel(295010 + 5 * i, 150 * (i + 1), i + 2) for i in range(levels)),
    )
    return replace(quote, **changes)  # type: ignore[arg-type]


class LadderApp(App[None]):
    """A one-widget app with the cockpit themes that records LevelSelected messages."""

    def __init__(self, ladder: DepthLadder) -> None:
        super().__init__()
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"
        self.ladder = ladder
        self.selected: list[DepthLadder.LevelSelected] = []

    def compose(self) -> ComposeResult:
        yield self.ladder

    def on_depth_ladder_level_selected(self, message: DepthLadder.LevelSelected) -> None:
        self.selected.append(message)


def lines(ladder: DepthLadder) -> list[str]:
    return [ladder.render_line(y).text for y in range(ladder.size.height)]


async def test_layout_asks_above_bids_below_with_spread_ltp_and_totals() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote())
        await pilot.pause()
        text = lines(ladder)
        assert text[0].startswith(" RELIANCE  NSE")
        assert text[0].rstrip().endswith("LTP 2950.05 × 25")
        assert text[1].split() == ["Price", "Qty", "Orders", "Cum", "qty"]
        # Asks: deepest at the top, best ask (2950.10) right above the middle line.
        asks = [row.split()[:3] for row in text[2:7]]
        assert asks == [
            ["2950.30", "750", "6"],
            ["2950.25", "600", "5"],
            ["2950.20", "450", "4"],
            ["2950.15", "300", "3"],
            ["2950.10", "150", "2"],
        ]
        assert "spread 0.10 (2 ticks)" in text[7]
        bids = [row.split()[:3] for row in text[8:13]]
        assert bids[0] == ["2950.00", "100", "1"]
        assert bids[-1] == ["2949.80", "500", "5"]
        assert text[13].split() == [
            "Total", "buy", "123,456", "Total", "sell", "98,765", "(55%", "buy)"
        ]
        assert ladder.levels_shown == 5


async def test_cumulative_bars_grow_away_from_the_touch() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        app.ladder.apply_quote(make_quote())
        await pilot.pause()
        text = lines(app.ladder)

        def bar_cells(row: str) -> int:
            return sum(1 for ch in row if ch in "█▏▎▍▌▋▊▉")

        ask_bars = [bar_cells(row) for row in text[2:7]]  # deepest first
        bid_bars = [bar_cells(row) for row in text[8:13]]  # best first
        assert ask_bars == sorted(ask_bars, reverse=True) and ask_bars[0] > ask_bars[-1]
        assert bid_bars == sorted(bid_bars) and bid_bars[-1] > bid_bars[0]
        # The deepest ask has the largest cumulative qty (2,250 vs 1,500): the full bar width.
        bar_width = 60 - (1 + 8 + 1 + 8 + 1 + 6 + 2) - 1
        assert ask_bars[0] == bar_width
        # Bids total 1,500 of 2,250: two thirds of the width (eighth blocks round).
        assert abs(bid_bars[-1] - bar_width * 1500 / 2250) <= 1


async def test_repaints_only_lines_whose_text_changed() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        quote = make_quote()
        assert ladder.apply_quote(quote) > 0
        await pilot.pause()
        # Only time and sequence moved: nothing visible changed.
        assert ladder.apply_quote(replace(quote, ts=123, seq=9)) == 0
        # One level's order count: exactly that line.
        asks = (quote.asks[0]._replace(orders=9), *quote.asks[1:])
        assert ladder.apply_quote(replace(quote, asks=asks)) == 1
        assert lines(ladder)[6].split()[:3] == ["2950.10", "150", "9"]
        # LTP moves: the title only.
        assert ladder.apply_quote(replace(quote, asks=asks, ltp=295010)) == 1
        assert "LTP 2950.10" in lines(ladder)[0]


async def test_quote_of_another_instrument_is_ignored() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote())
        await pilot.pause()
        before = lines(ladder)
        assert ladder.apply_quote(make_quote(token="11536", ltp=1)) == 0
        assert lines(ladder) == before
        assert ladder.quote is not None and ladder.quote.token == "2885"


async def test_enter_on_an_ask_buys_and_on_a_bid_sells_at_the_level() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote())
        ladder.focus()
        await pilot.pause()
        assert ladder.cursor_level == ("ask", 0)
        await pilot.press("enter")
        await pilot.press("down", "enter")  # best bid
        await pilot.press("down", "down", "enter")  # third bid
        await pilot.press("up", "up", "up", "up", "up", "enter")  # third ask
        await pilot.pause()
        got = [(m.instrument, m.side_to_trade, m.price, m.qty) for m in app.selected]
        assert got == [
            (RELIANCE, Side.BUY, 295010, 150),
            (RELIANCE, Side.SELL, 295000, 100),
            (RELIANCE, Side.SELL, 294990, 300),
            (RELIANCE, Side.BUY, 295020, 450),
        ]
        assert ladder.cursor_level == ("ask", 2)


async def test_cursor_stops_at_the_ends_and_shows_only_when_focused() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote())
        app.set_focus(None)
        await pilot.pause()
        cursor_bg = ladder.get_component_rich_style("depth-ladder--cursor").bgcolor
        assert all(s.style is None or s.style.bgcolor != cursor_bg
                   for s in ladder.render_line(6))
        ladder.focus()
        await pilot.press(*["up"] * 12)
        assert ladder.cursor_level == ("ask", 4)
        assert all(s.style is not None and s.style.bgcolor == cursor_bg
                   for s in ladder.render_line(2))
        # The cursor keeps the ask colour of the price.
        price = next(s for s in ladder.render_line(2) if s.text.strip() == "2950.30")
        assert price.style is not None and price.style.color == Color.parse("#FF3860")
        await pilot.press(*["down"] * 20)
        assert ladder.cursor_level == ("bid", 4)


async def test_enter_on_an_empty_level_posts_nothing() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote(levels=2))
        ladder.focus()
        await pilot.press("up", "up", "enter")  # ask depth 2 does not exist
        await pilot.pause()
        assert app.selected == []
        assert lines(ladder)[2].strip() == ""  # empty slot stays blank


async def test_deeper_books_show_as_many_levels_as_fit_keeping_the_touch() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 24)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote(levels=20))
        await pilot.pause()
        assert ladder.levels_shown == 10  # (24 - 4) // 2
        text = lines(ladder)
        assert text[2 + 9].split()[0] == "2950.10"  # best ask next to the middle
        assert "spread" in text[12]
        assert text[13].split()[0] == "2950.00"
        assert text[22].split()[0] == "2949.55"  # tenth bid
        await pilot.resize_terminal(60, 44)
        await pilot.pause()
        assert ladder.levels_shown == 20


async def test_states_without_instrument_quote_or_depth() -> None:
    app = LadderApp(DepthLadder())
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        await pilot.pause()
        assert lines(ladder)[0].strip() == "no instrument"
        assert ladder.apply_quote(make_quote()) == 0
        ladder.set_instrument(RELIANCE)
        await pilot.pause()
        assert "no quote yet" in lines(ladder)[7]
        ladder.apply_quote(Quote("2885", 295005))  # LTP mode: no depth
        assert "no depth in this feed mode" in lines(ladder)[7]
        ladder.apply_quote(make_quote())
        ladder.set_instrument(TCS)
        assert ladder.quote is None
        assert lines(ladder)[0].startswith(" TCS  NSE")
        crossed = make_quote(token="11536", bids=(DepthLevel(295020, 1, 1),))
        ladder.apply_quote(crossed)
        assert "spread -0.10 (crossed)" in lines(ladder)[7]


async def test_theme_change_recolours_cached_lines() -> None:
    app = LadderApp(DepthLadder(RELIANCE))
    async with app.run_test(size=(60, 16)) as pilot:
        ladder = app.ladder
        ladder.apply_quote(make_quote())
        await pilot.pause()

        def bid_price_colour() -> Color | None:
            segment = next(s for s in ladder.render_line(8) if s.text.strip() == "2950.00")
            assert segment.style is not None
            return segment.style.color

        assert bid_price_colour() == Color.parse("#00FF88")
        app.theme = "cockpit-light"
        await pilot.pause()
        assert bid_price_colour() == Color.parse("#047857")


@settings(max_examples=200, deadline=None)
@given(
    cum=st.integers(min_value=0, max_value=10**9),
    extra=st.integers(min_value=0, max_value=10**9),
    width=st.integers(min_value=0, max_value=200),
)
def test_cumulative_bar_is_bounded_and_monotone(cum: int, extra: int, width: int) -> None:
    peak = cum + extra
    bar = cumulative_bar(cum, peak, width)
    assert len(bar) <= width
    assert (bar != "") == (cum > 0 and peak > 0 and width > 0)
    bigger = cumulative_bar(peak, peak, width)
    assert len(bigger) == (width if peak > 0 else 0)

    def eighths(text: str) -> int:
        return sum(8 if ch == "█" else " ▏▎▍▌▋▊▉".index(ch) for ch in text)

    assert eighths(bar) <= eighths(bigger)


def test_cumulative_bar_examples() -> None:
    assert cumulative_bar(50, 100, 10) == "█████"
    assert cumulative_bar(1, 1000, 10) == "▏"
    assert cumulative_bar(0, 1000, 10) == ""
    assert cumulative_bar(3, 8, 1) == "▍"
