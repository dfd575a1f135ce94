"""The call auction: equilibrium price determination and the book's pre-open uncross."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.auction import Equilibrium, executable_at, find_equilibrium
from engine.book import (
    Accepted,
    BookConfig,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
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

BUY = Side.BUY
SELL = Side.SELL
MARKET = OrderType.MARKET
TICK = 5
BASE = 10_000
EQ = Instrument(
    token="11536",
    exchange=Exchange.NSE,
    symbol="TCS-EQ",
    name="TCS",
    instrument_type=InstrumentType.EQUITY,
    lot_size=1,
    tick_size=TICK,
)


def fills(events: list[BookEvent]) -> list[tuple[int, int, int, int]]:
    """(maker, taker, price, qty) of every Fill."""
    return [(e.maker_id, e.taker_id, e.price, e.qty) for e in events if isinstance(e, Fill)]


def auction_book(config: BookConfig | None = None, reference: int = 0) -> OrderBook:
    """A book in its call auction."""
    book = OrderBook(EQ, config)
    if reference:
        book.set_reference_price(reference)
    book.begin_auction()
    return book


# ---------------------------------------------------------------------------------------------
# find_equilibrium


def test_nse_published_example() -> None:
    """NSE's pre-open page: the opening price is 105 where 27,500 shares trade."""
    buys = [(103, 13500), (104, 9500), (105, 12000), (106, 6500), (107, 5000)]
    sells = [(103, 11500), (104, 9800), (105, 15000), (106, 12000), (107, 12500)]
    # Demand at 107 is 9,000 in the table, so 4,000 more is bid at market.
    eq = find_equilibrium(buys, sells, buy_market=4000)
    assert eq == Equilibrium(price=105, volume=27500, imbalance=8800)
    assert executable_at(104, buys, sells, 4000) == (37000, 21300)
    assert executable_at(106, buys, sells, 4000) == (15500, 48300)


def test_ties_on_volume_go_to_the_smaller_imbalance() -> None:
    buys = [(100, 10), (102, 10)]
    sells = [(100, 10), (101, 12)]
    # at 100: D 20, S 10 -> 10 (imb 10); at 101: D 10, S 22 -> 10 (imb 12); at 102: 10 (imb 12)
    assert find_equilibrium(buys, sells) == Equilibrium(100, 10, 10)


def test_then_the_price_closest_to_the_reference() -> None:
    buys = [(100, 10), (110, 10)]
    sells = [(100, 10), (110, 10)]
    # at 100: D 20 S 10 -> 10 imb 10; at 110: D 10 S 20 -> 10 imb 10
    assert find_equilibrium(buys, sells, reference=108) == Equilibrium(110, 10, 10)
    assert find_equilibrium(buys, sells, reference=101) == Equilibrium(100, 10, 10)


def test_then_the_lower_price() -> None:
    buys = [(100, 10), (110, 10)]
    sells = [(100, 10), (110, 10)]
    assert find_equilibrium(buys, sells, reference=105) == Equilibrium(100, 10, 10)
    assert find_equilibrium(buys, sells) == Equilibrium(100, 10, 10)


def test_market_orders_only_trade_at_the_reference() -> None:
    assert find_equilibrium([], [], 30, 20, reference=12345) == Equilibrium(12345, 20, 10)
    assert find_equilibrium([], [], 30, 20) is None


def test_nothing_executable_gives_none() -> None:
    assert find_equilibrium([(100, 10)], [(101, 10)]) is None
    assert find_equilibrium([(100, 10)], []) is None
    assert find_equilibrium([], [], 10, 0, reference=100) is None


def test_market_orders_join_the_schedules() -> None:
    # 25 market buys against sells at 100 (10) and 101 (20): 101 executes 25.
    assert find_equilibrium([], [(100, 10), (101, 20)], buy_market=25) == Equilibrium(101, 25, 5)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="positive price"):
        find_equilibrium([(0, 10)], [])
    with pytest.raises(ValueError, match="positive price"):
        find_equilibrium([], [(100, -1)])
    with pytest.raises(ValueError, match="must not be negative"):
        find_equilibrium([], [], buy_market=-1)


