"""The order entity, the events that change it, and its lifecycle state machine.

An :class:`Order` is created from an :class:`OrderInitialized` event and changed only by
:meth:`Order.apply` (nautilus_trader style). Every broker answer, every local request and every
status report is an event; applying one returns an :class:`ApplyResult` that says what happened.
An event that does not fit the order's state is refused and reported, never raised.

Status lifecycle (see :data:`TRANSITIONS` for the full table)::

    INITIALIZED -> SUBMITTED -> ACCEPTED | TRIGGER_PENDING -> PARTIALLY_FILLED -> FILLED
    working orders -> PENDING_MODIFY | PENDING_CANCEL -> back to working, or terminal
    terminal: FILLED, CANCELLED, REJECTED, EXPIRED

Real-world rules the state machine keeps (each one is tested):

* **Monotone fills.** ``filled_qty`` is the larger of the sum of de-duplicated trade fills and the
  highest filled quantity a broker report has shown; it never decreases and never exceeds ``qty``.
  A fill or report that would exceed ``qty`` is not applied and flags the order for
  reconciliation.
* **Fills de-duplicated by trade id.** The same :class:`~engine.models.TradeId` twice is applied
  once; the ids are part of the order's state, so the rule survives a journal replay.
* **An older status never undoes a newer one.** Terminal statuses never become live again; a
  triggered stop never returns to TRIGGER_PENDING; a partly filled order never returns to
  ACCEPTED. A broker report older than the last venue event applied to the order (``ts <
  last_venue_ts``) is *stale*: only monotone fields (fills, the venue order id) move forward.
* **A fill beats a cancel.** PENDING_CANCEL then a fill gives PARTIALLY_FILLED (the cancel request
  is still in flight, ``pending_action`` stays CANCEL) or FILLED; the later CANCELLED then cancels
  the rest. A fill that arrives *after* CANCELLED, REJECTED or EXPIRED is counted in full
  (``filled_qty``, ``filled_value``, ``trade_ids``) because the money moved; the status stays as it
  was unless the fill completes ``qty``, in which case it becomes FILLED (the cancel never took
  effect). Either way the order stays terminal and its ``leaves_qty`` is 0.
* **Unknown outcomes stay in flight.** :class:`OrderOutcomeUnknown` (a timeout after sending) sets
  ``outcome_unknown``; the order keeps its in-flight status (e.g. SUBMITTED) until a venue event or
  a reconciliation snapshot resolves it. Nothing here ever re-sends a request.
* **Unknown broker status strings mean "reconcile", not "failed"**: :func:`map_broker_status`
  returns ``None`` and the order is flagged (``reconcile_reason``) without a status change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from fractions import Fraction
from typing import Any, NamedTuple, TypeAlias

from engine.models import (
    ClientOrderId,
    OrderStatus,
    OrderType,
    Product,
    Side,
    StrategyId,
    TradeId,
    Validity,
    VenueOrderId,
)
from engine.money import round_half_even

MANUAL_STRATEGY = StrategyId("manual")
"""Strategy id of orders entered by hand."""

# ---------------------------------------------------------------------------------------------
# The transition table

_S = OrderStatus

_TERMINALS = frozenset({_S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED})
_CLOSES = frozenset({_S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED, _S.PARTIALLY_FILLED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # INITIALIZED reaches any venue status directly: external orders adopted from a broker
    # snapshot, and orders whose OrderSubmitted was never recorded.
    _S.INITIALIZED: frozenset(
        {_S.SUBMITTED, _S.ACCEPTED, _S.TRIGGER_PENDING, _S.PENDING_MODIFY, _S.PENDING_CANCEL}
        | _CLOSES
    ),
    # Modify and cancel need the broker's order id, so SUBMITTED cannot go to PENDING_*.
    _S.SUBMITTED: frozenset({_S.ACCEPTED, _S.TRIGGER_PENDING} | _CLOSES),
    _S.ACCEPTED: frozenset({_S.PENDING_MODIFY, _S.PENDING_CANCEL} | _CLOSES),
    _S.TRIGGER_PENDING: frozenset({_S.ACCEPTED, _S.PENDING_MODIFY, _S.PENDING_CANCEL} | _CLOSES),
    _S.PENDING_MODIFY: frozenset({_S.ACCEPTED, _S.TRIGGER_PENDING, _S.PENDING_CANCEL} | _CLOSES),
    # No PENDING_MODIFY while a cancel is in flight.
    _S.PENDING_CANCEL: frozenset({_S.ACCEPTED, _S.TRIGGER_PENDING} | _CLOSES),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PENDING_MODIFY, _S.PENDING_CANCEL, _S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED}
    ),
    # A late fill that completes the quantity: the cancel/expiry never took effect.
    _S.CANCELLED: frozenset({_S.FILLED}),
    _S.REJECTED: frozenset({_S.FILLED}),
    _S.EXPIRED: frozenset({_S.FILLED}),
    _S.FILLED: frozenset(),
}
"""Allowed status changes ``current -> {targets}``. Staying in the same status is always a no-op,
never a transition. Anything else is refused and reported as :attr:`ApplyOutcome.ILLEGAL` or
:attr:`ApplyOutcome.IGNORED` (an out-of-order report)."""

LIVE_STATUSES = frozenset(
    {
        _S.SUBMITTED,
        _S.ACCEPTED,
        _S.TRIGGER_PENDING,
        _S.PARTIALLY_FILLED,
        _S.PENDING_MODIFY,
        _S.PENDING_CANCEL,
    }
)
"""Statuses of an order that is at (or on its way to) the venue and not finished."""

_WORKING = frozenset({_S.ACCEPTED, _S.TRIGGER_PENDING, _S.PARTIALLY_FILLED})
_STOP_TYPES = frozenset({OrderType.SL, OrderType.SL_M})


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """True when ``current -> target`` is in :data:`TRANSITIONS` (or is no change at all)."""
    return current is target or target in TRANSITIONS[current]


# ---------------------------------------------------------------------------------------------
# Broker status strings


_BROKER_STATUS: dict[str, OrderStatus] = {
    "open": _S.ACCEPTED,
    "complete": _S.FILLED,
    "cancelled": _S.CANCELLED,
    "rejected": _S.REJECTED,
    "trigger pending": _S.TRIGGER_PENDING,
    "put order req received": _S.SUBMITTED,
    "validation pending": _S.SUBMITTED,
    "open pending": _S.SUBMITTED,
    "modify pending": _S.PENDING_MODIFY,
    "modify validation pending": _S.PENDING_MODIFY,
    "cancel pending": _S.PENDING_CANCEL,
    # Answers to a modify/cancel request: the order is working again. The OMS restores the
    # resting status (TRIGGER_PENDING for an untriggered stop, PARTIALLY_FILLED after fills).
    "modified": _S.ACCEPTED,
    "not modified": _S.ACCEPTED,
    "not cancelled": _S.ACCEPTED,
    # An after-market order waits at the broker and can be modified or cancelled there, so it is
    # working (ACCEPTED), not in flight. A received modify of one is its answer ("modified").
    "after market order req received": _S.ACCEPTED,
    "amo req received": _S.ACCEPTED,
    "modify after market order req received": _S.ACCEPTED,
    "cancelled after market order": _S.CANCELLED,
}

RESTING_STATUS_TEXTS = frozenset(
    {"modified", "not modified", "not cancelled", "modify after market order req received"}
)
"""Broker strings that answer a modify/cancel request and mean "working as before"."""


def normalize_status_text(text: str) -> str:
    """Lower-case ``text`` and collapse runs of whitespace (Angel sends lower case, Kite upper)."""
    return " ".join(text.split()).lower()


def map_broker_status(text: str) -> OrderStatus | None:
    """Map an Angel One (NEST) order status string to an :class:`OrderStatus`.

    Matching ignores case and extra whitespace, so Kite's upper-case strings map too. Returns
    ``None`` for a string not in the table: the order's state is then *indeterminate* and must be
    reconciled from the order book; it is never treated as a failure (which would invite a resend).
    A partially executed Angel order is reported as ``open``; the OMS derives PARTIALLY_FILLED
    from the filled quantity.
    """
    return _BROKER_STATUS.get(normalize_status_text(text))


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEventBase:
    """Fields every order event has: the order it is about and when it happened (ns, UTC epoch).

    Events from the venue carry the broker's/exchange's time; local request events (submit,
    pending modify/cancel, outcome unknown) carry the cockpit's clock.
    """

    client_order_id: ClientOrderId
    ts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderInitialized(OrderEventBase):
    """An order came into being (ours, or an external one adopted from the broker's book)."""

    token: str
    side: Side
    order_type: OrderType
    product: Product
    qty: int
    validity: Validity = Validity.DAY
    price: int = 0
    trigger_price: int = 0
    disclosed_qty: int = 0
    tag: str = ""
    strategy_id: StrategyId = MANUAL_STRATEGY
    external: bool = False
    venue_order_id: VenueOrderId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(OrderEventBase):
    """The place request is about to go (or went) to the broker; its answer is pending."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(OrderEventBase):
    """The broker accepted the order and gave it ``venue_order_id``."""

    venue_order_id: VenueOrderId


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(OrderEventBase):
    """The broker, the exchange or a local pre-trade check rejected the order."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTriggered(OrderEventBase):
    """A stop order's trigger price was reached; it now works as a limit/market order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPendingModify(OrderEventBase):
    """A modify request was sent; its answer is pending."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderModified(OrderEventBase):
    """The order's quantity, price or trigger changed (``None`` = unchanged)."""

    qty: int | None = None
    price: int | None = None
    trigger_price: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderModifyRejected(OrderEventBase):
    """A modify request was refused; the order works as before."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPendingCancel(OrderEventBase):
    """A cancel request was sent; its answer is pending."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(OrderEventBase):
    """The order (or its unfilled rest) was cancelled."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelRejected(OrderEventBase):
    """A cancel request was refused (the order is still working, or already finished)."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(OrderEventBase):
    """The order's validity ran out (IOC rest, end of day)."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(OrderEventBase):
    """One execution: ``qty`` units at ``price`` (price units), venue trade id ``trade_id``."""

    trade_id: TradeId
    qty: int
    price: int
    venue_order_id: VenueOrderId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated(OrderEventBase):
    """A broker's status report for the order (order-update stream or order-book row).

    ``status_text`` is the broker's raw status string; ``filled_qty`` and ``avg_price`` (exact
    price units, ``None`` when unknown) are the broker's cumulative figures. ``qty``, ``price`` and
    ``trigger_price`` are the order's current parameters as the broker sees them (``None`` when
    the report does not carry them). ``reconciled`` marks a report taken from a reconciliation
    pass: a fresh one resolves an unknown outcome and clears the reconcile flag.
    """

    status_text: str
    filled_qty: int = 0
    avg_price: Fraction | None = None
    venue_order_id: VenueOrderId | None = None
    qty: int | None = None
    price: int | None = None
    trigger_price: int | None = None
    reason: str = ""
    reconciled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderOutcomeUnknown(OrderEventBase):
    """A request was sent but its answer never came (timeout, disconnect, unreadable reply)."""

    reason: str = ""


OrderEvent: TypeAlias = (
    OrderInitialized
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderTriggered
    | OrderPendingModify
    | OrderModified
    | OrderModifyRejected
    | OrderPendingCancel
    | OrderCancelled
    | OrderCancelRejected
    | OrderExpired
    | OrderFilled
    | OrderUpdated
    | OrderOutcomeUnknown
)
"""Any event that an order can be given."""

EVENT_TYPES: dict[str, type[OrderEvent]] = {
    cls.__name__: cls
    for cls in (
        OrderInitialized,
        OrderSubmitted,
        OrderAccepted,
        OrderRejected,
        OrderTriggered,
        OrderPendingModify,
        OrderModified,
        OrderModifyRejected,
        OrderPendingCancel,
        OrderCancelled,
        OrderCancelRejected,
        OrderExpired,
        OrderFilled,
        OrderUpdated,
        OrderOutcomeUnknown,
    )
}
"""Event classes by name (the ``kind`` of a journaled event)."""

_VENUE_EVENTS = (
    OrderAccepted,
    OrderRejected,
    OrderTriggered,
    OrderModified,
    OrderModifyRejected,
    OrderCancelled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderUpdated,
)

_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "side": Side,
    "order_type": OrderType,
    "product": Product,
    "validity": Validity,
}


def fraction_to_text(value: Fraction | None) -> str | None:
    """Exact text form of a fraction (``"12345/4"``), ``None`` stays ``None``."""
    return None if value is None else f"{value.numerator}/{value.denominator}"


def fraction_from_text(text: str | None) -> Fraction | None:
    """Inverse of :func:`fraction_to_text`."""
    return None if text is None else Fraction(text)


def event_to_dict(event: OrderEvent) -> dict[str, Any]:
    """A JSON-ready dict of ``event`` with its ``kind``; :func:`event_from_dict` inverts it."""
    out: dict[str, Any] = {"kind": type(event).__name__}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        if isinstance(value, Fraction):
            value = fraction_to_text(value)
        elif isinstance(value, StrEnum):
            value = value.value
        out[name] = value
    return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """The dataclass field names of an event class (computed once per class: replay is hot)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def event_from_dict(data: dict[str, Any]) -> OrderEvent:
    """Rebuild an event from :func:`event_to_dict` output (e.g. a journal row)."""
    kind = data.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"unknown order event kind {kind!r}; expected one of {', '.join(sorted(EVENT_TYPES))}"
        )
    kwargs: dict[str, Any] = {}
    for name in _field_names(cls):
        if name not in data:
            continue
        value = data[name]
        if name == "avg_price":
            value = fraction_from_text(value)
        elif name in _ENUM_FIELDS and value is not None:
            value = _ENUM_FIELDS[name](value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{kind} event is missing a field or has an unknown one: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Results


class ApplyOutcome(StrEnum):
    """What applying one event did."""

    APPLIED = "APPLIED"
    """The event took effect."""
    DUPLICATE = "DUPLICATE"
    """Already applied (same trade id, same answer twice): nothing changed."""
    IGNORED = "IGNORED"
    """Out of order or stale: the newer state was kept (monotone fields may still have moved)."""
    ILLEGAL = "ILLEGAL"
    """The status change is not in :data:`TRANSITIONS`; the status was not changed."""
    INVALID = "INVALID"
    """The event contradicts the order (overfill, quantity below filled, another venue id,
    unknown broker status): not applied, and the order is flagged for reconciliation."""
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """No order with that client order id (or venue id) is known."""


class PendingAction(StrEnum):
    """Which request is in flight (sent, answer not yet seen)."""

    SUBMIT = "SUBMIT"
    MODIFY = "MODIFY"
    CANCEL = "CANCEL"


class OrderHistoryEntry(NamedTuple):
    """One applied change of an order, for the UI: when, which event, the status after it."""

    ts: int
    kind: str
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The answer to applying one event: outcome, whether state changed, and a clear message."""

    event: OrderEvent
    order: Order | None
    outcome: ApplyOutcome
    changed: bool
    status_before: OrderStatus | None
    status_after: OrderStatus | None
    message: str = ""

    @property
    def is_problem(self) -> bool:
        """True for outcomes a person should look at (illegal, invalid, unknown order)."""
        return self.outcome in (
            ApplyOutcome.ILLEGAL,
            ApplyOutcome.INVALID,
            ApplyOutcome.UNKNOWN_ORDER,
        )


# ---------------------------------------------------------------------------------------------
# The order


@dataclass(slots=True, kw_only=True)
class Order:
    """One order and everything known about it; changed only through :meth:`apply`.

    Prices are integer price units, quantities integer units, timestamps ns since the epoch.

    Fill accounting is exact: ``filled_value`` is the integer sum of ``price * qty`` over the
    de-duplicated trade fills (which cover ``trade_qty`` units). ``reported_filled_qty`` and
    ``reported_avg_price`` are the highest cumulative figures a broker report has shown; they
    cover fills whose trade ids we have not seen yet. ``filled_qty`` is the larger of the two
    quantities. ``reason`` is the broker's latest reason text (reject, cancel, refused
    modify/cancel). ``working_status`` is the last working status the venue reported (ACCEPTED or
    TRIGGER_PENDING), used to restore the order when a modify/cancel request is answered.
    """

    client_order_id: ClientOrderId
    token: str
    side: Side
    order_type: OrderType
    product: Product
    qty: int
    validity: Validity = Validity.DAY
    price: int = 0
    trigger_price: int = 0
    disclosed_qty: int = 0
    tag: str = ""
    strategy_id: StrategyId = MANUAL_STRATEGY
    external: bool = False
    status: OrderStatus = OrderStatus.INITIALIZED
    venue_order_id: VenueOrderId | None = None
    filled_qty: int = 0
    trade_qty: int = 0
    filled_value: int = 0
    reported_filled_qty: int = 0
    reported_avg_price: Fraction | None = None
    trade_ids: set[TradeId] = field(default_factory=set)
    reason: str = ""
    pending_action: PendingAction | None = None
    working_status: OrderStatus | None = None
    outcome_unknown: bool = False
    reconcile_reason: str = ""
    created_ts: int = 0
    last_ts: int = 0
    last_venue_ts: int = 0
    last_fill_ts: int = 0
    history: list[OrderHistoryEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValueError("an order needs a non-empty client_order_id")
        if not self.token:
            raise ValueError(f"order {self.client_order_id}: instrument token must not be empty")
        if self.qty <= 0:
            raise ValueError(
                f"order {self.client_order_id}: qty must be a positive number of units, "
                f"got {self.qty}"
            )
        if self.price < 0 or self.trigger_price < 0:
            raise ValueError(
                f"order {self.client_order_id}: price and trigger_price must be >= 0 "
                f"(0 = none), got price={self.price} trigger_price={self.trigger_price}"
            )
        if not 0 <= self.disclosed_qty <= self.qty:
            raise ValueError(
                f"order {self.client_order_id}: disclosed_qty must be between 0 and qty "
                f"({self.qty}), got {self.disclosed_qty}"
            )

    # ---- derived views ----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while the order is at (or on its way to) the venue and not finished."""
        return self.status in LIVE_STATUSES

    @property
    def is_closed(self) -> bool:
        """True once the order is FILLED, CANCELLED, REJECTED or EXPIRED."""
        return self.status in _TERMINALS

    @property
    def in_flight(self) -> bool:
        """True while a submit, modify or cancel request awaits its answer."""
        return self.pending_action is not None

    @property
    def needs_reconcile(self) -> bool:
        """True when the order's true state must be read back from the broker."""
        return self.outcome_unknown or bool(self.reconcile_reason)

    @property
    def leaves_qty(self) -> int:
        """Units still working: ``qty - filled_qty`` for a live order, 0 once it is closed."""
        return 0 if self.is_closed else self.qty - self.filled_qty

    @property
    def avg_fill_price(self) -> Fraction | None:
        """Exact average fill price in price units, or ``None`` when it is not known.

        From the trade fills when they cover ``filled_qty``; otherwise the broker's reported
        average (which covers its reported quantity); otherwise ``None``.
        """
        if self.filled_qty == 0:
            return None
        if self.trade_qty == self.filled_qty:
            return Fraction(self.filled_value, self.trade_qty)
        if self.reported_filled_qty == self.filled_qty and self.reported_avg_price is not None:
            return self.reported_avg_price
        return None

    @property
    def avg_fill_price_units(self) -> int | None:
        """:attr:`avg_fill_price` rounded half-even to whole price units, for display."""
        avg = self.avg_fill_price
        return None if avg is None else round_half_even(avg)

    def resting_status(self) -> OrderStatus:
        """The status the order returns to when a modify/cancel request is answered."""
        if self.filled_qty > 0:
            return OrderStatus.PARTIALLY_FILLED
        return self.working_status or OrderStatus.ACCEPTED

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def from_init(cls, event: OrderInitialized) -> Order:
        """A new order from its :class:`OrderInitialized` event."""
        order = cls(
            client_order_id=event.client_order_id,
            token=event.token,
            side=event.side,
            order_type=event.order_type,
            product=event.product,
            qty=event.qty,
            validity=event.validity,
            price=event.price,
            trigger_price=event.trigger_price,
            disclosed_qty=event.disclosed_qty,
            tag=event.tag,
            strategy_id=event.strategy_id,
            external=event.external,
            venue_order_id=event.venue_order_id,
            created_ts=event.ts,
            last_ts=event.ts,
        )
        order.history.append(OrderHistoryEntry(event.ts, "OrderInitialized", order.status))
        return order

    def initialized_event(self) -> OrderInitialized:
        """The :class:`OrderInitialized` event that recreates this order as it was created."""
        return OrderInitialized(
            client_order_id=self.client_order_id,
            ts=self.created_ts,
            token=self.token,
            side=self.side,
            order_type=self.order_type,
            product=self.product,
            qty=self.qty,
            validity=self.validity,
            price=self.price,
            trigger_price=self.trigger_price,
            disclosed_qty=self.disclosed_qty,
            tag=self.tag,
            strategy_id=self.strategy_id,
            external=self.external,
            venue_order_id=self.venue_order_id,
        )

    # ---- applying events --------------------------------------------------------------------

    def apply(self, event: OrderEvent) -> ApplyResult:
        """Apply one event and say what happened. Never raises for out-of-place events."""
        if event.client_order_id != self.client_order_id:
            return ApplyResult(
                event,
                self,
                ApplyOutcome.UNKNOWN_ORDER,
                False,
                self.status,
                self.status,
                f"event for order {event.client_order_id} given to order {self.client_order_id}",
            )
        before_status = self.status
        before = self._state_key()
        outcome, message = self._dispatch(event)
        changed = self._state_key() != before
        if changed:
            self.last_ts = max(self.last_ts, event.ts)
            if isinstance(event, _VENUE_EVENTS):
                self.last_venue_ts = max(self.last_venue_ts, event.ts)
            self.history.append(OrderHistoryEntry(event.ts, type(event).__name__, self.status))
        elif outcome is ApplyOutcome.APPLIED:
            outcome = ApplyOutcome.DUPLICATE
            message = message or "no change: already in that state"
        return ApplyResult(event, self, outcome, changed, before_status, self.status, message)

    def _state_key(self) -> tuple[object, ...]:
        return (
            self.status,
            self.venue_order_id,
            self.qty,
            self.price,
            self.trigger_price,
            self.filled_qty,
            self.trade_qty,
            self.filled_value,
            self.reported_filled_qty,
            self.reported_avg_price,
            len(self.trade_ids),
            self.reason,
            self.pending_action,
            self.working_status,
            self.outcome_unknown,
            self.reconcile_reason,
        )

    def _dispatch(self, event: OrderEvent) -> tuple[ApplyOutcome, str]:
        match event:
            case OrderInitialized():
                return ApplyOutcome.DUPLICATE, "order already initialized"
            case OrderSubmitted():
                return self._on_submitted()
            case OrderAccepted():
                return self._on_accepted(event)
            case OrderRejected():
                return self._on_terminal(_S.REJECTED, event.reason)
            case OrderTriggered():
                return self._on_triggered()
            case OrderPendingModify():
                return self._on_pending(_S.PENDING_MODIFY, PendingAction.MODIFY)
            case OrderModified():
                return self._on_modified(event)
            case OrderModifyRejected():
                return self._on_request_refused(PendingAction.MODIFY, event.reason)
            case OrderPendingCancel():
                return self._on_pending(_S.PENDING_CANCEL, PendingAction.CANCEL)
            case OrderCancelled():
                return self._on_terminal(_S.CANCELLED, event.reason)
            case OrderCancelRejected():
                return self._on_request_refused(PendingAction.CANCEL, event.reason)
            case OrderExpired():
                return self._on_terminal(_S.EXPIRED, event.reason)
            case OrderFilled():
                return self._on_filled(event)
            case OrderUpdated():
                return self._on_updated(event)
            case OrderOutcomeUnknown():
                return self._on_outcome_unknown(event)

    # ---- helpers ----------------------------------------------------------------------------

    def _flag(self, reason: str) -> tuple[ApplyOutcome, str]:
        self.reconcile_reason = reason
        return ApplyOutcome.INVALID, reason

    def _move(self, target: OrderStatus) -> bool:
        """Change status to ``target`` if the table allows it; True if now in ``target``."""
        if target is self.status:
            return True
        if target not in TRANSITIONS[self.status]:
            return False
        self.status = target
        if target in _TERMINALS:
            self.pending_action = None
            self.outcome_unknown = False
        return True

    def _venue_id_conflict(self, venue_order_id: VenueOrderId | None) -> str:
        """Record a venue id we did not have; describe a clash with the one we have."""
        if not venue_order_id:
            return ""
        if self.venue_order_id is None:
            self.venue_order_id = venue_order_id
            return ""
        if self.venue_order_id != venue_order_id:
            return (
                f"order {self.client_order_id} has venue order id {self.venue_order_id} but an "
                f"event names {venue_order_id}; needs reconciliation"
            )
        return ""

    def _resolve(self, action: PendingAction) -> None:
        """The in-flight ``action`` got its answer."""
        if self.pending_action is action:
            self.pending_action = None
            self.outcome_unknown = False

    # ---- handlers ---------------------------------------------------------------------------

    def _on_submitted(self) -> tuple[ApplyOutcome, str]:
        if self.status is _S.INITIALIZED:
            self.status = _S.SUBMITTED
            self.pending_action = PendingAction.SUBMIT
            return ApplyOutcome.APPLIED, ""
        if self.status is _S.SUBMITTED:
            return ApplyOutcome.DUPLICATE, "already submitted"
        return (
            ApplyOutcome.ILLEGAL,
            f"cannot submit order {self.client_order_id}: it is {self.status}",
        )

    def _on_accepted(self, event: OrderAccepted) -> tuple[ApplyOutcome, str]:
        clash = self._venue_id_conflict(event.venue_order_id)
        if clash:
            return self._flag(clash)
        self._resolve(PendingAction.SUBMIT)
        target = _S.TRIGGER_PENDING if self.order_type in _STOP_TYPES else _S.ACCEPTED
        if self.working_status is None:
            self.working_status = target
        if self.status in (_S.INITIALIZED, _S.SUBMITTED):
            self._move(target)
            return ApplyOutcome.APPLIED, ""
        if self.status is target:
            return ApplyOutcome.APPLIED, ""
        return (
            ApplyOutcome.IGNORED,
            f"acknowledgement arrived after the order was {self.status}; status kept",
        )

    def _on_terminal(self, target: OrderStatus, reason: str) -> tuple[ApplyOutcome, str]:
        if self.status is target:
            return ApplyOutcome.DUPLICATE, f"already {target}"
        if self.status in _TERMINALS:
            return (
                ApplyOutcome.ILLEGAL,
                f"order {self.client_order_id} is already {self.status}; {target} not applied",
            )
        self._move(target)
        if reason:
            self.reason = reason
        return ApplyOutcome.APPLIED, ""

    def _on_triggered(self) -> tuple[ApplyOutcome, str]:
        if self.status in _TERMINALS:
            return ApplyOutcome.IGNORED, f"trigger arrived after the order was {self.status}"
        self.working_status = _S.ACCEPTED
        if self.status in (_S.INITIALIZED, _S.SUBMITTED, _S.TRIGGER_PENDING):
            self._resolve(PendingAction.SUBMIT)
            self._move(_S.ACCEPTED)
        return ApplyOutcome.APPLIED, ""

    def _on_pending(self, target: OrderStatus, action: PendingAction) -> tuple[ApplyOutcome, str]:
        allowed = self.status in _WORKING or self.status is target
        if target is _S.PENDING_CANCEL:
            allowed = allowed or self.status is _S.PENDING_MODIFY
        elif self.pending_action is PendingAction.CANCEL:
            allowed = False  # no modify while a cancel is in flight
        if not allowed:
            return (
                ApplyOutcome.ILLEGAL,
                f"cannot {action.lower()} order {self.client_order_id} while it is {self.status}",
            )
        self.status = target
        self.pending_action = action
        return ApplyOutcome.APPLIED, ""

    def _on_modified(self, event: OrderModified) -> tuple[ApplyOutcome, str]:
        if self.status not in LIVE_STATUSES or self.status is _S.SUBMITTED:
            return (
                ApplyOutcome.ILLEGAL,
                f"cannot modify order {self.client_order_id} while it is {self.status}",
            )
        new_qty = self.qty if event.qty is None else event.qty
        if new_qty < max(self.filled_qty, 1):
            return self._flag(
                f"modify to qty {new_qty} is below the filled quantity {self.filled_qty} "
                f"of order {self.client_order_id}; needs reconciliation"
            )
        if (event.price is not None and event.price < 0) or (
            event.trigger_price is not None and event.trigger_price < 0
        ):
            return self._flag(f"modify with a negative price for order {self.client_order_id}")
        self.qty = new_qty
        if event.price is not None:
            self.price = event.price
        if event.trigger_price is not None:
            self.trigger_price = event.trigger_price
        self.disclosed_qty = min(self.disclosed_qty, self.qty)
        self._resolve(PendingAction.MODIFY)
        if self.filled_qty == self.qty:
            self._move(_S.FILLED)
        elif self.status is _S.PENDING_MODIFY:
            self._move(self.resting_status())
        return ApplyOutcome.APPLIED, ""

    def _on_request_refused(self, action: PendingAction, reason: str) -> tuple[ApplyOutcome, str]:
        if self.status in _TERMINALS:
            return (
                ApplyOutcome.IGNORED,
                f"{action.lower()} refusal after the order was {self.status}",
            )
        if self.pending_action is not action:
            return ApplyOutcome.IGNORED, f"no {action.lower()} request is in flight"
        self._resolve(action)
        if reason:
            self.reason = reason
        if self.status in (_S.PENDING_MODIFY, _S.PENDING_CANCEL):
            self._move(self.resting_status())
        return ApplyOutcome.APPLIED, ""

    def _on_filled(self, event: OrderFilled) -> tuple[ApplyOutcome, str]:
        if event.trade_id in self.trade_ids:
            return ApplyOutcome.DUPLICATE, f"trade {event.trade_id} already applied"
        if not event.trade_id or event.qty <= 0 or event.price <= 0:
            return self._flag(
                f"fill for order {self.client_order_id} needs a trade id, qty > 0 and "
                f"price > 0; got trade_id={event.trade_id!r} qty={event.qty} price={event.price}"
            )
        if self.trade_qty + event.qty > self.qty:
            return self._flag(
                f"trade {event.trade_id} ({event.qty} units) would fill "
                f"{self.trade_qty + event.qty} of order {self.client_order_id}'s {self.qty}; "
                f"not applied, needs reconciliation"
            )
        clash = self._venue_id_conflict(event.venue_order_id)
        if clash:
            return self._flag(clash)
        self.trade_ids.add(event.trade_id)
        self.trade_qty += event.qty
        self.filled_value += event.qty * event.price
        self.last_fill_ts = max(self.last_fill_ts, event.ts)
        return self._after_fill_progress(max(self.trade_qty, self.reported_filled_qty))

    def _after_fill_progress(self, new_filled: int) -> tuple[ApplyOutcome, str]:
        """Raise ``filled_qty`` to ``new_filled`` and move the status as the fill says."""
        increased = new_filled > self.filled_qty
        self.filled_qty = max(self.filled_qty, new_filled)
        if self.filled_qty == self.qty:
            self._move(_S.FILLED)
            return ApplyOutcome.APPLIED, ""
        if not increased:
            return ApplyOutcome.APPLIED, ""
        if self.status in _TERMINALS:
            return (
                ApplyOutcome.APPLIED,
                f"late fill on a {self.status} order: counted, status kept",
            )
        # A partial fill during a modify/cancel: PARTIALLY_FILLED, the request is still pending.
        self._resolve(PendingAction.SUBMIT)
        self._move(_S.PARTIALLY_FILLED)
        return ApplyOutcome.APPLIED, ""

    def _on_outcome_unknown(self, event: OrderOutcomeUnknown) -> tuple[ApplyOutcome, str]:
        if self.pending_action is None:
            return ApplyOutcome.IGNORED, "no request is in flight; nothing is unknown"
        self.outcome_unknown = True
        return ApplyOutcome.APPLIED, event.reason

    def _on_updated(self, event: OrderUpdated) -> tuple[ApplyOutcome, str]:
        unknown_before = self.outcome_unknown
        outcome, message = self._merge_report(event)
        if outcome is ApplyOutcome.IGNORED and self.pending_action is not PendingAction.SUBMIT:
            # The report did not answer the modify/cancel in flight: its outcome is still unknown.
            self.outcome_unknown = unknown_before and self.pending_action is not None
        return outcome, message

    def _merge_report(self, event: OrderUpdated) -> tuple[ApplyOutcome, str]:
        text = normalize_status_text(event.status_text)
        mapped = _BROKER_STATUS.get(text)
        stale = event.ts < self.last_venue_ts
        terminal = self.status in _TERMINALS
        # 1. Check everything first; an inconsistent report changes nothing but the flag.
        if event.filled_qty < 0 or (event.qty is not None and event.qty <= 0):
            return self._flag(
                f"report for order {self.client_order_id} has filled_qty={event.filled_qty} "
                f"qty={event.qty}; filled must be >= 0 and qty > 0"
            )
        if event.venue_order_id and self.venue_order_id not in (None, event.venue_order_id):
            return self._flag(self._venue_id_conflict(event.venue_order_id))
        take_params = not stale and not terminal
        new_qty = event.qty if (take_params and event.qty is not None) else self.qty
        reported_qty, reported_avg = self.reported_filled_qty, self.reported_avg_price
        avg = event.avg_price if event.avg_price else None
        if event.filled_qty > reported_qty or (
            event.filled_qty == reported_qty > 0 and reported_avg is None
        ):
            reported_qty, reported_avg = event.filled_qty, avg
        new_filled = max(self.filled_qty, reported_qty)
        if new_filled > new_qty:
            return self._flag(
                f"broker reports {new_filled} filled of order {self.client_order_id}'s {new_qty}; "
                f"not applied, needs reconciliation"
            )
        # 2. A fresh reconciliation report resolves earlier doubts (they may be raised again).
        if event.reconciled and not stale:
            self.reconcile_reason = ""
            self.outcome_unknown = False
        self._venue_id_conflict(event.venue_order_id)
        if take_params:
            self.qty = new_qty
            if event.price is not None:
                self.price = event.price
            if event.trigger_price is not None:
                self.trigger_price = event.trigger_price
            self.disclosed_qty = min(self.disclosed_qty, self.qty)
        self.reported_filled_qty, self.reported_avg_price = reported_qty, reported_avg
        # The broker knows this order, so a pending submit reached it.
        if self.pending_action is PendingAction.SUBMIT:
            self.outcome_unknown = False
        increased = new_filled > self.filled_qty
        self.filled_qty = new_filled
        # 3. The status. Fully filled is FILLED whatever the report's status says.
        if self.filled_qty == self.qty:
            was_filled = self.status is _S.FILLED
            self._move(_S.FILLED)
            if was_filled and mapped is not _S.FILLED:
                return ApplyOutcome.IGNORED, f"status {event.status_text!r} after FILLED; kept"
            return ApplyOutcome.APPLIED, ""
        # Fills first, then the report's status from there: re-applying the same report then
        # finds the same answer (a report is idempotent).
        self._fill_moved_status(increased)
        if mapped is None:
            return self._flag(
                f"unknown broker status {event.status_text!r} for order {self.client_order_id}; "
                f"needs reconciliation"
            )
        if mapped is _S.FILLED:
            return self._flag(
                f"broker says {event.status_text!r} but only {self.filled_qty} of "
                f"{self.qty} are filled for order {self.client_order_id}; needs reconciliation"
            )
        if stale:
            return ApplyOutcome.IGNORED, "stale report: only fills moved forward"
        return self._report_status(mapped, text in RESTING_STATUS_TEXTS, event.reason)

    def _fill_moved_status(self, increased: bool) -> None:
        """A fill seen in a report moves a live unfilled order to PARTIALLY_FILLED."""
        if increased and self.status not in _TERMINALS and self.filled_qty > 0:
            self._resolve(PendingAction.SUBMIT)
            self._move(_S.PARTIALLY_FILLED)

    def _report_status(
        self, mapped: OrderStatus, resting: bool, reason: str
    ) -> tuple[ApplyOutcome, str]:
        """Apply a fresh report's status (``mapped``) to a not-yet-filled order."""
        if resting:
            target = self.resting_status()
        elif mapped in (_S.ACCEPTED, _S.TRIGGER_PENDING):
            if mapped is _S.TRIGGER_PENDING and self.working_status is _S.ACCEPTED:
                return ApplyOutcome.IGNORED, "older TRIGGER_PENDING after the trigger; kept"
            if self.status not in _TERMINALS:
                self.working_status = mapped
            target = _S.PARTIALLY_FILLED if self.filled_qty > 0 else mapped
        else:
            target = mapped
        if target is self.status:
            self._after_report_status(target)
            return ApplyOutcome.APPLIED, ""
        if not self._move(target):
            return ApplyOutcome.IGNORED, f"older status {target} after {self.status}; kept"
        if target in _TERMINALS and reason:
            self.reason = reason
        self._after_report_status(target)
        return ApplyOutcome.APPLIED, ""

    def _after_report_status(self, status: OrderStatus) -> None:
        """Set the in-flight request to what the broker's current word implies."""
        if status in _WORKING:
            self.pending_action = None
            self.outcome_unknown = False
        elif status is _S.PENDING_MODIFY:
            self.pending_action = PendingAction.MODIFY
        elif status is _S.PENDING_CANCEL:
            self.pending_action = PendingAction.CANCEL
        elif status is _S.SUBMITTED and self.pending_action is None:
            self.pending_action = PendingAction.SUBMIT

    # ---- snapshots --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the order; :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "trade_ids":
                value = sorted(value)
            elif f.name == "history":
                value = [[h.ts, h.kind, h.status.value] for h in value]
            elif isinstance(value, Fraction):
                value = fraction_to_text(value)
            elif isinstance(value, StrEnum):
                value = value.value
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        """Rebuild an order from :meth:`to_dict` output."""
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise ValueError(f"order snapshot is missing field(s): {', '.join(missing)}")
        order = cls(
            client_order_id=ClientOrderId(data["client_order_id"]),
            token=data["token"],
            side=Side(data["side"]),
            order_type=OrderType(data["order_type"]),
            product=Product(data["product"]),
            qty=int(data["qty"]),
            validity=Validity(data["validity"]),
            price=int(data["price"]),
            trigger_price=int(data["trigger_price"]),
            disclosed_qty=int(data["disclosed_qty"]),
            tag=data["tag"],
            strategy_id=StrategyId(data["strategy_id"]),
            external=bool(data["external"]),
        )
        order.status = OrderStatus(data["status"])
        order.venue_order_id = (
            None if data["venue_order_id"] is None else VenueOrderId(data["venue_order_id"])
        )
        order.filled_qty = int(data["filled_qty"])
        order.trade_qty = int(data["trade_qty"])
        order.filled_value = int(data["filled_value"])
        order.reported_filled_qty = int(data["reported_filled_qty"])
        order.reported_avg_price = fraction_from_text(data["reported_avg_price"])
        order.trade_ids = {TradeId(t) for t in data["trade_ids"]}
        order.reason = data["reason"]
        pending = data["pending_action"]
        order.pending_action = None if pending is None else PendingAction(pending)
        working = data["working_status"]
        order.working_status = None if working is None else OrderStatus(working)
        order.outcome_unknown = bool(data["outcome_unknown"])
        order.reconcile_reason = data["reconcile_reason"]
        order.created_ts = int(data["created_ts"])
        order.last_ts = int(data["last_ts"])
        order.last_venue_ts = int(data["last_venue_ts"])
        order.last_fill_ts = int(data["last_fill_ts"])
        order.history = [
            OrderHistoryEntry(int(ts), str(kind), OrderStatus(status))
            for ts, kind, status in data["history"]
        ]
        return order
