"""The main screen: watchlist | depth ladder + tape | chart on top, the blotter tabs below, the
status bar and the key footer.

At 160x48 every pane shows; under 120 columns the chart and the tape fold away (the watchlist and
the depth ladder stay), and under 36 rows the blotter shrinks. Nothing here repaints per tick:
:meth:`MainScreen.frame` runs on the app's frame timer, drains what changed since the last frame
and hands it to the widgets inside one ``batch_update``. The chart takes the forming bar every
frame but redraws at most once a second (or at once when a bar closes or the series changes).
The screen asks the session to stream the shown watchlist and the focused instrument
(``session.subscribe``) when a list is loaded, switched or added to: a live feed streams only what
is subscribed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from cockpit.blotter_rows import bracket_rows, gtt_rows, order_rows, position_rows, trade_rows
from engine.core import CoreEvent
from engine.models import Instrument, Interval, Side
from keymaps import default_bindings
from widgets.blotter import Blotter
from widgets.candle_chart import Overlay
from widgets.chart_pane import OVERLAY_SETS, ChartPane
from widgets.depth_ladder import DepthLadder
from widgets.status_bar import StatusBar
from widgets.tape import Tape
from widgets.watchlist import Watchlist

if TYPE_CHECKING:
    from cockpit.app import CockpitApp


class MainScreen(Screen[None]):
    """The trading screen."""

    DEFAULT_CSS = """
    MainScreen { layout: vertical; }
    MainScreen #top { height: 1fr; }
    MainScreen #watchlist { width: 60; border-right: tall $panel; }
    MainScreen #middle { width: 46; border-right: tall $panel; }
    MainScreen #ladder { height: auto; max-height: 24; }
    MainScreen #tape { height: 1fr; border-top: tall $panel; }
    MainScreen #chart { width: 1fr; }
    MainScreen #blotter { height: 14; border-top: tall $panel; }
    MainScreen.-narrow #watchlist { width: 1fr; }
    MainScreen.-narrow #middle { width: 42; }
    MainScreen.-narrow #chart { display: none; }
    MainScreen.-narrow #tape { display: none; }
    MainScreen.-short #blotter { height: 7; }
    MainScreen Watchlist:focus, MainScreen DepthLadder:focus, MainScreen Blotter:focus,
    MainScreen Tape:focus { background-tint: $primary 6%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *default_bindings("Orders"),
        *default_bindings("Tabs"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 - Textual's type
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012 - Textual's type
    AUTO_FOCUS = "#watchlist"

    def __init__(self, watchlists: dict[str, list[Instrument]]) -> None:
        super().__init__()
        self._lists = watchlists
        self._instrument: Instrument | None = None
        self._interval = Interval.M1
        self._overlays: tuple[Overlay, ...] = OVERLAY_SETS[1]
        self._dirty_tabs: set[str] = {"orders", "trades", "gtt", "brackets"}
        self._streamed: set[str] = set()
        self._list_shown: str | None = None
        self.frames = 0

    @property
    def cockpit(self) -> CockpitApp:
        """The app, typed."""
        from cockpit.app import CockpitApp

        app = self.app
        assert isinstance(app, CockpitApp)
        return app

    @property
    def instrument(self) -> Instrument | None:
        """The focused instrument (the one the ladder, tape and chart show)."""
        return self._instrument

    def compose(self) -> ComposeResult:
        """The panes."""
        with Horizontal(id="top"):
            yield Watchlist(self._lists, id="watchlist")
            with Vertical(id="middle"):
                yield DepthLadder(id="ladder")
                yield Tape(id="tape")
            yield ChartPane(id="chart")
        yield Blotter(id="blotter")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Stream the shown watchlist and show its first instrument."""
        watchlist = self.query_one(Watchlist)
        self._stream_shown()
        first = watchlist.cursor_instrument
        if first is not None:
            self.set_instrument(first)

    def _stream_shown(self) -> None:
        """Ask the session to stream the shown list and the focused instrument (a live feed
        streams only what is subscribed; the simulated market and a replay stream everything).
        Asked once per instrument; a token the feed refuses is reported, not fatal."""
        watchlist = self.query_one(Watchlist)
        self._list_shown = watchlist.list_name
        wanted = [i.token for i in watchlist.instruments]
        if self._instrument is not None:
            wanted.append(self._instrument.token)
        new = [t for t in dict.fromkeys(wanted) if t not in self._streamed]
        if not new:
            return
        self._streamed.update(new)
        session = self.cockpit.session
        try:
            session.subscribe(new)
        except ValueError:  # SubscriptionError: one is not in the master / not on the feed
            for token in new:  # stream the others; say which one was refused
                try:
                    session.subscribe(token)
                except ValueError as exc:
                    self.notify(f"not streamed: {exc}", severity="warning")

    # -- the focused instrument ---------------------------------------------------------------
    def set_instrument(self, instrument: Instrument | None) -> None:
        """Show ``instrument`` in the ladder, the tape and the chart."""
        if instrument == self._instrument:
            return
        self._instrument = instrument
        session = self.cockpit.session
        ladder = self.query_one(DepthLadder)
        ladder.set_instrument(instrument)
        tape = self.query_one(Tape)
        tape.set_instrument(instrument)
        chart = self.query_one(ChartPane)
        chart.set_instrument(instrument)
        if instrument is None:
            return
        if instrument.token not in self._streamed:
            self._stream_shown()
        quote = session.latest(instrument.token)
        if quote is not None:
            ladder.apply_quote(quote)
        tape.add_trades(session.tape(instrument.token))
        self._load_bars()

    def _load_bars(self) -> None:
        instrument = self._instrument
        if instrument is None:
            return
        bars = self.cockpit.session.bars
        series = bars.bars(instrument.token, self._interval)
        current = bars.current(instrument.token, self._interval)
        if current is not None and (not series or current.start > series[-1].start):
            series.append(current)
        self.query_one(ChartPane).set_bars(series, interval=self._interval,
                                           overlays=self._overlays)

    def show_chart(self, instrument: Instrument, interval: Interval | None) -> None:
        """``chart SYMBOL 5m``: chart that instrument (at that interval)."""
        if interval is not None:
            self._interval = interval
        if instrument != self._instrument:
            self.set_instrument(instrument)
        else:
            self._load_bars()

    # -- the frame ----------------------------------------------------------------------------
    def frame(self) -> list[CoreEvent]:
        """Drain what changed and update the widgets; returns the core events seen (the app
        turns them into notifications)."""
        session = self.cockpit.session
        self.frames += 1
        dirty = session.take_dirty()
        trades = session.take_new_trades()
        events = session.take_core_events()
        closed = session.bars.take_closed()
        self.query_one(Watchlist).apply_quotes(dirty)
        instrument = self._instrument
        if instrument is not None:
            token = instrument.token
            quote = dirty.get(token)
            if quote is not None:
                self.query_one(DepthLadder).apply_quote(quote)
            new = trades.get(token)
            if new:
                self.query_one(Tape).add_trades(new)
            chart = self.query_one(ChartPane)
            for bar in closed:
                if bar.token == token and bar.interval is self._interval:
                    chart.update_last_bar(bar)
            current = session.bars.current(token, self._interval)
            if current is not None:
                chart.update_last_bar(current)
        for event in events:
            if event.kind in ("order", "fill"):
                self._dirty_tabs.update(("orders", "trades"))
            elif event.kind == "gtt":
                self._dirty_tabs.add("gtt")
            elif event.kind == "bracket":
                self._dirty_tabs.add("brackets")
            else:
                self._dirty_tabs.update(("orders", "gtt", "brackets"))
        self._update_blotter()
        status = session.status()
        self.query_one(StatusBar).show(self.cockpit.decorate_status(status))
        return events

    def _update_blotter(self) -> None:
        core = self.cockpit.session.core
        if core is None:
            return
        blotter = self.query_one(Blotter)
        of = self.cockpit.session.instrument
        blotter.set_rows("positions", position_rows(core.positions(), of))
        dirty, self._dirty_tabs = self._dirty_tabs, set()
        if "orders" in dirty:
            blotter.set_rows("orders", order_rows(core.orders(), of))
        if "trades" in dirty:
            blotter.set_rows("trades", trade_rows(core.trades(), of))
        if "gtt" in dirty:
            blotter.set_rows("gtt", gtt_rows(core.gtts(), of))
        if "brackets" in dirty:
            blotter.set_rows("brackets", bracket_rows(core.brackets(), of))

    # -- keys ---------------------------------------------------------------------------------
    def focused_instrument(self) -> Instrument | None:
        """What B/S/G/O act on: the watchlist row when the watchlist has focus, else the
        instrument the ladder shows."""
        watchlist = self.query_one(Watchlist)
        if watchlist.has_focus and watchlist.cursor_instrument is not None:
            return watchlist.cursor_instrument
        return self._instrument or watchlist.cursor_instrument

    def action_buy(self) -> None:
        """Buy ticket for the focused instrument."""
        instrument = self.focused_instrument()
        if instrument is not None:
            self.cockpit.open_ticket(instrument, Side.BUY)

    def action_sell(self) -> None:
        """Sell ticket for the focused instrument."""
        instrument = self.focused_instrument()
        if instrument is not None:
            self.cockpit.open_ticket(instrument, Side.SELL)

    def action_gtt(self) -> None:
        """GTT ticket for the focused instrument."""
        instrument = self.focused_instrument()
        if instrument is not None:
            self.cockpit.open_gtt(instrument)

    def action_bracket(self) -> None:
        """Bracket ticket for the focused instrument."""
        instrument = self.focused_instrument()
        if instrument is not None:
            self.cockpit.open_bracket(instrument)

    def action_show_tab(self, tab: str) -> None:
        """Show a blotter tab and focus the blotter."""
        blotter = self.query_one(Blotter)
        blotter.show_tab(tab)
        blotter.focus()

    # -- pane messages ------------------------------------------------------------------------
    @on(Watchlist.Highlighted)
    def _highlighted(self, event: Watchlist.Highlighted) -> None:
        if self.query_one(Watchlist).list_name != self._list_shown:
            self._stream_shown()  # another list is shown
        self.set_instrument(event.instrument)

    @on(Watchlist.DepthRequested)
    def _depth(self, event: Watchlist.DepthRequested) -> None:
        self.set_instrument(event.instrument)
        self.query_one(DepthLadder).focus()

    @on(Watchlist.AddRequested)
    def _add(self) -> None:
        self.cockpit.search_instrument(add_to_watchlist=True)

    @on(Watchlist.ListsChanged)
    def _lists_changed(self, event: Watchlist.ListsChanged) -> None:
        self.cockpit.save_watchlists(event.lists)
        self._stream_shown()

    @on(DepthLadder.LevelSelected)
    def _level(self, event: DepthLadder.LevelSelected) -> None:
        self.cockpit.open_ticket(event.instrument, event.side_to_trade, price=event.price)

    @on(ChartPane.IntervalRequested)
    def _interval_changed(self, event: ChartPane.IntervalRequested) -> None:
        self._interval = event.interval
        self._load_bars()

    @on(ChartPane.OverlaysRequested)
    def _overlays_changed(self, event: ChartPane.OverlaysRequested) -> None:
        self._overlays = event.overlays
        self._load_bars()

    @on(Blotter.ModifyRequested)
    def _modify(self, event: Blotter.ModifyRequested) -> None:
        self.cockpit.modify_order(event.key)

    @on(Blotter.CancelRequested)
    def _cancel(self, event: Blotter.CancelRequested) -> None:
        self.cockpit.cancel_item(event.tab, event.key)

    @on(Blotter.CancelAllRequested)
    def _cancel_all(self) -> None:
        self.cockpit.cancel_all()

    @on(Blotter.ExitRequested)
    def _exit(self, event: Blotter.ExitRequested) -> None:
        self.cockpit.exit_position(event.key)
