"""Benchmark crash recovery: the time ``TradingCore.start()`` takes on a 1,000,000-event journal.

Prints one figure per line (``name: value unit``):

* ``recovery_s``: wall time of :meth:`TradingCore.start` on a journal of ``--events`` events
  (default 1,000,000) with the snapshots a running core writes, until it returns ready: the
  latest snapshot loaded (orders, positions, charges, GTT rules, brackets, kill switch, the
  day's fills), the events after it read and replayed, margins blocked for working orders, the
  paper broker connected and the working orders re-entered in the (fresh) simulated market.
  The restart is after a crash in the afternoon of the last day (no snapshot on stop), so the
  whole day so far is replayed.
* ``recovery_full_replay_s``: the same start on a copy of the journal without its snapshots:
  every event replayed (what every start cost before snapshots).
* ``recovery_events_per_s``: events in the journal per second of ``recovery_s``.
* ``recovered``: what the core holds afterwards (orders, fills, open orders, GTT rules), as a
  check that the replay did the work.
* ``generate_s``: time taken to write the journal (not part of the figures above).

The snapshots come from the core's own code path: while the journal is written, a
:class:`TradingCore` on it takes each trading day's records (through its replay, which builds
exactly the state the live path builds), rolls over to the next day like the live core does at
the first quote of a day (dropping the previous days' finished orders and fills) and writes its
snapshots as the live core would: at each day change and every ``snapshot_every`` records.

The journal is written like the core writes it, with :meth:`Journal.append_nowait` (the
``synchronous=NORMAL`` setting only speeds up writing it), and holds what a busy paper account
writes over many sessions: for each order ``OrderInitialized`` and ``OrderSubmitted`` (and nothing
more if risk refused it: ``OrderRejected``), ``OrderAccepted`` with a venue order id, then one or
two fills (``fill`` records with charges, side, product and token, as the core journals them),
or a cancel (``OrderPendingCancel``, ``OrderCancelled``), sometimes after a partial fill. About 2 %
of the events are GTT rule records (created, then cancelled); the last orders stay open. Orders
are spread over the NSE stocks of the bundled paper universe and products MIS and CNC, and the
events over ``--days`` trading days (default 250: a year of a very busy account, about 1,000
orders a day; ``--days 1`` puts all of them on one day, the worst case for re-pricing the day's
charges).

Run: ``.venv/bin/python bench/recovery.py [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from brokers.paper import PaperBroker
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, ist_ns
from engine.core import K_FILL, K_ORDER, TradingCore
from engine.gtt import GttBook, GttKind, GttLeg
from engine.journal import Journal
from engine.models import (
    ClientOrderId,
    Instrument,
    InstrumentType,
    OrderType,
    Product,
    Side,
    TradeId,
    VenueOrderId,
)
from engine.orders import (
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
    event_to_dict,
)
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.protection import K_GTT
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

DAY = date(2026, 11, 20)
ACCOUNT = "paper"
CASH = 10**13
OPEN_AT_END = 200


class Writer:
    """Appends events through ``append_nowait``, ``per_day`` events on each trading day."""

    def __init__(self, journal: Journal, first_day: date, per_day: int) -> None:
        self.journal = journal
        self.first_day = first_day
        self.per_day = per_day
        self.ts = ist_ns(first_day, dtime(9, 15))
        self.count = 0
        self.pending: list[tuple[str, dict[str, Any]]] = []  # written, not yet given to the core

    def append(self, kind: str, payload: dict[str, Any], coid: str | None) -> None:
        self.journal.append_nowait(kind, payload, account=ACCOUNT, client_order_id=coid,
                                   ts=self.ts)
        self.pending.append((kind, payload))
        self.count += 1

    @property
    def day(self) -> int:
        """Index of the trading day the next event falls on."""
        return self.count // self.per_day

    def tick(self) -> None:
        """Advance the clock: events are spread over the session, one trading day after another."""
        day, n = divmod(self.count, self.per_day)
        self.ts = ist_ns(self.first_day + timedelta(days=day), dtime(9, 15)) + n * 5 * NS_PER_MS

    def order(self, event: Any) -> None:
        self.tick()
        self.append(K_ORDER, event_to_dict(event), event.client_order_id)

    def fill(self, event: OrderFilled, side: Side, product: Product, token: str) -> None:
        self.tick()
        charges = max(1, event.qty * event.price // 3_000)
        payload = {"event": event_to_dict(event), "charges": charges, "product": product.value,
                   "side": side.value, "token": token, "strategy_id": "manual"}
        self.append(K_FILL, payload, event.client_order_id)

    def gtt(self, rule: Any) -> None:
        self.tick()
        self.append(K_GTT, {"rule": rule.to_dict()}, None)


def build_core(
    journal: Journal, stocks: list[Instrument], prices: dict[str, int], clock: SimClock
) -> TradingCore:
    """A paper core over a fresh simulated market, as the cockpit builds it."""
    market = SimulatedMarket(
        stocks, prices, seed=1,
        config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN, events_per_s=5), clock=clock,
    )
    return TradingCore(
        broker=PaperBroker(market), journal=journal, instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(RiskConfig(), clock), portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE), clock=clock, account=ACCOUNT,
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )


class Snapshotter:
    """The live core's snapshot policy, applied to a core that takes the records as written."""

    def __init__(self, core: TradingCore, clock: SimClock, write: Writer) -> None:
        self.core = core
        self.clock = clock
        self.write = write
        self.written = 0

    async def catch_up(self, next_day: date | None = None) -> None:
        """Apply what was written since the last call; roll over to ``next_day`` if given."""
        core = self.core
        records, self.write.pending = self.write.pending, []
        if records:
            core._apply_replay(records)
        if next_day is not None:
            at = ist_ns(next_day, dtime(9, 0))
            self.clock.set(at)
            core._roll_day(at)  # what the first quote of the day does: prune, then snapshot
        core._maybe_snapshot()  # what every journal write does: snapshot every N records
        before = core._snapshot_seq
        await core.settle()
        if core._snapshot_seq != before:
            self.written += 1


