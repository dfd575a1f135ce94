"""Benchmark the order journal: durable events/s, submit->durable latency, replay speed.

Prints one figure per line (``name: value unit``):

* ``journal_events_per_s``: a burst of ``--events`` appends (default 100,000) of a ~200 B order
  payload, from the first submit to the last durable acknowledgement.
* ``journal_append_p50_ms`` / ``journal_append_p99_ms``: per-event latency in that burst, from
  the ``append`` call to the moment the awaiting code sees the future resolved (durable:
  committed, and with ``synchronous=FULL`` fsynced). The burst is submitted in chunks of 100
  with a loop yield between chunks, as a busy core would, so the loop also resolves futures.
* ``journal_events_per_commit``: mean group-commit batch in the burst.
* ``journal_loop_us_per_append``: time the event loop spends inside ``append`` per event
  (validation, exact JSON encoding and round-trip check, seq assignment, hand-off).
* ``journal_paced_p50_ms`` / ``journal_paced_p99_ms``: the same latency at a realistic pace
  (1,000 events/s for ``--paced-seconds``).
* ``journal_replay_events_per_s`` / ``journal_replay_s`` and ``journal_verify_s``: reading,
  decoding and chain-verifying ``--replay-events`` events (default 1,000,000). That log is built
  by a direct bulk insert of correctly chained rows, so building it stays quick; the timed part
  goes through :meth:`Journal.replay` and :meth:`Journal.verify_chain`.

Run: ``.venv/bin/python bench/journal.py [--synchronous NORMAL] [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.journal import GENESIS_HASH, Journal
from engine.journal_records import event_hash

ORDER: dict[str, Any] = {
    "client_order_id": "CK-20260302-000123",
    "instrument": "NSE:RELIANCE-EQ",
    "side": "BUY",
    "qty": 10,
    "price": 245050,
    "order_type": "LIMIT",
    "product": "MIS",
    "validity": "DAY",
    "trigger": None,
    "tag": "ck1",
    "strategy": "manual",
}
CHUNK = 100


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def stamp_done(done: list[int], index: int) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback recording when future ``index`` was seen resolved on the loop."""

    def callback(_: asyncio.Future[Any]) -> None:
        done[index] = time.perf_counter_ns()

    return callback


async def burst(path: Path, synchronous: str, events: int) -> None:
    """Append ``events`` as fast as the loop can, measuring throughput and latency."""
    submitted = [0] * events
    done = [0] * events
    with Journal.open(path, synchronous=synchronous) as journal:  # type: ignore[arg-type]
        futures = []
        in_append_ns = 0
        for start in range(0, events, CHUNK):
            for i in range(start, min(start + CHUNK, events)):
                submitted[i] = t0 = time.perf_counter_ns()
                future = journal.append("order.submitted", ORDER, account="A1")
                in_append_ns += time.perf_counter_ns() - t0
                future.add_done_callback(stamp_done(done, i))
                futures.append(future)
            await asyncio.sleep(0)
        await asyncio.gather(*futures)
        await asyncio.sleep(0)  # let the last done-callbacks run
        stats = journal.stats()
    elapsed_s = (max(done) - submitted[0]) / 1e9
    latencies_ms = [(d - s) / 1e6 for s, d in zip(submitted, done, strict=True)]
    print(f"journal_events_per_s: {events / elapsed_s:.0f} events/s")
    print(f"journal_append_p50_ms: {percentile(latencies_ms, 50):.2f} ms")
    print(f"journal_append_p99_ms: {percentile(latencies_ms, 99):.2f} ms")
    print(f"journal_events_per_commit: {stats.events_committed / stats.commits:.0f} events")
    print(f"journal_loop_us_per_append: {in_append_ns / events / 1e3:.1f} us")


async def paced(path: Path, synchronous: str, seconds: float, rate: int) -> None:
    """Append at ``rate`` events/s and measure submit->durable latency of each."""
    latencies_ms: list[float] = []
    with Journal.open(path, synchronous=synchronous) as journal:  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        interval = 1 / rate
        start = loop.time()
        pending: list[asyncio.Task[None]] = []

        async def one() -> None:
            t0 = time.perf_counter_ns()
            await journal.append("order.accepted", ORDER, account="A1")
            latencies_ms.append((time.perf_counter_ns() - t0) / 1e6)

        for n in range(int(seconds * rate)):
            delay = start + n * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.ensure_future(one()))
        await asyncio.gather(*pending)
    print(f"journal_paced_rate: {rate} events/s")
    print(f"journal_paced_p50_ms: {statistics.median(latencies_ms):.2f} ms")
    print(f"journal_paced_p99_ms: {percentile(latencies_ms, 99):.2f} ms")


def build_log(path: Path, events: int) -> None:
    """Create a journal and bulk-insert ``events`` correctly chained rows."""
    Journal.open(path).close()  # schema, application id
    payload = json.dumps(ORDER, sort_keys=True, separators=(",", ":"))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    prev = GENESIS_HASH
    ts0 = time.time_ns()
    conn.execute("BEGIN")
    rows = []
    for seq in range(1, events + 1):
        ts = ts0 + seq
        digest = event_hash(prev, seq, ts, "order.submitted", "A1", None, payload)
        rows.append((seq, ts, "order.submitted", "A1", None, payload, prev, digest))
        prev = digest
        if len(rows) == 50_000:
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            rows = []
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()


def replay(path: Path, events: int) -> None:
    """Time a full replay (read + JSON decode) and a full chain verification."""
    build_log(path, events)
    with Journal.open(path) as journal:
        t0 = time.perf_counter()
        count = 0
        for record in journal.replay():
            count += 1
            if record.payload["qty"] != 10:
                raise AssertionError(f"bad payload at seq {record.seq}")
        replay_s = time.perf_counter() - t0
        if count != events:
            raise AssertionError(f"replayed {count} events, expected {events}")
        t0 = time.perf_counter()
        broken = journal.verify_chain()
        verify_s = time.perf_counter() - t0
        if broken is not None:
            raise AssertionError(f"chain broken at seq {broken}")
    print(f"journal_replay_events: {events} events")
    print(f"journal_replay_events_per_s: {events / replay_s:.0f} events/s")
    print(f"journal_replay_s: {replay_s:.2f} s")
    print(f"journal_verify_s: {verify_s:.2f} s")


def main() -> None:
    """Parse options and run the three measurements in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--paced-seconds", type=float, default=2.0)
    parser.add_argument("--paced-rate", type=int, default=1000)
    parser.add_argument("--replay-events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the journals")
    args = parser.parse_args()

    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run
        loop_name = "asyncio"
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        print(f"# loop={loop_name} synchronous={args.synchronous} python={sys.version.split()[0]}")
        print(f"# sqlite={sqlite3.sqlite_version} events={args.events}")
        runner(burst(base / "burst.sqlite", args.synchronous, args.events))
        runner(paced(base / "paced.sqlite", args.synchronous, args.paced_seconds, args.paced_rate))
        replay(base / "replay.sqlite", args.replay_events)


if __name__ == "__main__":
    main()
