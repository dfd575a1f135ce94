"""The review gate every order, GTT and bracket passes before it is sent.

Gloomberb's rule (research anchors-ui §A3): focus starts on **Edit**, so a repeated Enter from
the ticket goes back to editing instead of sending. Sending needs the focus moved to **Send**
(tab or right arrow) and Enter. In a LIVE session the trader must also type the symbol before
Send is enabled. The screen answers True (send) or False (back to edit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from cockpit.screens.common import dialog_css
from keymaps import default_bindings


class ReviewScreen(ModalScreen[bool]):
    """Shows what will be sent; Edit (focused first) or Send."""

    DEFAULT_CSS = dialog_css("ReviewScreen") + """
    ReviewScreen #lines { height: auto; }
    ReviewScreen #confirm-symbol { margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *(b for b in default_bindings("Ticket") if b.action == "close"),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    AUTO_FOCUS = "#edit"

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        side: str = "",
        confirm_symbol: str | None = None,
    ) -> None:
        super().__init__()
        self.review_title = title
        self.lines = list(lines)
        self.side = side
        self.confirm_symbol = confirm_symbol

    def compose(self) -> ComposeResult:
        """Title, the order in words, the LIVE symbol check, Edit and Send."""
        with Vertical(id="dialog", classes=f"-{self.side}" if self.side else "") as dialog:
            dialog.border_title = "Review"
            yield Static(self.review_title, classes="title")
            yield Static("\n".join(self.lines), id="lines")
            if self.confirm_symbol is not None:
                yield Static(f"LIVE order: type {self.confirm_symbol} to enable Send",
                             classes="error")
                yield Input(placeholder=self.confirm_symbol, id="confirm-symbol")
            yield Static("Enter on Edit goes back · move to Send and press Enter to send",
                         classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Edit", id="edit", variant="default")
                yield Button("Send", id="send", variant="error" if self.side == "sell"
                             else "success", disabled=self.confirm_symbol is not None)

    @on(Input.Changed, "#confirm-symbol")
    def _symbol_typed(self, event: Input.Changed) -> None:
        wanted = (self.confirm_symbol or "").upper()
        self.query_one("#send", Button).disabled = event.value.strip().upper() != wanted

    @on(Button.Pressed, "#edit")
    def _edit(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        """Back to the ticket."""
        self.dismiss(False)
