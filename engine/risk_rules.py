"""The exchange rules of the pre-trade checks: stateless functions of one order and one state.

Each ``check_*`` function takes a :class:`CheckContext` and returns ``None`` when the order passes
or a message naming the numbers when it fails; :class:`engine.risk.PreTradeRisk` runs them in
:data:`engine.risk_types.CHECKS` order together with the limit checks. These rules are always on
(tick, lot, freeze, circuit, stop-trigger sanity, session phase, reduce-only exits) except the
fat-finger band, whose width is ``price_band_pct``.

Also here: the money and percentage formatting the messages share (rupees with the ₹ sign and
Indian digit grouping, exact percentages) and the valuation of an order.

Session rules (NSE, research/trading-semantics.md §4.1): order entry is open in PRE_OPEN,
CONTINUOUS and POST_CLOSE. Pre-open takes only DAY LIMIT/MARKET orders, and no options (the F&O
pre-open is for futures). The closing session (15:40-16:00) takes only CNC equity orders, no stops.
CLOSED takes after-market orders when ``allow_amo`` is on; PRE_OPEN_MATCH and CLOSING take nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import time as dtime
from decimal import ROUND_UP, Decimal
from fractions import Fraction

from engine.clock import SessionPhase, to_ist
from engine.models import Instrument, InstrumentType, OrderType, Product, Side, Validity
from engine.money import PAISE_PER_RUPEE, format_money, format_price
from engine.rate_limit import OrderAction
from engine.risk_types import OrderCheck, RiskState
from engine.slicing import SlicingError, effective_freeze, slice_quantity

__all__ = [
    "CheckContext",
    "ceil_div",
    "check_circuit",
    "check_freeze_qty",
    "check_instrument",
    "check_lot_size",
    "check_market_hours",
    "check_mis_cutoff",
    "check_order_fields",
    "check_price_band",
    "check_quantity",
    "check_reduce_only",
    "check_tick_size",
    "check_trigger",
    "describe",
    "pct_text",
    "price_text",
    "ratio_text",
    "reduces",
    "rupees",
    "to_paise",
    "value_price",
]

# ---------------------------------------------------------------------------------------------
# Formatting


def rupees(paise: int) -> str:
    """``₹1,25,000.00`` / ``-₹500.00``."""
    text = format_money(paise)
    return f"-₹{text[1:]}" if text.startswith("-") else f"₹{text}"


def price_text(units: int, instrument: Instrument) -> str:
    """A price in rupees with the instrument's precision."""
    if instrument.price_scale == PAISE_PER_RUPEE:
        return rupees(units)
    text = format_price(units, instrument.price_scale)
    return f"-₹{text[1:]}" if text.startswith("-") else f"₹{text}"


def pct_text(value: Fraction) -> str:
    """A percentage, exact when whole, else two decimals rounded away from zero."""
    if value.denominator == 1:
        return f"{value.numerator}%"
    dec = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_UP
    )
    return f"{dec}%"


def ratio_text(value: Fraction) -> str:
    """A ratio for messages: exact when whole, else two decimals (display only)."""
    if value.denominator == 1:
        return str(value.numerator)
    dec = Decimal(value.numerator) / Decimal(value.denominator)
    return str(dec.quantize(Decimal("0.01")))


