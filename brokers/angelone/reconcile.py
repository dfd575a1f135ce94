"""Angel One order reports -> :mod:`engine.orders` events: the adapter's order ledger.

Everything here is synchronous and does no I/O; :mod:`brokers.angelone.broker` feeds it what the
order-update stream, the order book and the trade book say and emits the events it returns.

Reports. An order-update message (:class:`~brokers.angelone.order_stream.OrderUpdate`) and an
order-book row (:class:`~brokers.angelone.wire.AngelOrder`) both become an :class:`OrderReport`,
and both go through :meth:`OrderTracker.on_report`: it finds the order the report is about (by
venue order id, then by ``ordertag`` = our client order id), adopts an order placed outside the
cockpit the way :meth:`engine.oms.OMS.reconcile` does (an :class:`~engine.orders.OrderInitialized`
for ``EXT<venue order id>``, strategy ``external``, then the report), emits the order's new trade
fills as :class:`~engine.orders.OrderFilled` (trade id = Angel's ``fillid``) and then the report as
:class:`~engine.orders.OrderUpdated` (cumulative filled quantity, exact average price, the order's
current quantity/price/trigger, the reason). Nothing is emitted twice: fills are remembered by fill
id, and a report identical to the previous one from the same source is skipped, so the journal
does not fill up with repeats every reconciliation.

Time. The OMS never lets a report older than the order's last venue event change its status
(``ts < last_venue_ts``), so the stamps matter. Angel stamps order changes to the second
(``updatetime``), and its fill times too. :class:`BrokerClock` keeps a lower bound of Angel's
clock relative to ours from those stamps (a stamp can only be earlier than the moment we receive
it); then:

* a stream report is stamped at the *end* of its Angel second (two reports of the same second
  compare equal, neither undoes the other; a trade fill of that second counts as no newer);
* an order-book row is stamped with the broker-clock lower bound at the moment the book was
  requested (the row is at least that new), or its own stamp when that is later: an older row
  then never undoes a fill or status that arrived later on the stream, and a fresh one settles
  the order;
* the acknowledgement of a place is stamped with the broker-clock lower bound at the moment the
  request was *sent*: every report about the order is at least that new, so an exchange rejection
  in the same second as the acknowledgement is never taken for stale.

Ownership. A report is ours when its venue order id or tag is one this adapter placed, resumed or
adopted. A tag it does not know may still be a cockpit order from an earlier run (after a restart
the core resumes only working orders, but the book holds the whole day): with an
``order_lookup`` (e.g. ``oms.get``) the OMS says; without one, a tag shaped like an id from
:class:`engine.oms.ClientOrderIdGenerator` with a plausible time in it is taken for ours. Such
orders are reported under the tag, never adopted a second time as external ones (which would count
their fills twice).

Unknown outcomes. An order whose place timed out and was not found by its tag stays in flight;
every reconciliation looks for it again. Once it is still missing from an order book requested
``unknown_grace_s`` after the timeout, it never reached Angel (Angel lists every order of the day,
rejected ones too): it is rejected with a reason that says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from brokers.angelone.errors import WireError
from brokers.angelone.order_stream import ORDER_STATUS_CODES, OrderUpdate
from brokers.angelone.wire import (
    AngelOrder,
    AngelTrade,
    angel_time_ns,
    exact_from_wire,
    int_from_wire,
    order_type_from_wire,
    product_from_wire,
    side_from_wire,
    validity_from_wire,
    variety_for,
)
from engine.broker import PlaceRequest
from engine.clock import NS_PER_SECOND, Clock, ist_midnight_ns
from engine.models import (
    ClientOrderId,
    Instrument,
    OrderType,
    Product,
    Side,
    TradeId,
    Validity,
    VenueOrderId,
)
from engine.oms import EXTERNAL_STRATEGY, BrokerOrderSnapshot
from engine.orders import (
    Order,
    OrderAccepted,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderUpdated,
    normalize_status_text,
)

__all__ = [
    "EXTERNAL_PREFIX",
    "BrokerClock",
    "OrderLookup",
    "OrderReport",
    "OrderTracker",
    "TrackedOrder",
    "TrackerStats",
    "external_client_order_id",
    "looks_like_client_order_id",
    "report_from_row",
    "report_from_update",
    "trade_time_ns",
]

log = logging.getLogger(__name__)

EXTERNAL_PREFIX: Final = "EXT"
"""Client order ids of adopted orders are ``EXT<venue order id>`` (as :meth:`OMS.reconcile`)."""

OrderLookup = Callable[[ClientOrderId], Order | None]
"""Read access to the core's orders by client order id (``oms.get``)."""

