"""Example tests of the live-feed fill model: one test (or more) per rule, with exact numbers."""

from __future__ import annotations

import random

import pytest

from engine.book_events import (
    Accepted,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    MarketRemainder,
    Modified,
    Rejected,
    Triggered,
)
from engine.clock import SimClock
from engine.fills import MARKET_ORDER_ID, FillModelConfig, LiveFillModel
from engine.models import (
    DepthLevel,
    Exchange,
    Instrument,
    InstrumentType,
    OrderType,
    Quote,
    Side,
    TradePrint,
    Validity,
)

BUY = Side.BUY
SELL = Side.SELL
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
SL = OrderType.SL
SL_M = OrderType.SL_M
IOC = Validity.IOC
FOK = Validity.FOK

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
NIFTY = Instrument(
    token="99926000",
    exchange=Exchange.NSE,
    symbol="NIFTY",
    name="NIFTY 50",
    instrument_type=InstrumentType.INDEX,
)
T = EQ.token
START = 1_700_000_000_000_000_000


def model(config: FillModelConfig | None = None, seed: int = 7) -> LiveFillModel:
    """A fresh model on a simulated clock, with EQ, FUT and the NIFTY index registered."""
    return LiveFillModel(
        config, rng=random.Random(seed), clock=SimClock(START), instruments=[EQ, FUT, NIFTY]
    )


def quote(
    ltp: int = 0,
    *,
    bids: list[tuple[int, int]] | None = None,
    asks: list[tuple[int, int]] | None = None,
    volume: int = 0,
    low: int = 0,
    high: int = 0,
    close: int = 0,
    lower: int = 0,
    upper: int = 0,
    seq: int = 0,
    ts: int = 0,
    token: str = T,
) -> Quote:
    """A quote; depth levels are (price, qty) best first."""
    return Quote(
        token,
        ltp,
        exchange_ts=ts,
        seq=seq,
        volume=volume,
        low=low,
        high=high,
        close=close,
        bids=tuple(DepthLevel(p, q, 1) for p, q in bids or ()),
        asks=tuple(DepthLevel(p, q, 1) for p, q in asks or ()),
        lower_circuit=lower,
        upper_circuit=upper,
    )


def fills(events: list[BookEvent]) -> list[tuple[int, int, int, str]]:
    """(our order id, price, qty, "T"aker or "M"aker) of every Fill."""
    out = []
    for e in events:
        if isinstance(e, Fill):
            if e.taker_id != MARKET_ORDER_ID:
                out.append((e.taker_id, e.price, e.qty, "T"))
            else:
                out.append((e.maker_id, e.price, e.qty, "M"))
    return out


def kinds(events: list[BookEvent]) -> list[str]:
    """Event class names, in order."""
    return [type(e).__name__ for e in events]


def reason(events: list[BookEvent]) -> str:
    """The reason of the single Rejected event."""
    assert len(events) == 1 and isinstance(events[0], Rejected), events
    return events[0].reason


