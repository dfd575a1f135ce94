"""The paper broker: the :class:`~engine.broker.Broker` protocol on the simulated market.

:class:`PaperBroker` trades as one account (default 1) in the books of a
:class:`~engine.simulator.SimulatedMarket` and reports what happens to its orders as
:mod:`engine.orders` events, the way a real broker's order-update stream would:

* ``place`` sends the order to the book at the market's simulated time. The first event of every
  order the book takes is :class:`~engine.orders.OrderAccepted` (with the venue order id), then
  its immediate fills and cancels (an IOC/FOK rest, a MARKET rest beyond its protection price when
  the book is configured to cancel it, self-trade prevention), in the order the book reported them.
  A rule the book enforces (tick, lot, circuit band, disclosed quantity, stop trigger, pre-open
  order types, ...) comes back as :class:`~engine.orders.OrderRejected` with the book's reason,
  as a real broker's asynchronous rejection would; ``place`` itself does not raise for those.
  ``place`` raises :class:`~engine.broker.BrokerRejectedError` (and reports nothing) only when
  the order never reaches a book: unknown token, an index, a duplicate client order id, the
  market closed, the broker not connected.
* Later events come from the market's account listener as the simulation steps: passive fills by
  synthetic flow, stops triggered by others' trades (:class:`~engine.orders.OrderTriggered`), DAY
  orders expiring at the close (:class:`~engine.orders.OrderExpired`).
* ``modify`` answers :class:`~engine.orders.OrderModified` or
  :class:`~engine.orders.OrderModifyRejected`; ``cancel`` answers
  :class:`~engine.orders.OrderCancelled` or :class:`~engine.orders.OrderCancelRejected` (an unknown
  or finished order is refused with a reason that says so).

Venue order ids are ``"P"`` + the book order id and trade ids ``"PT"`` + a broker-wide number
(:mod:`brokers.paper_ids`); :meth:`PaperBroker.resume` re-enters the journal's working orders in a
restarted market under the same ids.

Every event carries the simulated clock's time (the book's ``ts``) and reaches the sink
synchronously, in order. While the broker is closed the market keeps running: events of its
orders are held and delivered, in order, on the next :meth:`PaperBroker.connect`.

One broker per account: the market keeps one listener per account, and a second broker on the
same account would replace the first one's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from brokers.paper_ids import (
    PaperIdAllocator,
    book_id_of,
    default_id_offset,
    venue_order_id,
)
from engine.book_events import (
    Accepted,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    Modified,
    Rejected,
    Triggered,
)
from engine.broker import (
    BrokerError,
    BrokerOutcomeUnknownError,
    BrokerRejectedError,
    EventSink,
    ModifyRequest,
    PlaceRequest,
)
from engine.clock import SessionPhase, WallClock
from engine.models import (
    ClientOrderId,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
    VenueOrderId,
)
from engine.oms import BrokerOrderSnapshot
from engine.orders import (
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderModifyRejected,
    OrderRejected,
    OrderTriggered,
    PendingAction,
)
from engine.sim_config import SYNTHETIC_ACCOUNT_BASE, USER_ACCOUNT
from engine.simulator import SimulatedMarket

__all__ = [
    "STATUS_CANCELLED",
    "STATUS_COMPLETE",
    "STATUS_OPEN",
    "STATUS_OPEN_PENDING",
    "STATUS_REJECTED",
    "STATUS_TRIGGER_PENDING",
    "PaperBroker",
]

STATUS_OPEN_PENDING = "open pending"
"""Status text of an order sent to the book whose answer is not in yet."""
STATUS_OPEN = "open"
"""Status text of a working order (partly filled ones too, as Angel One reports them)."""
STATUS_TRIGGER_PENDING = "trigger pending"
"""Status text of a stop order waiting for its trigger."""
STATUS_COMPLETE = "complete"
"""Status text of a fully filled order."""
STATUS_CANCELLED = "cancelled"
"""Status text of a cancelled order, and of one that expired at the close (as brokers show it)."""
STATUS_REJECTED = "rejected"
"""Status text of a rejected order."""

_STOPS = frozenset({OrderType.SL, OrderType.SL_M})
_LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.SL})

_PLACE = "place"
_RESUME = "resume"
_MODIFY = "modify"
_CANCEL = "cancel"

_RESUME_NOTE = "after the paper market restarted"


@dataclass(slots=True)
class _PaperOrder:
    """The broker's record of one order (quantities in the order's units, prices in price units).

    ``book_qty_offset`` is what had filled before the order was re-entered after a restart: the
    book knows only the rest, so book quantities are order quantities minus this.
    """

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    book_id: int
    token: str
    side: Side
    order_type: OrderType
    product: Product
    validity: Validity
    qty: int
    price: int
    trigger_price: int
    disclosed_qty: int
    book_qty_offset: int = 0
    filled_qty: int = 0
    filled_value: Fraction | None = field(default_factory=Fraction)
    status_text: str = STATUS_OPEN_PENDING
    reason: str = ""
    accepted: bool = False
    triggered: bool = False
    expired: bool = False
    live: bool = True
    ts: int = 0

    def working_text(self) -> str:
        """The status text of the order while it works."""
        if self.order_type in _STOPS and not self.triggered:
            return STATUS_TRIGGER_PENDING
        return STATUS_OPEN

    def snapshot(self) -> BrokerOrderSnapshot:
        """The order as a row of the broker's order book."""
        avg: Fraction | None = None
        if self.filled_qty and self.filled_value is not None:
            avg = self.filled_value / self.filled_qty
        return BrokerOrderSnapshot(
            venue_order_id=self.venue_order_id,
            status_text=self.status_text,
            ts=self.ts,
            token=self.token,
            side=self.side,
            order_type=self.order_type,
            product=self.product,
            qty=self.qty,
            tag=self.client_order_id,
            filled_qty=self.filled_qty,
            avg_price=avg,
            price=self.price,
            trigger_price=self.trigger_price,
            disclosed_qty=self.disclosed_qty,
            validity=self.validity,
            reason=self.reason,
        )


