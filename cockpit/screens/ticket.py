"""The order ticket: a modal form for one order (new or a modify), reviewed before it is sent.

Fields: side (ctrl+o switches), quantity (lots for F&O), order type, price, trigger, product and
validity. Prices snap to the tick (a buy down, a sell up) and the note says so; quantities of F&O
are lots. The estimate line (value, charges, margin) follows every edit. Enter in a field or the
``ticket.submit_review`` key opens the review (focus on Edit, so a second Enter cannot send).
Sending goes through ``TradingCore.submit`` (or ``modify``); a risk rejection stays in the ticket
with the core's message. The last quantity, type, product and validity used for an instrument are
remembered for its next ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from cockpit.screens.common import (
    FieldError,
    dialog_css,
    estimate_text,
    is_derivative,
    qty_field_text,
    read_price,
    read_qty,
)
from cockpit.screens.review import ReviewScreen
from cockpit.session_base import TradingSession
from engine.clock import ist_date
from engine.intent import OrderIntent, intent_errors
from engine.models import Instrument, OrderType, Product, Side, Validity
from engine.money import format_price
from keymaps import default_bindings
from widgets.choice_field import ChoiceField
from widgets.watchlist import display_symbol


@dataclass(frozen=True, slots=True)
class TicketValues:
    """What a ticket opens with. ``qty`` in units; prices in price units (0 = none)."""

    side: Side
    qty: int
    order_type: OrderType = OrderType.LIMIT
    price: int = 0
    trigger: int = 0
    product: Product = Product.CNC
    validity: Validity = Validity.DAY


@dataclass(frozen=True, slots=True)
class TicketOutcome:
    """What a ticket that sent something returns."""

    message: str
    client_order_id: str


def default_product(instrument: Instrument) -> Product:
    """CNC for equity, NRML for F&O (as the Kite and Angel One order windows default)."""
    return Product.NRML if is_derivative(instrument) else Product.CNC


class TicketMemory:
    """The last values used per instrument (quantity, type, product, validity)."""

    def __init__(self) -> None:
        self._values: dict[str, TicketValues] = {}

    def recall(self, instrument: Instrument, side: Side) -> TicketValues:
        """Values for a new ticket: the remembered ones (prices cleared) or the defaults."""
        known = self._values.get(instrument.token)
        if known is None:
            return TicketValues(side=side, qty=instrument.lot_size,
                                product=default_product(instrument))
        return replace(known, side=side, price=0, trigger=0)

    def remember(self, token: str, values: TicketValues) -> None:
        """Keep what was just sent."""
        self._values[token] = values


_TYPES = tuple(t.value for t in OrderType)
_PRODUCTS = tuple(p.value for p in Product)
_VALIDITIES = (Validity.DAY.value, Validity.IOC.value)


class TicketScreen(ModalScreen[TicketOutcome | None]):
    """A buy or sell ticket for one instrument."""

    DEFAULT_CSS = dialog_css("TicketScreen")
    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Ticket"))
    AUTO_FOCUS = "#qty"

    def __init__(
        self,
        session: TradingSession,
        instrument: Instrument,
        values: TicketValues,
        *,
        memory: TicketMemory | None = None,
        modify_order_id: str | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.instrument = instrument
        self.values = values
        self.memory = memory
        self.modify_order_id = modify_order_id
        self.side = values.side
        self.last_error = ""
        self.estimate = ""

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """The form."""
        inst, values = self.instrument, self.values
        scale = inst.price_scale
        lots = is_derivative(inst)
        price = values.price or (self.session.ltp(inst.token) if values.order_type in (
            OrderType.LIMIT, OrderType.SL) else 0)
        with Vertical(id="dialog", classes=f"-{self.side.value.lower()}") as dialog:
            dialog.border_title = "Modify order" if self.modify_order_id else "Order ticket"
            yield Static(id="title", classes="title")
            with Horizontal(classes="row"):
                yield Label(f"Lots ×{inst.lot_size}" if lots else "Quantity", classes="label")
                yield Input(qty_field_text(values.qty, inst), id="qty")
            with Horizontal(classes="row"):
                yield Label("Price", classes="label")
                yield Input(format_price(price, scale) if price else "", id="price")
            with Horizontal(classes="row"):
                yield Label("Trigger", classes="label")
                yield Input(format_price(values.trigger, scale) if values.trigger else "",
                            id="trigger")
            with Horizontal(classes="row"):
                yield Label("Type", classes="label")
                yield ChoiceField(_TYPES, values.order_type.value, id="type",
                                  disabled=self.modify_order_id is not None)
            with Horizontal(classes="row"):
                yield Label("Product", classes="label")
                yield ChoiceField(_PRODUCTS, values.product.value, id="product",
                                  disabled=self.modify_order_id is not None)
            with Horizontal(classes="row"):
                yield Label("Validity", classes="label")
                yield ChoiceField(_VALIDITIES, values.validity.value
                                  if values.validity.value in _VALIDITIES else "DAY",
                                  id="validity", disabled=self.modify_order_id is not None)
            yield Static(id="estimate", classes="note")
            yield Static(id="error", classes="error")
            yield Static("Enter/^r review · ^o buy↔sell · ←→ change a choice · Esc close",
                         classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Review", id="review", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Fill the title, enable the fields the type needs, show the estimate."""
        self._refresh_title()
        self._fields_for_type()
        self._update_estimate()

    # -- reading the form ---------------------------------------------------------------------
    @property
    def order_type(self) -> OrderType:
        """The order type chosen."""
        return OrderType(self.query_one("#type", ChoiceField).value)

    def _refresh_title(self) -> None:
        inst = self.instrument
        ltp = self.session.ltp(inst.token)
        ltp_text = f"  LTP {format_price(ltp, inst.price_scale)}" if ltp else ""
        self.query_one("#title", Static).update(
            f"{self.side.value} {display_symbol(inst)} {inst.exchange.value}{ltp_text}"
        )
        dialog = self.query_one("#dialog")
        dialog.set_class(self.side is Side.BUY, "-buy")
        dialog.set_class(self.side is Side.SELL, "-sell")

    def _fields_for_type(self) -> None:
        kind = self.order_type
        self.query_one("#price", Input).disabled = kind in (OrderType.MARKET, OrderType.SL_M)
        self.query_one("#trigger", Input).disabled = kind in (OrderType.MARKET, OrderType.LIMIT)

    def build_intent(self) -> tuple[OrderIntent, list[str]]:
        """The order the form describes and notes (snapping); raises :class:`FieldError`."""
        inst = self.instrument
        notes: list[str] = []
        qty = read_qty(self.query_one("#qty", Input).value, inst)
        kind = self.order_type
        price = trigger = 0
        if kind in (OrderType.LIMIT, OrderType.SL):
            read = read_price(self.query_one("#price", Input).value, inst, "price", self.side)
            price = read.units
            if read.note:
                notes.append(read.note)
        if kind in (OrderType.SL, OrderType.SL_M):
            read = read_price(self.query_one("#trigger", Input).value, inst, "trigger")
            trigger = read.units
            if read.note:
                notes.append(read.note)
        try:
            intent = OrderIntent(
                token=inst.token,
                side=self.side,
                qty=qty,
                order_type=kind,
                product=Product(self.query_one("#product", ChoiceField).value),
                validity=Validity(self.query_one("#validity", ChoiceField).value),
                price=price,
                trigger_price=trigger,
            )
        except ValidationError as exc:
            raise FieldError("; ".join(intent_errors(exc))) from None
        return intent, notes

    def _update_estimate(self) -> None:
        estimate = self.query_one("#estimate", Static)
        try:
            intent, notes = self.build_intent()
        except FieldError as exc:
            self.estimate = ""
            estimate.update(str(exc))
            return
        core = self.session.core
        if core is None:
            self.estimate = ""
            estimate.update("")
            return
        price = intent.reference_price or self.session.ltp(intent.token)
        text = estimate_text(
            core.charges, core.portfolio.rules, self.instrument, intent.side, intent.product,
            intent.qty, price, ist_date(self.session.market.now_ns),
        )
        self.estimate = text
        estimate.update("\n".join([text, *notes]))

    def show_error(self, message: str) -> None:
        """Show a problem (a field, or the core's rejection) in the ticket."""
        self.last_error = message
        self.query_one("#error", Static).update(message)

    # -- events -------------------------------------------------------------------------------
    @on(Input.Changed)
    def _edited(self) -> None:
        self.show_error("")
        self._update_estimate()

    @on(ChoiceField.Changed)
    def _choice(self, event: ChoiceField.Changed) -> None:
        if event.field.id == "type":
            self._fields_for_type()
        self.show_error("")
        self._update_estimate()

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit_review()

    @on(Button.Pressed, "#review")
    def _review_pressed(self) -> None:
        self.action_submit_review()

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Close without sending."""
        self.dismiss(None)

    def action_toggle_side(self) -> None:
        """Buy <-> sell (not for a modify)."""
        if self.modify_order_id is not None:
            return
        self.side = Side.SELL if self.side is Side.BUY else Side.BUY
        self._refresh_title()
        self._update_estimate()

    def action_submit_review(self) -> None:
        """Check the form and open the review."""
        try:
            intent, notes = self.build_intent()
        except FieldError as exc:
            self.show_error(str(exc))
            return
        inst = self.instrument
        scale = inst.price_scale
        what = {
            OrderType.MARKET: "at MARKET",
            OrderType.LIMIT: f"LIMIT {format_price(intent.price, scale)}",
            OrderType.SL: (f"SL limit {format_price(intent.price, scale)} trigger "
                           f"{format_price(intent.trigger_price, scale)}"),
            OrderType.SL_M: f"SL-M trigger {format_price(intent.trigger_price, scale)}",
        }[intent.order_type]
        qty = f"{intent.qty:,}"
        if is_derivative(inst):
            lots = intent.qty // inst.lot_size
            qty += f" ({lots} lot{'s' if lots != 1 else ''})"
        verb = "MODIFY" if self.modify_order_id else intent.side.value
        lines = [
            f"{verb} {qty} {display_symbol(inst)} {what}",
            f"{intent.product.value} · {intent.validity.value} · {inst.exchange.value}",
            self.estimate,
            *notes,
        ]
        confirm = display_symbol(inst) if self.session.is_live else None
        self.app.push_screen(
            ReviewScreen(f"{verb} {display_symbol(inst)}", lines,
                         side=intent.side.value.lower(), confirm_symbol=confirm),
            lambda send: self._reviewed(intent, bool(send)),
        )

    def _reviewed(self, intent: OrderIntent, send: bool) -> None:
        if send:
            self._send(intent)
        else:
            self.query_one("#qty", Input).focus()

    @work(exclusive=True, group="ticket-send")
    async def _send(self, intent: OrderIntent) -> None:
        core = self.session.trading
        if self.modify_order_id is not None:
            result = await core.modify(
                self.modify_order_id,
                qty=intent.qty,
                price=intent.price if intent.order_type in (OrderType.LIMIT, OrderType.SL)
                else None,
                trigger_price=intent.trigger_price if intent.order_type in (
                    OrderType.SL, OrderType.SL_M) else None,
            )
        else:
            result = await core.submit(intent)
        if not result.accepted:
            self.show_error(f"Rejected: {result.message}")
            return
        if self.memory is not None and self.modify_order_id is None:
            self.memory.remember(intent.token, TicketValues(
                side=intent.side, qty=intent.qty, order_type=intent.order_type,
                product=intent.product, validity=intent.validity,
            ))
        self.dismiss(TicketOutcome(result.message, str(result.client_order_id or "")))
