"""Tests for the order journal: durability, ordering, group commit, locking, failure, tampering.

Everything runs against real SQLite files in temporary directories and real child processes
(for SIGKILL crash safety, lock contention and a disk-full writer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.clock import SimClock, ist_ns
from engine.journal import (
    GENESIS_HASH,
    Journal,
    JournalClosedError,
    JournalCorruptError,
    JournalFormatError,
    JournalLockedError,
    JournalPayloadError,
    JournalRecord,
    JournalWriteError,
    lock_path_for,
)
from engine.journal_records import encode_exact_json, event_hash
from engine.journal_writer import JournalWriter, WriterStats

ROOT = Path(__file__).resolve().parents[2]

ORDER = {
    "instrument": "NSE:RELIANCE-EQ",
    "side": "BUY",
    "qty": 10,
    "price": 245050,
    "order_type": "LIMIT",
    "trigger": None,
    "legs": [{"kind": "target", "price": 250000}, {"kind": "stop", "price": 240000}],
}


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """A fresh journal location in a temporary directory."""
    return tmp_path / "data" / "paper.sqlite"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    """An open journal, closed after the test."""
    opened = Journal.open(journal_path)
    yield opened
    opened.close()


def run_child(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``python -c code args`` from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line of a child's stdout, or b"" if none arrives within ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else b""


def files_digest(path: Path) -> dict[str, str]:
    """sha256 of the journal file and its -wal/-shm, to prove they were not touched."""
    found = {}
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        candidate = path.with_name(name)
        if candidate.exists():
            found[name] = hashlib.sha256(candidate.read_bytes()).hexdigest()
    return found


# --------------------------------------------------------------------------- appending


async def test_append_resolves_to_the_stored_record(journal: Journal) -> None:
    clock_before = time.time_ns()
    first = await journal.append("order.submitted", ORDER, account="A1", client_order_id="c-1")
    second = await journal.append("order.accepted", {"venue_id": "V9"}, account="A1")

    assert first.seq == 1 and second.seq == 2
    assert first.kind == "order.submitted" and first.account == "A1"
    assert first.client_order_id == "c-1" and second.client_order_id is None
    assert first.payload == ORDER
    assert clock_before <= first.ts <= second.ts <= time.time_ns()
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    payload_json = json.dumps(ORDER, sort_keys=True, separators=(",", ":"))
    assert first.hash == event_hash(
        GENESIS_HASH, 1, first.ts, "order.submitted", "A1", "c-1", payload_json
    )
    assert journal.durable_seq == 2 == journal.last_seq
    assert list(journal.replay()) == [first, second]


async def test_acknowledged_row_is_already_committed_when_the_await_returns(
    journal: Journal,
) -> None:
    other = sqlite3.connect(journal.path)
    try:
        for i in range(20):
            record = await journal.append("fill", {"i": i}, account="A1")
            row = other.execute(
                "SELECT kind, payload, hash FROM events WHERE seq = ?", (record.seq,)
            ).fetchone()
            assert row == ("fill", f'{{"i":{i}}}', record.hash)
    finally:
        other.close()


async def test_explicit_ts_and_injected_clock(journal_path: Path) -> None:
    clock = SimClock(1_700_000_000_000_000_000)
    with Journal.open(journal_path, clock=clock) as journal:
        a = await journal.append("gtt.created", {"id": 1}, account="A1")
        clock.advance(5)
        b = await journal.append("gtt.created", {"id": 2}, account="A1")
        c = await journal.append("gtt.created", {"id": 3}, account="A1", ts=42)
    assert (a.ts, b.ts, c.ts) == (1_700_000_000_000_000_000, 1_700_000_000_000_000_005, 42)


async def test_record_payload_is_a_copy_independent_of_the_callers_dict(
    journal: Journal,
) -> None:
    payload: dict[str, Any] = {"qty": 5, "tags": ["a"]}
    future = journal.append("order.submitted", payload, account="A1")
    payload["qty"] = 999
    payload["tags"].append("b")
    record = await future
    assert record.payload == {"qty": 5, "tags": ["a"]}
    assert next(journal.replay()).payload == {"qty": 5, "tags": ["a"]}


async def test_seq_follows_call_order_across_many_tasks_and_commits_are_grouped(
    journal: Journal,
) -> None:
    calls: list[tuple[int, int]] = []

    async def worker(w: int) -> list[JournalRecord]:
        mine = []
        for i in range(50):
            future = journal.append("order.submitted", {"w": w, "i": i}, account=f"acct{w % 3}")
            calls.append((w, i))
            mine.append(await future)
        return mine

    per_task = await asyncio.gather(*(worker(w) for w in range(40)))
    records = sorted((r for task in per_task for r in task), key=lambda r: r.seq)

    assert [r.seq for r in records] == list(range(1, 2001))
    # seq order is exactly the order of the append calls
    assert [(r.payload["w"], r.payload["i"]) for r in records] == calls
    for task in per_task:
        assert [r.payload["i"] for r in task] == list(range(50))
    stats = journal.stats()
    assert stats.events_committed == 2000
    assert stats.commits < 2000 / 5, "concurrent appends share commits (group commit)"
    assert stats.largest_batch >= 10
    assert list(journal.replay()) == records
    assert journal.verify_chain() is None


async def test_append_nowait_from_many_threads(journal: Journal) -> None:
    def producer(t: int) -> list[concurrent.futures.Future[JournalRecord]]:
        return [journal.append_nowait("fill", {"t": t, "i": i}, account="A1") for i in range(300)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        batches = list(pool.map(producer, range(6)))
    futures = [f for batch in batches for f in batch]
    records = [await asyncio.wrap_future(f) for f in futures]

    assert sorted(r.seq for r in records) == list(range(1, 1801))
    for batch in batches:  # each thread's own appends are in its call order
        seqs = [f.result().seq for f in batch]
        assert seqs == sorted(seqs)
    assert {(r.payload["t"], r.payload["i"]) for r in records} == {
        (t, i) for t in range(6) for i in range(300)
    }
    assert journal.verify_chain() is None


async def test_flush_waits_for_everything_appended_before_it(journal: Journal) -> None:
    futures = [journal.append_nowait("tick", {"i": i}, account="A1") for i in range(3000)]
    await journal.flush()
    assert all(f.done() for f in futures)
    assert journal.durable_seq == 3000
    other = sqlite3.connect(journal.path)
    try:
        assert other.execute("SELECT count(*), max(seq) FROM events").fetchone() == (3000, 3000)
    finally:
        other.close()
    await asyncio.wrap_future(journal.flush_nowait())


async def test_cancelling_the_await_does_not_withdraw_the_event(journal: Journal) -> None:
    future = journal.append("order.submitted", {"x": 1}, account="A1")
    future.cancel()
    await journal.flush()
    assert [r.payload for r in journal.replay()] == [{"x": 1}]


def test_append_outside_a_running_loop_names_the_thread_safe_alternative(
    journal: Journal,
) -> None:
    with pytest.raises(RuntimeError, match="append_nowait"):
        journal.append("order.submitted", {}, account="A1")
    with pytest.raises(RuntimeError, match="flush_nowait"):
        journal.flush()
    assert journal.last_seq == 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"legs": (1, 2)}, r"payload\['legs'\] is a tuple"),
        ({"by_token": {2885: "RELIANCE"}}, r"payload\['by_token'\] has key 2885 of type int"),
        ({"px": float("nan")}, r"payload\['px'\] is nan"),
        ({"px": [1.0, float("inf")]}, r"payload\['px'\]\[1\] is inf"),
        ({"at": object()}, r"payload\['at'\] is a object"),
        (["not", "a", "dict"], "payload must be a dict, got list"),
    ],
)
async def test_payload_that_json_would_change_is_refused_at_the_call(
    journal: Journal, payload: Any, message: str
) -> None:
    with pytest.raises(JournalPayloadError, match=message):
        journal.append("order.submitted", payload, account="A1")
    assert journal.last_seq == 0
    record = await journal.append("order.submitted", {"ok": True}, account="A1")
    assert record.seq == 1  # the refused payload consumed no seq and did not halt the writer


async def test_circular_payload_is_refused(journal: Journal) -> None:
    payload: dict[str, Any] = {}
    payload["self"] = payload
    with pytest.raises(JournalPayloadError, match="circular"):
        journal.append("order.submitted", payload, account="A1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "", "account": "A1"}, "kind must be 1..200 printable"),
        ({"kind": "order\nsubmitted", "account": "A1"}, "kind must be 1..200 printable"),
        ({"kind": "x", "account": "\ud800"}, "account must be 1..200 printable"),
        ({"kind": "x", "account": 7}, "account must be a str, got int"),
        ({"kind": "x", "account": "A1", "client_order_id": ""}, "client_order_id must be"),
        ({"kind": "x", "account": "A1", "ts": True}, "ts must be an int, got bool"),
        ({"kind": "x", "account": "A1", "ts": 2**63}, "ts must fit in a signed 64-bit"),
    ],
)
async def test_bad_names_and_timestamps_are_refused(
    journal: Journal, kwargs: dict[str, Any], message: str
) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(JournalPayloadError, match=message):
        journal.append(kind, {}, **kwargs)
    assert journal.last_seq == 0


def test_enum_values_are_stored_as_their_plain_values(journal_path: Path) -> None:
    from engine.models import Side

    with Journal.open(journal_path) as journal:
        future = journal.append_nowait("order.submitted", {"side": Side.BUY}, account="A1")
        record = future.result(timeout=10)
        assert record.payload == {"side": Side.BUY.value}
        stored = next(journal.replay()).payload["side"]
        assert type(stored) is str and stored == Side.BUY.value


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


@settings(max_examples=100, deadline=None)
@given(json_objects)
def test_any_json_object_round_trips_exactly(payload: dict[str, Any]) -> None:
    text, decoded = encode_exact_json(payload, "payload")
    assert decoded == payload
    assert json.loads(text) == payload
    assert text.isascii()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["order.submitted", "order.accepted", "fill", "kill_switch.triggered"]),
            st.sampled_from(["A1", "B2", "Ω-3"]),
            st.none() | st.text(min_size=1, max_size=10).filter(str.isprintable),
            json_objects,
        ),
        max_size=40,
    )
)
def test_replay_returns_exactly_what_was_appended(
    events: list[tuple[str, str, str | None, dict[str, Any]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.sqlite"
        with Journal.open(path) as journal:
            futures = [
                journal.append_nowait(kind, payload, account=account, client_order_id=coid)
                for kind, account, coid, payload in events
            ]
            acked = [f.result(timeout=10) for f in futures]
        with Journal.open(path) as journal:
            replayed = list(journal.replay())
            assert journal.verify_chain() is None
    assert replayed == acked
    assert [(r.kind, r.account, r.client_order_id, r.payload) for r in replayed] == events
    assert [r.seq for r in replayed] == list(range(1, len(events) + 1))


# --------------------------------------------------------------------------- reading


async def test_replay_from_a_seq_and_query_filters(journal_path: Path) -> None:
    clock = SimClock(1_000)
    with Journal.open(journal_path, clock=clock) as journal:
        for i in range(5000):
            clock.advance(10)
            kind = ("order.submitted", "order.accepted", "fill")[i % 3]
            journal.append_nowait(kind, {"i": i}, account=f"A{i % 2}", client_order_id=f"c{i // 3}")
        await journal.flush()

        tail = list(journal.replay(from_seq=4990))
        assert [r.seq for r in tail] == list(range(4990, 5001))
        assert [r.payload["i"] for r in tail] == list(range(4989, 5000))
        assert list(journal.replay(from_seq=5001)) == []

        fills = list(journal.query(kind="fill"))
        assert [r.payload["i"] for r in fills] == list(range(2, 5000, 3))
        two_kinds = list(journal.query(kind=["fill", "order.accepted"], account="A1"))
        assert all(r.kind in ("fill", "order.accepted") and r.account == "A1" for r in two_kinds)
        assert len(two_kinds) == sum(1 for i in range(5000) if i % 3 and i % 2)
        window = list(journal.query(since=1_000 + 10 * 100, until=1_000 + 10 * 110))
        assert [r.payload["i"] for r in window] == list(range(99, 109))
        history = list(journal.query(client_order_id="c7"))
        assert [r.kind for r in history] == ["order.submitted", "order.accepted", "fill"]
        with pytest.raises(ValueError, match="non-empty list of str"):
            journal.query(kind=[])


async def test_replay_of_many_events_in_order(journal: Journal) -> None:
    count = 30_000
    last = None
    for i in range(count):
        last = journal.append_nowait("tick", {"i": i, "px": 100_00 + i % 7}, account="A1")
    assert last is not None
    await asyncio.wrap_future(last)
    n = 0
    for n, record in enumerate(journal.replay(), start=1):
        assert record.seq == n and record.payload["i"] == n - 1
    assert n == count
    assert journal.verify_chain() is None


async def test_replay_sees_the_journal_as_of_its_start(journal: Journal) -> None:
    for i in range(20_000):
        journal.append_nowait("tick", {"i": i}, account="A1")
    await journal.flush()
    iterator = journal.replay()
    first = next(iterator)
    await asyncio.gather(*(journal.append("tick", {"late": j}, account="A1") for j in range(50)))
    rest = list(iterator)
    assert first.seq == 1 and len(rest) == 19_999
    assert len(list(journal.replay())) == 20_050


def test_a_batch_split_over_several_statements_commits_atomically(journal_path: Path) -> None:
    Journal.open(journal_path).close()  # create the schema
    conn = sqlite3.connect(journal_path, isolation_level=None, check_same_thread=False)
    writer = JournalWriter(
        conn, name="test", last_seq=0, last_hash=GENESIS_HASH, max_batch=8, rows_per_statement=3
    )
    futures: list[concurrent.futures.Future[Any]] = []
    for i in range(19):  # queued before the thread starts: batches of 8, 7 + snapshot, 4
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        text, decoded = encode_exact_json({"i": i}, "payload")
        assert writer.submit_event(i, "fill", "A1", None, text, decoded, future) == i + 1
        futures.append(future)
        if i == 9:
            snap: concurrent.futures.Future[Any] = concurrent.futures.Future()
            writer.submit_snapshot(10, 0, '{"n":10}', {"n": 10}, snap)
    writer.start()
    records = [f.result(timeout=10) for f in futures]
    writer.close()
    assert writer.stats() == WriterStats(events_committed=19, commits=3, largest_batch=8)
    assert snap.result().event_hash == records[9].hash
    with Journal.open(journal_path) as journal:
        assert list(journal.replay()) == records
        assert journal.verify_chain() is None
        assert journal.latest_snapshot() == snap.result()


# --------------------------------------------------------------------------- snapshots


async def test_snapshot_and_tail_replay(journal: Journal) -> None:
    assert journal.latest_snapshot() is None
    empty = await journal.write_snapshot(0, {"positions": {}})
    assert empty.seq == 0 and empty.event_hash == GENESIS_HASH

    for i in range(10):
        await journal.append("fill", {"i": i}, account="A1")
    state: dict[str, Any] = {"positions": {"RELIANCE": 10}, "cash": 1_000_000}
    future = journal.write_snapshot(10, state)
    state["cash"] = 0  # later changes must not leak into the stored snapshot
    snap = await future
    for i in range(10, 13):
        await journal.append("fill", {"i": i}, account="A1")

    latest = journal.latest_snapshot()
    assert latest == snap
    assert latest.state == {"positions": {"RELIANCE": 10}, "cash": 1_000_000}
    tenth = list(journal.replay())[9]
    assert latest.event_hash == tenth.hash
    assert [r.payload["i"] for r in journal.replay(from_seq=latest.seq + 1)] == [10, 11, 12]


async def test_snapshot_in_the_same_batch_as_its_event(journal: Journal) -> None:
    journal.append_nowait("fill", {"i": 0}, account="A1")
    record_future = journal.append_nowait("fill", {"i": 1}, account="A1")
    snap = await journal.write_snapshot(2, {"n": 2})
    assert snap.event_hash == record_future.result().hash
    snap_again = await journal.write_snapshot(2, {"n": 3})
    assert journal.latest_snapshot() == snap_again


async def test_snapshot_ahead_of_the_log_is_refused(journal: Journal) -> None:
    await journal.append("fill", {}, account="A1")
    with pytest.raises(ValueError, match=r"between 0 and the last appended seq \(1\), got 2"):
        journal.write_snapshot(2, {})
    with pytest.raises(JournalPayloadError, match="tuple"):
        journal.write_snapshot(1, {"x": (1,)})
    await journal.append("fill", {}, account="A1")  # still healthy


async def test_snapshot_whose_anchor_was_cut_is_reported(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        for i in range(5):
            await journal.append("fill", {"i": i}, account="A1")
        await journal.write_snapshot(5, {"n": 5})
    raw = sqlite3.connect(journal_path)
    raw.execute("DROP TRIGGER events_append_only_delete")
    raw.execute("DELETE FROM events WHERE seq >= 4")
    raw.commit()
    raw.close()
    with Journal.open(journal_path) as journal:
        with pytest.raises(JournalCorruptError, match=r"snapshot at seq 5 .* missing"):
            journal.latest_snapshot()
        assert journal.verify_chain() is None  # a cut tail alone keeps the chain intact


# --------------------------------------------------------------------------- tampering


async def make_log(path: Path, count: int) -> None:
    """Write ``count`` events to a journal at ``path`` and close it."""
    with Journal.open(path) as journal:
        for i in range(count):
            journal.append_nowait("order.submitted", {"i": i, "qty": 10}, account="A1")
        await journal.flush()


async def test_rows_cannot_be_updated_or_deleted_by_accident(journal_path: Path) -> None:
    await make_log(journal_path, 3)
    raw = sqlite3.connect(journal_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE events SET payload = '{}' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM events WHERE seq = 2")
    finally:
        raw.close()


async def test_edited_payload_is_found_by_verify_chain(journal_path: Path) -> None:
    await make_log(journal_path, 50)
    raw = sqlite3.connect(journal_path)
    raw.execute("DROP TRIGGER events_append_only_update")
    raw.execute("""UPDATE events SET payload = '{"i":16,"qty":1000}' WHERE seq = 17""")
    raw.commit()
    raw.close()
    with Journal.open(journal_path) as journal:
        assert journal.verify_chain() == 17


async def test_edit_with_a_recomputed_hash_breaks_the_next_link(journal_path: Path) -> None:
    await make_log(journal_path, 50)
    raw = sqlite3.connect(journal_path)
    seq, ts, kind, account, coid, _, prev = raw.execute(
        "SELECT seq, ts, kind, account, client_order_id, payload, prev_hash FROM events "
        "WHERE seq = 17"
    ).fetchone()
    forged_payload = '{"i":16,"qty":1000}'
    forged_hash = event_hash(prev, seq, ts, kind, account, coid, forged_payload)
    raw.execute("DROP TRIGGER events_append_only_update")
    raw.execute(
        "UPDATE events SET payload = ?, hash = ? WHERE seq = 17", (forged_payload, forged_hash)
    )
    raw.commit()
    raw.close()
    with Journal.open(journal_path) as journal:
        assert journal.verify_chain() == 18


TAMPERABLE: dict[str, Callable[[Any], object]] = {
    "ts": lambda v: v + 1,
    "kind": lambda v: v + "x",
    "account": lambda v: v.lower() if v != v.lower() else v.upper() + "Z",
    "client_order_id": lambda v: "c-forged" if v is None else None,
    "payload": lambda v: v.replace("1", "2") if "1" in v else v[:-1] + ',"x":1}',
    "prev_hash": lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),
    "hash": lambda v: ("f" if v[0] != "f" else "e") + v[1:],
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=12),
    target=st.integers(min_value=1, max_value=12),
    column=st.sampled_from(sorted(TAMPERABLE)),
)
def test_any_single_field_edit_is_found_at_its_seq(count: int, target: int, column: str) -> None:
    target = min(target, count)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.sqlite"
        with Journal.open(path) as journal:
            assert journal.verify_chain() is None  # an empty journal is intact
            for i in range(count):
                coid = f"c{i}" if i % 2 else None
                journal.append_nowait(
                    "fill", {"i": i, "q": 10}, account="Acct", client_order_id=coid
                )
            journal.flush_nowait().result(timeout=10)
        raw = sqlite3.connect(path)
        raw.execute("DROP TRIGGER events_append_only_update")
        (old,) = raw.execute(f"SELECT {column} FROM events WHERE seq = ?", (target,)).fetchone()
        raw.execute(
            f"UPDATE events SET {column} = ? WHERE seq = ?", (TAMPERABLE[column](old), target)
        )
        raw.commit()
        raw.close()
        with Journal.open(path) as journal:
            assert journal.verify_chain() == target


async def test_deleted_row_is_reported_as_the_missing_seq(journal_path: Path) -> None:
    await make_log(journal_path, 30)
    raw = sqlite3.connect(journal_path)
    raw.execute("DROP TRIGGER events_append_only_delete")
    raw.execute("DELETE FROM events WHERE seq = 9")
    raw.commit()
    raw.close()
    with Journal.open(journal_path) as journal:
        assert journal.verify_chain() == 9


async def test_reopened_journal_continues_the_chain(journal_path: Path) -> None:
    await make_log(journal_path, 7)
    with Journal.open(journal_path) as journal:
        assert (journal.last_seq, journal.durable_seq) == (7, 7)
        record = await journal.append("order.cancelled", {}, account="A1")
        assert record.seq == 8
        assert record.prev_hash == next(journal.replay(from_seq=7)).hash
        assert journal.verify_chain() is None


# --------------------------------------------------------------------------- lifecycle


async def test_close_commits_everything_pending_and_is_idempotent(journal_path: Path) -> None:
    journal = Journal.open(journal_path)
    futures = [journal.append_nowait("tick", {"i": i}, account="A1") for i in range(5000)]
    journal.close()
    journal.close()
    assert journal.closed
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(JournalClosedError, match="closed"):
        journal.append_nowait("tick", {}, account="A1")
    with pytest.raises(JournalClosedError, match="open it again"):
        journal.replay()
    with Journal.open(journal_path) as reopened:
        assert reopened.last_seq == 5000
        assert reopened.verify_chain() is None


async def test_close_resolves_asyncio_waiters_on_the_loop(journal_path: Path) -> None:
    journal = Journal.open(journal_path)
    futures = [journal.append("tick", {"i": i}, account="A1") for i in range(100)]
    journal.close()
    records = await asyncio.gather(*futures)
    assert [r.seq for r in records] == list(range(1, 101))


def test_second_open_in_the_same_process_is_refused(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        before = files_digest(journal_path)
        with pytest.raises(JournalLockedError, match=f"in use by PID {os.getpid()} on host"):
            Journal.open(journal_path)
        assert files_digest(journal_path) == before
        assert journal.owner.pid == os.getpid()
    with Journal.open(journal_path):  # released on close
        pass


def test_stale_lock_file_from_a_dead_process_is_taken_over(journal_path: Path) -> None:
    journal_path.parent.mkdir(parents=True)
    lock_path = lock_path_for(journal_path)
    lock_path.write_text('{"pid": 999999, "host": "gone", "started_ns": 1}')
    with Journal.open(journal_path) as journal:
        owner = json.loads(lock_path.read_text())
        assert owner["pid"] == os.getpid() == journal.owner.pid
    assert lock_path.read_text() == ""  # cleared on release


HOLDER = """
import sys
from engine.journal import Journal
journal = Journal.open(sys.argv[1])
journal.append_nowait("order.submitted", {"from": "holder"}, account="A1").result(timeout=10)
print("ready", flush=True)
sys.stdin.read()
journal.close()
"""

OPENER = """
import sys
from engine.journal import Journal, JournalLockedError
try:
    Journal.open(sys.argv[1])