def brute_force(
    buys: list[tuple[int, int]],
    sells: list[tuple[int, int]],
    buy_market: int,
    sell_market: int,
    reference: int,
) -> tuple[int, int]:
    """(max volume over every tick near the orders, equilibrium by the rules over order prices)."""
    prices = sorted({p for p, _ in buys} | {p for p, _ in sells})
    if prices:
        grid = range(max(prices[0] - 3 * TICK, TICK), prices[-1] + 3 * TICK + 1, TICK)
    else:  # market orders only: they can trade only at the reference price
        grid = range(reference, reference + 1) if reference else range(0)
    best_volume = 0
    for price in grid:
        demand, supply = executable_at(price, buys, sells, buy_market, sell_market)
        best_volume = max(best_volume, min(demand, supply))
    candidates = prices or ([reference] if reference else [])
    keyed = []
    for price in candidates:
        demand, supply = executable_at(price, buys, sells, buy_market, sell_market)
        distance = abs(price - reference) if reference else 0
        keyed.append(((min(demand, supply), -abs(demand - supply), -distance, -price), price))
    chosen = max(keyed)[1] if keyed and max(keyed)[0][0] > 0 else 0
    return best_volume, chosen


LEVELS = st.lists(
    st.tuples(st.integers(-6, 6).map(lambda k: BASE + TICK * k), st.integers(1, 30)), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(
    buys=LEVELS,
    sells=LEVELS,
    buy_market=st.integers(0, 40),
    sell_market=st.integers(0, 40),
    reference=st.sampled_from([0, BASE - 13 * TICK, BASE, BASE + 2 * TICK, BASE + 40 * TICK]),
)
def test_equilibrium_volume_is_maximal_and_the_tie_breaks_hold(
    buys: list[tuple[int, int]],
    sells: list[tuple[int, int]],
    buy_market: int,
    sell_market: int,
    reference: int,
) -> None:
    """Against brute force: volume maximal over all ticks; price per the tie-break rules."""
    eq = find_equilibrium(buys, sells, buy_market, sell_market, reference)
    best_volume, chosen = brute_force(buys, sells, buy_market, sell_market, reference)
    if eq is None:
        assert chosen == 0
        assert best_volume == 0 or not (buys or sells)
        return
    assert eq.volume == best_volume
    assert eq.price == chosen
    demand, supply = executable_at(eq.price, buys, sells, buy_market, sell_market)
    assert eq.volume == min(demand, supply) and eq.imbalance == abs(demand - supply)


# ---------------------------------------------------------------------------------------------
# The book's auction


def test_orders_collect_without_matching_during_the_auction() -> None:
    b = auction_book()
    assert b.in_auction
    assert b.submit(1, 1, BUY, 10, price=10010) == [Accepted(1, 0)]
    assert b.submit(2, 2, SELL, 6, price=10000) == [Accepted(2, 0)]
    assert b.submit(3, 3, BUY, 4, order_type=MARKET) == [Accepted(3, 0)]
    assert b.best_bid == 10010 and b.best_ask == 10000  # crossed while collecting
    assert b.depth() == ((DepthLevel(10010, 10, 1),), (DepthLevel(10000, 6, 1),))
    assert b.volume == 0
    assert b.indicative() == (10000, 6)
    assert b.leaves(3) == 4 and b.is_live(3)


def test_uncross_trades_everything_at_one_price_in_price_time_priority() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, BUY, 10, price=10010)
    b.submit(2, 2, BUY, 10, price=10005)
    b.submit(3, 3, BUY, 10, price=10005)
    b.submit(4, 4, SELL, 15, price=9995)
    b.submit(5, 5, SELL, 10, price=10005)
    b.submit(6, 6, SELL, 5, price=10020)
    # at 100.05: D 30, S 25 -> 25; at 100.10: D 10; at 99.95: D 30, S 15 -> 15
    assert b.indicative() == (10005, 25)
    events = b.uncross(ts=9)
    assert {e.price for e in events if isinstance(e, Fill)} == {10005}
    assert [(m, t, q) for m, t, _, q in fills(events)] == [
        (1, 4, 10),  # buy 1 arrived first: maker; the aggressor is the later order
        (2, 4, 5),
        (2, 5, 5),
        (3, 5, 5),
    ]
    first = events[0]
    assert isinstance(first, Fill) and first.aggressor is SELL and first.ts == 9
    assert not b.in_auction
    assert (b.open, b.high, b.low, b.last_price, b.volume) == (10005, 10005, 10005, 10005, 25)
    assert b.depth() == ((DepthLevel(10005, 5, 1),), (DepthLevel(10020, 5, 1),))
    # Continuous matching from now on.
    assert fills(b.submit(7, 7, SELL, 5, price=10005)) == [(3, 7, 10005, 5)]


