"""Benchmark the matching book (engine.book) against a bare-bones price-time book.

Workload (seeded, generated in this script): one instrument, 600 seed adds, then a mix of
60 % limit adds 0-10 ticks behind the touch, 30 % cancels of live orders and 10 % marketable IOC
orders (30 % of them sweepers sized to the whole best level plus 1-20 lots, priced 5 ticks through).
The generator tracks the book with the naive model, so cancels always target live orders.

Printed figures (one per line, ``name: value unit``):

* ``book_ops_per_s``: our book, median over rounds.
* ``book_p50_us`` / ``book_p99_us``: per-op latency of our book, each op timed with
  ``time.perf_counter_ns`` over a whole pass (timer overhead included).
* ``naive_ops_per_s`` / ``naive_p99_us``: the bare-bones book (SortedDict of price levels, a deque
  per level, a dict of ids, ``deque.remove`` on cancel) on the same op stream in the same run.
* ``book_vs_naive``: median over rounds of (our ops/s / naive ops/s), both measured in the round.
* ``book_fills_equal``: 1 if both books produced identical fills (maker, taker, price, qty) for
  the whole stream (which is LIMIT/IOC only), else 0.
* ``book_ops_per_cpu_s`` / ``naive_ops_per_cpu_s`` / ``book_vs_naive_cpu``: the same rounds timed
  with ``time.process_time`` (CPU time), which other processes on a shared machine disturb less.

Usage: ``python bench/book.py [--ops 300000] [--rounds 5] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from sortedcontainers import SortedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.book import Fill, OrderBook
from engine.models import Exchange, Instrument, InstrumentType, Side, Validity

ADD, CANCEL, IOC = 0, 1, 2
TICK = 5
LOT = 1
BASE = 100_000  # 1000.00 rupees in paise

Op = tuple[int, int, Side, int, int]  # kind, order id, side, qty, price
Trade = tuple[int, int, int, int]  # maker id, taker id, price, qty

INSTRUMENT = Instrument(
    token="2885",
    exchange=Exchange.NSE,
    symbol="BENCH-EQ",
    name="BENCH",
    instrument_type=InstrumentType.EQUITY,
    lot_size=LOT,
    tick_size=TICK,
)


class NaiveBook:
    """The straightforward price-time book users would write first (the peer we compare to)."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # -price -> deque of [oid, qty]
        self.asks: SortedDict = SortedDict()  # price -> deque of [oid, qty]
        self.orders: dict[int, tuple[Side, int, list[int]]] = {}

    def best_bid(self) -> int:
        return -self.bids.peekitem(0)[0] if self.bids else 0

    def best_ask(self) -> int:
        return self.asks.peekitem(0)[0] if self.asks else 0

    def best_ask_qty(self) -> int:
        return sum(e[1] for e in self.asks.peekitem(0)[1]) if self.asks else 0

    def best_bid_qty(self) -> int:
        return sum(e[1] for e in self.bids.peekitem(0)[1]) if self.bids else 0

    def submit(self, oid: int, side: Side, qty: int, price: int, ioc: bool) -> list[Trade]:
        fills: list[Trade] = []
        if side is Side.BUY:
            book, key, rest_book, rest_key = self.asks, 1, self.bids, -price
        else:
            book, key, rest_book, rest_key = self.bids, -1, self.asks, price
        while qty and book:
            k, queue = book.peekitem(0)
            level_price = k * key
            if (level_price > price) if side is Side.BUY else (level_price < price):
                break
            while qty and queue:
                entry = queue[0]
                x = min(qty, entry[1])
                entry[1] -= x
                qty -= x
                fills.append((entry[0], oid, level_price, x))
                if not entry[1]:
                    queue.popleft()
                    del self.orders[entry[0]]
            if not queue:
                del book[k]
        if qty and not ioc:
            entry = [oid, qty]
            queue = rest_book.get(rest_key)
            if queue is None:
                queue = rest_book[rest_key] = deque()
            queue.append(entry)
            self.orders[oid] = (side, rest_key, entry)
        return fills

    def cancel(self, oid: int) -> bool:
        rec = self.orders.pop(oid, None)
        if rec is None:
            return False
        side, key, entry = rec
        book = self.bids if side is Side.BUY else self.asks
        queue = book[key]
        queue.remove(entry)
        if not queue:
            del book[key]
        return True


