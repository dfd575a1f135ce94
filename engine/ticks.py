"""NSE tick-size rules: the price step of an instrument, from its type and price.

The broker's instrument master is the authority for a live instrument's tick size; these rules are
for the simulated market and for checking a master row. They follow NSE's price-band tick rule
effective 2025-04-15 (research/trading-semantics.md §4.2):

* equity (cash) and stock futures: < ₹250 0.01; 250-1000 0.05; 1000-5000 0.10; 5000-10000 0.50;
  10000-20000 1.00; above 20000 5.00 (the top two bands are flagged *verify* in the research, which
  is why the table is data: pass your own :class:`TickRules` to override it);
* index futures: index ≤ 15000 0.05; 15000-30000 0.10; above 30000 0.20;
* index options: 0.05;
* stock options: underlying < ₹250 0.01, else 0.05 (from 2025-11-03).

NSE sets the band from the previous month's last-trading-day close and reviews it monthly; the
functions here take whatever reference price the caller passes. Band bounds are rupee amounts;
whether an upper bound belongs to its band (``upper_inclusive``) is part of the data because the
equity table reads "below 250" while the index-futures table reads "up to 15000".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from engine.models import InstrumentType
from engine.money import scale_digits


class TickRuleError(ValueError):
    """A tick-size table or request that cannot be answered, with the reason."""


@dataclass(frozen=True, slots=True)
class TickBand:
    """One price band: prices up to ``upper`` (rupees; ``None`` = no limit) step by ``tick``.

    ``upper_inclusive`` says whether a price exactly at ``upper`` is in this band (True) or in the
    next one (False).
    """

    upper: Decimal | None
    tick: Decimal
    upper_inclusive: bool = False


def _bands(*rows: tuple[str | None, str]) -> tuple[TickBand, ...]:
    return tuple(
        TickBand(None if upper is None else Decimal(upper), Decimal(tick)) for upper, tick in rows
    )


EQUITY_TICK_BANDS: tuple[TickBand, ...] = _bands(
    ("250", "0.01"),
    ("1000", "0.05"),
    ("5000", "0.10"),
    ("10000", "0.50"),
    ("20000", "1.00"),
    (None, "5.00"),
)
"""Cash equity and stock futures (a price exactly at a bound belongs to the higher band)."""

INDEX_FUTURES_TICK_BANDS: tuple[TickBand, ...] = (
    TickBand(Decimal("15000"), Decimal("0.05"), upper_inclusive=True),
    TickBand(Decimal("30000"), Decimal("0.10"), upper_inclusive=True),
    TickBand(None, Decimal("0.20")),
)
"""Index futures by the level of the index (≤ 15000, ≤ 30000, above)."""

STOCK_OPTION_TICK_BANDS: tuple[TickBand, ...] = _bands(("250", "0.01"), (None, "0.05"))
"""Stock options by the price of the underlying."""


@dataclass(frozen=True, slots=True)
class TickRules:
    """The tick tables in force. Build your own to override any of them (they are validated)."""

    equity: tuple[TickBand, ...] = EQUITY_TICK_BANDS
    index_futures: tuple[TickBand, ...] = INDEX_FUTURES_TICK_BANDS
    index_option: Decimal = Decimal("0.05")
    stock_options: tuple[TickBand, ...] = STOCK_OPTION_TICK_BANDS
    index_value: Decimal = Decimal("0.01")

    def __post_init__(self) -> None:
        for label in ("equity", "index_futures", "stock_options"):
            _validate_bands(label, getattr(self, label))
        for label in ("index_option", "index_value"):
            tick = getattr(self, label)
            if tick <= 0:
                raise TickRuleError(f"{label} tick must be a positive rupee amount, got {tick}")


def _validate_bands(label: str, bands: tuple[TickBand, ...]) -> None:
    if not bands:
        raise TickRuleError(f"{label} tick table is empty; give at least one band")
    previous: Decimal | None = None
    for position, band in enumerate(bands):
        if band.tick <= 0:
            raise TickRuleError(f"{label} band {position} has tick {band.tick}; it must be > 0")
        last = position == len(bands) - 1
        if band.upper is None and not last:
            raise TickRuleError(f"{label} band {position} has no upper bound but is not the last")
        if band.upper is not None:
            if last:
                raise TickRuleError(
                    f"{label} last band ends at {band.upper}; the last band needs upper=None"
                )
            if previous is not None and band.upper <= previous:
                raise TickRuleError(
                    f"{label} band bounds must increase: {band.upper} follows {previous}"
                )
            previous = band.upper


NSE_TICK_RULES = TickRules()
"""NSE's rules as of 2025-04-15 (stock options as of 2025-11-03)."""


def _to_units(rupees: Decimal, price_scale: int, what: str) -> int:
    scaled = rupees * price_scale
    if scaled != scaled.to_integral_value():
        digits = scale_digits(price_scale)
        raise TickRuleError(f"{what} {rupees} cannot be written with {digits} decimals")
    return int(scaled)


@lru_cache(maxsize=64)
def _band_units(
    bands: tuple[TickBand, ...], price_scale: int
) -> tuple[tuple[int | None, bool, int], ...]:
    return tuple(
        (
            None if band.upper is None else _to_units(band.upper, price_scale, "band bound"),
            band.upper_inclusive,
            _to_units(band.tick, price_scale, "tick"),
        )
        for band in bands
    )


def tick_from_bands(bands: tuple[TickBand, ...], price_units: int, price_scale: int = 100) -> int:
    """Tick (price units) of the band holding ``price_units`` in a validated band table."""
    for upper, inclusive, tick in _band_units(bands, price_scale):
        if upper is None or price_units < upper or (inclusive and price_units == upper):
            return tick
    raise TickRuleError("tick table has no open-ended last band")  # unreachable when validated


def tick_for(
    instrument_type: InstrumentType,
    price_units: int,
    price_scale: int = 100,
    underlying_price: int | None = None,
    *,
    rules: TickRules = NSE_TICK_RULES,
) -> int:
    """Tick size in price units for an NSE instrument of ``instrument_type`` at ``price_units``.

    ``underlying_price`` (same units) is required for stock options, and used instead of the
    contract's own price for futures when given (NSE bands stock futures like their underlying and
    index futures by the index level). An index's "tick" is the step it is published in (0.01).
    Commodity and currency contracts have no rule here: take their tick from the instrument master.
    """
    if price_units < 0:
        raise TickRuleError(f"price must not be negative, got {price_units} units")
    scale_digits(price_scale)
    reference = price_units if underlying_price is None else underlying_price
    if instrument_type is InstrumentType.EQUITY:
        return tick_from_bands(rules.equity, price_units, price_scale)
    if instrument_type is InstrumentType.FUTSTK:
        return tick_from_bands(rules.equity, reference, price_scale)
    if instrument_type is InstrumentType.FUTIDX:
        return tick_from_bands(rules.index_futures, reference, price_scale)
    if instrument_type is InstrumentType.OPTIDX:
        return _to_units(rules.index_option, price_scale, "index option tick")
    if instrument_type is InstrumentType.OPTSTK:
        if underlying_price is None:
            raise TickRuleError(
                "a stock option's tick depends on its underlying's price; pass underlying_price"
            )
        return tick_from_bands(rules.stock_options, underlying_price, price_scale)
    if instrument_type is InstrumentType.INDEX:
        return _to_units(rules.index_value, price_scale, "index value step")
    raise TickRuleError(
        f"no NSE tick rule for {instrument_type.value} instruments; "
        "take the tick size from the instrument master"
    )
