"""The order management system: the registry every order and every broker event passes through.

:class:`OMS` holds the orders by :class:`~engine.models.ClientOrderId`, generates idempotent ids
that fit Angel One's ``ordertag``, applies events through each order's state machine
(:mod:`engine.orders`), merges broker order-book rows (:meth:`OMS.reconcile`), and tells a listener
(``on_change``) about every applied change. The events it hands to ``on_change`` are the journal:
replaying them in order into a fresh OMS (:meth:`OMS.rebuild`) gives the same orders, including
the de-duplicated trade ids.

The OMS never sends anything. An order whose outcome is unknown (a timeout after sending) stays
in flight and is listed by :meth:`OMS.needs_reconcile`; it is never resent automatically. Look it
up in the broker's order book by its tag (the client order id) and pass the row to
:meth:`OMS.reconcile`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from engine.clock import Clock, WallClock
from engine.models import (
    ClientOrderId,
    OrderStatus,
    OrderType,
    Product,
    Side,
    StrategyId,
    Validity,
    VenueOrderId,
)
from engine.orders import (
    ApplyOutcome,
    ApplyResult,
    Order,
    OrderEvent,
    OrderInitialized,
    OrderUpdated,
    map_broker_status,
)

__all__ = [
    "EXTERNAL_STRATEGY",
    "OMS",
    "BrokerOrderSnapshot",
    "ChangeHandler",
    "ClientOrderIdGenerator",
    "map_broker_status",
]

log = logging.getLogger(__name__)

ChangeHandler = Callable[[Order, OrderEvent], None]
"""Called after every event that changed an order (including its creation)."""

EXTERNAL_STRATEGY = StrategyId("external")
"""Strategy id of orders placed outside the cockpit and adopted during reconciliation."""

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = re.compile(r"[0-9A-Za-z]*")
_SALT = re.compile(r"[0-9A-Z]{3}")
_TIME_WIDTH = 8  # base-36 milliseconds: 8 digits last until the year 2059
_COUNTER_WIDTH = 3
_COUNTER_LIMIT = 36**_COUNTER_WIDTH
MAX_PREFIX = 5
"""Longest id prefix: prefix + 8 time + 3 counter + 3 salt characters stay within 20."""
MAX_TAG = 20
"""Angel One's ``ordertag`` limit (since 2024-11-15) and Kite's ``tag`` limit."""


def _base36(value: int, width: int) -> str:
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_B36[rem])
    return "".join(reversed(digits)).rjust(width, "0")


class ClientOrderIdGenerator:
    """Unique, sortable client order ids that fit a broker order tag (<= 20 alphanumerics).

    An id is ``prefix + time + counter + salt``: the time is milliseconds since the epoch in
    base 36 (8 digits), the counter (3 digits) orders ids made in the same millisecond, and the
    salt (3 characters, random per session unless given) keeps two sessions apart. Ids with the
    same prefix sort in the order they were made; the time never runs backwards (a clock that
    steps back reuses the last millisecond and counts on).
    """

    def __init__(self, clock: Clock, salt: str | None = None) -> None:
        if salt is None:
            salt = "".join(secrets.choice(_B36) for _ in range(3))
        if not _SALT.fullmatch(salt):
            raise ValueError(f"id salt must be 3 characters of 0-9 or A-Z, got {salt!r}")
        self._clock = clock
        self.salt = salt
        self.last_ms = 0
        self.counter = 0

    def next(self, prefix: str = "") -> ClientOrderId:
        """The next id, starting with ``prefix`` (at most 5 letters or digits)."""
        if len(prefix) > MAX_PREFIX or not _ALNUM.fullmatch(prefix):
            raise ValueError(
                f"client order id prefix must be at most {MAX_PREFIX} letters or digits "
                f"(a broker tag allows only alphanumerics), got {prefix!r}"
            )
        ms = self._clock.now_ns() // 1_000_000
        if ms > self.last_ms:
            self.last_ms, self.counter = ms, 0
        else:
            self.counter += 1
            if self.counter >= _COUNTER_LIMIT:
                self.last_ms, self.counter = self.last_ms + 1, 0
        return ClientOrderId(
            prefix
            + _base36(self.last_ms, _TIME_WIDTH)
            + _base36(self.counter, _COUNTER_WIDTH)
            + self.salt
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerOrderSnapshot:
    """One row of the broker's order book, converted to core units at the broker edge.

    ``tag`` is the order tag we sent (our client order id; empty for orders placed elsewhere).
    ``avg_price`` is exact, in price units (``None`` or 0 when nothing is filled). ``ts`` is the
    broker's last-update time of the order. The instrument and order fields are needed only to
    adopt an order that the cockpit does not know.
    """

    venue_order_id: VenueOrderId
    status_text: str
    ts: int
    token: str
    side: Side
    order_type: OrderType
    product: Product
    qty: int
    tag: str = ""
    filled_qty: int = 0
    avg_price: Fraction | None = None
    price: int = 0
    trigger_price: int = 0
    disclosed_qty: int = 0
    validity: Validity = Validity.DAY
    reason: str = ""


class OMS:
    """The order registry and the single place where order events are applied.

    ``clock`` times generated ids (and nothing else: events carry their own time). ``salt`` fixes
    the id salt (tests); ``on_change`` hears every applied change.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        salt: str | None = None,
        on_change: ChangeHandler | None = None,
    ) -> None:
        self._ids = ClientOrderIdGenerator(clock or WallClock(), salt)
        self._orders: dict[ClientOrderId, Order] = {}
        self._by_venue: dict[VenueOrderId, ClientOrderId] = {}
        self.on_change: ChangeHandler | None = on_change

    # ---- ids and registration ---------------------------------------------------------------

    def new_client_order_id(self, prefix: str = "") -> ClientOrderId:
        """A fresh, unique, sortable id that fits Angel One's ``ordertag`` (<= 20 alphanumerics)."""
        while True:
            coid = self._ids.next(prefix)
            if coid not in self._orders:
                return coid

    def add(self, order: Order) -> Order:
        """Register a new order; an id that is already registered returns the existing order.

        The order must be fresh (INITIALIZED, nothing filled) so that its
        :class:`~engine.orders.OrderInitialized` event recreates it exactly on replay.
        """
        existing = self._orders.get(order.client_order_id)
        if existing is not None:
            return existing
        if order.status is not OrderStatus.INITIALIZED or order.filled_qty or order.trade_ids:
            raise ValueError(
                f"OMS.add takes a new order (INITIALIZED, nothing filled); order "
                f"{order.client_order_id} is {order.status} with {order.filled_qty} filled. "
                f"Apply events to change an order."
            )
        event = order.initialized_event()
        self.apply(event)
        return self._orders[order.client_order_id]

    # ---- events -----------------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> ApplyResult:
        """Apply one event to its order and report what happened; never raises for bad events.

        An :class:`~engine.orders.OrderInitialized` creates the order (a second one with the same
        id changes nothing). Problems are logged: illegal transitions, inconsistent data and
        unknown orders at WARNING, stale or duplicate events at DEBUG.
        """
        if isinstance(event, OrderInitialized):
            result = self._create(event)
        else:
            order = self._orders.get(event.client_order_id)
            if order is None:
                result = ApplyResult(
                    event,
                    None,
                    ApplyOutcome.UNKNOWN_ORDER,
                    False,
                    None,
                    None,
                    f"{type(event).__name__} for unknown order {event.client_order_id}; "
                    f"reconcile with the broker's order book",
                )
            else:
                result = order.apply(event)
        self._after(result)
        return result

    def _create(self, event: OrderInitialized) -> ApplyResult:
        existing = self._orders.get(event.client_order_id)
        if existing is not None:
            return ApplyResult(
                event,
                existing,
                ApplyOutcome.DUPLICATE,
                False,
                existing.status,
                existing.status,
                f"order {event.client_order_id} already exists",
            )
        try:
            order = Order.from_init(event)
        except ValueError as exc:
            return ApplyResult(event, None, ApplyOutcome.INVALID, False, None, None, str(exc))
        self._orders[order.client_order_id] = order
        return ApplyResult(event, order, ApplyOutcome.APPLIED, True, None, order.status)

    def _after(self, result: ApplyResult) -> None:
        order = result.order
        if result.is_problem:
            log.warning("%s: %s", result.outcome, result.message)
        elif result.message:
            log.debug("%s: %s", result.outcome, result.message)
        if order is None or not result.changed:
            return
        if order.venue_order_id is not None:
            self._by_venue.setdefault(order.venue_order_id, order.client_order_id)
        if self.on_change is not None:
            self.on_change(order, result.event)

    # ---- reconciliation ---------------------------------------------------------------------

    def reconcile(self, snapshot: BrokerOrderSnapshot) -> ApplyResult:
        """Merge one broker order-book row into its order; adopt an order we do not know.

        The row is matched by tag (our client order id), then by venue order id. It is applied
        as a reconciling :class:`~engine.orders.OrderUpdated`: a row at least as new as the
        order's last venue event settles the order (status, parameters, unknown outcome); an
        older row moves only the monotone fields (fills, venue id) forward, so it never undoes a
        fill that arrived later on the stream. A row for an order placed outside the cockpit is
        adopted as a new order flagged ``external`` (strategy ``external``).
        """
        order = self._orders.get(ClientOrderId(snapshot.tag)) if snapshot.tag else None
        if order is None:
            order = self.by_venue_id(snapshot.venue_order_id)
        if order is None:
            adopted = self._adopt(snapshot)
            if isinstance(adopted, ApplyResult):
                return adopted
            order = adopted
        return self.apply(
            OrderUpdated(
                client_order_id=order.client_order_id,
                ts=snapshot.ts,
                status_text=snapshot.status_text,
                filled_qty=snapshot.filled_qty,
                avg_price=snapshot.avg_price,
                venue_order_id=snapshot.venue_order_id,
                qty=snapshot.qty,
                price=snapshot.price,
                trigger_price=snapshot.trigger_price,
                reason=snapshot.reason,
                reconciled=True,
            )
        )

    def _adopt(self, snapshot: BrokerOrderSnapshot) -> Order | ApplyResult:
        base = f"EXT{snapshot.venue_order_id}"
        coid = ClientOrderId(base)
        n = 1
        while coid in self._orders:
            n += 1
            coid = ClientOrderId(f"{base}-{n}")
        init = OrderInitialized(
            client_order_id=coid,
            ts=snapshot.ts,
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
            venue_order_id=snapshot.venue_order_id or None,
        )
        if not snapshot.venue_order_id:
            result = ApplyResult(
                init,
                None,
                ApplyOutcome.UNKNOWN_ORDER,
                False,
                None,
                None,
                f"order-book row with tag {snapshot.tag!r} matches no order and has no venue "
                f"order id to adopt it by",
            )
            self._after(result)
            return result
        result = self.apply(init)
        if result.order is None:
            return result
        return result.order

    # ---- queries ----------------------------------------------------------------------------

    def get(self, client_order_id: ClientOrderId) -> Order | None:
        """The order with this id, or ``None``."""
        return self._orders.get(client_order_id)

    def by_venue_id(self, venue_order_id: VenueOrderId) -> Order | None:
        """The order the broker knows by ``venue_order_id``, or ``None``."""
        coid = self._by_venue.get(venue_order_id)
        return None if coid is None else self._orders.get(coid)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def all_orders(self) -> list[Order]:
        """Every order, in the order they were created."""
        return list(self._orders.values())

    def open_orders(self) -> list[Order]:
        """Orders at (or on their way to) the venue and not finished."""
        return [o for o in self._orders.values() if o.is_open]

    def orders_for_instrument(self, token: str, *, open_only: bool = False) -> list[Order]:
        """Orders for one instrument token (only open ones with ``open_only``)."""
        return [
            o for o in self._orders.values() if o.token == token and (o.is_open or not open_only)
        ]

    def orders_for_strategy(
        self, strategy_id: StrategyId, *, open_only: bool = False
    ) -> list[Order]:
        """Orders of one strategy (only open ones with ``open_only``)."""
        return [
            o
            for o in self._orders.values()
            if o.strategy_id == strategy_id and (o.is_open or not open_only)
        ]

    def counts(self) -> dict[OrderStatus, int]:
        """How many orders are in each status (statuses with none are left out)."""
        return dict(Counter(o.status for o in self._orders.values()))

    def open_count(self) -> int:
        """Number of open orders."""
        return sum(1 for o in self._orders.values() if o.is_open)

    def needs_reconcile(self) -> list[Order]:
        """Orders whose true state must be read from the broker: unknown outcome or flagged."""
        return [o for o in self._orders.values() if o.needs_reconcile]

    # ---- pruning ----------------------------------------------------------------------------

    def prune_terminal(self, before_ts: int, keep: Container[str] = frozenset()) -> int:
        """Forget finished orders whose last activity was before ``before_ts``; return how many.

        Keeps every order that is open, whose outcome is unknown or that needs reconciliation,
        that changed at or after ``before_ts``, or whose id is in ``keep``. The journal still
        holds the forgotten orders (for export); this only bounds the working set.
        """
        drop = [
            coid
            for coid, o in self._orders.items()
            if o.status.is_terminal
            and not o.needs_reconcile
            and max(o.created_ts, o.last_ts, o.last_fill_ts) < before_ts
            and coid not in keep
        ]
        for coid in drop:
            order = self._orders.pop(coid)
            venue = order.venue_order_id
            if venue is not None and self._by_venue.get(venue) == coid:
                del self._by_venue[venue]
        return len(drop)

    def load_dict(self, data: dict[str, Any]) -> None:
        """Replace the orders with those of :meth:`to_dict` output, in place (listeners stay).

        The id generator keeps this session's salt and never runs behind the saved position, so
        new ids cannot repeat saved ones. Bad data raises and leaves the OMS unchanged.
        """
        restored = OMS.from_dict(data)
        self._orders = restored._orders
        self._by_venue = restored._by_venue
        saved = restored._ids
        if (saved.last_ms, saved.counter) > (self._ids.last_ms, self._ids.counter):
            self._ids.last_ms, self._ids.counter = saved.last_ms, saved.counter

    # ---- snapshots and replay ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot of every order and the id generator's position."""
        data = self.to_dict_shell()
        data["orders"] = [o.to_dict() for o in self._orders.values()]
        return data

    def to_dict_shell(self) -> dict[str, Any]:
        """:meth:`to_dict` without the ``orders`` list (for callers that build it themselves,
        e.g. reusing the dicts of unchanged orders)."""
        return {
            "version": 1,
            "ids": {
                "salt": self._ids.salt,
                "last_ms": self._ids.last_ms,
                "counter": self._ids.counter,
            },
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        clock: Clock | None = None,
        on_change: ChangeHandler | None = None,
    ) -> OMS:
        """Restore an OMS from :meth:`to_dict` output; new ids continue after the saved ones."""
        if data.get("version") != 1:
            raise ValueError(
                f"unsupported OMS snapshot version {data.get('version')!r}; expected 1"
            )
        ids = data["ids"]
        oms = cls(clock=clock, salt=ids["salt"], on_change=on_change)
        oms._ids.last_ms = int(ids["last_ms"])
        oms._ids.counter = int(ids["counter"])
        for raw in data["orders"]:
            order = Order.from_dict(raw)
            oms._orders[order.client_order_id] = order
            if order.venue_order_id is not None:
                oms._by_venue.setdefault(order.venue_order_id, order.client_order_id)
        return oms

    @classmethod
    def rebuild(
        cls,
        events: Iterable[OrderEvent],
        *,
        clock: Clock | None = None,
        salt: str | None = None,
        on_change: ChangeHandler | None = None,
    ) -> OMS:
        """A new OMS with ``events`` (journaled, in order) applied; ``on_change`` is attached
        after the replay, so listeners hear only what happens next."""
        oms = cls(clock=clock, salt=salt)
        for event in events:
            oms.apply(event)
        oms.on_change = on_change
        return oms
