"""Example-based tests of the matching book: one test (or more) per rule and per rejection."""

from __future__ import annotations

import pytest

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

BUY = Side.BUY
SELL = Side.SELL

EQ = Instrument(
    token="2885",
    exchange=Exchange.NSE,
    symbol="RELIANCE-EQ",
    name="RELIANCE",
    instrument_type=InstrumentType.EQUITY,
    lot_size=1,
    tick_size=5,
)
FUT = Instrument(
    token="35001",
    exchange=Exchange.NFO,
    symbol="NIFTY26JANFUT",
    name="NIFTY",
    instrument_type=InstrumentType.FUTIDX,
    lot_size=65,
    tick_size=10,
    freeze_qty=1755,
)


def book(config: BookConfig | None = None, instrument: Instrument = EQ) -> OrderBook:
    """A fresh book on the 0.05-tick equity unless told otherwise."""
    return OrderBook(instrument, config)


def fills(events: list[BookEvent]) -> list[tuple[int, int, int, int]]:
    """(maker, taker, price, qty) of every Fill in ``events``."""
    return [(e.maker_id, e.taker_id, e.price, e.qty) for e in events if isinstance(e, Fill)]


def kinds(events: list[BookEvent]) -> list[str]:
    """Event class names, in order."""
    return [type(e).__name__ for e in events]


def reason(events: list[BookEvent]) -> str:
    """The reason of the single Rejected event in ``events``."""
    assert len(events) == 1 and isinstance(events[0], Rejected), events
    return events[0].reason


# ---------------------------------------------------------------------------------------------
# Resting, priority, fills


def test_limit_order_rests_and_shows_in_depth() -> None:
    b = book()
    assert b.submit(1, 1, BUY, 10, price=10000, ts=5) == [Accepted(1, 5)]
    assert b.submit(2, 2, BUY, 7, price=10000) == [Accepted(2, 0)]
    assert b.submit(3, 3, SELL, 4, price=10010) == [Accepted(3, 0)]
    assert b.best_bid == 10000
    assert b.best_ask == 10010
    assert b.depth() == ((DepthLevel(10000, 17, 2),), (DepthLevel(10010, 4, 1),))
    assert b.leaves(1) == 10
    assert b.is_live(2)
    assert b.last_price == 0 and b.volume == 0 and b.vwap == 0


def test_empty_book_views_are_zero() -> None:
    b = book()
    assert (b.best_bid, b.best_ask, b.last_price, b.last_qty) == (0, 0, 0, 0)
    assert (b.open, b.high, b.low, b.volume, b.turnover) == (0, 0, 0, 0, 0)
    assert b.depth() == ((), ())
    assert b.leaves(99) == 0
    assert not b.is_live(99)
    assert not b.in_auction


def test_same_price_fills_in_time_priority() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10000)
    b.submit(2, 2, SELL, 5, price=10000)
    b.submit(3, 3, SELL, 5, price=10000)
    events = b.submit(4, 4, BUY, 12, price=10000)
    assert fills(events) == [(1, 4, 10000, 5), (2, 4, 10000, 5), (3, 4, 10000, 2)]
    assert b.leaves(3) == 3
    assert not b.is_live(1) and not b.is_live(4)


def test_better_price_fills_first_and_fill_is_at_maker_price() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10010)
    b.submit(2, 2, SELL, 5, price=10000)
    events = b.submit(3, 3, BUY, 8, price=10050)
    assert fills(events) == [(2, 3, 10000, 5), (1, 3, 10010, 3)]
    assert all(e.aggressor is BUY for e in events if isinstance(e, Fill))


def test_fill_event_fields() -> None:
    b = book()
    b.submit(1, 11, SELL, 5, price=10000)
    events = b.submit(2, 22, BUY, 3, price=10000, ts=99)
    assert events == [
        Fill(
            trade_id=1,
            price=10000,
            qty=3,
            aggressor=BUY,
            maker_id=1,
            taker_id=2,
            maker_account=11,
            taker_account=22,
            maker_leaves=2,
            taker_leaves=0,
            ts=99,
        )
    ]
    assert b.submit(3, 22, BUY, 2, price=10000)[0].trade_id == 2  # type: ignore[union-attr]


def test_partial_fill_then_rest_reports_accepted_after_fills() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10000)
    events = b.submit(2, 2, BUY, 8, price=10005)
    assert kinds(events) == ["Fill", "Accepted"]
    assert b.leaves(2) == 3
    assert b.best_bid == 10005 and b.best_ask == 0


def test_sell_aggressor_walks_bids_down() -> None:
    b = book()
    b.submit(1, 1, BUY, 5, price=10000)
    b.submit(2, 2, BUY, 5, price=10010)
    b.submit(3, 3, BUY, 5, price=9990)
    events = b.submit(4, 4, SELL, 12, price=9995)
    assert fills(events) == [(2, 4, 10010, 5), (1, 4, 10000, 5)]
    assert all(e.aggressor is SELL for e in events if isinstance(e, Fill))
    assert b.best_ask == 9995 and b.best_bid == 9990
    assert b.leaves(4) == 2


