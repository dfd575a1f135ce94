"""The Textual application: wires the session to the main screen and the dialogs.

The app stays thin: the layout is :class:`~cockpit.screens.main.MainScreen`, every dialog is a
screen in :mod:`cockpit.screens`. What lives here is what several screens share: the session, the
keymap (``set_keymap`` with the user's resolved keymap; clashes shown at start), the one frame
timer that drains the session into the widgets inside ``batch_update``, notifications (toasts,
optional bell, history, outbound notifier), the commands every screen can ask for (open a ticket,
cancel, exit, kill), quitting (asks first while orders are open) and the signal handlers
(SIGTERM and SIGHUP flush the journal and exit cleanly).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.css.query import NoMatches
from textual.dom import DOMNode

from cockpit.config import CockpitConfig
from cockpit.help_screen import HelpScreen
from cockpit.notifications import EventNotifications, alert_notification
from cockpit.notify import Notifier
from cockpit.paths import AppPaths
from cockpit.screens.alerts import AlertsScreen
from cockpit.screens.bracket import BracketScreen
from cockpit.screens.command_bar import CommandBarScreen, run_command
from cockpit.screens.gtt import GttScreen
from cockpit.screens.kill_switch import KillSwitchScreen
from cockpit.screens.main import MainScreen
from cockpit.screens.quit_confirm import QuitScreen
from cockpit.screens.search import InstrumentProvider
from cockpit.screens.ticket import TicketMemory, TicketOutcome, TicketScreen, TicketValues
from cockpit.session import PaperSession, PaperSessionOptions
from cockpit.session_base import TradingSession
from engine.alerts import AlertBook, AlertError, Notification, NotificationHistory, Severity
from engine.commands import parse_command
from engine.gtt import GttError
from engine.models import Instrument, OrderType, Product, Side
from keymaps import (
    KeymapError,
    ResolvedKeymap,
    clashes_from_textual,
    default_bindings,
    is_unbound_key,
    load_keymap,
)
from themes import THEMES, resolve_theme_name
from widgets.status_bar import StatusBarInfo

log = logging.getLogger("cockpit.app")

_SEVERITY = {
    Severity.INFO: "information",
    Severity.WARNING: "warning",
    Severity.CRITICAL: "error",
}


class CockpitApp(App[int]):
    """The cockpit: the main screen over a session (paper, live, live data with paper fills, or a
    replay: any :class:`~cockpit.session_base.TradingSession`), every dialog, one frame timer."""

    TITLE = "Cockpit"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { background: $background; }
    """
    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Global"))

    def __init__(
        self,
        *,
        config: CockpitConfig,
        paths: AppPaths,
        paper: PaperSessionOptions | None = None,
        session: TradingSession | None = None,
        keymap_dirs: Iterable[Path] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.paths = paths
        self.animation_level = "none"
        for theme in THEMES.values():
            self.register_theme(theme)
        wanted = resolve_theme_name(config.app.theme)
        if wanted not in self.available_themes:
            log.warning("unknown theme %s; using cockpit-dark", wanted)
            wanted = "cockpit-dark"
        self.theme = wanted
        if session is None:
            session = PaperSession(paper or PaperSessionOptions())
        self.session: TradingSession = session
        self.startup_problems: list[str] = []
        dirs = list(keymap_dirs) if keymap_dirs is not None else [paths.config_dir / "keymaps"]
        try:
            self.keymap: ResolvedKeymap = load_keymap(config.app.keymap, config.keymap,
                                                      user_dirs=dirs)
        except KeymapError as exc:
            self.startup_problems.append(f"{exc}; using the default keymap")
            self.keymap = load_keymap("default", {})
        self.ticket_memory = TicketMemory()
        self.history = NotificationHistory()
        self.notifier = Notifier(config.notify)
        self.notifications: EventNotifications | None = None
        self._reported_clashes: set[tuple[str, ...]] = set()
        self._main: MainScreen | None = None
        self._signals: list[int] = []
        self._shutting_down = False
        self.frame_count = 0

    # -- start and stop -----------------------------------------------------------------------
    async def on_mount(self) -> None:
        """Start the session, apply the keymap, show the main screen, start the frame timer."""
        await self.session.start()
        core = self.session.core
        if core is not None:
            self.notifications = EventNotifications(core, self.session.instrument)
        self._load_alerts()
        self.set_keymap(self.keymap.for_textual())
        self._main = MainScreen(self._load_watchlists())
        await self.push_screen(self._main)
        for problem in self.startup_problems:
            self.notify(problem, title="Config", severity="warning", timeout=10)
        for problem in self.session.problems:
            self.notify(problem, title="Session", severity="warning", timeout=10)
        for clash in self.keymap.clashes:
            self.notify(clash.message, title="Key clash", severity="warning", timeout=10)
        await self.notifier.start()
        self._install_signal_handlers()
        self.set_interval(1 / self.config.app.frame_hz, self.frame, name="frame")
        # Everything built at start-up (universe, books, widgets) lives for the whole session:
        # move it out of the collector's way so later collections stay short (research §C).
        gc.collect()
        gc.freeze()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._signals.append(sig)

    def _on_signal(self, sig: int) -> None:
        log.warning("signal %s: flushing the journal and exiting", signal.Signals(sig).name)
        self.call_later(self.shutdown, 0)

    async def shutdown(self, code: int = 0) -> None:
        """Stop the session (journal flushed and closed), the notifier, then exit."""
        if self._shutting_down:
            return
        self._shutting_down = True
        await self.session.stop()
        await self.notifier.close()
        self.exit(code)

    async def on_unmount(self) -> None:
        """Make sure the market task is gone and the journal closed; drop signal handlers."""
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        self._signals.clear()
        await self.session.stop()
        await self.notifier.close()

    # -- the frame ----------------------------------------------------------------------------
    @property
    def main(self) -> MainScreen:
        """The main screen."""
        if self._main is None:
            raise RuntimeError("the main screen is not up yet")
        return self._main

    def frame(self) -> None:
        """One UI frame: drain the session into the widgets, then the notifications."""
        if self._main is None or self._shutting_down or not self._main.is_mounted:
            return
        self.frame_count += 1
        with self.batch_update():
            try:
                events = self._main.frame()
            except NoMatches:  # the screen is being torn down
                return
            out: list[Notification] = []
            if self.notifications is not None:
                for event in events:
                    out.extend(self.notifications.from_event(event))
            fired = self.session.take_alerts()
            out.extend(alert_notification(f) for f in fired)
            if fired:
                self.save_alerts()
            for notification in out:
                self.post_notification(notification)

    def post_notification(self, notification: Notification) -> None:
        """Toast, bell (if configured), history and the outbound notifier."""
        self.history.add(notification)
        self.notify(notification.body, title=notification.title,
                    severity=_SEVERITY[notification.severity],  # type: ignore[arg-type]
                    timeout=8 if notification.severity is not Severity.INFO else 4)
        if self.config.app.bell:
            self.bell()
        self.notifier.notify(notification)

    def decorate_status(self, info: StatusBarInfo) -> StatusBarInfo:
        """Add what the app knows to the session's figures (unread notifications)."""
        return replace(info, unread=self.history.unread)

    # -- keymap -------------------------------------------------------------------------------
    def get_key_display(self, binding: Binding) -> str:
        """Unbound actions (moved to a key no terminal sends) show as ``unbound``."""
        if is_unbound_key(binding.key):
            return "unbound"
        return super().get_key_display(binding)

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        """Report each clash Textual finds once."""
        for clash in clashes_from_textual(clashed_bindings):
            if clash.ids in self._reported_clashes:
                continue
            self._reported_clashes.add(clash.ids)
            log.warning("key clash: %s", clash.message)
            self.notify(clash.message, title="Key clash", severity="warning", timeout=10)

    # -- persistence --------------------------------------------------------------------------
    def _per_kind_file(self, stem: str) -> Path:
        """``<stem>.json`` for the simulated market, ``<stem>-<kind>.json`` for the others: the
        files hold instrument tokens, and a token of one kind (the simulated universe, the Angel
        One master, a recording's instruments) must never name another instrument in another."""
        name = self.session.watchlist_name
        return self.paths.data_dir / (f"{stem}.json" if name == "paper"
                                      else f"{stem}-{name}.json")

    @property
    def watchlist_file(self) -> Path:
        """Where the watchlists are kept (user data dir, one file per kind of session)."""
        return self._per_kind_file("watchlists")

    @property
    def alerts_file(self) -> Path:
        """Where the price alerts are kept (user data dir, one file per kind of session)."""
        return self._per_kind_file("alerts")

    def _load_watchlists(self) -> dict[str, list[Instrument]]:
        session = self.session
        lists: dict[str, list[Instrument]] = {}
        saved: dict[str, list[str]] | None = None
        if self.watchlist_file.exists():
            try:
                data = json.loads(self.watchlist_file.read_text(encoding="utf-8"))
                saved = {str(k): [str(t) for t in v] for k, v in data["lists"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                self.startup_problems.append(
                    f"{self.watchlist_file}: cannot be read ({exc}); using the config watchlists"
                )
        if saved is not None:
            for name, tokens in saved.items():
                lists[name] = [i for t in tokens if (i := session.instrument(t)) is not None]
            return lists
        for name, symbols in self.config.watchlists.items():
            found: list[Instrument] = []
            for symbol in symbols:
                parsed = parse_command(f"chart {symbol}", session.index, ltp_of=session.ltp)
                instrument = getattr(parsed, "instrument", None)
                if isinstance(instrument, Instrument):
                    found.append(instrument)
                else:
                    self.startup_problems.append(
                        f"config.toml watchlists.{name}: no instrument {symbol!r} ({parsed})"
                    )
            lists[name] = found
        return lists

    def save_watchlists(self, lists: dict[str, list[str]]) -> None:
        """Persist the watchlists (tokens per list) in the user data dir."""
        try:
            self.paths.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.watchlist_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": 1, "lists": lists}, indent=1),
                           encoding="utf-8")
            tmp.replace(self.watchlist_file)
        except OSError as exc:
            self.notify(f"watchlists not saved: {exc}", severity="error")

    def _load_alerts(self) -> None:
        if not self.alerts_file.exists():
            return
        try:
            data = json.loads(self.alerts_file.read_text(encoding="utf-8"))
            self.session.alerts = AlertBook.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError, AlertError) as exc:
            self.startup_problems.append(f"{self.alerts_file}: cannot be read ({exc})")

    def save_alerts(self) -> None:
        """Persist the price alerts in the user data dir."""
        try:
            self.paths.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.alerts_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.session.alerts.to_dict()), encoding="utf-8")
            tmp.replace(self.alerts_file)
        except OSError as exc:
            self.notify(f"alerts not saved: {exc}", severity="error")

    # -- dialogs ------------------------------------------------------------------------------
    def _ticket_done(self, outcome: TicketOutcome | None) -> None:
        if outcome is not None:
            self.notify(f"{outcome.message} ({outcome.client_order_id})", title="Order",
                        timeout=3)

    def open_ticket(
        self,
        instrument: Instrument,
        side: Side,
        *,
        price: int = 0,
        values: TicketValues | None = None,
    ) -> None:
        """Open a buy/sell ticket (LIMIT at ``price`` when given, else the remembered values)."""
        if not instrument.tradable:
            self.notify(f"{instrument.name} is an index and cannot be traded; use its future",
                        severity="warning")
            return
        if values is None:
            values = self.ticket_memory.recall(instrument, side)
            if price:
                kind = values.order_type if values.order_type is OrderType.LIMIT else (
                    OrderType.LIMIT)
                values = replace(values, order_type=kind, price=price)
        self.push_screen(TicketScreen(self.session, instrument, values,
                                      memory=self.ticket_memory), self._ticket_done)

    def open_gtt(self, instrument: Instrument, **prefill: object) -> None:
        """Open the GTT dialog (single or OCO) for an instrument."""
        if not instrument.tradable:
            self.notify(f"{instrument.name} is an index; a GTT needs a tradable instrument",
                        severity="warning")
            return
        self.push_screen(GttScreen(self.session, instrument, **prefill),  # type: ignore[arg-type]
                         self._dialog_done)

    def open_bracket(self, instrument: Instrument, **prefill: object) -> None:
        """Open the bracket dialog for an instrument."""
        if not instrument.tradable:
            self.notify(f"{instrument.name} is an index; a bracket needs a tradable instrument",
                        severity="warning")
            return
        self.push_screen(BracketScreen(self.session, instrument, **prefill),  # type: ignore[arg-type]
                         self._dialog_done)

    def _dialog_done(self, message: str | None) -> None:
        if message:
            self.notify(message, timeout=3)

    def modify_order(self, client_order_id: str) -> None:
        """Open a modify ticket for a working order."""
        core = self.session.trading
        order = core.order(client_order_id)
        instrument = self.session.instrument(order.token) if order is not None else None
        if order is None or instrument is None or not order.is_open:
            self.notify(f"order {client_order_id} is not working; nothing to modify",
                        severity="warning")
            return
        values = TicketValues(side=order.side, qty=order.qty, order_type=order.order_type,
                              price=order.price, trigger=order.trigger_price,
                              product=order.product, validity=order.validity)
        self.push_screen(TicketScreen(self.session, instrument, values,
                                      modify_order_id=client_order_id), self._ticket_done)

    @work(group="orders")
    async def cancel_item(self, tab: str, key: str) -> None:
        """Cancel an order, a GTT or a bracket (by blotter tab and key)."""
        core = self.session.trading
        if tab == "gtt":
            try:
                await core.cancel_gtt(key)
            except GttError as exc:
                self.notify(str(exc), severity="warning")
                return
            self.notify(f"GTT {key} cancelled", timeout=3)
        elif tab == "brackets":
            await core.cancel_bracket(key)
            self.notify(f"bracket {key} stopped (its position, if any, is left open)",
                        timeout=4)
        else:
            result = await core.cancel(key)
            self.notify(result.message, severity="information" if result.accepted
                        else "warning", timeout=3)

    @work(group="orders")
    async def cancel_all(self, token: str | None = None) -> None:
        """Cancel every open order (of one instrument)."""
        results = await self.session.trading.cancel_all(token)
        sent = sum(1 for r in results if r.accepted)
        self.notify(f"cancel sent for {sent} order(s)", timeout=3)

    @work(group="orders")
    async def exit_position(self, key: str) -> None:
        """Exit one position (blotter key ``token|product``) with a protected market order."""
        token, _, product = key.partition("|")
        result = await self.session.trading.exit_position(token, Product(product))
        if result is None:
            self.notify("position already flat", timeout=3)
        else:
            self.notify(result.message, severity="information" if result.accepted
                        else "warning", timeout=4)

    @work(group="orders")
    async def exit_all(self) -> None:
        """Exit every open position."""
        core = self.session.trading
        count = 0
        for position in core.positions():
            if position.net_qty:
                result = await core.exit_position(position.token, position.product)
                count += 1 if result is not None and result.accepted else 0
        self.notify(f"exit sent for {count} position(s)", timeout=3)

    def search_instrument(self, *, add_to_watchlist: bool = False) -> None:
        """Fuzzy instrument search (the command palette with the instrument provider)."""
        InstrumentProvider.add_to_watchlist = add_to_watchlist
        self.push_screen(CommandPalette(
            providers=[InstrumentProvider],
            placeholder="Add to the watchlist…" if add_to_watchlist else "Find an instrument…",
        ))

    def instrument_chosen(self, instrument: Instrument, add: bool) -> None:
        """From the search: show it (and add it to the shown watchlist when asked)."""
        from widgets.watchlist import Watchlist

        watchlist = self.main.query_one(Watchlist)
        if add:
            watchlist.add(instrument)
        elif not watchlist.move_to(instrument.token):
            self.main.set_instrument(instrument)

    # -- actions ------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; asks first while orders are working."""
        core = self.session.core
        open_orders = len(core.open_orders()) if core is not None else 0
        if open_orders and not isinstance(self.screen, QuitScreen):
            def answered(quit_: bool | None) -> None:
                if quit_:
                    self.call_later(self.shutdown, 0)

            self.push_screen(QuitScreen(open_orders, live=self.session.is_live), answered)
            return
        await self.shutdown(0)

    def action_help(self) -> None:
        """The keys of the active keymap."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap))

    def action_search(self) -> None:
        """Find an instrument."""
        self.search_instrument()

    def action_command_palette(self) -> None:
        """The command bar (``buy SBIN 10 limit 812.50 mis`` ...)."""
        if isinstance(self.screen, CommandBarScreen):
            return
        self.push_screen(CommandBarScreen(self.session), self._command_entered)

    def _command_entered(self, text: str | None) -> None:
        if text:
            run_command(self, text)

    def action_kill_switch(self) -> None:
        """The kill switch (asks first) or its re-arm flow."""
        if self.session.core is None or isinstance(self.screen, KillSwitchScreen):
            return
        self.push_screen(KillSwitchScreen(self.session), self._dialog_done)

    def action_alerts(self) -> None:
        """Price alerts and the notification history."""
        instrument = self._main.focused_instrument() if self._main is not None else None
        self.history.mark_read()
        self.push_screen(AlertsScreen(self, instrument))

    def action_next_theme(self) -> None:
        """Cycle through the cockpit themes."""
        names = list(THEMES)
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
