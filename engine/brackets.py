"""Brackets: an entry with a target and a stop-loss (maybe trailing) whose exits never both fill.

Zerodha stopped bracket orders because in fast markets *both* the target and the stop executed and
left traders with an unintended reverse position (research/trading-semantics.md §3). The design
rule here makes that impossible by construction:

    **At most one exit order is live at the exchange at any time, and its quantity is never more
    than the bracket's open position (every exit is reduce-only).**

* The target is the one resting exit: a LIMIT order, placed on the first entry fill and grown
  (modify to a new *total* quantity) as more of the entry fills. A partial target fill shrinks
  what is left to protect (nautilus' "one-updates-other").
* The stop is held by the bracket itself and evaluated on every quote (stop emulation). When the
  LTP reaches it, the bracket asks to cancel the target and *waits*; only once the target's cancel
  is confirmed (or it filled in full) does it place the stop exit, a protected MARKET order (or a
  marketable LIMIT, see :class:`StopExitType`) for the position that is still open. Whatever the
  target filled meanwhile is not exited again.
* Exits are sized to the *filled* entry quantity only. If the entry is still working when an exit
  is triggered, its remainder is cancelled; fills that arrive before that cancel lands are exited
  by a further exit once the current one is done (still one at a time).
* Time exit (N minutes after the first entry fill) and the intraday square-off (15:10 IST by
  default for MIS, as Angel One's ROBO orders) cancel the target first, then exit at MARKET.
* A target fill that closes the whole open position ends the bracket: a still-working entry
  remainder is cancelled (the trade idea is done, as with Angel's ROBO OCO).

Prices of ``POINTS``, ``PERCENT`` and ``ATR`` levels are measured from the *entry reference*: the
limit price of a LIMIT entry (so the levels are known when the bracket is submitted, as for ROBO
orders) or the first fill price of a MARKET entry. ``PERCENT`` and ``ATR`` offsets are rounded to
the nearest tick; the ATR used is the one passed to :meth:`BracketManager.submit` (or the latest
one seen with a quote of that instrument).

The machine is pure: no I/O, no asyncio. The core executes the returned actions, in order,
through its one order path (risk -> journal -> broker) and feeds back what happened with
:meth:`BracketManager.on_order_event`. For an order that is cancelled (or expires) the core passes
the venue's cumulative filled quantity (``OrderCancelled(filled_qty=...)``) so that fills still in
flight are counted before anything else is sized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from engine.clock import NS_PER_SECOND, ist_midnight_ns
from engine.models import ClientOrderId, OrderType, Product, Side
from engine.money import round_half_even, snap_to_tick

NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_DAY = 86_400 * NS_PER_SECOND
SQUARE_OFF_MIS = dtime(15, 10)
"""Default intraday square-off time (IST) for MIS brackets (Angel One ROBO: 15:10)."""

MAX_EXIT_REJECTS = 3
"""Exit orders refused in a row before the bracket stops retrying and asks for a human."""

MAX_CANCEL_REJECTS = 5
"""Cancel requests refused for one order before the bracket stops asking."""


class BracketError(ValueError):
    """A bracket request that cannot be honoured; the message says what was wrong and why."""


class BracketState(StrEnum):
    """Lifecycle of a bracket."""

    PENDING_ENTRY = "PENDING_ENTRY"  # entry working, nothing filled
    ACTIVE = "ACTIVE"  # some entry filled; target resting, stop emulated
    EXITING = "EXITING"  # an exit was triggered; unwinding one order at a time
    CLOSED = "CLOSED"  # entry filled and the position is flat again
    CANCELLED = "CANCELLED"  # nothing filled, or the user released the position unmanaged

    @property
    def is_terminal(self) -> bool:
        """True for CLOSED and CANCELLED."""
        return self in (BracketState.CLOSED, BracketState.CANCELLED)


class OrderRole(StrEnum):
    """What an order does for its bracket."""

    ENTRY = "entry"
    TARGET = "target"
    STOP = "stop"
    FLATTEN = "flatten"


class ExitKind(StrEnum):
    """How a stop or target level is given."""

    PRICE = "PRICE"  # an absolute price in price units
    POINTS = "POINTS"  # a distance from the entry reference in price units
    PERCENT = "PERCENT"  # a percentage of the entry reference, 0 < value < 100
    ATR = "ATR"  # a multiple of the instrument's current ATR


class ExitReason(StrEnum):
    """Why a bracket is exiting (or exited)."""

    TARGET = "TARGET"
    STOP = "STOP"
    TIME = "TIME"
    SQUARE_OFF = "SQUARE_OFF"
    CANCEL = "CANCEL"


class StopExitType(StrEnum):
    """Order type of the stop exit once the stop level is hit.

    MARKET: a MARKET order (the broker adapter applies its market protection). LIMIT: a marketable
    LIMIT at the LTP moved ``stop_limit_buffer`` against us, re-priced the same way on every quote
    that leaves it unmarketable (it chases; it never rests away from the market while the position
    is open). (An exchange SL order cannot be used:
    its trigger has already been crossed when the exit is placed, and brokers refuse a sell SL
    whose trigger is above the LTP.)
    """

    MARKET = "MARKET"
    LIMIT = "LIMIT"


def _to_decimal(value: int | str | Decimal, what: str) -> Decimal:
    if isinstance(value, float):
        raise BracketError(f"{what}: pass an int, str or Decimal, not a float ({value!r})")
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise BracketError(f"{what}: {value!r} is not a number") from None
    if not dec.is_finite():
        raise BracketError(f"{what}: {value!r} is not a finite number")
    return dec


@dataclass(frozen=True, slots=True)
class ExitLevel:
    """A stop or target level: a price, points, a percent, or an ATR multiple (see ExitKind)."""

    kind: ExitKind
    value: Decimal

    def __post_init__(self) -> None:
        value = _to_decimal(self.value, f"{self.kind.value} level")
        object.__setattr__(self, "value", value)
        if value <= 0:
            raise BracketError(f"a {self.kind.value} level must be positive, got {value}")
        if self.kind in (ExitKind.PRICE, ExitKind.POINTS) and value != value.to_integral_value():
            raise BracketError(
                f"a {self.kind.value} level is in integer price units (paise), got {value}"
            )
        if self.kind is ExitKind.PERCENT and value >= 100:
            raise BracketError(f"a PERCENT level must be below 100, got {value}")

    @classmethod
    def price(cls, units: int) -> ExitLevel:
        """An absolute price in price units."""
        return cls(ExitKind.PRICE, Decimal(units))

    @classmethod
    def points(cls, units: int) -> ExitLevel:
        """A distance from the entry reference, in price units."""
        return cls(ExitKind.POINTS, Decimal(units))

    @classmethod
    def percent(cls, value: int | str | Decimal) -> ExitLevel:
        """A percentage of the entry reference (``"1.5"`` is 1.5 %)."""
        return cls(ExitKind.PERCENT, _to_decimal(value, "PERCENT level"))

    @classmethod
    def atr(cls, multiple: int | str | Decimal) -> ExitLevel:
        """A multiple of the current ATR (``"2"`` is two ATRs)."""
        return cls(ExitKind.ATR, _to_decimal(multiple, "ATR level"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {"kind": self.kind.value, "value": str(self.value)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExitLevel:
        """Inverse of :meth:`to_dict`."""
        return cls(ExitKind(data["kind"]), Decimal(str(data["value"])))


@dataclass(frozen=True, slots=True, kw_only=True)
class BracketSpec:
    """What the trader asked for. Prices are price units, ``tick`` the instrument's tick size.

    ``entry_price`` is required for a LIMIT entry and must be ``None`` for MARKET. At least one of
    ``stop`` and ``target`` is required. ``trail_step`` (points, a tick multiple) makes the stop
    trail: every ``trail_step`` of favourable LTP move beyond the entry reference tightens it by
    ``trail_step``, never loosening. ``time_exit_minutes`` flattens that long after the first entry
    fill. ``square_off_at`` is an IST wall time; ``None`` means the product's default (15:10 for
    MIS, none otherwise).
    """

    token: str
    side: Side
    qty: int
    tick: int
    stop: ExitLevel | None = None
    target: ExitLevel | None = None
    entry_type: OrderType = OrderType.LIMIT
    entry_price: int | None = None
    product: Product = Product.MIS
    trail_step: int | None = None
    time_exit_minutes: int | None = None
    square_off_at: dtime | None = None
    stop_exit: StopExitType = StopExitType.MARKET
    stop_limit_buffer: int = 0
    max_exit_rejects: int = MAX_EXIT_REJECTS

    @property
    def exit_side(self) -> Side:
        """Side of every exit order."""
        return self.side.opposite

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "token": self.token,
            "side": self.side.value,
            "qty": self.qty,
            "tick": self.tick,
            "stop": None if self.stop is None else self.stop.to_dict(),
            "target": None if self.target is None else self.target.to_dict(),
            "entry_type": self.entry_type.value,
            "entry_price": self.entry_price,
            "product": self.product.value,
            "trail_step": self.trail_step,
            "time_exit_minutes": self.time_exit_minutes,
            "square_off_at": None if self.square_off_at is None else self.square_off_at.isoformat(),
            "stop_exit": self.stop_exit.value,
            "stop_limit_buffer": self.stop_limit_buffer,
            "max_exit_rejects": self.max_exit_rejects,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BracketSpec:
        """Inverse of :meth:`to_dict`."""
        sq = data.get("square_off_at")
        return cls(
            token=str(data["token"]),
            side=Side(data["side"]),
            qty=int(data["qty"]),
            tick=int(data["tick"]),
            stop=None if data.get("stop") is None else ExitLevel.from_dict(data["stop"]),
            target=None if data.get("target") is None else ExitLevel.from_dict(data["target"]),
            entry_type=OrderType(data["entry_type"]),
            entry_price=_opt_int(data.get("entry_price")),
            product=Product(data["product"]),
            trail_step=_opt_int(data.get("trail_step")),
            time_exit_minutes=_opt_int(data.get("time_exit_minutes")),
            square_off_at=None if sq is None else dtime.fromisoformat(sq),
            stop_exit=StopExitType(data.get("stop_exit", StopExitType.MARKET.value)),
            stop_limit_buffer=int(data.get("stop_limit_buffer", 0)),
            max_exit_rejects=int(data.get("max_exit_rejects", MAX_EXIT_REJECTS)),
        )


# ---------------------------------------------------------------------------------------------
# Events the core feeds in (about one of the bracket's orders)


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """Part (or all) of an order executed: ``qty`` more units at ``price``."""

    qty: int
    price: int


EntryFilled = OrderFilled
"""The contract's name for a fill of the entry order (the order id tells the role)."""


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    """The order (or its unfilled rest) was cancelled. ``filled_qty`` is the venue's cumulative
    filled quantity at that moment, when known; fills not yet delivered are then counted."""

    filled_qty: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderExpired:
    """The order's validity ran out (e.g. a DAY order at the close); like a cancel."""

    filled_qty: int | None = None


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The order was refused (by risk checks or the venue); nothing of it is working."""

    reason: str


@dataclass(frozen=True, slots=True)
class ModifyDone:
    """A modify was applied; ``qty`` is the order's new total quantity, ``price`` its price
    (``None``: the price that was asked for)."""

    qty: int
    price: int | None = None


@dataclass(frozen=True, slots=True)
class ModifyRejected:
    """A modify was refused; the order keeps its previous quantity."""

    reason: str


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """A cancel was refused; the order may still be working (or may have completed)."""

    reason: str


BracketOrderEvent = (
    OrderFilled
    | OrderCancelled
    | OrderExpired
    | OrderRejected
    | ModifyDone
    | ModifyRejected
    | CancelRejected
)
"""Any event about one of a bracket's orders."""


