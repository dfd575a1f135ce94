"""The GTT dialog: a single trigger or an OCO pair, validated as you type.

Every edit re-runs :func:`engine.gtt.validate_rule` against the current LTP and shows its
message (or what the rule will do). An OCO's legs are the lower and the upper trigger (for the
exit of a long: stop-loss below, target above). Each leg places a LIMIT order when the LTP reaches
its trigger. Review works as for an order (focus on Edit). In a paper session the rule is created
through ``TradingCore.create_gtt`` (journaled before it is live). In a live session it is placed
**at the broker** (:class:`~cockpit.session_base.BrokerGttSession`, Angel One GTT rules), so it
survives the cockpit closing: a single rule as one trigger, an OCO as Angel's rule with a
stop-loss leg (the lower leg when selling, the upper leg when buying).
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from brokers.angelone.errors import AngelApiError, AngelError
from cockpit.screens.common import (
    FieldError,
    dialog_css,
    is_derivative,
    qty_field_text,
    read_price,
    read_qty,
)
from cockpit.screens.review import ReviewScreen
from cockpit.screens.rule_dialog import RuleDialog
from cockpit.session_base import BrokerGttSession, TradingSession
from engine.core import KillSwitchBlockedError
from engine.gtt import GttError, GttKind, GttLeg, validate_rule
from engine.models import Instrument, Product, Side
from engine.money import format_price
from keymaps import default_bindings
from widgets.choice_field import ChoiceField
from widgets.watchlist import display_symbol


class GttScreen(RuleDialog):
    """Create a GTT rule (single or OCO) for one instrument."""

    DEFAULT_CSS = dialog_css("GttScreen")
    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Ticket"))
    AUTO_FOCUS = "#qty"

    def __init__(
        self,
        session: TradingSession,
        instrument: Instrument,
        *,
        kind: GttKind = GttKind.SINGLE,
        legs: tuple[GttLeg, ...] = (),
        side: Side = Side.SELL,
    ) -> None:
        super().__init__()
        self.session = session
        self.instrument = instrument
        self.kind = kind
        self.legs = legs
        self.side = legs[0].side if legs else side
        self.valid = False
        self.broker_side: BrokerGttSession | None = (
            session if session.is_live and isinstance(session, BrokerGttSession) else None
        )
        """Where a live session places the rule (None: the core's own GTT engine)."""

    def compose(self) -> ComposeResult:
        """The form."""
        inst = self.instrument
        scale = inst.price_scale
        legs = self.legs
        qty = legs[0].qty if legs else inst.lot_size
        product = legs[0].product if legs else (
            Product.NRML if is_derivative(inst) and self.broker_side is None else Product.CNC)

        def price(n: int, attr: str) -> str:
            return format_price(getattr(legs[n], attr), scale) if len(legs) > n else ""

        with Vertical(id="dialog", classes=f"-{self.side.value.lower()}") as dialog:
            dialog.border_title = "GTT"
            yield Static(id="title", classes="title")
            with Horizontal(classes="row"):
                yield Label("Kind", classes="label")
                yield ChoiceField(("SINGLE", "OCO"), self.kind.value, id="kind")
            with Horizontal(classes="row"):
                yield Label("Side", classes="label")
                yield ChoiceField(("BUY", "SELL"), self.side.value, id="side")
            with Horizontal(classes="row"):
                yield Label(f"Lots ×{inst.lot_size}" if is_derivative(inst) else "Quantity",
                            classes="label")
                yield Input(qty_field_text(qty, inst), id="qty")
            with Horizontal(classes="row"):
                yield Label("Product", classes="label")
                yield ChoiceField(("CNC", "NRML"), product.value
                                  if product in (Product.CNC, Product.NRML) else "CNC",
                                  id="product")
            with Horizontal(classes="row"):
                yield Label("Trigger", classes="label", id="trigger-1-label")
                yield Input(price(0, "trigger"), id="trigger-1")
            with Horizontal(classes="row"):
                yield Label("Limit", classes="label", id="limit-1-label")
                yield Input(price(0, "limit"), id="limit-1")
            with Horizontal(classes="row", id="leg-2-trigger"):
                yield Label("Upper trigger", classes="label")
                yield Input(price(1, "trigger"), id="trigger-2")
            with Horizontal(classes="row", id="leg-2-limit"):
                yield Label("Upper limit", classes="label")
                yield Input(price(1, "limit"), id="limit-2")
            yield Static(id="check", classes="note")
            if self.broker_side is not None:
                yield Static("Placed at the broker: the rule stays active when the cockpit "
                             "closes (Angel One takes NSE/BSE delivery, CNC, rules only).",
                             id="where", classes="note")
            yield Static(id="error", classes="error")
            yield Static("Enter/^r review · ←→ change a choice · Esc close", classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Review", id="review", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Show the OCO rows when needed and validate."""
        self._layout_for_kind()
        self.validate()

    def _layout_for_kind(self) -> None:
        oco = self.query_one("#kind", ChoiceField).value == "OCO"
        self.query_one("#leg-2-trigger").display = oco
        self.query_one("#leg-2-limit").display = oco
        self.query_one("#trigger-1-label", Label).update("Lower trigger" if oco else "Trigger")
        self.query_one("#limit-1-label", Label).update("Lower limit" if oco else "Limit")
        inst = self.instrument
        ltp = self.session.ltp(inst.token)
        side = self.query_one("#side", ChoiceField).value
        ltp_text = f"  LTP {format_price(ltp, inst.price_scale)}" if ltp else "  no LTP yet"
        self.query_one("#title", Static).update(
            f"GTT {'OCO' if oco else 'single'} {side} {display_symbol(inst)}{ltp_text}"
        )
        dialog = self.query_one("#dialog")
        dialog.set_class(side == "BUY", "-buy")
        dialog.set_class(side == "SELL", "-sell")

    def build(self) -> tuple[GttKind, tuple[GttLeg, ...]]:
        """The rule the form describes; raises :class:`FieldError` or :class:`GttError`."""
        inst = self.instrument
        kind = GttKind(self.query_one("#kind", ChoiceField).value)
        side = Side(self.query_one("#side", ChoiceField).value)
        product = Product(self.query_one("#product", ChoiceField).value)
        qty = read_qty(self.query_one("#qty", Input).value, inst)
        count = 2 if kind is GttKind.OCO else 1
        legs = []
        for n in range(1, count + 1):
            which = ("lower " if n == 1 else "upper ") if count == 2 else ""
            trigger = read_price(self.query_one(f"#trigger-{n}", Input).value, inst,
                                 f"{which}trigger").units
            limit = read_price(self.query_one(f"#limit-{n}", Input).value, inst,
                               f"{which}limit", side).units
            legs.append(GttLeg(trigger=trigger, limit=limit, side=side, qty=qty,
                               product=product))
        ltp = self.session.ltp(inst.token)
        validate_rule(inst.token, kind, tuple(legs), ltp, inst.tick_size)
        return kind, tuple(legs)

    def describe(self, kind: GttKind, legs: tuple[GttLeg, ...]) -> list[str]:
        """What the rule will do, one line per leg."""
        inst = self.instrument
        scale = inst.price_scale
        ltp = self.session.ltp(inst.token)
        lines = []
        for leg in legs:
            arrow = "≥" if leg.trigger > ltp else "≤"
            lines.append(
                f"when LTP {arrow} {format_price(leg.trigger, scale)}: {leg.side.value} "
                f"{leg.qty:,} {display_symbol(inst)} LIMIT {format_price(leg.limit, scale)} "
                f"{leg.product.value}"
            )
        if kind is GttKind.OCO:
            lines.append("the first trigger reached cancels the other")
        return lines

    def validate(self) -> bool:
        """Re-check the form; show the verdict. True when the rule is valid."""
        check = self.query_one("#check", Static)
        try:
            kind, legs = self.build()
        except (FieldError, GttError) as exc:
            check.set_class(False, "ok")
            check.update(f"✗ {exc}")
            self.valid = False
            return False
        check.set_class(True, "ok")
        check.update("✓ " + "\n  ".join(self.describe(kind, legs)))
        self.valid = True
        return True

    def on_choice_changed(self) -> None:
        """Re-lay out for the new choice."""
        self._layout_for_kind()

    def action_submit_review(self) -> None:
        """Validate, then review."""
        try:
            kind, legs = self.build()
        except (FieldError, GttError) as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        inst = self.instrument
        confirm = display_symbol(inst) if self.session.is_live else None
        self.app.push_screen(
            ReviewScreen(f"GTT {kind.value} {display_symbol(inst)}", self.describe(kind, legs),
                         side=legs[0].side.value.lower(), confirm_symbol=confirm),
            lambda send: self._reviewed(bool(send), kind, legs),
        )

    def _reviewed(self, send: bool, kind: GttKind, legs: tuple[GttLeg, ...]) -> None:
        if send:
            self._create(kind, legs)

    @work(exclusive=True, group="gtt-create")
    async def _create(self, kind: GttKind, legs: tuple[GttLeg, ...]) -> None:
        if self.broker_side is not None:
            await self._create_at_broker(self.broker_side, kind, legs)
            return
        try:
            rule = await self.session.trading.create_gtt(self.instrument.token, kind, legs)
        except (GttError, KillSwitchBlockedError) as exc:
            self.query_one("#error", Static).update(f"Refused: {exc}")
            return
        self.dismiss(f"GTT {rule.id} created ({kind.value})")

    async def _create_at_broker(
        self, broker: BrokerGttSession, kind: GttKind, legs: tuple[GttLeg, ...]
    ) -> None:
        """Place the rule at the broker: a single trigger, or an OCO whose stop-loss leg is the
        lower one when selling (exit of a long) and the upper one when buying."""
        first = legs[0]
        target, stop = first, None
        if kind is GttKind.OCO:
            lower, upper = legs
            target, stop = (upper, lower) if first.side is Side.SELL else (lower, upper)
        error = self.query_one("#error", Static)
        try:
            rule_id = await broker.create_broker_gtt(
                self.instrument.token,
                first.side,
                first.qty,
                target.limit,
                target.trigger,
                product=first.product,
                oco_stoploss_price=stop.limit if stop is not None else None,
                oco_stoploss_trigger=stop.trigger if stop is not None else None,
            )
        except (ValueError, AngelApiError) as exc:  # WireError is a ValueError
            error.update(f"Refused: {exc}")
            return
        except AngelError as exc:
            error.update(f"Outcome unknown: {exc}. Check the GTT rules at the broker before "
                         "placing it again.")
            return
        self.dismiss(f"GTT {rule_id} placed at the broker ({kind.value}); it stays active when "
                     "the cockpit closes")