def book_quote(**kw: object) -> Quote:
    """A typical SnapQuote: LTP 100.00, bids 100.00/99.95/99.90, asks 100.05/100.10/100.20."""
    base: dict[str, object] = {
        "ltp": 10_000,
        "bids": [(10_000, 500), (9_995, 800), (9_990, 1_000)],
        "asks": [(10_005, 100), (10_010, 200), (10_020, 300)],
        "volume": 50_000,
        "low": 9_900,
        "high": 10_100,
        "close": 9_950,
    }
    base.update(kw)
    return quote(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Taker fills: walking the depth


def test_market_buy_walks_levels_at_each_level_price() -> None:
    m = model()
    m.on_quote(book_quote())
    events = m.submit(1, T, BUY, 450, MARKET, ts=5)
    assert fills(events) == [(1, 10_005, 100, "T"), (1, 10_010, 200, "T"), (1, 10_020, 150, "T")]
    assert kinds(events) == ["Fill", "Fill", "Fill"]  # filled at once: no Accepted
    last = events[-1]
    assert isinstance(last, Fill)
    assert last.aggressor is BUY and last.maker_id == MARKET_ORDER_ID and last.taker_leaves == 0
    assert last.taker_account == 1 and last.maker_account == 0 and last.ts == 5
    assert not m.is_live(1)


def test_market_sell_walks_bids() -> None:
    m = model()
    m.on_quote(book_quote())
    events = m.submit(1, T, SELL, 1_000, MARKET)
    assert fills(events) == [(1, 10_000, 500, "T"), (1, 9_995, 500, "T")]


def test_limit_crossing_walks_up_to_limit_then_rests_at_limit() -> None:
    m = model()
    m.on_quote(book_quote())
    events = m.submit(1, T, BUY, 500, LIMIT, 10_010)
    assert fills(events) == [(1, 10_005, 100, "T"), (1, 10_010, 200, "T")]
    assert kinds(events)[-1] == "Accepted"
    assert m.leaves(1) == 200
    assert m.limit_price(1) == 10_010
    assert m.queue_ahead(1) == 0  # better than the best bid: nobody ahead


def test_limit_not_crossing_rests_without_fill() -> None:
    m = model()
    m.on_quote(book_quote())
    assert kinds(m.submit(1, T, BUY, 100, LIMIT, 9_995)) == ["Accepted"]
    assert m.queue_ahead(1) == 800


def test_market_protection_caps_the_walk_and_remainder_rests_at_protection() -> None:
    m = model()
    m.on_quote(book_quote(asks=[(10_100, 100), (10_200, 100), (10_205, 500)]))
    events = m.submit(1, T, BUY, 1_000, MARKET)
    # LTP 100.00 + 2 % = 102.00: 102.05 is beyond protection.
    assert fills(events) == [(1, 10_100, 100, "T"), (1, 10_200, 100, "T")]
    assert kinds(events)[-1] == "Accepted"
    assert m.limit_price(1) == 10_200 and m.leaves(1) == 800


def test_market_sell_protection_below_reference() -> None:
    m = model()
    m.on_quote(book_quote(bids=[(9_900, 100), (9_800, 100), (9_795, 500)]))
    events = m.submit(1, T, SELL, 300, MARKET)
    assert fills(events) == [(1, 9_900, 100, "T"), (1, 9_800, 100, "T")]
    assert m.limit_price(1) == 9_800


def test_protection_snaps_inward_to_tick_and_respects_circuit() -> None:
    m = model(FillModelConfig(market_protection_bps=150))
    m.on_quote(book_quote(ltp=10_007, asks=[]))  # LTP 100.07 is off-tick on purpose
    # 100.07 * 1.015 = 101.571.. -> down to 101.55
    m.submit(1, T, BUY, 10, MARKET)
    assert m.limit_price(1) == 10_155
    m.on_quote(book_quote(asks=[], upper=10_150, lower=9_000))
    m.submit(2, T, BUY, 10, MARKET)
    assert m.limit_price(2) == 10_150  # clamped to the upper circuit


def test_market_remainder_cancel_mode() -> None:
    m = model(FillModelConfig(market_remainder=MarketRemainder.CANCEL))
    m.on_quote(book_quote(asks=[(10_100, 100)]))
    events = m.submit(1, T, BUY, 300, MARKET)
    assert fills(events) == [(1, 10_100, 100, "T")]
    last = events[-1]
    assert isinstance(last, Cancelled) and last.leaves_qty == 200
    assert last.reason == "MARKET: remainder beyond the protection price cancelled"
    assert not m.is_live(1)


def test_market_reference_falls_back_to_close_then_best_opposite() -> None:
    m = model()
    m.on_quote(quote(close=10_000, asks=[(10_300, 10)], upper=11_000, lower=9_000))
    m.submit(1, T, BUY, 10, MARKET)
    assert m.limit_price(1) == 10_200  # close 100.00 + 2 %
    m2 = model()
    m2.on_quote(quote(asks=[(10_000, 10)], bids=[(9_990, 5)]))
    events = m2.submit(1, T, SELL, 10, MARKET)
    assert fills(events) == [(1, 9_990, 5, "T")]
    # No LTP, no close: the reference is the best bid 99.90; 99.90 * 0.98 = 97.902 -> 97.95.
    assert m2.limit_price(1) == 9_795


def test_ioc_cancels_the_remainder() -> None:
    m = model()
    m.on_quote(book_quote())
    events = m.submit(1, T, BUY, 300, LIMIT, 10_005, validity=IOC)
    assert fills(events) == [(1, 10_005, 100, "T")]
    last = events[-1]
    assert isinstance(last, Cancelled) and last.leaves_qty == 200
    assert last.reason == "IOC: unfilled remainder cancelled"
    assert not m.is_live(1)


def test_ioc_without_crossing_depth_cancels_everything() -> None:
    m = model()
    m.on_quote(book_quote())
    events = m.submit(1, T, BUY, 300, LIMIT, 10_000, validity=IOC)
    assert kinds(events) == ["Cancelled"]
    assert isinstance(events[0], Cancelled) and events[0].leaves_qty == 300


def test_fok_fills_in_full_or_not_at_all() -> None:
    m = model()
    m.on_quote(book_quote())
    events = m.submit(1, T, BUY, 301, LIMIT, 10_010, validity=FOK)
    assert kinds(events) == ["Cancelled"]
    assert isinstance(events[0], Cancelled)
    assert events[0].reason == (
        "FOK: only 300 of 301 could fill at once at 100.10 or better; cancelled in full"
    )
    events = m.submit(2, T, BUY, 300, LIMIT, 10_010, validity=FOK)
    assert fills(events) == [(2, 10_005, 100, "T"), (2, 10_010, 200, "T")]


# ---------------------------------------------------------------------------------------------
# Consumed liquidity


def test_two_orders_on_one_quote_never_take_the_same_shares() -> None:
    m = model()
    m.on_quote(book_quote())
    first = m.submit(1, T, BUY, 150, MARKET)
    second = m.submit(2, T, BUY, 200, MARKET)
    assert fills(first) == [(1, 10_005, 100, "T"), (1, 10_010, 50, "T")]
    assert fills(second) == [(2, 10_010, 150, "T"), (2, 10_020, 50, "T")]
    third = m.submit(3, T, BUY, 300, LIMIT, 10_020, validity=IOC)
    assert fills(third) == [(3, 10_020, 250, "T")]


def test_sells_and_buys_consume_their_own_sides() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, SELL, 400, MARKET)
    events = m.submit(2, T, SELL, 200, MARKET)
    assert fills(events) == [(2, 10_000, 100, "T"), (2, 9_995, 100, "T")]
    assert fills(m.submit(3, T, BUY, 100, MARKET)) == [(3, 10_005, 100, "T")]