def test_trade_statistics() -> None:
    b = book()
    b.submit(1, 1, SELL, 10, price=10000)
    b.submit(2, 1, SELL, 10, price=10005)
    b.submit(3, 2, BUY, 15, price=10005)
    assert (b.last_price, b.last_qty, b.volume) == (10005, 5, 15)
    assert b.turnover == 10 * 10000 + 5 * 10005
    assert (b.open, b.high, b.low) == (10000, 10005, 10000)
    b.submit(4, 2, BUY, 10, price=9990)
    b.submit(5, 1, SELL, 1, price=9990)
    assert (b.open, b.high, b.low, b.last_price) == (10000, 10005, 9990, 9990)


def test_vwap_rounds_half_even() -> None:
    b = book(instrument=EQ)
    b.submit(1, 1, SELL, 1, price=10000)
    b.submit(2, 1, SELL, 1, price=10005)
    b.submit(3, 2, BUY, 2, price=10005)
    assert b.turnover == 20005 and b.volume == 2
    assert b.vwap == 10002  # 10002.5 -> even
    b.submit(4, 1, SELL, 2, price=10000)
    b.submit(5, 2, BUY, 2, price=10000)
    assert b.vwap == 10001  # 10001.25
    b.submit(6, 1, SELL, 1, price=10015)
    b.submit(7, 2, BUY, 1, price=10015)
    assert b.turnover == 50020 and b.volume == 5
    assert b.vwap == 10004


def test_vwap_half_rounds_up_to_even() -> None:
    b = book()
    b.submit(1, 1, SELL, 1, price=10010)
    b.submit(2, 1, SELL, 1, price=10015)
    b.submit(3, 2, BUY, 2, price=10015)
    assert b.vwap == 10012  # 10012.5 -> 10012 (even)
    b2 = book()
    b2.submit(1, 1, SELL, 1, price=10015)
    b2.submit(2, 1, SELL, 1, price=10020)
    b2.submit(3, 2, BUY, 2, price=10020)
    assert b2.vwap == 10018  # 10017.5 -> 10018 (even)


def test_depth_levels_and_order_counts() -> None:
    b = book(BookConfig(depth_levels=2))
    for i, price in enumerate([9990, 9995, 10000, 9990, 9985]):
        b.submit(i + 1, 1, BUY, 1 + i, price=price)
    for i, price in enumerate([10010, 10015, 10020]):
        b.submit(10 + i, 2, SELL, 2, price=price)
    bids, asks = b.depth()
    assert bids == (DepthLevel(10000, 3, 1), DepthLevel(9995, 2, 1))
    assert asks == (DepthLevel(10010, 2, 1), DepthLevel(10015, 2, 1))
    bids, asks = b.depth(10)
    assert [d.price for d in bids] == [10000, 9995, 9990, 9985]
    assert bids[2] == DepthLevel(9990, 1 + 4, 2)
    assert len(asks) == 3
    assert b.depth(0) == ((), ())
    with pytest.raises(ValueError, match="depth levels must be >= 0"):
        b.depth(-1)


def test_best_price_recovers_after_levels_empty() -> None:
    b = book()
    for i in range(50):
        b.submit(i + 1, 1, SELL, 1, price=10000 + 5 * i)
    for i in range(49):
        b.cancel(i + 1)
        assert b.best_ask == 10000 + 5 * (i + 1)
    b.cancel(50)
    assert b.best_ask == 0
    # Re-create and delete the same levels many times: the stale heap stays bounded and correct.
    oid = 100
    for _ in range(200):
        oid += 1
        b.submit(oid, 1, SELL, 1, price=10005)
        oid += 1
        b.submit(oid, 1, SELL, 1, price=10010)
        assert b.best_ask == 10005
        b.cancel(oid - 1)
        assert b.best_ask == 10010
        b.cancel(oid)
        assert b.best_ask == 0


def test_tombstones_compacted_after_many_cancels_behind_the_front() -> None:
    b = book()
    for oid in (1, 2, 3):
        b.submit(oid, oid, BUY, 5, price=10000)
    for i in range(4, 500):
        b.submit(i, 1, BUY, 1, price=10000)
        if i % 7 == 0:
            continue  # a few survivors spread through the queue
        b.cancel(i)
    survivors = [i for i in range(4, 500) if i % 7 == 0]
    assert b.depth() == ((DepthLevel(10000, 15 + len(survivors), 3 + len(survivors)),), ())
    b.submit(900, 2, BUY, 1, price=10000)
    events = b.submit(901, 42, SELL, 16 + len(survivors), price=10000)
    assert [maker for maker, *_ in fills(events)] == [1, 2, 3, *survivors, 900]


# ---------------------------------------------------------------------------------------------
# IOC and FOK


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    b = book()
    b.submit(1, 1, SELL, 4, price=10000)
    events = b.submit(2, 2, BUY, 10, price=10000, validity=Validity.IOC, ts=7)
    assert kinds(events) == ["Fill", "Cancelled"]
    assert events[1] == Cancelled(2, 6, "IOC: unfilled remainder cancelled", 7)
    assert not b.is_live(2)
    assert b.best_bid == 0


def test_ioc_without_liquidity_is_cancelled_in_full() -> None:
    b = book()
    b.submit(1, 1, SELL, 4, price=10010)
    events = b.submit(2, 2, BUY, 10, price=10000, validity=Validity.IOC)
    assert events == [Cancelled(2, 10, "IOC: unfilled remainder cancelled", 0)]
    assert b.depth() == ((), (DepthLevel(10010, 4, 1),))


