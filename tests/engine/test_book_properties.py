"""Property tests of the matching book over random op sequences.

The centrepiece is a tiny, obviously-correct reference model (linear scans, a global sequence
number for time priority, ``copy.deepcopy`` for the FOK dry run) that the real book must agree
with event for event, and view for view, after every operation. Invariants are checked on their
own too: never crossed, quantity conserved, fills at the maker's price, FOK never partial.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.book import (
    Accepted,
    BookConfig,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    MarketRemainder,
    Modified,
    OrderBook,
    Rejected,
    StpMode,
    Triggered,
)
from engine.models import (
    DepthLevel,
    Exchange,
    Instrument,
    InstrumentType,
    OrderType,
    Side,
    Validity,
)

TICK = 5
BASE = 10_000
INSTRUMENT = Instrument(
    token="1",
    exchange=Exchange.NSE,
    symbol="PROP-EQ",
    name="PROP",
    instrument_type=InstrumentType.EQUITY,
    lot_size=1,
    tick_size=TICK,
)

# ---------------------------------------------------------------------------------------------
# The reference model


@dataclass
class RefOrder:
    """A resting order in the reference model."""

    oid: int
    account: int
    is_buy: bool
    price: int
    qty: int
    leaves: int
    shown: int
    disclosed: int
    seq: int


@dataclass
class RefStop:
    """A stop waiting for its trigger in the reference model."""

    oid: int
    account: int
    is_buy: bool
    order_type: OrderType
    qty: int
    price: int
    trigger: int
    validity: Validity
    disclosed: int
    seq: int
    pending: bool = False


Norm = tuple[Any, ...]


@dataclass
class RefBook:
    """Price-time priority by brute force: the best maker is ``min`` over a list scan."""

    bps: int
    remainder: MarketRemainder
    stp: StpMode
    orders: dict[int, RefOrder] = field(default_factory=dict)
    stops: dict[int, RefStop] = field(default_factory=dict)
    pending: list[RefStop] = field(default_factory=list)
    seq: int = 0
    stop_seq: int = 0
    trade_id: int = 1
    last: int = 0
    last_qty: int = 0
    volume: int = 0
    turnover: int = 0
    high: int = 0
    low: int = 0
    open: int = 0
    ref: int = 0

    def best(self, is_buy: bool) -> int:
        prices = [o.price for o in self.orders.values() if o.is_buy == is_buy]
        if not prices:
            return 0
        return max(prices) if is_buy else min(prices)

    def protection(self, is_buy: bool) -> int:
        ref = self.last or self.ref or self.best(not is_buy)
        if is_buy:
            price = ref * (10_000 + self.bps) // 10_000
            price = price // TICK * TICK
        else:
            numerator = ref * (10_000 - self.bps)
            price = -(-numerator // 10_000)
            price = -(-price // TICK) * TICK
        return max(price, TICK)

    # -- entry points ---------------------------------------------------------------------

    def submit(
        self,
        oid: int,
        account: int,
        side: Side,
        qty: int,
        order_type: OrderType,
        price: int,
        trigger: int,
        validity: Validity,
        disclosed: int,
    ) -> list[Norm]:
        is_buy = side is Side.BUY
        if order_type in (OrderType.SL, OrderType.SL_M):
            if order_type is OrderType.SL and (
                (is_buy and trigger > price) or (not is_buy and trigger < price)
            ):
                return [("Rejected", oid)]
            if self.last and (trigger <= self.last if is_buy else trigger >= self.last):
                return [("Rejected", oid)]
            self.stop_seq += 1
            self.stops[oid] = RefStop(
                oid,
                account,
                is_buy,
                order_type,
                qty,
                price,
                trigger,
                validity,
                disclosed,
                self.stop_seq,
            )
            return [("Accepted", oid)]
        if order_type is OrderType.MARKET:
            if not (self.last or self.ref or self.best(not is_buy)):
                return [("Rejected", oid)]
            limit = self.protection(is_buy)
        else:
            limit = price
        events: list[Norm] = []
        self.execute(
            oid,
            account,
            is_buy,
            qty,
            qty,
            limit,
            validity,
            disclosed,
            order_type is OrderType.MARKET,
            True,
            events,
        )
        self.run_triggers(events)
        return events

    def cancel(self, oid: int) -> list[Norm]:
        if oid in self.orders:
            order = self.orders.pop(oid)
            return [("Cancelled", oid, order.leaves)]
        if oid in self.stops:
            stop = self.stops.pop(oid)
            return [("Cancelled", oid, stop.qty)]
        return [("Rejected", oid)]

    def modify(
        self, oid: int, qty: int | None, price: int | None, trigger: int | None
    ) -> list[Norm]:
        if oid in self.stops:
            stop = self.stops[oid]
            if qty is not None and stop.disclosed and stop.disclosed * 10 < qty:
                return [("Rejected", oid)]
            if price is not None and stop.order_type is OrderType.SL_M:
                return [("Rejected", oid)]
            new_qty = stop.qty if qty is None else qty
            new_price = stop.price if price is None else price
            new_trigger = stop.trigger if trigger is None else trigger
            if price is not None or trigger is not None:
                if stop.order_type is OrderType.SL and (
                    (stop.is_buy and new_trigger > new_price)
                    or (not stop.is_buy and new_trigger < new_price)
                ):
                    return [("Rejected", oid)]
                if self.last and (
                    new_trigger <= self.last if stop.is_buy else new_trigger >= self.last
                ):
                    return [("Rejected", oid)]
            if new_price == stop.price and new_trigger == stop.trigger and new_qty <= stop.qty:
                stop.qty = new_qty
            else:
                del self.stops[oid]
                self.stop_seq += 1
                self.stops[oid] = RefStop(
                    oid,
                    stop.account,
                    stop.is_buy,
                    stop.order_type,
                    new_qty,
                    new_price,
                    new_trigger,
                    stop.validity,
                    stop.disclosed,
                    self.stop_seq,
                )
            return [("Modified", oid, new_qty, new_price, new_trigger)]
        if oid not in self.orders:
            return [("Rejected", oid)]
        order = self.orders[oid]
        filled = order.qty - order.leaves
        if qty is not None and (qty <= filled or 0 < order.disclosed * 10 < qty):
            return [("Rejected", oid)]
        if trigger is not None:
            return [("Rejected", oid)]
        new_qty = order.qty if qty is None else qty
        new_price = order.price if price is None else price
        new_leaves = order.leaves + new_qty - order.qty
        events: list[Norm] = [("Modified", oid, new_qty, new_price, 0)]
        if new_price == order.price and new_qty <= order.qty:
            order.qty = new_qty
            order.leaves = new_leaves
            order.shown = min(order.shown, new_leaves)
            return events
        del self.orders[oid]
        self.execute(
            oid,
            order.account,
            order.is_buy,
            new_qty,
            new_leaves,
            new_price,
            Validity.DAY,
            order.disclosed,
            False,
            False,
            events,
        )
        self.run_triggers(events)
        return events

    # -- matching ---------------------------------------------------------------------------

    def execute(
        self,
        oid: int,
        account: int,
        is_buy: bool,
        qty: int,
        leaves: int,
        limit: int,
        validity: Validity,
        disclosed: int,
        is_market: bool,
        announce: bool,
        events: list[Norm],
    ) -> None:
        if validity is Validity.FOK:
            dry = copy.deepcopy(self)
            remaining, _ = dry.match(oid, account, is_buy, limit, leaves, [])
            if remaining:
                events.append(("Cancelled", oid, leaves))
                return
        remaining, halted = self.match(oid, account, is_buy, limit, leaves, events)
        if not remaining:
            return
        market_cancel = is_market and self.remainder is MarketRemainder.CANCEL
        if halted or validity is not Validity.DAY or market_cancel:
            events.append(("Cancelled", oid, remaining))
        else:
            if announce:
                events.append(("Accepted", oid))
            self.seq += 1
            shown = min(disclosed, remaining) if disclosed else remaining
            self.orders[oid] = RefOrder(
                oid, account, is_buy, limit, qty, remaining, shown, disclosed, self.seq
            )

    def match(
        self, oid: int, account: int, is_buy: bool, limit: int, remaining: int, events: list[Norm]
    ) -> tuple[int, bool]:
        side = Side.BUY if is_buy else Side.SELL
        while remaining:
            makers = [
                o
                for o in self.orders.values()
                if o.is_buy != is_buy and (o.price <= limit if is_buy else o.price >= limit)
            ]
            if not makers:
                return remaining, False
            maker = min(makers, key=lambda o: (o.price if is_buy else -o.price, o.seq))
            if account and maker.account == account:
                if self.stp is StpMode.CANCEL_NEWEST:
                    return remaining, True
                del self.orders[maker.oid]
                events.append(("Cancelled", maker.oid, maker.leaves))
                if self.stp is StpMode.CANCEL_BOTH:
                    return remaining, True
                continue
            qty = min(remaining, maker.shown)
            remaining -= qty
            maker.leaves -= qty
            maker.shown -= qty
            events.append(
                (
                    "Fill",
                    self.trade_id,
                    maker.price,
                    qty,
                    side,
                    maker.oid,
                    oid,
                    maker.account,
                    account,
                    maker.leaves,
                    remaining,
                )
            )
            self.trade_id += 1
            self.last = maker.price
            self.last_qty = qty
            self.volume += qty
            self.turnover += qty * maker.price
            if not self.open:
                self.open = self.high = self.low = maker.price
            self.high = max(self.high, maker.price)
            self.low = min(self.low, maker.price)
            if not maker.shown:
                if maker.leaves:
                    maker.shown = min(maker.disclosed, maker.leaves)
                    self.seq += 1
                    maker.seq = self.seq  # the refill joins the back
                else:
                    del self.orders[maker.oid]
            self.collect(maker.price)
        return remaining, False

    def collect(self, price: int) -> None:
        buys = sorted(
            (s for s in self.stops.values() if s.is_buy and not s.pending and s.trigger <= price),
            key=lambda s: (s.trigger, s.seq),
        )
        sells = sorted(
            (
                s
                for s in self.stops.values()
                if not s.is_buy and not s.pending and s.trigger >= price
            ),
            key=lambda s: (-s.trigger, s.seq),
        )
        for stop in [*buys, *sells]:
            stop.pending = True
            self.pending.append(stop)

    def run_triggers(self, events: list[Norm]) -> None:
        while self.pending:
            stop = self.pending.pop(0)
            del self.stops[stop.oid]
            events.append(("Triggered", stop.oid))
            if stop.order_type is OrderType.SL:
                limit, is_market = stop.price, False
            else:
                limit, is_market = self.protection(stop.is_buy), True
            self.execute(
                stop.oid,
                stop.account,
                stop.is_buy,
                stop.qty,
                stop.qty,
                limit,
                stop.validity,
                stop.disclosed,
                is_market,
                False,
                events,
            )

    # -- views ------------------------------------------------------------------------------

    def depth(self) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
        out = []
        for is_buy in (True, False):
            levels: dict[int, list[int]] = {}
            for o in self.orders.values():
                if o.is_buy == is_buy:
                    qty_count = levels.setdefault(o.price, [0, 0])
                    qty_count[0] += o.shown
                    qty_count[1] += 1
            prices = sorted(levels, reverse=is_buy)
            out.append(tuple(DepthLevel(p, *levels[p]) for p in prices))
        return out[0], out[1]

    def leaves(self, oid: int) -> int:
        if oid in self.orders:
            return self.orders[oid].leaves
        if oid in self.stops:
            return self.stops[oid].qty
        return 0


def normalize(events: list[BookEvent]) -> list[Norm]:
    """The real book's events in the reference model's shape (reasons and ts left out)."""
    out: list[Norm] = []
    for e in events:
        if isinstance(e, Fill):
            out.append(
                (
                    "Fill",
                    e.trade_id,
                    e.price,
                    e.qty,
                    e.aggressor,
                    e.maker_id,
                    e.taker_id,
                    e.maker_account,
                    e.taker_account,
                    e.maker_leaves,
                    e.taker_leaves,
                )
            )
        elif isinstance(e, Cancelled):
            out.append(("Cancelled", e.order_id, e.leaves_qty))
        elif isinstance(e, Modified):
            out.append(("Modified", e.order_id, e.qty, e.price, e.trigger))
        else:
            out.append((type(e).__name__, e.order_id))
    return out


# ---------------------------------------------------------------------------------------------
# Random op sequences

PRICES = st.integers(min_value=-5, max_value=5).map(lambda k: BASE + TICK * k)
ACCOUNTS = st.integers(min_value=0, max_value=3)
# A modify's new total qty: absolute, or relative to the order's current total (resolved when
# the op runs, so "one less" and "one more" are common).
QTY_CHANGES = st.one_of(
    st.tuples(st.just("abs"), st.integers(min_value=1, max_value=40)),
    st.tuples(st.just("rel"), st.integers(min_value=-2, max_value=2)),
)


def resolve_qty(change: tuple[str, int] | None, current: int) -> int | None:
    """The absolute new total qty a drawn change means for an order now at ``current``."""
    if change is None:
        return None
    kind, value = change
    return value if kind == "abs" else max(1, current + value)


@st.composite
def submit_op(draw: st.DrawFn, *, allow_unpriced: bool = True) -> tuple[Any, ...]:
    """A valid-by-construction submit (stops may still be rejected by the last price)."""
    kinds = ["limit", "limit", "limit", "ioc", "fok", "iceberg", "sl"]
    if allow_unpriced:
        kinds += ["market", "slm"]
    kind = draw(st.sampled_from(kinds))
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    qty = draw(st.integers(min_value=1, max_value=20))
    account = draw(ACCOUNTS)
    price = draw(PRICES)
    order_type, trigger, validity, disclosed = OrderType.LIMIT, 0, Validity.DAY, 0
    if kind == "ioc":
        validity = Validity.IOC
    elif kind == "fok":
        validity = Validity.FOK
    elif kind == "iceberg":
        qty = draw(st.integers(min_value=2, max_value=40))
        disclosed = draw(st.integers(min_value=-(-qty // 10), max_value=qty))
    elif kind == "market":
        order_type, price = OrderType.MARKET, 0
        validity = draw(st.sampled_from([Validity.DAY, Validity.DAY, Validity.IOC, Validity.FOK]))
    elif kind in ("sl", "slm"):
        trigger = draw(PRICES)
        if kind == "sl":
            order_type = OrderType.SL
            offset = TICK * draw(st.integers(min_value=0, max_value=3))
            price = trigger + offset if side is Side.BUY else trigger - offset
        else:
            order_type, price = OrderType.SL_M, 0
        validity = draw(st.sampled_from([Validity.DAY, Validity.DAY, Validity.IOC]))
    return ("submit", account, side, qty, order_type, price, trigger, validity, disclosed)


@st.composite
def op_sequences(draw: st.DrawFn, *, allow_unpriced: bool = True) -> list[tuple[Any, ...]]:
    """Submits mixed with cancels and modifies of earlier (possibly dead) order ids."""
    ops: list[tuple[Any, ...]] = []
    n = draw(st.integers(min_value=1, max_value=45))
    submitted = 0
    for _ in range(n):
        roll = draw(st.integers(min_value=0, max_value=9))
        if submitted and roll == 0:
            ops.append(("cancel", draw(st.integers(min_value=1, max_value=submitted))))
        elif submitted and roll <= 2:
            # Any earlier order (a modify of the newest order rarely tests priority).
            oid = draw(st.integers(min_value=1, max_value=submitted))
            qty = draw(st.none() | QTY_CHANGES | QTY_CHANGES)
            price = draw(st.one_of(st.none(), st.none(), PRICES))
            trigger = draw(st.one_of(st.none(), st.none(), st.none(), PRICES))
            if not allow_unpriced:
                trigger = None
            if qty is None and price is None and trigger is None:
                qty = draw(QTY_CHANGES)
            ops.append(("modify", oid, qty, price, trigger))
        else:
            ops.append(draw(submit_op(allow_unpriced=allow_unpriced)))
            submitted += 1
    return ops


CONFIGS = st.builds(
    BookConfig,
    market_protection_bps=st.sampled_from([0, 20, 200]),
    market_remainder=st.sampled_from(list(MarketRemainder)),
    stp_mode=st.sampled_from(list(StpMode)),
)


@dataclass
class Ledger:
    """Per-order quantity accounting from the events, for the conservation property."""

    total: dict[int, int] = field(default_factory=dict)
    filled: dict[int, int] = field(default_factory=dict)
    cancelled: dict[int, int] = field(default_factory=dict)
    rejected: dict[int, int] = field(default_factory=dict)
    expired: dict[int, int] = field(default_factory=dict)

    def record(self, events: list[BookEvent], submitted: int | None = None) -> None:
        for e in events:
            if isinstance(e, Fill):
                for oid in (e.maker_id, e.taker_id):
                    self.filled[oid] = self.filled.get(oid, 0) + e.qty
            elif isinstance(e, Cancelled):
                self.cancelled[e.order_id] = self.cancelled.get(e.order_id, 0) + e.leaves_qty
            elif isinstance(e, Expired):
                self.expired[e.order_id] = self.expired.get(e.order_id, 0) + e.leaves_qty
            elif isinstance(e, Modified):
                self.total[e.order_id] = e.qty
            elif isinstance(e, Rejected) and submitted is not None and e.order_id == submitted:
                self.rejected[e.order_id] = self.total[e.order_id]

    def check(self, book: OrderBook) -> None:
        for oid, total in self.total.items():
            accounted = (
                self.filled.get(oid, 0)
                + self.cancelled.get(oid, 0)
                + self.rejected.get(oid, 0)
                + self.expired.get(oid, 0)
                + book.leaves(oid)
            )
            assert accounted == total, (oid, total, accounted, self)


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=op_sequences(), config=CONFIGS, reference=st.sampled_from([0, BASE]))
def test_book_agrees_with_the_reference_model(
    ops: list[tuple[Any, ...]], config: BookConfig, reference: int
) -> None:
    """Same events, depth, BBO, statistics and leaves as the brute-force model after every op."""
    book = OrderBook(INSTRUMENT, config)
    ref = RefBook(config.market_protection_bps, config.market_remainder, config.stp_mode)
    if reference:
        book.set_reference_price(reference)
        ref.ref = reference
    next_id = 0
    for op in ops:
        if op[0] == "submit":
            _, account, side, qty, order_type, price, trigger, validity, disclosed = op
            next_id += 1
            got = book.submit(
                next_id,
                account,
                side,
                qty,
                order_type=order_type,
                price=price,
                trigger=trigger,
                validity=validity,
                disclosed_qty=disclosed,
            )
            want = ref.submit(
                next_id, account, side, qty, order_type, price, trigger, validity, disclosed
            )
        elif op[0] == "cancel":
            got = book.cancel(op[1])
            want = ref.cancel(op[1])
        else:
            _, oid, change, price, trigger = op
            current = ref.orders[oid].qty if oid in ref.orders else ref.leaves(oid)
            qty = resolve_qty(change, current)
            got = book.modify(oid, qty=qty, price=price, trigger=trigger)
            want = ref.modify(oid, qty, price, trigger)
        assert normalize(got) == want, op
        assert book.depth(100) == ref.depth(), op
        bids, asks = ref.depth()
        assert book.best_bid == (bids[0].price if bids else 0)
        assert book.best_ask == (asks[0].price if asks else 0)
        assert (book.last_price, book.last_qty, book.volume, book.turnover) == (
            ref.last,
            ref.last_qty,
            ref.volume,
            ref.turnover,
        )
        assert (book.open, book.high, book.low) == (ref.open, ref.high, ref.low)
        for oid in range(1, next_id + 1):
            assert book.leaves(oid) == ref.leaves(oid), oid
            assert book.is_live(oid) == bool(ref.leaves(oid)), oid


@PROPERTY_SETTINGS
@given(ops=op_sequences(), config=CONFIGS)
def test_book_is_never_crossed_and_quantity_is_conserved(
    ops: list[tuple[Any, ...]], config: BookConfig
) -> None:
    """After every op bid < ask; submitted = filled + resting + cancelled + rejected + expired."""
    book = OrderBook(INSTRUMENT, config)
    ledger = Ledger()
    totals: dict[int, int] = {}
    next_id = 0
    for op in ops:
        if op[0] == "submit":
            next_id += 1
            ledger.total[next_id] = op[3]
        events = run_one(book, op, next_id, totals)
        ledger.record(events, submitted=next_id if op[0] == "submit" else None)
        if book.best_bid and book.best_ask:
            assert book.best_bid < book.best_ask, op
        ledger.check(book)
    ledger.record(book.expire_day_orders(ts=1))
    ledger.check(book)
    assert book.depth() == ((), ())
    assert all(not book.is_live(oid) for oid in ledger.total)


def run_one(
    book: OrderBook, op: tuple[Any, ...], oid: int, totals: dict[int, int]
) -> list[BookEvent]:
    """Apply one op (a submit gets order id ``oid``); keeps ``totals`` (order qty) up to date."""
    if op[0] == "submit":
        _, account, side, qty, order_type, price, trigger, validity, disclosed = op
        totals[oid] = qty
        return book.submit(
            oid,
            account,
            side,
            qty,
            order_type=order_type,
            price=price,
            trigger=trigger,
            validity=validity,
            disclosed_qty=disclosed,
        )
    if op[0] == "cancel":
        return book.cancel(op[1])
    _, target, change, price, trigger = op
    qty = resolve_qty(change, totals.get(target, 1))
    events = book.modify(target, qty=qty, price=price, trigger=trigger)
    for e in events:
        if isinstance(e, Modified):
            totals[e.order_id] = e.qty
    return events


@PROPERTY_SETTINGS
@given(ops=op_sequences(allow_unpriced=False), config=CONFIGS)
def test_every_fill_is_at_the_resting_orders_price(
    ops: list[tuple[Any, ...]], config: BookConfig
) -> None:
    """With priced orders only, a fill's price is the maker's limit and within the taker's."""
    book = OrderBook(INSTRUMENT, config)
    limit: dict[int, int] = {}
    is_buy: dict[int, bool] = {}
    totals: dict[int, int] = {}
    next_id = 0
    for op in ops:
        if op[0] == "submit":
            next_id += 1
            limit[next_id] = op[5]
            is_buy[next_id] = op[2] is Side.BUY
        for e in run_one(book, op, next_id, totals):
            if isinstance(e, Modified):
                limit[e.order_id] = e.price
            elif isinstance(e, Fill):
                assert e.price == limit[e.maker_id]
                taker_limit = limit[e.taker_id]
                if is_buy[e.taker_id]:
                    assert e.price <= taker_limit and e.aggressor is Side.BUY
                else:
                    assert e.price >= taker_limit and e.aggressor is Side.SELL
                assert is_buy[e.maker_id] != is_buy[e.taker_id]