def test_consumption_survives_an_unchanged_level_and_resets_when_it_changes() -> None:
    m = model()
    m.on_quote(book_quote(seq=1))
    m.submit(1, T, BUY, 100, LIMIT, 10_005, validity=IOC)
    # The same level size again: those shares are still the ones we took.
    m.on_quote(book_quote(seq=2))
    events = m.submit(2, T, BUY, 100, LIMIT, 10_005, validity=IOC)
    assert fills(events) == []
    # Fresh data at that level (its size changed): available again.
    m.on_quote(book_quote(seq=3, asks=[(10_005, 120), (10_010, 200)]))
    events = m.submit(3, T, BUY, 100, LIMIT, 10_005, validity=IOC)
    assert fills(events) == [(3, 10_005, 100, "T")]


def test_resting_order_crossed_by_new_depth_fills_at_its_own_price() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 300, LIMIT, 10_000)
    assert m.queue_ahead(1) == 500
    events = m.on_quote(
        book_quote(ts=START + 9, bids=[(9_990, 100)], asks=[(9_995, 120), (10_000, 50)])
    )
    # The sellers at 99.95 and 100.00 would have met our 100.00 bid first: we are the maker.
    assert fills(events) == [(1, 10_000, 170, "M")]
    fill = events[0]
    assert isinstance(fill, Fill) and fill.aggressor is SELL and fill.ts == START + 9
    assert fill.maker_leaves == 130 and fill.taker_id == MARKET_ORDER_ID
    assert m.queue_ahead(1) == 0
    # The same depth again: already consumed.
    assert (
        fills(m.on_quote(book_quote(bids=[(9_990, 100)], asks=[(9_995, 120), (10_000, 50)]))) == []
    )


# ---------------------------------------------------------------------------------------------
# Resting orders: queue estimate, trades at price, trade-through


