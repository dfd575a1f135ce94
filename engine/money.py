"""Exact money: prices are integers in an instrument's smallest unit inside the core.

A *price scale* is how many integer units make one rupee: 100 for NSE/BSE equity and F&O (paise),
10**7 for currency derivatives. Rupee strings are parsed and formatted only at the edges (the UI,
config, broker wire formats); everything in between works on ``int``.

Amounts of money that are not prices (P&L, charges, cash) are also integers in paise
(``PAISE_PER_RUPEE``); where a computation produces fractions of a paisa (charges, averages) it uses
:class:`fractions.Fraction` or integer arithmetic with an explicit rounding rule, never ``float``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction

PAISE_PER_RUPEE = 100


class PriceError(ValueError):
    """A price string or value that cannot be represented exactly, with the reason."""


def scale_digits(price_scale: int) -> int:
    """Number of decimal places a price scale implies (100 -> 2, 10**7 -> 7).

    >>> scale_digits(100)
    2
    """
    if price_scale <= 0:
        raise PriceError(f"price scale must be a positive power of ten, got {price_scale}")
    digits = len(str(price_scale)) - 1
    if 10**digits != price_scale:
        raise PriceError(f"price scale must be a power of ten, got {price_scale}")
    return digits


def format_price(units: int, price_scale: int = 100, *, digits: int | None = None) -> str:
    """Format integer price units as a rupee string without a currency sign.

    ``format_price(81250, 100) == "812.50"``. ``digits`` forces the number of decimals shown (it may
    not hide non-zero digits: the result always parses back to ``units``).
    """
    full = scale_digits(price_scale)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), price_scale)
    if full == 0:
        return f"{sign}{whole}"
    frac_text = str(frac).rjust(full, "0")
    if digits is not None:
        keep = max(digits, len(frac_text.rstrip("0")))
        if keep == 0:
            return f"{sign}{whole}"
        frac_text = frac_text[:keep] if keep <= full else frac_text.ljust(keep, "0")
    return f"{sign}{whole}.{frac_text}"


def parse_price(text: str, price_scale: int = 100) -> int:
    """Parse a rupee string ("812.5", "₹1,234.05", "-3") into integer price units.

    Raises :class:`PriceError` naming the text and the finest step allowed when the value has more
    decimals than the scale can hold or is not a number.
    """
    digits = scale_digits(price_scale)
    cleaned = text.strip().replace(",", "").replace("₹", "").replace("_", "")
    if cleaned.lower().startswith("rs"):
        cleaned = cleaned[2:].lstrip(". ")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise PriceError(f"{text!r} is not a price; write a number such as 812.50") from None
    if not value.is_finite():
        raise PriceError(f"{text!r} is not a finite price")
    scaled = value * price_scale
    if scaled != scaled.to_integral_value():
        step = format_price(1, price_scale)
        raise PriceError(f"{text!r} has more than {digits} decimals; the finest step is {step}")
    return int(scaled)


def rupees_to_units(value: Decimal | int | str, price_scale: int = 100) -> int:
    """Convert an exact rupee amount (Decimal, int or str) to units, rounding half-even."""
    dec = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((dec * price_scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def units_to_decimal(units: int, price_scale: int = 100) -> Decimal:
    """Exact Decimal rupee value of integer price units."""
    return Decimal(units) / Decimal(price_scale)


def round_half_even(value: Fraction) -> int:
    """Round an exact fraction to the nearest integer, ties to even (banker's rounding)."""
    floor = value.numerator // value.denominator
    rem = value - floor
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


def round_half_up(value: Fraction) -> int:
    """Round an exact fraction to the nearest integer, ties away from zero (contract-note rule)."""
    if value < 0:
        return -round_half_up(-value)
    floor = value.numerator // value.denominator
    return floor + 1 if value - floor >= Fraction(1, 2) else floor


def snap_to_tick(units: int, tick: int, *, mode: str = "nearest") -> int:
    """Snap a price to the tick grid. ``mode`` is ``nearest``, ``down`` (buy limits) or ``up``."""
    if tick <= 0:
        raise PriceError(f"tick size must be positive, got {tick}")
    low = units - units % tick
    if mode == "down" or units == low:
        return low
    if mode == "up":
        return low + tick
    if mode != "nearest":
        raise ValueError(f"unknown snap mode {mode!r}; use nearest, down or up")
    return low + tick if (units - low) * 2 >= tick else low


def format_money(paise: int) -> str:
    """Format an amount in paise as a signed rupee string with Indian digit grouping.

    ``format_money(-12345678) == "-1,23,456.78"``.
    """
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(paise), PAISE_PER_RUPEE)
    text = str(whole)
    if len(text) > 3:
        head, tail = text[:-3], text[-3:]
        groups: list[str] = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        text = ",".join([*groups, tail])
    return f"{sign}{text}.{frac:02d}"