_LAST_NS_OF_SECOND: Final = NS_PER_SECOND - 1
_MAX_SKEW_NS: Final = 300 * NS_PER_SECOND
_ID_SHAPE: Final = re.compile(r"[0-9A-Za-z]{0,5}[0-9A-Z]{14}")
_MS_PER_DAY: Final = 86_400_000


def external_client_order_id(venue_order_id: str) -> ClientOrderId:
    """The client order id an order placed outside the cockpit is adopted under."""
    return ClientOrderId(f"{EXTERNAL_PREFIX}{venue_order_id}")


def looks_like_client_order_id(tag: str, now_ns: int, *, max_age_days: int = 7) -> bool:
    """True when ``tag`` has the shape of an :class:`engine.oms.ClientOrderIdGenerator` id
    (prefix of up to 5, 8 base-36 time digits, 3 counter, 3 salt) and its time lies between
    ``max_age_days`` ago and a day ahead of ``now_ns``."""
    if not _ID_SHAPE.fullmatch(tag):
        return False
    made_ms = int(tag[-14:-6], 36)
    now_ms = now_ns // 1_000_000
    return now_ms - max_age_days * _MS_PER_DAY <= made_ms <= now_ms + _MS_PER_DAY


def trade_time_ns(fill_time: str, day_start_ns: int) -> int:
    """ns of a trade-book ``filltime``: a full Angel stamp, or ``HH:MM:SS`` on the IST day that
    starts at ``day_start_ns``. 0 when it does not read."""
    full = angel_time_ns(fill_time)
    if full:
        return full
    parts = fill_time.strip().split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0
    hours, minutes, seconds = (int(p) for p in parts)
    if hours > 23 or minutes > 59 or seconds > 60:
        return 0
    return day_start_ns + (hours * 3600 + minutes * 60 + seconds) * NS_PER_SECOND