def test_fok_fills_completely_across_levels() -> None:
    b = book()
    b.submit(1, 1, SELL, 4, price=10000)
    b.submit(2, 1, SELL, 4, price=10005)
    events = b.submit(3, 2, BUY, 6, price=10005, validity=Validity.FOK)
    assert fills(events) == [(1, 3, 10000, 4), (2, 3, 10005, 2)]
    assert kinds(events) == ["Fill", "Fill"]


def test_fok_that_cannot_fill_in_full_is_cancelled_without_touching_the_book() -> None:
    b = book()
    b.submit(1, 1, SELL, 4, price=10000)
    b.submit(2, 1, SELL, 4, price=10010)
    events = b.submit(3, 2, BUY, 6, price=10005, validity=Validity.FOK)
    assert events == [
        Cancelled(
            3, 6, "FOK: only 4 of 6 could fill at once at 100.05 or better; cancelled in full", 0
        )
    ]
    assert b.leaves(1) == 4 and b.volume == 0


def test_fok_counts_hidden_iceberg_quantity() -> None:
    b = book()
    b.submit(1, 1, SELL, 50, price=10000, disclosed_qty=5)
    b.submit(2, 3, SELL, 5, price=10000)
    events = b.submit(3, 2, BUY, 55, price=10000, validity=Validity.FOK)
    assert sum(q for *_, q in fills(events)) == 55
    assert not b.is_live(1) and not b.is_live(2)


def test_fok_blocked_by_own_order_is_cancelled_and_leaves_own_order() -> None:
    b = book(BookConfig(stp_mode=StpMode.CANCEL_BOTH))
    b.submit(1, 9, SELL, 4, price=10000)
    b.submit(2, 7, SELL, 4, price=10000)
    events = b.submit(3, 7, BUY, 6, price=10000, validity=Validity.FOK)
    assert kinds(events) == ["Cancelled"]
    assert b.leaves(2) == 4 and b.leaves(1) == 4


def test_fok_with_cancel_oldest_skips_own_orders() -> None:
    b = book(BookConfig(stp_mode=StpMode.CANCEL_OLDEST))
    b.submit(1, 7, SELL, 4, price=10000)
    b.submit(2, 9, SELL, 6, price=10000)
    events = b.submit(3, 7, BUY, 6, price=10000, validity=Validity.FOK)
    assert kinds(events) == ["Cancelled", "Fill"]
    assert events[0] == Cancelled(
        1, 4, "self-trade prevention: resting order would trade with the same account", 0
    )
    assert fills(events) == [(2, 3, 10000, 6)]


# ---------------------------------------------------------------------------------------------
# MARKET orders and market protection


def test_market_order_uses_last_trade_for_protection_and_rests_remainder() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10000)
    b.submit(2, 2, BUY, 5, price=10000)  # last = 100.00
    b.submit(3, 1, SELL, 5, price=10100)
    b.submit(4, 1, SELL, 5, price=10300)  # beyond 2 %
    events = b.submit(5, 2, BUY, 8, order_type=OrderType.MARKET)
    assert fills(events) == [(3, 5, 10100, 5)]
    assert kinds(events) == ["Fill", "Accepted"]
    assert b.best_bid == 10200  # 100.00 * 1.02, the protection price
    assert b.leaves(5) == 3


def test_market_sell_protection_rounds_up_to_the_tick() -> None:
    b = book(BookConfig(market_protection_bps=250))
    b.set_reference_price(10005)  # 100.05 * 0.975 = 97.54875 -> 97.55
    b.submit(1, 1, BUY, 5, price=9000)
    events = b.submit(2, 2, SELL, 5, order_type=OrderType.MARKET)
    assert events == [Accepted(2, 0)]
    assert b.best_ask == 9755


def test_market_buy_protection_rounds_down_to_the_tick() -> None:
    b = book(BookConfig(market_protection_bps=250))
    b.set_reference_price(10005)  # 100.05 * 1.025 = 102.55125 -> 102.55
    b.submit(1, 1, SELL, 5, price=11000)
    b.submit(2, 2, BUY, 5, order_type=OrderType.MARKET)
    assert b.best_bid == 10255


def test_market_uses_best_opposite_when_no_trade_and_no_reference() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10000)
    b.submit(2, 1, SELL, 5, price=10200)
    b.submit(3, 1, SELL, 5, price=10205)
    events = b.submit(4, 2, BUY, 15, order_type=OrderType.MARKET)
    assert fills(events) == [(1, 4, 10000, 5), (2, 4, 10200, 5)]
    assert b.best_bid == 10200 and b.leaves(4) == 5


def test_market_remainder_cancel_mode() -> None:
    b = book(BookConfig(market_remainder=MarketRemainder.CANCEL))
    b.submit(1, 1, SELL, 5, price=10000)
    events = b.submit(2, 2, BUY, 8, order_type=OrderType.MARKET)
    assert kinds(events) == ["Fill", "Cancelled"]
    assert events[1] == Cancelled(
        2, 3, "MARKET: remainder beyond the protection price cancelled", 0
    )
    assert b.best_bid == 0


def test_market_ioc_cancels_remainder_even_in_rest_mode() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10000)
    events = b.submit(2, 2, BUY, 8, order_type=OrderType.MARKET, validity=Validity.IOC)
    assert kinds(events) == ["Fill", "Cancelled"]
    assert not b.is_live(2)


