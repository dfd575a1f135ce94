"""Position sizing: how many units to trade, as an exact int that is a multiple of the lot size.

Every function works in exact rational arithmetic (``fractions.Fraction``): capital and prices
are int paise, percentages and fractions may be given as ``int``, ``Fraction``, ``Decimal``,
``str`` or ``float`` (a float is read as the decimal it prints as: ``0.1`` is one tenth, not the
binary double nearest to it). Results are always floored to whole lots, so the risk (or value)
of the size never exceeds the budget; 0 means the budget does not cover even one lot. Inputs that
cannot describe a trade (a stop at the entry price, a negative capital, a percentage above 100...)
raise :class:`SizingError` naming the input and what would be right.

* :func:`fixed_quantity`: a fixed number of units, floored to lots.
* :func:`fixed_risk`: risk a fixed share of capital between the entry and the stop:
  ``floor(capital * risk% / |entry - stop| / lot) * lot``.
* :func:`atr_risk`: the same with the stop distance ``multiplier * ATR`` (volatility sizing).
* :func:`kelly_fraction` and :func:`fractional_kelly`: the Kelly fraction
  ``f* = p - (1 - p) / b`` for a win probability ``p`` and a win/loss ratio ``b``, scaled by a
  fraction (half Kelly = 0.5), capped, and turned into units at a price. A negative edge sizes 0.

Every function also takes an optional ``max_value`` (paise): the size is cut so that
``qty * price <= max_value`` (e.g. the capital, for no leverage).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

Rate = int | float | str | Decimal | Fraction
"""A percentage or a fraction: exact types, or a float read as its shortest decimal."""


class SizingError(ValueError):
    """Inputs that cannot be sized (the message names the input and the allowed values)."""


def _fraction(value: Rate, name: str) -> Fraction:
    if isinstance(value, bool):
        raise SizingError(f"{name} must be a number, got {value!r}")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise SizingError(f"{name} must be a finite number, got {value!r}")
            return Fraction(repr(value))
        if isinstance(value, Decimal) and not value.is_finite():
            raise SizingError(f"{name} must be a finite number, got {value!r}")
        return Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        if isinstance(exc, SizingError):
            raise
        raise SizingError(f"{name} must be a number, got {value!r}") from exc


def _int(value: int, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SizingError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise SizingError(f"{name} must be at least {minimum}, got {value}")
    return value


def _lots(units: Fraction | int, lot_size: int) -> int:
    """Floor ``units`` to a whole number of lots, in units (never negative)."""
    if units <= 0:
        return 0
    return (math.floor(units) // lot_size) * lot_size


def _cap(qty: int, price: int | None, max_value: int | None, lot_size: int) -> int:
    if max_value is None:
        return qty
    _int(max_value, "max_value", minimum=0)
    if price is None or price <= 0:
        raise SizingError(f"max_value needs a positive price to value the size, got {price!r}")
    return min(qty, _lots(Fraction(max_value, price), lot_size))


def _percent(value: Rate, name: str) -> Fraction:
    pct = _fraction(value, name)
    if not 0 < pct <= 100:
        raise SizingError(f"{name} must be a percentage in (0, 100], got {value!r}")
    return pct


def fixed_quantity(
    qty: int, lot_size: int = 1, *, price: int | None = None, max_value: int | None = None
) -> int:
    """``qty`` units floored to whole lots (and cut to ``max_value`` at ``price``)."""
    _int(lot_size, "lot_size", minimum=1)
    _int(qty, "qty", minimum=0)
    return _cap(_lots(qty, lot_size), price, max_value, lot_size)


def risk_budget(capital: int, risk_pct: Rate) -> Fraction:
    """The paise one trade may lose: ``capital * risk_pct / 100`` (exact)."""
    _int(capital, "capital", minimum=0)
    return capital * _percent(risk_pct, "risk_pct") / 100


def fixed_risk(
    capital: int,
    risk_pct: Rate,
    entry: int,
    stop: int,
    lot_size: int = 1,
    *,
    max_value: int | None = None,
) -> int:
    """Units such that a move from ``entry`` to ``stop`` loses at most ``risk_pct``% of capital.

    ``floor(capital * risk_pct / 100 / |entry - stop|)`` floored to whole lots; ``entry`` and
    ``stop`` are int paise (the side does not matter, only the distance).
    """
    _int(lot_size, "lot_size", minimum=1)
    _int(entry, "entry", minimum=1)
    _int(stop, "stop", minimum=0)
    if stop == entry:
        raise SizingError(
            f"stop must differ from entry ({entry}): a zero stop distance cannot be sized"
        )
    budget = risk_budget(capital, risk_pct)
    qty = _lots(budget / abs(entry - stop), lot_size)
    return _cap(qty, entry, max_value, lot_size)


def atr_risk(
    capital: int,
    risk_pct: Rate,
    atr: Rate,
    multiplier: Rate = 2,
    lot_size: int = 1,
    *,
    price: int | None = None,
    max_value: int | None = None,
) -> int:
    """Volatility sizing: a stop ``multiplier * ATR`` away risks at most ``risk_pct``% of capital.

    ``atr`` is in paise (the float an :class:`engine.indicators.ATR` gives is used exactly as
    printed); the stop distance is not rounded, so the risk bound is exact.
    """
    _int(lot_size, "lot_size", minimum=1)
    atr_f = _fraction(atr, "atr")
    mult = _fraction(multiplier, "multiplier")
    if atr_f <= 0:
        raise SizingError(
            f"atr must be > 0 (a market that never moves cannot be sized), got {atr!r}"
        )
    if mult <= 0:
        raise SizingError(f"multiplier must be > 0 ATRs, got {multiplier!r}")
    budget = risk_budget(capital, risk_pct)
    qty = _lots(budget / (atr_f * mult), lot_size)
    return _cap(qty, price, max_value, lot_size)


def kelly_fraction(win_probability: Rate, win_loss_ratio: Rate) -> Fraction:
    """Full Kelly fraction of capital ``p - (1 - p) / b`` (negative when the edge is negative).

    ``win_probability`` is in [0, 1]; ``win_loss_ratio`` is the average win over the average loss
    (both positive amounts), > 0.
    """
    p = _fraction(win_probability, "win_probability")
    b = _fraction(win_loss_ratio, "win_loss_ratio")
    if not 0 <= p <= 1:
        raise SizingError(f"win_probability must be between 0 and 1, got {win_probability!r}")
    if b <= 0:
        raise SizingError(
            f"win_loss_ratio must be > 0 (average win / average loss), got {win_loss_ratio!r}"
        )
    return p - (1 - p) / b


def fractional_kelly(
    capital: int,
    price: int,
    win_probability: Rate,
    win_loss_ratio: Rate,
    *,
    fraction: Rate = Fraction(1, 2),
    cap: Rate = Fraction(1, 4),
    lot_size: int = 1,
    max_value: int | None = None,
) -> int:
    """Units worth ``min(fraction * kelly, cap)`` of capital at ``price``; 0 for no edge.

    ``fraction`` (0, 1] scales full Kelly (0.5 = half Kelly); ``cap`` (0, 1] is the most of the
    capital one position may take whatever the estimate says.
    """
    _int(capital, "capital", minimum=0)
    _int(price, "price", minimum=1)
    _int(lot_size, "lot_size", minimum=1)
    frac = _fraction(fraction, "fraction")
    cap_f = _fraction(cap, "cap")
    if not 0 < frac <= 1:
        raise SizingError(f"fraction must be in (0, 1] of full Kelly, got {fraction!r}")
    if not 0 < cap_f <= 1:
        raise SizingError(f"cap must be in (0, 1] of capital, got {cap!r}")
    share = min(frac * kelly_fraction(win_probability, win_loss_ratio), cap_f)
    if share <= 0:
        return 0
    qty = _lots(capital * share / price, lot_size)
    return _cap(qty, price, max_value, lot_size)