def test_resting_bid_fills_only_after_the_queue_ahead_traded() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 100, LIMIT, 10_000)
    assert m.queue_ahead(1) == 500
    # 300 traded at 100.00: the queue ahead shrinks, no fill.
    events = m.on_quote(book_quote(volume=1_300, bids=[(10_000, 600), (9_995, 800)]))
    assert events == [] and m.queue_ahead(1) == 200
    # Volume at another price does not move our queue.
    assert m.on_quote(book_quote(ltp=10_005, volume=1_400, bids=[(10_000, 600)])) == []
    assert m.queue_ahead(1) == 200
    # Exactly the queue ahead trades: still no fill.
    assert m.on_quote(book_quote(volume=1_600, bids=[(10_000, 400)])) == []
    assert m.queue_ahead(1) == 0
    # Now volume at our price fills us, capped by the volume.
    events = m.on_quote(book_quote(volume=1_630, bids=[(10_000, 370)]))
    assert fills(events) == [(1, 10_000, 30, "M")]
    events = m.on_quote(book_quote(volume=2_000, bids=[(10_000, 100)]))
    assert fills(events) == [(1, 10_000, 70, "M")]
    assert not m.is_live(1)


def test_queue_shrinks_to_a_smaller_displayed_level() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 100, LIMIT, 10_000)
    m.on_quote(book_quote(bids=[(10_000, 120), (9_995, 800)]))  # cancellations ahead of us
    assert m.queue_ahead(1) == 120
    m.on_quote(book_quote(bids=[(10_000, 900), (9_995, 800)]))  # new orders join behind us
    assert m.queue_ahead(1) == 120
    m.on_quote(book_quote(bids=[(10_005, 10), (9_995, 800)]))  # level gone inside the range
    assert m.queue_ahead(1) == 0


def test_queue_unknown_deeper_than_the_displayed_levels_until_it_shows() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 100, LIMIT, 9_900)  # below the 3 displayed bids
    assert m.queue_ahead(1) is None
    # Volume at our price while the queue is unknown: no fill on volume alone.
    assert m.on_quote(book_quote(ltp=9_900, volume=1_500, low=9_900)) == []
    m.on_quote(book_quote(ltp=9_900, volume=1_500, bids=[(9_905, 10), (9_900, 250)]))
    assert m.queue_ahead(1) == 250


def test_trade_through_fills_fully_at_the_limit() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 400, LIMIT, 10_000)
    assert m.queue_ahead(1) == 500
    events = m.on_quote(book_quote(ltp=9_995, volume=1_010, bids=[(9_995, 800)]))
    assert fills(events) == [(1, 10_000, 400, "M")]
    assert not m.is_live(1)


def test_sell_trade_through() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, SELL, 50, LIMIT, 10_010)
    assert m.queue_ahead(1) == 200
    events = m.on_quote(book_quote(ltp=10_020, volume=1_001, asks=[(10_020, 100)]))
    assert fills(events) == [(1, 10_010, 50, "M")]


def test_new_session_low_below_the_limit_is_a_trade_through() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000, low=9_990))
    m.submit(1, T, BUY, 100, LIMIT, 9_995)
    # The market went down to 99.85 and came back: LTP 100.00 but the low fell.
    events = m.on_quote(book_quote(volume=1_500, low=9_985))
    assert fills(events) == [(1, 9_995, 100, "M")]


def test_old_ltp_below_a_new_bid_is_not_a_fill() -> None:
    m = model()
    m.on_quote(book_quote(ltp=9_990, volume=1_000))
    m.submit(1, T, BUY, 100, LIMIT, 9_995, validity=Validity.DAY)
    # Same LTP, no new volume: the LTP below our bid was printed before our order existed.
    assert m.on_quote(book_quote(ltp=9_990, volume=1_000, bids=[(9_995, 10)])) == []
    assert m.leaves(1) == 100


def test_quote_that_does_not_reach_the_price_never_fills() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 100, LIMIT, 9_990)
    for vol in (1_100, 1_200, 1_300):
        assert m.on_quote(book_quote(ltp=9_995, volume=vol, low=9_900)) == []
    assert m.leaves(1) == 100


def test_flow_is_shared_by_our_orders_in_time_priority() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000, bids=[(9_995, 800)]))
    m.submit(1, T, BUY, 100, LIMIT, 10_000)  # better than the best bid: queue 0
    m.submit(2, T, BUY, 100, LIMIT, 10_000)
    assert m.queue_ahead(1) == 0 and m.queue_ahead(2) == 0
    events = m.on_quote(book_quote(volume=1_150, bids=[(9_995, 800)]))
    assert fills(events) == [(1, 10_000, 100, "M"), (2, 10_000, 50, "M")]


