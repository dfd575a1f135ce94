"""Brokerage and statutory charges per executed order, exact to the paisa.

What a fill costs on an Indian contract note: brokerage (by plan), STT, exchange transaction
charges, NSE's IPFT levy, the SEBI turnover fee, stamp duty (buy side only), GST and the DP charge
on delivery sells. Rates live in a *dated* :class:`RateTable` (each row has ``effective_from``), so
a backtest on 2026-03-31 uses the old STT and one on 2026-04-01 the new one (futures 0.02 % ->
0.05 %, options 0.1 % -> 0.15 % of premium on the sell side). The table is data: extend or
override it with :meth:`RateTable.with_rows`, or load rows from TOML with
:meth:`RateTable.from_toml`.

Exactness and rounding (the contract-note rules):

* Turnover is ``qty * price`` in integer paise (price units converted exactly with
  :class:`fractions.Fraction` when ``price_scale`` is not 100). Every rate is an exact Fraction;
  no ``float`` is ever involved.
* Each component is computed on the *order's* turnover and rounded to the paisa half-up
  (:func:`engine.money.round_half_up`), the way contract notes round.
* STT is rounded to the nearest **rupee** (half-up), per order, as contract notes print it.
  (Zerodha-style notes total STT per scrip per note; with several orders in one scrip a day the
  note's total can differ from the sum of our per-order figures by under one rupee per order.)
* GST is one 18 % rate (IGST) on the sum of the already-rounded taxable components, rounded to the
  paisa half-up. Taxable: brokerage + exchange transaction charges + IPFT + SEBI fee + DP charge.
  Not taxable: STT and stamp duty (they are taxes themselves). IPFT is included because NSE levies
  it as a service charge "+ 18 % GST" (Zerodha, Fyers and Angel One notes; research §5); one
  broker (Upstox) says otherwise, so plans can turn it off with ``gst_on_ipft=False``.
* Brokerage caps ("₹20 or 0.03 %, whichever is lower") and minimums are *per executed order*,
  not per fill. Pass ``order_id`` to :meth:`ChargesModel.for_fill` and the model prices each fill
  as the increment of the order's cumulative charges, so partial fills never pay the ₹20 cap twice
  and STT is rounded once per order. The increments of an order sum exactly to the charges of the
  whole order.
* The DP charge (plus GST) is levied once per instrument per IST day on the first delivery (CNC)
  sell. The caller may say whether a fill is that first sell (``first_delivery_sell_today``), or
  leave it ``None`` and the model tracks it per ``(trade_date, token)``. DP is a per-ISIN charge;
  an NSE and a BSE token of the same company are the same ISIN, which the model cannot see from
  tokens: tell it explicitly in that case.

Not modelled: STT on exercised options (0.125 % -> 0.15 % of intrinsic value), auto square-off
and call-and-trade fees, a CNC buy and sell of the same stock on the same day being taxed as
intraday, BSE scrip groups other than one configurable equity rate, MCX/CDS/NCDEX segments (add
rows to the table to price them).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum
from fractions import Fraction
from typing import Any

from engine.clock import ist_date
from engine.models import Exchange, Fill, Instrument, InstrumentType, Product, Side
from engine.money import PAISE_PER_RUPEE, round_half_up

__all__ = [
    "ANGEL_ONE",
    "DEFAULT_RATES",
    "PLANS",
    "RATES_START",
    "ZERODHA",
    "BrokeragePlan",
    "BrokerageRule",
    "ChargeBreakdown",
    "ChargeKind",
    "ChargesError",
    "ChargesModel",
    "RateRow",
    "RateTable",
    "Segment",
    "custom_plan",
    "percent",
    "segment_of",
    "venue_of",
]


class ChargesError(ValueError):
    """Input the charges model cannot price, with what was wrong and what would be right."""


# ---------------------------------------------------------------------------------------------
# Segments and venues


class Segment(StrEnum):
    """The charge segment of a fill: decides which brokerage rule and which rates apply."""

    EQUITY_DELIVERY = "equity_delivery"
    EQUITY_INTRADAY = "equity_intraday"
    FUTURES = "futures"
    OPTIONS = "options"


_FUTURES_TYPES = frozenset(
    {InstrumentType.FUTIDX, InstrumentType.FUTSTK, InstrumentType.FUTCOM, InstrumentType.FUTCUR}
)


def segment_of(instrument: Instrument, product: Product) -> Segment:
    """The charge segment of trading ``instrument`` under ``product``.

    Equity: CNC -> delivery, MIS -> intraday (NRML is an F&O product and is refused). Futures and
    options: MIS or NRML (the segment, not the product, decides their charges; CNC is refused).
    """
    kind = instrument.instrument_type
    if kind is InstrumentType.INDEX:
        raise ChargesError(f"{instrument.key} is an index and cannot be traded")
    if kind is InstrumentType.EQUITY:
        if product is Product.CNC:
            return Segment.EQUITY_DELIVERY
        if product is Product.MIS:
            return Segment.EQUITY_INTRADAY
        raise ChargesError(
            f"product {product} is not valid for equity {instrument.key}; use CNC or MIS"
        )
    if product is Product.CNC:
        raise ChargesError(
            f"product CNC is not valid for derivative {instrument.key}; use NRML or MIS"
        )
    if kind.is_option:
        return Segment.OPTIONS
    if kind in _FUTURES_TYPES:
        return Segment.FUTURES
    raise ChargesError(f"no charge segment for instrument type {kind} ({instrument.key})")


def venue_of(exchange: Exchange) -> str:
    """The rate-table venue of an exchange segment: NSE and NFO -> "NSE", BSE and BFO -> "BSE"."""
    if exchange in (Exchange.NSE, Exchange.NFO):
        return "NSE"
    if exchange in (Exchange.BSE, Exchange.BFO):
        return "BSE"
    return exchange.value


# ---------------------------------------------------------------------------------------------
# Exact rates


def percent(text: str | int) -> Fraction:
    """An exact rate from a percentage written as a decimal string: ``percent("0.03")`` is 3/10000.

    Floats are refused: ``0.1`` as a float is not one tenth, and charges must be exact.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ChargesError(
            f'a percentage must be a decimal string such as "0.05" (exact), got {text!r}'
        )
    try:
        value = Fraction(text) / 100
    except (ValueError, ZeroDivisionError):
        raise ChargesError(f'{text!r} is not a percentage; write e.g. "0.00297"') from None
    if value < 0:
        raise ChargesError(f"a rate cannot be negative, got {text}%")
    return value


