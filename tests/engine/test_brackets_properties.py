"""Property test: a bracket run against a simulated exchange can never double-exit.

The exchange in this file holds the truth: live orders, what filled, and when. Each step of a
random price path (with gaps that jump through both levels at once) it may fill any marketable
live order, fully or partly; it applies cancels and modifies after random delays (fills can land
first); it may deliver fill reports late, after the cancel report (which then carries the
cumulative filled quantity, as the contract asks); it may cancel the unfilled rest of a partly
filled MARKET exit (market protection). Random extras: trailing stop, time exit, a trader's
flatten, a marketable-limit stop exit, and a restart of the manager from its saved dict.

Checked after every action and every event, on the exchange's numbers:

* the bracket's net position never changes sign (exits never exceed the entry fills);
* at most one exit order is live at the exchange;
* the live exit's unfilled quantity never exceeds the open position (reduce-only).

And at the end: when the path ends beyond the stop or the target (or an exit was forced) the
bracket is flat and CLOSED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from datetime import time as dtime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.brackets import (
    BracketAction,
    BracketManager,
    BracketOrderEvent,
    BracketSpec,
    BracketState,
    CancelOrder,
    CancelRejected,
    ExitLevel,
    ModifyDone,
    ModifyOrder,
    ModifyRejected,
    OrderCancelled,
    OrderFilled,
    OrderRole,
    PlaceOrder,
    StopExitType,
)
from engine.clock import ist_ns
from engine.models import ClientOrderId, OrderType, Product, Side

TICK = 5
TOKEN = "T"
T0 = ist_ns(date(2025, 1, 6), dtime(9, 20))
STEP_NS = 20 * 1_000_000_000


@dataclass
class SimOrder:
    """An order as the exchange holds it."""

    role: OrderRole
    side: Side
    qty: int
    order_type: OrderType
    price: int | None
    filled: int = 0
    live: bool = True


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> ClientOrderId:
        self.n += 1
        return ClientOrderId(f"c-{self.n}")


class Exchange:
    """The simulated venue plus the checks; hypothesis ``data`` makes every random choice."""

    def __init__(self, data: st.DataObject, spec: BracketSpec) -> None:
        self.draw = data.draw
        self.spec = spec
        self.ids = Ids()
        self.mgr = BracketManager(self.ids)
        self.orders: dict[str, SimOrder] = {}
        self.cancels: list[tuple[int, str]] = []
        self.modifies: list[tuple[int, str, int, int | None]] = []
        self.late_fills: list[tuple[int, str, int, int]] = []
        self.step = 0
        self.ts = T0
        self.settling = False
        self.bracket_id = ""

    # -------------------------------------------------------------- truth and checks

    def position(self) -> int:
        entry = sum(o.filled for o in self.orders.values() if o.role is OrderRole.ENTRY)
        exits = sum(o.filled for o in self.orders.values() if o.role is not OrderRole.ENTRY)
        return entry - exits

    def check(self) -> None:
        pos = self.position()
        assert pos >= 0, f"the bracket's position flipped: {pos}"
        live_exits = [o for o in self.orders.values() if o.role is not OrderRole.ENTRY and o.live]
        assert len(live_exits) <= 1, f"{len(live_exits)} exit orders live at once"
        for o in live_exits:
            assert o.qty - o.filled <= pos, "a live exit is larger than the open position"
        b = self.mgr.get(self.bracket_id) if self.bracket_id else None
        if b is not None:
            assert len(b.live_exits()) <= 1

    # -------------------------------------------------------------- plumbing

    def delay(self) -> int:
        return 0 if self.settling else self.draw(st.integers(0, 2))

    def apply(self, actions: list[BracketAction]) -> None:
        for a in actions:
            if isinstance(a, PlaceOrder):
                if a.reduce_only:
                    assert a.role is not OrderRole.ENTRY
                    assert a.side is self.spec.side.opposite
                    assert 0 < a.qty <= self.position(), "exit placed beyond the position"
                assert a.client_order_id not in self.orders
                self.orders[a.client_order_id] = SimOrder(
                    a.role, a.side, a.qty, a.order_type, a.price
                )
                self.bracket_id = a.bracket_id
            elif isinstance(a, CancelOrder):
                self.cancels.append((self.step + self.delay(), a.client_order_id))
            elif isinstance(a, ModifyOrder):
                self.modifies.append((self.step + self.delay(), a.client_order_id, a.qty, a.price))
            self.check()

    def send(self, coid: str, event: BracketOrderEvent) -> None:
        self.apply(self.mgr.on_order_event(coid, event, self.ts))
        self.check()

    def due(self) -> None:
        """Apply modifies and cancels whose delay has run out, then deliver late fill reports."""
        mods = [m for m in self.modifies if m[0] <= self.step]
        self.modifies = [m for m in self.modifies if m[0] > self.step]
        for _, coid, qty, price in mods:
            o = self.orders[coid]
            if o.live and qty > o.filled:
                o.qty, o.price = qty, price
                self.send(coid, ModifyDone(qty))
            else:
                self.send(coid, ModifyRejected("order is complete"))
        cans = [c for c in self.cancels if c[0] <= self.step]
        self.cancels = [c for c in self.cancels if c[0] > self.step]
        for _, coid in cans:
            o = self.orders[coid]
            if o.live:
                o.live = False
                self.send(coid, OrderCancelled(filled_qty=o.filled))
            else:
                self.send(coid, CancelRejected("order is complete"))
        fills = [f for f in self.late_fills if f[0] <= self.step or self.settling]
        self.late_fills = [f for f in self.late_fills if f not in fills]
        for _, coid, qty, price in fills:
            self.send(coid, OrderFilled(qty, price))

    def match(self, price: int) -> None:
        for coid in list(self.orders):
            o = self.orders[coid]
            if not o.live:
                continue
            if o.order_type is OrderType.LIMIT:
                assert o.price is not None
                if (o.side is Side.BUY and price > o.price) or (
                    o.side is Side.SELL and price < o.price
                ):
                    continue
            left = o.qty - o.filled
            qty = left if self.settling else self.draw(st.integers(1, left))
            if not self.settling and not self.draw(st.booleans()):
                continue  # not this step
            o.filled += qty
            if o.filled == o.qty:
                o.live = False
            self.check()
            if not self.settling and self.draw(st.booleans()):
                self.late_fills.append((self.step + self.draw(st.integers(1, 4)), coid, qty, price))
            else:
                self.send(coid, OrderFilled(qty, price))
            if (
                o.live
                and o.role is not OrderRole.ENTRY
                and o.order_type is OrderType.MARKET
                and not self.settling
                and self.draw(st.integers(0, 3)) == 0
            ):
                # Market protection: the unfilled rest of a partly filled exit is cancelled.
                o.live = False
                self.send(coid, OrderCancelled(filled_qty=o.filled, reason="protection"))

    def run_step(self, price: int, flatten_now: bool, restart_now: bool) -> None:
        self.step += 1
        self.ts += STEP_NS
        if restart_now:
            saved = json.loads(json.dumps(self.mgr.to_dict()))
            self.mgr = BracketManager.from_dict(saved, self.ids)
        self.due()
        self.apply(self.mgr.on_quote(TOKEN, price, self.ts))
        if flatten_now:
            self.apply(self.mgr.cancel(self.bracket_id, self.ts, flatten=True))
        self.apply(self.mgr.on_time(self.ts))
        self.due()
        self.match(price)
        self.check()


@st.composite
def paths(draw: st.DrawFn) -> list[int]:
    price = 10_000
    out = []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.integers(0, 5)) == 0:
            move = draw(st.integers(-400, 400))  # a gap of up to 20 % in one tick
        else:
            move = draw(st.integers(-30, 30))
        price = max(TICK * 10, price + move * TICK)
        out.append(price)
    return out


@st.composite
def specs(draw: st.DrawFn) -> BracketSpec:
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    market = draw(st.booleans())
    entry_price = None if market else 10_000 + side.sign * TICK * draw(st.integers(-20, 60))
    levels = st.integers(2, 150).map(lambda t: ExitLevel.points(t * TICK))
    stop = draw(st.none() | levels)
    target = draw(levels if stop is None else st.none() | levels)
    trail = None if stop is None else draw(st.none() | st.integers(1, 40).map(lambda t: t * TICK))
    return BracketSpec(
        token=TOKEN,
        side=side,
        qty=draw(st.integers(1, 40)),
        tick=TICK,
        entry_type=OrderType.MARKET if market else OrderType.LIMIT,
        entry_price=entry_price,
        stop=stop,
        target=target,
        product=Product.NRML,
        trail_step=trail,
        time_exit_minutes=draw(st.none() | st.integers(3, 15)),
        stop_exit=draw(st.sampled_from(StopExitType)),
        stop_limit_buffer=TICK * draw(st.integers(0, 10)),
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data(), specs(), paths())
def test_bracket_never_double_exits(data: st.DataObject, raw_spec: BracketSpec,
                                    path: list[int]) -> None:
    spec = raw_spec
    ex = Exchange(data, spec)
    ex.apply(ex.mgr.submit(spec, ex.ts))
    bid = ex.bracket_id
    flatten_at = data.draw(st.none() | st.integers(0, len(path) - 1))
    restart_at = data.draw(st.none() | st.integers(0, len(path) - 1))
    for i, price in enumerate(path):
        ex.run_step(price, flatten_now=i == flatten_at, restart_now=i == restart_at)
    # Settle at the last price: every delay runs out, every marketable order fills in full.
    ex.settling = True
    final = path[-1]
    for _ in range(12):
        ex.run_step(final, flatten_now=False, restart_now=False)
    b = ex.mgr.get(bid)
    assert b.entry_filled == sum(
        o.filled for o in ex.orders.values() if o.role is OrderRole.ENTRY)
    assert b.position == ex.position()
    sign = spec.side.sign
    beyond_stop = b.stop_price is not None and sign * (final - b.stop_price) <= 0
    beyond_target = b.target_price is not None and sign * (final - b.target_price) >= 0
    forced = b.exit_reason is not None
    if b.entry_filled and (beyond_stop or beyond_target or forced):
        assert ex.position() == 0, f"not flat: {ex.position()} open, state {b.state}"
        assert b.state is BracketState.CLOSED
        assert not any(o.live for o in ex.orders.values())
    if b.state.is_terminal:
        assert not any(o.live for o in ex.orders.values() if o.role is not OrderRole.ENTRY)