def test_auction_market_orders_go_first_and_unmatched_become_limits_at_the_price() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, BUY, 10, price=10010)
    b.submit(2, 2, BUY, 20, order_type=MARKET)
    b.submit(3, 3, SELL, 15, price=10005)
    b.submit(4, 4, BUY, 3, price=10005)
    # 15 trade at 100.05 (imbalance 18) or 100.10 (imbalance 15): 100.10.
    assert b.indicative() == (10010, 15)
    events = b.uncross(ts=1)
    # Market buy 2 has the best price and fills first.
    assert fills(events) == [(2, 3, 10010, 15)]
    assert events[-1] == Modified(2, 20, 10010, 0, 1)
    assert b.leaves(2) == 5
    # The converted order leads its level, ahead of the limit buy already there.
    assert b.depth()[0] == (DepthLevel(10010, 15, 2), DepthLevel(10005, 3, 1))
    events = b.submit(6, 6, SELL, 16, price=10005)
    assert fills(events) == [(2, 6, 10010, 5), (1, 6, 10010, 10), (4, 6, 10005, 1)]


def test_iceberg_refill_in_the_auction_goes_behind_its_level() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, SELL, 30, price=10000, disclosed_qty=10)
    b.submit(2, 2, SELL, 10, price=10000)
    b.submit(3, 3, BUY, 25, price=10000)
    events = b.uncross(ts=0)
    assert [(m, t, q) for m, t, _, q in fills(events)] == [(1, 3, 10), (2, 3, 10), (1, 3, 5)]
    assert b.leaves(1) == 15 and not b.is_live(2)
    assert b.depth()[1] == (DepthLevel(10000, 5, 1),)


def test_market_orders_on_both_sides_trade_at_the_reference() -> None:
    b = auction_book(reference=12345)
    b.submit(1, 1, BUY, 10, order_type=MARKET)
    b.submit(2, 2, SELL, 4, order_type=MARKET)
    events = b.uncross(ts=0)
    assert fills(events) == [(1, 2, 12345, 4)]
    assert events[-1] == Modified(1, 10, 12345, 0, 0)
    assert b.best_bid == 12345 and b.leaves(1) == 6


def test_no_equilibrium_sends_market_orders_to_continuous_matching() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, BUY, 10, order_type=MARKET)
    b.submit(2, 2, BUY, 5, price=9990)
    events = b.uncross(ts=0)
    # No sellers at all: the market buy rests at its protection price (100.00 + 2 %).
    assert events == [Modified(1, 10, 10200, 0, 0)]
    assert b.best_bid == 10200 and not b.in_auction


def test_no_equilibrium_and_no_reference_cancels_market_orders() -> None:
    b = auction_book()
    b.submit(1, 1, BUY, 10, order_type=MARKET)
    b.submit(2, 2, SELL, 4, order_type=MARKET)
    events = b.uncross(ts=0)
    reason = (
        "MARKET order from the call auction: no equilibrium price and no reference price "
        "for its market protection"
    )
    assert events == [Cancelled(1, 10, reason, 0), Cancelled(2, 4, reason, 0)]
    assert b.live_order_ids() == []


def test_empty_auction_uncrosses_to_nothing() -> None:
    b = auction_book()
    assert b.indicative() == (0, 0)
    assert b.uncross(ts=0) == []
    assert not b.in_auction


def test_auction_accepts_only_limit_and_market_day_orders() -> None:
    b = auction_book()
    msg = "the pre-open call auction accepts only LIMIT and MARKET orders with DAY validity"
    for oid, kwargs in enumerate(
        [
            {"price": 10000, "validity": Validity.IOC},
            {"price": 10000, "validity": Validity.FOK},
            {"order_type": OrderType.SL, "price": 10000, "trigger": 10000},
            {"order_type": OrderType.SL_M, "trigger": 10000},
        ],
        start=1,
    ):
        events = b.submit(oid, 1, BUY, 1, **kwargs)
        assert len(events) == 1 and isinstance(events[0], Rejected)
        assert events[0].reason.startswith(msg)
    assert b.submit(9, 1, BUY, 1, price=10001) == [
        Rejected(9, "price 100.01 is not a multiple of tick 0.05", 0)
    ]


def test_cancel_and_modify_during_the_auction() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, BUY, 10, price=10000)
    b.submit(2, 2, BUY, 10, price=10000)
    b.submit(3, 3, BUY, 5, order_type=MARKET)
    b.submit(4, 4, SELL, 30, price=10000)
    assert b.modify(1, qty=12) == [Modified(1, 12, 10000, 0, 0)]  # loses priority to order 2
    assert b.modify(3, qty=8) == [Modified(3, 8, 0, 0, 0)]
    assert b.modify(3, price=10000) == [
        Rejected(3, "order 3 is a MARKET order in the call auction and has no price", 0)
    ]
    assert b.cancel(4) == [Cancelled(4, 30, "cancelled on request", 0)]
    b.submit(5, 5, SELL, 25, price=10000)
    events = b.uncross(ts=0)
    assert fills(events) == [(3, 5, 10000, 8), (2, 5, 10000, 10), (1, 5, 10000, 7)]
    assert b.leaves(1) == 5


