"""Tick-to-bar aggregation: IST session alignment, gaps, closing, volume from quotes, history."""

from __future__ import annotations

from datetime import date
from datetime import time as dtime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bars import ALL_INTERVALS, BarAggregator, OffSessionTrade
from engine.clock import SessionSchedule, ist_ns
from engine.models import Bar, Interval, Quote, Side, TradePrint

DAY = date(2024, 3, 4)  # a Monday
DAY2 = date(2024, 3, 5)
MS = 1_000_000
MIN = 60_000_000_000


def t(h: int, m: int, s: int = 0, ms: int = 0, day: date = DAY) -> int:
    """IST wall time on ``day`` as ns (via zoneinfo, independent of the aggregator's arithmetic)."""
    return ist_ns(day, dtime(h, m, s, ms * 1000))


def trade(ts: int, price: int, qty: int = 1, token: str = "T") -> TradePrint:
    return TradePrint(token=token, price=price, qty=qty, aggressor=Side.BUY, ts=ts)


def quote(ts: int, ltp: int, volume: int, token: str = "Q") -> Quote:
    return Quote(token=token, ltp=ltp, ts=ts, volume=volume)


def ohlcv(bar: Bar | None) -> tuple[int, int, int, int, int, int]:
    assert bar is not None
    return (bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume)


# ---------------------------------------------------------------------------------------------
# Alignment


@pytest.mark.parametrize(
    ("at", "interval", "start", "end"),
    [
        (t(9, 15), Interval.M1, t(9, 15), t(9, 16)),
        (t(9, 16, 59, 999), Interval.M1, t(9, 16), t(9, 17)),
        (t(9, 20), Interval.M3, t(9, 18), t(9, 21)),
        (t(9, 19, 59), Interval.M5, t(9, 15), t(9, 20)),
        (t(9, 20), Interval.M5, t(9, 20), t(9, 25)),
        (t(15, 29, 59), Interval.M15, t(15, 15), t(15, 30)),
        (t(10, 14, 59), Interval.H1, t(9, 15), t(10, 15)),
        (t(10, 15), Interval.H1, t(10, 15), t(11, 15)),
        (t(15, 20), Interval.H1, t(15, 15), t(15, 30)),  # the short last hour
        (t(12, 0), Interval.D1, t(9, 15), t(15, 30)),
        (t(15, 29, 59, 999), Interval.M1, t(15, 29), t(15, 30)),
        # Pre-open (call auction) trades belong to the first bar of the session.
        (t(9, 8), Interval.M1, t(9, 15), t(9, 16)),
        (t(9, 0), Interval.H1, t(9, 15), t(10, 15)),
        (t(9, 14, 59), Interval.D1, t(9, 15), t(15, 30)),
    ],
)
def test_bucket_alignment(at: int, interval: Interval, start: int, end: int) -> None:
    assert BarAggregator().bucket(at, interval) == (start, end)


@pytest.mark.parametrize("at", [t(8, 59, 59), t(15, 30), t(15, 45), t(23, 59), t(0, 0), t(3, 0)])
def test_outside_session_has_no_bucket(at: int) -> None:
    agg = BarAggregator()
    for interval in ALL_INTERVALS:
        assert agg.bucket(at, interval) is None


def test_hour_bars_of_a_full_session() -> None:
    agg = BarAggregator([Interval.H1])
    starts = []
    at = t(9, 15)
    while at < t(15, 30):
        agg.on_trade(trade(at, 100))
        at += 5 * MIN
    agg.close_due(t(15, 30))
    bars = agg.bars("T", Interval.H1)
    starts = [(b.start, b.volume) for b in bars]
    hours = [t(9, 15), t(10, 15), t(11, 15), t(12, 15), t(13, 15), t(14, 15), t(15, 15)]
    # 12 five-minute trades per full hour, 3 in the short 15:15-15:30 bar.
    assert starts == [(h, 12) for h in hours[:-1]] + [(hours[-1], 3)]


