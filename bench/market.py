"""Market pipeline benchmark: simulator -> MarketBus -> consumer building bars and indicators.

Prints, one per line as ``name: value unit``:

* ``market_events_per_s``: the whole pipeline flat out (the simulator generating 50 instruments'
  flow, every event through the bus to a strict consumer that builds 1m..1d bars, an EMA, RSI and
  session VWAP per instrument), with ``market_events_lost`` (events published minus consumed);
* ``market_sim_events_per_s`` and ``market_bus_bars_events_per_s``: the two halves measured
  separately on the same events (where the time goes);
* ``market_lag_p99_ms``: publish-to-consumer lag p99 with the simulator's events replayed at an
  offered 10,000 events/s in 1 ms bursts;
* ``market_rss_mb``: process RSS after one simulated trading day (09:15-15:30) at 10 agent
  events/s per instrument through the whole pipeline (``--day-minutes`` shortens it for a quick
  look; the figure is only meaningful for the full 375).

Run: ``python bench/market.py`` (about 5 minutes; ``--day-minutes 30`` for a quick run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
from datetime import date
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.bars import BarAggregator
from engine.bus import MarketBus
from engine.clock import NS_PER_MS, NS_PER_SECOND, SimClock, ist_ns
from engine.indicators import EMA, RSI, SessionVWAP
from engine.models import InstrumentType, MarketEvent, TradePrint
from engine.paper_universe import build_paper_universe
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

BENCH_DAY = date(2026, 11, 20)  # a Friday and a trading day


class BarConsumer:
    """Builds bars at every interval plus EMA(20), RSI(14) and session VWAP per instrument."""

    def __init__(self) -> None:
        self.bars = BarAggregator()
        self.ema: dict[str, EMA] = {}
        self.rsi: dict[str, RSI] = {}
        self.vwap: dict[str, SessionVWAP] = {}
        self.consumed = 0

    def handle(self, batch: list[MarketEvent]) -> None:
        """Consume a burst of events."""
        self.consumed += len(batch)
        bars = self.bars
        for event in batch:
            bars.on_event(event)
            if type(event) is TradePrint:
                token = event.token
                vwap = self.vwap.get(token)
                if vwap is None:
                    vwap = self.vwap[token] = SessionVWAP()
                    self.ema[token] = EMA(20)
                    self.rsi[token] = RSI(14)
                vwap.update(event.price, event.qty, event.ts)
        for bar in bars.take_closed():
            token = bar.token
            if token in self.ema and bar.interval.value == "1m":
                self.ema[token].update(bar.close)
                self.rsi[token].update(bar.close)


def make_market(events_per_s: float, start_ns: int, seed: int = 7) -> SimulatedMarket:
    """50 traded instruments of the bundled universe in a REAL-mode session."""
    universe = build_paper_universe(BENCH_DAY)
    traded = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:50]
    prices = {i.token: universe.start_prices[i.token] for i in traded}
    config = SimulatorConfig(mode=SessionMode.REAL, events_per_s=events_per_s)
    return SimulatedMarket(traded, prices, seed=seed, config=config, clock=SimClock(start_ns))


def generate(market: SimulatedMarket, seconds: float, step_ms: int = 20) -> list[MarketEvent]:
    """Run the simulator for ``seconds`` of simulated time and collect its events."""
    out: list[MarketEvent] = []
    step = step_ms * NS_PER_MS
    for _ in range(int(seconds * 1000 / step_ms)):
        out.extend(market.step(step))
    return out


async def pipeline_flat_out(seconds: float) -> tuple[float, int, float, float]:
    """Whole pipeline as fast as it goes. Returns (events/s, lost, sim-only/s, bus+bars/s)."""
    open_ns = ist_ns(BENCH_DAY, dtime(9, 15))
    # 1) simulator alone
    market = make_market(40.0, open_ns)
    t0 = time.perf_counter()
    events = generate(market, seconds)
    sim_rate = len(events) / (time.perf_counter() - t0)
    # 2) bus + bars alone on the same events
    bus = MarketBus()
    queue = bus.subscribe("core", maxsize=1_000_000)
    consumer = BarConsumer()
    t0 = time.perf_counter()
    for start in range(0, len(events), 256):
        bus.publish_many(events[start : start + 256])
        consumer.handle(queue.drain())
    bus_rate = len(events) / (time.perf_counter() - t0)
    # 3) the whole pipeline: simulator -> bus -> consumer, on one loop, interleaved
    market = make_market(40.0, open_ns)
    bus = MarketBus()
    bus.attach_loop(asyncio.get_running_loop())
    queue = bus.subscribe("core", maxsize=100_000)
    consumer = BarConsumer()
    published = 0
    done = asyncio.Event()

    async def consume() -> None:
        while True:
            batch = await queue.get_batch(4096)
            if not batch:
                done.set()
                return
            consumer.handle(batch)

    task = asyncio.create_task(consume())
    t0 = time.perf_counter()
    for _ in range(int(seconds * 1000 / 20)):
        batch = market.step(20 * NS_PER_MS)
        published += len(batch)
        bus.publish_many(batch)
        await asyncio.sleep(0)
    bus.close()
    await done.wait()
    elapsed = time.perf_counter() - t0
    await task
    return published / elapsed, published - consumer.consumed, sim_rate, bus_rate


async def paced_lag(events: list[MarketEvent], rate: int, seconds: float) -> float:
    """Replay events at ``rate``/s in 1 ms bursts; return the consumer lag p99 in ms."""
    bus = MarketBus()
    bus.attach_loop(asyncio.get_running_loop())
    queue = bus.subscribe("core", maxsize=100_000)
    consumer = BarConsumer()

    async def consume() -> None:
        while True:
            batch = await queue.get_batch(4096)
            if not batch:
                return
            consumer.handle(batch)

    task = asyncio.create_task(consume())
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    total = min(len(events), int(rate * seconds))
    while sent < total:
        await asyncio.sleep(0.001)
        due = min(total, int((loop.time() - start) * rate))
        if due > sent:
            bus.publish_many(events[sent:due])
            sent = due
    bus.close()
    await task
    stats = bus.stats().consumer("core")
    return stats.lag.p99_ns / 1e6


async def one_day_rss(minutes: int) -> tuple[float, int]:
    """A simulated session at 10 agent events/s/instrument through the whole pipeline."""
    gc.collect()
    market = make_market(10.0, ist_ns(BENCH_DAY, dtime(9, 15)))
    bus = MarketBus()
    queue = bus.subscribe("core", maxsize=1_000_000)
    consumer = BarConsumer()
    step = NS_PER_SECOND
    for _ in range(minutes * 60):
        bus.publish_many(market.step(step))
        consumer.handle(queue.drain())
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / 1024, consumer.consumed


async def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="simulated seconds for the throughput runs")
    parser.add_argument("--day-minutes", type=int, default=375,
                        help="length of the RSS session in minutes (375 = 09:15-15:30)")
    args = parser.parse_args()
    try:
        import uvloop  # noqa: F401

        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    rate, lost, sim_rate, bus_rate = await pipeline_flat_out(args.seconds)
    print(f"market_events_per_s: {rate:,.0f} events/s".replace(",", ""))
    print(f"market_events_lost: {lost}")
    print(f"market_sim_events_per_s: {sim_rate:.0f} events/s")
    print(f"market_bus_bars_events_per_s: {bus_rate:.0f} events/s")
    events = generate(make_market(40.0, ist_ns(BENCH_DAY, dtime(9, 15))), 60.0)
    lag = await paced_lag(events, 10_000, 5.0)
    print(f"market_lag_p99_ms: {lag:.3f} ms")
    rss, consumed = await one_day_rss(args.day_minutes)
    print(f"market_day_events: {consumed}")
    print(f"market_rss_mb: {rss:.1f} MB")
    print(f"market_loop: {loop_name}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