class BrokerClock:
    """A lower bound of Angel's clock, learnt from the stamps on its reports.

    ``skew`` is the largest ``stamp - receive time`` seen (a stamp is never later than the moment
    its report reaches us, so this never overestimates Angel's clock). Before any report it is
    ``-tolerance_s``: our clock is assumed to be at most that far ahead. A stamp more than five
    minutes ahead of our clock is not believed (logged, ignored).
    """

    def __init__(self, clock: Clock, tolerance_s: float = 1.0) -> None:
        if not tolerance_s >= 0:
            raise ValueError(f"tolerance_s must be >= 0 seconds, got {tolerance_s}")
        self._clock = clock
        self._default = -int(tolerance_s * NS_PER_SECOND)
        self._skew: int | None = None
        self.ignored = 0

    @property
    def skew_ns(self) -> int:
        """Angel's clock minus ours, a lower bound (ns)."""
        return self._default if self._skew is None else self._skew

    def observe(self, broker_ns: int, received_ns: int) -> None:
        """Learn from a report stamped ``broker_ns`` (Angel's clock) received at ``received_ns``."""
        if broker_ns <= 0:
            return
        seen = broker_ns - received_ns
        if seen < -_MAX_SKEW_NS:
            return  # an old order's stamp: true, but it says nothing new about the clocks
        if seen > _MAX_SKEW_NS:
            self.ignored += 1
            if self.ignored == 1:
                log.warning(
                    "an Angel One order stamp is %.0f s ahead of this machine's clock; check the "
                    "clock (NTP). Such stamps are not used to estimate Angel's clock.",
                    seen / NS_PER_SECOND,
                )
            return
        if self._skew is None or seen > self._skew:
            self._skew = seen

    def earliest(self, local_ns: int | None = None) -> int:
        """The earliest Angel time it can be at our time ``local_ns`` (default: now)."""
        return (self._clock.now_ns() if local_ns is None else local_ns) + self.skew_ns


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReport:
    """One statement of Angel about one order (an order-update message or an order-book row).

    ``stamp_ns`` is Angel's ``updatetime`` (start of its second; 0 when absent). Prices are int
    price units, ``avg_price`` exact (``None`` when nothing is filled). The enum fields are
    ``None`` when Angel used a value we have no counterpart for (product ``MARGIN``...); such an
    order can still be followed, but not adopted.
    """

    venue_order_id: VenueOrderId
    tag: str
    status_text: str
    stamp_ns: int
    filled_qty: int
    avg_price: Fraction | None
    qty: int
    price: int
    trigger_price: int
    reason: str
    token: str
    variety: str
    side: Side | None
    order_type: OrderType | None
    product: Product | None
    validity: Validity
    disclosed_qty: int

    def snapshot(self, ts: int) -> BrokerOrderSnapshot | None:
        """This report as an OMS order-book row stamped ``ts``; ``None`` when a field has no
        counterpart in our enums or the quantity is not positive."""
        if (
            self.side is None
            or self.order_type is None
            or self.product is None
            or self.qty <= 0
            or not self.token
        ):
            return None
        return BrokerOrderSnapshot(
            venue_order_id=self.venue_order_id,
            status_text=self.status_text,
            ts=ts,
            token=self.token,
            side=self.side,
            order_type=self.order_type,
            product=self.product,
            qty=self.qty,
            tag=self.tag,
            filled_qty=self.filled_qty,
            avg_price=self.avg_price,
            price=self.price,
            trigger_price=self.trigger_price,
            disclosed_qty=min(self.disclosed_qty, self.qty),
            validity=self.validity,
            reason=self.reason,
        )


def _side(text: str) -> Side | None:
    try:
        return side_from_wire(text)
    except WireError:
        return None


def _whole(value: object) -> int:
    try:
        return max(0, int_from_wire(value, what="disclosedquantity"))
    except WireError:
        return 0


def report_from_update(update: OrderUpdate, price_scale: int) -> OrderReport:
    """An :class:`OrderReport` from an order-update message. The average price is read exactly
    from the raw ``averageprice`` (the parsed one is rounded to whole price units)."""
    raw = update.raw
    status = update.status or ORDER_STATUS_CODES.get(update.status_code, "")
    if status == "connected":
        status = ""
    avg: Fraction | None = None
    if update.filled_qty > 0:
        try:
            avg = exact_from_wire(raw.get("averageprice"), price_scale, what="averageprice")
        except WireError:
            avg = Fraction(update.avg_price)
        avg = avg or None
    duration = raw.get("duration")
    return OrderReport(
        venue_order_id=VenueOrderId(update.order_id),
        tag=update.tag,
        status_text=status,
        stamp_ns=update.update_ts_ns,
        filled_qty=update.filled_qty,
        avg_price=avg,
        qty=update.qty,
        price=update.price,
        trigger_price=update.trigger_price,
        reason=update.text,
        token=update.token,
        variety=update.variety,
        side=_side(update.side),
        order_type=order_type_from_wire(update.order_type),
        product=product_from_wire(update.product),
        validity=validity_from_wire(duration if isinstance(duration, str) else "") or Validity.DAY,
        disclosed_qty=_whole(raw.get("disclosedquantity")),
    )