def test_custom_schedule() -> None:
    mcx = SessionSchedule(
        pre_open_start=dtime(8, 45),
        pre_open_end=dtime(8, 59),
        continuous_start=dtime(9, 0),
        continuous_end=dtime(23, 30),
        post_close_start=dtime(23, 30),
        post_close_end=dtime(23, 55),
    )
    agg = BarAggregator(schedule=mcx)
    assert agg.bucket(t(22, 10), Interval.H1) == (t(22, 0), t(23, 0))
    assert agg.bucket(t(23, 10), Interval.H1) == (t(23, 0), t(23, 30))
    assert agg.bucket(t(8, 50), Interval.M1) == (t(9, 0), t(9, 1))


# ---------------------------------------------------------------------------------------------
# Bars from trade prints


def test_ohlcv_gaps_and_emitted_once() -> None:
    emitted: list[Bar] = []
    agg = BarAggregator([Interval.M1, Interval.M5], on_bar=emitted.append)
    agg.on_trade(trade(t(9, 15, 1), 100, 5))
    agg.on_trade(trade(t(9, 15, 20), 104, 1))
    agg.on_trade(trade(t(9, 15, 40), 98, 2))
    agg.on_trade(trade(t(9, 15, 59, 999), 101, 3))
    assert ohlcv(agg.current("T", Interval.M1)) == (t(9, 15), 100, 104, 98, 101, 11)
    assert emitted == []
    # Nothing trades at 09:16 and 09:17: no bar is invented for those minutes.
    agg.on_trade(trade(t(9, 18, 5), 107, 4))
    assert [ohlcv(b) for b in emitted] == [(t(9, 15), 100, 104, 98, 101, 11)]
    assert emitted[0].closed and emitted[0].interval is Interval.M1
    assert [b.start for b in agg.bars("T", Interval.M1)] == [t(9, 15)]
    assert ohlcv(agg.current("T", Interval.M5)) == (t(9, 15), 100, 107, 98, 107, 15)
    # The timer closes what is due, once.
    closed = agg.close_due(t(9, 19))
    assert [ohlcv(b) for b in closed] == [(t(9, 18), 107, 107, 107, 107, 4)]
    assert agg.close_due(t(9, 19, 30)) == []
    assert agg.current("T", Interval.M1) is None
    closed = agg.close_due(t(9, 20))
    assert [(b.interval, ohlcv(b)) for b in closed] == [
        (Interval.M5, (t(9, 15), 100, 107, 98, 107, 15))
    ]
    assert len(emitted) == 3
    assert agg.take_closed() == emitted
    assert agg.take_closed() == []
    assert agg.stats().bars_closed == 3


def test_all_intervals_roll_at_a_new_day() -> None:
    agg = BarAggregator()
    agg.on_trade(trade(t(15, 29, 30), 200, 7))
    assert all(agg.current("T", i) is not None for i in ALL_INTERVALS)
    agg.on_trade(trade(t(9, 15, 2, day=DAY2), 210, 1))
    for interval in ALL_INTERVALS:
        (bar,) = agg.bars("T", interval)
        assert bar.closed and bar.volume == 7 and bar.close == 200
        cur = agg.current("T", interval)
        assert cur is not None and cur.start == t(9, 15, day=DAY2)
    assert agg.bars("T", Interval.D1)[0].start == t(9, 15)


def test_current_is_a_copy() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_trade(trade(t(10, 0), 100))
    cur = agg.current("T", Interval.M1)
    assert cur is not None
    cur.high = 10**9
    agg.on_trade(trade(t(10, 0, 1), 101))
    cur2 = agg.current("T", Interval.M1)
    assert cur2 is not None and cur2.high == 101


def test_history_is_bounded() -> None:
    agg = BarAggregator([Interval.M1], history=3)
    for minute in range(6):
        agg.on_trade(trade(t(10, minute), 100 + minute))
    bars = agg.bars("T", Interval.M1)
    assert [b.open for b in bars] == [102, 103, 104]
    assert agg.bars("nobody", Interval.M1) == []
    assert agg.current("nobody", Interval.M1) is None


