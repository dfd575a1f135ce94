"""Benchmark: Angel One instrument master, from the day's cache file to ready indexes.

Generates a realistic 200,000-row ``OpenAPIScripMaster.json`` (NFO-heavy, shaped like the live
file: research/perf-baselines.md §3) in a temporary directory, runs one "download" through
:class:`brokers.angelone.master.MasterCache` (parse, index, write the cache), then measures:

* ``instruments_load_s``: a later start of the same IST day, fast cache to ready index (median of
  several loads; target < 0.5 s);
* ``instrument_lookup_us``: ``by_token`` of random tokens (target < 2 µs);
* ``instrument_search_ms``: ``search(query, limit=20)`` over a mix of prefix, multi-word and
  misspelt queries (median per query; target < 5 ms), and the slowest query of the mix;
* ``instruments_gc_pause_ms``: a full ``gc.collect()`` right after a load (which ends with
  ``gc.freeze()``).

``instruments_load_cpu_s`` (process CPU time of the same loads) and ``host_loadavg_1m`` help read
wall-clock figures taken on a shared machine.

Run: ``.venv/bin/python bench/instruments.py [--rows 200000] [--loads 3]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brokers.angelone.master import MasterCache

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
KNOWN_STOCKS = (
    "SBIN", "RELIANCE", "HDFCBANK", "INFY", "TCS", "ICICIBANK", "KOTAKBANK", "AXISBANK", "ITC",
    "LT", "BHARTIARTL", "HINDUNILVR", "BAJFINANCE", "MARUTI", "TATAMOTORS", "TATASTEEL", "WIPRO",
    "SUNPHARMA", "ONGC", "NTPC", "POWERGRID", "ADANIENT", "ADANIPORTS", "COALINDIA", "HCLTECH",
)  # fmt: skip
INDICES = (
    ("Nifty 50", "NIFTY", "99926000"),
    ("Nifty Bank", "BANKNIFTY", "99926009"),
    ("Nifty Fin Service", "FINNIFTY", "99926037"),
    ("NIFTY MID SELECT", "MIDCPNIFTY", "99926074"),
    ("India VIX", "INDIA VIX", "99926017"),
)
COMMODITIES = (
    ("CRUDEOIL", 100, "100.000000", 550_000),
    ("GOLD", 1, "100.000000", 6_200_000),
    ("SILVER", 1, "100.000000", 7_200_000),
    ("NATURALGAS", 1250, "10.000000", 25_000),
    ("COPPER", 2500, "5.000000", 72_000),
    ("ZINC", 5000, "5.000000", 22_000),
)
CURRENCIES = (("USDINR", 8325), ("EURINR", 9050), ("GBPINR", 10560), ("JPYINR", 5600))


def _expiry_text(day: date) -> str:
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year}"


def _short(day: date) -> str:
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def _thursdays(start: date, count: int, step_weeks: int = 1) -> list[date]:
    first = start + timedelta(days=(3 - start.weekday()) % 7)
    return [first + timedelta(weeks=step_weeks * i) for i in range(count)]


def _month_ends(start: date, count: int) -> list[date]:
    out: list[date] = []
    year, month = start.year, start.month
    for _ in range(count):
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        out.append(last - timedelta(days=(last.weekday() - 3) % 7))
        year, month = nxt.year, nxt.month
    return out


def _names(rng: random.Random, count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names = list(KNOWN_STOCKS)
    seen = set(names)
    while len(names) < count:
        name = "".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def generate_master(
    rows: int = 200_000, seed: int = 7, today: date | None = None
) -> list[dict[str, str]]:
    """A synthetic master of about ``rows`` rows in the live file's shape and segment mix."""
    rng = random.Random(seed)
    today = today or date(2024, 3, 4)
    tokens = iter(range(100_000, 10_000_000))
    out: list[dict[str, str]] = []

    def row(token: str, symbol: str, name: str, expiry: str, strike: str, lot: int,
            itype: str, seg: str, tick: str) -> None:  # fmt: skip
        out.append({
            "token": token, "symbol": symbol, "name": name, "expiry": expiry, "strike": strike,
            "lotsize": str(lot), "instrumenttype": itype, "exch_seg": seg, "tick_size": tick,
        })  # fmt: skip

    def options(
        seg: str, name: str, expiries: list[date], centre: int, step: int, width: int, lot: int,
        itype: str, tick: str = "5.000000", scale_strike: int = 100,
    ) -> Iterator[None]:  # fmt: skip
        for expiry in expiries:
            for k in range(-width, width + 1):
                strike = centre + k * step
                for kind in ("CE", "PE"):
                    symbol = f"{name}{_short(expiry)}{strike}{kind}"
                    row(str(next(tokens)), symbol, name, _expiry_text(expiry),
                        f"{strike * scale_strike}.000000", lot, itype, seg, tick)  # fmt: skip
                    yield None

    stocks = _names(rng, 2_400)
    # NSE cash (~5.7k): equities in several series, plus indices
    for i, name in enumerate(stocks):
        row(str(1000 + i), f"{name}-EQ", name, "", "-1.000000", 1, "", "NSE", "5.000000")
    for i, name in enumerate(stocks[: 5_650 - len(stocks) - len(INDICES)]):
        series = ("BE", "BL", "GS", "SG", "N1")[i % 5]
        row(str(next(tokens)), f"{name}-{series}", name, "", "-1.000000", 1, "", "NSE", "1.000000")
    for symbol, name, token in INDICES:
        row(token, symbol, name, "", "0.000000", 1, "AMXIDX", "NSE", "0.000000")
    # BSE cash (~11.6k)
    bse = _names(random.Random(seed + 1), 11_600)
    for name in bse:
        row(str(next(tokens)), name, name, "", "-1.000000", 1, "", "BSE", "1.000000")
    row("99919000", "SENSEX", "SENSEX", "", "0.000000", 1, "AMXIDX", "BSE", "0.000000")
    # MCX (~14k): futures and options on futures
    for name, lot, tick, centre in COMMODITIES:
        months = _month_ends(today, 6)
        for expiry in months:
            row(str(next(tokens)), f"{name}{_short(expiry)}FUT", name, _expiry_text(expiry),
                "-1.000000", lot, "FUTCOM", "MCX", tick)  # fmt: skip
        step = max(centre // 200, 1)
        for _ in options("MCX", name, months, centre, step, 97, lot, "OPTFUT", tick):
            pass
    # CDS (~5.7k): currency futures and options, tick Rs 0.0025
    for name, centre in CURRENCIES:
        weeks = _thursdays(today, 8)
        for expiry in _month_ends(today, 6):
            row(str(next(tokens)), f"{name}{_short(expiry)}FUT", name, _expiry_text(expiry),
                "-1.000000", 1000, "FUTCUR", "CDS", "0.250000")  # fmt: skip
        for _ in options("CDS", name, weeks, centre, 25, 44, 1000, "OPTCUR", "0.250000", 1):
            pass
    # BFO (~4.2k): SENSEX and BANKEX options
    for name, centre, step in (("SENSEX", 73_000, 100), ("BANKEX", 53_000, 100)):
        for _ in options("BFO", name, _thursdays(today, 4), centre, step, 130, 10, "OPTIDX"):
            pass
    # NFO: index options (weekly + monthly), stock futures and options, to fill the remainder
    index_specs = (
        ("NIFTY", 22_500, 50, 50),
        ("BANKNIFTY", 47_000, 100, 15),
        ("FINNIFTY", 21_000, 50, 40),
        ("MIDCPNIFTY", 10_500, 25, 75),
    )
    for name, centre, step, lot in index_specs:
        for expiry in _month_ends(today, 3):
            row(str(next(tokens)), f"{name}{_short(expiry)}FUT", name, _expiry_text(expiry),
                "-1.000000", lot, "FUTIDX", "NFO", "5.000000")  # fmt: skip
        expiries = sorted(set(_thursdays(today, 10) + _month_ends(today, 12)))
        for _ in options("NFO", name, expiries, centre, step, 110, lot, "OPTIDX"):
            pass
    fno_stocks = stocks[:185]
    months = _month_ends(today, 3)
    generators = []
    for name in fno_stocks:
        for expiry in months:
            row(str(next(tokens)), f"{name}{_short(expiry)}FUT", name, _expiry_text(expiry),
                "-1.000000", 500, "FUTSTK", "NFO", "5.000000")  # fmt: skip
        centre = rng.randint(400, 5_000)
        step = max(1, centre // 400)
        generators.append(options("NFO", name, months, centre, step, 350, 500, "OPTSTK"))
    while len(out) < rows and generators:
        for gen in list(generators):
            if next(gen, "done") == "done":
                generators.remove(gen)
            if len(out) >= rows:
                break
    return out[:rows]


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Generate the master, run the loads and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()

    today = date(2024, 3, 4)
    rows = generate_master(args.rows, today=today)
    raw = json.dumps(rows, separators=(",", ":")).encode()
    del rows
    segments: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-master-") as tmp:
        cache = MasterCache(tmp)
        start = time.perf_counter()
        first = cache.load_or_download_sync(lambda: raw, today)
        download_s = time.perf_counter() - start
        assert first.source == "download", first.source
        for inst in first.index:
            segments[inst.exchange] = segments.get(inst.exchange, 0) + 1
        assert first.report.skipped_total == 0, first.report.examples
        cache_bytes = cache.cache_path(today).stat().st_size
        del first
        gc.unfreeze()
        gc.collect()

        def refuse() -> bytes:
            raise AssertionError("the benchmark's later loads must not download")

        load_times = []
        load_cpu = []
        loaded = None
        for _ in range(args.loads):
            loaded = None
            gc.unfreeze()
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            loaded = MasterCache(tmp).load_or_download_sync(refuse, today)
            load_times.append(time.perf_counter() - start)
            load_cpu.append(time.process_time() - start_cpu)
            assert loaded.source == "cache", loaded.source
        assert loaded is not None
        start = time.perf_counter()
        gc.collect()
        gc_pause_ms = (time.perf_counter() - start) * 1000

        index = loaded.index
        tokens = [inst.token for inst in index]
        rng = random.Random(3)
        probe = [rng.choice(tokens) for _ in range(200_000)]
        by_token = index.by_token

        def lookups() -> None:
            for token in probe:
                by_token(token)

        lookup_us = _median_time(lookups, 5) / len(probe) * 1e6
        start_cpu = time.process_time()
        lookups()
        lookup_cpu_us = (time.process_time() - start_cpu) / len(probe) * 1e6

        queries = [
            "SBI", "sbin", "RELIANCE", "reli", "nifty", "banknifty", "NIFTY 22500 CE",
            "banknifty fut", "relinace", "hdfc bnk", "GOLD", "crude", "usdinr", "SENSEX", "tata",
            "infy pe", "A", "zzzz", "nifty 07mar", "midcp",
        ]  # fmt: skip
        per_query: list[float] = []
        for query in queries:
            index.search(query, limit=20)  # warm
            per_query.append(_median_time(partial(index.search, query, limit=20), 5) * 1000)

    mix = ", ".join(f"{seg} {n}" for seg, n in sorted(segments.items(), key=lambda kv: -kv[1]))
    print(f"instruments_rows: {len(tokens)} rows ({mix}); json {len(raw) / 1e6:.1f} MB")
    print(f"instruments_download_build_s: {download_s:.3f} s (parse JSON + index + write cache)")
    print(f"instruments_cache_mb: {cache_bytes / 1e6:.1f} MB")
    print(f"instruments_load_s: {statistics.median(load_times):.3f} s")
    print(f"instruments_load_cpu_s: {statistics.median(load_cpu):.3f} s (process CPU time)")
    print(f"instrument_lookup_us: {lookup_us:.3f} us (random tokens of all 200k, loop included)")
    print(f"instrument_lookup_cpu_us: {lookup_cpu_us:.3f} us (process CPU time)")
    print(f"instrument_search_ms: {statistics.median(per_query):.3f} ms")
    print(f"instrument_search_max_ms: {max(per_query):.3f} ms")
    print(f"instruments_gc_pause_ms: {gc_pause_ms:.2f} ms")
    print(f"host_loadavg_1m: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