def report_from_row(row: AngelOrder) -> OrderReport:
    """An :class:`OrderReport` from an order-book row."""
    filled = row.filled_qty
    return OrderReport(
        venue_order_id=VenueOrderId(row.order_id),
        tag=row.tag,
        status_text=row.status_text,
        stamp_ns=row.update_ts,
        filled_qty=filled,
        avg_price=(row.average_price or None) if filled > 0 else None,
        qty=row.qty,
        price=row.price,
        trigger_price=row.trigger_price,
        reason=row.reason,
        token=row.token,
        variety=row.variety,
        side=row.side,
        order_type=row.order_type,
        product=row.product,
        validity=row.validity or Validity.DAY,
        disclosed_qty=row.disclosed_qty,
    )


@dataclass(slots=True, kw_only=True)
class TrackedOrder:
    """What the adapter knows about one order: ids, the parameters Angel's modify needs, the
    fills already reported and the last reports emitted."""

    client_order_id: ClientOrderId
    token: str
    order_type: OrderType | None
    product: Product | None
    validity: Validity
    qty: int
    price: int
    trigger_price: int
    variety: str = ""
    external: bool = False
    venue_order_id: VenueOrderId | None = None
    fill_ids: set[str] = field(default_factory=set)
    trade_qty: int = 0
    reported_filled: int = 0
    status_text: str = ""
    last_stream: tuple[object, ...] | None = None
    last_book: tuple[object, ...] | None = None
    needs_reconcile: bool = False
    in_flight: bool = False
    unknown_since_ns: int | None = None
    gave_up: bool = False
    params_ts: int = 0
    """Stamp of what ``qty``/``price``/``trigger_price``/``order_type`` were last taken from (a
    report, or a modify Angel took): an older report does not overwrite them."""

    @property
    def change_variety(self) -> str:
        """The ``variety`` to send with a modify or cancel of this order."""
        if self.variety:
            return self.variety
        return variety_for(self.order_type or OrderType.LIMIT).value

    @property
    def fills_missing(self) -> bool:
        """True when Angel reports more filled than the trade fills seen so far."""
        return self.reported_filled > self.trade_qty


@dataclass(slots=True)
class TrackerStats:
    """Counters of :class:`OrderTracker`."""

    reports: int = 0
    reports_emitted: int = 0
    fills_emitted: int = 0
    adopted: int = 0
    followed_by_tag: int = 0
    not_adoptable: int = 0
    duplicate_tags: int = 0
    given_up: int = 0