def test_better_priced_resting_order_meets_crossing_depth_first() -> None:
    m = model()
    m.on_quote(book_quote(bids=[(9_990, 100)]))
    m.submit(1, T, BUY, 100, LIMIT, 9_995)
    m.submit(2, T, BUY, 100, LIMIT, 10_000)
    events = m.on_quote(book_quote(bids=[(9_980, 100)], asks=[(9_990, 150)]))
    assert fills(events) == [(2, 10_000, 100, "M"), (1, 9_995, 50, "M")]


def test_trade_prints_drive_queue_and_are_not_counted_twice() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 100, LIMIT, 10_000)
    # A buyer lifting an offer at our price does not work off the bid queue.
    assert m.on_trade(TradePrint(T, 10_000, 300, BUY, START + 1)) == []
    assert m.queue_ahead(1) == 500
    assert m.on_trade(TradePrint(T, 10_000, 450, SELL, START + 2)) == []
    assert m.queue_ahead(1) == 50
    events = m.on_trade(TradePrint(T, 10_000, 80, SELL, START + 3))
    assert fills(events) == [(1, 10_000, 30, "M")]
    assert isinstance(events[0], Fill) and events[0].ts == START + 3
    # The quote's volume rise is exactly what the prints reported: no second fill.
    assert m.on_quote(book_quote(volume=1_830, bids=[(10_000, 100)])) == []
    assert m.leaves(1) == 70
    events = m.on_trade(TradePrint(T, 9_995, 1, SELL, START + 4))  # through our price
    assert fills(events) == [(1, 10_000, 70, "M")]


def test_ltp_only_feed_market_order_is_a_blind_taker_filled_at_the_next_trade() -> None:
    m = model()
    m.on_quote(quote(10_000))
    events = m.submit(1, T, BUY, 10, MARKET)
    assert kinds(events) == ["Accepted"]
    assert m.limit_price(1) == 10_200 and m.queue_ahead(1) is None
    assert m.on_quote(quote(10_000)) == []  # the same LTP is no new trade
    assert m.on_quote(quote(10_300)) == []  # a trade beyond the protection price
    events = m.on_quote(quote(10_005, ts=START + 1))
    # Filled in full at the trade price, as the aggressor (not at the protection price).
    assert fills(events) == [(1, 10_005, 10, "T")]
    assert not m.is_live(1)


def test_ltp_only_feed_passive_limit_fills_at_its_limit_when_traded_through() -> None:
    m = model()
    m.on_quote(quote(10_000, volume=1_000))
    m.submit(1, T, BUY, 10, LIMIT, 9_990)  # below the LTP: passive
    assert m.on_quote(quote(9_990, volume=1_100)) == []  # at our price, queue unknown
    assert fills(m.on_quote(quote(9_985, volume=1_101))) == [(1, 9_990, 10, "M")]


def test_blind_taker_walks_the_first_depth_that_arrives() -> None:
    m = model()
    m.submit(1, T, BUY, 250, LIMIT, 10_010)  # before any data: blind
    assert m.queue_ahead(1) is None
    events = m.on_quote(book_quote())
    assert fills(events) == [(1, 10_005, 100, "T"), (1, 10_010, 150, "T")]
    assert not m.is_live(1)


def test_blind_taker_filled_by_a_print_at_its_price() -> None:
    m = model()
    m.on_quote(quote(10_000))
    m.submit(1, T, SELL, 10, MARKET)  # rests blind at 98.00
    assert m.on_trade(TradePrint(T, 9_700, 5, SELL, START + 1)) == []  # beyond protection
    assert fills(m.on_trade(TradePrint(T, 9_990, 5, BUY, START + 2))) == [(1, 9_990, 10, "T")]


def test_ioc_on_a_feed_without_depth_is_cancelled() -> None:
    m = model()
    m.on_quote(quote(10_000, volume=1_000))
    events = m.submit(1, T, BUY, 10, MARKET, validity=IOC)
    assert events == [Cancelled(1, 10, "IOC: unfilled remainder cancelled", START)]


def test_instruments_are_independent() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.on_quote(quote(2_500_000, token=FUT.token, volume=10, asks=[(2_500_100, 650)]))
    m.submit(1, FUT.token, BUY, 130, LIMIT, 2_500_000)
    m.submit(2, T, BUY, 10, LIMIT, 10_000)
    # An EQ quote trading through 100.00 fills only the EQ order.
    events = m.on_quote(book_quote(ltp=9_990, volume=1_100))
    assert fills(events) == [(2, 10_000, 10, "M")]
    assert m.leaves(1) == 130
    # A print of an instrument we hold nothing in is tracked and changes nothing.
    assert m.on_trade(TradePrint("777", 100, 1, BUY, START)) == []
    market = m.market("777")
    assert market is not None and market.ltp == 100


