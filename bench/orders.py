"""Benchmark the order path: paper orders through risk, the journal and the paper broker.

Prints one figure per line (``name: value unit``):

* ``orders_per_s``: ``--orders`` LIMIT orders (default 30,000) submitted by ``--submitters``
  concurrent asyncio tasks (default 64) through :meth:`TradingCore.submit`: pre-trade risk, then
  the journal (``synchronous=FULL``: both order events of every order are committed and fsynced
  *before* the broker sees it and before ``submit`` returns), then the paper broker, which enters
  the order in the simulated market's book and reports it accepted. Measured from the first
  submit to the last acknowledgement. Concurrency is what lets the journal's writer thread commit
  many orders per fsync (group commit).
* ``order_ack_p50_ms`` / ``order_ack_p99_ms``: latency of one ``submit`` call (call to return)
  at a realistic pace of ``--paced-rate`` orders/s (default 1,000), one order at a time.
* ``order_ack_flat_out_p50_ms`` / ``order_ack_flat_out_p99_ms``: the same latency in the
  flat-out run above, where each order also waits for the orders queued ahead of it.
* ``orders_per_commit``: mean orders per group commit in the flat-out run (two events each).

**The SEBI rate limit is widened, on purpose and only here.** Pre-trade risk admits at most
``orders_per_second`` (<= 10, the SEBI retail-algo threshold) per exchange segment, which would
hold this benchmark to 10 orders/s. The bench injects an :class:`OrderRateLimiter` with the same
10 slots but a 1 µs window (``PreTradeRisk`` accepts any limiter that allows no more than 10 per
window), so the limiter is still consulted for every order and costs what it costs, but never
refuses one. This measures the engine's capacity, not what an account may send. The duplicate-order
and order-to-trade checks are also switched off (thousands of identical resting orders would trip
them by design); every other check runs with its defaults.

The orders rest (LIMIT buys a few ticks below the best bid, sells above the best ask, spread over
``--instruments`` NSE stocks), so what is measured is acknowledgement, not fills. The core's clock
is the wall clock; the market is stepped once before the run so every book has quotes.

Run: ``.venv/bin/python bench/orders.py [--orders N] [--submitters K] [--profile]``.
``--profile`` prints the top of a cProfile of the flat-out run to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from brokers.paper import PaperBroker
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, WallClock, ist_date
from engine.core import TradingCore
from engine.intent import OrderIntent
from engine.journal import Journal
from engine.models import Instrument, InstrumentType, Product, Quote, Side
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.rate_limit import OrderRateLimiter
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

CASH = 10**15  # paise: enough margin for every resting order of the run


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Rig:
    """A core over a paper broker over a simulated market."""

    core: TradingCore
    journal: Journal
    stocks: list[Instrument]


def build(path: Path, instruments: int, synchronous: str) -> Rig:
    """The core the app builds for a paper account, with the rate limiter widened (see above)."""
    clock = WallClock()
    universe = build_paper_universe(ist_date(clock.now_ns()))
    stocks = [i for i in universe.instruments
              if i.instrument_type is InstrumentType.EQUITY][:instruments]
    market_clock = SimClock(clock.now_ns())
    market = SimulatedMarket(
        stocks, {i.token: universe.start_prices[i.token] for i in stocks}, seed=1,
        config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN, events_per_s=20),
        clock=market_clock,
    )
    config = RiskConfig(duplicate_window_s=Decimal(0), otr_warn=None, otr_block=None)
    limiter = OrderRateLimiter(
        config.orders_per_second, window_ns=1_000,
        count_modify_cancel=config.rate_limit_counts_modify_cancel,
    )
    journal = Journal.open(path, synchronous="FULL" if synchronous == "FULL" else "NORMAL")
    core = TradingCore(
        broker=PaperBroker(market), journal=journal, instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(config, clock, rate_limiter=limiter), portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE), clock=clock, account="bench",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    for _ in range(50):  # one simulated second: every book has makers and a quote
        core.on_quotes(e for e in market.step(20 * NS_PER_MS) if isinstance(e, Quote))
    return Rig(core, journal, stocks)


def intents(rig: Rig, count: int, seed: int) -> list[OrderIntent]:
    """Resting LIMIT orders a few ticks away from the touch, over every instrument."""
    rng = random.Random(seed)
    out: list[OrderIntent] = []
    for _ in range(count):
        stock = rng.choice(rig.stocks)
        quote = rig.core.quote(stock.token)
        assert quote is not None and quote.bids and quote.asks
        side = rng.choice((Side.BUY, Side.SELL))
        away = rng.randint(2, 12) * stock.tick_size
        price = quote.bids[0].price - away if side is Side.BUY else quote.asks[0].price + away
        out.append(OrderIntent(token=stock.token, side=side, qty=rng.randint(1, 50), price=price,
                               product=Product.MIS))
    return out


async def flat_out(
    rig: Rig, orders: list[OrderIntent], submitters: int
) -> tuple[float, list[float]]:
    """Submit everything with ``submitters`` concurrent tasks; (seconds, latencies in ms)."""
    latencies: list[float] = []
    queue = iter(orders)
    refused: list[str] = []

    async def submitter() -> None:
        core = rig.core
        clock = time.perf_counter_ns
        for intent in queue:
            start = clock()
            result = await core.submit(intent)
            latencies.append((clock() - start) / 1e6)
            if not result.accepted:
                refused.append(result.message)

    start = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(submitters)))
    elapsed = time.perf_counter() - start
    if refused:
        raise SystemExit(f"{len(refused)} orders were refused, e.g.: {refused[0]}")
    return elapsed, latencies


async def paced(rig: Rig, orders: list[OrderIntent], rate: float) -> list[float]:
    """One order at a time at ``rate`` per second; latencies in ms."""
    latencies: list[float] = []
    interval = 1.0 / rate
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    for intent in orders:
        next_at += interval
        start = time.perf_counter_ns()
        result = await rig.core.submit(intent)
        latencies.append((time.perf_counter_ns() - start) / 1e6)
        if not result.accepted:
            raise SystemExit(f"a paced order was refused: {result.message}")
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    return latencies


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-orders-") as tmp:
        rig = build(Path(tmp) / "journal.sqlite", args.instruments, args.synchronous)
        await rig.core.start()
        warm = intents(rig, 2_000, seed=1)
        await flat_out(rig, warm, args.submitters)
        await rig.journal.flush()
        batch = intents(rig, args.orders, seed=2)
        paced_batch = intents(rig, int(args.paced_rate * args.paced_seconds), seed=3)
        stats_before = rig.journal.stats()
        gc.collect()
        gc.freeze()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        cpu_start = time.process_time()
        elapsed, flat_latencies = await flat_out(rig, batch, args.submitters)
        cpu = time.process_time() - cpu_start
        if profiler is not None:
            profiler.disable()
        stats_after = rig.journal.stats()
        paced_latencies = await paced(rig, paced_batch, args.paced_rate)
        await rig.core.stop()
        rig.journal.close()

    commits = stats_after.commits - stats_before.commits
    print(f"orders_per_s: {args.orders / elapsed:.0f} orders/s")
    print(f"order_ack_p50_ms: {percentile(paced_latencies, 50):.3f} ms")
    print(f"order_ack_p99_ms: {percentile(paced_latencies, 99):.3f} ms")
    print(f"order_ack_flat_out_p50_ms: {percentile(flat_latencies, 50):.3f} ms")
    print(f"order_ack_flat_out_p99_ms: {percentile(flat_latencies, 99):.3f} ms")
    print(f"orders_per_commit: {args.orders / max(1, commits):.1f} orders")
    print(f"cpu_us_per_order: {cpu / args.orders * 1e6:.0f} us")
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(args.sort).print_stats(args.top)
        print(text.getvalue(), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=30_000)
    parser.add_argument("--submitters", type=int, default=64)
    parser.add_argument("--instruments", type=int, default=40)
    parser.add_argument("--paced-rate", type=float, default=1_000.0)
    parser.add_argument("--paced-seconds", type=float, default=3.0)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (with --profile)")
    parser.add_argument("--top", type=int, default=25, help="rows of the profile to print")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
