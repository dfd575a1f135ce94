"""Trading the paper market by keys alone, through the real app, session, core and journal.

Each test builds the cockpit over a seeded paper market whose clock moves only when the test steps
it (:mod:`tests.cockpit.ui_rig`), presses keys through Textual's pilot, and checks the core's state
and what the screen shows.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from cockpit.app import CockpitApp
from cockpit.config import CockpitConfig
from cockpit.screens.bracket import BracketScreen
from cockpit.screens.command_bar import CommandBarScreen
from cockpit.screens.gtt import GttScreen
from cockpit.screens.kill_switch import KillSwitchScreen
from cockpit.screens.quit_confirm import QuitScreen
from cockpit.screens.review import ReviewScreen
from cockpit.screens.ticket import TicketScreen
from engine.alerts import NotificationKind
from engine.brackets import BracketState
from engine.gtt import GttStatus
from engine.kill_switch import KillSwitchState
from engine.models import OrderStatus, Product, Side
from engine.money import format_money, format_price
from widgets.blotter import Blotter
from widgets.watchlist import Watchlist

from .ui_rig import make_app, screen_text, step

SBIN = "3045"
SIZE = (160, 48)


async def to_sbin(app: CockpitApp, pilot: Pilot[Any]) -> None:
    """Step the market, then move the watchlist cursor to SBIN (third row of the default list)."""
    await step(app, pilot, 2.0)
    await pilot.press("down", "down")
    await pilot.pause()
    assert app.main.query_one(Watchlist).cursor_instrument is not None
    assert app.main.query_one(Watchlist).cursor_instrument.token == SBIN  # type: ignore[union-attr]


def ask(app: CockpitApp, ticks: int = 0) -> int:
    quote = app.session.latest(SBIN)
    assert quote is not None and quote.asks
    return quote.asks[0].price + ticks * 5


def bid(app: CockpitApp, ticks: int = 0) -> int:
    quote = app.session.latest(SBIN)
    assert quote is not None and quote.bids
    return quote.bids[0].price - ticks * 5


def rupees(units: int) -> str:
    return format_price(units, 100)


async def send_ticket(pilot: Pilot[Any], qty: str, price: str | None = None) -> None:
    """In an open ticket: type the quantity (and price), Enter to review, move to Send, Enter."""
    app = pilot.app
    assert isinstance(app.screen, TicketScreen)
    await pilot.press(*qty)
    if price is not None:
        await pilot.press("tab", *price)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ReviewScreen)
    await pilot.press("right", "enter")
    await pilot.pause()
    for _ in range(5):
        await pilot.pause()


async def test_buy_from_the_watchlist_fills_and_shows_the_position(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.side is Side.BUY
        await send_ticket(pilot, "10", rupees(ask(app, 4)))
        assert not isinstance(app.screen, TicketScreen)
        await step(app, pilot, 0.5)
        core = app.session.trading
        (order,) = core.orders()
        assert order.status is OrderStatus.FILLED and order.qty == 10
        fills = core.trades()
        assert sum(f.qty for f in fills) == 10
        position = core.portfolio.position(SBIN, Product.CNC)
        assert position is not None and position.net_qty == 10
        ltp = app.session.trading.quote(SBIN).ltp  # type: ignore[union-attr]
        cost = sum(f.qty * f.price for f in fills)
        assert position.gross_pnl == 10 * ltp - cost  # P&L from the fills, exact paise
        assert position.net_pnl == position.gross_pnl - sum(f.charges for f in fills)
        row = app.main.query_one(Blotter).rows("positions")[0]
        cells = [text for text, _ in row.cells]
        assert cells[0] == "SBIN" and cells[2] == "+10"
        assert cells[5].lstrip("+") == format_money(position.gross_pnl)
        assert cells[6].lstrip("+") == format_money(position.net_pnl)
        (line,) = [ln for ln in screen_text(app).splitlines()
                   if ln.startswith("SBIN ") and " CNC " in ln]
        assert line.split()[:3] == ["SBIN", "CNC", "+10"]
        assert format_money(position.net_pnl) in line
        kinds = [n.kind for n in app.history]
        assert NotificationKind.FILL in kinds


async def test_review_starts_on_edit_so_a_second_enter_cannot_send(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("5", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        assert app.focused is not None and app.focused.id == "edit"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert app.session.trading.orders() == []


async def test_a_risk_rejection_stays_in_the_ticket_with_the_core_message(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "100000", rupees(ask(app)))
        screen = app.screen
        assert isinstance(screen, TicketScreen)
        (order,) = app.session.trading.orders()
        assert order.status is OrderStatus.REJECTED
        assert screen.last_error.startswith("Rejected: ")
        assert screen.last_error.removeprefix("Rejected: ") in order.reason


async def test_enter_on_a_ladder_level_opens_a_limit_ticket_at_that_price(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "ladder"
        best_ask = ask(app)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TicketScreen)
        assert screen.side is Side.BUY
        assert screen.query_one("#price", Input).value == rupees(best_ask)


async def test_gtt_placed_by_keys_triggers_once(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("g")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GttScreen)
        ltp = app.session.ltp(SBIN)
        screen.query_one("#side").value = "BUY"  # type: ignore[attr-defined]
        await pilot.pause()
        # a buy that fires when the price dips one tick, with a marketable limit
        await pilot.press("1", "0", "tab", "tab", *rupees(ltp - 5), "tab",
                          *rupees(ltp + 50))
        await pilot.pause()
        assert screen.valid, screen.query_one("#check").render()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("right", "enter")
        for _ in range(5):
            await pilot.pause()
        (rule,) = app.session.trading.gtts()
        assert rule.status is GttStatus.ACTIVE
        for _ in range(60):
            await step(app, pilot, 0.5)
            if app.session.trading.gtts()[0].status is not GttStatus.ACTIVE:
                break
        (rule,) = app.session.trading.gtts()
        assert rule.status is GttStatus.TRIGGERED
        await step(app, pilot, 0.5)
        orders = [o for o in app.session.trading.orders() if o.client_order_id ==
                  rule.client_order_id]
        assert len(orders) == 1 and orders[0].side is Side.BUY and orders[0].qty == 10
        triggers = [n for n in app.history if n.kind is NotificationKind.GTT_TRIGGER]
        assert len(triggers) == 1


async def test_bracket_by_keys_exits_exactly_once(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BracketScreen)
        entry = ask(app, 2)
        # qty, entry price (replace), stop two ticks under, target two ticks over
        await pilot.press("5", "tab", "tab", *rupees(entry), "tab",
                          *rupees(entry - 15), "tab", *rupees(entry + 15))
        await pilot.pause()
        assert screen.valid, screen.query_one("#check").render()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("right", "enter")
        for _ in range(5):
            await pilot.pause()
        core = app.session.trading
        (bracket,) = core.brackets()
        for _ in range(120):
            await step(app, pilot, 0.5)
            if core.brackets()[0].state.is_terminal:
                break
        (bracket,) = core.brackets()
        assert bracket.state is BracketState.CLOSED
        exits = [o for o in core.orders() if o.side is Side.SELL and o.filled_qty]
        assert len(exits) == 1 and exits[0].filled_qty == 5
        position = core.portfolio.position(SBIN, Product.MIS)
        assert position is not None and position.net_qty == 0
        rows = app.main.query_one(Blotter).rows("brackets")
        assert rows[0].cells[4][0] == "CLOSED"


async def test_kill_switch_flattens_blocks_and_rearms_with_rearm(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        core = app.session.trading
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "10", rupees(ask(app, 4)))
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "3", rupees(bid(app, 40)))  # rests far below the market
        await step(app, pilot, 0.5)
        assert len(core.open_orders()) == 1
        await pilot.press("ctrl+k")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, KillSwitchScreen)
        plan = str(screen.query_one("#plan").render())
        assert "cancel 1 open order" in plan
        assert "flatten 1 position" in plan
        assert app.focused is not None and app.focused.id == "back"
        await pilot.press("tab", "enter")
        for _ in range(5):
            await pilot.pause()
        for _ in range(10):
            await step(app, pilot, 0.5)
        assert core.kill_switch.state is KillSwitchState.LOCKED
        assert core.open_orders() == []
        assert all(p.net_qty == 0 for p in core.positions())
        assert "KILL LOCKED" in screen_text(app)
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "1", rupees(ask(app, 4)))
        ticket = app.screen
        assert isinstance(ticket, TicketScreen)
        assert "kill switch LOCKED" in ticket.last_error
        await pilot.press("escape")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, KillSwitchScreen)
        await pilot.press(*"REARM", "enter")
        for _ in range(5):
            await pilot.pause()
        assert core.kill_switch.state is KillSwitchState.ARMED


async def test_a_key_remapped_in_config_is_the_one_that_works(tmp_path: Path) -> None:
    config = CockpitConfig.model_validate({"keymap": {"order.buy": "f2"}})
    app = make_app(tmp_path, config)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        assert not isinstance(app.screen, TicketScreen)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.side is Side.BUY


async def test_the_command_bar_fills_the_ticket_and_sends_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await step(app, pilot, 1.0)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandBarScreen)
        await pilot.press(*"buy SBIN 10 limit 970 mis")
        await pilot.pause()
        assert "SBIN" in str(app.screen.query_one("#preview").render())
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TicketScreen)
        assert screen.query_one("#qty", Input).value == "10"
        assert screen.query_one("#price", Input).value == "970.00"
        assert screen.query_one("#product").value == "MIS"  # type: ignore[attr-defined]
        assert app.session.trading.orders() == []


async def test_command_bar_alert_fires_a_notification(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await step(app, pilot, 1.0)
        level = rupees(app.session.ltp(SBIN) + 5)
        await pilot.press("ctrl+p", *f"alert SBIN cross {level}", "enter")
        await pilot.pause()
        (rule,) = app.session.alerts.list()
        assert rule.token == SBIN
        for _ in range(60):
            await step(app, pilot, 0.5)
            if any(n.kind is NotificationKind.ALERT for n in app.history):
                break
        assert any(n.kind is NotificationKind.ALERT for n in app.history)
        saved = json.loads((tmp_path / "data" / "alerts.json").read_text())
        assert saved["alerts"][0]["rule"]["token"] == SBIN


async def test_quitting_with_open_orders_asks_first(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "2", rupees(bid(app, 40)))
        await step(app, pilot, 0.2)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        assert app.focused is not None and app.focused.id == "stay"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen)
        assert app.is_running


async def test_cancel_from_the_orders_tab(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "2", rupees(bid(app, 40)))
        await step(app, pilot, 0.2)
        await pilot.press("2", "x")
        for _ in range(5):
            await pilot.pause()
        await step(app, pilot, 0.2)
        (order,) = app.session.trading.orders()
        assert order.status is OrderStatus.CANCELLED


async def test_sigterm_flushes_the_journal_and_exits(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "1", rupees(ask(app, 4)))
        journal = app.session.journal
        assert journal is not None
        app._on_signal(signal.SIGTERM)
        for _ in range(100):  # the app exits: pilot.pause() would wait for it forever
            await asyncio.sleep(0.02)
            if journal.closed:
                break
        assert journal.closed
    assert app.return_code == 0


async def test_removing_a_row_persists_the_watchlist(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await to_sbin(app, pilot)
        await pilot.press("minus")
        await pilot.pause()
        saved = json.loads((tmp_path / "data" / "watchlists.json").read_text())
        assert SBIN not in saved["lists"]["default"]
        assert len(saved["lists"]["default"]) == 4


async def test_the_main_screen_folds_the_chart_at_80x24(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await step(app, pilot, 1.0)
        assert not app.main.query_one("#chart").display
        text = screen_text(app)
        assert "PAPER" in text and "IST 10:00:01" in text
        assert "Nifty 50  NSE" in text and "LTP 26050" in text