# ---------------------------------------------------------------------------------------------
# Actions the core executes


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    """Place a new order. Exits are ``reduce_only`` (never more than the open position)."""

    bracket_id: str
    role: OrderRole
    client_order_id: ClientOrderId
    token: str
    side: Side
    qty: int
    order_type: OrderType
    price: int | None
    trigger: int | None
    product: Product
    reduce_only: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyOrder:
    """Modify a working order: ``qty`` is the new *total* quantity (filled part included)."""

    bracket_id: str
    client_order_id: ClientOrderId
    qty: int
    price: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    """Cancel a working order (or its unfilled rest)."""

    bracket_id: str
    client_order_id: ClientOrderId


BracketAction = PlaceOrder | ModifyOrder | CancelOrder
"""Anything the bracket manager asks the core to do."""


# ---------------------------------------------------------------------------------------------
# State


@dataclass(slots=True)
class BracketOrder:
    """The bracket's view of one of its orders.

    ``qty`` is the confirmed total quantity (as placed, or after the last :class:`ModifyDone`);
    ``modify_qty`` a requested total still in flight. ``filled`` sums delivered fills,
    ``reported_filled`` is the venue's cumulative fill given with a cancel or expiry; the larger
    of the two counts. ``live`` is True from placement until the order is done.
    """

    client_order_id: ClientOrderId
    role: OrderRole
    side: Side
    qty: int
    order_type: OrderType
    price: int | None
    filled: int = 0
    reported_filled: int = 0
    filled_value: int = 0
    live: bool = True
    cancel_sent: bool = False
    cancel_rejects: int = 0
    modify_qty: int | None = None
    modify_price: int | None = None
    done_reason: str = ""

    @property
    def effective_filled(self) -> int:
        """Units of this order known to have executed."""
        return max(self.filled, self.reported_filled)

    @property
    def max_qty(self) -> int:
        """The largest total the venue may hold for this order (a modify may be in flight)."""
        return self.qty if self.modify_qty is None else max(self.qty, self.modify_qty)

    @property
    def is_exit(self) -> bool:
        """True for target, stop and flatten orders."""
        return self.role is not OrderRole.ENTRY

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "client_order_id": self.client_order_id,
            "role": self.role.value,
            "side": self.side.value,
            "qty": self.qty,
            "order_type": self.order_type.value,
            "price": self.price,
            "filled": self.filled,
            "reported_filled": self.reported_filled,
            "filled_value": self.filled_value,
            "live": self.live,
            "cancel_sent": self.cancel_sent,
            "cancel_rejects": self.cancel_rejects,
            "modify_qty": self.modify_qty,
            "modify_price": self.modify_price,
            "done_reason": self.done_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BracketOrder:
        """Inverse of :meth:`to_dict`."""
        return cls(
            client_order_id=ClientOrderId(str(data["client_order_id"])),
            role=OrderRole(data["role"]),
            side=Side(data["side"]),
            qty=int(data["qty"]),
            order_type=OrderType(data["order_type"]),
            price=_opt_int(data.get("price")),
            filled=int(data["filled"]),
            reported_filled=int(data["reported_filled"]),
            filled_value=int(data["filled_value"]),
            live=bool(data["live"]),
            cancel_sent=bool(data["cancel_sent"]),
            cancel_rejects=int(data.get("cancel_rejects", 0)),
            modify_qty=_opt_int(data.get("modify_qty")),
            modify_price=_opt_int(data.get("modify_price")),
            done_reason=str(data.get("done_reason", "")),
        )


