"""The bundled simulated market: NIFTY 50 stocks, the NIFTY BANK members, two indices, futures.

The static part lives in ``engine/data/paper_instruments.json`` (symbols, Angel One NSE tokens,
names, starting prices in rupees, approximate index weights, futures specifications). What depends
on the date is derived when the universe is built, so the bundled market never goes stale:

* each future's expiry is the near-month expiry on ``today`` by the NSE rule and the holiday
  calendar (:mod:`engine.expiry`), its symbol the Angel One form (``NIFTY24NOV26FUT``) and its token
  ``token_base + months since 2000-01`` (deterministic, unique per contract month);
* each future starts at its underlying's price plus cost of carry (``carry_rate_pct`` a year,
  simple interest over the calendar days to expiry), snapped to its tick;
* every tick size comes from the NSE tick rule at the starting price (:mod:`engine.ticks`).

Index weights are given per index as ``{index token: {constituent token: basis points}}``, each
index summing to exactly 10,000 (largest-remainder rounding of the file's percentages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources

from engine.calendar import HolidayCalendar
from engine.expiry import future_symbol, near_month_expiry
from engine.instruments import InstrumentIndex
from engine.models import Exchange, Instrument, InstrumentType
from engine.money import PriceError, format_price, parse_price, round_half_even, snap_to_tick
from engine.ticks import tick_for

DATA_FILE = "data/paper_instruments.json"
"""Package-relative path of the bundled universe."""

PRICE_SCALE = 100
BASIS_POINTS = 10_000
_SUPPORTED_FORMAT = 1
_FUTURE_TYPES = {"FUTIDX": InstrumentType.FUTIDX, "FUTSTK": InstrumentType.FUTSTK}
_MONTHS_PER_TOKEN_BASE = 1200  # token_base + (year - 2000) * 12 + month - 1 stays below base+1200


class PaperUniverseError(ValueError):
    """The universe file is inconsistent; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class PaperUniverse:
    """The instruments of the simulated market on one day, with their starting state.

    ``start_prices`` are price units (paise) by token; ``underlying_of`` maps each future's token
    to its underlying's token; ``index_weights`` maps an index token to its constituents' weights
    in basis points.
    """

    today: date
    near_expiry: date
    instruments: list[Instrument]
    start_prices: dict[str, int]
    index_weights: dict[str, dict[str, int]]
    underlying_of: dict[str, str]
    carry_rate: Fraction = field(default=Fraction(0))

    def index(self) -> InstrumentIndex:
        """An :class:`InstrumentIndex` over these instruments."""
        return InstrumentIndex(self.instruments)


def load_universe_data() -> dict[str, object]:
    """The parsed bundled JSON file (read through importlib.resources)."""
    text = resources.files("engine").joinpath(DATA_FILE).read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise PaperUniverseError(f"{DATA_FILE}: the top level must be an object")
    return data