class ChargeKind(StrEnum):
    """Rate-based charge components held in the :class:`RateTable`."""

    STT = "stt"
    EXCHANGE_TXN = "exchange_txn"
    IPFT = "ipft"
    SEBI_FEE = "sebi_fee"
    STAMP_DUTY = "stamp_duty"
    GST = "gst"  # applied to the taxable base, not to turnover


@dataclass(frozen=True, slots=True)
class RateRow:
    """One dated rate: from ``effective_from`` on, ``kind`` at ``venue`` costs ``rate``.

    ``rate`` is an exact fraction of turnover (of the taxable base for GST). ``segment`` ``None``
    means every segment and ``side`` ``None`` both sides. ``source`` says where the number is from.
    """

    kind: ChargeKind
    venue: str
    segment: Segment | None
    side: Side | None
    effective_from: date
    rate: Fraction
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Fraction) or self.rate < 0:
            raise ChargesError(
                f"rate of {self.kind} at {self.venue} must be a non-negative Fraction "
                f'(use percent("0.05")), got {self.rate!r}'
            )
        if not self.venue:
            raise ChargesError('a rate row needs a venue such as "NSE" or "BSE"')

    @property
    def specificity(self) -> int:
        """How specific the row is: a named segment and a named side beat wildcards."""
        return (self.segment is not None) * 2 + (self.side is not None)