def test_market_without_any_reference_is_rejected() -> None:
    b = book()
    b.submit(1, 1, BUY, 5, price=10000)
    assert reason(b.submit(2, 2, BUY, 5, order_type=OrderType.MARKET)) == (
        "MARKET order needs a reference price for its protection: no trade yet, no reference "
        "price set and no SELL orders in the book"
    )
    s = book()
    s.submit(1, 1, SELL, 5, price=10000)
    assert "no BUY orders" in reason(s.submit(2, 2, SELL, 5, order_type=OrderType.MARKET))


def test_market_protection_is_clamped_to_the_band() -> None:
    b = book()
    b.set_reference_price(10000)
    b.set_bands(9000, 10100)
    b.submit(1, 1, SELL, 5, price=10100)
    events = b.submit(2, 2, BUY, 8, order_type=OrderType.MARKET)
    assert fills(events) == [(1, 2, 10100, 5)]
    assert b.best_bid == 10100
    s = book()
    s.set_reference_price(10000)
    s.set_bands(9900, 11000)
    assert s.submit(1, 1, SELL, 5, order_type=OrderType.MARKET) == [Accepted(1, 0)]
    assert s.best_ask == 9900  # 98.00 clamped up to the band


def test_market_with_zero_protection_is_a_limit_at_the_reference() -> None:
    b = book(BookConfig(market_protection_bps=0))
    b.set_reference_price(10000)
    b.submit(1, 1, SELL, 5, price=10000)
    b.submit(2, 1, SELL, 5, price=10005)
    events = b.submit(3, 2, BUY, 8, order_type=OrderType.MARKET)
    assert fills(events) == [(1, 3, 10000, 5)]
    assert b.best_bid == 10000


# ---------------------------------------------------------------------------------------------
# Stops


def trade_at(b: OrderBook, price: int, first_id: int, qty: int = 1) -> None:
    """Print one trade at ``price`` between two fresh orders of accounts 90 and 91."""
    b.submit(first_id, 90, SELL, qty, price=price)
    b.submit(first_id + 1, 91, BUY, qty, price=price)


def test_stop_limit_waits_then_triggers_on_a_trade_at_the_trigger() -> None:
    b = book()
    trade_at(b, 10000, 100)
    assert b.submit(1, 1, BUY, 5, order_type=OrderType.SL, price=10020, trigger=10010) == [
        Accepted(1, 0)
    ]
    assert b.leaves(1) == 5 and b.is_live(1)
    assert b.depth() == ((), ())
    b.submit(2, 2, SELL, 3, price=10015)
    b.submit(3, 3, SELL, 1, price=10005)
    events = b.submit(4, 4, BUY, 1, price=10005, ts=8)  # prints 100.05: below the trigger
    assert kinds(events) == ["Fill"]
    b.submit(5, 3, SELL, 1, price=10010)
    events = b.submit(6, 4, BUY, 1, price=10010, ts=9)  # prints 100.10: triggers
    assert kinds(events) == ["Fill", "Triggered", "Fill"]
    assert events[1] == Triggered(1, 9)
    assert fills(events[2:]) == [(2, 1, 10015, 3)]
    assert b.leaves(1) == 2 and b.best_bid == 10020
    # No second Accepted for the triggered order.
    assert not any(isinstance(e, Accepted) for e in events)


def test_stop_market_triggers_and_becomes_a_protected_market_order() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, SELL, 5, order_type=OrderType.SL_M, trigger=9990)
    b.submit(2, 2, BUY, 2, price=9990)
    b.submit(3, 2, BUY, 2, price=9900)
    b.submit(4, 2, BUY, 5, price=9700)  # below 2 % of the trigger print
    events = b.submit(5, 3, SELL, 2, price=9990)
    assert kinds(events) == ["Fill", "Triggered", "Fill"]
    assert fills(events) == [(2, 5, 9990, 2), (3, 1, 9900, 2)]
    # protection: 99.90 * 0.98 = 97.902 -> 97.95; the remainder rests there.
    assert b.best_ask == 9795 and b.leaves(1) == 3


def test_sell_stop_triggers_on_a_print_at_or_below() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, SELL, 1, order_type=OrderType.SL, price=9980, trigger=9990)
    b.submit(2, 2, BUY, 1, price=9995)
    b.submit(3, 3, SELL, 1, price=9995)  # 99.95: not yet
    assert b.is_live(1) and b.best_ask == 0
    b.submit(4, 2, BUY, 1, price=9985)
    events = b.submit(5, 3, SELL, 1, price=9985)  # 99.85: through the trigger
    assert kinds(events) == ["Fill", "Triggered"]
    assert b.best_ask == 9980


def test_stops_cascade_in_trigger_order() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, BUY, 1, order_type=OrderType.SL_M, trigger=10010)
    b.submit(2, 2, BUY, 1, order_type=OrderType.SL_M, trigger=10005)
    b.submit(10, 5, SELL, 1, price=10005)
    b.submit(11, 5, SELL, 1, price=10010)
    b.submit(12, 5, SELL, 1, price=10015)
    events = b.submit(13, 6, BUY, 1, price=10005)
    # 100.05 triggers stop 2 -> it buys at 100.10 -> triggers stop 1 -> buys at 100.15.
    tags = [(type(e).__name__, e.taker_id if isinstance(e, Fill) else e.order_id) for e in events]
    assert tags == [
        ("Fill", 13),
        ("Triggered", 2),
        ("Fill", 2),
        ("Triggered", 1),
        ("Fill", 1),
    ]
    assert b.last_price == 10015