@PROPERTY_SETTINGS
@given(ops=op_sequences(), config=CONFIGS, fok=submit_op())
def test_fok_never_partially_fills(
    ops: list[tuple[Any, ...]], config: BookConfig, fok: tuple[Any, ...]
) -> None:
    """An FOK either fills its whole quantity at once or is cancelled whole with no fills."""
    book = OrderBook(INSTRUMENT, config)
    book.set_reference_price(BASE)
    totals: dict[int, int] = {}
    for i, op in enumerate(ops):
        run_one(book, op, i + 1, totals)
    _, account, side, qty, order_type, price, _, _, _ = fok
    if order_type not in (OrderType.LIMIT, OrderType.MARKET):
        order_type, price = OrderType.LIMIT, BASE
    oid = 10_000
    events = book.submit(
        oid, account, side, qty, order_type=order_type, price=price, validity=Validity.FOK
    )
    taker_fills = [e.qty for e in events if isinstance(e, Fill) and e.taker_id == oid]
    cancels = [e for e in events if isinstance(e, Cancelled) and e.order_id == oid]
    if taker_fills:
        assert sum(taker_fills) == qty and not cancels
    else:
        assert [c.leaves_qty for c in cancels] == [qty] or isinstance(events[0], Rejected)
    assert not book.is_live(oid)