# ---------------------------------------------------------------------------------------------
# Stops


def test_sl_m_sell_triggers_on_ltp_and_walks_bids_within_protection() -> None:
    m = model()
    m.on_quote(book_quote())
    assert kinds(m.submit(1, T, SELL, 300, SL_M, trigger=9_900)) == ["Accepted"]
    assert m.on_quote(book_quote(ltp=9_905)) == []
    events = m.on_quote(
        book_quote(ltp=9_900, bids=[(9_895, 100), (9_800, 100), (9_700, 500)], ts=START + 50)
    )
    # Protection from LTP 99.00: 97.02 -> up to 97.05; 97.00 is beyond it.
    assert kinds(events) == ["Triggered", "Fill", "Fill"]
    assert fills(events) == [(1, 9_895, 100, "T"), (1, 9_800, 100, "T")]
    assert m.limit_price(1) == 9_705 and m.leaves(1) == 100
    assert events[0] == Triggered(1, START + 50)


def test_sl_buy_triggers_then_acts_as_limit() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 300, SL, price=10_110, trigger=10_100)
    assert m.limit_price(1) == 10_110 and m.queue_ahead(1) is None
    events = m.on_quote(book_quote(ltp=10_100, asks=[(10_105, 100), (10_110, 50), (10_115, 500)]))
    assert kinds(events) == ["Triggered", "Fill", "Fill"]  # no second Accepted
    assert fills(events) == [(1, 10_105, 100, "T"), (1, 10_110, 50, "T")]
    assert m.leaves(1) == 150 and m.queue_ahead(1) == 0


def test_stop_triggers_on_a_new_high_between_quotes() -> None:
    m = model()
    m.on_quote(book_quote(high=10_050))
    m.submit(1, T, BUY, 10, SL_M, trigger=10_060)
    events = m.on_quote(book_quote(high=10_060))
    assert kinds(events)[0] == "Triggered"


def test_stop_triggers_on_a_trade_print() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, SELL, 50, SL_M, trigger=9_950)
    events = m.on_trade(TradePrint(T, 9_950, 5, SELL, START + 7))
    assert kinds(events) == ["Triggered", "Fill"]
    assert fills(events) == [(1, 10_000, 50, "T")]


def test_stop_already_reached_is_rejected() -> None:
    m = model()
    m.on_quote(book_quote())
    assert reason(m.submit(1, T, BUY, 10, SL_M, trigger=10_000)) == (
        "SL-M BUY trigger 100.00 is already reached by the last trade 100.00; "
        "a buy stop must trigger above it"
    )
    assert reason(m.submit(2, T, SELL, 10, SL, price=10_000, trigger=9_995)) == (
        "SL SELL trigger 99.95 is below its limit price 100.00; "
        "a sell stop-limit needs trigger >= price"
    )


def test_sl_outside_the_band_at_trigger_is_cancelled() -> None:
    m = model()
    m.on_quote(book_quote(upper=11_000, lower=9_000))
    m.submit(1, T, BUY, 10, SL, price=10_900, trigger=10_500)
    events = m.on_quote(book_quote(ltp=10_500, upper=10_800, lower=9_200))
    assert kinds(events) == ["Triggered", "Cancelled"]
    assert isinstance(events[1], Cancelled)
    assert events[1].reason == (
        "SL limit price 109.00 is outside the circuit band 92.00-108.00 at trigger"
    )


# ---------------------------------------------------------------------------------------------
# Modify, cancel, expiry


def test_modify_price_resets_queue_and_qty_decrease_keeps_it() -> None:
    m = model()
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 100, LIMIT, 10_000)
    m.on_quote(book_quote(volume=1_300, bids=[(10_000, 900), (9_995, 800)]))
    assert m.queue_ahead(1) == 200
    events = m.modify(1, qty=80, ts=START + 3)
    assert events == [Modified(1, 80, 10_000, 0, START + 3)]
    assert m.queue_ahead(1) == 200 and m.leaves(1) == 80
    events = m.modify(1, price=9_995)
    assert kinds(events) == ["Modified"]
    assert m.queue_ahead(1) == 800
    m.modify(1, price=10_000)
    assert m.queue_ahead(1) == 900  # back of the queue, not the old place
    m.modify(1, qty=90)
    assert m.queue_ahead(1) == 900 and m.leaves(1) == 90  # an increase loses its place