async def generate(
    path: Path, events: int, days: int, stocks: list[Instrument], prices: dict[str, int]
) -> tuple[int, int]:
    """Write about ``events`` realistic events over ``days`` days, with the snapshots a running
    core writes; returns how many events and snapshots."""
    rng = random.Random(7)
    journal = Journal.open(path, synchronous="NORMAL")
    first_day = DAY - timedelta(days=days - 1)
    write = Writer(journal, first_day, -(-events // days))
    clock = SimClock(ist_ns(first_day, dtime(9, 0)))
    core = build_core(journal, stocks, prices, clock)
    await core.start()  # an empty journal: nothing to replay
    snap = Snapshotter(core, clock, write)
    day = 0
    gtts = GttBook(id_factory=None)
    live_gtts: list[str] = []
    n = 0
    trade = 0
    while write.count < events:
        if write.day != day:
            day = write.day
            await snap.catch_up(first_day + timedelta(days=day))
        elif len(write.pending) >= 5_000:
            await snap.catch_up()
        n += 1
        stock = rng.choice(stocks)
        token, tick = stock.token, stock.tick_size
        price = prices[token] + rng.randint(-40, 40) * tick
        side = rng.choice((Side.BUY, Side.SELL))
        product = Product.MIS if rng.random() < 0.8 else Product.CNC
        if product is Product.CNC:
            side = Side.BUY
        qty = rng.randint(1, 100)
        coid = ClientOrderId(f"B{n:012d}")
        write.order(OrderInitialized(
            client_order_id=coid, ts=write.ts, token=token, side=side, order_type=OrderType.LIMIT,
            product=product, qty=qty, price=price, tag=coid,
        ))
        roll = rng.random()
        if roll < 0.05:
            write.order(OrderRejected(client_order_id=coid, ts=write.ts,
                                      reason="risk: rate_limit: NSE order rate limit"))
            continue
        write.order(OrderSubmitted(client_order_id=coid, ts=write.ts))
        venue = VenueOrderId(f"P{n:019d}")
        write.order(OrderAccepted(client_order_id=coid, ts=write.ts, venue_order_id=venue))
        if write.count >= events - OPEN_AT_END * 3:
            continue  # the last orders stay open: start() re-enters them at the broker
        if roll < 0.60:  # filled, in one or two trades
            first = qty if rng.random() < 0.7 or qty == 1 else rng.randint(1, qty - 1)
            for part in (first, qty - first):
                if part:
                    trade += 1
                    write.fill(OrderFilled(client_order_id=coid, ts=write.ts,
                                           trade_id=TradeId(f"PT{trade:019d}"), qty=part,
                                           price=price, venue_order_id=venue),
                               side, product, token)
        else:  # cancelled, sometimes after a partial fill
            if roll < 0.70 and qty > 1:
                trade += 1
                write.fill(OrderFilled(client_order_id=coid, ts=write.ts,
                                       trade_id=TradeId(f"PT{trade:019d}"),
                                       qty=rng.randint(1, qty - 1), price=price,
                                       venue_order_id=venue), side, product, token)
            write.order(OrderPendingCancel(client_order_id=coid, ts=write.ts))
            write.order(OrderCancelled(client_order_id=coid, ts=write.ts,
                                       reason="cancelled on request"))
        if rng.random() < 0.01:  # GTT rules: ~2 % of the events
            if live_gtts and rng.random() < 0.5:
                rule_id = live_gtts.pop(rng.randrange(len(live_gtts)))
                write.gtt(gtts.cancel(rule_id, write.ts))
            else:
                ltp = prices[token]
                away = 40 * tick
                rule = gtts.create(token, GttKind.SINGLE, (GttLeg(
                    trigger=ltp - away, limit=ltp - away, side=Side.BUY, qty=1,
                ),), ltp, write.ts, tick)
                live_gtts.append(rule.id)
                write.gtt(rule)
    await snap.catch_up()
    await journal.flush()
    await core.broker.close()  # no stop(): the restart below is after a crash, mid-day
    journal.close()
    return write.count, snap.written


async def recover(path: Path, stocks: list[Instrument], prices: dict[str, int]) -> tuple[
    float, int, TradingCore
]:
    """Time ``start()`` of a core on the journal at ``path``; returns (seconds, records
    replayed, the core)."""
    clock = SimClock(ist_ns(DAY, dtime(15, 45)))
    journal = Journal.open(path)
    core = build_core(journal, stocks, prices, clock)
    start = time.perf_counter()
    replayed = await core.start()
    elapsed = time.perf_counter() - start
    await core.broker.close()  # no stop(): it would add a snapshot to the journal
    journal.close()
    return elapsed, replayed, core


def copy_without_snapshots(path: Path, copy: Path) -> None:
    """Copy the (closed) journal and delete its snapshots: start() must replay every event."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copy(path, copy)
    conn = sqlite3.connect(copy)
    conn.execute("DELETE FROM snapshots")
    conn.commit()
    conn.close()


def summary(core: TradingCore) -> str:
    """What the core holds after a start."""
    return (f"{len(core.orders())} orders, {len(core.trades())} fills today, "
            f"{len(core.open_orders())} open orders, {len(core.gtts())} GTT rules, "
            f"{len(core.positions())} positions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=250,
                        help="trading days the events are spread over (1 = all on one day)")
    args = parser.parse_args()
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY]
    prices = {i.token: universe.start_prices[i.token] for i in stocks}
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-recovery-") as tmp:
        path = Path(tmp) / "journal.sqlite"
        started = time.perf_counter()
        written, snapshots = asyncio.run(generate(path, args.events, args.days, stocks, prices))
        generate_s = time.perf_counter() - started
        full_path = Path(tmp) / "journal-no-snapshots.sqlite"
        copy_without_snapshots(path, full_path)
        elapsed, tail, core = asyncio.run(recover(path, stocks, prices))
        full_elapsed, full_count, full_core = asyncio.run(recover(full_path, stocks, prices))
    assert core.restored_from is not None and full_core.restored_from is None
    assert summary(core) == summary(full_core), (summary(core), summary(full_core))
    print(f"recovery_s: {elapsed:.2f} s")
    print(f"recovery_full_replay_s: {full_elapsed:.2f} s")
    print(f"recovery_speedup: {full_elapsed / elapsed:.1f} x")
    print(f"recovery_events_per_s: {written / elapsed:.0f} events/s")
    print(f"recovered: {summary(core)}; snapshot at seq {core.restored_from}, "
          f"{tail} records after it replayed (full replay: {full_count})")
    print(f"generate_s: {generate_s:.1f} s")
    print(f"setup: {written} events over {args.days} trading days, {snapshots} snapshots")


if __name__ == "__main__":
    main()