def test_cancelled_auction_market_order_does_not_trade() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, BUY, 5, order_type=MARKET)
    b.submit(2, 2, BUY, 5, order_type=MARKET)
    b.submit(3, 3, SELL, 5, price=10000)
    assert b.cancel(1) == [Cancelled(1, 5, "cancelled on request", 0)]
    assert fills(b.uncross(ts=0)) == [(2, 3, 10000, 5)]


def test_iceberg_takes_part_with_its_whole_quantity() -> None:
    b = auction_book(reference=10000)
    b.submit(1, 1, SELL, 50, price=10000, disclosed_qty=10)
    b.submit(2, 2, BUY, 45, price=10000)
    assert b.depth()[1] == (DepthLevel(10000, 10, 1),)
    events = b.uncross(ts=0)
    assert sum(q for *_, q in fills(events)) == 45
    assert b.leaves(1) == 5 and b.depth()[1] == (DepthLevel(10000, 5, 1),)


@pytest.mark.parametrize(
    ("mode", "cancelled", "traded"),
    [
        (StpMode.CANCEL_NEWEST, [3], [(1, 4, 10)]),
        (StpMode.CANCEL_OLDEST, [1], [(2, 3, 10)]),
        (StpMode.CANCEL_BOTH, [1, 3], []),
    ],
)
def test_self_trade_in_the_auction_is_cancelled_and_the_price_recomputed(
    mode: StpMode, cancelled: list[int], traded: list[tuple[int, int, int]]
) -> None:
    b = auction_book(BookConfig(stp_mode=mode), reference=10000)
    b.submit(1, 7, BUY, 10, price=10010)
    b.submit(2, 8, BUY, 10, price=9990)
    b.submit(3, 7, SELL, 10, price=9990)
    b.submit(4, 9, SELL, 10, price=10005)
    events = b.uncross(ts=0)
    assert [e.order_id for e in events if isinstance(e, Cancelled)] == cancelled
    assert [(m, t, q) for m, t, _, q in fills(events)] == traded
    assert len({p for *_, p, _ in fills(events)}) <= 1
    if b.best_bid and b.best_ask:
        assert b.best_bid < b.best_ask


def test_uncross_price_triggers_waiting_stops() -> None:
    b = OrderBook(EQ)
    b.set_reference_price(10000)
    b.submit(1, 1, BUY, 5, order_type=OrderType.SL_M, trigger=10005)
    b.begin_auction()
    b.submit(2, 2, BUY, 5, price=10010)
    b.submit(3, 3, SELL, 10, price=10010)
    events = b.uncross(ts=0)
    assert [type(e).__name__ for e in events] == ["Fill", "Triggered", "Fill"]
    assert events[1] == Triggered(1, 0)
    assert fills(events)[1] == (3, 1, 10010, 5)


def test_expiry_during_the_auction_covers_market_orders() -> None:
    b = auction_book()
    b.submit(1, 1, BUY, 5, order_type=MARKET)
    b.submit(2, 2, SELL, 5, price=10000)
    assert b.expire_day_orders(ts=3) == [Expired(1, 5, 3), Expired(2, 5, 3)]
    assert b.indicative() == (0, 0)


def test_uncross_outside_an_auction_is_an_error() -> None:
    b = OrderBook(EQ)
    with pytest.raises(RuntimeError, match="call begin_auction"):
        b.uncross(ts=0)


# ---------------------------------------------------------------------------------------------
# Auction properties

AUCTION_ORDERS = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.one_of(st.just(0), st.integers(-6, 6).map(lambda k: BASE + TICK * k)),  # 0 = market
        st.integers(1, 30),
    ),
    min_size=1,
    max_size=30,
)


def run_auction(
    orders: list[tuple[Side, int, int]], accounts: list[int], reference: int, mode: StpMode
) -> tuple[OrderBook, list[BookEvent], tuple[int, int]]:
    """Collect ``orders`` in an auction and uncross; returns (book, uncross events, indicative)."""
    b = OrderBook(EQ, BookConfig(stp_mode=mode))
    if reference:
        b.set_reference_price(reference)
    b.begin_auction()
    for oid, ((side, price, qty), account) in enumerate(zip(orders, accounts, strict=True), 1):
        if price:
            assert b.submit(oid, account, side, qty, price=price) == [Accepted(oid, 0)]
        else:
            assert b.submit(oid, account, side, qty, order_type=MARKET) == [Accepted(oid, 0)]
    indicative = b.indicative()
    return b, b.uncross(ts=1), indicative


