"""Benchmark the GTT trigger index (engine.gtt) on the quote path.

Workload (seeded, generated here): 200 instruments, each on its own random walk (mostly 0-3
ticks per quote, now and then a 20-tick jump); 10,000 ACTIVE rules (50 per instrument, a third
OCO) with triggers 1-8 % away from the price at creation. Quotes go to random instruments. Fired
rules are replaced between timed batches so the book stays at 10,000 rules.

Printed figures (one per line, ``name: value unit``; medians over rounds):

* ``gtt_on_quote_ns_0_rules``: ``GttBook.on_quote`` per quote on an empty book.
* ``gtt_on_quote_ns``: the same quote stream with 10,000 rules (fires included).
* ``gtt_overhead_pct``: ``gtt_on_quote_ns`` as a percentage of a 10 us quote path (the whole
  call counted, not only what the rules add). The budget is <= 10 %.
* ``gtt_index_added_ns``: ``gtt_on_quote_ns`` minus the empty-book figure, same round.
* ``gtt_naive_on_quote_ns`` / ``gtt_vs_naive``: a brute-force peer that checks every rule of the
  quoted instrument (a list per instrument, a set of fired ids) on the same stream, and our
  speed-up (median of per-round ratios).
* ``gtt_fires_per_1k_quotes``: how many rules fired (sanity: the stream does fire rules).
* ``gtt_fires_equal``: 1 if the peer fired exactly the same (rule, leg) pairs, else 0.

Usage: ``python bench/gtt_index.py [--quotes 100000] [--rounds 3] [--seed 11]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.gtt import GttBook, GttKind, GttLeg
from engine.models import Product, Side

TICK = 5
INSTRUMENTS = 200
RULES = 10_000
BATCH = 2_000
QUOTE_PATH_NS = 10_000
T0 = 1_700_000_000_000_000_000

RuleSpec = tuple[str, GttKind, tuple[GttLeg, ...], int]


class NaiveGtt:
    """The obvious evaluator: every not-yet-fired rule of the quoted instrument, every quote."""

    def __init__(self) -> None:
        self.by_token: dict[str, list[tuple[str, tuple[tuple[int, bool], ...]]]] = {}
        self.done: set[str] = set()

    def add(self, rid: str, token: str, legs: tuple[GttLeg, ...], ref: int) -> None:
        dirs = tuple((leg.trigger, leg.trigger > ref) for leg in legs)
        self.by_token.setdefault(token, []).append((rid, dirs))

    def on_quote(self, token: str, ltp: int) -> list[tuple[str, int]]:
        fired: list[tuple[str, int]] = []
        done = self.done
        for rid, dirs in self.by_token.get(token, ()):
            if rid in done:
                continue
            for i, (trigger, up) in enumerate(dirs):
                if (ltp >= trigger) if up else (ltp <= trigger):
                    done.add(rid)
                    fired.append((rid, i))
                    break
        return fired


def make_rule(rng: random.Random, token: str, price: int) -> RuleSpec:
    def away(sign: int) -> int:
        off = max(TICK, price * rng.randint(10, 80) // 1000 // TICK * TICK)
        return price + sign * off

    if rng.random() < 1 / 3:
        low, high = away(-1), away(+1)
        legs = (
            GttLeg(low, low, Side.SELL, 1, Product.CNC),
            GttLeg(high, high, Side.SELL, 1, Product.CNC),
        )
        return token, GttKind.OCO, legs, price
    sign = rng.choice((-1, 1))
    trig = away(sign)
    side = Side.BUY if sign > 0 else Side.SELL
    return token, GttKind.SINGLE, (GttLeg(trig, trig, side, 1, Product.CNC),), price


def make_stream(rng: random.Random, n: int) -> tuple[list[str], list[int], list[int]]:
    """Quotes (token, ltp) plus the start price of each instrument."""
    prices = [rng.randint(2_000, 400_000) // TICK * TICK for _ in range(INSTRUMENTS)]
    start = list(prices)
    tokens: list[str] = []
    ltps: list[int] = []
    for _ in range(n):
        i = rng.randrange(INSTRUMENTS)
        step = rng.randint(-20, 20) if rng.random() < 0.01 else rng.randint(-3, 3)
        prices[i] = max(TICK * 100, prices[i] + step * TICK)
        tokens.append(f"T{i}")
        ltps.append(prices[i])
    return tokens, ltps, start


def run_round(quotes: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    tokens, ltps, start = make_stream(rng, quotes)
    last = {f"T{i}": p for i, p in enumerate(start)}
    book = GttBook()
    empty = GttBook()
    naive = NaiveGtt()
    active: dict[str, str] = {}  # rule id -> token
    count = 0

    def top_up(ts: int) -> None:
        nonlocal count
        while len(active) < RULES:
            token = f"T{rng.randrange(INSTRUMENTS)}"
            tok, kind, legs, ref = make_rule(rng, token, last[token])
            count += 1
            rid = f"r{count}"
            book.create(tok, kind, legs, ref, ts, TICK, rule_id=rid)
            naive.add(rid, tok, legs, ref)
            active[rid] = tok

    ours_ns = empty_ns = naive_ns = 0
    fires_ours: list[tuple[int, str, int]] = []  # (quote index, rule id, leg)
    fires_naive: list[tuple[int, str, int]] = []
    gc.collect()
    gc.disable()
    try:
        for start_i in range(0, quotes, BATCH):
            ts = T0 + start_i
            top_up(ts)
            tok_b = tokens[start_i : start_i + BATCH]
            ltp_b = ltps[start_i : start_i + BATCH]
            pairs = list(zip(tok_b, ltp_b, strict=True))
            on_quote = book.on_quote
            t = time.perf_counter_ns()
            out = [on_quote(tk, px, ts) for tk, px in pairs]
            ours_ns += time.perf_counter_ns() - t
            on_empty = empty.on_quote
            t = time.perf_counter_ns()
            _ = [on_empty(tk, px, ts) for tk, px in pairs]
            empty_ns += time.perf_counter_ns() - t
            on_naive = naive.on_quote
            t = time.perf_counter_ns()
            nout = [on_naive(tk, px) for tk, px in pairs]
            naive_ns += time.perf_counter_ns() - t
            for q, fires in enumerate(out, start_i):
                for f in fires:
                    fires_ours.append((q, f.rule_id, f.leg_index))
                    del active[f.rule_id]
            for q, nf in enumerate(nout, start_i):
                fires_naive.extend((q, rid, leg) for rid, leg in nf)
            for tk, px in pairs:
                last[tk] = px
    finally:
        gc.enable()
    return {
        "ours": ours_ns / quotes,
        "empty": empty_ns / quotes,
        "naive": naive_ns / quotes,
        "fires": len(fires_ours) * 1000 / quotes,
        "equal": 1.0 if sorted(fires_ours) == sorted(fires_naive) else 0.0,
    }


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quotes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rounds = [run_round(args.quotes, args.seed + r) for r in range(args.rounds)]
    ours = statistics.median(r["ours"] for r in rounds)
    empty = statistics.median(r["empty"] for r in rounds)
    naive = statistics.median(r["naive"] for r in rounds)
    print(f"gtt_on_quote_ns_0_rules: {empty:.0f} ns")
    print(f"gtt_on_quote_ns: {ours:.0f} ns")
    print(f"gtt_overhead_pct: {100 * ours / QUOTE_PATH_NS:.1f} %")
    print(f"gtt_index_added_ns: {statistics.median(r['ours'] - r['empty'] for r in rounds):.0f} ns")
    print(f"gtt_naive_on_quote_ns: {naive:.0f} ns")
    print(f"gtt_vs_naive: {statistics.median(r['naive'] / r['ours'] for r in rounds):.1f} x")
    print(f"gtt_fires_per_1k_quotes: {statistics.median(r['fires'] for r in rounds):.2f} fires")
    print(f"gtt_fires_equal: {int(min(r['equal'] for r in rounds))}")


if __name__ == "__main__":
    main()
