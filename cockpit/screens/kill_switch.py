"""The kill switch screen: says exactly what pressing it will do, or re-arms a tripped switch.

ARMED: the plan in numbers (open orders cancelled, GTTs cancelled, brackets stopped, positions
flattened with protected market orders) and two buttons, **Back** (focused) and **KILL**.
TRIGGERED or LOCKED: why and when it tripped, what is still open, and the re-arm flow: type REARM
and press Re-arm (the core refuses while positions are still being flattened, and says so).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from cockpit.screens.common import dialog_css
from cockpit.session_base import TradingSession
from engine.gtt import GttStatus
from engine.kill_switch import REARM_PHRASE, KillSwitchError, KillSwitchState
from keymaps import default_bindings


def kill_plan_lines(session: TradingSession) -> list[str]:
    """What a manual kill would do now, in numbers."""
    core = session.trading
    orders = len([o for o in core.open_orders() if not o.external])
    gtts = sum(1 for r in core.gtts() if r.status is GttStatus.ACTIVE)
    brackets = sum(1 for b in core.brackets() if not b.state.is_terminal)
    positions = [p for p in core.positions() if p.net_qty]
    protection = core.kill_switch.market_protection_pct
    return [
        f"• cancel {orders} open order{'s' if orders != 1 else ''}",
        f"• cancel {gtts} active GTT{'s' if gtts != 1 else ''}",
        f"• stop {brackets} bracket{'s' if brackets != 1 else ''}",
        f"• flatten {len(positions)} position{'s' if len(positions) != 1 else ''} with market "
        f"orders (protection {protection}%)",
        f"• block every new order until re-armed by typing {REARM_PHRASE}",
    ]


class KillSwitchScreen(ModalScreen[str | None]):
    """Trigger the kill switch (after reading the plan) or re-arm it."""

    DEFAULT_CSS = dialog_css("KillSwitchScreen") + """
    KillSwitchScreen > #dialog { border: thick $error; }
    KillSwitchScreen #rearm { margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in default_bindings("Ticket") if b.action == "close"
    ]

    def __init__(self, session: TradingSession) -> None:
        super().__init__()
        self.session = session

    @property
    def state(self) -> KillSwitchState:
        """The switch's state when the screen opened."""
        return self.session.trading.kill_switch.state

    def compose(self) -> ComposeResult:
        """Plan and KILL when armed; reason, state and the re-arm field when tripped."""
        switch = self.session.trading.kill_switch
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Kill switch"
            if switch.state is KillSwitchState.ARMED:
                yield Static("KILL SWITCH: this will, at once:", classes="title")
                yield Static("\n".join(kill_plan_lines(self.session)), id="plan")
                yield Static("Enter on Back returns · move to KILL and press Enter to kill",
                             classes="note")
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="back")
                    yield Button("KILL", id="kill", variant="error")
            else:
                core = self.session.trading
                open_orders = len(core.open_orders())
                open_positions = sum(1 for p in core.positions() if p.net_qty)
                yield Static(f"Kill switch {switch.state.value}", classes="title")
                yield Static(f"reason: {switch.source or 'unknown'}: {switch.reason}", id="plan")
                yield Static(f"still open: {open_orders} order(s), {open_positions} position(s)",
                             classes="note")
                yield Static(f"Type {REARM_PHRASE} and press Re-arm to allow orders again.",
                             classes="note")
                yield Input(placeholder=REARM_PHRASE, id="rearm")
                yield Static(id="error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="back")
                    yield Button("Re-arm", id="rearm-button", variant="warning")

    def on_mount(self) -> None:
        """Focus Back (armed) or the REARM field (tripped)."""
        if self.query("#rearm"):
            self.query_one("#rearm", Input).focus()
        else:
            self.query_one("#back", Button).focus()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Back without doing anything."""
        self.dismiss(None)

    @on(Button.Pressed, "#kill")
    def _kill(self) -> None:
        self._trigger()

    @work(exclusive=True, group="kill")
    async def _trigger(self) -> None:
        plan = await self.session.trading.trigger_kill_switch("manual kill switch")
        self.dismiss(f"kill switch triggered: {plan.reason}")

    @on(Input.Submitted, "#rearm")
    @on(Button.Pressed, "#rearm-button")
    def _rearm_pressed(self) -> None:
        self._rearm(self.query_one("#rearm", Input).value)

    @work(exclusive=True, group="kill")
    async def _rearm(self, typed: str) -> None:
        try:
            message = await self.session.trading.rearm_kill_switch(typed)
        except KillSwitchError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.dismiss(f"kill switch {message}")
