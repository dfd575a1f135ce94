"""What the order dialogs share: the dialog look, reading prices and quantities from text fields
(with tick and lot snapping), and the estimate line (charges and margin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from engine.charges import ChargesModel
from engine.margin import order_margin
from engine.models import Instrument, InstrumentType, Product, Side
from engine.money import PriceError, format_money, format_price, parse_price, snap_to_tick
from engine.portfolio import MarginRules

DIALOG_CSS = """
{name} {{
    align: center middle;
    background: $background 60%;
}}
{name} > #dialog {{
    width: 76;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    padding: 0 1;
    border: thick $primary;
    background: $surface;
}}
{name} > #dialog.-buy {{ border: thick $bid; }}
{name} > #dialog.-sell {{ border: thick $ask; }}
{name} .row {{ height: 1; margin: 0 0 0 0; }}
{name} .label {{ width: 14; color: $muted; }}
{name} Input {{ width: 1fr; height: 1; border: none !important; padding: 0 1; }}
{name} Input:focus {{ background: $boost; }}
{name} Input.-invalid {{ color: $error; }}
{name} .title {{ height: 1; text-style: bold; }}
{name} .note {{ height: auto; color: $muted; }}
{name} .error {{ height: auto; color: $error; text-style: bold; }}
{name} .ok {{ height: auto; color: $success; }}
{name} .buttons {{ height: 1; margin-top: 1; align-horizontal: right; }}
{name} Button {{ height: 1; min-width: 10; border: none !important; margin-left: 2; }}
{name} Button:focus {{ text-style: bold reverse; }}
"""
"""CSS of a modal dialog; ``.format(name=ScreenClassName)``."""


def dialog_css(name: str) -> str:
    """The dialog CSS for one screen class."""
    return DIALOG_CSS.format(name=name)


class FieldError(ValueError):
    """A field that cannot be read; the message names the field and what would be right."""


def is_derivative(instrument: Instrument) -> bool:
    """True for F&O contracts (quantities are entered in lots)."""
    return instrument.instrument_type not in (InstrumentType.EQUITY, InstrumentType.INDEX)


def read_qty(text: str, instrument: Instrument) -> int:
    """Units from the quantity field: lots for F&O (times the lot size), shares for equity."""
    stripped = text.strip().replace(",", "")
    if not stripped:
        raise FieldError("quantity: enter a number" + (" of lots" if is_derivative(instrument)
                                                       else ""))
    if not stripped.isdigit() or int(stripped) <= 0:
        what = "lots" if is_derivative(instrument) else "shares"
        raise FieldError(f"quantity: {stripped!r} is not a whole number of {what} above 0")
    count = int(stripped)
    return count * instrument.lot_size if is_derivative(instrument) else count


def qty_field_text(units: int, instrument: Instrument) -> str:
    """What the quantity field shows for ``units`` (lots for F&O)."""
    if is_derivative(instrument) and instrument.lot_size > 1:
        return str(max(1, units // instrument.lot_size))
    return str(units)


@dataclass(frozen=True, slots=True)
class PriceRead:
    """A price read from a field: its units and a note when it was snapped to the tick."""

    units: int
    note: str = ""


def read_price(text: str, instrument: Instrument, what: str, side: Side | None = None
               ) -> PriceRead:
    """Price units from a rupee field, snapped to the tick grid (a buy snaps down and a sell up,
    so snapping never makes a limit worse for the trader; without a side, to the nearest)."""
    stripped = text.strip()
    if not stripped:
        raise FieldError(f"{what}: enter a price in rupees, e.g. 812.50")
    try:
        units = parse_price(stripped, instrument.price_scale)
    except PriceError as exc:
        raise FieldError(f"{what}: {exc}") from None
    if units <= 0:
        raise FieldError(f"{what}: must be above 0, got {stripped}")
    tick = instrument.tick_size
    mode = "nearest" if side is None else ("down" if side is Side.BUY else "up")
    snapped = snap_to_tick(units, tick, mode=mode)
    if snapped <= 0:
        snapped = tick
    note = ""
    if snapped != units:
        scale = instrument.price_scale
        note = (f"{what} {format_price(units, scale)} snapped to the tick "
                f"{format_price(tick, scale)}: {format_price(snapped, scale)}")
    return PriceRead(snapped, note)


def estimate_text(
    charges: ChargesModel,
    rules: MarginRules,
    instrument: Instrument,
    side: Side,
    product: Product,
    qty: int,
    price: int,
    day: date,
) -> str:
    """``value ₹x · charges ≈ ₹y · margin ≈ ₹z`` for a ticket (price 0: no estimate)."""
    if qty <= 0 or price <= 0:
        return "estimate needs a quantity and a price (or a quote)"
    value = qty * price * 100 // instrument.price_scale
    fees = charges.estimate(instrument, side, product, qty, price, day).total
    margin = order_margin(instrument, side, product, qty, price, rules)
    return (f"value ₹{format_money(value)} · charges ≈ ₹{format_money(fees)} · "
            f"margin ≈ ₹{format_money(margin)}")