def test_pre_open_trades_make_the_first_bar_open() -> None:
    agg = BarAggregator([Interval.M1, Interval.D1])
    agg.on_trade(trade(t(9, 8), 1500, 1000))  # the call auction's equilibrium trade
    agg.on_trade(trade(t(9, 15, 0, 300), 1510, 5))
    agg.on_trade(trade(t(9, 15, 30), 1495, 5))
    m1 = agg.current("T", Interval.M1)
    assert ohlcv(m1) == (t(9, 15), 1500, 1510, 1495, 1495, 1010)
    assert ohlcv(agg.current("T", Interval.D1))[1] == 1500


def test_off_session_trades_are_kept_aside() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_trade(trade(t(15, 45), 300, 50))  # closing session
    agg.on_trade(trade(t(3, 0), 301, 1))  # overnight
    assert agg.current("T", Interval.M1) is None
    assert agg.bars("T", Interval.M1) == []
    assert agg.off_session("T") == [
        OffSessionTrade(t(15, 45), 300, 50),
        OffSessionTrade(t(3, 0), 301, 1),
    ]
    assert agg.stats().off_session == 2
    assert agg.off_session("other") == []


def test_late_and_out_of_order_trades() -> None:
    agg = BarAggregator([Interval.M1, Interval.M5])
    agg.on_trade(trade(t(10, 0, 10), 100, 1))
    agg.on_trade(trade(t(10, 0, 30), 102, 1))
    # Out of order but inside the open bar: counts, but the close stays the latest trade's.
    agg.on_trade(trade(t(10, 0, 20), 95, 4))
    assert ohlcv(agg.current("T", Interval.M1)) == (t(10, 0), 100, 102, 95, 102, 6)
    agg.on_trade(trade(t(10, 1, 5), 103, 1))
    # A trade of the closed 10:00 bar is late: no bar changes, not even the open 5m bar.
    agg.on_trade(trade(t(10, 0, 59), 50, 100))
    (closed,) = agg.bars("T", Interval.M1)
    assert ohlcv(closed) == (t(10, 0), 100, 102, 95, 102, 6)
    assert ohlcv(agg.current("T", Interval.M5)) == (t(10, 0), 100, 103, 95, 103, 7)
    assert agg.stats().late == 1
    # Same for a trade older than a bar that the timer closed.
    agg.close_due(t(10, 2))
    agg.on_trade(trade(t(10, 1, 50), 104, 1))
    assert agg.stats().late == 2
    assert agg.bars("T", Interval.M1)[-1].volume == 1


def test_invalid_ticks_are_counted() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_trade(trade(t(10, 0), 0, 1))
    agg.on_trade(trade(t(10, 0), 100, -1))
    assert agg.current("T", Interval.M1) is None
    assert agg.stats().invalid == 2
    with pytest.raises(TypeError, match="Quote or a TradePrint"):
        agg.on_event("not a tick")  # type: ignore[arg-type]


def test_take_closed_buffer_is_bounded() -> None:
    agg = BarAggregator([Interval.M1], closed_buffer=2)
    for minute in range(5):
        agg.on_trade(trade(t(11, minute), 100))
    assert [b.start for b in agg.take_closed()] == [t(11, 2), t(11, 3)]
    assert agg.stats().closed_unread_dropped == 2


# ---------------------------------------------------------------------------------------------
# Bars from quotes (cumulative volume)


