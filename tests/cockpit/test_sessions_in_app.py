"""The real app over every session kind: live Angel One and live data with paper fills against the
fake Angel One servers on 127.0.0.1, and a replay of a recording made here, driven by keys."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from brokers.angelone.decoder import DEFAULT_PRICE_MULTIPLIERS
from brokers.angelone.master import parse_rows
from cockpit.app import CockpitApp
from cockpit.config import CockpitConfig
from cockpit.live_session import LIVE_BRACKET_NOTE, LiveDataPaperSession, LiveSession
from cockpit.recording import FeedRecorder, RecordingHeader
from cockpit.replay_session import REPLAY_MODE, ReplaySession, ReplaySessionOptions
from cockpit.screens.bracket import BracketScreen
from cockpit.screens.gtt import GttScreen
from cockpit.screens.review import ReviewScreen
from cockpit.screens.ticket import TicketScreen
from cockpit.session_base import TradingSession
from engine.models import OrderStatus, Side
from engine.money import format_price
from engine.redaction import forget_secrets
from tests.brokers.fake_angel import DEFAULT_MASTER_ROWS
from tests.brokers.fake_angel_ws import ltp_of, packet, wait_until
from widgets.status_bar import StatusBar
from widgets.watchlist import Watchlist

from .test_live_session import fakes, socket_options
from .test_trading_by_keys import send_ticket
from .ui_rig import START_NS, screen_text

SBIN = "3045"
RELIANCE = "2885"
SIZE = (160, 48)
CONFIG = CockpitConfig(watchlists={"default": ["SBIN", "RELIANCE"]})


@pytest.fixture(autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    gc.unfreeze()
    forget_secrets()


def make_app(session: TradingSession, root: Path) -> CockpitApp:
    from .ui_rig import make_paths

    return CockpitApp(config=CONFIG, paths=make_paths(root), session=session, keymap_dirs=[])


def row_of(app: CockpitApp, symbol: str) -> str:
    """The watchlist line of ``symbol`` as the terminal shows it."""
    for line in screen_text(app).splitlines():
        if re.search(rf"\b{symbol}\b", line):
            return line
    raise AssertionError(f"{symbol} is not on the screen")


async def wait_for_row_price(app: CockpitApp, symbol: str, token: str) -> None:
    """Until the watchlist row shows the LTP of a quote the session received."""

    def shown() -> bool:
        quote = app.session.latest(token)
        return quote is not None and format_price(quote.ltp, 100) in row_of(app, symbol)

    await wait_until(shown, timeout_s=10.0, what=f"a price on the {symbol} row")


def badge(app: CockpitApp) -> tuple[str, str]:
    """The status bar's mode and the badge's style class."""
    bar = app.main.query_one(StatusBar)
    info = bar.info
    assert info is not None
    text = bar.text()
    first = text.spans[0].style
    paper = bar.get_component_rich_style("status-bar--paper")
    live = bar.get_component_rich_style("status-bar--live")
    kind = "paper" if first == paper else "live" if first == live else "?"
    return info.mode, kind


async def test_live_session_in_the_app_streams_the_watchlist_and_sends_orders(
    tmp_path: Path,
) -> None:
    async with fakes(tmp_path) as f:
        # Nothing streams from the start: the screen subscribes what its watchlist shows.
        session = LiveSession(f.options(watchlist=()))
        app = make_app(session, tmp_path / "ui")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                lambda: {SBIN, RELIANCE} <= {key[2] for key in f.ws.open_feeds()[0].subscriptions}
                if f.ws.open_feeds() else False,
                what="the watchlist subscribed at the feed",
            )
            await wait_for_row_price(app, "SBIN", SBIN)
            await wait_for_row_price(app, "RELIANCE", RELIANCE)
            assert badge(app) == ("LIVE", "live")
            assert app.watchlist_file.name == "watchlists-angelone.json"

            # b on SBIN, quantity 3, review: a LIVE order needs the symbol typed before Send.
            watchlist = app.main.query_one(Watchlist)
            assert watchlist.cursor_instrument is not None
            assert watchlist.cursor_instrument.token == SBIN
            await pilot.press("b")
            await pilot.pause()
            assert isinstance(app.screen, TicketScreen)
            await pilot.press("3", "enter")
            await pilot.pause()
            review = app.screen
            assert isinstance(review, ReviewScreen) and review.confirm_symbol == "SBIN"
            review.query_one("#confirm-symbol", Input).focus()
            await pilot.press(*"SBIN", "tab", "tab", "enter")
            await wait_until(lambda: bool(f.server.calls("place_order")), what="the order sent")
            (call,) = f.server.calls("place_order")
            assert call.body["symboltoken"] == SBIN and call.body["quantity"] == "3"
            (order,) = session.trading.orders()
            assert order.side is Side.BUY and order.qty == 3
            assert call.body["ordertag"] == order.client_order_id

            # A bracket says where its exits are protected; a GTT goes to Angel One.
            await pilot.press("escape")
            await pilot.pause()
            app.open_bracket(watchlist.cursor_instrument)
            await pilot.pause()
            assert isinstance(app.screen, BracketScreen)
            note = app.screen.query_one("#bracket-note")
            assert LIVE_BRACKET_NOTE.split(":")[0] in str(note.render())
            await pilot.press("escape")
            await pilot.pause()
            ltp = session.ltp(SBIN)
            app.open_gtt(watchlist.cursor_instrument)
            await pilot.pause()
            gtt = app.screen
            assert isinstance(gtt, GttScreen) and gtt.broker_side is not None
            trigger = format_price((ltp // 5 + 100) * 5, 100)
            limit = format_price((ltp // 5 + 101) * 5, 100)
            gtt.query_one("#trigger-1", Input).value = trigger
            gtt.query_one("#limit-1", Input).value = limit
            await pilot.pause()
            gtt.action_submit_review()
            await pilot.pause()
            review = app.screen
            assert isinstance(review, ReviewScreen)
            review.query_one("#confirm-symbol", Input).focus()
            await pilot.press(*"SBIN", "tab", "tab", "enter")
            await wait_until(lambda: bool(f.server.state.gtt_rules), what="the GTT at Angel One")
            assert not session.trading.gtts()  # not the core's own GTT engine
            await pilot.press("escape")
        assert f.server.calls("logout")


async def test_live_data_with_paper_fills_in_the_app(tmp_path: Path) -> None:
    async with fakes(tmp_path) as f:
        session = LiveDataPaperSession(
            f.options(
                watchlist=(),
                market_data_options={"feed_options": socket_options("app paper feed")},
                seed=5,
            )
        )
        app = make_app(session, tmp_path / "ui")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_row_price(app, "SBIN", SBIN)
            assert badge(app) == ("LIVE DATA / PAPER FILLS", "paper")
            broker = session.broker
            assert broker is not None
            await wait_until(
                lambda: (m := broker.fill_model.market(SBIN)) is not None and m.has_depth,
                what="depth in the fill model",
            )
            quote = session.latest(SBIN)
            assert quote is not None and quote.asks
            # 20 rupees through the ask: the fake's price climbs a paisa a tick, and the order
            # must still be marketable when the keys have been typed on a busy machine.
            limit = format_price(quote.asks[0].price + 2000, 100)
            await pilot.press("b")
            await pilot.pause()
            await send_ticket(pilot, "10", limit)
            core = session.trading
            await wait_until(lambda: bool(core.trades()), what="the paper fill")
            (order,) = core.orders()
            assert order.status is OrderStatus.FILLED and order.filled_qty == 10
            assert str(order.venue_order_id).startswith("P")
            assert not f.server.calls("place_order")  # nothing went to Angel One
            await pilot.press("escape")


def write_recording(path: Path, records: int) -> None:
    """A recording of SnapQuote ticks for SBIN and RELIANCE, 10 ms apart from 10:00 IST."""
    instruments, _ = parse_rows(DEFAULT_MASTER_ROWS)
    header = RecordingHeader(
        created_ns=START_NS,
        source="test",
        price_multipliers=DEFAULT_PRICE_MULTIPLIERS,
        subscriptions=((1, SBIN, 3), (1, RELIANCE, 3)),
        instruments={i.token: i for i in instruments},
    )
    recorder = FeedRecorder.create(path, header)
    try:
        for seq in range(1, records + 1):
            for token in (SBIN, RELIANCE):
                recorder.append(START_NS + seq * 10_000_000, packet(3, 1, token, seq))
    finally:
        recorder.close()


async def test_replay_session_plays_a_recording_into_the_watchlist(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    write_recording(path, 200)
    session = ReplaySession(
        ReplaySessionOptions(
            path=path, journal_path=tmp_path / "replay.sqlite", speed=None,
            market_phase="always_open", seed=1,
        )
    )  # fmt: skip
    app = make_app(session, tmp_path / "ui")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: session.ended, what="the replay to end")
        await wait_for_row_price(app, "SBIN", SBIN)
        await wait_for_row_price(app, "RELIANCE", RELIANCE)
        last = session.latest(SBIN)
        assert last is not None and last.ltp == ltp_of(200)
        assert last.ts == START_NS + 200 * 10_000_000  # the recorded receive time
        assert session.market.now_ns == last.ts  # the session's clock is the replay's
        assert badge(app) == (REPLAY_MODE, "paper")
        await wait_until(lambda: session.status().feed == "ENDED", what="feed ENDED")

        # A marketable buy fills on paper against the replayed depth, at the replay's time.
        assert last.asks
        await pilot.press("b")
        await pilot.pause()
        await send_ticket(pilot, "5", format_price(last.asks[0].price + 50, 100))
        core = session.trading
        await wait_until(lambda: bool(core.trades()), what="the paper fill")
        (fill,) = core.trades()
        assert fill.qty == 5 and fill.price <= last.asks[0].price + 50
        assert fill.ts == last.ts
        await pilot.press("escape")
