"""Benchmark the core's quote path with a loaded account: 10,000 GTTs, 500 orders, 50 positions.

Prints one figure per line (``name: value unit``):

* ``core_quotes_per_s``: quotes per second (best round) through :meth:`TradingCore.on_quotes`
  (mark positions, the GTT trigger index, brackets, the time-driven checks and the account risk
  monitor once per batch) on a core holding ``--gtts`` active GTT rules (default 10,000) spread over
  ``--instruments`` synthetic NSE stocks (default 200), ``--orders`` open resting orders (500)
  and ``--positions`` open positions (50). Quotes come in batches of ``--batch`` (100), as the
  market bus hands them over.
* ``core_quotes_per_s_no_gtt``: the same quotes through a core built the same way but without
  GTTs.
* ``gtt_overhead_pct``: how much slower the quote path is with the GTTs: ``best time with GTTs
  / best time without - 1`` in percent, over ``--rounds`` interleaved rounds (both cores see the
  same quotes in every round; the best of several rounds is the least disturbed by other
  processes on a shared machine, as ``timeit`` takes it). ``gtt_overhead_pct_median`` is the
  median of the per-round ratios, for a sense of the noise.
* ``gtt_fired``: GTTs fired during the measured quotes (0: the quotes move the prices inside
  a band the triggers are outside of, so what is measured is the cost of *checking* 10,000
  rules per quote, not of placing orders).

Everything in the cores is real: orders and positions were made through ``submit`` against a
simulated market of the same 200 instruments and the paper broker, GTTs through ``create_gtt``,
all journaled. The order rate limiter is widened the same way as in ``bench/orders.py`` (10 per
1 µs instead of per second) so that building the account does not take minutes.

Run: ``.venv/bin/python bench/quotes.py [--quotes N] [--batch B]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from brokers.paper import PaperBroker
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, WallClock
from engine.core import TradingCore
from engine.gtt import GttKind, GttLeg, GttStatus
from engine.intent import OrderIntent
from engine.journal import Journal
from engine.models import (
    DepthLevel,
    Exchange,
    Instrument,
    InstrumentType,
    OrderType,
    Product,
    Quote,
    Side,
)
from engine.portfolio import Portfolio
from engine.rate_limit import OrderRateLimiter
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

CASH = 10**14  # paise
TICK = 5  # 5 paise


def universe(count: int, seed: int) -> tuple[list[Instrument], dict[str, int]]:
    """``count`` synthetic NSE stocks priced between Rs 100 and Rs 5,000."""
    rng = random.Random(seed)
    stocks: list[Instrument] = []
    prices: dict[str, int] = {}
    for n in range(count):
        token = str(900_000 + n)
        stocks.append(Instrument(
            token=token, exchange=Exchange.NSE, symbol=f"SYN{n:03d}-EQ", name=f"SYNTHETIC {n}",
            instrument_type=InstrumentType.EQUITY, lot_size=1, tick_size=TICK,
        ))
        prices[token] = rng.randrange(100_00, 5_000_00) // TICK * TICK
    return stocks, prices


@dataclass
class Rig:
    """A loaded core and the market that fed it."""

    core: TradingCore
    journal: Journal
    stocks: list[Instrument]
    prices: dict[str, int]


async def build(path: Path, args: argparse.Namespace, *, with_gtts: bool) -> Rig:
    """A core with open positions, resting orders and (optionally) GTTs, all made for real."""
    stocks, prices = universe(args.instruments, seed=1)
    clock = WallClock()
    market = SimulatedMarket(
        stocks, prices, seed=2,
        config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN, events_per_s=5),
        clock=SimClock(clock.now_ns()),
    )
    config = RiskConfig(duplicate_window_s=Decimal(0), otr_warn=None, otr_block=None)
    limiter = OrderRateLimiter(config.orders_per_second, window_ns=1_000)
    journal = Journal.open(path, synchronous="NORMAL")
    core = TradingCore(
        broker=PaperBroker(market), journal=journal, instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(config, clock, rate_limiter=limiter), portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE), clock=clock, account="bench",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    await core.start()
    for _ in range(100):  # two simulated seconds: makers quote every book
        core.on_quotes(e for e in market.step(20 * NS_PER_MS) if isinstance(e, Quote))
    rng = random.Random(3)
    for stock in stocks[: args.positions]:  # marketable: opens a position
        quote = core.quote(stock.token)
        assert quote is not None and quote.asks, f"no quote for {stock.symbol}"
        result = await core.submit(OrderIntent(
            token=stock.token, side=Side.BUY, qty=rng.randint(1, 5), order_type=OrderType.LIMIT,
            price=quote.asks[0].price + 2 * TICK, product=Product.MIS,
        ))
        assert result.accepted, result.message
    for n in range(args.orders):  # resting, well away from the touch
        stock = stocks[n % len(stocks)]
        quote = core.quote(stock.token)
        assert quote is not None and quote.bids
        result = await core.submit(OrderIntent(
            token=stock.token, side=Side.BUY, qty=rng.randint(1, 20), order_type=OrderType.LIMIT,
            price=quote.bids[0].price - rng.randint(20, 60) * TICK, product=Product.MIS,
        ))
        assert result.accepted, result.message
    await core.settle()
    if with_gtts:
        for n in range(args.gtts):
            stock = stocks[n % len(stocks)]
            ltp = core.quote(stock.token).ltp  # type: ignore[union-attr]
            # Triggers 4-15 % away: outside the band the measured quotes move in.
            away = max(TICK, ltp * rng.randint(40, 150) // 1000 // TICK * TICK)
            if rng.random() < 0.5:
                legs = [GttLeg(trigger=ltp - away, limit=ltp - away, side=Side.BUY, qty=1)]
                kind = GttKind.SINGLE
            else:
                legs = [GttLeg(trigger=ltp - away, limit=ltp - away, side=Side.SELL, qty=1),
                        GttLeg(trigger=ltp + away, limit=ltp + away, side=Side.SELL, qty=1)]
                kind = GttKind.OCO
            await core.create_gtt(stock.token, kind, legs)
        await core.settle()
    state = {s.token: core.quote(s.token).ltp for s in stocks}  # type: ignore[union-attr]
    return Rig(core, journal, stocks, state)


def quote_stream(rig: Rig, count: int, seed: int) -> list[Quote]:
    """Quotes that random-walk each LTP inside +-2 % of its start, with best-5 depth."""
    rng = random.Random(seed)
    start = dict(rig.prices)
    ltp = dict(rig.prices)
    tokens = [s.token for s in rig.stocks]
    out: list[Quote] = []
    now = time.time_ns()
    for n in range(count):
        token = rng.choice(tokens)
        base = start[token]
        price = ltp[token] + rng.randint(-2, 2) * TICK
        band = base * 2 // 100
        price = min(max(price, base - band), base + band)
        ltp[token] = price
        out.append(Quote(
            token=token, ltp=price, ts=now + n, exchange_ts=now + n, seq=n, last_qty=1,
            volume=n, close=base,
            bids=tuple(DepthLevel(price - (k + 1) * TICK, 10 * (k + 1), 1 + k) for k in range(5)),
            asks=tuple(DepthLevel(price + (k + 1) * TICK, 10 * (k + 1), 1 + k) for k in range(5)),
        ))
    return out


def run_quotes(core: TradingCore, quotes: list[Quote], batch: int) -> float:
    """Feed ``quotes`` in batches; seconds taken."""
    on_quotes = core.on_quotes
    start = time.perf_counter()
    for i in range(0, len(quotes), batch):
        on_quotes(quotes[i : i + batch])
    return time.perf_counter() - start


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-quotes-") as tmp:
        loaded = await build(Path(tmp) / "gtt.sqlite", args, with_gtts=True)
        plain = await build(Path(tmp) / "plain.sqlite", args, with_gtts=False)
        active = sum(1 for r in loaded.core.gtts() if r.status is GttStatus.ACTIVE)
        assert active == args.gtts, f"{active} active GTTs, expected {args.gtts}"
        assert len(loaded.core.open_orders()) == args.orders == len(plain.core.open_orders())
        open_positions = sum(1 for p in loaded.core.positions() if p.net_qty)
        assert open_positions == args.positions, open_positions
        quotes = quote_stream(loaded, args.quotes, seed=4)
        run_quotes(loaded.core, quotes[:5_000], args.batch)  # warm up both
        run_quotes(plain.core, quotes[:5_000], args.batch)
        gc.collect()
        gc.freeze()
        with_times: list[float] = []
        without_times: list[float] = []
        for _ in range(args.rounds):
            with_times.append(run_quotes(loaded.core, quotes, args.batch))
            without_times.append(run_quotes(plain.core, quotes, args.batch))
        fired = sum(1 for r in loaded.core.gtts() if r.status is not GttStatus.ACTIVE)
        for rig in (loaded, plain):
            await rig.core.stop()
            rig.journal.close()
    ratios = [w / wo - 1 for w, wo in zip(with_times, without_times, strict=True)]
    print(f"core_quotes_per_s: {args.quotes / min(with_times):.0f} quotes/s")
    print(f"core_quotes_per_s_no_gtt: {args.quotes / min(without_times):.0f} quotes/s")
    print(f"gtt_overhead_pct: {(min(with_times) / min(without_times) - 1) * 100:.1f} %")
    print(f"gtt_overhead_pct_median: {statistics.median(ratios) * 100:.1f} %")
    print(f"gtt_fired: {fired} rules")
    print(f"setup: {args.gtts} GTTs, {args.orders} open orders, {args.positions} positions, "
          f"{args.instruments} instruments, batches of {args.batch}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quotes", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--gtts", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
