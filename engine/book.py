"""The simulated exchange: a price-time priority matching book (L3) for one instrument.

:class:`OrderBook` matches LIMIT, MARKET (with market protection), IOC, FOK, stop-limit (SL) and
stop-market (SL-M) orders, icebergs (disclosed quantity), cancel and modify, self-trade prevention
per account, tick/lot/freeze/circuit-band validation, DAY expiry, and NSE's pre-open call auction.
Every mutating call returns the :data:`~engine.book_events.BookEvent` list of what happened, in
order. Prices are ``int`` price units, quantities ``int`` units, timestamps ``int`` ns.

Rules the book applies (see also the module docs of :mod:`engine.book_events`):

* Price-time priority; a continuous fill is at the resting (maker) order's price.
* MARKET = limit at reference +/- ``market_protection_bps`` (reference = last trade, else the
  reference price, else the best opposite price), snapped inward to the tick grid and clamped to the
  circuit band. The remainder rests at that price (``MarketRemainder.REST``) or is cancelled.
* IOC cancels what it cannot fill at once; FOK fills in full at once or is cancelled untouched.
* SL / SL-M wait until a trade prints at or through the trigger (buy: price >= trigger, sell:
  price <= trigger), then enter as LIMIT / MARKET with a fresh time priority. Stops triggered by one
  incoming order enter after it, in the order their triggers were reached (buy stops before sell
  stops on the same print). A stop whose trigger the last trade has already reached is rejected,
  as brokers do. ``Accepted`` is sent once per order; after ``Triggered`` the order is live.
* Iceberg: only ``disclosed_qty`` shows; when the shown slice fills, a refill of the disclosed size
  joins the back of the queue at that price. Disclosed quantity must be at least 10 % of the order
  (NSE) and needs DAY validity.
* Modify: a price change or quantity increase loses time priority, a decrease keeps it; a modified
  order that becomes marketable matches at once.
* Self-trade prevention by account (0 = none) per :class:`~engine.book_events.StpMode`. An FOK
  that would need to trade with its own account's order is cancelled without side effects.
* Call auction: :meth:`OrderBook.begin_auction` collects LIMIT and MARKET DAY orders without
  matching; :meth:`OrderBook.uncross` executes every crossing order at one equilibrium price
  (:mod:`engine.auction`) in price-time priority, market orders first. Unmatched auction market
  orders become LIMIT orders at the equilibrium price, at the front of that level (they had the best
  price throughout the auction), reported by a ``Modified`` event. With no equilibrium they re-enter
  continuous matching as MARKET orders. Self-trades in the auction are resolved by cancelling per
  the STP mode and recomputing the equilibrium, so all trades still share one price.
* Circuit band changes (``set_bands``) apply to new orders and modifications; resting orders stay.
* Quantity is conserved: submitted = filled + resting + cancelled + rejected + expired, where a
  ``Modified`` event changes what "submitted" means for that order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields
from heapq import heapify, heappop, heappush, nlargest, nsmallest

from engine.auction import Equilibrium, find_equilibrium
from engine.book_events import (
    Accepted,
    BookConfig,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    MarketRemainder,
    Modified,
    Rejected,
    StpMode,
    Triggered,
)
from engine.models import DepthLevel, Instrument, OrderType, Side, Validity
from engine.money import format_price
from engine.order_rules import (
    not_live_reason,
    price_violation,
    qty_violation,
    stop_violation,
)

__all__ = [
    "Accepted",
    "BookConfig",
    "BookEvent",
    "Cancelled",
    "Expired",
    "Fill",
    "MarketRemainder",
    "Modified",
    "OrderBook",
    "Rejected",
    "StpMode",
    "Triggered",
]

_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_SL = OrderType.SL
_SL_M = OrderType.SL_M
_DAY = Validity.DAY
_IOC = Validity.IOC
_FOK = Validity.FOK
_NEWEST = StpMode.CANCEL_NEWEST
_OLDEST = StpMode.CANCEL_OLDEST
_BOTH = StpMode.CANCEL_BOTH

_tuple_new = tuple.__new__
"""Builds a ``DepthLevel`` (a NamedTuple) without its Python-level ``__new__``: same object."""

_new = object.__new__
"""The hot paths build events as ``e = _new(Fill)`` plus one assignment per field: the same
object as ``Fill(...)`` at a third of the cost (no Python-level ``__init__`` call). Every field
must be assigned (see ``_EVENT_FIELDS``)."""

_EVENT_FIELDS: dict[type, tuple[str, ...]] = {
    Accepted: ("order_id", "ts"),
    Cancelled: ("order_id", "leaves_qty", "reason", "ts"),
    Fill: (
        "trade_id",
        "price",
        "qty",
        "aggressor",
        "maker_id",
        "taker_id",
        "maker_account",
        "taker_account",
        "maker_leaves",
        "taker_leaves",
        "ts",
    ),
}
"""The fields the hot paths assign one by one; checked against the event classes at import."""
for _cls, _names in _EVENT_FIELDS.items():
    if tuple(f.name for f in fields(_cls)) != _names:
        raise RuntimeError(
            f"engine.book builds {_cls.__name__} field by field as {_names}; the class now has "
            f"{tuple(f.name for f in fields(_cls))}: update the builders in engine/book.py"
        )

_NO_FREEZE = 1 << 62
_BPS = 10_000

_R_USER = "cancelled on request"
_R_IOC = "IOC: unfilled remainder cancelled"
_R_MKT = "MARKET: remainder beyond the protection price cancelled"
_R_STP_NEW = "self-trade prevention: incoming order would trade with the same account"
_R_STP_OLD = "self-trade prevention: resting order would trade with the same account"

# A working order (resting, or a MARKET order waiting in the call auction) is a plain
# ``list[int]``: creating one costs a third of a ``__slots__`` object on the hot path. The three
# hot functions (``submit``'s fast path, ``cancel``, ``_match``) index it with literals; elsewhere
# the names below are used. ``leaves == 0`` marks a dead entry left in a queue (a tombstone).
_Order = list[int]
_ID = 0  # order id
_ACCT = 1  # account (0 = no self-trade prevention)
_IS_BUY = 2  # 1 buy, 0 sell
_PRICE = 3  # limit price; 0 for a MARKET order waiting in the call auction
_QTY = 4  # total quantity (filled = qty - leaves)
_LEAVES = 5  # open quantity, hidden iceberg part included
_SHOWN = 6  # visible quantity (the current iceberg slice, else == leaves)
_DISC = 7  # disclosed quantity, 0 = not an iceberg


class _StopOrder:
    """An SL / SL-M order waiting for its trigger (``price`` is 0 for SL-M)."""

    __slots__ = (
        "account",
        "disclosed",
        "is_buy",
        "live",
        "oid",
        "order_type",
        "price",
        "qty",
        "seq",
        "trigger",
        "validity",
    )

    def __init__(
        self,
        oid: int,
        account: int,
        is_buy: bool,
        order_type: OrderType,
        qty: int,
        price: int,
        trigger: int,
        validity: Validity,
        disclosed: int,
        seq: int,
    ) -> None:
        self.oid = oid
        self.account = account
        self.is_buy = is_buy
        self.order_type = order_type
        self.qty = qty
        self.price = price
        self.trigger = trigger
        self.validity = validity
        self.disclosed = disclosed
        self.seq = seq
        self.live = True


class _Level:
    """One price level: FIFO queue (with tombstones), visible qty and live order count.

    ``view`` is the level's last :class:`DepthLevel` as ``depth()`` built it; depth() reuses it
    while ``qty`` and ``count`` still match (building one costs more than checking it).
    """

    __slots__ = ("count", "q", "qty", "view")

    def __init__(self) -> None:
        self.q: deque[_Order] = deque()
        self.qty = 0
        self.count = 0
        self.view: DepthLevel | None = None


def _side_depth(levels: dict[int, _Level], n: int, is_bid: bool) -> tuple[DepthLevel, ...]:
    """The best ``n`` levels of one side, best first."""
    # A sort in C beats heapq's Python-level selection for the few levels a book has.
    if len(levels) <= 64:
        prices = sorted(levels, reverse=is_bid)[:n]
    else:
        prices = nlargest(n, levels) if is_bid else nsmallest(n, levels)
    out: list[DepthLevel] = []
    for p in prices:
        level = levels[p]
        view = level.view
        if view is None or view[1] != level.qty or view[2] != level.count:
            view = level.view = _tuple_new(DepthLevel, (p, level.qty, level.count))
        out.append(view)
    return tuple(out)


def _shown(disclosed: int, leaves: int) -> int:
    """Visible quantity of an order with ``leaves`` open and ``disclosed`` shown (0 = all)."""
    return leaves if not disclosed or disclosed > leaves else disclosed


class OrderBook:
    """Price-time priority matching book for one instrument; see the module docs for the rules."""

    def __init__(self, instrument: Instrument, config: BookConfig | None = None) -> None:
        """Create an empty book for ``instrument`` (which must be tradable)."""
        if not instrument.tradable:
            raise ValueError(f"{instrument.key} is an index and cannot have an order book")
        if instrument.tick_size <= 0 or instrument.lot_size <= 0:
            raise ValueError(
                f"{instrument.key}: tick size {instrument.tick_size} and lot size "
                f"{instrument.lot_size} must both be positive"
            )
        cfg = config if config is not None else BookConfig()
        if cfg.market_protection_bps < 0:
            raise ValueError(
                f"market_protection_bps must be >= 0 (200 = 2 %), got {cfg.market_protection_bps}"
            )
        if cfg.depth_levels < 1:
            raise ValueError(f"depth_levels must be at least 1, got {cfg.depth_levels}")
        self._inst = instrument
        self._cfg = cfg
        self._tick = instrument.tick_size
        self._lot = instrument.lot_size
        self._scale = instrument.price_scale
        self._max_qty = instrument.freeze_qty if instrument.freeze_qty else _NO_FREEZE
        self._stp = cfg.stp_mode
        self._lower = 0
        self._upper = 0
        # Fast-path price window: the band, or everything positive; empty during an auction.
        self._fast_lo = 1
        self._fast_hi = _NO_FREEZE
        self._ref = 0
        self._orders: dict[int, _Order] = {}  # live resting / auction orders, in time priority
        self._stops: dict[int, _StopOrder] = {}  # live stops waiting for their trigger
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_heap: list[int] = []  # negated prices; may hold stale or repeated entries
        self._ask_heap: list[int] = []
        self._bb = 0
        self._ba = 0
        # depth() results per side as (levels asked for, levels), until that side changes: every
        # change to a side's levels (qty, count, a level appearing or going) resets its view.
        self._bid_view: tuple[int, tuple[DepthLevel, ...]] | None = None
        self._ask_view: tuple[int, tuple[DepthLevel, ...]] | None = None
        self._buy_stops: list[tuple[int, int, _StopOrder]] = []  # (trigger, seq, stop)
        self._sell_stops: list[tuple[int, int, _StopOrder]] = []  # (-trigger, seq, stop)
        self._dead_stops = 0
        self._stop_seq = 0
        self._pending: deque[_StopOrder] = deque()  # triggered, waiting to enter
        self._mkt_buys: deque[_Order] = deque()  # MARKET orders in the call auction
        self._mkt_sells: deque[_Order] = deque()
        self._in_auction = False
        self._halted = False
        self._next_trade = 1
        self._last_price = 0
        self._last_qty = 0
        self._volume = 0
        self._turnover = 0
        self._open = 0
        self._high = 0
        self._low = 0

    # -----------------------------------------------------------------------------------------
    # Read-only views

    @property
    def instrument(self) -> Instrument:
        """The instrument this book trades."""
        return self._inst

    @property
    def config(self) -> BookConfig:
        """The book's configuration."""
        return self._cfg

    @property
    def best_bid(self) -> int:
        """Best bid price, 0 when there are no bids."""
        return self._bb

    @property
    def best_ask(self) -> int:
        """Best ask price, 0 when there are no asks."""
        return self._ba

    @property
    def last_price(self) -> int:
        """Price of the last trade, 0 before any trade."""
        return self._last_price

    @property
    def last_qty(self) -> int:
        """Quantity of the last execution, 0 before any trade."""
        return self._last_qty

    @property
    def volume(self) -> int:
        """Total traded quantity."""
        return self._volume

    @property
    def turnover(self) -> int:
        """Sum of price * qty over all executions (exact int)."""
        return self._turnover

    @property
    def vwap(self) -> int:
        """Volume-weighted average price: turnover / volume rounded half-even; 0 before trades."""
        volume = self._volume
        if not volume:
            return 0
        quotient, rest = divmod(self._turnover, volume)
        if rest * 2 > volume or (rest * 2 == volume and quotient % 2 == 1):
            quotient += 1
        return quotient

    @property
    def open(self) -> int:
        """First trade price of the session, 0 before any trade."""
        return self._open

    @property
    def high(self) -> int:
        """Highest trade price, 0 before any trade."""
        return self._high

    @property
    def low(self) -> int:
        """Lowest trade price, 0 before any trade."""
        return self._low

    @property
    def in_auction(self) -> bool:
        """True between :meth:`begin_auction` and :meth:`uncross`."""
        return self._in_auction

    @property
    def reference_price(self) -> int:
        """The reference price (previous close) set by :meth:`set_reference_price`, 0 if none."""
        return self._ref

    @property
    def bands(self) -> tuple[int, int]:
        """The circuit band ``(lower, upper)``; ``(0, 0)`` when there is none."""
        return self._lower, self._upper

    def depth(
        self, levels: int | None = None
    ) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
        """Visible depth ``(bids best-first, asks best-first)`` to ``levels`` levels per side.

        Icebergs count only their shown slice; auction market orders (no price) are not shown.
        A side that has not changed since the last call returns the same (immutable) tuple.
        """
        n = self._cfg.depth_levels if levels is None else levels
        if n < 0:
            raise ValueError(f"depth levels must be >= 0, got {n}")
        view = self._bid_view
        if view is None or view[0] != n:
            view = self._bid_view = (n, _side_depth(self._bids, n, True))
        bids = view[1]
        view = self._ask_view
        if view is None or view[0] != n:
            view = self._ask_view = (n, _side_depth(self._asks, n, False))
        return bids, view[1]

    def leaves(self, order_id: int) -> int:
        """Open qty still working (resting, hidden or waiting for a trigger); 0 if not live."""
        order = self._orders.get(order_id)
        if order is not None:
            return order[_LEAVES]
        stop = self._stops.get(order_id)
        return stop.qty if stop is not None else 0

    def is_live(self, order_id: int) -> bool:
        """True while the order rests, waits for its trigger or waits in the call auction."""
        return order_id in self._orders or order_id in self._stops

    def live_order_ids(self) -> list[int]:
        """Ids of all live orders: resting ones in time priority order, then waiting stops."""
        return [*self._orders, *self._stops]

    # -----------------------------------------------------------------------------------------
    # Session settings

    def set_bands(self, lower: int, upper: int) -> None:
        """Set the circuit band (inclusive) for new orders and modifications; ``0, 0`` = none."""
        if lower == 0 and upper == 0:
            self._lower = self._upper = 0
            self._set_fast_window()
            return
        if not 0 < lower <= upper:
            raise ValueError(
                f"circuit band needs 0 < lower <= upper (or 0, 0 for none), got {lower}, {upper}"
            )
        tick = self._tick
        if lower % tick or upper % tick:
            raise ValueError(
                f"circuit band {self._fmt(lower)}-{self._fmt(upper)} must lie on the tick grid "
                f"of {self._fmt(tick)}"
            )
        self._lower = lower
        self._upper = upper
        self._set_fast_window()

    def _set_fast_window(self) -> None:
        if self._in_auction:
            self._fast_lo, self._fast_hi = _NO_FREEZE, 0
        elif self._upper:
            self._fast_lo, self._fast_hi = self._lower, self._upper
        else:
            self._fast_lo, self._fast_hi = 1, _NO_FREEZE

    def set_reference_price(self, price: int) -> None:
        """Set the reference price (previous close) used before the first trade."""
        if price <= 0:
            raise ValueError(f"reference price must be positive, got {price}")
        self._ref = price

    # -----------------------------------------------------------------------------------------
    # Orders

    def submit(
        self,
        order_id: int,
        account: int,
        side: Side,
        qty: int,
        *,
        order_type: OrderType = _LIMIT,
        price: int = 0,
        trigger: int = 0,
        validity: Validity = _DAY,
        disclosed_qty: int = 0,
        ts: int = 0,
    ) -> list[BookEvent]:
        """Submit a new order; returns what happened (Accepted/Rejected/Fill/Cancelled/...)."""
        events: list[BookEvent]
        # Fast path: a valid plain LIMIT order in continuous trading.
        if (
            order_type is _LIMIT
            and not trigger
            and not disclosed_qty
            and 0 < qty <= self._max_qty
            and not qty % self._lot
            and self._fast_lo <= price <= self._fast_hi  # in band, positive, not in an auction
            and not price % self._tick
            and order_id not in self._orders
            and (not self._stops or order_id not in self._stops)
        ):
            if validity is _DAY:
                if side is _BUY:
                    best = self._ba
                    if not best or price < best:
                        # [id, account, is_buy, price, qty, leaves, shown, disclosed]
                        order = [order_id, account, 1, price, qty, qty, qty, 0]
                        self._orders[order_id] = order
                        level = self._bids.get(price)
                        if level is None:
                            level = self._new_bid_level(price)
                        level.q.append(order)
                        level.qty += qty
                        level.count += 1
                        self._bid_view = None
                        event = _new(Accepted)  # == Accepted(order_id, ts), see _new
                        event.order_id = order_id
                        event.ts = ts
                        return [event]
                elif side is _SELL:
                    if price > self._bb:
                        order = [order_id, account, 0, price, qty, qty, qty, 0]
                        self._orders[order_id] = order
                        level = self._asks.get(price)
                        if level is None:
                            level = self._new_ask_level(price)
                        level.q.append(order)
                        level.qty += qty
                        level.count += 1
                        self._ask_view = None
                        event = _new(Accepted)
                        event.order_id = order_id
                        event.ts = ts
                        return [event]
                else:
                    return self._submit_checked(
                        order_id, account, side, qty, order_type, price, 0, validity, 0, ts
                    )
            elif validity is _IOC and (side is _BUY or side is _SELL):
                # Inline of _execute for IOC limits.
                events = []
                is_buy = side is _BUY
                best = self._ba if is_buy else self._bb
                if best and (best <= price if is_buy else best >= price):
                    remaining = self._match(is_buy, price, qty, order_id, account, side, ts, events)
                    if remaining:
                        cancelled = _new(Cancelled)
                        cancelled.order_id = order_id
                        cancelled.leaves_qty = remaining
                        cancelled.reason = _R_STP_NEW if self._halted else _R_IOC
                        cancelled.ts = ts
                        events.append(cancelled)
                    if self._pending:
                        self._run_triggers(ts, events)
                    return events
                cancelled = _new(Cancelled)
                cancelled.order_id = order_id
                cancelled.leaves_qty = qty
                cancelled.reason = _R_IOC
                cancelled.ts = ts
                return [cancelled]
            elif validity is not _FOK or (side is not _BUY and side is not _SELL):
                return self._submit_checked(
                    order_id, account, side, qty, order_type, price, 0, validity, 0, ts
                )
            events = []
            self._execute(
                order_id, account, side, qty, qty, price, validity, 0, False, True, ts, events
            )
            if self._pending:
                self._run_triggers(ts, events)
            return events
        if (
            order_type is _MARKET
            and not price
            and not trigger
            and not disclosed_qty
            and 0 < qty <= self._max_qty
            and not qty % self._lot
            and not self._in_auction
            and (validity is _IOC or validity is _DAY)
            and (side is _BUY or side is _SELL)
            and order_id not in self._orders
            and (not self._stops or order_id not in self._stops)
            and self._reference_for(side is _BUY)
        ):
            # Fast path: a valid MARKET IOC/DAY order in continuous trading (what
            # _submit_checked does once _validate has passed).
            events = []
            limit = self._protection_price(side is _BUY)
            self._execute(
                order_id, account, side, qty, qty, limit, validity, 0, True, True, ts, events
            )
            if self._pending:
                self._run_triggers(ts, events)
            return events
        return self._submit_checked(
            order_id, account, side, qty, order_type, price, trigger, validity, disclosed_qty, ts
        )

    def cancel(self, order_id: int, ts: int = 0) -> list[BookEvent]:
        """Cancel a live order; an unknown or dead id gets ``[Rejected]``."""
        order = self._orders.pop(order_id, None)
        if order is not None:
            leaves = order[5]
            price = order[3]
            if not price:  # a MARKET order waiting in the call auction
                self._unlink(order)
                return [Cancelled(order_id, leaves, _R_USER, ts)]
            # Inline of _unlink for the common case: leave a tombstone in the queue.
            if order[2]:
                levels = self._bids
                self._bid_view = None
            else:
                levels = self._asks
                self._ask_view = None
            level = levels[price]
            level.qty -= order[6]
            level.count -= 1
            order[5] = order[6] = 0
            if not level.count:
                del levels[price]
                if order[2]:
                    if price == self._bb:
                        self._fix_best_bid()
                elif price == self._ba:
                    self._fix_best_ask()
            elif len(level.q) > 2 * level.count + 8:
                level.q = deque(o for o in level.q if o[5])
            cancelled = _new(Cancelled)  # == Cancelled(order_id, leaves, _R_USER, ts)
            cancelled.order_id = order_id
            cancelled.leaves_qty = leaves
            cancelled.reason = _R_USER
            cancelled.ts = ts
            return [cancelled]
        stop = self._stops.pop(order_id, None)
        if stop is None:
            return [Rejected(order_id, self._not_live(order_id), ts)]
        self._kill_stop(stop)
        return [Cancelled(order_id, stop.qty, _R_USER, ts)]

    def modify(
        self,
        order_id: int,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger: int | None = None,
        ts: int = 0,
    ) -> list[BookEvent]:
        """Change a live order's total qty, price or trigger.

        ``qty`` is the new TOTAL quantity and must exceed what has already filled. A price change,
        a trigger change or a quantity increase loses time priority; a decrease keeps it. A modified
        order that becomes marketable matches at once (not during a call auction).
        """
        if qty is None and price is None and trigger is None:
            return [Rejected(order_id, "modify needs a new qty, price or trigger", ts)]
        stop = self._stops.get(order_id)
        if stop is not None:
            return self._modify_stop(stop, qty, price, trigger, ts)
        order = self._orders.get(order_id)
        if order is None:
            return [Rejected(order_id, self._not_live(order_id), ts)]
        reason = self._check_modify(order, qty, price, trigger)
        if reason:
            return [Rejected(order_id, reason, ts)]
        old_qty = order[_QTY]
        old_price = order[_PRICE]
        new_qty = old_qty if qty is None else qty
        new_price = old_price if price is None else price
        new_leaves = order[_LEAVES] + new_qty - old_qty
        events: list[BookEvent] = [Modified(order_id, new_qty, new_price, 0, ts)]
        if new_price == old_price and new_qty <= old_qty:
            # Same price and no increase: keep time priority.
            self._shrink(order, new_qty, new_leaves)
            return events
        # Loses time priority: take the order out and enter it again as a new arrival.
        del self._orders[order_id]
        self._unlink(order)
        account = order[_ACCT]
        is_buy = order[_IS_BUY]
        disclosed = order[_DISC]
        if not new_price:  # a MARKET order in the call auction whose qty grew
            fresh = [order_id, account, is_buy, 0, new_qty, new_leaves, 0, disclosed]
            fresh[_SHOWN] = _shown(disclosed, new_leaves)
            self._orders[order_id] = fresh
            (self._mkt_buys if is_buy else self._mkt_sells).append(fresh)
        elif self._in_auction:
            self._rest(order_id, account, is_buy, new_price, new_qty, new_leaves, disclosed)
        else:
            side = _BUY if is_buy else _SELL
            self._execute(
                order_id,
                account,
                side,
                new_qty,
                new_leaves,
                new_price,
                _DAY,
                disclosed,
                False,
                False,
                ts,
                events,
            )
            if self._pending:
                self._run_triggers(ts, events)
        return events

    def expire_day_orders(self, ts: int) -> list[BookEvent]:
        """End of session: every live order (all are DAY orders) expires; the book is emptied.

        Resting orders expire first (in time priority), then waiting stops. Trade statistics
        (last price, volume, OHLC, VWAP) are kept.
        """
        events: list[BookEvent] = [
            Expired(oid, order[_LEAVES], ts) for oid, order in self._orders.items()
        ]
        events.extend(Expired(oid, stop.qty, ts) for oid, stop in self._stops.items())
        for order in self._orders.values():
            order[_LEAVES] = order[_SHOWN] = 0
        for stop in self._stops.values():
            stop.live = False
        self._orders.clear()
        self._stops.clear()
        self._bids.clear()
        self._asks.clear()
        self._bid_view = self._ask_view = None
        self._bid_heap.clear()
        self._ask_heap.clear()
        self._bb = self._ba = 0
        self._buy_stops.clear()
        self._sell_stops.clear()
        self._dead_stops = 0
        self._pending.clear()
        self._mkt_buys.clear()
        self._mkt_sells.clear()
        return events

    # -----------------------------------------------------------------------------------------
    # Call auction

    def begin_auction(self) -> None:
        """Start collecting orders for a call auction; nothing matches until :meth:`uncross`."""
        self._in_auction = True
        self._set_fast_window()

    def indicative(self) -> tuple[int, int]:
        """The equilibrium price and executable qty if the auction uncrossed now; (0, 0) if none."""
        eq = self._equilibrium()
        return (eq.price, eq.volume) if eq is not None else (0, 0)

    def uncross(self, ts: int) -> list[BookEvent]:
        """Execute the call auction at one equilibrium price, then switch to continuous matching."""
        if not self._in_auction:
            raise RuntimeError("uncross() needs a call auction in progress; call begin_auction()")
        events: list[BookEvent] = []
        eq = self._equilibrium()
        while eq is not None:
            plan = _AuctionPlan(self, eq.price)
            if plan.conflict is None:
                plan.apply(self, ts, events)
                break
            self._cancel_self_trade(plan.conflict, ts, events)
            eq = self._equilibrium()
        self._in_auction = False
        self._set_fast_window()
        self._release_auction_market_orders(eq.price if eq is not None else 0, ts, events)
        if self._pending:
            self._run_triggers(ts, events)
        return events

    # -----------------------------------------------------------------------------------------
    # Internals: price levels

    def _new_bid_level(self, price: int) -> _Level:
        level = self._bids[price] = _Level()
        heap = self._bid_heap
        heappush(heap, -price)
        if price > self._bb:
            self._bb = price
        if len(heap) > 2 * len(self._bids) + 64:
            self._bid_heap = [-p for p in self._bids]
            heapify(self._bid_heap)
        return level

    def _new_ask_level(self, price: int) -> _Level:
        level = self._asks[price] = _Level()
        heap = self._ask_heap
        heappush(heap, price)
        if not self._ba or price < self._ba:
            self._ba = price
        if len(heap) > 2 * len(self._asks) + 64:
            self._ask_heap = list(self._asks)
            heapify(self._ask_heap)
        return level

    def _fix_best_bid(self) -> None:
        heap = self._bid_heap
        bids = self._bids
        while heap and -heap[0] not in bids:
            heappop(heap)
        self._bb = -heap[0] if heap else 0

    def _fix_best_ask(self) -> None:
        heap = self._ask_heap
        asks = self._asks
        while heap and heap[0] not in asks:
            heappop(heap)
        self._ba = heap[0] if heap else 0

    # -----------------------------------------------------------------------------------------
    # Internals: entering, resting and removing orders

    def _rest(
        self,
        order_id: int,
        account: int,
        is_buy: int,
        price: int,
        qty: int,
        leaves: int,
        disclosed: int,
    ) -> None:
        """Put a validated order that does not cross (or any, in an auction) at the back."""
        shown = _shown(disclosed, leaves)
        order = [order_id, account, 1 if is_buy else 0, price, qty, leaves, shown, disclosed]
        self._orders[order_id] = order
        if is_buy:
            self._bid_view = None
            level = self._bids.get(price)
            if level is None:
                level = self._new_bid_level(price)
        else:
            self._ask_view = None
            level = self._asks.get(price)
            if level is None:
                level = self._new_ask_level(price)
        level.q.append(order)
        level.qty += shown
        level.count += 1

    def _unlink(self, order: _Order) -> None:
        """Take a live order (already removed from ``_orders``) out of its queue as a tombstone."""
        price = order[_PRICE]
        order[_LEAVES] = 0
        if not price:  # a MARKET order waiting in the call auction
            queue = self._mkt_buys if order[_IS_BUY] else self._mkt_sells
            if len(queue) > 64 and len(queue) > 2 * sum(1 for o in queue if o[_LEAVES]):
                live = [o for o in queue if o[_LEAVES]]
                queue.clear()
                queue.extend(live)
            return
        if order[_IS_BUY]:
            levels = self._bids
            self._bid_view = None
        else:
            levels = self._asks
            self._ask_view = None
        level = levels[price]
        level.qty -= order[_SHOWN]
        level.count -= 1
        order[_SHOWN] = 0
        if not level.count:
            del levels[price]
            if order[_IS_BUY]:
                if price == self._bb:
                    self._fix_best_bid()
            elif price == self._ba:
                self._fix_best_ask()
        elif len(level.q) > 2 * level.count + 8:
            level.q = deque(o for o in level.q if o[_LEAVES])

    def _kill_stop(self, stop: _StopOrder) -> None:
        """Mark a waiting stop (already removed from ``_stops``) dead in its trigger heap."""
        stop.live = False
        self._dead_stops += 1
        if self._dead_stops > 64 and self._dead_stops * 2 > len(self._buy_stops) + len(
            self._sell_stops
        ):
            self._buy_stops = [e for e in self._buy_stops if e[2].live]
            heapify(self._buy_stops)
            self._sell_stops = [e for e in self._sell_stops if e[2].live]
            heapify(self._sell_stops)
            self._dead_stops = 0

    def _shrink(self, order: _Order, new_qty: int, new_leaves: int) -> None:
        """Reduce a live order's quantity in place (keeps its time priority)."""
        order[_QTY] = new_qty
        order[_LEAVES] = new_leaves
        excess = order[_SHOWN] - new_leaves
        if excess > 0:
            order[_SHOWN] = new_leaves
            if order[_PRICE]:
                if order[_IS_BUY]:
                    self._bids[order[_PRICE]].qty -= excess
                    self._bid_view = None
                else:
                    self._asks[order[_PRICE]].qty -= excess
                    self._ask_view = None

    def _execute(
        self,
        order_id: int,
        account: int,
        side: Side,
        qty: int,
        leaves: int,
        limit: int,
        validity: Validity,
        disclosed: int,
        is_market: bool,
        announce: bool,
        ts: int,
        events: list[BookEvent],
    ) -> None:
        """Enter a validated order in continuous trading: match what crosses, then rest/cancel.

        ``qty`` is the order's total, ``leaves`` what is still open. ``announce`` sends
        ``Accepted`` if the order comes to rest (new orders only; modified and triggered orders
        were accepted before).
        """
        is_buy = side is _BUY
        if validity is _FOK:
            available = self._fok_available(is_buy, limit, leaves, account)
            if available < leaves:
                events.append(
                    Cancelled(
                        order_id,
                        leaves,
                        f"FOK: only {available} of {leaves} could fill at once at "
                        f"{self._fmt(limit)} or better; cancelled in full",
                        ts,
                    )
                )
                return
        remaining = leaves
        halted = False
        best = self._ba if is_buy else self._bb
        if best and (best <= limit if is_buy else best >= limit):
            remaining = self._match(is_buy, limit, leaves, order_id, account, side, ts, events)
            halted = self._halted
        if not remaining:
            return
        if halted:
            events.append(Cancelled(order_id, remaining, _R_STP_NEW, ts))
        elif validity is not _DAY:
            events.append(Cancelled(order_id, remaining, _R_IOC, ts))
        elif is_market and self._cfg.market_remainder is MarketRemainder.CANCEL:
            events.append(Cancelled(order_id, remaining, _R_MKT, ts))
        else:
            if announce:
                events.append(Accepted(order_id, ts))
            self._rest(order_id, account, is_buy, limit, qty, remaining, disclosed)

    def _match(
        self,
        is_buy: bool,
        limit: int,
        qty: int,
        taker_id: int,
        taker_account: int,
        side: Side,
        ts: int,
        events: list[BookEvent],
    ) -> int:
        """Match an incoming order against the opposite side; returns the unfilled quantity.

        Sets ``self._halted`` when self-trade prevention stopped the incoming order. Orders are
        indexed with literals here: [id, account, is_buy, price, qty, leaves, shown, disclosed].
        """
        orders = self._orders
        if is_buy:
            levels = self._asks
            self._ask_view = None
        else:
            levels = self._bids
            self._bid_view = None
        stp = self._stp
        new = _new
        remaining = qty
        halted = False
        append = events.append
        trade_id = self._next_trade
        volume = turnover = first_price = last_price = last_qty = 0
        while remaining:
            best = self._ba if is_buy else self._bb
            if not best or (best > limit if is_buy else best < limit):
                break
            level = levels[best]
            queue = level.q
            traded = 0
            last = 0
            while remaining and queue:
                maker = queue[0]
                maker_leaves = maker[5]
                if not maker_leaves:  # tombstone
                    queue.popleft()
                    continue
                if maker[1] == taker_account and taker_account:
                    if stp is _NEWEST:
                        halted = True
                        break
                    queue.popleft()
                    level.qty -= maker[6]
                    level.count -= 1
                    maker[5] = maker[6] = 0
                    del orders[maker[0]]
                    append(Cancelled(maker[0], maker_leaves, _R_STP_OLD, ts))
                    if stp is _BOTH:
                        halted = True
                        break
                    continue
                shown = maker[6]
                last = shown if remaining >= shown else remaining
                remaining -= last
                maker_leaves -= last
                maker[5] = maker_leaves
                traded += last
                if last == shown:
                    queue.popleft()
                    if maker_leaves:  # iceberg: refill joins the back of the queue
                        refill = maker[7]
                        if refill > maker_leaves:
                            refill = maker_leaves
                        maker[6] = refill
                        level.qty += refill
                        queue.append(maker)
                    else:  # filled: the dead order just drops out of the queue
                        level.count -= 1
                        del orders[maker[0]]
                else:
                    maker[6] = shown - last
                fill = new(Fill)  # == Fill(trade_id, best, last, side, maker[0], ...), see _new
                fill.trade_id = trade_id
                fill.price = best
                fill.qty = last
                fill.aggressor = side
                fill.maker_id = maker[0]
                fill.taker_id = taker_id
                fill.maker_account = maker[1]
                fill.taker_account = taker_account
                fill.maker_leaves = maker_leaves
                fill.taker_leaves = remaining
                fill.ts = ts
                append(fill)
                trade_id += 1
            if traded:
                level.qty -= traded
                volume += traded
                turnover += traded * best
                if not first_price:
                    first_price = best
                last_price = best
                last_qty = last
            if not level.count:
                del levels[best]
                if is_buy:
                    self._fix_best_ask()
                else:
                    self._fix_best_bid()
            if traded and (self._buy_stops or self._sell_stops):
                self._collect_triggered(best)
            if halted:
                break
        self._next_trade = trade_id
        self._halted = halted
        if volume:  # statistics once per incoming order; prices move monotonically in a sweep
            self._volume += volume
            self._turnover += turnover
            self._last_price = last_price
            self._last_qty = last_qty
            low, high = (first_price, last_price) if is_buy else (last_price, first_price)
            if not self._open:
                self._open = first_price
                self._high = high
                self._low = low
            else:
                if high > self._high:
                    self._high = high
                if low < self._low:
                    self._low = low
        return remaining

    def _fok_available(self, is_buy: bool, limit: int, need: int, account: int) -> int:
        """How much of ``need`` an FOK could fill now (counting stops once ``need`` is reached).

        Replays the matching loop on copies, icebergs refilling to the back and self-trade
        prevention included, without touching the book.
        """
        if is_buy:
            prices = sorted(p for p in self._asks if p <= limit)
            levels = self._asks
        else:
            prices = sorted((p for p in self._bids if p >= limit), reverse=True)
            levels = self._bids
        got = 0
        cancel_oldest = self._stp is _OLDEST
        for price in prices:
            sim = deque(
                (o[_ACCT], o[_SHOWN], o[_LEAVES], o[_DISC]) for o in levels[price].q if o[_LEAVES]
            )
            while sim:
                acct, shown, leaves, disclosed = sim.popleft()
                if account and acct == account:
                    if cancel_oldest:
                        continue
                    return got
                take = min(shown, need - got)
                got += take
                if got >= need:
                    return got
                leaves -= take
                if leaves:
                    sim.append((acct, _shown(disclosed, leaves), leaves, disclosed))
        return got

    # -----------------------------------------------------------------------------------------
    # Internals: validation and the checked submit path

    def _fmt(self, price: int) -> str:
        return format_price(price, self._scale)

    def _not_live(self, order_id: int) -> str:
        return not_live_reason(order_id)

    def _check_qty(self, qty: int) -> str:
        return qty_violation(qty, self._lot, self._max_qty)

    def _check_price(self, what: str, price: int) -> str:
        return price_violation(what, price, self._tick, self._lower, self._upper, self._scale)

    def _check_stop(self, is_buy: bool, order_type: OrderType, price: int, trigger: int) -> str:
        """Stop-specific rules: trigger vs limit, and the trigger not already reached."""
        return stop_violation(is_buy, order_type, price, trigger, self._last_price, self._scale)

    def _submit_checked(
        self,
        order_id: int,
        account: int,
        side: Side,
        qty: int,
        order_type: OrderType,
        price: int,
        trigger: int,
        validity: Validity,
        disclosed: int,
        ts: int,
    ) -> list[BookEvent]:
        reason = self._validate(
            order_id, side, qty, order_type, price, trigger, validity, disclosed
        )
        if reason:
            return [Rejected(order_id, reason, ts)]
        is_buy = side is _BUY
        if order_type is _SL or order_type is _SL_M:
            self._stop_seq += 1
            stop = _StopOrder(
                order_id,
                account,
                is_buy,
                order_type,
                qty,
                price,
                trigger,
                validity,
                disclosed,
                self._stop_seq,
            )
            self._stops[order_id] = stop
            if is_buy:
                heappush(self._buy_stops, (trigger, stop.seq, stop))
            else:
                heappush(self._sell_stops, (-trigger, stop.seq, stop))
            return [Accepted(order_id, ts)]
        if self._in_auction:
            if order_type is _MARKET:
                order = [
                    order_id,
                    account,
                    int(is_buy),
                    0,
                    qty,
                    qty,
                    _shown(disclosed, qty),
                    disclosed,
                ]
                self._orders[order_id] = order
                (self._mkt_buys if is_buy else self._mkt_sells).append(order)
            else:
                self._rest(order_id, account, is_buy, price, qty, qty, disclosed)
            return [Accepted(order_id, ts)]
        events: list[BookEvent] = []
        is_market = order_type is _MARKET
        limit = self._protection_price(is_buy) if is_market else price
        self._execute(
            order_id,
            account,
            side,
            qty,
            qty,
            limit,
            validity,
            disclosed,
            is_market,
            True,
            ts,
            events,
        )
        if self._pending:
            self._run_triggers(ts, events)
        return events

    def _validate(
        self,
        order_id: int,
        side: Side,
        qty: int,
        order_type: OrderType,
        price: int,
        trigger: int,
        validity: Validity,
        disclosed: int,
    ) -> str:
        """Return why an order is rejected, or "" when it is valid."""
        if order_id in self._orders or order_id in self._stops:
            return f"order id {order_id} is already live; order ids must be unique"
        if not isinstance(side, Side):
            return f"side {side!r} must be Side.BUY or Side.SELL"
        if not isinstance(order_type, OrderType):
            return f"order type {order_type!r} must be an OrderType (LIMIT, MARKET, SL or SL-M)"
        if not isinstance(validity, Validity):
            return f"validity {validity!r} must be a Validity (DAY, IOC or FOK)"
        reason = self._check_qty(qty)
        if reason:
            return reason
        if self._in_auction and (order_type not in (_LIMIT, _MARKET) or validity is not _DAY):
            return (
                f"the pre-open call auction accepts only LIMIT and MARKET orders with DAY "
                f"validity, got {order_type} {validity}"
            )
        if disclosed:
            if disclosed < 0:
                return f"disclosed qty {disclosed} must not be negative"
            if validity is not _DAY:
                return f"disclosed qty needs DAY validity; {validity} orders never rest"
            if disclosed > qty:
                return f"disclosed qty {disclosed} exceeds the order qty {qty}"
            if disclosed % self._lot:
                return f"disclosed qty {disclosed} is not a multiple of the lot size {self._lot}"
            if disclosed * 10 < qty:
                return (
                    f"disclosed qty {disclosed} is below 10% of the order qty {qty} "
                    f"(NSE minimum is {-(-qty // 10)})"
                )
        if order_type is _LIMIT or order_type is _SL:
            reason = self._check_price("price", price)
            if reason:
                return reason
        elif price:
            return f"{order_type} order takes no price (got {self._fmt(price)}); use LIMIT or SL"
        if order_type is _SL or order_type is _SL_M:
            reason = self._check_price("trigger", trigger)
            if reason:
                return reason
            return self._check_stop(side is _BUY, order_type, price, trigger)
        if trigger:
            return (
                f"{order_type} order takes no trigger (got {self._fmt(trigger)}); "
                f"use SL or SL-M for a stop"
            )
        if order_type is _MARKET and not self._in_auction and not self._reference_for(side is _BUY):
            other = "SELL" if side is _BUY else "BUY"
            return (
                f"MARKET order needs a reference price for its protection: no trade yet, no "
                f"reference price set and no {other} orders in the book"
            )
        return ""

    def _reference_for(self, is_buy: bool) -> int:
        return self._last_price or self._ref or (self._ba if is_buy else self._bb)

    def _protection_price(self, is_buy: bool) -> int:
        """The limit a MARKET order gets: reference +/- protection, inward to the tick and band."""
        ref = self._reference_for(is_buy)
        bps = self._cfg.market_protection_bps
        tick = self._tick
        if is_buy:
            price = ref * (_BPS + bps) // _BPS
            price -= price % tick
            if self._upper and price > self._upper:
                price = self._upper
            return max(price, tick)
        price = -(-ref * (_BPS - bps) // _BPS)
        price = -(-price // tick) * tick
        if self._lower and price < self._lower:
            price = self._lower
        return max(price, tick)

    def _check_modify(
        self, order: _Order, qty: int | None, price: int | None, trigger: int | None
    ) -> str:
        """Why a modify of a resting/auction order is rejected, or ""."""
        oid = order[_ID]
        if qty is not None:
            reason = self._check_new_qty(order[_QTY] - order[_LEAVES], order[_DISC], qty)
            if reason:
                return reason
        if price is not None:
            if not order[_PRICE]:
                return f"order {oid} is a MARKET order in the call auction and has no price"
            reason = self._check_price("price", price)
            if reason:
                return reason
        if trigger is not None:
            return (
                f"order {oid} is not waiting for a trigger; only SL / SL-M orders that have "
                f"not triggered take a trigger"
            )
        return ""

    def _check_new_qty(self, filled: int, disclosed: int, qty: int) -> str:
        reason = self._check_qty(qty)
        if reason:
            return reason
        if qty <= filled:
            return (
                f"new qty {qty} must exceed the {filled} already filled; cancel the order instead"
            )
        if disclosed and disclosed * 10 < qty:
            return (
                f"disclosed qty {disclosed} would be below 10% of the new qty {qty} (NSE minimum)"
            )
        return ""

    def _modify_stop(
        self,
        stop: _StopOrder,
        qty: int | None,
        price: int | None,
        trigger: int | None,
        ts: int,
    ) -> list[BookEvent]:
        oid = stop.oid
        if qty is not None:
            reason = self._check_new_qty(0, stop.disclosed, qty)
            if reason:
                return [Rejected(oid, reason, ts)]
        if price is not None:
            if stop.order_type is _SL_M:
                return [Rejected(oid, f"order {oid} is SL-M and has no limit price to modify", ts)]
            reason = self._check_price("price", price)
            if reason:
                return [Rejected(oid, reason, ts)]
        if trigger is not None:
            reason = self._check_price("trigger", trigger)
            if reason:
                return [Rejected(oid, reason, ts)]
        new_qty = stop.qty if qty is None else qty
        new_price = stop.price if price is None else price
        new_trigger = stop.trigger if trigger is None else trigger
        if price is not None or trigger is not None:
            reason = self._check_stop(stop.is_buy, stop.order_type, new_price, new_trigger)
            if reason:
                return [Rejected(oid, reason, ts)]
        if new_price == stop.price and new_trigger == stop.trigger and new_qty <= stop.qty:
            stop.qty = new_qty  # keeps its place among the stops
        else:
            del self._stops[oid]
            self._kill_stop(stop)
            self._stop_seq += 1
            fresh = _StopOrder(
                oid,
                stop.account,
                stop.is_buy,
                stop.order_type,
                new_qty,
                new_price,
                new_trigger,
                stop.validity,
                stop.disclosed,
                self._stop_seq,
            )
            self._stops[oid] = fresh
            if fresh.is_buy:
                heappush(self._buy_stops, (new_trigger, fresh.seq, fresh))
            else:
                heappush(self._sell_stops, (-new_trigger, fresh.seq, fresh))
        return [Modified(oid, new_qty, new_price, new_trigger, ts)]

    # -----------------------------------------------------------------------------------------
    # Internals: stops

    def _collect_triggered(self, price: int) -> None:
        """Queue the stops a print at ``price`` triggers (buy stops first, by trigger then age)."""
        buys = self._buy_stops
        while buys and buys[0][0] <= price:
            stop = heappop(buys)[2]
            if stop.live:
                self._pending.append(stop)
            else:
                self._dead_stops -= 1
        sells = self._sell_stops
        while sells and -sells[0][0] >= price:
            stop = heappop(sells)[2]
            if stop.live:
                self._pending.append(stop)
            else:
                self._dead_stops -= 1

    def _run_triggers(self, ts: int, events: list[BookEvent]) -> None:
        """Enter triggered stops one by one; their trades may trigger more (a cascade)."""
        pending = self._pending
        while pending:
            stop = pending.popleft()
            oid = stop.oid
            if self._stops.get(oid) is not stop:
                continue
            del self._stops[oid]
            stop.live = False
            events.append(Triggered(oid, ts))
            side = _BUY if stop.is_buy else _SELL
            if stop.order_type is _SL:
                limit = stop.price
                if self._upper and not self._lower <= limit <= self._upper:
                    events.append(
                        Cancelled(
                            oid,
                            stop.qty,
                            f"SL limit price {self._fmt(limit)} is outside the circuit band "
                            f"{self._fmt(self._lower)}-{self._fmt(self._upper)} at trigger",
                            ts,
                        )
                    )
                    continue
                is_market = False
            else:
                limit = self._protection_price(stop.is_buy)
                is_market = True
            self._execute(
                oid,
                stop.account,
                side,
                stop.qty,
                stop.qty,
                limit,
                stop.validity,
                stop.disclosed,
                is_market,
                False,
                ts,
                events,
            )

    # -----------------------------------------------------------------------------------------
    # Internals: call auction

    def _equilibrium(self) -> Equilibrium | None:
        buys = [(p, sum(o[_LEAVES] for o in lv.q)) for p, lv in self._bids.items()]
        sells = [(p, sum(o[_LEAVES] for o in lv.q)) for p, lv in self._asks.items()]
        buy_market = sum(o[_LEAVES] for o in self._mkt_buys)
        sell_market = sum(o[_LEAVES] for o in self._mkt_sells)
        reference = self._ref or self._last_price
        return find_equilibrium(buys, sells, buy_market, sell_market, reference)

    def _arrival_rank(self) -> dict[int, int]:
        return {oid: rank for rank, oid in enumerate(self._orders)}

    def _cancel_self_trade(
        self, pair: tuple[_Order, _Order], ts: int, events: list[BookEvent]
    ) -> None:
        """Resolve a self-trade found while planning the auction, per the STP mode."""
        rank = self._arrival_rank()
        older, newer = sorted(pair, key=lambda o: rank[o[_ID]])
        if self._stp is _NEWEST:
            doomed = [newer]
        elif self._stp is _OLDEST:
            doomed = [older]
        else:
            doomed = [older, newer]
        for order in doomed:
            leaves = order[_LEAVES]
            del self._orders[order[_ID]]
            self._unlink(order)
            reason = _R_STP_NEW if order is newer else _R_STP_OLD
            events.append(Cancelled(order[_ID], leaves, reason, ts))

    def _release_auction_market_orders(self, price: int, ts: int, events: list[BookEvent]) -> None:
        """After the uncross: unmatched auction market orders become limits at ``price``.

        They go to the front of that level. With no equilibrium price they re-enter continuous
        matching as MARKET orders instead.
        """
        self._bid_view = self._ask_view = None
        for queue, is_buy in ((self._mkt_buys, True), (self._mkt_sells, False)):
            live = [o for o in queue if o[_LEAVES]]
            queue.clear()
            if not live:
                continue
            if price:
                if is_buy:
                    level = self._bids.get(price) or self._new_bid_level(price)
                else:
                    level = self._asks.get(price) or self._new_ask_level(price)
                for order in reversed(live):
                    order[_PRICE] = price
                    level.q.appendleft(order)
                    level.qty += order[_SHOWN]
                    level.count += 1
                events.extend(Modified(o[_ID], o[_QTY], price, 0, ts) for o in live)
                continue
            side = _BUY if is_buy else _SELL
            for order in live:
                oid = order[_ID]
                leaves = order[_LEAVES]
                del self._orders[oid]
                order[_LEAVES] = 0
                if not self._reference_for(is_buy):
                    events.append(
                        Cancelled(
                            oid,
                            leaves,
                            "MARKET order from the call auction: no equilibrium price and no "
                            "reference price for its market protection",
                            ts,
                        )
                    )
                    continue
                limit = self._protection_price(is_buy)
                self._execute(
                    oid,
                    order[_ACCT],
                    side,
                    order[_QTY],
                    leaves,
                    limit,
                    _DAY,
                    order[_DISC],
                    True,
                    False,
                    ts,
                    events,
                )
                if oid in self._orders:
                    events.append(Modified(oid, order[_QTY], limit, 0, ts))


class _Sim:
    """A planning copy of one order's shown and open quantity."""

    __slots__ = ("leaves", "order", "shown")

    def __init__(self, order: _Order) -> None:
        self.order = order
        self.shown = order[_SHOWN]
        self.leaves = order[_LEAVES]


def _sim_queue(queue: deque[_Order]) -> deque[_Sim]:
    """Copy a real queue as planning entries of its live orders, in queue order."""
    return deque(_Sim(o) for o in queue if o[_LEAVES])


class _AuctionPlan:
    """The trades an uncross at ``price`` would make, worked out on copies of the queues.

    Walks both sides in price-time priority (market orders first, icebergs refilling to the back of
    their level), pairing the fronts at the one price. If the two fronts belong to the same
    account, planning stops with ``conflict`` set so the book can apply self-trade prevention and
    recompute the equilibrium.
    """

    __slots__ = (
        "buy_prices",
        "buy_queues",
        "conflict",
        "price",
        "sell_prices",
        "sell_queues",
        "trades",
    )

    def __init__(self, book: OrderBook, price: int) -> None:
        self.price = price
        self.conflict: tuple[_Order, _Order] | None = None
        self.trades: list[tuple[_Order, _Order, int, int, int]] = []
        self.buy_prices = sorted((p for p in book._bids if p >= price), reverse=True)
        self.sell_prices = sorted(p for p in book._asks if p <= price)
        self.buy_queues = [_sim_queue(book._mkt_buys)] + [
            _sim_queue(book._bids[p].q) for p in self.buy_prices
        ]
        self.sell_queues = [_sim_queue(book._mkt_sells)] + [
            _sim_queue(book._asks[p].q) for p in self.sell_prices
        ]
        self._plan()

    def _plan(self) -> None:
        buy_queues = [q for q in self.buy_queues if q]
        sell_queues = [q for q in self.sell_queues if q]
        bi = si = 0
        while bi < len(buy_queues) and si < len(sell_queues):
            bq = buy_queues[bi]
            sq = sell_queues[si]
            buy = bq[0]
            sell = sq[0]
            account = buy.order[_ACCT]
            if account and account == sell.order[_ACCT]:
                self.conflict = (buy.order, sell.order)
                return
            qty = min(buy.shown, sell.shown)
            buy.shown -= qty
            buy.leaves -= qty
            sell.shown -= qty
            sell.leaves -= qty
            self.trades.append((buy.order, sell.order, qty, buy.leaves, sell.leaves))
            for queue, entry in ((bq, buy), (sq, sell)):
                if entry.shown:
                    continue
                queue.popleft()
                if entry.leaves:
                    entry.shown = _shown(entry.order[_DISC], entry.leaves)
                    queue.append(entry)
            if not bq:
                bi += 1
            if not sq:
                si += 1

    def apply(self, book: OrderBook, ts: int, events: list[BookEvent]) -> None:
        """Write the planned trades to the book and report them as Fill events.

        The order that arrived first is the maker; the aggressor is the later order's side.
        """
        if not self.trades:
            return
        book._bid_view = book._ask_view = None
        rank = book._arrival_rank()
        price = self.price
        total = 0
        last = 0
        for buy, sell, qty, buy_leaves, sell_leaves in self.trades:
            if rank[buy[_ID]] < rank[sell[_ID]]:
                maker, taker, aggressor = buy, sell, _SELL
                maker_leaves, taker_leaves = buy_leaves, sell_leaves
            else:
                maker, taker, aggressor = sell, buy, _BUY
                maker_leaves, taker_leaves = sell_leaves, buy_leaves
            trade_id = book._next_trade
            book._next_trade = trade_id + 1
            events.append(
                Fill(
                    trade_id,
                    price,
                    qty,
                    aggressor,
                    maker[_ID],
                    taker[_ID],
                    maker[_ACCT],
                    taker[_ACCT],
                    maker_leaves,
                    taker_leaves,
                    ts,
                )
            )
            total += qty
            last = qty
        book._volume += total
        book._turnover += total * price
        book._last_price = price
        book._last_qty = last
        if not book._open:
            book._open = book._high = book._low = price
        else:
            book._high = max(book._high, price)
            book._low = min(book._low, price)
        _write_back_market(book, self.buy_queues[0], book._mkt_buys)
        _write_back_market(book, self.sell_queues[0], book._mkt_sells)
        for sim, p in zip(self.buy_queues[1:], self.buy_prices, strict=True):
            _write_back_level(book, sim, book._bids, p)
        for sim, p in zip(self.sell_queues[1:], self.sell_prices, strict=True):
            _write_back_level(book, sim, book._asks, p)
        book._fix_best_bid()
        book._fix_best_ask()
        if book._buy_stops or book._sell_stops:
            book._collect_triggered(price)


def _write_back(book: OrderBook, sim: deque[_Sim], original: list[_Order]) -> list[_Order]:
    """Copy planned quantities to the orders; drop the ones that filled. Returns the survivors."""
    survivors: list[_Order] = []
    for entry in sim:
        order = entry.order
        order[_SHOWN] = entry.shown
        order[_LEAVES] = entry.leaves
        survivors.append(order)
    kept = {id(o) for o in survivors}
    for order in original:
        if id(order) not in kept:  # fully filled in the auction
            order[_LEAVES] = order[_SHOWN] = 0
            del book._orders[order[_ID]]
    return survivors


def _write_back_market(book: OrderBook, sim: deque[_Sim], queue: deque[_Order]) -> None:
    survivors = _write_back(book, sim, [o for o in queue if o[_LEAVES]])
    queue.clear()
    queue.extend(survivors)


def _write_back_level(
    book: OrderBook, sim: deque[_Sim], levels: dict[int, _Level], price: int
) -> None:
    level = levels[price]
    survivors = _write_back(book, sim, [o for o in level.q if o[_LEAVES]])
    if not survivors:
        del levels[price]
        return
    level.q = deque(survivors)
    level.qty = sum(o[_SHOWN] for o in survivors)
    level.count = len(survivors)