class OrderTracker:
    """The adapter's order ledger; turns Angel's reports and trades into OMS events.

    ``instruments`` decides which external orders can be adopted (the core needs the instrument
    of every order). ``order_lookup`` (optional) tells whether the core knows a client order id.
    ``unknown_grace_s``: how long after a lost place answer an order missing from the book is
    taken for never placed.
    """

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        broker_clock: BrokerClock,
        order_lookup: OrderLookup | None = None,
        unknown_grace_s: float = 60.0,
    ) -> None:
        if not unknown_grace_s >= 0:
            raise ValueError(f"unknown_grace_s must be >= 0 seconds, got {unknown_grace_s}")
        self._instruments = instruments
        self._clock = clock
        self.broker_clock = broker_clock
        self.order_lookup = order_lookup
        self._grace_ns = int(unknown_grace_s * NS_PER_SECOND)
        self._by_coid: dict[ClientOrderId, TrackedOrder] = {}
        self._by_venue: dict[VenueOrderId, TrackedOrder] = {}
        self._not_adoptable: set[VenueOrderId] = set()
        self.stats = TrackerStats()

    # ---- registry ---------------------------------------------------------------------------

    def get(self, client_order_id: ClientOrderId) -> TrackedOrder | None:
        """The tracked order with this client order id."""
        return self._by_coid.get(client_order_id)

    def by_venue(self, venue_order_id: VenueOrderId) -> TrackedOrder | None:
        """The tracked order Angel knows by ``venue_order_id``."""
        return self._by_venue.get(venue_order_id)

    def orders(self) -> list[TrackedOrder]:
        """Every tracked order."""
        return list(self._by_coid.values())

    def _bind(self, track: TrackedOrder, venue_order_id: VenueOrderId) -> None:
        if track.venue_order_id is None:
            track.venue_order_id = venue_order_id
            track.unknown_since_ns = None
        self._by_venue.setdefault(venue_order_id, track)

    def _register(self, track: TrackedOrder) -> TrackedOrder:
        self._by_coid[track.client_order_id] = track
        if track.venue_order_id is not None:
            self._by_venue.setdefault(track.venue_order_id, track)
        return track

    # ---- our requests -----------------------------------------------------------------------

    def start_place(self, request: PlaceRequest) -> TrackedOrder:
        """Register an order about to be sent (before the request goes, so that a stream report
        that overtakes the answer is recognised). Raises ``ValueError`` when this client order
        id was sent before: it is never sent twice."""
        existing = self._by_coid.get(request.client_order_id)
        if existing is not None:
            raise ValueError(
                f"order {request.client_order_id} was already sent to Angel One"
                + (f" (order id {existing.venue_order_id})" if existing.venue_order_id else "")
                + "; it is not sent again"
            )
        track = TrackedOrder(
            client_order_id=request.client_order_id,
            token=request.token,
            order_type=request.order_type,
            product=request.product,
            validity=request.validity,
            qty=request.qty,
            price=request.price,
            trigger_price=request.trigger_price,
            variety=variety_for(request.order_type).value,
            in_flight=True,
        )
        return self._register(track)

    def placed(
        self, client_order_id: ClientOrderId, venue_order_id: str, sent_ns: int
    ) -> OrderAccepted:
        """Angel accepted the place request sent at our time ``sent_ns``."""
        track = self._by_coid[client_order_id]
        track.in_flight = False
        venue = VenueOrderId(venue_order_id)
        if track.venue_order_id not in (None, venue):
            log.error(
                "order %s: Angel One's place answer names order %s but the order-update stream "
                "reported it as %s; the OMS will flag it for reconciliation",
                client_order_id,
                venue,
                track.venue_order_id,
            )
        self._bind(track, venue)
        return OrderAccepted(
            client_order_id=client_order_id,
            ts=self.broker_clock.earliest(sent_ns),
            venue_order_id=venue,
        )

    def place_unknown(self, client_order_id: ClientOrderId) -> None:
        """The place answer was lost and the order was not found by its tag: keep looking."""
        track = self._by_coid[client_order_id]
        track.in_flight = False
        track.needs_reconcile = True
        if track.venue_order_id is None:
            track.unknown_since_ns = self._clock.now_ns()

    def place_refused(self, client_order_id: ClientOrderId) -> None:
        """Angel refused the order (nothing was placed): forget it."""
        track = self._by_coid.get(client_order_id)
        if track is not None and track.venue_order_id is None:
            del self._by_coid[client_order_id]

    def change_sent(
        self,
        track: TrackedOrder,
        sent_ns: int,
        qty: int | None = None,
        price: int | None = None,
        trigger_price: int | None = None,
    ) -> None:
        """Angel took a modify sent at our time ``sent_ns``: remember the parameters it was asked
        for (a later modify builds on them; reports newer than the request say what Angel made
        of it, older ones do not undo it)."""
        track.params_ts = max(track.params_ts, self.broker_clock.earliest(sent_ns))
        if qty is not None:
            track.qty = qty
        if price is not None:
            track.price = price
        if trigger_price is not None:
            track.trigger_price = trigger_price

    def change_unknown(self, track: TrackedOrder) -> None:
        """A modify or cancel answer was lost: the next reconciliation settles the order."""
        track.needs_reconcile = True

    def resume(self, order: Order) -> TrackedOrder:
        """Follow a working order of an earlier run (journal); it is reconciled next."""
        track = self._by_coid.get(order.client_order_id)
        if track is None:
            track = TrackedOrder(
                client_order_id=order.client_order_id,
                token=order.token,
                order_type=order.order_type,
                product=order.product,
                validity=order.validity,
                qty=order.qty,
                price=order.price,
                trigger_price=order.trigger_price,
                variety=variety_for(order.order_type).value,
                external=order.external,
                venue_order_id=order.venue_order_id,
                fill_ids={str(t) for t in order.trade_ids},
                trade_qty=order.trade_qty,
                reported_filled=order.filled_qty,
            )
            self._register(track)
        track.needs_reconcile = True
        if track.venue_order_id is None and track.unknown_since_ns is None:
            track.unknown_since_ns = self._clock.now_ns()
        return track

    # ---- reports ----------------------------------------------------------------------------

    def on_update(self, report: OrderReport, received_ns: int) -> list[OrderEvent]:
        """Events for one order-update message received at our time ``received_ns``."""
        self.broker_clock.observe(report.stamp_ns, received_ns)
        if report.stamp_ns:
            ts = report.stamp_ns + _LAST_NS_OF_SECOND
        else:
            ts = self.broker_clock.earliest(received_ns)
        return self.on_report(report, ts=ts, reconciled=False)

    def on_book(
        self,
        reports: Sequence[OrderReport],
        trades: Sequence[AngelTrade],
        *,
        requested_ns: int,
        received_ns: int,
    ) -> list[OrderEvent]:
        """Events for one reconciliation: the order book and trade book requested at our time
        ``requested_ns`` and in hand at ``received_ns``."""
        for report in reports:
            self.broker_clock.observe(report.stamp_ns, received_ns)
        as_of = self.broker_clock.earliest(requested_ns)
        fills = self._group_trades(trades)
        events: list[OrderEvent] = []
        seen: set[ClientOrderId] = set()
        for report in reports:
            ts = max(report.stamp_ns, as_of)
            events.extend(
                self.on_report(
                    report, ts=ts, reconciled=True, trades=fills.pop(report.venue_order_id, ())
                )
            )
            track = self._by_venue.get(report.venue_order_id)
            if track is not None:
                seen.add(track.client_order_id)
        for venue, venue_trades in fills.items():
            track = self._by_venue.get(venue)
            if track is not None:
                events.extend(self._fills(track, venue_trades))
        events.extend(self._give_up_missing(seen, requested_ns, as_of))
        return events

    def on_trades(self, trades: Sequence[AngelTrade]) -> list[OrderEvent]:
        """Fills of tracked orders not reported yet (from a trade-book read)."""
        events: list[OrderEvent] = []
        for venue, venue_trades in self._group_trades(trades).items():
            track = self._by_venue.get(venue)
            if track is not None:
                events.extend(self._fills(track, venue_trades))
        return events

    def fills_missing(self) -> bool:
        """True when some order has more filled (per Angel's reports) than its trade fills."""
        return any(t.fills_missing for t in self._by_coid.values())

    def on_report(
        self,
        report: OrderReport,
        *,
        ts: int,
        reconciled: bool,
        trades: Iterable[AngelTrade] = (),
    ) -> list[OrderEvent]:
        """Events for one report stamped ``ts``: adoption if needed, new fills, the report."""
        self.stats.reports += 1
        track, events = self._resolve(report, ts)
        if track is None:
            return events
        events.extend(self._fills(track, trades))
        if report.variety:
            track.variety = report.variety
        if ts >= track.params_ts:
            track.params_ts = ts
            if report.qty > 0:
                track.qty = report.qty
            track.price = report.price
            track.trigger_price = report.trigger_price
            if report.order_type is not None:
                track.order_type = report.order_type
        track.reported_filled = max(track.reported_filled, report.filled_qty)
        track.status_text = report.status_text
        track.in_flight = False
        key: tuple[object, ...] = (
            normalize_status_text(report.status_text),
            report.filled_qty,
            report.avg_price,
            report.qty,
            report.price,
            report.trigger_price,
            report.reason,
        )
        last = track.last_book if reconciled else track.last_stream
        if key != last or (reconciled and track.needs_reconcile):
            events.append(
                OrderUpdated(
                    client_order_id=track.client_order_id,
                    ts=ts,
                    status_text=report.status_text,
                    filled_qty=report.filled_qty,
                    avg_price=report.avg_price,
                    venue_order_id=report.venue_order_id,
                    qty=report.qty if report.qty > 0 else None,
                    price=report.price,
                    trigger_price=report.trigger_price,
                    reason=report.reason,
                    reconciled=reconciled,
                )
            )
            self.stats.reports_emitted += 1
        if reconciled:
            track.last_book = key
            track.needs_reconcile = False
        else:
            track.last_stream = key
        return events

    # ---- internals --------------------------------------------------------------------------

    @staticmethod
    def _group_trades(trades: Iterable[AngelTrade]) -> dict[VenueOrderId, list[AngelTrade]]:
        grouped: dict[VenueOrderId, list[AngelTrade]] = {}
        for trade in trades:
            grouped.setdefault(VenueOrderId(trade.order_id), []).append(trade)
        return grouped

    def _fills(self, track: TrackedOrder, trades: Iterable[AngelTrade]) -> list[OrderEvent]:
        events: list[OrderEvent] = []
        day_start = ist_midnight_ns(self._clock.now_ns())
        for trade in trades:
            if not trade.fill_id or trade.fill_id in track.fill_ids or trade.fill_qty <= 0:
                continue
            track.fill_ids.add(trade.fill_id)
            track.trade_qty += trade.fill_qty
            stamp = trade_time_ns(trade.fill_time, day_start)
            ts = stamp + _LAST_NS_OF_SECOND if stamp else self.broker_clock.earliest()
            events.append(
                OrderFilled(
                    client_order_id=track.client_order_id,
                    ts=ts,
                    trade_id=TradeId(trade.fill_id),
                    qty=trade.fill_qty,
                    price=trade.fill_price,
                    venue_order_id=track.venue_order_id,
                )
            )
            self.stats.fills_emitted += 1
        return events

    def _is_ours(self, tag: str) -> Order | bool:
        """Whether an unknown tag is a cockpit client order id (the OMS's order when known)."""
        if self.order_lookup is not None:
            order = self.order_lookup(ClientOrderId(tag))
            return order if order is not None else False
        return looks_like_client_order_id(tag, self._clock.now_ns())

    def _resolve(
        self, report: OrderReport, ts: int
    ) -> tuple[TrackedOrder | None, list[OrderEvent]]:
        venue = report.venue_order_id
        track = self._by_venue.get(venue)
        if track is not None:
            return track, []
        tag = report.tag
        if tag:
            track = self._by_coid.get(ClientOrderId(tag))
            if track is not None and track.venue_order_id in (None, venue):
                self._bind(track, venue)
                return track, []
            if track is not None:
                self.stats.duplicate_tags += 1
                log.warning(
                    "Angel One order %s carries tag %s, which already belongs to order %s: a "
                    "duplicate placement; it is adopted as an external order so that it can be "
                    "seen and cancelled",
                    venue,
                    tag,
                    track.venue_order_id,
                )
            else:
                ours = self._is_ours(tag)
                if ours is not False:
                    return self._follow(report, ours), []
        return self._adopt(report, ts)

    def _follow(self, report: OrderReport, known: Order | bool) -> TrackedOrder:
        """Track a cockpit order of an earlier run under its tag (never adopted again)."""
        self.stats.followed_by_tag += 1
        track = TrackedOrder(
            client_order_id=ClientOrderId(report.tag),
            token=report.token,
            order_type=report.order_type,
            product=report.product,
            validity=report.validity,
            qty=report.qty,
            price=report.price,
            trigger_price=report.trigger_price,
            variety=report.variety,
            venue_order_id=report.venue_order_id,
        )
        if isinstance(known, Order):
            track.external = known.external
            track.fill_ids = {str(t) for t in known.trade_ids}
            track.trade_qty = known.trade_qty
            if track.order_type is None:
                track.order_type = known.order_type
            if track.product is None:
                track.product = known.product
        return self._register(track)

    def _adopt(self, report: OrderReport, ts: int) -> tuple[TrackedOrder | None, list[OrderEvent]]:
        venue = report.venue_order_id
        snapshot = report.snapshot(ts)
        if snapshot is None or report.token not in self._instruments:
            if venue not in self._not_adoptable:
                self._not_adoptable.add(venue)
                self.stats.not_adoptable += 1
                why = (
                    f"instrument token {report.token!r} is not in the instrument master"
                    if snapshot is not None
                    else "its side, order type or product has no counterpart in the cockpit "
                    "(e.g. product MARGIN) or its quantity is not positive"
                )
                log.warning(
                    "Angel One order %s (placed outside the cockpit) is not adopted: %s",
                    venue,
                    why,
                )
            return None, []
        coid = external_client_order_id(venue)
        known = self.order_lookup(coid) if self.order_lookup is not None else None
        track = TrackedOrder(
            client_order_id=coid,
            token=snapshot.token,
            order_type=snapshot.order_type,
            product=snapshot.product,
            validity=snapshot.validity,
            qty=snapshot.qty,
            price=snapshot.price,
            trigger_price=snapshot.trigger_price,
            variety=report.variety,
            external=True,
            venue_order_id=venue,
        )
        self._register(track)
        if known is not None:
            track.fill_ids = {str(t) for t in known.trade_ids}
            track.trade_qty = known.trade_qty
            return track, []
        self.stats.adopted += 1
        log.info("adopting Angel One order %s (placed outside the cockpit) as %s", venue, coid)
        init = OrderInitialized(
            client_order_id=coid,
            ts=ts,
            token=snapshot.token,
            side=snapshot.side,
            order_type=snapshot.order_type,
            product=snapshot.product,
            qty=snapshot.qty,
            validity=snapshot.validity,
            price=snapshot.price,
            trigger_price=snapshot.trigger_price,
            disclosed_qty=snapshot.disclosed_qty,
            tag=snapshot.tag,
            strategy_id=EXTERNAL_STRATEGY,
            external=True,
            venue_order_id=venue,
        )
        return track, [init]

    def _give_up_missing(
        self, seen: set[ClientOrderId], requested_ns: int, as_of: int
    ) -> list[OrderEvent]:
        """Reject orders whose place was lost and that are still missing from a book requested
        at least ``unknown_grace_s`` after the loss."""
        events: list[OrderEvent] = []
        for track in self._by_coid.values():
            since = track.unknown_since_ns
            if (
                since is None
                or track.venue_order_id is not None
                or track.gave_up
                or track.in_flight
                or track.client_order_id in seen
                or requested_ns - since < self._grace_ns
            ):
                continue
            track.gave_up = True
            track.needs_reconcile = False
            self.stats.given_up += 1
            waited = (requested_ns - since) / NS_PER_SECOND
            reason = (
                f"not in Angel One's order book {waited:.0f} s after its place request went "
                "unanswered: Angel never received it (it was not resent)"
            )
            log.warning("order %s: %s", track.client_order_id, reason)
            events.append(
                OrderRejected(client_order_id=track.client_order_id, ts=as_of, reason=reason)
            )
        return events
