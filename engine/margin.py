"""Margin an order needs before it is sent (funds check and blocking for open orders).

The same fractions as the portfolio's :class:`~engine.portfolio.MarginRules`: CNC and long
options pay the full value, MIS equity a fraction of notional, futures a fraction of notional,
short options a fraction of strike notional. Exact integer paise, rounded up (never under-block).
"""

from __future__ import annotations

from fractions import Fraction

from engine.models import Instrument, InstrumentType, Product, Side
from engine.portfolio import MarginRules


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def order_margin(
    instrument: Instrument,
    side: Side,
    product: Product,
    qty: int,
    price: int,
    rules: MarginRules,
) -> int:
    """Paise needed to hold an order of ``qty`` at ``price`` (price units; scale 100 = paise)."""
    if qty <= 0 or price <= 0:
        return 0
    notional = Fraction(qty * price * 100, instrument.price_scale)
    kind = instrument.instrument_type
    if kind.is_option:
        if side is Side.BUY:
            return _ceil(notional)
        strike = instrument.strike or price
        strike_notional = Fraction(qty * strike * 100, instrument.price_scale)
        return _ceil(strike_notional * rules.option_sell_fraction)
    if kind.is_derivative:
        return _ceil(notional * rules.futures_fraction)
    if product is Product.MIS:
        return _ceil(notional * rules.mis_fraction)
    if kind is InstrumentType.INDEX:
        return 0
    return _ceil(notional)
