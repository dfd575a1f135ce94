"""Tape (time and sales) under a real Textual app: order, IST times, bounds and scrolling."""

from __future__ import annotations

from datetime import date, time

from rich.color import Color
from textual.app import App, ComposeResult

from engine.clock import NS_PER_SECOND, ist_ns
from engine.models import Exchange, Instrument, InstrumentType, Side, TradePrint
from themes import THEMES
from widgets.tape import Tape, format_ist_time

RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
TCS = Instrument("11536", Exchange.NSE, "TCS-EQ", "TCS", InstrumentType.EQUITY)
OPEN = ist_ns(date(2025, 1, 6), time(9, 15))


def trade(i: int, *, token: str = "2885") -> TradePrint:
    """Trade i: one second apart from 09:15:00 IST, price 2950.00 + 0.05 i, qty 10 i + 1."""
    side = Side.BUY if i % 2 else Side.SELL
    return TradePrint(token, 295000 + 5 * i, 10 * i + 1, side, OPEN + i * NS_PER_SECOND, f"T{i}")


class TapeApp(App[None]):
    """A one-widget app with the cockpit themes."""

    def __init__(self, tape: Tape) -> None:
        super().__init__()
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"
        self.tape = tape

    def compose(self) -> ComposeResult:
        yield self.tape


def lines(tape: Tape) -> list[str]:
    return [tape.render_line(y).text.rstrip() for y in range(tape.size.height)]


def test_format_ist_time() -> None:
    assert format_ist_time(OPEN) == "09:15:00"
    assert format_ist_time(OPEN + 3_725 * NS_PER_SECOND + 999_999_999) == "10:17:05"


async def test_newest_trade_on_top_with_ist_time_price_qty_and_side() -> None:
    app = TapeApp(Tape(RELIANCE))
    async with app.run_test(size=(40, 10)) as pilot:
        tape = app.tape
        await pilot.pause()
        assert lines(tape)[1].strip() == "no trades yet"
        assert tape.add_trades([trade(0), trade(1, token="11536"), trade(2), trade(3)]) == 3
        await pilot.pause()
        text = lines(tape)
        assert text[0].split() == ["Time", "Price", "Qty"]
        assert text[1].split() == ["09:15:03", "2950.15", "31", "B"]
        assert text[2].split() == ["09:15:02", "2950.10", "21", "S"]
        assert text[3].split() == ["09:15:00", "2950.00", "1", "S"]
        assert text[4] == ""
        assert [t.trade_id for t in tape.trades] == ["T3", "T2", "T0"]


async def test_sides_are_coloured_bid_and_ask() -> None:
    app = TapeApp(Tape(RELIANCE))
    async with app.run_test(size=(40, 10)) as pilot:
        tape = app.tape
        tape.add_trades([trade(0), trade(1)])
        await pilot.pause()

        def side_colour(y: int) -> Color | None:
            segment = next(s for s in tape.render_line(y) if s.text.strip() in ("B", "S"))
            assert segment.style is not None
            return segment.style.color

        assert side_colour(1) == Color.parse("#00FF88")  # B: $bid
        assert side_colour(2) == Color.parse("#FF3860")  # S: $ask


async def test_history_is_bounded() -> None:
    app = TapeApp(Tape(RELIANCE, max_trades=5))
    async with app.run_test(size=(40, 10)) as pilot:
        tape = app.tape
        tape.add_trades([trade(i) for i in range(8)])
        await pilot.pause()
        assert tape.max_trades == 5
        assert [t.trade_id for t in tape.trades] == ["T7", "T6", "T5", "T4", "T3"]
        assert lines(tape)[5].split()[0] == "09:15:03"
        assert lines(tape)[6] == ""


async def test_scrolling_and_following_the_newest_trades() -> None:
    app = TapeApp(Tape(RELIANCE))
    async with app.run_test(size=(40, 8)) as pilot:
        tape = app.tape
        tape.add_trades([trade(i) for i in range(30)])
        tape.focus()
        await pilot.pause()
        assert lines(tape)[1].startswith("  09:15:29")
        # At the top the view follows the newest trades.
        tape.add_trades([trade(30)])
        await pilot.pause()
        assert lines(tape)[1].startswith("  09:15:30")
        # Scrolled down, the view stays on the trades being read.
        await pilot.press("down", "down", "down")
        await pilot.pause()
        reading = lines(tape)[1:]
        assert reading[0].startswith("  09:15:27")
        tape.add_trades([trade(31), trade(32)])
        await pilot.pause()
        assert lines(tape)[1:] == reading
        assert lines(tape)[0].split() == ["Time", "Price", "Qty"]  # the header stays put
        # Scrolling to the end shows the oldest trade last.
        await pilot.press("end")
        await pilot.pause()
        assert lines(tape)[-1].startswith("  09:15:00")
        await pilot.press("home")
        await pilot.pause()
        assert lines(tape)[1].startswith("  09:15:32")


async def test_set_instrument_clears_the_tape() -> None:
    app = TapeApp(Tape())
    async with app.run_test(size=(40, 8)) as pilot:
        tape = app.tape
        await pilot.pause()
        assert lines(tape)[0].strip() == "no instrument"
        assert tape.add_trades([trade(0)]) == 0
        tape.set_instrument(RELIANCE)
        tape.add_trades([trade(0), trade(1)])
        tape.set_instrument(TCS)
        await pilot.pause()
        assert tape.trades == []
        assert tape.add_trades([trade(5, token="11536")]) == 1
        await pilot.pause()
        assert lines(tape)[1].split() == ["09:15:05", "2950.25", "51", "B"]


def test_max_trades_must_be_positive() -> None:
    try:
        Tape(RELIANCE, max_trades=0)
    except ValueError as error:
        assert "max_trades must be at least 1" in str(error)
    else:
        raise AssertionError("max_trades=0 was accepted")
