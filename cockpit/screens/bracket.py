"""The bracket dialog: entry, stop-loss, target and an optional trailing step, validated as you
type.

Stop and target are written as a price (``805``), points from the entry (``5pts``), a percent of
it (``1%``) or ATR multiples (``1.5atr``). Every edit re-runs :func:`engine.brackets.validate_spec`
and, for price levels of a LIMIT entry, checks that the stop and the target sit on the right
sides of the entry. The engine keeps at most one exit order live and sizes it to the open position,
so a stop and a target can never both fill. Review works as for an order (focus on Edit). A
session with a ``bracket_note`` (live: the exits are managed by the cockpit and protected only
while it runs) shows it in the dialog and in the review.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

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
from cockpit.session_base import TradingSession
from engine.brackets import BracketError, BracketSpec, ExitKind, ExitLevel, validate_spec
from engine.core import KillSwitchBlockedError
from engine.models import Instrument, OrderType, Product, Side
from engine.money import format_price
from keymaps import default_bindings
from widgets.choice_field import ChoiceField
from widgets.watchlist import display_symbol

_LEVEL_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(pts?|points?|%|atr)?\s*$", re.IGNORECASE)


def level_text(level: ExitLevel | None, scale: int) -> str:
    """How a level is written in the dialog (``805.00``, ``5.00pts``, ``1%``, ``1.5atr``)."""
    if level is None:
        return ""
    if level.kind is ExitKind.PRICE:
        return format_price(int(level.value), scale)
    if level.kind is ExitKind.POINTS:
        return format_price(int(level.value), scale) + "pts"
    if level.kind is ExitKind.PERCENT:
        return f"{level.value.normalize()}%"
    return f"{level.value.normalize()}atr"


def read_level(text: str, instrument: Instrument, what: str) -> ExitLevel | None:
    """A level from its field (empty: none); raises :class:`FieldError`."""
    if not text.strip():
        return None
    match = _LEVEL_RE.match(text)
    if match is None:
        raise FieldError(f"{what}: write a price (805), points (5pts), a percent (1%) or ATRs "
                         f"(1.5atr); got {text.strip()!r}")
    number, unit = match.group(1), (match.group(2) or "").lower()
    try:
        if unit == "%":
            return ExitLevel.percent(Decimal(number))
        if unit == "atr":
            return ExitLevel.atr(Decimal(number))
        units = read_price(number, instrument, what).units
        if unit:
            return ExitLevel.points(units)
        return ExitLevel.price(units)
    except (BracketError, InvalidOperation) as exc:
        raise FieldError(f"{what}: {exc}") from None


class BracketScreen(RuleDialog):
    """Start a bracket (entry + stop + target [+ trail]) for one instrument."""

    DEFAULT_CSS = dialog_css("BracketScreen")
    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Ticket"))
    AUTO_FOCUS = "#qty"

    def __init__(
        self,
        session: TradingSession,
        instrument: Instrument,
        *,
        spec_fields: dict[str, Any] | None = None,
        side: Side = Side.BUY,
    ) -> None:
        super().__init__()
        self.session = session
        self.instrument = instrument
        self.fields = dict(spec_fields or {})
        self.side = Side(self.fields.get("side", side))
        self.valid = False

    def compose(self) -> ComposeResult:
        """The form."""
        inst = self.instrument
        scale = inst.price_scale
        f = self.fields
        qty = int(f.get("qty", inst.lot_size))
        entry_type = OrderType(f.get("entry_type", OrderType.LIMIT))
        entry_price = f.get("entry_price") or (
            self.session.ltp(inst.token) if "entry_type" not in f else None)
        product = Product(f.get("product", Product.MIS))
        trail = f.get("trail_step")
        minutes = f.get("time_exit_minutes")
        with Vertical(id="dialog", classes=f"-{self.side.value.lower()}") as dialog:
            dialog.border_title = "Bracket"
            yield Static(id="title", classes="title")
            with Horizontal(classes="row"):
                yield Label("Side", classes="label")
                yield ChoiceField(("BUY", "SELL"), self.side.value, id="side")
            with Horizontal(classes="row"):
                yield Label(f"Lots ×{inst.lot_size}" if is_derivative(inst) else "Quantity",
                            classes="label")
                yield Input(qty_field_text(qty, inst), id="qty")
            with Horizontal(classes="row"):
                yield Label("Entry", classes="label")
                yield ChoiceField(("LIMIT", "MARKET"), entry_type.value, id="entry-type")
            with Horizontal(classes="row"):
                yield Label("Entry price", classes="label")
                yield Input(format_price(entry_price, scale) if entry_price else "",
                            id="entry-price")
            with Horizontal(classes="row"):
                yield Label("Stop-loss", classes="label")
                yield Input(level_text(f.get("stop"), scale), id="stop",
                            placeholder="805 · 5pts · 1% · 1.5atr")
            with Horizontal(classes="row"):
                yield Label("Target", classes="label")
                yield Input(level_text(f.get("target"), scale), id="target",
                            placeholder="830 · 10pts · 2% · 3atr")
            with Horizontal(classes="row"):
                yield Label("Trail step", classes="label")
                yield Input(format_price(trail, scale) if trail else "", id="trail",
                            placeholder="points; empty = no trailing")
            with Horizontal(classes="row"):
                yield Label("Time exit min", classes="label")
                yield Input(str(minutes) if minutes else "", id="minutes",
                            placeholder="empty = none")
            with Horizontal(classes="row"):
                yield Label("Product", classes="label")
                yield ChoiceField(("MIS", "CNC", "NRML"), product.value, id="product")
            yield Static(id="check", classes="note")
            if self.session.bracket_note:
                yield Static(self.session.bracket_note, id="bracket-note", classes="note")
            yield Static(id="error", classes="error")
            yield Static("Enter/^r review · ←→ change a choice · Esc close", classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Review", id="review", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        """Title and the first verdict."""
        self._refresh_title()
        self.validate()

    def _refresh_title(self) -> None:
        inst = self.instrument
        side = self.query_one("#side", ChoiceField).value
        ltp = self.session.ltp(inst.token)
        ltp_text = f"  LTP {format_price(ltp, inst.price_scale)}" if ltp else ""
        self.query_one("#title", Static).update(
            f"Bracket {side} {display_symbol(inst)}{ltp_text}"
        )
        dialog = self.query_one("#dialog")
        dialog.set_class(side == "BUY", "-buy")
        dialog.set_class(side == "SELL", "-sell")
        market = self.query_one("#entry-type", ChoiceField).value == "MARKET"
        self.query_one("#entry-price", Input).disabled = market

    def build(self) -> BracketSpec:
        """The bracket the form describes; raises :class:`FieldError` or :class:`BracketError`."""
        inst = self.instrument
        side = Side(self.query_one("#side", ChoiceField).value)
        qty = read_qty(self.query_one("#qty", Input).value, inst)
        entry_type = OrderType(self.query_one("#entry-type", ChoiceField).value)
        entry_price = None
        if entry_type is OrderType.LIMIT:
            entry_price = read_price(self.query_one("#entry-price", Input).value, inst,
                                     "entry price", side).units
        stop = read_level(self.query_one("#stop", Input).value, inst, "stop-loss")
        target = read_level(self.query_one("#target", Input).value, inst, "target")
        trail_text = self.query_one("#trail", Input).value
        trail = read_price(trail_text, inst, "trail step").units if trail_text.strip() else None
        minutes_text = self.query_one("#minutes", Input).value.strip()
        minutes = None
        if minutes_text:
            if not minutes_text.isdigit() or int(minutes_text) <= 0:
                raise FieldError(f"time exit: {minutes_text!r} is not a whole number of minutes")
            minutes = int(minutes_text)
        spec = BracketSpec(
            token=inst.token, side=side, qty=qty, tick=inst.tick_size, stop=stop, target=target,
            entry_type=entry_type, entry_price=entry_price,
            product=Product(self.query_one("#product", ChoiceField).value),
            trail_step=trail, time_exit_minutes=minutes,
        )
        validate_spec(spec)
        reference = entry_price or self.session.ltp(inst.token)
        if reference:
            _check_sides(spec, reference, inst.price_scale)
        return spec

    def describe(self, spec: BracketSpec) -> list[str]:
        """What the bracket will do."""
        inst = self.instrument
        scale = inst.price_scale
        entry = (f"LIMIT {format_price(spec.entry_price, scale)}" if spec.entry_price
                 else "MARKET")
        lines = [f"entry: {spec.side.value} {spec.qty:,} {display_symbol(inst)} {entry} "
                 f"{spec.product.value}"]
        exit_side = spec.exit_side.value
        if spec.stop is not None:
            lines.append(f"stop-loss: {level_text(spec.stop, scale)} ({exit_side} at market when "
                         "reached)")
        if spec.target is not None:
            lines.append(f"target: {level_text(spec.target, scale)} ({exit_side} LIMIT resting)")
        if spec.trail_step:
            lines.append(f"trailing: the stop moves {format_price(spec.trail_step, scale)} per "
                         f"{format_price(spec.trail_step, scale)} in your favour")
        if spec.time_exit_minutes:
            lines.append(f"time exit: {spec.time_exit_minutes} min after the entry fills")
        lines.append("one exit live at a time: stop and target can never both fill")
        return lines

    def validate(self) -> bool:
        """Re-check the form and show the verdict."""
        check = self.query_one("#check", Static)
        try:
            spec = self.build()
        except (FieldError, BracketError) as exc:
            check.set_class(False, "ok")
            check.update(f"✗ {exc}")
            self.valid = False
            return False
        check.set_class(True, "ok")
        check.update("✓ " + "\n  ".join(self.describe(spec)))
        self.valid = True
        return True

    def on_choice_changed(self) -> None:
        """Re-lay out for the new choice."""
        self._refresh_title()

    def action_submit_review(self) -> None:
        """Validate, then review."""
        try:
            spec = self.build()
        except (FieldError, BracketError) as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        inst = self.instrument
        confirm = display_symbol(inst) if self.session.is_live else None
        lines = self.describe(spec)
        if self.session.bracket_note:
            lines.append(self.session.bracket_note)
        self.app.push_screen(
            ReviewScreen(f"Bracket {spec.side.value} {display_symbol(inst)}", lines,
                         side=spec.side.value.lower(), confirm_symbol=confirm),
            lambda send: self._reviewed(bool(send), spec),
        )

    def _reviewed(self, send: bool, spec: BracketSpec) -> None:
        if send:
            self._start(spec)

    @work(exclusive=True, group="bracket-start")
    async def _start(self, spec: BracketSpec) -> None:
        try:
            bracket_id = await self.session.trading.submit_bracket(spec)
        except (BracketError, KillSwitchBlockedError) as exc:
            self.query_one("#error", Static).update(f"Refused: {exc}")
            return
        self.dismiss(f"bracket {bracket_id} started")


def _check_sides(spec: BracketSpec, reference: int, scale: int) -> None:
    """Price levels must sit on the right side of the entry (buy: stop below, target above)."""
    ref = format_price(reference, scale)
    long = spec.side is Side.BUY
    if spec.stop is not None and spec.stop.kind is ExitKind.PRICE:
        stop = int(spec.stop.value)
        if (stop >= reference) if long else (stop <= reference):
            where = "below" if long else "above"
            raise BracketError(f"stop-loss {format_price(stop, scale)} must be {where} the entry "
                               f"{ref} for a {spec.side.value} bracket")
    if spec.target is not None and spec.target.kind is ExitKind.PRICE:
        target = int(spec.target.value)
        if (target <= reference) if long else (target >= reference):
            where = "above" if long else "below"
            raise BracketError(f"target {format_price(target, scale)} must be {where} the entry "
                               f"{ref} for a {spec.side.value} bracket")