def test_several_stops_triggered_by_one_sweep_enter_in_trigger_order() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, BUY, 1, order_type=OrderType.SL, price=10100, trigger=10015)
    b.submit(2, 2, BUY, 1, order_type=OrderType.SL, price=10100, trigger=10005)
    b.submit(3, 3, BUY, 1, order_type=OrderType.SL, price=10100, trigger=10005)
    for i, price in enumerate([10005, 10010, 10015]):
        b.submit(10 + i, 5, SELL, 1, price=price)
    events = b.submit(20, 6, BUY, 3, price=10015)
    assert [e.order_id for e in events if isinstance(e, Triggered)] == [2, 3, 1]


def test_stop_whose_trigger_is_already_reached_is_rejected() -> None:
    b = book()
    trade_at(b, 10000, 100)
    assert reason(b.submit(1, 1, BUY, 1, order_type=OrderType.SL_M, trigger=10000)) == (
        "SL-M BUY trigger 100.00 is already reached by the last trade 100.00; "
        "a buy stop must trigger above it"
    )
    assert reason(b.submit(2, 1, SELL, 1, order_type=OrderType.SL, price=10000, trigger=10005)) == (
        "SL SELL trigger 100.05 is already reached by the last trade 100.00; "
        "a sell stop must trigger below it"
    )


def test_stop_limit_trigger_must_not_be_beyond_its_limit() -> None:
    b = book()
    assert reason(b.submit(1, 1, BUY, 1, order_type=OrderType.SL, price=10000, trigger=10005)) == (
        "SL BUY trigger 100.05 is above its limit price 100.00; "
        "a buy stop-limit needs trigger <= price"
    )
    assert reason(b.submit(2, 1, SELL, 1, order_type=OrderType.SL, price=10005, trigger=10000)) == (
        "SL SELL trigger 100.00 is below its limit price 100.05; "
        "a sell stop-limit needs trigger >= price"
    )


def test_stop_order_type_field_rules() -> None:
    b = book()
    assert reason(b.submit(1, 1, BUY, 1, order_type=OrderType.SL, price=10000)) == (
        "trigger 0.00 must be positive"
    )
    assert reason(b.submit(2, 1, BUY, 1, order_type=OrderType.SL_M, trigger=10003)) == (
        "trigger 100.03 is not a multiple of tick 0.05"
    )
    assert reason(
        b.submit(3, 1, BUY, 1, order_type=OrderType.SL_M, price=10000, trigger=10005)
    ) == ("SL-M order takes no price (got 100.00); use LIMIT or SL")
    assert reason(b.submit(4, 1, BUY, 1, order_type=OrderType.SL, trigger=10005)) == (
        "price 0.00 must be positive"
    )


def test_cancel_and_modify_a_waiting_stop() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, BUY, 5, order_type=OrderType.SL_M, trigger=10020)
    assert b.modify(1, trigger=10010, qty=4) == [Modified(1, 4, 0, 10010, 0)]
    assert b.leaves(1) == 4
    assert reason(b.modify(1, price=10050)) == "order 1 is SL-M and has no limit price to modify"
    assert "already reached" in reason(b.modify(1, trigger=9995))
    assert b.cancel(1, ts=3) == [Cancelled(1, 4, "cancelled on request", 3)]
    assert not b.is_live(1)
    b.submit(10, 5, SELL, 1, price=10010)
    events = b.submit(11, 6, BUY, 1, price=10010)
    assert kinds(events) == ["Fill"]


def test_modify_stop_limit_price_and_qty_decrease_in_place() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, order_type=OrderType.SL, price=9980, trigger=9990)
    assert b.modify(1, qty=3) == [Modified(1, 3, 9980, 9990, 0)]
    assert b.modify(1, price=9985) == [Modified(1, 3, 9985, 9990, 0)]
    assert "below its limit price" in reason(b.modify(1, price=9995))


def test_stop_limit_outside_the_band_at_trigger_is_cancelled() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, BUY, 1, order_type=OrderType.SL, price=10500, trigger=10010)
    b.set_bands(9500, 10400)
    b.submit(10, 5, SELL, 1, price=10010)
    events = b.submit(11, 6, BUY, 1, price=10010)
    assert kinds(events) == ["Fill", "Triggered", "Cancelled"]
    assert events[2] == Cancelled(
        1, 1, "SL limit price 105.00 is outside the circuit band 95.00-104.00 at trigger", 0
    )


def test_stop_ioc_validity_applies_after_trigger() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(
        1, 1, BUY, 5, order_type=OrderType.SL, price=10010, trigger=10005, validity=Validity.IOC
    )
    b.submit(10, 5, SELL, 2, price=10005)
    events = b.submit(11, 6, BUY, 1, price=10005)
    assert kinds(events) == ["Fill", "Triggered", "Fill", "Cancelled"]
    assert events[3] == Cancelled(1, 4, "IOC: unfilled remainder cancelled", 0)


# ---------------------------------------------------------------------------------------------
# Icebergs


