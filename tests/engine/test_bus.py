"""The market bus: ordering, backpressure, drops, conflation, lag, thread handoff and close."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from engine.bus import (
    BusClosedError,
    BusQueue,
    LagFrom,
    LagReservoir,
    MarketBus,
    nearest_rank,
)
from engine.clock import SimClock
from engine.models import MarketEvent, Quote, Side, TradePrint


def make_events(n: int, tokens: int = 5) -> list[MarketEvent]:
    events: list[MarketEvent] = []
    for i in range(n):
        token = f"tok{i % tokens}"
        if i % 3 == 0:
            events.append(TradePrint(token, price=1000 + i, qty=1, aggressor=Side.BUY, ts=i + 1))
        else:
            events.append(Quote(token, ltp=1000 + i, ts=i + 1, seq=i))
    return events


async def consume(
    queue: BusQueue, sink: list[MarketEvent], max_n: int, slow_every: int = 0
) -> None:
    batches = 0
    while batch := await queue.get_batch(max_n):
        sink.extend(batch)
        batches += 1
        if slow_every and batches % slow_every == 0:
            await asyncio.sleep(0.001)  # a slow consumer
        else:
            await asyncio.sleep(0)


# ---------------------------------------------------------------------------------------------
# Ordering, completeness and backpressure


async def backpressure_scenario() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=8)
    log = bus.subscribe("log", maxsize=4, lossy=True)
    events = make_events(3_000)
    got: list[MarketEvent] = []
    logged: list[MarketEvent] = []
    consumer = asyncio.create_task(consume(core, got, max_n=5, slow_every=50))
    logger = asyncio.create_task(consume(log, logged, max_n=2, slow_every=10))
    for event in events[:1_500]:
        await bus.publish_async(event)
    for i in range(1_500, 3_000, 37):
        await bus.publish_many_async(events[i : i + 37])
    bus.close()
    await asyncio.gather(consumer, logger)

    # The strict consumer got every event, in order, the very same objects.
    assert len(got) == len(events)
    assert all(a is b for a, b in zip(got, events, strict=True))
    stats = bus.stats()
    c = stats.consumer("core")
    assert c.delivered == 3_000 and c.dropped == 0 and c.depth == 0
    assert c.slow > 0  # the producer had to wait for it
    assert c.max_depth <= 8  # the async paths respect the bound
    # The lossy one lost some, every loss counted, and what it got is in order.
    g = stats.consumer("log")
    assert g.delivered == len(logged)
    assert g.delivered + g.dropped == 3_000
    assert g.dropped > 0
    positions = [events.index(e) for e in logged]
    assert positions == sorted(positions)
    assert stats.received == 3_000
    assert stats.delivered == {"core": 3_000, "log": len(logged)}
    assert stats.dropped == {"core": 0, "log": g.dropped}


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_backpressure_keeps_every_event_in_order(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    run(backpressure_scenario())


async def test_sync_publish_never_drops_and_counts_slow() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=4)
    events = make_events(10)
    for e in events:
        bus.publish(e)
    assert len(core) == 10  # over the bound rather than dropping
    s = bus.stats().consumer("core")
    assert (s.slow, s.max_depth, s.dropped) == (6, 10, 0)
    assert core.drain() == events
    bus.publish_many(events)
    assert bus.stats().consumer("core").slow == 6 + 6
    assert core.drain(max_n=3) == events[:3]
    assert core.drain() == events[3:]
    assert core.drain() == []


async def test_publish_many_async_waits_in_chunks() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=3)
    events = make_events(50)
    got: list[MarketEvent] = []
    consumer = asyncio.create_task(consume(core, got, max_n=2))
    await bus.publish_many_async(events)
    bus.close()
    await consumer
    assert got == events
    assert bus.stats().consumer("core").max_depth <= 3


async def test_lossy_consumer_keeps_the_newest_and_counts_drops() -> None:
    bus = MarketBus()
    mon = bus.subscribe("monitor", maxsize=3, lossy=True)
    events = make_events(10)
    for e in events:
        bus.publish(e)
    assert mon.drain() == events[7:]
    s = bus.stats().consumer("monitor")
    assert (s.dropped, s.delivered, s.slow, s.lossy) == (7, 3, 0, True)
    bus.publish_many(events)  # a burst larger than the queue
    assert mon.drain() == events[7:]
    assert bus.stats().consumer("monitor").dropped == 14


# ---------------------------------------------------------------------------------------------
# UI conflation


def test_ui_view_conflates_quotes() -> None:
    bus = MarketBus()
    ui = bus.ui_view
    a1, a2, a3, a4 = (Quote("A", ltp=p) for p in (1, 2, 3, 4))
    b1 = Quote("B", ltp=10)
    for q in (a1, a2, b1, a3):
        bus.publish(q)
    dirty = ui.take_dirty()
    assert dirty == {"A": a3, "B": b1} and dirty["A"] is a3
    assert ui.conflated_quotes == 2  # a1 and a2 were overwritten before the UI looked
    assert ui.take_dirty() == {}
    bus.publish(a4)
    assert ui.take_dirty() == {"A": a4}
    assert ui.latest("A") is a4 and ui.latest("Z") is None
    assert ui.snapshot() == {"A": a4, "B": b1}
    assert bus.stats().conflated == 2


def test_ui_view_tape_ring() -> None:
    bus = MarketBus(tape_size=3)
    ui = bus.ui_view
    trades = [TradePrint("X", price=p, qty=1, aggressor=Side.SELL, ts=p) for p in range(1, 7)]
    for tr in trades[:5]:
        bus.publish(tr)
    assert ui.tape("X") == trades[2:5]
    assert ui.take_new_trades() == {"X": trades[2:5]}
    assert ui.conflated_trades == 2  # two unread prints fell off the ring
    bus.publish(trades[5])
    assert ui.take_new_trades() == {"X": [trades[5]]}
    assert ui.take_new_trades() == {}
    assert ui.tape("X") == trades[3:6]
    assert ui.tape("nothing") == []
    stats = bus.stats()
    assert (stats.conflated_trades, stats.conflated_quotes, stats.conflated) == (2, 0, 2)


# ---------------------------------------------------------------------------------------------
# Lag


def test_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))  # 1..100
    assert nearest_rank(values, 50) == 50
    assert nearest_rank(values, 99) == 99
    assert nearest_rank(values, 100) == 100
    assert nearest_rank(values, 0) == 1
    assert nearest_rank([7], 99) == 7
    assert nearest_rank([1, 2, 3, 4], 50) == 2  # ceil(0.5 * 4) = rank 2
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        nearest_rank([1], 101)


def test_lag_reservoir_keeps_the_most_recent_samples() -> None:
    r = LagReservoir(4)
    for v in range(1, 11):
        r.add(v * 10)
    assert r.samples() == [70, 80, 90, 100]
    r.add_many([1, 2, 3])
    assert r.samples() == [100, 1, 2, 3]
    r.add_many(list(range(20, 30)))  # longer than the ring
    assert r.samples() == [26, 27, 28, 29]
    assert r.max_ns == 100  # the maximum is all-time
    s = r.stats()
    assert (s.samples, s.p50_ns, s.p99_ns, s.max_ns) == (4, 27, 29, 100)
    assert LagReservoir(3).stats().samples == 0


def test_lag_percentiles_on_known_samples() -> None:
    clock = SimClock(0)
    bus = MarketBus(clock=clock)
    core = bus.subscribe("core", maxsize=1_000)
    for i in range(100):
        bus.publish(Quote("A", ltp=i + 1))
        clock.advance(1)
    clock.set(1_000)
    core.drain()
    # Lags are 1000 - i for i in 0..99, i.e. 901..1000.
    lag = bus.stats().consumer("core").lag
    assert (lag.samples, lag.p50_ns, lag.p99_ns, lag.max_ns) == (100, 950, 999, 1_000)
    assert bus.stats().lag == lag


def test_lag_from_event_ts_and_merged_stats() -> None:
    clock = SimClock(5_000)
    bus = MarketBus(lag_from=LagFrom.EVENT_TS, clock=clock)
    a = bus.subscribe("a", maxsize=10)
    b = bus.subscribe("b", maxsize=10)
    bus.publish(Quote("A", ltp=1, ts=4_000))
    bus.publish(Quote("A", ltp=2, ts=0))  # no timestamp: the publish time (5000) is used
    clock.set(6_000)
    a.drain()
    clock.set(9_000)
    b.drain()
    assert bus.stats().consumer("a").lag.max_ns == 2_000
    sb = bus.stats().consumer("b").lag
    assert (sb.p50_ns, sb.max_ns) == (4_000, 5_000)
    merged = bus.stats().lag
    assert merged.samples == 4 and merged.max_ns == 5_000
    assert merged.p50_ns == 2_000  # of {1000, 2000, 4000, 5000}


# ---------------------------------------------------------------------------------------------
# Thread handoff


async def test_thread_handoff_in_order() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=100_000)
    events = make_events(20_000)
    got: list[MarketEvent] = []
    consumer = asyncio.create_task(consume(core, got, max_n=512))

    def feed() -> None:
        for i in range(0, len(events), 100):
            bus.publish_threadsafe(events[i : i + 100])

    await asyncio.to_thread(feed)
    while len(got) < len(events):
        await asyncio.sleep(0.001)
    bus.close()
    await consumer
    assert got == events
    s = bus.stats()
    assert s.received == 20_000 and s.thread_batches == 200
    assert 1 <= s.thread_wakeups <= 200


async def test_thread_handoff_wakes_the_loop_once_for_pending_batches() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=100)
    events = make_events(50)

    def feed() -> None:
        for i in range(0, 50, 10):
            bus.publish_threadsafe(events[i : i + 10])

    worker = threading.Thread(target=feed)
    worker.start()
    worker.join()  # the loop is blocked meanwhile: all five batches pile up
    for _ in range(3):
        await asyncio.sleep(0)
    s = bus.stats()
    assert (s.thread_batches, s.thread_wakeups) == (5, 1)
    assert core.drain() == events


def test_thread_handoff_needs_a_loop() -> None:
    bus = MarketBus()
    with pytest.raises(RuntimeError, match="attach_loop"):
        bus.publish_threadsafe(make_events(1))


async def test_thread_handoff_after_close() -> None:
    bus = MarketBus()
    bus.subscribe("core", maxsize=10)
    bus.publish_threadsafe(make_events(3))
    bus.close()
    await asyncio.sleep(0)
    assert bus.stats().discarded_after_close == 3
    with pytest.raises(BusClosedError):
        bus.publish_threadsafe(make_events(1))


# ---------------------------------------------------------------------------------------------
# Close and lifecycle


async def test_close_drains_then_ends_consumer_loops() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=100)
    idle = bus.subscribe("idle", maxsize=100, lossy=True)
    events = make_events(7)
    bus.publish_many(events)
    got: list[MarketEvent] = []
    idle_got: list[MarketEvent] = []
    waiter = asyncio.create_task(consume(idle, idle_got, max_n=100))
    await asyncio.sleep(0)
    assert idle_got == events
    bus.close()
    bus.close()  # idempotent
    await consume(core, got, max_n=3)  # returns once the queue is drained
    await asyncio.wait_for(waiter, 1.0)
    assert got == events
    assert core.closed and bus.closed and bus.stats().closed
    with pytest.raises(BusClosedError):
        bus.publish(events[0])
    with pytest.raises(BusClosedError):
        bus.publish_many(events)
    with pytest.raises(BusClosedError):
        await bus.publish_async(events[0])
    with pytest.raises(BusClosedError):
        bus.subscribe("late", maxsize=1)


async def test_close_wakes_a_producer_waiting_for_room() -> None:
    bus = MarketBus()
    bus.subscribe("stuck", maxsize=2)
    events = make_events(3)
    await bus.publish_async(events[0])
    await bus.publish_async(events[1])
    producer = asyncio.create_task(bus.publish_async(events[2]))
    await asyncio.sleep(0.01)
    assert not producer.done()
    assert bus.stats().consumer("stuck").slow == 1
    bus.close()
    with pytest.raises(BusClosedError, match="closed while waiting"):
        await asyncio.wait_for(producer, 1.0)


async def test_unsubscribe_releases_a_waiting_producer() -> None:
    bus = MarketBus()
    stuck = bus.subscribe("stuck", maxsize=1)
    other = bus.subscribe("other", maxsize=10)
    events = make_events(2)
    await bus.publish_async(events[0])
    producer = asyncio.create_task(bus.publish_async(events[1]))
    await asyncio.sleep(0.01)
    bus.unsubscribe("stuck")
    await asyncio.wait_for(producer, 1.0)
    assert other.drain() == events
    assert stuck.closed and stuck.drain() == [events[0]]
    assert [c.name for c in bus.stats().consumers] == ["other"]
    with pytest.raises(KeyError, match="stuck"):
        bus.unsubscribe("stuck")


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_is_named() -> None:
    bus = MarketBus()
    bus.subscribe("core", maxsize=1)
    with pytest.raises(ValueError, match="already subscribed"):
        bus.subscribe("core", maxsize=1)
    with pytest.raises(ValueError, match="positive number of events"):
        bus.subscribe("zero", maxsize=0)
    with pytest.raises(ValueError, match="non-empty name"):
        bus.subscribe("", maxsize=1)
    with pytest.raises(TypeError, match="Quote or TradePrint"):
        bus.publish("tick")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Quote or TradePrint"):
        MarketBus(lag_from=LagFrom.EVENT_TS).publish(3)  # type: ignore[arg-type]
    assert bus.received == 0  # a rejected event reaches no consumer
    with pytest.raises(ValueError, match="max_n"):
        bus.queue("core").drain(0)
    with pytest.raises(KeyError, match="no consumer named 'nope'"):
        bus.queue("nope")
    with pytest.raises(KeyError, match="no consumer named 'nope'"):
        bus.stats().consumer("nope")


async def test_get_batch_rejects_a_bad_size() -> None:
    bus = MarketBus()
    q = bus.subscribe("core", maxsize=1)
    with pytest.raises(ValueError, match="max_n"):
        await q.get_batch(0)


def test_stats_are_a_frozen_snapshot() -> None:
    bus = MarketBus()
    q = bus.subscribe("core", maxsize=10)
    bus.publish(Quote("A", ltp=1))
    before = bus.stats()
    q.drain()
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.received = 5  # type: ignore[misc]
    assert before.consumer("core").depth == 1
    assert bus.stats().consumer("core").depth == 0
    assert repr(q) == "BusQueue('core', strict, depth=0/10)"


async def test_a_bad_event_in_a_batch_publishes_nothing() -> None:
    bus = MarketBus()
    core = bus.subscribe("core", maxsize=10)
    good = make_events(3)
    with pytest.raises(TypeError, match="event #2 of the batch is a str"):
        bus.publish_many([good[0], good[1], "tick", good[2]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="event #0"):
        bus.publish_threadsafe(["tick"])  # type: ignore[list-item]
    assert core.drain() == []
    assert bus.ui_view.take_dirty() == {} and bus.ui_view.take_new_trades() == {}
    assert bus.received == 0


async def test_subclassed_events_are_routed_by_kind() -> None:
    class MyTrade(TradePrint):
        __slots__ = ()

    bus = MarketBus()
    core = bus.subscribe("core", maxsize=10)
    mine = MyTrade("A", price=5, qty=1, aggressor=Side.BUY, ts=1)
    bus.publish_many([mine])
    bus.publish(mine)
    assert core.drain() == [mine, mine]
    assert bus.ui_view.tape("A") == [mine, mine]
    assert bus.ui_view.take_dirty() == {}
