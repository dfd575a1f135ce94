"""Price alerts and the notification history.

The field at the top takes an alert in the command bar's words (``alert SBIN above 820``,
``below``, ``cross``, ``move 1%``); it opens prefilled with the focused instrument. Below: the
alerts (active and fired) and the notifications, newest first (fills, rejections, GTT triggers,
risk and kill-switch events, alerts). Opening this screen marks the notifications as read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from cockpit.screens.common import dialog_css
from engine.alerts import AlertStatus
from engine.clock import to_ist
from engine.commands import AlertCommand, CommandError, parse_command
from engine.models import Instrument
from keymaps import default_bindings
from widgets.watchlist import display_symbol

if TYPE_CHECKING:
    from cockpit.app import CockpitApp

HISTORY_SHOWN = 200
"""Notifications listed (the history keeps more)."""


class AlertsScreen(ModalScreen[None]):
    """Add an alert; list alerts and notifications."""

    DEFAULT_CSS = dialog_css("AlertsScreen") + """
    AlertsScreen > #dialog { width: 110; height: 90%; }
    AlertsScreen #lists { height: 1fr; }
    AlertsScreen .section { height: 1; color: $text-accent; text-style: bold; margin-top: 1; }
    AlertsScreen #alert-list, AlertsScreen #history { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in default_bindings("Ticket") if b.action == "close"
    ]
    AUTO_FOCUS = "#new-alert"

    def __init__(self, app: CockpitApp, instrument: Instrument | None) -> None:
        super().__init__()
        self.cockpit = app
        self.instrument = instrument

    def compose(self) -> ComposeResult:
        """The field, the alerts, the history."""
        start = (f"alert {display_symbol(self.instrument)} above "
                 if self.instrument is not None and self.instrument.tradable else
                 f"alert {self.instrument.name} above " if self.instrument is not None
                 else "alert ")
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Alerts and notifications"
            yield Input(start, id="new-alert",
                        placeholder="alert SBIN above 820 · below 790 · cross 800 · move 1%")
            yield Static("Enter adds the alert · Esc closes", id="verdict", classes="note")
            with VerticalScroll(id="lists"):
                yield Static("Alerts", classes="section")
                yield Static(self.alert_text(), id="alert-list")
                yield Static("Notifications", classes="section")
                yield Static(self.history_text(), id="history")

    def alert_text(self) -> str:
        """One line per alert: id, what it watches, ACTIVE/FIRED and how often it fired."""
        book = self.cockpit.session.alerts
        rules = book.list()
        if not rules:
            return "no alerts yet"
        lines = []
        for rule in rules:
            status = book.status(rule.id)
            fired = book.fired_count(rule.id)
            mark = "●" if status is AlertStatus.ACTIVE else "○"
            count = f" fired {fired}×" if fired else ""
            lines.append(f"{mark} {rule.id:<6} {rule.describe():<36} {status.value}{count}")
        return "\n".join(lines)

    def history_text(self) -> str:
        """The notifications, newest first."""
        items = self.cockpit.history.latest(HISTORY_SHOWN)
        if not items:
            return "nothing yet"
        lines = []
        for item in items:
            when = to_ist(item.ts).strftime("%H:%M:%S")
            lines.append(f"{when} {item.severity.value[:4].upper():<4} {item.title}: {item.body}")
        return "\n".join(lines)

    @on(Input.Submitted, "#new-alert")
    def _add(self, event: Input.Submitted) -> None:
        from cockpit.screens.command_bar import add_alert

        session = self.cockpit.session
        text = event.value.strip()
        if not text.lower().startswith("alert"):
            text = f"alert {text}"
        parsed = parse_command(text, session.index, ltp_of=session.ltp)
        verdict = self.query_one("#verdict", Static)
        if isinstance(parsed, CommandError):
            verdict.update(parsed.text)
            return
        if not isinstance(parsed, AlertCommand):
            verdict.update("only alerts here: alert SBIN above 820")
            return
        if add_alert(self.cockpit, parsed):
            verdict.update(f"added: {parsed.summary}")
            self.query_one("#alert-list", Static).update(self.alert_text())

    def action_close(self) -> None:
        """Close."""
        self.dismiss(None)
