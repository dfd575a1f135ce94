"""Configuration and events of the simulated exchange's matching book (:mod:`engine.book`).

Every mutating call on :class:`engine.book.OrderBook` returns a ``list[BookEvent]`` in the order
things happened. The events are plain ``__slots__`` dataclasses (they are created on the hot path);
treat them as immutable once returned. Prices are ``int`` price units, quantities ``int`` units and
timestamps ``int`` nanoseconds, as everywhere in the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.models import Side

__all__ = [
    "Accepted",
    "BookConfig",
    "BookEvent",
    "Cancelled",
    "Expired",
    "Fill",
    "MarketRemainder",
    "Modified",
    "Rejected",
    "StpMode",
    "Triggered",
]


class StpMode(StrEnum):
    """Self-trade prevention: what happens when two orders of one account would trade.

    Account 0 means "no account" and never triggers self-trade prevention.
    """

    CANCEL_NEWEST = "CANCEL_NEWEST"
    """Default: the incoming (newer) order's remainder is cancelled; the resting order stays."""
    CANCEL_OLDEST = "CANCEL_OLDEST"
    """The resting (older) order is cancelled and matching continues."""
    CANCEL_BOTH = "CANCEL_BOTH"
    """Both the resting order and the incoming order's remainder are cancelled."""


class MarketRemainder(StrEnum):
    """What a MARKET order does with quantity it cannot fill within its protection price."""

    REST = "REST"
    """Default (NSE/Zerodha rule): the remainder rests as a LIMIT at the protection price."""
    CANCEL = "CANCEL"
    """The remainder is cancelled, as for an IOC order."""


@dataclass(slots=True)
class BookConfig:
    """Per-book settings.

    ``market_protection_bps`` turns a MARKET order into a limit at the reference price plus (buy)
    or minus (sell) that many basis points (200 = 2 %), snapped to the tick grid inward.
    """

    market_protection_bps: int = 200
    market_remainder: MarketRemainder = MarketRemainder.REST
    stp_mode: StpMode = StpMode.CANCEL_NEWEST
    depth_levels: int = 5


@dataclass(slots=True)
class Accepted:
    """The order rests in the book, or waits for its trigger (SL / SL-M). Sent once per order."""

    order_id: int
    ts: int


@dataclass(slots=True)
class Rejected:
    """A request was refused; ``reason`` names the rule and the numbers involved.

    For ``submit`` the whole order quantity is rejected; for ``cancel``/``modify`` nothing changed.
    """

    order_id: int
    reason: str
    ts: int


@dataclass(slots=True)
class Fill:
    """One execution between a resting (maker) and an incoming (taker) order.

    ``price`` is the maker's price in continuous matching and the equilibrium price in a call
    auction (where the order that arrived first counts as the maker). ``maker_leaves`` and
    ``taker_leaves`` are the quantities still open on each order right after this execution.
    """

    trade_id: int
    price: int
    qty: int
    aggressor: Side
    maker_id: int
    taker_id: int
    maker_account: int
    taker_account: int
    maker_leaves: int
    taker_leaves: int
    ts: int


@dataclass(slots=True)
class Cancelled:
    """Open qty was cancelled: user cancel, IOC/FOK/market remainder or self-trade prevention."""

    order_id: int
    leaves_qty: int
    reason: str
    ts: int


@dataclass(slots=True)
class Triggered:
    """A stop order's trigger was reached; the order is now live (its fills follow)."""

    order_id: int
    ts: int


@dataclass(slots=True)
class Expired:
    """A DAY order's open quantity expired at the end of the session."""

    order_id: int
    leaves_qty: int
    ts: int


@dataclass(slots=True)
class Modified:
    """An order's new total quantity, price (0 for market-type) and trigger (0 for non-stops)."""

    order_id: int
    qty: int
    price: int
    trigger: int
    ts: int


BookEvent = Accepted | Rejected | Fill | Cancelled | Triggered | Expired | Modified
"""Anything a book call can report."""