def test_quote_volume_deltas_and_first_quote_baseline() -> None:
    agg = BarAggregator([Interval.M1])
    # First quote after the open: baseline only (its 50,000 is not this minute's volume).
    agg.on_quote(quote(t(11, 0, 1), 1000, 50_000))
    assert agg.current("Q", Interval.M1) is None
    agg.on_quote(quote(t(11, 0, 2), 1002, 50_010))
    agg.on_quote(quote(t(11, 0, 3), 1002, 50_010))  # depth-only update: no trade
    agg.on_quote(quote(t(11, 0, 4), 999, 50_025))
    assert ohlcv(agg.current("Q", Interval.M1)) == (t(11, 0), 1002, 1002, 999, 999, 25)
    # A quote with unchanged volume in a later minute is not a trade: no bar is invented.
    agg.on_quote(quote(t(11, 1, 30), 999, 50_025))
    assert agg.current("Q", Interval.M1) is not None
    assert agg.current("Q", Interval.M1).start == t(11, 0)  # type: ignore[union-attr]
    agg.on_quote(quote(t(11, 3, 0), 1005, 50_030))
    assert [ohlcv(b) for b in agg.bars("Q", Interval.M1)] == [(t(11, 0), 1002, 1002, 999, 999, 25)]
    assert ohlcv(agg.current("Q", Interval.M1)) == (t(11, 3), 1005, 1005, 1005, 1005, 5)
    s = agg.stats()
    assert (s.baselines, s.no_trade, s.applied) == (1, 2, 3)


def test_quote_volume_resets_at_a_new_day() -> None:
    agg = BarAggregator([Interval.M1, Interval.D1])
    agg.on_quote(quote(t(15, 0), 1000, 900_000))
    agg.on_quote(quote(t(15, 29), 1001, 900_100))
    # Next day, pre-open quote after the auction: all of today's volume so far is pre-open volume.
    agg.on_quote(quote(t(9, 9, day=DAY2), 1010, 3_000))
    agg.on_quote(quote(t(9, 15, 5, day=DAY2), 1012, 3_400))
    d1 = agg.current("Q", Interval.D1)
    m1 = agg.current("Q", Interval.M1)
    assert ohlcv(m1) == (t(9, 15, day=DAY2), 1010, 1012, 1010, 1012, 3_400)
    assert ohlcv(d1) == (t(9, 15, day=DAY2), 1010, 1012, 1010, 1012, 3_400)
    assert [ohlcv(b) for b in agg.bars("Q", Interval.D1)] == [
        (t(9, 15), 1001, 1001, 1001, 1001, 100)
    ]
    assert agg.stats().volume_resets == 0


def test_first_quote_of_a_day_after_the_open_is_a_baseline() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_quote(quote(t(15, 29), 1001, 900_100))
    # Started late on day 2 (or the feed was down): 2,000,000 is not the 11:00 bar's volume.
    agg.on_quote(quote(t(11, 0, day=DAY2), 1100, 2_000_000))
    agg.on_quote(quote(t(11, 0, 5, day=DAY2), 1101, 2_000_300))
    assert ohlcv(agg.current("Q", Interval.M1))[-1] == 300


def test_quote_volume_reset_within_a_day() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_quote(quote(t(10, 0), 1000, 5_000))
    agg.on_quote(quote(t(10, 0, 1), 1000, 5_100))
    agg.on_quote(quote(t(10, 0, 2), 1000, 40))  # the feed restarted its counter
    agg.on_quote(quote(t(10, 0, 3), 1003, 60))
    assert ohlcv(agg.current("Q", Interval.M1)) == (t(10, 0), 1000, 1003, 1000, 1003, 120)
    assert agg.stats().volume_resets == 1


def test_stale_quote_is_skipped() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_quote(quote(t(10, 0), 1000, 5_000))
    agg.on_quote(quote(t(10, 0, 2), 1001, 5_100))
    agg.on_quote(quote(t(10, 0, 1), 1002, 5_050))  # older snapshot
    agg.on_quote(quote(t(10, 0, 3), 1001, 5_120))
    assert ohlcv(agg.current("Q", Interval.M1)) == (t(10, 0), 1001, 1001, 1001, 1001, 120)
    assert agg.stats().late == 1


def test_exchange_ts_is_preferred() -> None:
    agg = BarAggregator([Interval.M1])
    q1 = Quote(token="Q", ltp=100, ts=t(10, 1, 1), exchange_ts=t(10, 0, 58), volume=10)
    q2 = Quote(token="Q", ltp=101, ts=t(10, 1, 2), exchange_ts=t(10, 0, 59), volume=15)
    agg.on_quote(q1)
    agg.on_quote(q2)
    assert ohlcv(agg.current("Q", Interval.M1))[0] == t(10, 0)


