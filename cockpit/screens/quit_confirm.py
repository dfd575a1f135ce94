"""Asks before quitting while orders are working (they stay working: paper orders resume from
the journal on the next start, live orders stay at the broker)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from cockpit.screens.common import dialog_css
from keymaps import default_bindings


class QuitScreen(ModalScreen[bool]):
    """Stay (focused) or Quit."""

    DEFAULT_CSS = dialog_css("QuitScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in default_bindings("Ticket") if b.action == "close"
    ]
    AUTO_FOCUS = "#stay"

    def __init__(self, open_orders: int, *, live: bool = False) -> None:
        super().__init__()
        self.open_orders = open_orders
        self.live = live

    def compose(self) -> ComposeResult:
        """The question and the two answers."""
        where = ("they stay working at the broker" if self.live else
                 "paper orders stay in the journal and resume on the next start")
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Quit?"
            yield Static(f"{self.open_orders} order(s) are still working.", classes="title")
            yield Static(f"Quitting does not cancel them: {where}.", classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Stay", id="stay")
                yield Button("Quit", id="quit", variant="error")

    @on(Button.Pressed, "#stay")
    def _stay(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        """Stay."""
        self.dismiss(False)
