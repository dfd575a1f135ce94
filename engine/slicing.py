"""Order slicing: split a quantity above the exchange freeze quantity into orders it accepts.

The exchange rejects an order whose quantity exceeds the instrument's *freeze quantity* (the
largest number of units one order may carry; NIFTY 1,800 in 2026). Derivative orders must also be a
whole number of lots, so the largest quantity one order can carry is the *effective freeze*: the
largest lot multiple not above the freeze (NIFTY, lot 65: 27 lots = 1,755 units).

:func:`slice_quantity` splits a quantity into full effective-freeze slices followed by the
remainder (what brokers' auto-slicing does). Under the SEBI 10-orders-per-second rule brokers cap
slicing at 10 slices (Zerodha), so more slices than ``max_slices`` (at most 10) are refused with
the numbers, as is a quantity that is not a whole number of lots.
"""

from __future__ import annotations

from engine.models import Instrument

__all__ = ["MAX_SLICES", "SlicingError", "effective_freeze", "slice_quantity"]

MAX_SLICES = 10
"""Most slices one order may be split into (the 10-orders-per-second cap)."""


class SlicingError(ValueError):
    """A quantity that cannot be sliced into acceptable orders, with the numbers."""


def effective_freeze(freeze_qty: int, lot_size: int) -> int:
    """Largest multiple of ``lot_size`` not above ``freeze_qty`` (0 when a lot exceeds it)."""
    if lot_size < 1:
        raise SlicingError(f"lot size must be a positive number of units, got {lot_size}")
    return (freeze_qty // lot_size) * lot_size


def slice_quantity(
    qty: int, instrument: Instrument, freeze_qty: int | None, max_slices: int = MAX_SLICES
) -> list[int]:
    """Split ``qty`` units of ``instrument`` into slices the exchange accepts.

    Every slice is a positive multiple of the lot size and at most the effective freeze; the slices
    add up to ``qty``; there are at most ``max_slices`` of them. ``freeze_qty`` ``None`` (or 0)
    means the instrument has no freeze quantity: one slice. Raises :class:`SlicingError` naming the
    numbers when that is impossible.
    """
    if type(qty) is not int or qty < 1:
        raise SlicingError(f"quantity must be a positive whole number of units, got {qty!r}")
    if type(max_slices) is not int or not 1 <= max_slices <= MAX_SLICES:
        raise SlicingError(
            f"max_slices must be between 1 and {MAX_SLICES} (the 10-orders-per-second cap), "
            f"got {max_slices!r}"
        )
    lot = instrument.lot_size
    if lot < 1:
        raise SlicingError(f"{instrument.key} has lot size {lot}; it must be at least 1")
    if qty % lot:
        below = qty - qty % lot
        raise SlicingError(
            f"quantity {qty} of {instrument.key} is not a multiple of the lot size {lot} "
            f"(quantities are units, not lots): use {below or lot} or {below + lot}"
        )
    if freeze_qty is None or freeze_qty == 0:
        return [qty]
    if type(freeze_qty) is not int or freeze_qty < 0:
        raise SlicingError(
            f"freeze quantity of {instrument.key} must be a positive int or None, "
            f"got {freeze_qty!r}"
        )
    cap = effective_freeze(freeze_qty, lot)
    if cap == 0:
        raise SlicingError(
            f"freeze quantity {freeze_qty} of {instrument.key} is smaller than one lot ({lot}); "
            "no order can be placed: check the instrument master"
        )
    if qty <= cap:
        return [qty]
    full, rest = divmod(qty, cap)
    count = full + (1 if rest else 0)
    if count > max_slices:
        raise SlicingError(
            f"quantity {qty} of {instrument.key} needs {count} slices of at most {cap} units "
            f"(freeze {freeze_qty}, lot {lot}); at most {max_slices} slices are allowed, so the "
            f"largest order is {cap * max_slices} units"
        )
    return [cap] * full + ([rest] if rest else [])