def test_ltp_only_quotes() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_quote(quote(t(10, 0, 1), 1000, 0))  # baseline: this price may be old
    agg.on_quote(quote(t(10, 0, 2), 1000, 0))  # unchanged: no trade known
    agg.on_quote(quote(t(10, 1, 2), 1004, 0))  # a new last price is a trade
    agg.on_quote(quote(t(10, 1, 3), 1001, 0))
    assert agg.bars("Q", Interval.M1) == []
    assert ohlcv(agg.current("Q", Interval.M1)) == (t(10, 1), 1004, 1004, 1001, 1001, 0)


def test_trade_prints_take_precedence_over_quotes() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_quote(quote(t(10, 0), 1000, 5_000, token="X"))
    agg.on_trade(trade(t(10, 0, 1), 1001, 7, token="X"))
    agg.on_quote(quote(t(10, 0, 2), 1001, 5_007, token="X"))  # the same trade, seen as a quote
    assert ohlcv(agg.current("X", Interval.M1)) == (t(10, 0), 1001, 1001, 1001, 1001, 7)
    assert agg.stats().quotes_ignored == 1


def test_on_events_mixes_kinds() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_events([trade(t(10, 0), 100, 2), quote(t(10, 0), 50, 1), quote(t(10, 0, 1), 51, 4)])
    assert ohlcv(agg.current("T", Interval.M1))[-1] == 2
    assert ohlcv(agg.current("Q", Interval.M1))[-1] == 3
    assert agg.stats().ticks == 3


# ---------------------------------------------------------------------------------------------
# Historical candles


def hist(start: int, o: int, h: int, lo: int, c: int, v: int, interval: Interval = Interval.M1,
         token: str = "T") -> Bar:  # fmt: skip
    return Bar(token=token, interval=interval, start=start, open=o, high=h, low=lo, close=c,
               volume=v)  # fmt: skip


def test_load_history_and_continue_the_partial_bar() -> None:
    agg = BarAggregator([Interval.M1])
    candles = [
        hist(t(10, 1), 101, 103, 100, 102, 20),
        hist(t(10, 0), 100, 101, 99, 101, 10),
        hist(t(10, 2), 102, 102, 101, 101, 5),  # newest: the broker's still-forming minute
    ]
    assert agg.load_history("T", Interval.M1, candles) == 3
    bars = agg.bars("T", Interval.M1)
    assert [b.start for b in bars] == [t(10, 0), t(10, 1), t(10, 2)]
    assert [b.closed for b in bars] == [True, True, False]
    # Ticks of the same minute continue the loaded bar instead of starting a duplicate.
    agg.on_trade(trade(t(10, 2, 40), 104, 3))
    assert [b.start for b in agg.bars("T", Interval.M1)] == [t(10, 0), t(10, 1)]
    assert ohlcv(agg.current("T", Interval.M1)) == (t(10, 2), 102, 104, 101, 104, 8)
    agg.on_trade(trade(t(10, 3, 1), 105, 1))
    assert [(b.start, b.volume, b.closed) for b in agg.bars("T", Interval.M1)][-1] == (
        t(10, 2),
        8,
        True,
    )


def test_loaded_partial_bar_is_final_once_time_moves_on() -> None:
    agg = BarAggregator([Interval.M1])
    agg.load_history("T", Interval.M1, [hist(t(10, 0), 100, 101, 99, 101, 10)])
    agg.on_trade(trade(t(10, 5), 100, 1))
    (loaded,) = agg.bars("T", Interval.M1)
    assert loaded.closed and loaded.volume == 10