def test_iceberg_shows_only_disclosed_and_refill_goes_to_the_back() -> None:
    b = book()
    b.submit(1, 1, SELL, 30, price=10000, disclosed_qty=10)
    b.submit(2, 2, SELL, 5, price=10000)
    assert b.depth() == ((), (DepthLevel(10000, 15, 2),))
    events = b.submit(3, 3, BUY, 12, price=10000)
    # the shown 10 fill, the refill goes behind order 2, which fills next.
    assert fills(events) == [(1, 3, 10000, 10), (2, 3, 10000, 2)]
    assert events[0].maker_leaves == 20  # type: ignore[union-attr]
    assert b.depth() == ((), (DepthLevel(10000, 13, 2),))
    events = b.submit(4, 3, BUY, 25, price=10000)
    assert fills(events) == [(2, 4, 10000, 3), (1, 4, 10000, 10), (1, 4, 10000, 10)]
    assert b.leaves(1) == 0 and b.leaves(4) == 2


def test_iceberg_last_slice_is_the_remainder() -> None:
    b = book()
    b.submit(1, 1, BUY, 25, price=10000, disclosed_qty=10)
    b.submit(2, 2, SELL, 20, price=10000)
    assert b.depth() == ((DepthLevel(10000, 5, 1),), ())


def test_disclosed_quantity_rules() -> None:
    b = book()
    assert reason(b.submit(1, 1, BUY, 100, price=10000, disclosed_qty=9)) == (
        "disclosed qty 9 is below 10% of the order qty 100 (NSE minimum is 10)"
    )
    assert reason(b.submit(2, 1, BUY, 100, price=10000, disclosed_qty=101)) == (
        "disclosed qty 101 exceeds the order qty 100"
    )
    assert reason(b.submit(3, 1, BUY, 100, price=10000, disclosed_qty=-5)) == (
        "disclosed qty -5 must not be negative"
    )
    assert (
        reason(b.submit(4, 1, BUY, 100, price=10000, disclosed_qty=20, validity=Validity.IOC))
        == "disclosed qty needs DAY validity; IOC orders never rest"
    )
    f = book(instrument=FUT)
    assert reason(f.submit(5, 1, BUY, 650, price=2300000, disclosed_qty=100)) == (
        "disclosed qty 100 is not a multiple of the lot size 65"
    )


# ---------------------------------------------------------------------------------------------
# Cancel


def test_cancel_returns_leaves_and_removes_the_order() -> None:
    b = book()
    b.submit(1, 1, BUY, 10, price=10000)
    b.submit(2, 2, SELL, 4, price=10000)
    assert b.cancel(1, ts=4) == [Cancelled(1, 6, "cancelled on request", 4)]
    assert b.depth() == ((), ())
    assert b.leaves(1) == 0


def test_cancel_unknown_or_dead_order_is_rejected() -> None:
    b = book()
    assert b.cancel(42, ts=1) == [
        Rejected(42, "order 42 is not live (unknown, filled, cancelled, rejected or expired)", 1)
    ]
    b.submit(1, 1, BUY, 10, price=10000)
    b.cancel(1)
    assert kinds(b.cancel(1)) == ["Rejected"]


def test_dead_order_id_may_be_reused_but_live_id_may_not() -> None:
    b = book()
    b.submit(1, 1, BUY, 10, price=10000)
    assert reason(b.submit(1, 1, BUY, 10, price=9995)) == (
        "order id 1 is already live; order ids must be unique"
    )
    b.cancel(1)
    assert b.submit(1, 1, BUY, 10, price=9995) == [Accepted(1, 0)]


def test_cancel_in_the_middle_keeps_queue_order() -> None:
    b = book()
    for i in range(1, 5):
        b.submit(i, i, SELL, 1, price=10000)
    b.cancel(2)
    events = b.submit(9, 9, BUY, 3, price=10000)
    assert fills(events) == [(1, 9, 10000, 1), (3, 9, 10000, 1), (4, 9, 10000, 1)]


# ---------------------------------------------------------------------------------------------
# Modify


def test_modify_decrease_keeps_time_priority() -> None:
    b = book()
    b.submit(1, 1, SELL, 10, price=10000)
    b.submit(2, 2, SELL, 10, price=10000)
    assert b.modify(1, qty=4, ts=2) == [Modified(1, 4, 10000, 0, 2)]
    assert b.depth() == ((), (DepthLevel(10000, 14, 2),))
    events = b.submit(3, 3, BUY, 5, price=10000)
    assert fills(events) == [(1, 3, 10000, 4), (2, 3, 10000, 1)]


def test_modify_increase_loses_time_priority() -> None:
    b = book()
    b.submit(1, 1, SELL, 10, price=10000)
    b.submit(2, 2, SELL, 10, price=10000)
    assert b.modify(1, qty=12) == [Modified(1, 12, 10000, 0, 0)]
    events = b.submit(3, 3, BUY, 11, price=10000)
    assert fills(events) == [(2, 3, 10000, 10), (1, 3, 10000, 1)]
    assert b.leaves(1) == 11


def test_modify_price_loses_time_priority_even_back_to_the_same_level() -> None:
    b = book()
    b.submit(1, 1, SELL, 10, price=10000)
    b.submit(2, 2, SELL, 10, price=10000)
    b.modify(1, price=10005)
    b.modify(1, price=10000)
    events = b.submit(3, 3, BUY, 11, price=10000)
    assert fills(events) == [(2, 3, 10000, 10), (1, 3, 10000, 1)]


def test_modify_qty_counts_what_already_filled() -> None:
    b = book()
    b.submit(1, 1, SELL, 10, price=10000)
    b.submit(2, 2, BUY, 6, price=10000)
    assert reason(b.modify(1, qty=6)) == (
        "new qty 6 must exceed the 6 already filled; cancel the order instead"
    )
    assert b.modify(1, qty=8) == [Modified(1, 8, 10000, 0, 0)]
    assert b.leaves(1) == 2