def test_modify_into_the_opposite_side_takes_depth() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 200, LIMIT, 9_995)
    events = m.modify(1, price=10_005)
    assert kinds(events) == ["Modified", "Fill"]
    assert fills(events) == [(1, 10_005, 100, "T")]
    assert m.leaves(1) == 100 and m.queue_ahead(1) == 0


def test_modify_rules() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 200, LIMIT, 10_005)  # 100 fill, 100 rest
    assert reason(m.modify(1, qty=100)) == (
        "new qty 100 must exceed the 100 already filled; cancel the order instead"
    )
    assert reason(m.modify(1, trigger=10_100)) == (
        "order 1 is not waiting for a trigger; only SL / SL-M orders that have not triggered "
        "take a trigger"
    )
    assert reason(m.modify(1, price=10_003)) == "price 100.03 is not a multiple of tick 0.05"
    assert reason(m.modify(1)) == "modify needs a new qty, price or trigger"
    assert reason(m.modify(9, qty=5)) == (
        "order 9 is not live (unknown, filled, cancelled, rejected or expired)"
    )
    m.submit(2, T, SELL, 10, SL_M, trigger=9_900)
    assert reason(m.modify(2, price=9_800)) == "order 2 is SL-M and has no limit price to modify"
    assert m.modify(2, trigger=9_850, qty=20, ts=9) == [Modified(2, 20, 0, 9_850, 9)]
    assert m.leaves(2) == 20
    assert reason(m.modify(2, trigger=10_000)).startswith("SL-M SELL trigger 100.00 is already")


def test_cancel_and_expiry() -> None:
    m = model()
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 200, LIMIT, 10_005)
    assert m.cancel(1, ts=4) == [Cancelled(1, 100, "cancelled on request", 4)]
    assert reason(m.cancel(1)) == (
        "order 1 is not live (unknown, filled, cancelled, rejected or expired)"
    )
    m.submit(2, T, BUY, 10, LIMIT, 9_990)
    m.submit(3, T, SELL, 5, SL_M, trigger=9_900)
    m.submit(4, T, SELL, 7, LIMIT, 10_100)
    assert m.expire_day_orders(99) == [Expired(2, 10, 99), Expired(4, 7, 99), Expired(3, 5, 99)]
    assert m.live_order_ids() == []


def test_events_without_ts_use_the_clock() -> None:
    clock = SimClock(START)
    m = LiveFillModel(rng=random.Random(1), clock=clock, instruments=[EQ])
    clock.advance(10)
    m.on_quote(book_quote())
    assert m.submit(1, T, BUY, 5, LIMIT, 9_990) == [Accepted(1, START + 10)]


# ---------------------------------------------------------------------------------------------
# Validation


def test_validation_messages() -> None:
    m = model()
    m.on_quote(book_quote(upper=11_000, lower=9_000))
    assert reason(m.submit(1, T, BUY, 10, LIMIT, 10_003)) == (
        "price 100.03 is not a multiple of tick 0.05"
    )
    assert reason(m.submit(1, T, BUY, 10, LIMIT, 11_005)) == (
        "price 110.05 is outside the circuit band 90.00-110.00"
    )
    assert reason(m.submit(1, T, BUY, 0, LIMIT, 10_000)) == "qty 0 must be positive"
    assert reason(m.submit(1, T, BUY, 10, LIMIT, 0)) == "price 0.00 must be positive"
    assert reason(m.submit(1, T, BUY, 10, MARKET, 10_000)) == (
        "MARKET order takes no price (got 100.00); use LIMIT or SL"
    )
    assert reason(m.submit(1, T, BUY, 10, LIMIT, 10_000, 9_000)) == (
        "LIMIT order takes no trigger (got 90.00); use SL or SL-M for a stop"
    )
    assert reason(m.submit(0, T, BUY, 10, LIMIT, 10_000)) == (
        "order id 0 must be a positive integer (0 stands for the market's side of a fill)"
    )
    assert reason(m.submit(1, "nope", BUY, 10, LIMIT, 10_000)) == (
        "unknown instrument token 'nope'; add the instrument before trading it"
    )
    assert reason(m.submit(1, NIFTY.token, BUY, 10, LIMIT, 10_000)) == (
        "NSE:NIFTY is an index and cannot be traded"
    )
    m.submit(1, T, BUY, 10, LIMIT, 9_990)
    assert reason(m.submit(1, T, BUY, 10, LIMIT, 9_990)) == (
        "order id 1 is already live; order ids must be unique"
    )