def test_load_history_behind_tick_built_bars() -> None:
    agg = BarAggregator([Interval.M1])
    agg.on_trade(trade(t(10, 5, 1), 110, 1))
    agg.close_due(t(10, 6))
    agg.load_history(
        "T",
        Interval.M1,
        [hist(t(10, 3), 100, 101, 99, 101, 10), hist(t(10, 4), 101, 102, 100, 102, 10)],
    )
    bars = agg.bars("T", Interval.M1)
    assert [(b.start, b.closed) for b in bars] == [
        (t(10, 3), True),
        (t(10, 4), True),
        (t(10, 5), True),
    ]


def test_ticks_older_than_loaded_history_are_late() -> None:
    agg = BarAggregator([Interval.M1])
    agg.load_history("T", Interval.M1, [hist(t(10, 4), 101, 102, 100, 102, 10)])
    agg.on_trade(trade(t(10, 2), 99, 1))  # would build a bar behind the history
    assert agg.current("T", Interval.M1) is None
    assert agg.stats().late == 1
    assert [b.start for b in agg.bars("T", Interval.M1)] == [t(10, 4)]


def test_load_history_merges_into_the_live_bar() -> None:
    emitted: list[Bar] = []
    agg = BarAggregator([Interval.M1], on_bar=emitted.append)
    agg.on_trade(trade(t(10, 0, 40), 105, 3))  # we joined mid-minute
    agg.load_history(
        "T",
        Interval.M1,
        [hist(t(9, 59), 98, 99, 97, 99, 50), hist(t(10, 0), 100, 106, 99, 104, 9)],
    )
    # Open from history; extremes of both; the larger volume (the overlap is unknown).
    assert ohlcv(agg.current("T", Interval.M1)) == (t(10, 0), 100, 106, 99, 105, 9)
    assert [b.start for b in agg.bars("T", Interval.M1)] == [t(9, 59)]
    assert emitted == []  # loaded bars are not emitted


def test_load_history_newer_than_the_live_bar_closes_it() -> None:
    emitted: list[Bar] = []
    agg = BarAggregator([Interval.M1], on_bar=emitted.append)
    agg.on_trade(trade(t(10, 0, 40), 105, 3))
    agg.load_history("T", Interval.M1, [hist(t(10, 1), 105, 106, 104, 106, 9)])
    assert [b.start for b in emitted] == [t(10, 0)]
    assert [b.start for b in agg.bars("T", Interval.M1)] == [t(10, 0), t(10, 1)]
    assert agg.current("T", Interval.M1) is None