@dataclass(slots=True)
class Bracket:
    """One bracket's state. Read it; only :class:`BracketManager` changes it.

    ``stop_price`` is the current (possibly trailed) stop, ``initial_stop`` where it started;
    ``ref_price`` the entry reference the levels were measured from. ``errors`` lists every
    refusal and anomaly in plain words, for the UI.
    """

    id: str
    spec: BracketSpec
    created_ts: int
    entry_id: ClientOrderId
    state: BracketState = BracketState.PENDING_ENTRY
    stop_offset: int | None = None
    target_offset: int | None = None
    ref_price: int | None = None
    stop_price: int | None = None
    initial_stop: int | None = None
    target_price: int | None = None
    best_ltp: int | None = None
    last_ltp: int | None = None
    first_fill_ts: int | None = None
    time_exit_ts: int | None = None
    square_off_ts: int | None = None
    exit_reason: ExitReason | None = None
    flatten: bool = True
    stop_hit_ltp: int | None = None
    target_id: ClientOrderId | None = None
    exit_id: ClientOrderId | None = None
    target_blocked: bool = False
    modify_blocked: bool = False
    hold: bool = False
    exit_rejects: int = 0
    closed_ts: int | None = None
    orders: dict[str, BracketOrder] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def entry(self) -> BracketOrder:
        """The entry order."""
        return self.orders[self.entry_id]

    @property
    def target(self) -> BracketOrder | None:
        """The current target order, if one was placed."""
        return None if self.target_id is None else self.orders[self.target_id]

    @property
    def exit_order(self) -> BracketOrder | None:
        """The current stop or flatten exit order, if one was placed."""
        return None if self.exit_id is None else self.orders[self.exit_id]

    @property
    def entry_filled(self) -> int:
        """Units of the entry that executed."""
        return self.entry.effective_filled

    @property
    def exit_filled(self) -> int:
        """Units of all exit orders that executed."""
        return sum(o.effective_filled for o in self.orders.values() if o.is_exit)

    @property
    def position(self) -> int:
        """Open units in the bracket's direction (entry filled minus exits filled)."""
        return self.entry_filled - self.exit_filled

    def live_exits(self) -> list[BracketOrder]:
        """Exit orders that are live (the design keeps this at most one)."""
        return [o for o in self.orders.values() if o.is_exit and o.live]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "id": self.id,
            "spec": self.spec.to_dict(),
            "created_ts": self.created_ts,
            "entry_id": self.entry_id,
            "state": self.state.value,
            "stop_offset": self.stop_offset,
            "target_offset": self.target_offset,
            "ref_price": self.ref_price,
            "stop_price": self.stop_price,
            "initial_stop": self.initial_stop,
            "target_price": self.target_price,
            "best_ltp": self.best_ltp,
            "last_ltp": self.last_ltp,
            "first_fill_ts": self.first_fill_ts,
            "time_exit_ts": self.time_exit_ts,
            "square_off_ts": self.square_off_ts,
            "exit_reason": None if self.exit_reason is None else self.exit_reason.value,
            "flatten": self.flatten,
            "stop_hit_ltp": self.stop_hit_ltp,
            "target_id": self.target_id,
            "exit_id": self.exit_id,
            "target_blocked": self.target_blocked,
            "modify_blocked": self.modify_blocked,
            "hold": self.hold,
            "exit_rejects": self.exit_rejects,
            "closed_ts": self.closed_ts,
            "orders": [o.to_dict() for o in self.orders.values()],
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bracket:
        """Inverse of :meth:`to_dict`."""
        reason = data.get("exit_reason")
        target_id = data.get("target_id")
        exit_id = data.get("exit_id")
        orders = [BracketOrder.from_dict(o) for o in data["orders"]]
        return cls(
            id=str(data["id"]),
            spec=BracketSpec.from_dict(data["spec"]),
            created_ts=int(data["created_ts"]),
            entry_id=ClientOrderId(str(data["entry_id"])),
            state=BracketState(data["state"]),
            stop_offset=_opt_int(data.get("stop_offset")),
            target_offset=_opt_int(data.get("target_offset")),
            ref_price=_opt_int(data.get("ref_price")),
            stop_price=_opt_int(data.get("stop_price")),
            initial_stop=_opt_int(data.get("initial_stop")),
            target_price=_opt_int(data.get("target_price")),
            best_ltp=_opt_int(data.get("best_ltp")),
            last_ltp=_opt_int(data.get("last_ltp")),
            first_fill_ts=_opt_int(data.get("first_fill_ts")),
            time_exit_ts=_opt_int(data.get("time_exit_ts")),
            square_off_ts=_opt_int(data.get("square_off_ts")),
            exit_reason=None if reason is None else ExitReason(reason),
            flatten=bool(data["flatten"]),
            stop_hit_ltp=_opt_int(data.get("stop_hit_ltp")),
            target_id=None if target_id is None else ClientOrderId(str(target_id)),
            exit_id=None if exit_id is None else ClientOrderId(str(exit_id)),
            target_blocked=bool(data["target_blocked"]),
            modify_blocked=bool(data["modify_blocked"]),
            hold=bool(data["hold"]),
            exit_rejects=int(data["exit_rejects"]),
            closed_ts=_opt_int(data.get("closed_ts")),
            orders={o.client_order_id: o for o in orders},
            errors=[str(e) for e in data.get("errors", [])],
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ---------------------------------------------------------------------------------------------
# Level arithmetic


def _check_tick_multiple(value: int, tick: int, what: str) -> None:
    if value % tick:
        low = value - value % tick
        raise BracketError(f"{what} {value} is not a multiple of the tick {tick}; use {low} or "
                           f"{low + tick}")


def _offset(level: ExitLevel, ref: int | None, atr: Fraction | None, tick: int, what: str) -> int:
    """Distance (price units, a tick multiple, at least one tick) of a non-PRICE level."""
    if level.kind is ExitKind.POINTS:
        points = int(level.value)
        _check_tick_multiple(points, tick, f"{what} points")
        return points
    if level.kind is ExitKind.PERCENT:
        if ref is None:
            raise AssertionError("a PERCENT level needs the entry reference")
        raw = Fraction(ref) * Fraction(level.value) / 100
    else:
        if atr is None:
            raise BracketError(
                f"{what} is {level.value} x ATR but no ATR is known for this instrument; pass the "
                "current ATR to submit (or with its quotes)"
            )
        raw = atr * Fraction(level.value)
    ticks = round_half_even(raw / tick)
    if ticks < 1:
        raise BracketError(
            f"{what} of {level.value} {level.kind.value} is {_units_text(raw)} price units, less "
            f"than one tick ({tick}); widen it"
        )
    return ticks * tick


def _units_text(value: Fraction) -> str:
    """Two-decimal text of an exact fraction (for messages)."""
    dec = Decimal(value.numerator) / Decimal(value.denominator)
    return str(dec.quantize(Decimal("0.01")))


def _level_price(sign: int, ref: int, offset: int, toward_loss: bool) -> int:
    """Price ``offset`` from ``ref``; on the loss side for stops, the profit side for targets."""
    return ref - sign * offset if toward_loss else ref + sign * offset


def _square_off_ts(spec: BracketSpec, ts: int) -> int | None:
    at = spec.square_off_at
    if at is None and spec.product is Product.MIS:
        at = SQUARE_OFF_MIS
    if at is None:
        return None
    when = ist_midnight_ns(ts) + (at.hour * 3600 + at.minute * 60 + at.second) * NS_PER_SECOND
    if ts >= when:
        if spec.product is Product.MIS:
            raise BracketError(
                f"an MIS bracket cannot start at or after its square-off time "
                f"{at.strftime('%H:%M')} IST; use a later square-off or a CNC/NRML product"
            )
        when += NS_PER_DAY
    return when


def validate_spec(spec: BracketSpec) -> None:
    """Raise :class:`BracketError` naming the first problem with ``spec`` (levels not resolved)."""
    if not spec.token:
        raise BracketError("a bracket needs the instrument token; got an empty token")
    if spec.qty <= 0:
        raise BracketError(f"quantity must be a positive number of units, got {spec.qty}")
    if spec.tick <= 0:
        raise BracketError(f"tick size must be a positive number of price units, got {spec.tick}")
    if spec.entry_type is OrderType.LIMIT:
        if spec.entry_price is None or spec.entry_price <= 0:
            raise BracketError(f"a LIMIT entry needs a positive price, got {spec.entry_price}")
        _check_tick_multiple(spec.entry_price, spec.tick, "entry price")
    elif spec.entry_type is OrderType.MARKET:
        if spec.entry_price is not None:
            raise BracketError("a MARKET entry takes no price; leave entry_price empty")
    else:
        raise BracketError(
            f"a bracket entry is LIMIT or MARKET, got {spec.entry_type.value}; use a plain "
            "stop order for stop entries"
        )
    if spec.stop is None and spec.target is None:
        raise BracketError("a bracket needs a stop-loss, a target, or both")
    for what, level in (("stop", spec.stop), ("target", spec.target)):
        if level is not None and level.kind is ExitKind.PRICE:
            _check_tick_multiple(int(level.value), spec.tick, f"{what} price")
    if spec.trail_step is not None:
        if spec.stop is None:
            raise BracketError("a trailing stop needs a stop-loss level to start from")
        if spec.trail_step <= 0:
            raise BracketError(f"trail step must be positive, got {spec.trail_step}")
        _check_tick_multiple(spec.trail_step, spec.tick, "trail step")
    if spec.time_exit_minutes is not None and spec.time_exit_minutes <= 0:
        raise BracketError(f"time exit must be a positive number of minutes, got "
                           f"{spec.time_exit_minutes}")
    if spec.stop_limit_buffer < 0:
        raise BracketError(f"stop limit buffer must be >= 0, got {spec.stop_limit_buffer}")
    _check_tick_multiple(spec.stop_limit_buffer, spec.tick, "stop limit buffer")
    if spec.max_exit_rejects < 1:
        raise BracketError(f"max_exit_rejects must be at least 1, got {spec.max_exit_rejects}")


# ---------------------------------------------------------------------------------------------
# The manager


class BracketManager:
    """Runs every bracket: takes quotes, clock ticks and order events, returns actions.

    ``id_factory`` makes client order ids (the core's generator, so ids are unique account-wide).
    Bracket ids are ``br-1``, ``br-2``, ... (the counter survives :meth:`to_dict`).
    """

    def __init__(self, id_factory: Callable[[], ClientOrderId]) -> None:
        self._id_factory = id_factory
        self._brackets: dict[str, Bracket] = {}
        self._by_order: dict[str, str] = {}
        self._by_token: dict[str, set[str]] = {}
        self._atr: dict[str, Fraction] = {}
        self._last_ltp: dict[str, int] = {}
        self._counter = 0
        self._now = 0

    # ------------------------------------------------------------------ queries

    def get(self, bracket_id: str) -> Bracket:
        """The bracket ``bracket_id``; :class:`BracketError` if there is none."""
        b = self._brackets.get(bracket_id)
        if b is None:
            raise BracketError(f"no bracket with id {bracket_id!r}")
        return b

    def brackets(self) -> Iterator[Bracket]:
        """All brackets, oldest first."""
        return iter(list(self._brackets.values()))

    def owns(self, client_order_id: str) -> bool:
        """True if the order belongs to a bracket (the core routes its events here)."""
        return client_order_id in self._by_order

    def bracket_of(self, client_order_id: str) -> Bracket:
        """The bracket an order belongs to."""
        bid = self._by_order.get(client_order_id)
        if bid is None:
            raise BracketError(f"order {client_order_id!r} belongs to no bracket")
        return self._brackets[bid]

    # ------------------------------------------------------------------ commands

    def submit(self, spec: BracketSpec, ts: int, atr: Fraction | int | None = None) -> list[
        BracketAction
    ]:
        """Validate ``spec`` and return the entry order to place (its ``bracket_id`` names the
        new bracket). ``atr`` (price units) is needed when a level is an ATR multiple."""
        validate_spec(spec)
        self._now = max(self._now, ts)
        atr_value = Fraction(atr) if atr is not None else self._atr.get(spec.token)
        if atr_value is not None and atr_value <= 0:
            raise BracketError(f"ATR must be positive, got {atr_value}")
        sign = spec.side.sign
        stop_offset = target_offset = None
        ref = spec.entry_price
        if ref is None:
            ref = self._last_ltp.get(spec.token)  # for validation only; MARKET uses the fill
        for what, level in (("stop", spec.stop), ("target", spec.target)):
            if level is None or level.kind is ExitKind.PRICE:
                continue
            if level.kind is ExitKind.PERCENT and ref is None:
                continue  # measured from the first fill of a MARKET entry
            off = _offset(level, ref, atr_value, spec.tick, what)
            if what == "stop":
                stop_offset = off
            else:
                target_offset = off
        if ref is not None:
            stop, target = self._levels(spec, ref, stop_offset, target_offset)
            if stop is not None and not (sign * stop < sign * ref):
                raise BracketError(
                    f"the stop {stop} must be {'below' if sign > 0 else 'above'} the entry "
                    f"reference {ref} for a {spec.side.value} bracket"
                )
            if target is not None and not (sign * target > sign * ref):
                raise BracketError(
                    f"the target {target} must be {'above' if sign > 0 else 'below'} the entry "
                    f"reference {ref} for a {spec.side.value} bracket"
                )
            for what, price in (("stop", stop), ("target", target)):
                if price is not None and price <= 0:
                    raise BracketError(f"the {what} resolves to {price}, which is not a price")
        if spec.entry_type is OrderType.MARKET:
            # PERCENT offsets are measured from the fill; keep only what is fixed now.
            if spec.stop is not None and spec.stop.kind is ExitKind.PERCENT:
                stop_offset = None
            if spec.target is not None and spec.target.kind is ExitKind.PERCENT:
                target_offset = None
        square_off = _square_off_ts(spec, ts)
        self._counter += 1
        bid = f"br-{self._counter}"
        while bid in self._brackets:
            self._counter += 1
            bid = f"br-{self._counter}"
        coid = self._id_factory()
        entry = BracketOrder(
            client_order_id=coid,
            role=OrderRole.ENTRY,
            side=spec.side,
            qty=spec.qty,
            order_type=spec.entry_type,
            price=spec.entry_price,
        )
        b = Bracket(
            id=bid,
            spec=spec,
            created_ts=ts,
            entry_id=coid,
            stop_offset=stop_offset,
            target_offset=target_offset,
            square_off_ts=square_off,
            last_ltp=self._last_ltp.get(spec.token),
        )
        b.orders[coid] = entry
        self._brackets[bid] = b
        self._by_order[coid] = bid
        self._by_token.setdefault(spec.token, set()).add(bid)
        return [
            PlaceOrder(
                bracket_id=bid,
                role=OrderRole.ENTRY,
                client_order_id=coid,
                token=spec.token,
                side=spec.side,
                qty=spec.qty,
                order_type=spec.entry_type,
                price=spec.entry_price,
                trigger=None,
                product=spec.product,
                reduce_only=False,
            )
        ]

    def cancel(self, bracket_id: str, ts: int, *, flatten: bool = False) -> list[BracketAction]:
        """Stop a bracket: cancel the entry remainder and the target; with ``flatten`` also exit
        the open position at MARKET (CLOSED when flat). Without ``flatten`` an open position is
        released to the trader, unmanaged (CANCELLED). ``flatten`` also retries a stuck exit."""
        b = self.get(bracket_id)
        self._now = max(self._now, ts)
        out: list[BracketAction] = []
        if b.state.is_terminal:
            return out
        if b.exit_reason is None:
            b.exit_reason = ExitReason.CANCEL
            b.flatten = flatten
        elif flatten:
            b.flatten = True
            b.exit_rejects = 0
        self._drive(b, out, ts, fresh=True)
        return out

    def on_quote(
        self, token: str, ltp: int, ts: int, atr: Fraction | int | None = None
    ) -> list[BracketAction]:
        """Feed a quote: trail and check stops, check time exits, re-send what waits for a tick.

        ``atr`` (price units), when given, is remembered for later ATR-based brackets.
        """
        self._now = max(self._now, ts)
        self._last_ltp[token] = ltp
        if atr is not None:
            self._atr[token] = Fraction(atr)
        ids = self._by_token.get(token)
        if not ids:
            return []
        out: list[BracketAction] = []
        for bid in sorted(ids):
            b = self._brackets[bid]
            b.last_ltp = ltp
            if b.state is BracketState.ACTIVE and b.exit_reason is None and b.position > 0:
                self._trail(b, ltp)
                stop = b.stop_price
                if stop is not None and b.spec.side.sign * (ltp - stop) <= 0:
                    b.exit_reason = ExitReason.STOP
                    b.stop_hit_ltp = ltp
            self._check_clock(b, ts)
            self._drive(b, out, ts, fresh=True)
            self._chase(b, ltp, out)
        return out

    def on_time(self, ts: int) -> list[BracketAction]:
        """Feed the clock: time exits and square-offs that are due; re-sends after refusals."""
        self._now = max(self._now, ts)
        out: list[BracketAction] = []
        for b in list(self._brackets.values()):
            if b.state.is_terminal:
                continue
            self._check_clock(b, ts)
            self._drive(b, out, ts, fresh=True)
        return out

    def on_order_event(
        self, client_order_id: str, event: BracketOrderEvent, ts: int | None = None
    ) -> list[BracketAction]:
        """Feed what happened to one of the bracket's orders; return the follow-up actions.

        ``ts`` defaults to the latest time the manager has seen.
        """
        b = self.bracket_of(client_order_id)
        now = self._now if ts is None else ts
        self._now = max(self._now, now)
        o = b.orders[client_order_id]
        out: list[BracketAction] = []
        if isinstance(event, OrderFilled):
            self._on_fill(b, o, event, now)
        elif isinstance(event, OrderCancelled | OrderExpired):
            self._on_cancelled(b, o, event)
        elif isinstance(event, OrderRejected):
            self._on_reject(b, o, event.reason)
        elif isinstance(event, ModifyDone):
            o.qty = event.qty
            if event.price is not None:
                o.price = event.price
            elif o.modify_price is not None:
                o.price = o.modify_price
            o.modify_qty = o.modify_price = None
            self._settle_live(o)
        elif isinstance(event, ModifyRejected):
            o.modify_qty = o.modify_price = None
            b.modify_blocked = True
            b.errors.append(f"{o.role.value} modify refused: {event.reason}")
            self._settle_live(o)
        else:  # CancelRejected
            o.cancel_sent = False
            o.cancel_rejects += 1
            b.hold = True
            b.errors.append(f"{o.role.value} cancel refused: {event.reason}")
        self._check_anomalies(b)
        if b.state.is_terminal and b.position > 0:
            self._reopen(b)
        self._drive(b, out, now, fresh=False)
        return out

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """All brackets and the manager's memory (ATR, last LTP) as plain JSON-able data."""
        return {
            "version": 1,
            "counter": self._counter,
            "now": self._now,
            "atr": {k: [v.numerator, v.denominator] for k, v in self._atr.items()},
            "last_ltp": dict(self._last_ltp),
            "brackets": [b.to_dict() for b in self._brackets.values()],
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], id_factory: Callable[[], ClientOrderId]
    ) -> BracketManager:
        """Rebuild a manager from :meth:`to_dict` data."""
        if data.get("version") != 1:
            raise BracketError(f"unknown bracket data version {data.get('version')!r}; expected 1")
        m = cls(id_factory)
        m._counter = int(data["counter"])
        m._now = int(data.get("now", 0))
        m._atr = {k: Fraction(int(v[0]), int(v[1])) for k, v in data.get("atr", {}).items()}
        m._last_ltp = {k: int(v) for k, v in data.get("last_ltp", {}).items()}
        for raw in data["brackets"]:
            b = Bracket.from_dict(raw)
            m._brackets[b.id] = b
            for coid in b.orders:
                m._by_order[coid] = b.id
            if not b.state.is_terminal:
                m._by_token.setdefault(b.spec.token, set()).add(b.id)
        return m

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _levels(
        spec: BracketSpec, ref: int, stop_offset: int | None, target_offset: int | None
    ) -> tuple[int | None, int | None]:
        sign = spec.side.sign
        stop = target = None
        if spec.stop is not None:
            if spec.stop.kind is ExitKind.PRICE:
                stop = int(spec.stop.value)
            elif stop_offset is not None:
                stop = _level_price(sign, ref, stop_offset, toward_loss=True)
        if spec.target is not None:
            if spec.target.kind is ExitKind.PRICE:
                target = int(spec.target.value)
            elif target_offset is not None:
                target = _level_price(sign, ref, target_offset, toward_loss=False)
        return stop, target

    def _resolve_levels(self, b: Bracket, fill_price: int) -> None:
        """Fix the stop and target prices at the first entry fill."""
        spec = b.spec
        ref = spec.entry_price if spec.entry_price is not None else fill_price
        b.ref_price = ref
        for what, level in (("stop", spec.stop), ("target", spec.target)):
            if level is None or level.kind is not ExitKind.PERCENT:
                continue
            raw = Fraction(ref) * Fraction(level.value) / 100
            off = max(1, round_half_even(raw / spec.tick)) * spec.tick
            if what == "stop" and b.stop_offset is None:
                b.stop_offset = off
            elif what == "target" and b.target_offset is None:
                b.target_offset = off
        stop, target = self._levels(spec, ref, b.stop_offset, b.target_offset)
        if stop is not None and stop <= 0:
            stop = spec.tick
        if target is not None and target <= 0:
            target = spec.tick
        b.stop_price = b.initial_stop = stop
        b.target_price = target
        b.best_ltp = ref
        sign = spec.side.sign
        if stop is not None and sign * (stop - fill_price) >= 0:
            b.errors.append(f"the stop {stop} is past the first fill {fill_price}: it triggers "
                            "on the next quote")
        if target is not None and sign * (target - fill_price) <= 0:
            b.errors.append(f"the target {target} is past the first fill {fill_price}: it is "
                            "marketable and exits at once")

    def _trail(self, b: Bracket, ltp: int) -> None:
        step = b.spec.trail_step
        if step is None or b.stop_price is None or b.initial_stop is None:
            return
        assert b.ref_price is not None and b.best_ltp is not None
        sign = b.spec.side.sign
        if sign * (ltp - b.best_ltp) <= 0:
            return
        b.best_ltp = ltp
        moves = sign * (ltp - b.ref_price) // step
        if moves <= 0:
            return
        candidate = b.initial_stop + sign * moves * step
        if sign * (candidate - b.stop_price) > 0:
            b.stop_price = candidate

    def _check_clock(self, b: Bracket, ts: int) -> None:
        if b.exit_reason is not None or b.state.is_terminal:
            return
        if b.square_off_ts is not None and ts >= b.square_off_ts:
            b.exit_reason = ExitReason.SQUARE_OFF
        elif b.time_exit_ts is not None and ts >= b.time_exit_ts:
            b.exit_reason = ExitReason.TIME

    def _on_fill(self, b: Bracket, o: BracketOrder, event: OrderFilled, ts: int) -> None:
        if event.qty <= 0:
            b.errors.append(f"ignored a fill of {event.qty} units on the {o.role.value} order")
            return
        was_filled = b.entry_filled
        o.filled += event.qty
        o.filled_value += event.qty * event.price
        if o.filled > o.max_qty:
            b.errors.append(
                f"{o.role.value} order filled {o.filled} of {o.max_qty}: the venue overfilled it"
            )
        self._settle_live(o)
        if o.role is OrderRole.ENTRY:
            if was_filled == 0 and b.ref_price is None:
                b.first_fill_ts = ts
                self._resolve_levels(b, event.price)
                minutes = b.spec.time_exit_minutes
                if minutes is not None:
                    b.time_exit_ts = ts + minutes * NS_PER_MINUTE
            if b.state is BracketState.PENDING_ENTRY:
                b.state = BracketState.ACTIVE
            b.target_blocked = False
            b.modify_blocked = False
        elif o.role is not OrderRole.TARGET:
            b.exit_rejects = 0

    def _on_cancelled(
        self, b: Bracket, o: BracketOrder, event: OrderCancelled | OrderExpired
    ) -> None:
        was_live = o.live
        o.live = False
        if event.filled_qty is not None:
            o.reported_filled = max(o.reported_filled, event.filled_qty)
        o.done_reason = event.reason if isinstance(event, OrderCancelled) else "expired"
        o.modify_qty = o.modify_price = None
        if not was_live or o.cancel_sent:
            return  # our own cancel (entry rest, target), or a repeat
        # Cancelled or expired without our asking (at the broker, by market protection, at EOD).
        if o.role is OrderRole.TARGET:
            b.target_blocked = True  # not re-placed until the entry fills again
            what = "cancelled" if isinstance(event, OrderCancelled) else "expired"
            b.errors.append(f"target {what} outside the bracket; not re-placed until the entry "
                            "fills again (the stop still protects)")
        elif o.is_exit and o.effective_filled == 0:
            # Counted like a refusal: retried on the next tick, at most max_exit_rejects times.
            b.exit_rejects += 1
            b.hold = True
            b.errors.append(f"{o.role.value} exit {o.done_reason or 'cancelled'} unfilled")

    def _on_reject(self, b: Bracket, o: BracketOrder, reason: str) -> None:
        o.live = False
        o.modify_qty = o.modify_price = None
        o.done_reason = reason
        b.errors.append(f"{o.role.value} order refused: {reason}")
        if o.role is OrderRole.TARGET:
            b.target_blocked = True
        elif o.role is not OrderRole.ENTRY:
            b.exit_rejects += 1
            b.hold = True
            if b.exit_rejects >= b.spec.max_exit_rejects:
                b.errors.append(
                    f"exit refused {b.exit_rejects} times; {b.position} units are still open: "
                    "exit them by hand (or cancel the bracket with flatten to retry)"
                )

    @staticmethod
    def _settle_live(o: BracketOrder) -> None:
        if o.live and o.effective_filled >= o.max_qty:
            o.live = False
            o.done_reason = o.done_reason or "filled"

    def _reopen(self, b: Bracket) -> None:
        """A fill arrived after the bracket ended (a fill in flight past a cancel the venue did
        not count): manage the position again, unless the trader released it."""
        if not b.flatten:
            b.errors.append(
                f"a fill arrived after the bracket was cancelled: {b.position} units are open "
                "and unmanaged"
            )
            return
        b.errors.append(f"a fill arrived after the bracket ended: {b.position} units open again")
        b.state = BracketState.ACTIVE if b.exit_reason is None else BracketState.EXITING
        b.closed_ts = None
        self._by_token.setdefault(b.spec.token, set()).add(b.id)

    def _check_anomalies(self, b: Bracket) -> None:
        pos = b.position
        if pos < 0:
            msg = (
                f"exits filled {-pos} units more than the entry: the account holds an opposite "
                "position; check it at the broker"
            )
            if not b.errors or b.errors[-1] != msg:
                b.errors.append(msg)

    def _new_order(
        self,
        b: Bracket,
        out: list[BracketAction],
        role: OrderRole,
        qty: int,
        order_type: OrderType,
        price: int | None,
    ) -> BracketOrder:
        coid = self._id_factory()
        if coid in self._by_order:
            raise BracketError(f"the id factory repeated client order id {coid!r}")
        side = b.spec.exit_side
        o = BracketOrder(
            client_order_id=coid,
            role=role,
            side=side,
            qty=qty,
            order_type=order_type,
            price=price,
        )
        b.orders[coid] = o
        self._by_order[coid] = b.id
        out.append(
            PlaceOrder(
                bracket_id=b.id,
                role=role,
                client_order_id=coid,
                token=b.spec.token,
                side=side,
                qty=qty,
                order_type=order_type,
                price=price,
                trigger=None,
                product=b.spec.product,
                reduce_only=True,
            )
        )
        return o

    def _cancel(self, b: Bracket, o: BracketOrder, out: list[BracketAction]) -> None:
        if not o.live or o.cancel_sent or b.hold:
            return
        if o.cancel_rejects >= MAX_CANCEL_REJECTS:
            return
        o.cancel_sent = True
        out.append(CancelOrder(bracket_id=b.id, client_order_id=o.client_order_id))

    def _keep_target(self, b: Bracket, out: list[BracketAction]) -> None:
        """Keep the resting target sized to the open position (grow only)."""
        if b.target_price is None:
            return
        pos = b.position
        t = b.target
        if t is None or not t.live:
            if not b.target_blocked and pos > 0:
                t = self._new_order(b, out, OrderRole.TARGET, pos, OrderType.LIMIT, b.target_price)
                b.target_id = t.client_order_id
            return
        want = t.effective_filled + pos
        if t.modify_qty is None and want > t.qty and not b.modify_blocked and not t.cancel_sent:
            t.modify_qty = want
            out.append(
                ModifyOrder(
                    bracket_id=b.id, client_order_id=t.client_order_id, qty=want, price=t.price
                )
            )

    @staticmethod
    def _marketable_price(spec: BracketSpec, ltp: int) -> int:
        """A limit for an exit at ``ltp`` moved ``stop_limit_buffer`` against us, on the tick."""
        if spec.exit_side is Side.SELL:
            price = snap_to_tick(ltp - spec.stop_limit_buffer, spec.tick, mode="down")
        else:
            price = snap_to_tick(ltp + spec.stop_limit_buffer, spec.tick, mode="up")
        return max(price, spec.tick)

    def _chase(self, b: Bracket, ltp: int, out: list[BracketAction]) -> None:
        """Re-price a LIMIT stop exit the market has left behind (one modify in flight)."""
        x = b.exit_order
        if (
            x is None
            or not x.live
            or x.order_type is not OrderType.LIMIT
            or x.price is None
            or x.cancel_sent
            or x.modify_qty is not None
            or b.hold
        ):
            return
        if x.side.sign * (x.price - ltp) >= 0:
            return  # a buy at or above the LTP, a sell at or below it: still marketable
        price = self._marketable_price(b.spec, ltp)
        x.modify_qty = x.qty
        x.modify_price = price
        out.append(
            ModifyOrder(bracket_id=b.id, client_order_id=x.client_order_id, qty=x.qty, price=price)
        )

    def _exit_order_type(self, b: Bracket) -> tuple[OrderType, int | None]:
        spec = b.spec
        if (
            b.exit_reason is not ExitReason.STOP
            or spec.stop_exit is StopExitType.MARKET
            or b.last_ltp is None
        ):
            return OrderType.MARKET, None
        return OrderType.LIMIT, self._marketable_price(spec, b.last_ltp)

    def _finish(self, b: Bracket, state: BracketState, ts: int) -> None:
        b.state = state
        b.closed_ts = ts
        ids = self._by_token.get(b.spec.token)
        if ids is not None:
            ids.discard(b.id)
            if not ids:
                del self._by_token[b.spec.token]

    def _drive(self, b: Bracket, out: list[BracketAction], ts: int, *, fresh: bool) -> None:
        """Move the bracket toward its goal; ``fresh`` (a quote or clock tick) lifts the hold
        that follows a refusal, so refused requests are retried at most once per tick."""
        if fresh:
            b.hold = False
        if b.state.is_terminal:
            return
        entry = b.entry
        pos = b.position
        if b.exit_reason is None:
            if b.state is BracketState.PENDING_ENTRY:
                if not entry.live:
                    self._finish(b, BracketState.CANCELLED, ts)
                return
            if pos > 0:
                self._keep_target(b, out)
                return
            if pos == 0 and not entry.live:
                b.exit_reason = ExitReason.TARGET
                self._finish(b, BracketState.CLOSED, ts)
                return
            # The target took out everything filled so far while the entry is still working.
            b.exit_reason = ExitReason.TARGET
        b.state = BracketState.EXITING
        self._cancel(b, entry, out)
        t = b.target
        if t is not None and t.live:
            self._cancel(b, t, out)
            return  # wait: no other exit while the target may still fill
        x = b.exit_order
        if x is not None and x.live:
            return
        if pos > 0:
            if not b.flatten:
                if not entry.live:
                    b.errors.append(
                        f"cancelled with {pos} units open: the position is no longer managed"
                    )
                    self._finish(b, BracketState.CANCELLED, ts)
                return
            if b.hold or b.exit_rejects >= b.spec.max_exit_rejects:
                return
            role = OrderRole.STOP if b.exit_reason is ExitReason.STOP else OrderRole.FLATTEN
            order_type, price = self._exit_order_type(b)
            x = self._new_order(b, out, role, pos, order_type, price)
            b.exit_id = x.client_order_id
            return
        if not entry.live:
            filled = b.entry_filled > 0
            self._finish(b, BracketState.CLOSED if filled else BracketState.CANCELLED, ts)


__all__ = [
    "MAX_CANCEL_REJECTS",
    "MAX_EXIT_REJECTS",
    "SQUARE_OFF_MIS",
    "Bracket",
    "BracketAction",
    "BracketError",
    "BracketManager",
    "BracketOrder",
    "BracketOrderEvent",
    "BracketSpec",
    "BracketState",
    "CancelOrder",
    "CancelRejected",
    "EntryFilled",
    "ExitKind",
    "ExitLevel",
    "ExitReason",
    "ModifyDone",
    "ModifyOrder",
    "ModifyRejected",
    "OrderCancelled",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderRole",
    "PlaceOrder",
    "StopExitType",
    "validate_spec",
]