def test_modify_that_becomes_marketable_matches() -> None:
    b = book()
    b.submit(1, 1, SELL, 5, price=10010)
    b.submit(2, 2, BUY, 8, price=10000)
    events = b.modify(2, price=10010, ts=3)
    assert kinds(events) == ["Modified", "Fill"]
    assert fills(events) == [(1, 2, 10010, 5)]
    assert b.leaves(2) == 3 and b.best_bid == 10010
    assert not any(isinstance(e, Accepted) for e in events)


def test_modify_iceberg_decrease_below_the_shown_slice() -> None:
    b = book()
    b.submit(1, 1, BUY, 40, price=10000, disclosed_qty=10)
    b.submit(2, 2, SELL, 32, price=10000)  # leaves 8, shown 8
    assert b.depth()[0] == (DepthLevel(10000, 8, 1),)
    b.submit(3, 1, BUY, 5, price=10000)
    assert b.modify(1, qty=35) == [Modified(1, 35, 10000, 0, 0)]
    assert b.leaves(1) == 3
    assert b.depth()[0] == (DepthLevel(10000, 8, 2),)


def test_modify_rejections() -> None:
    b = book()
    assert reason(b.modify(5, qty=10)) == (
        "order 5 is not live (unknown, filled, cancelled, rejected or expired)"
    )
    b.submit(1, 1, BUY, 100, price=10000, disclosed_qty=10)
    assert reason(b.modify(1)) == "modify needs a new qty, price or trigger"
    assert reason(b.modify(1, trigger=10005)) == (
        "order 1 is not waiting for a trigger; only SL / SL-M orders that have not triggered "
        "take a trigger"
    )
    assert reason(b.modify(1, price=10001)) == "price 100.01 is not a multiple of tick 0.05"
    assert reason(b.modify(1, qty=0)) == "qty 0 must be positive"
    assert reason(b.modify(1, qty=101)) == (
        "disclosed qty 10 would be below 10% of the new qty 101 (NSE minimum)"
    )
    b.set_bands(9000, 11000)
    assert reason(b.modify(1, price=11005)) == (
        "price 110.05 is outside the circuit band 90.00-110.00"
    )
    assert b.leaves(1) == 100


# ---------------------------------------------------------------------------------------------
# Self-trade prevention


def test_stp_cancel_newest_cancels_the_incoming_remainder() -> None:
    b = book()
    b.submit(1, 9, SELL, 5, price=10000)
    b.submit(2, 7, SELL, 5, price=10000)
    b.submit(3, 9, SELL, 5, price=10000)
    events = b.submit(4, 7, BUY, 12, price=10000, ts=1)
    assert fills(events) == [(1, 4, 10000, 5)]
    assert events[-1] == Cancelled(
        4, 7, "self-trade prevention: incoming order would trade with the same account", 1
    )
    assert b.leaves(2) == 5 and b.leaves(3) == 5


def test_stp_cancel_oldest_cancels_resting_and_continues() -> None:
    b = book(BookConfig(stp_mode=StpMode.CANCEL_OLDEST))
    b.submit(1, 9, SELL, 5, price=10000)
    b.submit(2, 7, SELL, 5, price=10000)
    b.submit(3, 9, SELL, 5, price=10000)
    events = b.submit(4, 7, BUY, 12, price=10000)
    assert kinds(events) == ["Fill", "Cancelled", "Fill", "Accepted"]
    assert events[1] == Cancelled(
        2, 5, "self-trade prevention: resting order would trade with the same account", 0
    )
    assert fills(events) == [(1, 4, 10000, 5), (3, 4, 10000, 5)]
    assert b.leaves(4) == 2 and not b.is_live(2)


def test_stp_cancel_both() -> None:
    b = book(BookConfig(stp_mode=StpMode.CANCEL_BOTH))
    b.submit(1, 7, SELL, 5, price=10000)
    b.submit(2, 9, SELL, 5, price=10000)
    events = b.submit(3, 7, BUY, 8, price=10000)
    assert kinds(events) == ["Cancelled", "Cancelled"]
    assert [e.order_id for e in events if isinstance(e, Cancelled)] == [1, 3]
    assert b.leaves(2) == 5
    assert b.best_bid == 0


def test_account_zero_never_self_trades() -> None:
    b = book()
    b.submit(1, 0, SELL, 5, price=10000)
    assert fills(b.submit(2, 0, BUY, 5, price=10000)) == [(1, 2, 10000, 5)]


# ---------------------------------------------------------------------------------------------
# DAY expiry


def test_expire_day_orders_expires_everything_and_keeps_statistics() -> None:
    b = book()
    trade_at(b, 10000, 100)
    b.submit(1, 1, BUY, 10, price=9990)
    b.submit(2, 2, SELL, 10, price=10010)
    b.submit(3, 3, SELL, 20, price=10010, disclosed_qty=5)
    b.submit(4, 4, BUY, 1, price=10010)  # leaves 2 with 9 open
    b.submit(5, 1, BUY, 3, order_type=OrderType.SL_M, trigger=10100)
    events = b.expire_day_orders(ts=77)
    assert events == [Expired(1, 10, 77), Expired(2, 9, 77), Expired(3, 20, 77), Expired(5, 3, 77)]
    assert b.depth() == ((), ())
    assert (b.best_bid, b.best_ask) == (0, 0)
    assert not any(b.is_live(i) for i in range(1, 6))
    assert b.last_price == 10010 and b.volume == 2
    assert b.expire_day_orders(ts=78) == []