def test_load_daily_history_normalises_midnight_stamps() -> None:
    agg = BarAggregator()
    midnight = ist_ns(DAY, dtime(0, 0))  # how brokers stamp daily candles
    agg.load_history("T", Interval.D1, [hist(midnight, 10, 12, 9, 11, 1000, Interval.D1)])
    (bar,) = agg.bars("T", Interval.D1)
    assert bar.start == t(9, 15)


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        (hist(t(10, 0, 30), 1, 1, 1, 1, 1), "not on the session grid"),
        (hist(t(9, 10), 1, 1, 1, 1, 1), "not on the session grid"),
        (hist(t(10, 0), 1, 1, 1, 1, 1, token="U"), "contains a bar of token 'U'"),
        (hist(t(10, 0), 1, 1, 1, 1, 1, Interval.M5), "contains a bar of interval 5m"),
        (hist(t(10, 0), 5, 4, 1, 2, 1), "not a valid OHLC"),
        (hist(t(10, 0), 1, 1, 1, 1, -1), "negative volume"),
    ],
)
def test_load_history_rejects_bad_bars(bar: Bar, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BarAggregator().load_history("T", Interval.M1, [bar])


def test_load_history_rejects_an_interval_not_built() -> None:
    with pytest.raises(ValueError, match="not built here"):
        BarAggregator([Interval.M1]).load_history("T", Interval.H1, [])


def test_bad_construction_is_named() -> None:
    with pytest.raises(ValueError, match="at least one interval"):
        BarAggregator([])
    with pytest.raises(ValueError, match="history must be a positive"):
        BarAggregator(history=0)


# ---------------------------------------------------------------------------------------------
# Property: bars equal a straightforward batch grouping, and coarse bars aggregate fine ones

OPEN_S = 9 * 3600 + 15 * 60
CLOSE_S = 15 * 3600 + 30 * 60
PRE_S = 9 * 3600


def batch_bars(
    trades: list[tuple[int, int, int]], length: int
) -> list[tuple[int, int, int, int, int, int]]:
    """Group (seconds since IST midnight, price, qty) trades into bars by plain arithmetic."""
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for sod, price, qty in trades:
        if sod < PRE_S or sod >= CLOSE_S:
            continue
        eff = max(sod, OPEN_S)
        start = OPEN_S if length == 0 else OPEN_S + (eff - OPEN_S) // length * length
        groups.setdefault(start, []).append((sod, price, qty))
    midnight = ist_ns(DAY, dtime(0, 0))
    out = []
    for start in sorted(groups):
        g = groups[start]
        prices = [p for _, p, _ in g]
        out.append(
            (
                midnight + start * 1_000_000_000,
                g[0][1],
                max(prices),
                min(prices),
                g[-1][1],
                sum(q for _, _, q in g),
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=8 * 3600, max_value=16 * 3600),
            st.integers(min_value=1, max_value=5_000),
            st.integers(min_value=0, max_value=100),
        ),
        max_size=120,
    )
)
def test_bars_match_batch_grouping(raw: list[tuple[int, int, int]]) -> None:
    trades = sorted(raw, key=lambda r: r[0])
    midnight = ist_ns(DAY, dtime(0, 0))
    emitted: list[Bar] = []
    agg = BarAggregator(on_bar=emitted.append)
    for sod, price, qty in trades:
        agg.on_trade(trade(midnight + sod * 1_000_000_000, price, qty))
    agg.close_due(t(15, 30))
    for interval in ALL_INTERVALS:
        length = 0 if interval is Interval.D1 else interval.seconds
        got = [ohlcv(b) for b in agg.bars("T", interval)]
        assert got == batch_bars(trades, length)
        assert all(b.closed for b in agg.bars("T", interval))
        assert agg.current("T", interval) is None
    # Each bar was emitted exactly once.
    assert len(emitted) == sum(len(agg.bars("T", i)) for i in ALL_INTERVALS)
    assert len({id(b) for b in emitted}) == len(emitted)
    # Coarser bars are the aggregate of the 1m bars inside them.
    m1 = agg.bars("T", Interval.M1)
    for interval in ALL_INTERVALS[1:]:
        for bar in agg.bars("T", interval):
            end = agg.bucket(bar.start, interval)
            assert end is not None
            inside = [b for b in m1 if bar.start <= b.start < end[1]]
            assert bar.open == inside[0].open and bar.close == inside[-1].close
            assert bar.high == max(b.high for b in inside)
            assert bar.low == min(b.low for b in inside)
            assert bar.volume == sum(b.volume for b in inside)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 600), st.integers(1, 5_000), st.integers(0, 50)),
        min_size=1,
        max_size=80,
    )
)
def test_quote_volume_is_conserved(steps: list[tuple[int, int, int]]) -> None:
    """The volume in bars equals the rise of cumulative volume after the baseline quote."""
    agg = BarAggregator([Interval.M1, Interval.M15, Interval.D1])
    at = t(9, 20)
    cum = 1_000
    agg.on_quote(quote(at, 100, cum))
    for gap_s, ltp, added in steps:
        at += gap_s * 1_000_000_000
        cum += added
        agg.on_quote(quote(at, ltp, cum))
    agg.close_due(t(15, 30))
    in_session = sum(
        added
        for i, (_, _, added) in enumerate(steps)
        if t(9, 20) + sum(g for g, _, _ in steps[: i + 1]) * 1_000_000_000 < t(15, 30)
    )
    for interval in (Interval.M1, Interval.M15, Interval.D1):
        assert sum(b.volume for b in agg.bars("Q", interval)) == in_session