@settings(max_examples=60, deadline=None)
@given(
    adds=st.lists(
        st.tuples(st.sampled_from([Side.BUY, Side.SELL]), PRICES, st.integers(1, 9)),
        min_size=1,
        max_size=60,
    ),
    cancels=st.sets(st.integers(min_value=1, max_value=60)),
)
def test_accepted_is_sent_once_and_only_for_resting_orders(
    adds: list[tuple[Side, int, int]], cancels: set[int]
) -> None:
    """Accepted at most once per order id, and never for an order that did not rest."""
    book = OrderBook(INSTRUMENT)
    seen: dict[int, int] = {}
    for i, (side, price, qty) in enumerate(adds, start=1):
        events = book.submit(i, i % 3, side, qty, price=price)
        for e in events:
            if isinstance(e, Accepted):
                seen[e.order_id] = seen.get(e.order_id, 0) + 1
                assert book.is_live(e.order_id)
        if i in cancels:
            book.cancel(i)
    assert all(n == 1 for n in seen.values())
    expired = book.expire_day_orders(ts=0)
    assert {e.order_id for e in expired if isinstance(e, Expired)} <= set(seen)
    assert not any(isinstance(e, Triggered) for e in expired)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=2, max_size=6),
    target=st.integers(min_value=0, max_value=5),
    change=QTY_CHANGES,
    reprice=st.booleans(),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_modify_keeps_priority_on_decrease_and_loses_it_otherwise(
    sizes: list[int], target: int, change: tuple[str, int], reprice: bool, side: Side
) -> None:
    """One level of orders, one modify, then a sweep: the fill order shows the queue order."""
    book = OrderBook(INSTRUMENT)
    for oid, qty in enumerate(sizes, start=1):
        book.submit(oid, oid, side, qty, price=BASE)
    oid = target % len(sizes) + 1
    old_qty = sizes[oid - 1]
    new_qty = resolve_qty(change, old_qty)
    assert new_qty is not None
    if reprice:  # away and back: the price is unchanged in the end, the priority is not
        book.modify(oid, price=BASE - TICK if side is Side.BUY else BASE + TICK)
        book.modify(oid, price=BASE)
    events = book.modify(oid, qty=new_qty)
    assert events == [Modified(oid, new_qty, BASE, 0, 0)]
    expected = [i for i in range(1, len(sizes) + 1) if i != oid]
    if new_qty <= old_qty and not reprice:
        expected.insert(oid - 1, oid)
    else:
        expected.append(oid)
    total = sum(sizes) - old_qty + new_qty
    other = Side.SELL if side is Side.BUY else Side.BUY
    sweep = book.submit(99, 99, other, total, price=BASE)
    assert [e.maker_id for e in sweep if isinstance(e, Fill)] == expected
    assert sum(e.qty for e in sweep if isinstance(e, Fill)) == total