# ---------------------------------------------------------------------------------------------
# Validation


def test_tick_size_rejection_names_the_numbers() -> None:
    b = book()
    assert reason(b.submit(1, 1, BUY, 1, price=81253)) == (
        "price 812.53 is not a multiple of tick 0.05"
    )


def test_quantity_rejections() -> None:
    f = book(instrument=FUT)
    assert reason(f.submit(1, 1, BUY, 0, price=2300000)) == "qty 0 must be positive"
    assert reason(f.submit(2, 1, BUY, -65, price=2300000)) == "qty -65 must be positive"
    assert reason(f.submit(3, 1, BUY, 70, price=2300000)) == (
        "qty 70 is not a multiple of the lot size 65"
    )
    assert reason(f.submit(4, 1, BUY, 1820, price=2300000)) == (
        "qty 1820 exceeds the freeze quantity 1755; split the order"
    )
    assert f.submit(5, 1, BUY, 1755, price=2300000) == [Accepted(5, 0)]


def test_price_rejections() -> None:
    b = book()
    assert reason(b.submit(1, 1, BUY, 1)) == "price 0.00 must be positive"
    assert reason(b.submit(2, 1, BUY, 1, price=-100)) == "price -1.00 must be positive"
    b.set_bands(9000, 11000)
    assert reason(b.submit(3, 1, BUY, 1, price=11005)) == (
        "price 110.05 is outside the circuit band 90.00-110.00"
    )
    assert reason(b.submit(4, 1, SELL, 1, price=8995)) == (
        "price 89.95 is outside the circuit band 90.00-110.00"
    )
    assert b.submit(5, 1, SELL, 1, price=9000) == [Accepted(5, 0)]
    assert isinstance(b.submit(6, 2, BUY, 1, price=11000)[0], Fill)
    assert reason(b.submit(7, 1, BUY, 1, order_type=OrderType.SL_M, trigger=11005)) == (
        "trigger 110.05 is outside the circuit band 90.00-110.00"
    )
    b.set_bands(0, 0)
    assert b.bands == (0, 0)
    assert b.submit(8, 1, BUY, 1, price=11005) == [Accepted(8, 0)]


def test_field_type_and_combination_rejections() -> None:
    b = book()
    assert reason(b.submit(1, 1, BUY, 1, price=10000, trigger=9995)) == (
        "LIMIT order takes no trigger (got 99.95); use SL or SL-M for a stop"
    )
    assert reason(b.submit(2, 1, BUY, 1, order_type=OrderType.MARKET, price=10000)) == (
        "MARKET order takes no price (got 100.00); use LIMIT or SL"
    )
    assert reason(b.submit(3, 1, "BUY", 1, price=10000)) == (  # type: ignore[arg-type]
        "side 'BUY' must be Side.BUY or Side.SELL"
    )
    assert reason(b.submit(4, 1, BUY, 1, price=10000, validity="GTC")) == (  # type: ignore[arg-type]
        "validity 'GTC' must be a Validity (DAY, IOC or FOK)"
    )
    assert reason(b.submit(5, 1, BUY, 1, order_type="STOP", price=10000)) == (  # type: ignore[arg-type]
        "order type 'STOP' must be an OrderType (LIMIT, MARKET, SL or SL-M)"
    )


def test_rejection_carries_id_and_timestamp_and_changes_nothing() -> None:
    b = book()
    events = b.submit(1, 1, BUY, 1, price=10001, ts=123)
    assert events == [Rejected(1, "price 100.01 is not a multiple of tick 0.05", 123)]
    assert not b.is_live(1) and b.depth() == ((), ())


def test_book_and_setting_errors() -> None:
    index = Instrument("99926000", Exchange.NSE, "NIFTY", "NIFTY", InstrumentType.INDEX)
    with pytest.raises(ValueError, match="is an index"):
        OrderBook(index)
    with pytest.raises(ValueError, match="market_protection_bps must be >= 0"):
        OrderBook(EQ, BookConfig(market_protection_bps=-1))
    with pytest.raises(ValueError, match="depth_levels must be at least 1"):
        OrderBook(EQ, BookConfig(depth_levels=0))
    bad_tick = Instrument("1", Exchange.NSE, "X", "X", InstrumentType.EQUITY, tick_size=0)
    with pytest.raises(ValueError, match="must both be positive"):
        OrderBook(bad_tick)
    b = book()
    with pytest.raises(ValueError, match="0 < lower <= upper"):
        b.set_bands(11000, 9000)
    with pytest.raises(ValueError, match=r"must lie on the tick grid of 0\.05"):
        b.set_bands(9001, 11000)
    with pytest.raises(ValueError, match="reference price must be positive"):
        b.set_reference_price(0)
    b.set_reference_price(10000)
    assert b.reference_price == 10000
    assert b.instrument is EQ
    assert b.config.stp_mode is StpMode.CANCEL_NEWEST


def test_live_order_ids_lists_resting_then_stops() -> None:
    b = book()
    b.submit(1, 1, BUY, 1, price=10000)
    b.submit(2, 1, BUY, 1, order_type=OrderType.SL_M, trigger=10100)
    b.submit(3, 1, SELL, 1, price=10100)
    assert b.live_order_ids() == [1, 3, 2]