def test_lot_and_freeze_rules() -> None:
    m = model()
    m.on_quote(quote(2_500_000, token=FUT.token))
    assert reason(m.submit(1, FUT.token, BUY, 100, LIMIT, 2_500_000)) == (
        "qty 100 is not a multiple of the lot size 65"
    )
    assert reason(m.submit(1, FUT.token, BUY, 1_820, LIMIT, 2_500_000)) == (
        "qty 1820 exceeds the freeze quantity 1755; split the order"
    )
    assert kinds(m.submit(1, FUT.token, BUY, 1_755, LIMIT, 2_500_000)) == ["Accepted"]


def test_market_without_any_reference_is_rejected() -> None:
    m = model()
    assert reason(m.submit(1, T, BUY, 10, MARKET)) == (
        "MARKET order needs a reference price for its protection: no LTP, no previous close "
        "and no SELL depth in the feed yet for NSE:RELIANCE-EQ"
    )
    # A LIMIT before any quote is accepted with an unknown queue.
    assert kinds(m.submit(2, T, BUY, 10, LIMIT, 10_000)) == ["Accepted"]
    assert m.queue_ahead(2) is None


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="prob_slippage is a probability"):
        FillModelConfig(prob_slippage=1.5)
    with pytest.raises(ValueError, match="market_protection_bps must be >= 0"):
        FillModelConfig(market_protection_bps=-1)
    with pytest.raises(ValueError, match="account 0 stands for the live market"):
        FillModelConfig(account=0)
    with pytest.raises(ValueError, match="slippage_ticks must be >= 0"):
        FillModelConfig(slippage_ticks=-1)


# ---------------------------------------------------------------------------------------------
# Slippage and determinism


def test_slippage_is_one_tick_worse_but_never_past_the_limit() -> None:
    m = model(FillModelConfig(prob_slippage=1.0))
    m.on_quote(book_quote())
    events = m.submit(1, T, BUY, 300, LIMIT, 10_010)
    # 100.05 slips to 100.10; 100.10 would slip to 100.15 but the limit is 100.10.
    assert fills(events) == [(1, 10_010, 100, "T"), (1, 10_010, 200, "T")]
    events = m.submit(2, T, SELL, 100, MARKET)
    assert fills(events) == [(2, 9_995, 100, "T")]


def test_resting_fills_never_slip() -> None:
    m = model(FillModelConfig(prob_slippage=1.0, slippage_ticks=3))
    m.on_quote(book_quote(volume=1_000))
    m.submit(1, T, BUY, 10, LIMIT, 10_000)
    events = m.on_quote(book_quote(ltp=9_990, volume=1_001))
    assert fills(events) == [(1, 10_000, 10, "M")]


def _scripted_run(seed: int) -> list[BookEvent]:
    m = model(FillModelConfig(prob_slippage=0.5), seed=seed)
    events: list[BookEvent] = []
    events += m.on_quote(book_quote(volume=1_000))
    for oid in range(1, 30):
        events += m.submit(oid, T, BUY if oid % 2 else SELL, 7, MARKET, ts=oid)
        events += m.on_quote(book_quote(volume=1_000 + oid, seq=oid, asks=[(10_005, 100 + oid)]))
    return events


def test_same_seed_same_events_and_slippage_actually_varies() -> None:
    first = _scripted_run(42)
    assert first == _scripted_run(42)
    prices = {e.price for e in first if isinstance(e, Fill) and e.aggressor is BUY}
    assert prices == {10_005, 10_010}  # some slipped, some did not
    assert _scripted_run(43) != first


def test_no_slippage_draws_nothing_from_the_rng() -> None:
    rng = random.Random(5)
    m = LiveFillModel(rng=rng, clock=SimClock(START), instruments=[EQ])
    m.on_quote(book_quote())
    m.submit(1, T, BUY, 300, MARKET)
    assert rng.random() == random.Random(5).random()