def make_stream(n_ops: int, seed: int) -> list[Op]:
    """Generate the op stream, tracking the book with the naive model."""
    rng = random.Random(seed)
    book = NaiveBook()
    ops: list[Op] = []
    live: list[int] = []
    next_id = 0

    def emit(op: Op) -> None:
        kind, oid, side, qty, price = op
        ops.append(op)
        if kind == CANCEL:
            book.cancel(oid)
        else:
            book.submit(oid, side, qty, price, kind == IOC)
            if kind == ADD and oid in book.orders:
                live.append(oid)

    for i in range(600):
        next_id += 1
        side = Side.BUY if i % 2 == 0 else Side.SELL
        offset = TICK * (1 + rng.randrange(10))
        price = BASE - offset if side is Side.BUY else BASE + offset
        emit((ADD, next_id, side, LOT * rng.randint(1, 10), price))

    while len(ops) < n_ops + 600:
        roll = rng.random()
        if 0.6 <= roll < 0.9:
            target = 0
            while live:
                j = rng.randrange(len(live))
                live[j], live[-1] = live[-1], live[j]
                candidate = live.pop()
                if candidate in book.orders:
                    target = candidate
                    break
            if target:
                emit((CANCEL, target, Side.BUY, 0, 0))
                continue
        next_id += 1
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        bid, ask = book.best_bid(), book.best_ask()
        if roll >= 0.9 and (ask if side is Side.BUY else bid):
            if rng.random() < 0.3:
                through = 5 * TICK
                extra = LOT * rng.randint(1, 20)
                if side is Side.BUY:
                    emit((IOC, next_id, side, book.best_ask_qty() + extra, ask + through))
                else:
                    emit((IOC, next_id, side, book.best_bid_qty() + extra, bid - through))
            else:
                touch = ask if side is Side.BUY else bid
                emit((IOC, next_id, side, LOT * rng.randint(1, 10), touch))
            continue
        behind = TICK * rng.randrange(11)
        if side is Side.BUY:
            price = ask - TICK - behind if ask else (bid or BASE) - behind
        else:
            price = bid + TICK + behind if bid else (ask or BASE) + behind
        emit((ADD, next_id, side, LOT * rng.randint(1, 10), max(price, TICK)))
    return ops


def run_ours(ops: list[Op], timed_from: int) -> tuple[float, float]:
    """Run the stream through OrderBook; (wall, CPU) seconds taken by ops[timed_from:]."""
    book = OrderBook(INSTRUMENT)
    submit = book.submit
    cancel = book.cancel
    ioc = Validity.IOC
    for _kind, oid, side, qty, price in ops[:timed_from]:
        submit(oid, oid, side, qty, price=price)
    timed = ops[timed_from:]
    gc.collect()
    cpu_start = time.process_time()
    start = time.perf_counter()
    for kind, oid, side, qty, price in timed:
        if kind == ADD:
            submit(oid, oid, side, qty, price=price)
        elif kind == CANCEL:
            cancel(oid)
        else:
            submit(oid, oid, side, qty, price=price, validity=ioc)
    return time.perf_counter() - start, time.process_time() - cpu_start


def run_naive(ops: list[Op], timed_from: int) -> tuple[float, float]:
    """Run the stream through NaiveBook; (wall, CPU) seconds taken by ops[timed_from:]."""
    book = NaiveBook()
    submit = book.submit
    cancel = book.cancel
    for _kind, oid, side, qty, price in ops[:timed_from]:
        submit(oid, side, qty, price, False)
    timed = ops[timed_from:]
    gc.collect()
    cpu_start = time.process_time()
    start = time.perf_counter()
    for kind, oid, side, qty, price in timed:
        if kind == ADD:
            submit(oid, side, qty, price, False)
        elif kind == CANCEL:
            cancel(oid)
        else:
            submit(oid, side, qty, price, True)
    return time.perf_counter() - start, time.process_time() - cpu_start


def latencies_ours(ops: list[Op], timed_from: int) -> list[int]:
    """Per-op latency (ns) of our book over ops[timed_from:]."""
    book = OrderBook(INSTRUMENT)
    submit = book.submit
    cancel = book.cancel
    ioc = Validity.IOC
    clock = time.perf_counter_ns
    for _kind, oid, side, qty, price in ops[:timed_from]:
        submit(oid, oid, side, qty, price=price)
    out: list[int] = []
    record = out.append
    gc.collect()
    for kind, oid, side, qty, price in ops[timed_from:]:
        if kind == ADD:
            t0 = clock()
            submit(oid, oid, side, qty, price=price)
            record(clock() - t0)
        elif kind == CANCEL:
            t0 = clock()
            cancel(oid)
            record(clock() - t0)
        else:
            t0 = clock()
            submit(oid, oid, side, qty, price=price, validity=ioc)
            record(clock() - t0)
    return out