@settings(max_examples=200, deadline=None)
@given(orders=AUCTION_ORDERS, reference=st.sampled_from([0, BASE - 9 * TICK, BASE, BASE + TICK]))
def test_uncross_is_single_priced_maximal_and_in_priority_order(
    orders: list[tuple[Side, int, int]], reference: int
) -> None:
    """Distinct accounts: one price, maximal volume, priority prefix, uncrossed rest, conserved."""
    accounts = list(range(1, len(orders) + 1))
    book, events, indicative = run_auction(orders, accounts, reference, StpMode.CANCEL_NEWEST)
    trades = [e for e in events if isinstance(e, Fill)]
    volume = sum(e.qty for e in trades)
    assert len({e.price for e in trades}) <= 1
    buys = [(p, q) for s, p, q in orders if s is BUY and p]
    sells = [(p, q) for s, p, q in orders if s is SELL and p]
    buy_market = sum(q for s, p, q in orders if s is BUY and not p)
    sell_market = sum(q for s, p, q in orders if s is SELL and not p)
    best_volume, chosen = brute_force(buys, sells, buy_market, sell_market, reference)
    assert volume == best_volume == indicative[1]
    if trades:
        assert trades[0].price == chosen == indicative[0]
    # Priority: on each side, a prefix of the eligible orders fills fully, then at most one part.
    executed: dict[int, int] = {}
    for e in trades:
        executed[e.maker_id] = executed.get(e.maker_id, 0) + e.qty
        executed[e.taker_id] = executed.get(e.taker_id, 0) + e.qty
    for side in (BUY, SELL):
        ranked = sorted(
            (oid for oid, (s, _, _) in enumerate(orders, 1) if s is side),
            key=lambda oid: (
                orders[oid - 1][1] != 0,
                -orders[oid - 1][1] if side is BUY else orders[oid - 1][1],
                oid,
            ),
        )
        states = ""
        for oid in ranked:
            got = executed.get(oid, 0)
            states += "f" if got == orders[oid - 1][2] else "p" if got else "n"
        assert re.fullmatch("f*p?n*", states), states
    # Nothing crosses afterwards, and quantity is conserved.
    if book.best_bid and book.best_ask:
        assert book.best_bid < book.best_ask
    # Only market orders with no equilibrium and no reference get cancelled.
    cancelled = {e.order_id: e.leaves_qty for e in events if isinstance(e, Cancelled)}
    for oid in cancelled:
        assert orders[oid - 1][1] == 0 and not trades and not reference
    for oid, (_, _, qty) in enumerate(orders, 1):
        assert executed.get(oid, 0) + book.leaves(oid) + cancelled.get(oid, 0) == qty


@settings(max_examples=150, deadline=None)
@given(
    orders=AUCTION_ORDERS,
    accounts=st.lists(st.integers(0, 3), min_size=30, max_size=30),
    reference=st.sampled_from([0, BASE]),
    mode=st.sampled_from(list(StpMode)),
)
def test_uncross_with_self_trades_stays_single_priced_uncrossed_and_conserved(
    orders: list[tuple[Side, int, int]], accounts: list[int], reference: int, mode: StpMode
) -> None:
    """Shared accounts: STP cancels, but there is still one price and the rest does not cross."""
    book, events, _ = run_auction(orders, accounts[: len(orders)], reference, mode)
    trades = [e for e in events if isinstance(e, Fill)]
    assert len({e.price for e in trades}) <= 1
    assert all(e.maker_account != e.taker_account or e.maker_account == 0 for e in trades)
    if book.best_bid and book.best_ask:
        assert book.best_bid < book.best_ask
    done: dict[int, int] = {}
    for e in events:
        if isinstance(e, Fill):
            done[e.maker_id] = done.get(e.maker_id, 0) + e.qty
            done[e.taker_id] = done.get(e.taker_id, 0) + e.qty
        elif isinstance(e, Cancelled):
            done[e.order_id] = done.get(e.order_id, 0) + e.leaves_qty
    for oid, (_, _, qty) in enumerate(orders, 1):
        assert done.get(oid, 0) + book.leaves(oid) == qty
    for e in events:
        assert isinstance(e, Fill | Cancelled | Modified | Triggered), e


def test_helpers_are_consistent() -> None:
    args: dict[str, Any] = {"buy_market": 0, "sell_market": 0, "reference": 0}
    assert brute_force([(100, 5)], [(100, 5)], **args) == (5, 100)
