"""Ids of the paper broker: book order ids, venue order ids and trade ids.

The simulated market (:mod:`engine.simulator`) takes caller order ids ``1 .. 2**60 - 1``; its own
agents use ids from :data:`~engine.sim_config.SYNTHETIC_ORDER_ID_BASE` (2**60) up, so the two never
collide. The paper broker numbers its book orders ``id_offset + 1, id_offset + 2, ...``.

* A venue order id is ``"P"`` + the book id zero-padded to 19 digits (2**60 - 1 has 19), e.g.
  ``P0177000000000000001``: fixed width, so venue ids sort like their book ids, and the book id is
  recovered from the venue id alone (:func:`book_id_of`), which keeps the mapping stable across a
  restart.
* A trade id is ``"PT"`` + a broker-wide sequence number from the same offset, padded the same way.
  It is not the book's own trade number: every book counts its trades from 1, and a restarted
  market starts again at 1, so ``"PT<book trade id>"`` would repeat across instruments and runs and
  the OMS (which ignores a trade id it has seen on an order) would drop a real fill.
* The default offset is the wall-clock time of the broker's creation in milliseconds times
  :data:`IDS_PER_MS`, so a later run never reuses an id of an earlier one (unless one run issued
  more than 100,000 ids per millisecond it lasted).
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.models import TradeId, VenueOrderId
from engine.sim_config import SYNTHETIC_ORDER_ID_BASE

__all__ = [
    "IDS_PER_MS",
    "MAX_BOOK_ID",
    "TRADE_PREFIX",
    "VENUE_PREFIX",
    "PaperIdAllocator",
    "book_id_of",
    "default_id_offset",
    "trade_id",
    "trade_seq_of",
    "venue_order_id",
]

VENUE_PREFIX = "P"
"""First character of every paper venue order id."""

TRADE_PREFIX = "PT"
"""First characters of every paper trade id."""

MAX_BOOK_ID = SYNTHETIC_ORDER_ID_BASE - 1
"""Largest order id a caller of the simulated market may use."""

IDS_PER_MS = 100_000
"""Room for ids per millisecond between two runs with the default offset."""

_DIGITS = len(str(MAX_BOOK_ID))
_NS_PER_MS = 1_000_000


def default_id_offset(wall_ns: int) -> int:
    """The id offset of a broker created at wall time ``wall_ns`` (ns since the epoch)."""
    return (wall_ns // _NS_PER_MS) * IDS_PER_MS


def venue_order_id(book_id: int) -> VenueOrderId:
    """The venue order id of book order ``book_id`` (``"P"`` + 19 digits)."""
    return VenueOrderId(f"{VENUE_PREFIX}{book_id:0{_DIGITS}d}")


def book_id_of(venue_id: str) -> int:
    """The book order id inside a paper venue order id; ``ValueError`` naming the rule if it is
    not one (``"P"`` followed by digits for an id in ``1 .. 2**60 - 1``)."""
    digits = venue_id[len(VENUE_PREFIX) :]
    if not venue_id.startswith(VENUE_PREFIX) or not digits.isdigit() or not digits.isascii():
        raise ValueError(
            f"venue order id {venue_id!r} is not a paper order id; paper ids are "
            f"{VENUE_PREFIX!r} followed by digits, e.g. {venue_order_id(1)!r}"
        )
    book_id = int(digits)
    if not 0 < book_id <= MAX_BOOK_ID:
        raise ValueError(
            f"venue order id {venue_id!r} names book order {book_id}, outside the paper range "
            f"1..{MAX_BOOK_ID}"
        )
    return book_id


def trade_id(seq: int) -> TradeId:
    """The trade id of the broker's ``seq``-th trade number (``"PT"`` + 19 digits)."""
    return TradeId(f"{TRADE_PREFIX}{seq:0{_DIGITS}d}")


def trade_seq_of(trade: str) -> int | None:
    """The sequence number inside a paper trade id, or ``None`` when ``trade`` is not one."""
    digits = trade[len(TRADE_PREFIX) :]
    if trade.startswith(TRADE_PREFIX) and digits.isdigit() and digits.isascii():
        return int(digits)
    return None


class PaperIdAllocator:
    """Hands out book order ids and trade ids above ``offset``, never twice.

    ``reserve_*`` move the counters past ids issued by an earlier run (journal orders resumed after
    a restart), so new ids never repeat them.
    """

    def __init__(self, offset: int) -> None:
        if not 0 <= offset < MAX_BOOK_ID:
            raise ValueError(
                f"id_offset must be within 0..{MAX_BOOK_ID - 1} (book order ids are "
                f"id_offset + 1, id_offset + 2, ... and must stay below 2**60), got {offset}"
            )
        self.offset = offset
        self._last_order = offset
        self._last_trade = offset

    def next_order_id(self) -> int:
        """A fresh book order id; ``OverflowError`` once the caller range is used up."""
        if self._last_order >= MAX_BOOK_ID:
            raise OverflowError(
                f"the paper broker has used every book order id up to {MAX_BOOK_ID}; "
                f"start it with a smaller id_offset"
            )
        self._last_order += 1
        return self._last_order

    def next_trade_id(self) -> TradeId:
        """A fresh trade id."""
        self._last_trade += 1
        return trade_id(self._last_trade)

    def reserve_order_ids(self, book_ids: Iterable[int]) -> None:
        """Never hand out any of ``book_ids`` (or anything below the largest of them)."""
        for book_id in book_ids:
            self._last_order = max(self._last_order, book_id)

    def reserve_trade_ids(self, trades: Iterable[str]) -> None:
        """Never hand out a paper trade id at or below the largest of ``trades``."""
        for trade in trades:
            seq = trade_seq_of(trade)
            if seq is not None:
                self._last_trade = max(self._last_trade, seq)