def latencies_naive(ops: list[Op], timed_from: int) -> list[int]:
    """Per-op latency (ns) of the naive book over ops[timed_from:]."""
    book = NaiveBook()
    submit = book.submit
    cancel = book.cancel
    clock = time.perf_counter_ns
    for _kind, oid, side, qty, price in ops[:timed_from]:
        submit(oid, side, qty, price, False)
    out: list[int] = []
    record = out.append
    gc.collect()
    for kind, oid, side, qty, price in ops[timed_from:]:
        t0 = clock()
        if kind == CANCEL:
            cancel(oid)
        else:
            submit(oid, side, qty, price, kind == IOC)
        record(clock() - t0)
    return out


def fills_ours(ops: list[Op]) -> list[Trade]:
    """All fills of our book over the stream as (maker, taker, price, qty)."""
    book = OrderBook(INSTRUMENT)
    out: list[Trade] = []
    for kind, oid, side, qty, price in ops:
        if kind == CANCEL:
            events = book.cancel(oid)
        else:
            validity = Validity.IOC if kind == IOC else Validity.DAY
            events = book.submit(oid, oid, side, qty, price=price, validity=validity)
        out.extend((e.maker_id, e.taker_id, e.price, e.qty) for e in events if type(e) is Fill)
    return out


def fills_naive(ops: list[Op]) -> list[Trade]:
    """All fills of the naive book over the stream as (maker, taker, price, qty)."""
    book = NaiveBook()
    out: list[Trade] = []
    for kind, oid, side, qty, price in ops:
        if kind == CANCEL:
            book.cancel(oid)
        else:
            out.extend(book.submit(oid, side, qty, price, kind == IOC))
    return out


def percentile(sorted_ns: list[int], pct: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in microseconds."""
    index = min(len(sorted_ns) - 1, max(0, round(pct / 100 * len(sorted_ns)) - 1))
    return sorted_ns[index] / 1000


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    ops = make_stream(args.ops, args.seed)
    timed = len(ops) - 600
    kinds = [op[0] for op in ops[600:]]
    mix = {
        name: kinds.count(k) / timed for name, k in (("add", ADD), ("cancel", CANCEL), ("ioc", IOC))
    }
    gc.collect()
    gc.freeze()

    fills_equal = fills_ours(ops) == fills_naive(ops)
    n_fills = len(fills_naive(ops))

    ours_rates: list[float] = []
    naive_rates: list[float] = []
    ratios: list[float] = []
    cpu_rates: dict[str, list[float]] = {"ours": [], "naive": []}
    cpu_ratios: list[float] = []
    runners: list[tuple[str, Callable[[list[Op], int], tuple[float, float]]]] = [
        ("ours", run_ours),
        ("naive", run_naive),
    ]
    for round_no in range(args.rounds):
        order = runners if round_no % 2 == 0 else runners[::-1]
        rates: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name, runner in order:
            seconds, cpu_seconds = runner(ops, 600)
            rates[name] = timed / seconds
            cpu[name] = timed / cpu_seconds
            cpu_rates[name].append(cpu[name])
        ours_rates.append(rates["ours"])
        naive_rates.append(rates["naive"])
        ratios.append(rates["ours"] / rates["naive"])
        cpu_ratios.append(cpu["ours"] / cpu["naive"])

    ours_lat = sorted(latencies_ours(ops, 600))
    naive_lat = sorted(latencies_naive(ops, 600))

    print(
        f"book_ops: {timed} ops (add {mix['add']:.1%}, cancel {mix['cancel']:.1%}, "
        f"ioc {mix['ioc']:.1%}; {n_fills} fills; {args.rounds} rounds)"
    )
    print(f"book_ops_per_s: {statistics.median(ours_rates):.0f} ops/s")
    print(f"book_p50_us: {percentile(ours_lat, 50):.2f} us")
    print(f"book_p99_us: {percentile(ours_lat, 99):.2f} us")
    print(f"naive_ops_per_s: {statistics.median(naive_rates):.0f} ops/s")
    print(f"naive_p99_us: {percentile(naive_lat, 99):.2f} us")
    print(f"book_vs_naive: {statistics.median(ratios):.2f} x")
    print(f"book_fills_equal: {int(fills_equal)}")
    # The same rounds timed by CPU time, which a busy shared machine disturbs less.
    print(f"book_ops_per_cpu_s: {statistics.median(cpu_rates['ours']):.0f} ops/s")
    print(f"naive_ops_per_cpu_s: {statistics.median(cpu_rates['naive']):.0f} ops/s")
    print(f"book_vs_naive_cpu: {statistics.median(cpu_ratios):.2f} x")


if __name__ == "__main__":
    main()