def build_paper_universe(
    today: date,
    *,
    calendar: HolidayCalendar | None = None,
    data: Mapping[str, object] | None = None,
) -> PaperUniverse:
    """Build the simulated market for ``today`` (futures expire on the near-month expiry).

    ``data`` replaces the bundled file (same shape); ``calendar`` the bundled holiday calendar.
    """
    spec = data if data is not None else load_universe_data()
    if spec.get("format") != _SUPPORTED_FORMAT:
        raise PaperUniverseError(f"format must be {_SUPPORTED_FORMAT}, got {spec.get('format')!r}")
    instruments: list[Instrument] = []
    prices: dict[str, int] = {}
    by_symbol: dict[str, str] = {}

    def add(inst: Instrument, price: int, where: str) -> None:
        if inst.token in prices:
            raise PaperUniverseError(f"{where}: token {inst.token} is used twice")
        if inst.symbol in by_symbol:
            raise PaperUniverseError(f"{where}: symbol {inst.symbol} is used twice")
        instruments.append(inst)
        prices[inst.token] = price
        by_symbol[inst.symbol] = inst.token

    for n, entry in enumerate(_list(spec, "equities")):
        where = f"equities[{n}]"
        token, symbol = _text(entry, "token", where), _text(entry, "symbol", where)
        price = _price(entry, where)
        tick = tick_for(InstrumentType.EQUITY, price, PRICE_SCALE)
        _check_on_tick(price, tick, where)
        add(
            Instrument(
                token=token,
                exchange=Exchange.NSE,
                symbol=symbol,
                name=_text(entry, "name", where),
                instrument_type=InstrumentType.EQUITY,
                lot_size=1,
                tick_size=tick,
                price_scale=PRICE_SCALE,
            ),
            price,
            where,
        )

    weights: dict[str, dict[str, int]] = {}
    for n, entry in enumerate(_list(spec, "indices")):
        where = f"indices[{n}]"
        token = _text(entry, "token", where)
        add(
            Instrument(
                token=token,
                exchange=Exchange.NSE,
                symbol=_text(entry, "symbol", where),
                name=_text(entry, "name", where),
                instrument_type=InstrumentType.INDEX,
                lot_size=1,
                tick_size=tick_for(InstrumentType.INDEX, 0, PRICE_SCALE),
                price_scale=PRICE_SCALE,
            ),
            _price(entry, where),
            where,
        )
        raw = entry.get("weights", {})
        if not isinstance(raw, dict) or not raw:
            raise PaperUniverseError(f"{where}: 'weights' must be an object of symbol: percent")
        percents: dict[str, Decimal] = {}
        for symbol, value in raw.items():
            if symbol not in by_symbol:
                raise PaperUniverseError(f"{where}: weight for unknown symbol {symbol!r}")
            percents[by_symbol[symbol]] = _decimal(value, f"{where}.weights.{symbol}")
        weights[token] = _basis_points(percents, where)

    carry = Fraction(_decimal(spec.get("carry_rate_pct", "0"), "carry_rate_pct")) / 100
    expiry = near_month_expiry(today, calendar=calendar)
    days = (expiry - today).days
    underlying_of: dict[str, str] = {}
    for n, entry in enumerate(_list(spec, "futures")):
        where = f"futures[{n}]"
        underlying = _text(entry, "underlying", where)
        if underlying not in prices:
            raise PaperUniverseError(f"{where}: underlying token {underlying} is not listed")
        kind = _FUTURE_TYPES.get(str(entry.get("type")))
        if kind is None:
            raise PaperUniverseError(f"{where}: type must be FUTIDX or FUTSTK")
        spot = prices[underlying]
        fair = round_half_even(spot * (1 + carry * days / 365))
        tick = tick_for(kind, fair, PRICE_SCALE, underlying_price=spot)
        price = snap_to_tick(fair, tick)
        token_base = _int(entry, "token_base", where)
        month_number = (expiry.year - 2000) * 12 + expiry.month - 1
        if not 0 <= month_number < _MONTHS_PER_TOKEN_BASE:
            raise PaperUniverseError(f"{where}: expiry {expiry} is outside 2000-2099")
        freeze = entry.get("freeze_qty")
        if freeze is not None and (not isinstance(freeze, int) or freeze <= 0):
            raise PaperUniverseError(f"{where}: freeze_qty must be a positive integer or null")
        token = str(token_base + month_number)
        add(
            Instrument(
                token=token,
                exchange=Exchange.NFO,
                symbol=future_symbol(_text(entry, "name", where), expiry),
                name=_text(entry, "name", where),
                instrument_type=kind,
                lot_size=_int(entry, "lot_size", where),
                tick_size=tick,
                price_scale=PRICE_SCALE,
                expiry=expiry,
                freeze_qty=freeze,
                underlying=underlying,
            ),
            price,
            where,
        )
        underlying_of[token] = underlying

    return PaperUniverse(
        today=today,
        near_expiry=expiry,
        instruments=instruments,
        start_prices=prices,
        index_weights=weights,
        underlying_of=underlying_of,
        carry_rate=carry,
    )


# ---------------------------------------------------------------------------------------------
# Field readers with messages that name the entry


def _list(spec: Mapping[str, object], key: str) -> Sequence[Mapping[str, object]]:
    value = spec.get(key)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PaperUniverseError(f"'{key}' must be a list of objects")
    return value


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PaperUniverseError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _int(entry: Mapping[str, object], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PaperUniverseError(f"{where}: '{key}' must be a positive integer, got {value!r}")
    return value


def _decimal(value: object, where: str) -> Decimal:
    if not isinstance(value, str):
        raise PaperUniverseError(f'{where}: write the number as a string such as "3.30"')
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PaperUniverseError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise PaperUniverseError(f"{where}: {value!r} must be a finite number >= 0")
    return number


def _price(entry: Mapping[str, object], where: str) -> int:
    text = _text(entry, "price", where)
    try:
        units = parse_price(text, PRICE_SCALE)
    except PriceError as exc:
        raise PaperUniverseError(f"{where}: price: {exc}") from None
    if units <= 0:
        raise PaperUniverseError(f"{where}: price must be positive, got {text}")
    return units


def _check_on_tick(price: int, tick: int, where: str) -> None:
    if price % tick:
        raise PaperUniverseError(
            f"{where}: price {format_price(price)} is not a multiple of its tick "
            f"{format_price(tick)}; use {format_price(snap_to_tick(price, tick))}"
        )


def _basis_points(percents: Mapping[str, Decimal], where: str) -> dict[str, int]:
    """Normalise weights to basis points summing to exactly 10,000 (largest remainder)."""
    total = sum(percents.values(), Decimal(0))
    if total <= 0:
        raise PaperUniverseError(f"{where}: weights sum to {total}; they must be positive")
    exact = {
        token: Fraction(value) * BASIS_POINTS / Fraction(total) for token, value in percents.items()
    }
    points = {token: int(share) for token, share in exact.items()}
    short = BASIS_POINTS - sum(points.values())
    by_remainder = sorted(exact, key=lambda token: (-(exact[token] - points[token]), token))
    for token in by_remainder[:short]:
        points[token] += 1
    return points