def ceil_div(a: int, b: int) -> int:
    """Integer division rounding up (b > 0)."""
    return -(-a // b)


def to_paise(amount_units: int, instrument: Instrument) -> int:
    """Price units x quantity to paise, rounding away from zero (ceil for positive)."""
    scale = instrument.price_scale
    if scale == PAISE_PER_RUPEE:
        return amount_units
    return ceil_div(amount_units * PAISE_PER_RUPEE, scale)


def describe(order: OrderCheck) -> str:
    """Short text of an order: ``BUY 100 INFY-EQ LIMIT @ ₹1,500.00``."""
    inst = order.instrument
    text = f"{order.side} {order.qty} {inst.symbol} {order.order_type}"
    if order.price:
        text += f" @ {price_text(order.price, inst)}"
    if order.trigger:
        text += f" trigger {price_text(order.trigger, inst)}"
    return text


# ---------------------------------------------------------------------------------------------
# Context


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything the checks derive from one order and one state, computed once."""

    order: OrderCheck
    state: RiskState
    action: OrderAction
    now: int
    sliced: bool
    max_slices: int
    value_price: int | None
    value_from_reference: bool
    new_qty: int
    exit_verified: bool

    @property
    def inst(self) -> Instrument:
        """The order's instrument."""
        return self.order.instrument

    @property
    def grows(self) -> bool:
        """True when the order makes the absolute position larger."""
        return abs(self.new_qty) > abs(self.state.position_qty)


def value_price(order: OrderCheck) -> tuple[int | None, bool]:
    """Price used to value the order, and whether it is the previous close (LTP unknown)."""
    if order.order_type in (OrderType.LIMIT, OrderType.SL):
        return (order.price if order.price > 0 else None), False
    if order.order_type is OrderType.SL_M:
        return (order.trigger if order.trigger > 0 else None), False
    if order.ltp > 0:
        return order.ltp, False
    if order.reference > 0:
        return order.reference, True
    return None, False


def reduces(order: OrderCheck, state: RiskState) -> bool:
    """True when the order really reduces the position (the exit treatment applies)."""
    pos = state.position_qty
    return (
        pos != 0
        and order.side.sign != (1 if pos > 0 else -1)
        and order.qty > 0
        and order.qty + state.open_exit_qty <= abs(pos)
    )


# ---------------------------------------------------------------------------------------------
# The rules


def check_instrument(ctx: CheckContext) -> str | None:
    """The token matches the instrument, which is tradable and has a sane lot and tick."""
    order, inst = ctx.order, ctx.inst
    if order.token != inst.token:
        return (
            f"order token {order.token!r} does not match the instrument {inst.key} "
            f"(token {inst.token!r})"
        )
    if not inst.tradable:
        return f"{inst.key} is an index and cannot be traded; pick its future or an option"
    if inst.lot_size < 1 or inst.tick_size < 1:
        return (
            f"{inst.key} has lot size {inst.lot_size} and tick size {inst.tick_size}; both "
            "must be at least 1: reload the instrument master"
        )
    return None


def check_quantity(ctx: CheckContext) -> str | None:
    """The quantity is a positive number of units."""
    qty = ctx.order.qty
    if qty <= 0:
        return f"quantity must be a positive number of units, got {qty}"
    return None


def check_order_fields(ctx: CheckContext) -> str | None:
    """Prices are not negative and the order type carries exactly the prices it needs."""
    order, inst = ctx.order, ctx.inst
    for name in (
        "price",
        "trigger",
        "ltp",
        "reference",
        "upper_circuit",
        "lower_circuit",
        "stop_loss",
        "target",
    ):
        value = getattr(order, name)
        if value < 0:
            return f"{name} cannot be negative, got {price_text(value, inst)}"
    kind = order.order_type
    if kind in (OrderType.MARKET, OrderType.SL_M) and order.price != 0:
        return (
            f"a {kind} order carries no limit price (got {price_text(order.price, inst)}); "
            f"use {'LIMIT' if kind is OrderType.MARKET else 'SL'} to set one"
        )
    if kind in (OrderType.LIMIT, OrderType.SL) and order.price == 0:
        return f"a {kind} order needs a limit price above ₹0"
    if kind in (OrderType.SL, OrderType.SL_M) and order.trigger == 0:
        return f"a {kind} order needs a trigger price above ₹0"
    if kind in (OrderType.MARKET, OrderType.LIMIT) and order.trigger != 0:
        return (
            f"only SL and SL-M orders carry a trigger price; this {kind} order has "
            f"{price_text(order.trigger, inst)}"
        )
    if order.upper_circuit and order.lower_circuit > order.upper_circuit:
        return (
            f"lower circuit {price_text(order.lower_circuit, inst)} is above the upper circuit "
            f"{price_text(order.upper_circuit, inst)}: the market data is inconsistent"
        )
    return None


def check_market_hours(ctx: CheckContext, allow_amo: bool) -> str | None:
    """The segment's session phase takes this order (or it goes as an AMO when allowed)."""
    order, phase = ctx.order, ctx.state.phase
    segment = order.segment
    if phase is SessionPhase.CONTINUOUS:
        return None
    if phase is SessionPhase.PRE_OPEN:
        if order.order_type in (OrderType.SL, OrderType.SL_M):
            return f"{segment} pre-open takes only LIMIT and MARKET orders, not {order.order_type}"
        if order.validity is not Validity.DAY:
            return f"{segment} pre-open takes only DAY orders, not {order.validity}"
        if ctx.inst.instrument_type.is_option:
            return f"{segment} pre-open is for equities and futures only, not options"
        return None
    if phase is SessionPhase.POST_CLOSE:
        if ctx.inst.instrument_type is not InstrumentType.EQUITY or order.product is not (
            Product.CNC
        ):
            return (
                f"{segment} closing session (15:40-16:00) takes only CNC equity orders, not "
                f"{order.product} {ctx.inst.instrument_type}"
            )
        if order.order_type in (OrderType.SL, OrderType.SL_M):
            return f"{segment} closing session takes no {order.order_type} orders"
        return None
    if phase is SessionPhase.CLOSED:
        if allow_amo:
            return None
        return (
            f"{segment} is closed for order entry (phase CLOSED); allow_amo is off, so "
            "after-market orders are refused"
        )
    return f"{segment} takes no orders during {phase} (order entry resumes in the next phase)"


def check_mis_cutoff(ctx: CheckContext, cutoff: dtime | None) -> str | None:
    """No intraday (MIS) order may open or grow a position at or after ``cutoff`` (IST)."""
    if cutoff is None or ctx.order.product is not Product.MIS or not ctx.grows:
        return None
    now = to_ist(ctx.now)
    if now.time() < cutoff:
        return None
    return (
        f"intraday (MIS) entries close at {cutoff:%H:%M} IST (mis_entry_cutoff) and it is "
        f"{now:%H:%M} now: only orders that reduce a position are taken; use CNC/NRML to "
        "carry a position"
    )


def check_reduce_only(ctx: CheckContext) -> str | None:
    """An order flagged as an exit really reduces the position."""
    order, state = ctx.order, ctx.state
    if not order.is_exit:
        return None
    pos = state.position_qty
    sym = ctx.inst.symbol
    if pos == 0:
        return f"exit order but there is no open {order.product} position in {sym}"
    needed = Side.SELL if pos > 0 else Side.BUY
    if order.side is not needed:
        kind = "long" if pos > 0 else "short"
        return (
            f"an exit of the {kind} {abs(pos)} {sym} must {needed}; a {order.side} would add "
            "to the position"
        )
    room = abs(pos) - state.open_exit_qty
    if order.qty > room:
        return (
            f"exit of {order.qty} plus {state.open_exit_qty} already working exceeds the "
            f"position of {abs(pos)} {sym}; exit at most {max(room, 0)}"
        )
    return None


def check_lot_size(ctx: CheckContext) -> str | None:
    """The quantity is a whole number of lots."""
    qty, lot = ctx.order.qty, ctx.inst.lot_size
    if qty % lot == 0:
        return None
    below = qty - qty % lot
    options = f"{below} or {below + lot}" if below else f"{lot}"
    return (
        f"quantity {qty} of {ctx.inst.symbol} is not a multiple of the lot size {lot} "
        f"(quantities are units, not lots): use {options}"
    )


def check_tick_size(ctx: CheckContext) -> str | None:
    """The limit and trigger prices are on the tick grid."""
    order, inst = ctx.order, ctx.inst
    tick = inst.tick_size
    for name, value in (("price", order.price), ("trigger", order.trigger)):
        if value and value % tick:
            low = value - value % tick
            return (
                f"{name} {price_text(value, inst)} is not a multiple of the tick "
                f"{price_text(tick, inst)} for {inst.symbol}: use {price_text(low, inst)} or "
                f"{price_text(low + tick, inst)}"
            )
    return None


def check_freeze_qty(ctx: CheckContext) -> str | None:
    """The quantity fits in one order (or, sliced, in at most ``max_slices`` orders)."""
    order, inst = ctx.order, ctx.inst
    freeze = inst.freeze_qty
    if ctx.sliced:
        try:
            slice_quantity(order.qty, inst, freeze, max_slices=ctx.max_slices)
        except SlicingError as exc:
            return str(exc)
        return None
    if not freeze:
        return None
    cap = effective_freeze(freeze, inst.lot_size)
    if order.qty <= cap:
        return None
    if cap == 0:
        return (
            f"freeze quantity {freeze} of {inst.symbol} is smaller than one lot "
            f"({inst.lot_size}); check the instrument master"
        )
    count = ceil_div(order.qty, cap)
    return (
        f"quantity {order.qty} of {inst.symbol} exceeds the freeze quantity {freeze} "
        f"(at most {cap} units per order at lot {inst.lot_size}); send it as {count} slices"
    )


def check_trigger(ctx: CheckContext) -> str | None:
    """A stop order's trigger is on the right side of its limit price and of the LTP."""
    order, inst = ctx.order, ctx.inst
    if order.order_type not in (OrderType.SL, OrderType.SL_M):
        return None
    trig = order.trigger
    buy = order.side is Side.BUY
    if order.order_type is OrderType.SL:
        if buy and trig > order.price:
            return (
                f"a BUY SL's trigger {price_text(trig, inst)} must be at or below its limit price "
                f"{price_text(order.price, inst)}"
            )
        if not buy and trig < order.price:
            return (
                f"a SELL SL's trigger {price_text(trig, inst)} must be at or above its limit "
                f"price {price_text(order.price, inst)}"
            )
    if order.ltp:
        if buy and trig <= order.ltp:
            return (
                f"a BUY stop's trigger {price_text(trig, inst)} must be above the LTP "
                f"{price_text(order.ltp, inst)} (it would fire at once; use a LIMIT order)"
            )
        if not buy and trig >= order.ltp:
            return (
                f"a SELL stop's trigger {price_text(trig, inst)} must be below the LTP "
                f"{price_text(order.ltp, inst)} (it would fire at once; use a LIMIT order)"
            )
    return None


def check_circuit(ctx: CheckContext) -> str | None:
    """The limit and trigger prices are within the circuit limits, when known."""
    order, inst = ctx.order, ctx.inst
    upper, lower = order.upper_circuit, order.lower_circuit
    for name, value in (("limit price", order.price), ("trigger", order.trigger)):
        if not value:
            continue
        if upper and value > upper:
            return (
                f"{name} {price_text(value, inst)} is above the upper circuit "
                f"{price_text(upper, inst)} of {inst.symbol}"
            )
        if lower and value < lower:
            return (
                f"{name} {price_text(value, inst)} is below the lower circuit "
                f"{price_text(lower, inst)} of {inst.symbol}"
            )
    return None


def check_price_band(ctx: CheckContext, pct: Fraction | None) -> str | None:
    """Fat-finger band: LIMIT price vs LTP (or previous close), SL limit vs its trigger."""
    order, inst = ctx.order, ctx.inst
    if pct is None or order.order_type not in (OrderType.LIMIT, OrderType.SL):
        return None
    if order.order_type is OrderType.SL:
        ref, what = order.trigger, "its trigger"
    elif order.ltp:
        ref, what = order.ltp, "the LTP"
    elif order.reference:
        ref, what = order.reference, "the previous close (LTP unknown)"
    else:
        return (
            f"no LTP or previous close known for {inst.symbol}: the limit price "
            f"{price_text(order.price, inst)} cannot be checked against price_band_pct "
            f"{pct_text(pct)}; wait for a quote"
        )
    off = abs(order.price - ref)
    if off * 100 <= pct * ref:
        return None
    band = pct * ref / 100
    lo, hi = math.ceil(ref - band), math.floor(ref + band)
    return (
        f"limit price {price_text(order.price, inst)} is {pct_text(Fraction(off * 100, ref))} from "
        f"{what} {price_text(ref, inst)}; price_band_pct allows {pct_text(pct)} "
        f"({price_text(lo, inst)} to {price_text(hi, inst)})"
    )