except JournalLockedError as exc:
    print("locked:", exc)
else:
    print("opened")
"""


def test_lock_contention_between_processes(journal_path: Path) -> None:
    holder = run_child(HOLDER, str(journal_path))
    try:
        assert read_line(holder, 20) == b"ready\n"
        before = files_digest(journal_path)
        with pytest.raises(JournalLockedError) as caught:
            Journal.open(journal_path)
        message = str(caught.value)
        assert f"in use by PID {holder.pid} on host" in message and " since " in message
        assert str(lock_path_for(journal_path)) in message
        assert files_digest(journal_path) == before
    finally:
        holder.communicate(b"", timeout=20)
    assert holder.returncode == 0
    with Journal.open(journal_path) as journal:  # the holder closed: we can open it now
        assert [r.payload for r in journal.replay()] == [{"from": "holder"}]
        opener = run_child(OPENER, str(journal_path))
        out, err = opener.communicate(timeout=20)
    assert out.decode().startswith(f"locked: journal {journal_path} is in use by PID {os.getpid()}")
    assert err == b""


def test_open_refuses_files_that_are_not_journals(tmp_path: Path) -> None:
    other_db = tmp_path / "other.sqlite"
    raw = sqlite3.connect(other_db)
    raw.execute("CREATE TABLE prices (x)")
    raw.commit()
    raw.close()
    before = files_digest(other_db)
    with pytest.raises(JournalFormatError, match="not a Cockpit journal"):
        Journal.open(other_db)
    assert files_digest(other_db) == before

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(JournalFormatError, match="cannot be used as a journal"):
        Journal.open(garbage)
    with pytest.raises(JournalFormatError, match="is a directory"):
        Journal.open(tmp_path)
    with pytest.raises(ValueError, match="synchronous must be 'FULL' or 'NORMAL'"):
        Journal.open(tmp_path / "x.sqlite", synchronous="OFF")  # type: ignore[arg-type]
    Journal.open(garbage.with_name("fine.sqlite")).close()  # the failed opens released locks


async def test_synchronous_normal_mode(journal_path: Path) -> None:
    with Journal.open(journal_path, synchronous="NORMAL") as journal:
        assert journal.synchronous == "NORMAL"
        record = await journal.append("fill", {"q": 1}, account="A1")
        assert record.seq == 1
    with Journal.open(journal_path) as journal:
        assert [r.payload for r in journal.replay()] == [{"q": 1}]


async def test_archive_moves_the_journal_aside(journal_path: Path) -> None:
    await make_log(journal_path, 12)
    with Journal.open(journal_path), pytest.raises(JournalLockedError):
        Journal.archive(journal_path)

    clock = SimClock(ist_ns(date(2026, 3, 2), dtime(9, 14, 3)))
    archived = Journal.archive(journal_path, clock=clock)
    assert archived == journal_path.with_name("paper.20260302T091403.sqlite")
    assert not journal_path.exists()
    assert not journal_path.with_name("paper.sqlite-wal").exists()
    with Journal.open(archived) as old:
        assert old.last_seq == 12 and old.verify_chain() is None
    with Journal.open(journal_path) as fresh:
        assert fresh.last_seq == 0
        await fresh.append("order.submitted", {}, account="A1")
    again = Journal.archive(journal_path, clock=clock)
    assert again == journal_path.with_name("paper.20260302T091403-1.sqlite")
    with pytest.raises(FileNotFoundError, match="no journal file"):
        Journal.archive(journal_path)


# --------------------------------------------------------------------------- writer failure


async def test_foreign_write_lock_halts_the_writer_loudly(journal_path: Path) -> None:
    journal = Journal.open(journal_path, busy_timeout_s=0.2)
    try:
        first = await journal.append("order.submitted", {"i": 0}, account="A1")
        intruder = sqlite3.connect(journal_path, isolation_level=None)
        intruder.execute("BEGIN IMMEDIATE")
        pending = [journal.append("order.submitted", {"i": i}, account="A1") for i in (1, 2, 3)]
        results = await asyncio.gather(*pending, return_exceptions=True)
        intruder.execute("ROLLBACK")
        intruder.close()

        assert all(isinstance(r, JournalWriteError) for r in results)
        text = str(results[0])
        assert "writer failed while committing seq 2..4" in text
        assert "database is locked" in text and "seq 2 and later were not acknowledged" in text
        assert isinstance(results[0], BaseException)
        assert isinstance(results[0].__cause__, sqlite3.OperationalError)
        assert journal.halted and journal.durable_seq == first.seq == 1
        with pytest.raises(JournalWriteError, match="database is locked"):
            journal.append("order.submitted", {"i": 9}, account="A1")
        with pytest.raises(JournalWriteError):
            journal.append_nowait("order.submitted", {"i": 9}, account="A1")
        with pytest.raises(JournalWriteError):
            await journal.flush()
        with pytest.raises(JournalWriteError):
            journal.write_snapshot(1, {})
        assert "halted" in repr(journal)
    finally:
        journal.close()
    with Journal.open(journal_path) as reopened:  # the halted journal released its lock
        assert [r.payload for r in reopened.replay()] == [{"i": 0}]
        assert reopened.verify_chain() is None


DISK_FULL = """
import asyncio, collections, json, resource, signal, sys
from engine.journal import Journal, JournalWriteError

