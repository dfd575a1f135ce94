"""Exchange order rules shared by the simulated book and the live-feed fill model.

Each function returns ``""`` when the order passes, else the rejection reason with the numbers
(prices formatted at the instrument's ``scale``). One source for both venues keeps their wording
and their rules identical.
"""

from __future__ import annotations

from engine.models import OrderType
from engine.money import format_price


def not_live_reason(order_id: int) -> str:
    """Reason for a cancel/modify of an order that is not working."""
    return f"order {order_id} is not live (unknown, filled, cancelled, rejected or expired)"


def qty_violation(qty: int, lot: int, max_qty: int) -> str:
    """Positive, a lot multiple, and within the freeze quantity ``max_qty``."""
    if qty <= 0:
        return f"qty {qty} must be positive"
    if qty % lot:
        return f"qty {qty} is not a multiple of the lot size {lot}"
    if qty > max_qty:
        return f"qty {qty} exceeds the freeze quantity {max_qty}; split the order"
    return ""


def price_violation(what: str, price: int, tick: int, lower: int, upper: int, scale: int) -> str:
    """Positive, on the tick grid, and inside the circuit band (``upper`` 0 = no band)."""
    if price <= 0:
        return f"{what} {format_price(price, scale)} must be positive"
    if price % tick:
        return (
            f"{what} {format_price(price, scale)} is not a multiple of tick "
            f"{format_price(tick, scale)}"
        )
    if upper and not lower <= price <= upper:
        return (
            f"{what} {format_price(price, scale)} is outside the circuit band "
            f"{format_price(lower, scale)}-{format_price(upper, scale)}"
        )
    return ""


def stop_violation(
    is_buy: bool, order_type: OrderType, price: int, trigger: int, last: int, scale: int
) -> str:
    """Stop rules: trigger vs limit for SL, and the trigger not already reached by ``last``."""
    side = "BUY" if is_buy else "SELL"
    if order_type is OrderType.SL:
        if is_buy and trigger > price:
            return (
                f"SL BUY trigger {format_price(trigger, scale)} is above its limit price "
                f"{format_price(price, scale)}; a buy stop-limit needs trigger <= price"
            )
        if not is_buy and trigger < price:
            return (
                f"SL SELL trigger {format_price(trigger, scale)} is below its limit price "
                f"{format_price(price, scale)}; a sell stop-limit needs trigger >= price"
            )
    if last and (trigger <= last if is_buy else trigger >= last):
        where = "above" if is_buy else "below"
        return (
            f"{order_type} {side} trigger {format_price(trigger, scale)} is already reached by "
            f"the last trade {format_price(last, scale)}; a {side.lower()} stop must trigger "
            f"{where} it"
        )
    return ""