class RateTable:
    """Dated charge rates, looked up by (kind, venue, segment, side, date).

    Among the rows that match and are in effect on the date, the one with the latest
    ``effective_from`` wins; at equal dates the more specific row (named segment, named side)
    wins, and at equal specificity the row added last wins, so :meth:`with_rows` overrides.
    A missing rate is an error (never a silent zero): zero rates are written as rows.
    """

    __slots__ = ("_index", "_rows")

    def __init__(self, rows: Iterable[RateRow]) -> None:
        self._rows: tuple[RateRow, ...] = tuple(rows)
        index: dict[tuple[ChargeKind, str], list[tuple[int, RateRow]]] = {}
        for order, row in enumerate(self._rows):
            index.setdefault((row.kind, row.venue), []).append((order, row))
        self._index = index

    @property
    def rows(self) -> tuple[RateRow, ...]:
        """All rows, in the order they were added."""
        return self._rows

    def with_rows(self, *rows: RateRow) -> RateTable:
        """A new table with ``rows`` added after the existing ones (they win ties)."""
        return RateTable((*self._rows, *rows))

    def with_bse_equity_txn(self, pct: str, effective_from: date | None = None) -> RateTable:
        """A new table charging ``pct`` % as BSE equity transaction charge (delivery and intraday).

        BSE charges by scrip group (A/B 0.00375 %, others differ); this sets one rate for all.
        """
        start = effective_from or RATES_START
        rate = percent(pct)
        return self.with_rows(
            *(
                RateRow(ChargeKind.EXCHANGE_TXN, "BSE", seg, None, start, rate, "configured")
                for seg in (Segment.EQUITY_DELIVERY, Segment.EQUITY_INTRADAY)
            )
        )

    def rate(
        self, kind: ChargeKind, venue: str, segment: Segment, side: Side, on: date
    ) -> Fraction:
        """The rate in effect on ``on``; :class:`ChargesError` when the table has none."""
        best: tuple[date, int, int] | None = None
        found: Fraction | None = None
        earliest: date | None = None
        for order, row in self._index.get((kind, venue), ()):
            if row.segment is not None and row.segment is not segment:
                continue
            if row.side is not None and row.side is not side:
                continue
            if earliest is None or row.effective_from < earliest:
                earliest = row.effective_from
            if row.effective_from > on:
                continue
            key = (row.effective_from, row.specificity, order)
            if best is None or key > best:
                best, found = key, row.rate
        if found is None:
            if earliest is not None:
                raise ChargesError(
                    f"no {kind} rate for {venue} {segment} {side} on {on.isoformat()}: the table "
                    f"starts on {earliest.isoformat()}; add older rows with RateTable.with_rows"
                )
            raise ChargesError(
                f"no {kind} rate for {venue} {segment} {side} in the rate table; add a RateRow "
                f"for it (RateTable.with_rows or from_toml)"
            )
        return found

    @classmethod
    def from_toml(cls, text: str, *, base: RateTable | None = None) -> RateTable:
        """Rows from TOML ``[[rate]]`` tables, added after ``base``'s rows (``None``: none).

        Each row: ``kind`` (stt, exchange_txn, ipft, sebi_fee, stamp_duty, gst), ``venue``,
        optional ``segment`` (equity_delivery, equity_intraday, futures, options) and ``side``
        (BUY, SELL), ``effective_from`` (a TOML date), ``percent`` as a string ("0.05"), and an
        optional ``source``.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ChargesError(f"rate table TOML does not parse: {exc}") from None
        raw_rows = data.get("rate", [])
        if not isinstance(raw_rows, list):
            raise ChargesError("rate table TOML must hold an array of [[rate]] tables")
        rows = [_row_from_mapping(item, n) for n, item in enumerate(raw_rows, start=1)]
        return RateTable((*(base.rows if base is not None else ()), *rows))


def _row_from_mapping(item: Any, n: int) -> RateRow:
    """Parse one ``[[rate]]`` table (``n`` counts from 1 for messages)."""
    if not isinstance(item, dict):
        raise ChargesError(f"[[rate]] #{n} must be a table")
    try:
        kind = ChargeKind(item["kind"])
        venue = str(item["venue"])
        start = item["effective_from"]
        pct = item["percent"]
    except KeyError as exc:
        raise ChargesError(
            f"[[rate]] #{n} lacks {exc.args[0]!r}; needs kind, venue, effective_from, percent"
        ) from None
    except ValueError:
        kinds = ", ".join(k.value for k in ChargeKind)
        raise ChargesError(f"[[rate]] #{n}: kind {item['kind']!r} is not one of {kinds}") from None
    if not isinstance(start, date):
        raise ChargesError(f"[[rate]] #{n}: effective_from must be a TOML date like 2026-04-01")
    try:
        segment = Segment(item["segment"]) if "segment" in item else None
        side = Side(item["side"]) if "side" in item else None
    except ValueError as exc:
        raise ChargesError(f"[[rate]] #{n}: {exc}") from None
    return RateRow(kind, venue, segment, side, start, percent(pct), str(item.get("source", "")))


# ---------------------------------------------------------------------------------------------
# The default table (research/trading-semantics.md §5)

RATES_START = date(2024, 10, 1)
"""First day the default table covers (the 2024-10-01 revision of STT and exchange charges)."""

_STT_CHANGE = date(2026, 4, 1)
_SRC_2024 = "Angel One charges page, rates from 2024-10-01 (research §5)"
_SRC_2026 = "Union Budget 2026, STT from 2026-04-01 (research §5)"
_SRC_BSE = "Angel One pricing update 2024-10-01: BSE futures 0, Sensex/Bankex options 0.0325 %"


def _default_rows() -> list[RateRow]:
    rows: list[RateRow] = []
    buy, sell = Side.BUY, Side.SELL
    dlv, intra = Segment.EQUITY_DELIVERY, Segment.EQUITY_INTRADAY
    fut, opt = Segment.FUTURES, Segment.OPTIONS

    def add(
        kind: ChargeKind,
        venue: str,
        seg: Segment | None,
        side: Side | None,
        pct: str,
        start: date = RATES_START,
        src: str = _SRC_2024,
    ) -> None:
        rows.append(RateRow(kind, venue, seg, side, start, percent(pct), src))

    for venue in ("NSE", "BSE"):
        # STT: delivery both sides; intraday, futures and options on the sell side only.
        add(ChargeKind.STT, venue, dlv, None, "0.1")
        add(ChargeKind.STT, venue, intra, buy, "0")
        add(ChargeKind.STT, venue, intra, sell, "0.025")
        add(ChargeKind.STT, venue, fut, buy, "0")
        add(ChargeKind.STT, venue, fut, sell, "0.02")
        add(ChargeKind.STT, venue, fut, sell, "0.05", _STT_CHANGE, _SRC_2026)
        add(ChargeKind.STT, venue, opt, buy, "0")
        add(ChargeKind.STT, venue, opt, sell, "0.1")
        add(ChargeKind.STT, venue, opt, sell, "0.15", _STT_CHANGE, _SRC_2026)
        # SEBI turnover fee: ₹10 per crore, both sides, every segment.
        add(ChargeKind.SEBI_FEE, venue, None, None, "0.0001")
        # Stamp duty: buy side only.
        add(ChargeKind.STAMP_DUTY, venue, None, sell, "0")
        add(ChargeKind.STAMP_DUTY, venue, dlv, buy, "0.015")
        add(ChargeKind.STAMP_DUTY, venue, intra, buy, "0.003")
        add(ChargeKind.STAMP_DUTY, venue, fut, buy, "0.002")
        add(ChargeKind.STAMP_DUTY, venue, opt, buy, "0.003")
        # GST on the taxable base.
        add(ChargeKind.GST, venue, None, None, "18")
    # Exchange transaction charges and IPFT, NSE (options on premium).
    add(ChargeKind.EXCHANGE_TXN, "NSE", dlv, None, "0.00297")
    add(ChargeKind.EXCHANGE_TXN, "NSE", intra, None, "0.00297")
    add(ChargeKind.EXCHANGE_TXN, "NSE", fut, None, "0.00173")
    add(ChargeKind.EXCHANGE_TXN, "NSE", opt, None, "0.03503")
    add(ChargeKind.IPFT, "NSE", None, None, "0.0001")
    add(ChargeKind.IPFT, "NSE", opt, None, "0.0005")
    # BSE: one configurable equity rate (A/B group by default), no IPFT.
    add(ChargeKind.EXCHANGE_TXN, "BSE", dlv, None, "0.00375")
    add(ChargeKind.EXCHANGE_TXN, "BSE", intra, None, "0.00375")
    add(ChargeKind.EXCHANGE_TXN, "BSE", fut, None, "0", src=_SRC_BSE)
    add(ChargeKind.EXCHANGE_TXN, "BSE", opt, None, "0.0325", src=_SRC_BSE)
    add(ChargeKind.IPFT, "BSE", None, None, "0")
    return rows


DEFAULT_RATES = RateTable(_default_rows())
"""The default dated rates for NSE/NFO and BSE/BFO from 2024-10-01 (override as needed)."""


# ---------------------------------------------------------------------------------------------
# Brokerage plans


@dataclass(frozen=True, slots=True)
class BrokerageRule:
    """Brokerage for one segment, per executed order.

    ``min(flat_paise + rate * turnover, cap_paise)``, then at least ``min_paise``; rounded to the
    paisa half-up. Flat ₹20 is ``BrokerageRule(flat_paise=2000)``; "₹20 or 0.03 % whichever is
    lower" is ``BrokerageRule(rate=percent("0.03"), cap_paise=2000)``.
    """

    flat_paise: int = 0
    rate: Fraction = Fraction(0)
    cap_paise: int | None = None
    min_paise: int = 0

    def __post_init__(self) -> None:
        for name in ("flat_paise", "min_paise"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ChargesError(f"brokerage {name} must be a non-negative int, got {value!r}")
        if self.cap_paise is not None and (type(self.cap_paise) is not int or self.cap_paise < 0):
            raise ChargesError(
                f"brokerage cap_paise must be a non-negative int or None, got {self.cap_paise!r}"
            )
        if not isinstance(self.rate, Fraction) or self.rate < 0:
            raise ChargesError(
                f"brokerage rate must be a Fraction >= 0 (use percent()), got {self.rate!r}"
            )

    def brokerage(self, turnover_paise: Fraction) -> int:
        """Brokerage in paise on an order of ``turnover_paise``."""
        raw = self.flat_paise + self.rate * turnover_paise
        if self.cap_paise is not None and raw > self.cap_paise:
            raw = Fraction(self.cap_paise)
        return max(round_half_up(raw), self.min_paise)


@dataclass(frozen=True, slots=True)
class BrokeragePlan:
    """A broker's price list: a brokerage rule per segment and the DP charge on delivery sells.

    ``dp_charge_paise`` is per instrument per day, before GST. ``gst_on_ipft`` says whether GST is
    charged on the IPFT levy (True for the brokers in the research notes).
    """

    name: str
    delivery: BrokerageRule
    intraday: BrokerageRule
    futures: BrokerageRule
    options: BrokerageRule
    dp_charge_paise: int = 0
    gst_on_ipft: bool = True

    def __post_init__(self) -> None:
        if type(self.dp_charge_paise) is not int or self.dp_charge_paise < 0:
            raise ChargesError(
                f"dp_charge_paise must be a non-negative int, got {self.dp_charge_paise!r}"
            )

    def rule_for(self, segment: Segment) -> BrokerageRule:
        """The brokerage rule of ``segment``."""
        if segment is Segment.EQUITY_DELIVERY:
            return self.delivery
        if segment is Segment.EQUITY_INTRADAY:
            return self.intraday
        if segment is Segment.FUTURES:
            return self.futures
        return self.options


_RUPEES_20 = 20 * PAISE_PER_RUPEE

ZERODHA = BrokeragePlan(
    name="zerodha",
    delivery=BrokerageRule(),
    intraday=BrokerageRule(rate=percent("0.03"), cap_paise=_RUPEES_20),
    futures=BrokerageRule(rate=percent("0.03"), cap_paise=_RUPEES_20),
    options=BrokerageRule(flat_paise=_RUPEES_20),
    dp_charge_paise=1300,
)
"""Zerodha: delivery free; intraday and futures ₹20 or 0.03 %; options flat ₹20; DP ₹13 + GST."""

ANGEL_ONE = BrokeragePlan(
    name="angelone",
    delivery=BrokerageRule(rate=percent("0.1"), cap_paise=_RUPEES_20, min_paise=200),
    intraday=BrokerageRule(rate=percent("0.03"), cap_paise=_RUPEES_20),
    futures=BrokerageRule(flat_paise=_RUPEES_20),
    options=BrokerageRule(flat_paise=_RUPEES_20),
    dp_charge_paise=2000,
)
"""Angel One (from 2024-11-01): delivery ₹20 or 0.1 % (min ₹2); intraday ₹20 or 0.03 %;
futures and options flat ₹20; DP ₹20 + GST. (Research flags the delivery rule: verify.)"""

PLANS: Mapping[str, BrokeragePlan] = {ZERODHA.name: ZERODHA, ANGEL_ONE.name: ANGEL_ONE}
"""Preset plans by name."""


def custom_plan(
    name: str = "custom",
    *,
    flat_paise: int = 0,
    pct: str | None = None,
    cap_paise: int | None = None,
    min_paise: int = 0,
    dp_charge_paise: int = 0,
    gst_on_ipft: bool = True,
) -> BrokeragePlan:
    """A plan with one flat and/or percentage rule for every segment.

    ``custom_plan(flat_paise=1000)`` is ₹10 per order; ``custom_plan(pct="0.05", cap_paise=2500)``
    is 0.05 % capped at ₹25.
    """
    rule = BrokerageRule(
        flat_paise=flat_paise,
        rate=percent(pct) if pct is not None else Fraction(0),
        cap_paise=cap_paise,
        min_paise=min_paise,
    )
    return BrokeragePlan(name, rule, rule, rule, rule, dp_charge_paise, gst_on_ipft)


# ---------------------------------------------------------------------------------------------
# The breakdown


@dataclass(frozen=True, slots=True)
class ChargeBreakdown:
    """Every charge component of one fill (or order) in integer paise, and their ``total``."""

    brokerage: int = 0
    stt: int = 0
    exchange_txn: int = 0
    ipft: int = 0
    sebi_fee: int = 0
    stamp_duty: int = 0
    dp_charge: int = 0
    gst: int = 0
    total: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        total = 0
        for name in COMPONENTS:
            value = getattr(self, name)
            if type(value) is not int:
                raise ChargesError(f"charge {name} must be int paise, got {value!r}")
            total += value
        object.__setattr__(self, "total", total)

    def __add__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        """Component-wise sum."""
        return ChargeBreakdown(**{n: getattr(self, n) + getattr(other, n) for n in COMPONENTS})

    def __sub__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        """Component-wise difference."""
        return ChargeBreakdown(**{n: getattr(self, n) - getattr(other, n) for n in COMPONENTS})

    def components(self) -> dict[str, int]:
        """The components by name (without ``total``)."""
        return {n: getattr(self, n) for n in COMPONENTS}

    @property
    def taxes(self) -> int:
        """The statutory part: STT + stamp duty + GST."""
        return self.stt + self.stamp_duty + self.gst


COMPONENTS: tuple[str, ...] = tuple(f.name for f in fields(ChargeBreakdown) if f.init)
"""Names of the components of a :class:`ChargeBreakdown`, in contract-note order."""

ZERO_CHARGES = ChargeBreakdown()


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(slots=True)
class _OrderState:
    """Cumulative executions of one order on one day (for per-order caps and rounding)."""

    token: str
    side: Side
    product: Product
    qty: int
    turnover: Fraction
    dp_paise: int
    charged: ChargeBreakdown


def _turnover(qty: int, price: int, price_scale: int) -> Fraction:
    """Exact turnover in paise of ``qty`` at ``price`` (in units of 1/price_scale rupee)."""
    return Fraction(qty * price * PAISE_PER_RUPEE, price_scale)


class ChargesModel:
    """Prices fills and order tickets with a brokerage plan and a dated rate table.

    ``for_fill`` records what it charged (per order, and the day's DP charges) so later fills of
    the same order pay only the increment; ``estimate`` prices a whole order and records nothing.
    State older than the newest trade date seen is dropped (orders do not span days).
    """

    __slots__ = ("_day", "_dp_charged", "_orders", "plan", "rates")

    def __init__(self, plan: BrokeragePlan, rate_table: RateTable = DEFAULT_RATES) -> None:
        self.plan = plan
        self.rates = rate_table
        self._day: date | None = None
        self._orders: dict[str, _OrderState] = {}
        self._dp_charged: set[str] = set()

    # -- pricing -------------------------------------------------------------------------------

    def order_charges(
        self,
        instrument: Instrument,
        side: Side,
        product: Product,
        turnover_paise: Fraction,
        trade_date: date,
        dp_paise: int = 0,
    ) -> ChargeBreakdown:
        """Charges of a whole order of ``turnover_paise`` (plus a DP charge already decided)."""
        segment = segment_of(instrument, product)
        venue = venue_of(instrument.exchange)
        rates = self.rates

        def levy(kind: ChargeKind) -> Fraction:
            return rates.rate(kind, venue, segment, side, trade_date) * turnover_paise

        brokerage = self.plan.rule_for(segment).brokerage(turnover_paise)
        stt_rupees = levy(ChargeKind.STT) / PAISE_PER_RUPEE
        stt = round_half_up(stt_rupees) * PAISE_PER_RUPEE
        exchange_txn = round_half_up(levy(ChargeKind.EXCHANGE_TXN))
        ipft = round_half_up(levy(ChargeKind.IPFT))
        sebi_fee = round_half_up(levy(ChargeKind.SEBI_FEE))
        stamp_duty = round_half_up(levy(ChargeKind.STAMP_DUTY))
        taxable = brokerage + exchange_txn + sebi_fee + dp_paise
        if self.plan.gst_on_ipft:
            taxable += ipft
        gst_rate = rates.rate(ChargeKind.GST, venue, segment, side, trade_date)
        gst = round_half_up(gst_rate * taxable)
        return ChargeBreakdown(
            brokerage=brokerage,
            stt=stt,
            exchange_txn=exchange_txn,
            ipft=ipft,
            sebi_fee=sebi_fee,
            stamp_duty=stamp_duty,
            dp_charge=dp_paise,
            gst=gst,
        )

    def estimate(
        self,
        instrument: Instrument,
        side: Side,
        product: Product,
        qty: int,
        price: int,
        trade_date: date,
        *,
        first_delivery_sell_today: bool | None = None,
    ) -> ChargeBreakdown:
        """Charges of an order ticket executed in full at ``price``; records nothing.

        The DP charge is included for a delivery sell when ``first_delivery_sell_today`` is True,
        or when it is ``None`` and no delivery sell of the instrument was priced that day.
        """
        _check_qty_price(qty, price)
        segment = segment_of(instrument, product)
        dp = self._dp_due(instrument.token, side, segment, trade_date, first_delivery_sell_today)
        turnover = _turnover(qty, price, instrument.price_scale)
        return self.order_charges(instrument, side, product, turnover, trade_date, dp)

    def for_fill(
        self,
        instrument: Instrument,
        side: Side,
        product: Product,
        qty: int,
        price: int,
        trade_date: date,
        *,
        order_id: str | None = None,
        first_delivery_sell_today: bool | None = None,
    ) -> ChargeBreakdown:
        """Charges of one execution of ``qty`` at ``price`` on IST ``trade_date``.

        With ``order_id`` the fill is priced as the increment of its order's cumulative charges
        (caps, minimums and STT rounding per order); without it the fill is a whole order.
        """
        _check_qty_price(qty, price)
        segment = segment_of(instrument, product)
        self._roll(trade_date)
        first = first_delivery_sell_today
        dp_now = self._dp_due(instrument.token, side, segment, trade_date, first)
        if segment is Segment.EQUITY_DELIVERY and side is Side.SELL:
            self._dp_charged.add(instrument.token)  # charged now, or (caller says) already
        turnover = _turnover(qty, price, instrument.price_scale)
        if order_id is None:
            return self.order_charges(instrument, side, product, turnover, trade_date, dp_now)
        state = self._orders.get(order_id)
        if state is None:
            state = _OrderState(instrument.token, side, product, 0, Fraction(0), 0, ZERO_CHARGES)
            self._orders[order_id] = state
        elif (state.token, state.side, state.product) != (instrument.token, side, product):
            raise ChargesError(
                f"order {order_id!r} was priced as {state.side} {state.product} of token "
                f"{state.token}; this fill is {side} {product} of token {instrument.token}"
            )
        state.qty += qty
        state.turnover += turnover
        state.dp_paise += dp_now
        whole = self.order_charges(
            instrument, side, product, state.turnover, trade_date, state.dp_paise
        )
        increment = whole - state.charged
        state.charged = whole
        return increment

    def for_execution(self, fill: Fill, instrument: Instrument) -> ChargeBreakdown:
        """:meth:`for_fill` for an :class:`engine.models.Fill` (order = its client order id)."""
        if fill.token != instrument.token:
            raise ChargesError(
                f"fill {fill.trade_id} is for token {fill.token}, instrument is {instrument.token}"
            )
        return self.for_fill(
            instrument,
            fill.side,
            fill.product,
            fill.qty,
            fill.price,
            ist_date(fill.ts),
            order_id=fill.client_order_id,
        )

    # -- state -----------------------------------------------------------------------------------

    def _roll(self, trade_date: date) -> None:
        """Forget the previous day's orders and DP charges when a newer day starts."""
        if self._day is None or trade_date > self._day:
            self._day = trade_date
            self._orders.clear()
            self._dp_charged.clear()
        elif trade_date < self._day:
            raise ChargesError(
                f"fill dated {trade_date.isoformat()} after fills of {self._day.isoformat()}: "
                "price each day's fills in order (or use a fresh ChargesModel)"
            )

    def _dp_due(
        self,
        token: str,
        side: Side,
        segment: Segment,
        trade_date: date,
        first_delivery_sell_today: bool | None,
    ) -> int:
        """DP charge (before GST) this execution owes."""
        if segment is not Segment.EQUITY_DELIVERY or side is not Side.SELL:
            return 0
        if first_delivery_sell_today is None:
            seen = self._day == trade_date and token in self._dp_charged
            first_delivery_sell_today = not seen
        return self.plan.dp_charge_paise if first_delivery_sell_today else 0

    def to_dict(self) -> dict[str, Any]:
        """The per-order and DP state as plain JSON-able data (for the journal)."""
        return {
            "day": self._day.isoformat() if self._day else None,
            "dp_charged": sorted(self._dp_charged),
            "orders": {
                oid: {
                    "token": s.token,
                    "side": s.side.value,
                    "product": s.product.value,
                    "qty": s.qty,
                    "turnover": str(s.turnover),
                    "dp_paise": s.dp_paise,
                    "charged": s.charged.components(),
                }
                for oid, s in self._orders.items()
            },
        }

    def load_state(self, data: Mapping[str, Any]) -> None:
        """Restore state written by :meth:`to_dict` (replaces the current state)."""
        day = data.get("day")
        self._day = date.fromisoformat(day) if day else None
        self._dp_charged = set(data.get("dp_charged", ()))
        self._orders = {
            oid: _OrderState(
                token=s["token"],
                side=Side(s["side"]),
                product=Product(s["product"]),
                qty=int(s["qty"]),
                turnover=Fraction(s["turnover"]),
                dp_paise=int(s["dp_paise"]),
                charged=ChargeBreakdown(**s["charged"]),
            )
            for oid, s in data.get("orders", {}).items()
        }


def _check_qty_price(qty: int, price: int) -> None:
    """Reject non-int or non-positive quantities and prices."""
    if type(qty) is not int or qty <= 0:
        raise ChargesError(f"quantity must be a positive int (units, not lots), got {qty!r}")
    if type(price) is not int or price <= 0:
        raise ChargesError(f"price must be a positive int in price units (paise), got {price!r}")