async def main():
    journal = Journal.open(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
    acked, failed, refused, messages = [], 0, 0, set()
    in_flight = collections.deque()

    async def settle(future):
        nonlocal failed
        try:
            acked.append((await future).seq)
        except JournalWriteError as exc:
            failed += 1
            messages.add(str(exc))

    for i in range(400):
        try:
            in_flight.append(journal.append("fill", {"i": i, "blob": "x" * 2000}, account="A1"))
        except JournalWriteError as exc:
            refused += 1
            messages.add(str(exc))
        if len(in_flight) >= 4:
            await settle(in_flight.popleft())
    while in_flight:
        await settle(in_flight.popleft())
    try:
        await journal.flush()
        flush = "ok"
    except JournalWriteError as exc:
        flush = "failed: " + str(exc)
    journal.close()
    print(json.dumps({"acked": acked, "failed": failed, "refused": refused,
                      "messages": sorted(messages), "flush": flush}))

asyncio.run(main())
"""


def test_disk_full_fails_every_pending_and_later_append(journal_path: Path) -> None:
    child = run_child(DISK_FULL, str(journal_path))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0 and err == b"", err.decode()
    report = json.loads(out)
    acked: list[int] = report["acked"]
    assert acked == list(range(1, len(acked) + 1)) and len(acked) > 10
    # every append got an answer: acknowledged, failed while pending, or refused at the call
    assert report["failed"] >= 1 and report["refused"] >= 1
    assert len(acked) + report["failed"] + report["refused"] == 400
    assert len(report["messages"]) == 1  # the same halt, reported to everyone
    message = report["messages"][0]
    assert "the writer failed while committing seq" in message
    assert "disk is full" in message or "disk I/O error" in message
    assert report["flush"] == "failed: " + message
    with Journal.open(journal_path) as journal:
        seqs = [r.seq for r in journal.replay()]
        assert seqs == acked  # everything acknowledged is there and nothing after the failure
        assert journal.verify_chain() is None


# --------------------------------------------------------------------------- crash safety

ZYGOTE = """
import asyncio, os, sys
from engine.journal import Journal  # imported once; each appender is a fork of this process


async def append_forever(path, synchronous):
    journal = Journal.open(path, synchronous=synchronous)
    pid = os.getpid()
    os.write(1, b"ready\\n")

    async def single(w):
        i = 0
        while True:
            record = await journal.append("test.event", {"pid": pid, "w": w, "i": i},
                                          account="crash", client_order_id=f"{pid}-{w}-{i}")
            os.write(1, f"ack {record.seq} {pid} {w} {i}\\n".encode())
            i += 1

    async def batches(w):
        i = 0
        while True:
            futures = [journal.append_nowait("test.event", {"pid": pid, "w": w, "i": i + k},
                                             account="crash") for k in range(25)]
            records = [await asyncio.wrap_future(f) for f in futures]
            os.write(1, "".join(f"ack {r.seq} {pid} {w} {r.payload['i']}\\n"
                                for r in records).encode())
            i += 25

    await asyncio.gather(*(single(w) for w in range(4)), batches(4))


for command in sys.stdin:
    path, synchronous = command.split()
    pid = os.fork()
    if pid == 0:
        try:
            asyncio.run(append_forever(path, synchronous))
        finally:
            os._exit(1)
    os.write(1, f"child {pid}\\n".encode())
    _, status = os.waitpid(pid, 0)
    os.write(1, f"dead {pid} {status}\\n".encode())
"""

F_SETPIPE_SZ = 1031  # Linux fcntl: grow a pipe so a sleeping reader does not stall the child


class LineReader:
    """Read whole lines from a pipe with a timeout (raw ``os.read``, no hidden buffering)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, remaining))
            if not ready:
                raise TimeoutError(f"no line within {timeout} s; got {self.buffer[-200:]!r}")
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise EOFError(f"pipe closed; got {self.buffer[-200:]!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def test_sigkill_at_random_points_loses_no_acknowledged_event(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    rng = random.Random(20260302)
    acked: dict[int, tuple[int, int, int]] = {}
    zygote = run_child(ZYGOTE)
    assert zygote.stdin is not None and zygote.stdout is not None
    fd = zygote.stdout.fileno()
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
    lines = LineReader(fd)
    trials = 30
    seen_ready = [False]

    def read_until(wanted: str) -> str:
        """Consume lines (recording acks) until one starts with ``wanted``; return it.

        The zygote's ``child``/``dead`` lines and the appender's lines share the pipe, so
        ``ready`` or acks may arrive before ``child``.
        """
        while True:
            line = lines.next()
            if line.startswith("ack "):
                seq, ack_pid, w, i = map(int, line.split()[1:])
                assert acked.setdefault(seq, (ack_pid, w, i)) == (ack_pid, w, i)
                continue
            if line == "ready":
                seen_ready[0] = True
            if line.startswith(wanted):
                return line
            assert line == "ready" or line.startswith("child "), line

    try:
        for trial in range(trials):
            synchronous = "FULL" if trial % 2 == 0 else "NORMAL"
            zygote.stdin.write(f"{path} {synchronous}\n".encode())
            zygote.stdin.flush()
            seen_ready[0] = False
            pid = int(read_until("child ").split()[1])
            if trial % 5 == 4:
                time.sleep(rng.uniform(0.0, 0.02))  # anywhere: open, WAL recovery, appends
            else:
                if not seen_ready[0]:
                    read_until("ready")
                time.sleep(rng.uniform(0.0, 0.05))
            os.kill(pid, signal.SIGKILL)
            line = read_until("dead ")
            status = int(line.split()[2])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, line

            if not path.exists():
                continue  # killed before it created the file
            with Journal.open(path) as journal:
                stored = {
                    r.seq: (r.payload["pid"], r.payload["w"], r.payload["i"])
                    for r in journal.replay()
                }
                assert list(stored) == list(range(1, len(stored) + 1)), "seqs are contiguous"
                assert journal.verify_chain() is None
            missing = [seq for seq in acked if stored.get(seq) != acked[seq]]
            assert missing == [], f"trial {trial}: acknowledged but not stored: {missing[:5]}"
            assert len(set(stored.values())) == len(stored), "no event is stored twice"
    finally:
        zygote.kill()
        zygote.wait(timeout=20)
        for stream in (zygote.stdin, zygote.stdout, zygote.stderr):
            if stream is not None:
                stream.close()
    assert len(acked) > 500, "the children acknowledged events before being killed"
