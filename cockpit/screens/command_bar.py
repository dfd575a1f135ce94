"""The command bar (Bloomberg / Gloomberb style): one line that parses as you type.

``buy SBIN 10 limit 812.50 mis``, ``gtt SBIN sell 10 trigger 850 limit 849``, ``bracket SBIN buy
10 limit 812 sl 805 target 830 trail 2``, ``cancel all``, ``exit SBIN``, ``chart RELIANCE 5m``,
``alert SBIN above 820``, ``kill``, ``help``. The line under the field shows what the command
means (or what is wrong and a correct example) before Enter; the next word is suggested inline
(right arrow accepts it). Trade commands only FILL the ticket, GTT or bracket dialog for review:
nothing is ever sent from here. Cancel, exit, chart and alert act; kill opens the kill-switch
confirmation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from cockpit.screens.ticket import TicketValues
from cockpit.session_base import TradingSession
from engine.alerts import AlertError
from engine.commands import (
    AlertCommand,
    BracketCommand,
    CancelCommand,
    ChartCommand,
    CommandError,
    ExitCommand,
    GttCommand,
    HelpCommand,
    KillCommand,
    OrderCommand,
    complete,
    help_lines,
    parse_command,
)
from engine.models import OrderType, Product, Side, Validity
from keymaps import default_bindings

if TYPE_CHECKING:
    from cockpit.app import CockpitApp


class CommandSuggester(Suggester):
    """Suggests the next word of a command (verbs, symbols, keywords)."""

    def __init__(self, session: TradingSession) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.session = session

    async def get_suggestion(self, value: str) -> str | None:
        """``value`` with its last word completed by the first suggestion."""
        if not value or value.endswith(" "):
            return None
        options = complete(value, self.session.index, limit=1)
        if not options:
            return None
        head = value[: len(value) - len(value.split()[-1])]
        suggestion = head + options[0]
        return suggestion if suggestion.lower().startswith(value.lower()) else None


class CommandBarScreen(ModalScreen[str | None]):
    """A one-line command field at the bottom of the screen."""

    DEFAULT_CSS = """
    CommandBarScreen { align: center bottom; background: $background 30%; }
    CommandBarScreen > #bar {
        width: 100%; height: auto; background: $surface; border-top: thick $accent;
        padding: 0 1;
    }
    CommandBarScreen Input { border: none !important; height: 1; padding: 0; }
    CommandBarScreen #preview { height: auto; color: $muted; }
    CommandBarScreen #preview.-error { color: $error; }
    CommandBarScreen #preview.-ok { color: $success; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in default_bindings("Ticket") if b.action == "close"
    ]
    AUTO_FOCUS = "#command"

    def __init__(self, session: TradingSession, text: str = "") -> None:
        super().__init__()
        self.session = session
        self.initial = text

    def compose(self) -> ComposeResult:
        """The field and the preview line."""
        with Vertical(id="bar"):
            yield Input(self.initial, placeholder="buy SBIN 10 limit 812.50 · gtt · bracket · "
                        "cancel all · chart RELIANCE 5m · alert SBIN above 820 · help",
                        id="command", suggester=CommandSuggester(self.session))
            yield Static("Enter runs · trade commands fill a ticket for review · Esc closes",
                         id="preview")

    def preview(self, text: str) -> str:
        """What the command means, or what is wrong with it."""
        if not text.strip():
            return "Enter runs · trade commands fill a ticket for review · Esc closes"
        parsed = parse_command(text, self.session.index, ltp_of=self.session.ltp)
        if isinstance(parsed, CommandError):
            return parsed.text
        if isinstance(parsed, HelpCommand):
            return "help: lists every command with an example"
        return parsed.summary

    @on(Input.Changed, "#command")
    def _changed(self, event: Input.Changed) -> None:
        preview = self.query_one("#preview", Static)
        text = self.preview(event.value)
        error = bool(event.value.strip()) and isinstance(
            parse_command(event.value, self.session.index, ltp_of=self.session.ltp),
            CommandError,
        )
        preview.set_class(error, "-error")
        preview.set_class(not error and bool(event.value.strip()), "-ok")
        preview.update(text)

    @on(Input.Submitted, "#command")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.dismiss(None)
            return
        parsed = parse_command(text, self.session.index, ltp_of=self.session.ltp)
        if isinstance(parsed, CommandError):
            preview = self.query_one("#preview", Static)
            preview.set_class(True, "-error")
            preview.update(parsed.text)
            return
        self.dismiss(text)

    def action_close(self) -> None:
        """Close without running anything."""
        self.dismiss(None)


def run_command(app: CockpitApp, text: str) -> None:
    """Act on one command line (see the module docstring). Errors become a toast."""
    session = app.session
    parsed = parse_command(text, session.index, ltp_of=session.ltp)
    if isinstance(parsed, CommandError):
        app.notify(parsed.text, title="Command", severity="error", timeout=8)
        return
    if isinstance(parsed, OrderCommand):
        fields = parsed.intent_fields
        values = TicketValues(
            side=Side(fields["side"]),
            qty=int(fields["qty"]),
            order_type=OrderType(fields.get("order_type", OrderType.LIMIT)),
            price=int(fields.get("price", 0)),
            trigger=int(fields.get("trigger_price", 0)),
            product=Product(fields.get("product", Product.CNC)),
            validity=Validity(fields.get("validity", Validity.DAY)),
        )
        app.open_ticket(parsed.instrument, values.side, values=values)
    elif isinstance(parsed, GttCommand):
        app.open_gtt(parsed.instrument, kind=parsed.kind, legs=parsed.legs)
    elif isinstance(parsed, BracketCommand):
        app.open_bracket(parsed.instrument, spec_fields=parsed.spec_fields)
    elif isinstance(parsed, CancelCommand):
        if parsed.order_id is not None:
            app.cancel_item("orders", parsed.order_id)
        else:
            app.cancel_all(parsed.instrument.token if parsed.instrument else None)
    elif isinstance(parsed, ExitCommand):
        if parsed.instrument is None:
            app.exit_all()
        else:
            for position in session.trading.positions():
                if position.token == parsed.instrument.token and position.net_qty:
                    app.exit_position(f"{position.token}|{position.product.value}")
    elif isinstance(parsed, ChartCommand):
        app.main.show_chart(parsed.instrument, parsed.interval)
    elif isinstance(parsed, AlertCommand):
        add_alert(app, parsed)
    elif isinstance(parsed, KillCommand):
        app.action_kill_switch()
    else:
        app.notify("\n".join(help_lines(parsed.topic)), title="Commands", timeout=20)


def add_alert(app: CockpitApp, command: AlertCommand) -> bool:
    """Add a price alert from a parsed command; False (and a toast) if the book refuses it."""
    book = app.session.alerts
    rule = command.rule(book.next_id(), app.session.market.now_ns)
    try:
        book.add(rule, command.ltp)
    except AlertError as exc:
        app.notify(str(exc), title="Alert", severity="error", timeout=8)
        return False
    app.save_alerts()
    app.notify(f"alert set: {rule.describe()} ({rule.id})", title="Alert", timeout=4)
    return True