@dataclass(slots=True)
class _Call:
    """One of the broker's own calls into the market, and the events the listener saw during it."""

    kind: str
    record: _PaperOrder
    events: list[BookEvent] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)


class PaperBroker:
    """A broker whose exchange is the in-process :class:`~engine.simulator.SimulatedMarket`.

    ``account`` is the market account the broker trades as (``0 .. 999``; 1 is the user's, 0
    disables the book's self-trade prevention). ``id_offset`` is where its book order ids and trade
    numbers start (see :mod:`brokers.paper_ids`); the default, taken from the wall clock, keeps
    every run's ids apart from the earlier runs' ids in the journal.
    """

    name: str = "paper"
    is_live: bool = False

    def __init__(
        self,
        market: SimulatedMarket,
        *,
        account: int = USER_ACCOUNT,
        id_offset: int | None = None,
    ) -> None:
        if not 0 <= account < SYNTHETIC_ACCOUNT_BASE:
            raise ValueError(
                f"paper account must be within 0..{SYNTHETIC_ACCOUNT_BASE - 1} (accounts from "
                f"{SYNTHETIC_ACCOUNT_BASE} are the simulator's agents), got {account}"
            )
        self._market = market
        self._account = account
        offset = default_id_offset(WallClock().now_ns()) if id_offset is None else id_offset
        self._ids = PaperIdAllocator(offset)
        self._sink: EventSink | None = None
        self._connected = False
        self._listening = False
        self._held: list[OrderEvent] = []
        self._orders: dict[ClientOrderId, _PaperOrder] = {}
        self._by_book: dict[int, _PaperOrder] = {}
        self._call: _Call | None = None

    # ------------------------------------------------------------------ properties

    @property
    def market(self) -> SimulatedMarket:
        """The simulated market the broker trades in."""
        return self._market

    @property
    def account(self) -> int:
        """The market account the broker trades as."""
        return self._account

    @property
    def id_offset(self) -> int:
        """Where this broker's book order ids and trade numbers start."""
        return self._ids.offset

    @property
    def connected(self) -> bool:
        """True between :meth:`connect` and :meth:`close`."""
        return self._connected

    def venue_order_id_of(self, client_order_id: ClientOrderId) -> VenueOrderId | None:
        """The venue order id the broker gave ``client_order_id`` (``None`` if unknown)."""
        record = self._orders.get(client_order_id)
        return None if record is None else record.venue_order_id

    # ------------------------------------------------------------------ lifecycle

    def set_event_sink(self, sink: EventSink) -> None:
        """Install the callback that receives every order event, in order."""
        self._sink = sink

    async def connect(self) -> None:
        """Start listening to the market for this account; deliver events held while closed."""
        if self._sink is None:
            raise BrokerError(
                "the paper broker has no event sink; call set_event_sink() before connect() so "
                "no order event is lost"
            )
        if not self._listening:
            self._market.set_account_listener(self._account, self._on_book_event)
            self._listening = True
        self._connected = True
        held, self._held = self._held, []
        for event in held:
            self._sink(event)

    async def close(self) -> None:
        """Stop reporting events (safe to call twice).

        The orders stay in the book and the broker keeps tracking them: their events are held and
        delivered on the next :meth:`connect`.
        """
        self._connected = False

    # ------------------------------------------------------------------ orders

    async def place(self, request: PlaceRequest) -> None:
        """Send a new order to the book (see the module docs for what is reported and how)."""
        self._require_connected("place an order")
        cid = request.client_order_id
        if cid in self._orders:
            raise BrokerRejectedError(
                f"client order id {cid!r} was already placed with the paper broker as "
                f"{self._orders[cid].venue_order_id}; every order needs a new client order id"
            )
        self._check_tradable(request.token)
        closed = self._closed_reason(request.token)
        if closed:
            raise BrokerRejectedError(closed)
        try:
            book_id = self._ids.next_order_id()
        except OverflowError as exc:
            raise BrokerRejectedError(str(exc)) from exc
        record = _PaperOrder(
            client_order_id=cid,
            venue_order_id=venue_order_id(book_id),
            book_id=book_id,
            token=request.token,
            side=request.side,
            order_type=request.order_type,
            product=request.product,
            validity=request.validity,
            qty=request.qty,
            price=request.price,
            trigger_price=request.trigger_price,
            disclosed_qty=request.disclosed_qty,
            ts=self._market.now_ns,
        )
        self._register(record)
        market = self._market
        self._run(
            _PLACE,
            record,
            lambda: market.submit(
                request.token,
                book_id,
                self._account,
                request.side,
                request.qty,
                order_type=request.order_type,
                price=request.price,
                trigger=request.trigger_price,
                validity=request.validity,
                disclosed_qty=request.disclosed_qty,
            ),
        )

    async def modify(self, request: ModifyRequest) -> None:
        """Change a working order: ``qty`` is the new total (filled included), ``price`` the new
        limit, ``trigger_price`` the new trigger of a stop that has not triggered."""
        self._require_connected("modify an order")
        record, refusal = self._find(request.client_order_id, request.venue_order_id, "modify")
        if record is not None and not refusal:
            refusal = self._modify_refusal(record, request)
        if record is None or refusal:
            self._emit(
                OrderModifyRejected(
                    client_order_id=request.client_order_id,
                    ts=self._market.now_ns,
                    reason=refusal,
                )
            )
            return
        book_qty = None if request.qty is None else request.qty - record.book_qty_offset
        market = self._market
        self._run(
            _MODIFY,
            record,
            lambda: market.modify(
                record.token,
                record.book_id,
                qty=book_qty,
                price=request.price,
                trigger=request.trigger_price,
            ),
        )

    async def cancel(
        self, client_order_id: ClientOrderId, venue_order_id: VenueOrderId | None
    ) -> None:
        """Cancel a working order (its open quantity; fills so far stand)."""
        self._require_connected("cancel an order")
        record, refusal = self._find(client_order_id, venue_order_id, "cancel")
        if record is None or refusal:
            self._emit(
                OrderCancelRejected(
                    client_order_id=client_order_id, ts=self._market.now_ns, reason=refusal
                )
            )
            return
        market = self._market
        self._run(_CANCEL, record, lambda: market.cancel(record.token, record.book_id))

    async def resume(self, open_orders: Sequence[Order]) -> None:
        """Re-enter the journal's working orders in the (fresh) simulated market after a restart.

        Each order goes back into its book for its remaining quantity (``qty - filled_qty``) with
        the same side, type, validity, price, trigger and disclosed quantity, under the book id
        inside its venue order id, so its ClientOrderId/VenueOrderId pair is unchanged. A stop
        that had triggered comes back as the LIMIT (SL) or MARKET (SL-M) order it had become.
        Re-entered orders lose their queue position: they join the back of their price level, as
        new orders. Nothing is reported for an order that re-enters fine (fills that follow are
        reported as usual). An order that cannot be re-entered (its instrument is gone, a rule of
        the book refuses it now, e.g. a price outside today's band, or the market is closed) gets
        :class:`~engine.orders.OrderCancelled` with the reason. An order with a cancel in flight
        is not re-entered (``OrderCancelled``); one with a modify in flight is re-entered with its
        previous parameters and gets ``OrderModifyRejected``. An order that never got a venue id
        is placed as a new order (``OrderAccepted`` with a fresh venue id, or ``OrderRejected``).
        Orders this broker already knows (placed or resumed in this run) are left alone; its
        :meth:`order_snapshots` say where they stand.
        """
        self._require_connected("resume orders")
        todo = [o for o in open_orders if o.client_order_id not in self._orders]
        book_ids: dict[ClientOrderId, int] = {}
        for order in todo:
            self._ids.reserve_trade_ids(order.trade_ids)
            if order.venue_order_id is not None:
                try:
                    book_ids[order.client_order_id] = book_id_of(order.venue_order_id)
                except ValueError:
                    continue
        self._ids.reserve_order_ids(book_ids.values())
        for order in todo:
            self._resume_one(order, book_ids.get(order.client_order_id))

    async def order_snapshots(self) -> list[BrokerOrderSnapshot]:
        """Every order the broker knows (placed or resumed in this run), as broker order-book
        rows: status text as Angel One reports it (``open``, ``trigger pending``, ``complete``,
        ``cancelled``, ``rejected``; an expired order reads ``cancelled`` with the reason), total
        qty, filled qty and exact average price, tagged with the client order id."""
        return [record.snapshot() for record in self._orders.values()]

    # ------------------------------------------------------------------ resume

    def _resume_one(self, order: Order, book_id: int | None) -> None:
        cid = order.client_order_id
        now = self._market.now_ns
        leaves = order.qty - order.filled_qty
        if order.is_closed or leaves <= 0:
            return
        if order.venue_order_id is not None and book_id is None:
            reason = (
                f"venue order id {order.venue_order_id!r} is not a paper order id ('P' + digits)"
            )
            self._emit(OrderCancelled(client_order_id=cid, ts=now, reason=_not_reentered(reason)))
            return
        if book_id is not None and book_id in self._by_book:
            reason = (
                f"venue order id {order.venue_order_id} is already used by order "
                f"{self._by_book[book_id].client_order_id}"
            )
            self._emit(OrderCancelled(client_order_id=cid, ts=now, reason=_not_reentered(reason)))
            return
        accepted = book_id is not None
        if book_id is None:
            try:
                book_id = self._ids.next_order_id()
            except OverflowError as exc:
                self._emit(OrderRejected(client_order_id=cid, ts=now, reason=str(exc)))
                return
        triggered = order.order_type in _STOPS and (
            order.working_status is OrderStatus.ACCEPTED or order.filled_qty > 0
        )
        avg = order.avg_fill_price
        record = _PaperOrder(
            client_order_id=cid,
            venue_order_id=venue_order_id(book_id),
            book_id=book_id,
            token=order.token,
            side=order.side,
            order_type=order.order_type,
            product=order.product,
            validity=order.validity,
            qty=order.qty,
            price=order.price,
            trigger_price=order.trigger_price,
            disclosed_qty=order.disclosed_qty,
            book_qty_offset=order.filled_qty,
            filled_qty=order.filled_qty,
            filled_value=None if avg is None else avg * order.filled_qty,
            accepted=accepted,
            triggered=triggered,
            ts=now,
        )
        if accepted:
            record.status_text = record.working_text()
        self._register(record)
        cancelling = (
            order.pending_action is PendingAction.CANCEL
            or order.status is OrderStatus.PENDING_CANCEL
        )
        if cancelling:
            self._finish_unentered(record, "the cancel requested before the restart stands")
            return
        if order.token not in self._market.books:
            self._finish_unentered(record, f"instrument {order.token!r} is not tradable in it")
            return
        closed = self._closed_reason(order.token)
        if closed:
            self._finish_unentered(record, closed)
            return
        order_type = order.order_type
        trigger = order.trigger_price
        if triggered:
            order_type = OrderType.LIMIT if order.order_type is OrderType.SL else OrderType.MARKET
            trigger = 0
        price = order.price if order_type in _LIMIT_PRICED else 0
        market = self._market
        self._run(
            _RESUME,
            record,
            lambda: market.submit(
                order.token,
                record.book_id,
                self._account,
                order.side,
                leaves,
                order_type=order_type,
                price=price,
                trigger=trigger,
                validity=order.validity,
                disclosed_qty=min(order.disclosed_qty, leaves),
            ),
        )
        modifying = (
            order.pending_action is PendingAction.MODIFY
            or order.status is OrderStatus.PENDING_MODIFY
        )
        if modifying and record.live:
            self._emit(
                OrderModifyRejected(
                    client_order_id=cid,
                    ts=self._market.now_ns,
                    reason=(
                        f"the modify was not answered before the restart; the order was "
                        f"re-entered {_RESUME_NOTE} with its previous parameters"
                    ),
                )
            )

    def _finish_unentered(self, record: _PaperOrder, why: str) -> None:
        """A resumed order that is not re-entered: cancelled (rejected if never accepted)."""
        record.live = False
        record.reason = _not_reentered(why)
        if record.accepted:
            record.status_text = STATUS_CANCELLED
            event: OrderEvent = OrderCancelled(
                client_order_id=record.client_order_id, ts=record.ts, reason=record.reason
            )
        else:
            record.status_text = STATUS_REJECTED
            event = OrderRejected(
                client_order_id=record.client_order_id, ts=record.ts, reason=record.reason
            )
        self._emit(event)

    # ------------------------------------------------------------------ checks

    def _require_connected(self, what: str) -> None:
        if not self._connected:
            raise BrokerRejectedError(
                f"cannot {what}: the paper broker is not connected; call connect() first"
            )

    def _check_tradable(self, token: str) -> None:
        if token in self._market.books:
            return
        if token in self._market.tokens:
            raise BrokerRejectedError(
                f"token {token!r} is an index in the paper market; indices are not tradable"
            )
        sample = ", ".join(list(self._market.books)[:5])
        raise BrokerRejectedError(
            f"unknown token {token!r}: the paper market has no such instrument "
            f"(it trades {len(self._market.books)} instruments, e.g. {sample})"
        )

    def _closed_reason(self, token: str) -> str:
        """Why the market takes no order for ``token`` now, or "" when it does (the simulator's
        own rule: continuous trading, or the pre-open order entry for books with an auction)."""
        phase = self._market.phase
        if phase is SessionPhase.CONTINUOUS:
            return ""
        book = self._market.books[token]
        if phase is SessionPhase.PRE_OPEN and book.in_auction:
            return ""
        symbol = book.instrument.symbol
        if phase is SessionPhase.PRE_OPEN:
            return (
                f"the paper market is in its pre-open call auction and {symbol} has none; "
                f"orders for it open at 09:15 IST"
            )
        return (
            f"the paper market is closed (session phase {phase}); it takes orders 09:00-09:08 "
            f"(pre-open) and 09:15-15:30 IST, Monday-Friday"
        )

    def _find(
        self, cid: ClientOrderId, venue_id: VenueOrderId | None, action: str
    ) -> tuple[_PaperOrder | None, str]:
        """The record a modify/cancel names, and why it cannot be done ("" when it can)."""
        record = self._orders.get(cid)
        if record is None and venue_id:
            try:
                record = self._by_book.get(book_id_of(venue_id))
            except ValueError as exc:
                return None, f"cannot {action} order {cid}: {exc}"
        if record is None:
            named = f" / {venue_id}" if venue_id else ""
            return None, (
                f"cannot {action} order {cid}{named}: the paper broker has no such order (not "
                f"placed with it, or placed before a restart and not resumed)"
            )
        if venue_id and venue_id != record.venue_order_id:
            return record, (
                f"cannot {action} order {cid}: venue order id {venue_id} does not match the "
                f"paper broker's {record.venue_order_id} for it"
            )
        if not record.live:
            done = record.status_text
            if record.expired:
                done = "expired at the end of the session"
            elif record.status_text == STATUS_COMPLETE:
                done = f"complete ({record.filled_qty} of {record.qty} filled)"
            elif record.reason:
                done = f"{record.status_text} ({record.reason})"
            return record, f"cannot {action} order {record.venue_order_id}: it is already {done}"
        return record, ""

    @staticmethod
    def _modify_refusal(record: _PaperOrder, request: ModifyRequest) -> str:
        """Why the broker refuses a modify before it reaches the book, or ""."""
        if request.price is not None and record.order_type not in _LIMIT_PRICED:
            return (
                f"order {record.venue_order_id} is {record.order_type} and has no limit price to "
                f"modify; cancel it and place a LIMIT or SL order instead"
            )
        if request.qty is not None and request.qty <= record.filled_qty:
            # Checked here with the order's own numbers: after a resume the book knows only the
            # re-entered rest, and its message would name book quantities.
            return (
                f"new qty {request.qty} must exceed the {record.filled_qty} already filled; "
                f"cancel the order instead"
            )
        return ""

    # ------------------------------------------------------------------ book events

    def _register(self, record: _PaperOrder) -> None:
        self._orders[record.client_order_id] = record
        self._by_book[record.book_id] = record

    def _unregister(self, record: _PaperOrder) -> None:
        self._orders.pop(record.client_order_id, None)
        self._by_book.pop(record.book_id, None)

    def _run(self, kind: str, record: _PaperOrder, send: Callable[[], list[BookEvent]]) -> None:
        """Make one market call and translate what it caused, in the order it happened.

        The listener sees the call's events before the call returns; they are collected and
        translated afterwards, so a new order's ``OrderAccepted`` goes first. Events the listener
        is not given (the market's refusal to cancel/modify an order it no longer tracks) are
        taken from the call's return value.
        """
        call = _Call(kind, record)
        outer, self._call = self._call, call
        try:
            returned = send()
        except ValueError as exc:  # the market refused the call itself: nothing reached a book
            if kind in (_PLACE, _RESUME) and not call.events:
                self._unregister(record)
            raise BrokerRejectedError(
                f"paper market refused to {kind} order {record.client_order_id}: {exc}"
            ) from exc
        finally:
            self._call = outer
        events = call.events
        events.extend(ev for ev in returned if id(ev) not in call.seen and self._concerns_us(ev))
        if kind in (_PLACE, _RESUME) and not record.accepted:
            first = next((ev for ev in events if _names(ev, record.book_id)), None)
            if first is not None and not isinstance(first, Rejected):
                self._accept(record, first.ts)
        for ev in events:
            self._translate(ev, call)
        if kind == _PLACE and record.status_text == STATUS_OPEN_PENDING:
            # Every submit of the book reports something; if one ever did not, say what is known.
            if self._market.books[record.token].is_live(record.book_id):
                self._accept(record, self._market.now_ns)
            else:
                raise BrokerOutcomeUnknownError(
                    f"the paper market reported nothing for order {record.client_order_id} "
                    f"({record.venue_order_id}) and it is not in the book; reconcile it"
                )

    def _concerns_us(self, ev: BookEvent) -> bool:
        if isinstance(ev, Fill):
            return ev.maker_id in self._by_book or ev.taker_id in self._by_book
        return ev.order_id in self._by_book

    def _on_book_event(self, token: str, ev: BookEvent) -> None:
        """The market's account listener: collect during our own calls, else translate now."""
        call = self._call
        if call is not None:
            call.events.append(ev)
            call.seen.add(id(ev))
            return
        if self._concerns_us(ev):
            self._translate(ev, None)

    def _translate(self, ev: BookEvent, call: _Call | None) -> None:
        """Turn one book event into the OMS events of the orders it concerns."""
        if isinstance(ev, Fill):
            self._on_fill(ev)
            return
        record = self._by_book.get(ev.order_id)
        if record is None:
            return
        cid = record.client_order_id
        ts = ev.ts
        record.ts = max(record.ts, ts)
        if isinstance(ev, Accepted):
            if not record.accepted:
                self._accept(record, ts)
        elif isinstance(ev, Rejected):
            self._on_rejected(record, ev, call)
        elif isinstance(ev, Cancelled):
            self._accept(record, ts)
            record.live = False
            record.status_text = STATUS_CANCELLED
            record.reason = self._readable(record, ev.reason)
            self._emit(OrderCancelled(client_order_id=cid, ts=ts, reason=record.reason))
        elif isinstance(ev, Triggered):
            self._accept(record, ts)
            record.triggered = True
            record.status_text = STATUS_OPEN
            self._emit(OrderTriggered(client_order_id=cid, ts=ts))
        elif isinstance(ev, Expired):
            record.live = False
            record.expired = True
            record.status_text = STATUS_CANCELLED
            record.reason = (
                f"DAY order expired at the end of the session with {ev.leaves_qty} unfilled"
            )
            self._emit(OrderExpired(client_order_id=cid, ts=ts, reason=record.reason))
        else:
            self._on_modified(record, ev, call)

    def _on_fill(self, ev: Fill) -> None:
        trade = None
        for book_id, leaves in ((ev.maker_id, ev.maker_leaves), (ev.taker_id, ev.taker_leaves)):
            record = self._by_book.get(book_id)
            if record is None:
                continue
            if trade is None:
                trade = self._ids.next_trade_id()
            self._accept(record, ev.ts)
            record.ts = max(record.ts, ev.ts)
            record.filled_qty += ev.qty
            if record.filled_value is not None:
                record.filled_value += ev.price * ev.qty
            if leaves == 0:
                record.live = False
                record.status_text = STATUS_COMPLETE
            else:
                record.status_text = STATUS_OPEN
            self._emit(
                OrderFilled(
                    client_order_id=record.client_order_id,
                    ts=ev.ts,
                    trade_id=trade,
                    qty=ev.qty,
                    price=ev.price,
                    venue_order_id=record.venue_order_id,
                )
            )

    def _on_rejected(self, record: _PaperOrder, ev: Rejected, call: _Call | None) -> None:
        cid = record.client_order_id
        reason = self._readable(record, ev.reason)
        kind = call.kind if call is not None and call.record is record else ""
        if kind == _MODIFY:
            self._emit(OrderModifyRejected(client_order_id=cid, ts=ev.ts, reason=reason))
        elif kind == _CANCEL:
            self._emit(OrderCancelRejected(client_order_id=cid, ts=ev.ts, reason=reason))
        elif kind in (_PLACE, _RESUME):
            record.live = False
            if kind == _RESUME:
                reason = _not_reentered(reason)
            record.reason = reason
            if record.accepted:
                record.status_text = STATUS_CANCELLED
                self._emit(OrderCancelled(client_order_id=cid, ts=ev.ts, reason=reason))
            else:
                record.status_text = STATUS_REJECTED
                self._emit(OrderRejected(client_order_id=cid, ts=ev.ts, reason=reason))

    def _on_modified(self, record: _PaperOrder, ev: Modified, call: _Call | None) -> None:
        """A modify took effect (ours), or the book re-priced an order itself (an auction MARKET
        order left as a limit at the equilibrium price): only the former is reported."""
        record.qty = ev.qty + record.book_qty_offset
        price = ev.price if ev.price and record.order_type in _LIMIT_PRICED else None
        trigger = ev.trigger if ev.trigger and record.order_type in _STOPS else None
        if price is not None:
            record.price = price
        if trigger is not None:
            record.trigger_price = trigger
        if call is None or call.kind != _MODIFY or call.record is not record:
            return
        self._emit(
            OrderModified(
                client_order_id=record.client_order_id,
                ts=ev.ts,
                qty=record.qty,
                price=price,
                trigger_price=trigger,
            )
        )

    def _accept(self, record: _PaperOrder, ts: int) -> None:
        """Report the order accepted (once) before anything else happens to it."""
        if record.accepted:
            return
        record.accepted = True
        record.status_text = record.working_text()
        record.ts = max(record.ts, ts)
        self._emit(
            OrderAccepted(
                client_order_id=record.client_order_id,
                ts=ts,
                venue_order_id=record.venue_order_id,
            )
        )

    @staticmethod
    def _readable(record: _PaperOrder, reason: str) -> str:
        """The book's reason with the book's internal order id replaced by the venue id."""
        return re.sub(
            rf"\b(order(?: id)?) {record.book_id}\b", rf"\g<1> {record.venue_order_id}", reason
        )

    def _emit(self, event: OrderEvent) -> None:
        sink = self._sink
        if self._connected and sink is not None and not self._held:
            sink(event)
        else:
            self._held.append(event)


def _names(ev: BookEvent, book_id: int) -> bool:
    """True when ``ev`` is about book order ``book_id``."""
    if isinstance(ev, Fill):
        return ev.maker_id == book_id or ev.taker_id == book_id
    return ev.order_id == book_id


def _not_reentered(why: str) -> str:
    """The reason given for a journal order that is not re-entered after a restart."""
    return f"not re-entered {_RESUME_NOTE}: {why}"
