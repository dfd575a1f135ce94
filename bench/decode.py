"""Benchmark: SmartWebSocketV2 packets -> engine.models.Quote (brokers.angelone.decoder).

Builds realistic packets (research/perf-baselines.md §1 layouts): many tokens, prices around a
level, a full best-five book on 90 % of SnapQuotes and a thin, zero-padded one on the rest. Prints
packets per second that become Quote objects for each mode, and ``decode_vs_sdk``: our SnapQuote
rate over smartapi-python's ``SmartWebSocketV2._parse_binary_data`` on the same packets, the median
of per-round ratios with both sides timed in each round (target >= 10).

Run: ``.venv/bin/python bench/decode.py [--packets 20000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brokers.angelone.decoder import FeedDecoder

HEADER = struct.Struct("<BB25sqqq")
QUOTE = struct.Struct("<qqqddqqqq")
SNAP_MID = struct.Struct("<qqd")
LEVEL = struct.Struct("<HqqH")
SNAP_TAIL = struct.Struct("<qqqq")
TS_MS = 1_735_201_464_000


def make_packets(mode: int, count: int, seed: int = 11) -> list[bytes]:
    """``count`` valid packets of ``mode`` (1 LTP, 2 Quote, 3 SnapQuote) over 500 tokens."""
    rng = random.Random(seed)
    tokens = [str(rng.randint(1, 99_999)).encode() for _ in range(500)]
    packets = []
    for n in range(count):
        ltp = rng.randint(10_000, 5_000_000)
        exch = rng.choice((1, 1, 2, 2, 2, 3, 5))
        packet = HEADER.pack(mode, exch, rng.choice(tokens), n, TS_MS + n, ltp)
        if mode >= 2:
            packet += QUOTE.pack(
                rng.randint(1, 5_000), ltp - 37, rng.randint(0, 10**8),
                float(rng.randint(0, 10**7)), float(rng.randint(0, 10**7)),
                ltp - 500, ltp + 800, ltp - 900, ltp - 120,
            )  # fmt: skip
        if mode == 3:
            levels = 5 if rng.random() < 0.9 else rng.randint(0, 4)
            depth = b""
            for side, sign in ((1, -1), (0, 1)):
                for i in range(5):
                    if i < levels:
                        price = ltp + sign * 5 * (i + (1 if side == 0 else 0))
                        depth += LEVEL.pack(side, rng.randint(1, 20_000), price, rng.randint(1, 60))
                    else:
                        depth += LEVEL.pack(side, 0, 0, 0)
            packet += SNAP_MID.pack(TS_MS // 1000, rng.randint(0, 10**7), 0.0) + depth
            packet += SNAP_TAIL.pack(ltp * 11 // 10, ltp * 9 // 10, ltp * 2, ltp // 2)
        packets.append(packet)
    return packets


def rate(fn: Callable[[bytes], object], packets: list[bytes]) -> float:
    """Packets per second for one pass."""
    start = time.perf_counter()
    for packet in packets:
        fn(packet)
    return len(packets) / (time.perf_counter() - start)


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    decoder = FeedDecoder()
    for mode, name in ((1, "ltp"), (2, "quote"), (3, "snapquote")):
        packets = make_packets(mode, args.packets)
        for packet in packets[:100]:
            assert decoder.decode(packet) is not None, decoder.stats.dropped
        rates = [rate(decoder.decode, packets) for _ in range(args.rounds)]
        print(f"decode_{name}_per_s: {statistics.median(rates):.0f} packets/s")
    assert not decoder.stats.dropped, decoder.stats.dropped

    try:
        from tests.brokers.sdk_oracle import load_sdk_parser

        sdk_parse = load_sdk_parser()
    except Exception as error:  # missing package or its undeclared dependencies
        print(f"decode_vs_sdk: unavailable ({type(error).__name__}: {error})")
        print(f"host_loadavg_1m: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
        return
    snap = make_packets(3, args.packets // 4, seed=12)
    ratios = []
    sdk_rates = []
    for _ in range(args.rounds):
        ours = rate(decoder.decode, snap)
        theirs = rate(sdk_parse, snap)
        sdk_rates.append(theirs)
        ratios.append(ours / theirs)
    print(f"decode_sdk_snapquote_per_s: {statistics.median(sdk_rates):.0f} packets/s")
    print(f"decode_vs_sdk: {statistics.median(ratios):.1f}x")
    print(f"host_loadavg_1m: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
