"""Core domain models: instruments, market data, identifiers and the order enums.

Prices are ``int`` in the instrument's smallest unit (see :mod:`engine.money`), quantities are
``int`` units (shares or contracts, not lots), and timestamps are ``int`` nanoseconds since the Unix
epoch (UTC); convert to IST only for display and session rules (:mod:`engine.clock`).

Market data classes use ``__slots__`` dataclasses: they are created per tick on the hot path.
Treat them as immutable once published on the bus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NamedTuple, NewType

# ---------------------------------------------------------------------------------------------
# Identifiers (nautilus_trader naming)

ClientOrderId = NewType("ClientOrderId", str)
"""Our id for an order: unique per account and idempotent (the same id twice is one order)."""

VenueOrderId = NewType("VenueOrderId", str)
"""The broker's/exchange's id for an order (Angel ``orderid``; the paper book's order number)."""

TradeId = NewType("TradeId", str)
"""The venue's id of one execution; fills are de-duplicated by it."""

StrategyId = NewType("StrategyId", str)
"""Which strategy (or ``"manual"``) an order belongs to."""


# ---------------------------------------------------------------------------------------------
# Enums


class Side(StrEnum):
    """Order or aggressor side."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """Order types as Indian brokers name them. SL is stop-limit, SL_M is stop-market."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"


class Product(StrEnum):
    """Product: CNC delivery, MIS intraday, NRML carry-forward (F&O overnight)."""

    CNC = "CNC"
    MIS = "MIS"
    NRML = "NRML"


class Validity(StrEnum):
    """Time in force. FOK exists only in the simulated exchange; live brokers offer DAY and IOC."""

    DAY = "DAY"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    """Order lifecycle states (see :mod:`engine.oms` for the transitions)."""

    INITIALIZED = "INITIALIZED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_MODIFY = "PENDING_MODIFY"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        """True for FILLED, CANCELLED, REJECTED and EXPIRED."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Exchange(StrEnum):
    """Exchange segments as the Angel One instrument master names them."""

    NSE = "NSE"  # NSE cash
    BSE = "BSE"  # BSE cash
    NFO = "NFO"  # NSE futures and options
    BFO = "BFO"  # BSE futures and options
    MCX = "MCX"  # commodities
    CDS = "CDS"  # currency derivatives
    NCDEX = "NCDEX"


class InstrumentType(StrEnum):
    """Kind of instrument."""

    EQUITY = "EQ"
    INDEX = "INDEX"
    FUTIDX = "FUTIDX"
    FUTSTK = "FUTSTK"
    OPTIDX = "OPTIDX"
    OPTSTK = "OPTSTK"
    FUTCOM = "FUTCOM"
    OPTFUT = "OPTFUT"
    FUTCUR = "FUTCUR"
    OPTCUR = "OPTCUR"

    @property
    def is_derivative(self) -> bool:
        """True for futures and options."""
        return self not in (InstrumentType.EQUITY, InstrumentType.INDEX)

    @property
    def is_option(self) -> bool:
        """True for options."""
        return self in (
            InstrumentType.OPTIDX,
            InstrumentType.OPTSTK,
            InstrumentType.OPTFUT,
            InstrumentType.OPTCUR,
        )


class OptionKind(StrEnum):
    """Call or put."""

    CE = "CE"
    PE = "PE"


# ---------------------------------------------------------------------------------------------
# Instruments


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable (or index) instrument.

    ``tick_size`` and ``strike`` are in price units (``price_scale`` units per rupee); ``lot_size``
    and ``freeze_qty`` in units (shares/contracts). ``freeze_qty`` is the exchange's maximum per
    order (``None`` when there is none).
    """

    token: str
    exchange: Exchange
    symbol: str
    name: str
    instrument_type: InstrumentType
    lot_size: int = 1
    tick_size: int = 5
    price_scale: int = 100
    expiry: date | None = None
    strike: int | None = None
    option_kind: OptionKind | None = None
    freeze_qty: int | None = None
    underlying: str | None = None

    @property
    def key(self) -> str:
        """Human key ``EXCHANGE:SYMBOL`` (unique within a master)."""
        return f"{self.exchange}:{self.symbol}"

    @property
    def tradable(self) -> bool:
        """Indices are not tradable."""
        return self.instrument_type is not InstrumentType.INDEX


# ---------------------------------------------------------------------------------------------
# Market data


class DepthLevel(NamedTuple):
    """One price level of market depth."""

    price: int
    qty: int
    orders: int


EMPTY_DEPTH: tuple[DepthLevel, ...] = ()


@dataclass(slots=True)
class Quote:
    """A market snapshot for one instrument, the same shape for paper and live feeds.

    ``bids`` are best first (highest price), ``asks`` best first (lowest price). Fields a feed mode
    does not carry are 0 (LTP mode carries only ``ltp``). ``close`` is the previous session's close.
    ``avg_price`` is the session VWAP. ``seq`` increases per instrument per feed.
    """

    token: str
    ltp: int
    ts: int = 0
    exchange_ts: int = 0
    seq: int = 0
    last_qty: int = 0
    avg_price: int = 0
    volume: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    total_buy_qty: int = 0
    total_sell_qty: int = 0
    bids: tuple[DepthLevel, ...] = EMPTY_DEPTH
    asks: tuple[DepthLevel, ...] = EMPTY_DEPTH
    upper_circuit: int = 0
    lower_circuit: int = 0
    open_interest: int = 0

    @property
    def best_bid(self) -> int:
        """Best bid price, or 0 when there is none."""
        return self.bids[0].price if self.bids else 0

    @property
    def best_ask(self) -> int:
        """Best ask price, or 0 when there is none."""
        return self.asks[0].price if self.asks else 0


@dataclass(slots=True)
class TradePrint:
    """One trade on the tape: price, quantity and who crossed the spread."""

    token: str
    price: int
    qty: int
    aggressor: Side
    ts: int
    trade_id: str = ""


MarketEvent = Quote | TradePrint
"""What a feed publishes on the market bus."""


class Interval(StrEnum):
    """Bar intervals."""

    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"

    @property
    def seconds(self) -> int:
        """Length of the interval in seconds (a trading day counts as 86,400)."""
        return _INTERVAL_SECONDS[self]


_INTERVAL_SECONDS = {
    Interval.M1: 60,
    Interval.M3: 180,
    Interval.M5: 300,
    Interval.M15: 900,
    Interval.H1: 3600,
    Interval.D1: 86400,
}


@dataclass(slots=True)
class Bar:
    """An OHLCV bar; ``start`` is the bar's open time in ns (UTC epoch), aligned in IST."""

    token: str
    interval: Interval
    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    closed: bool = False


# ---------------------------------------------------------------------------------------------
# Executions


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders, as the OMS and portfolio see it.

    ``charges`` is in paise (0 until the charges model has priced it).
    """

    trade_id: TradeId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    token: str
    side: Side
    qty: int
    price: int
    product: Product
    ts: int
    charges: int = 0
    strategy_id: StrategyId = field(default=StrategyId("manual"))
