"""The journal's writer thread: one SQLite connection, group commit, halt on failure.

Callers (on the asyncio loop or any thread) hand items to :class:`JournalWriter`; each event gets
the next ``seq`` under a lock at hand-off time, so queue order is ``seq`` order. The thread wakes,
takes everything pending (up to ``max_batch``), computes the hash chain, inserts all rows in one
transaction and commits. Only after ``COMMIT`` returns (with ``synchronous=FULL`` that includes the
WAL ``fsync``) are the callers' futures resolved: one ``call_soon_threadsafe`` per event loop per
batch, so the loop pays almost nothing per event.

If anything fails (disk full, I/O error, a closed connection) the writer rolls back, halts, and
fails the batch in flight, everything queued, and every later submission with
:class:`~engine.journal_errors.JournalWriteError`. Nothing is dropped silently and nothing after
the failure is written, so the chain on disk stays gap-free.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from engine.journal_errors import JournalClosedError, JournalWriteError
from engine.journal_records import GENESIS_HASH, JournalRecord, Snapshot, event_hash

__all__ = ["JournalWriter", "Waiter", "WriterStats"]

Waiter: TypeAlias = "asyncio.Future[Any] | concurrent.futures.Future[Any]"

INSERT_EVENTS: Final = (
    "INSERT INTO events (seq, ts, kind, account, client_order_id, payload, prev_hash, hash) VALUES "
)
EVENT_COLUMNS: Final = 8
MAX_ROWS_PER_STATEMENT: Final = 2048
INSERT_SNAPSHOT: Final = (
    "INSERT OR REPLACE INTO snapshots (seq, ts, state, event_hash) VALUES (?, ?, ?, ?)"
)


class _Event:
    """An event waiting to be written."""

    __slots__ = ("account", "coid", "kind", "payload", "payload_json", "seq", "ts", "waiter")

    def __init__(
        self,
        seq: int,
        ts: int,
        kind: str,
        account: str,
        coid: str | None,
        payload_json: str,
        payload: dict[str, Any],
        waiter: Waiter,
    ) -> None:
        self.seq = seq
        self.ts = ts
        self.kind = kind
        self.account = account
        self.coid = coid
        self.payload_json = payload_json
        self.payload = payload
        self.waiter = waiter


class _Snapshot:
    """A snapshot waiting to be written."""

    __slots__ = ("seq", "state", "state_json", "ts", "waiter")

    def __init__(
        self, seq: int, ts: int, state_json: str, state: dict[str, Any], waiter: Waiter
    ) -> None:
        self.seq = seq
        self.ts = ts
        self.state_json = state_json
        self.state = state
        self.waiter = waiter


class _Barrier:
    """Resolves once everything queued before it is committed."""

    __slots__ = ("waiter",)

    def __init__(self, waiter: Waiter) -> None:
        self.waiter = waiter


_Item: TypeAlias = "_Event | _Snapshot | _Barrier"


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of the writer since the journal was opened."""

    events_committed: int
    commits: int
    largest_batch: int


class JournalWriter:
    """Owns the write connection and the thread that group-commits to it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        name: str,
        last_seq: int,
        last_hash: str,
        max_batch: int,
        rows_per_statement: int = MAX_ROWS_PER_STATEMENT,
    ) -> None:
        """Take ownership of ``conn`` (used only by the writer thread from :meth:`start` on).

        Items submitted before :meth:`start` form the first batch. ``rows_per_statement`` caps
        the events per INSERT statement (lowered further to SQLite's bound-variable limit).
        """
        if max_batch < 1 or rows_per_statement < 1:
            raise ValueError(
                f"max_batch and rows_per_statement must be at least 1, got {max_batch} and "
                f"{rows_per_statement}"
            )
        self._conn = conn
        self._name = name
        self._max_batch = max_batch
        variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._rows_per_statement = max(1, min(rows_per_statement, variables // EVENT_COLUMNS))
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Item] = []
        self._idle = False
        self._closing = False
        self._error: BaseException | None = None
        self._error_text = ""
        self._next_seq = last_seq + 1
        self._durable_seq = last_seq
        self._last_hash = last_hash
        self._events_committed = 0
        self._commits = 0
        self._largest_batch = 0
        self._thread = threading.Thread(
            target=self._run, name=f"journal-writer:{name}", daemon=True
        )

    # ------------------------------------------------------------------ caller side (any thread)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def last_seq(self) -> int:
        """Highest ``seq`` handed out so far (0 for an empty journal)."""
        return self._next_seq - 1

    @property
    def durable_seq(self) -> int:
        """Highest ``seq`` committed to disk: the high-watermark."""
        return self._durable_seq

    @property
    def halted(self) -> bool:
        """True once the writer failed; every append now raises :class:`JournalWriteError`."""
        return self._error is not None

    def stats(self) -> WriterStats:
        """Commit counters (for benchmarks and the status bar)."""
        return WriterStats(self._events_committed, self._commits, self._largest_batch)

    def submit_event(
        self,
        ts: int,
        kind: str,
        account: str,
        coid: str | None,
        payload_json: str,
        payload: dict[str, Any],
        waiter: Waiter,
    ) -> int:
        """Assign the next ``seq``, queue the event and return the ``seq``."""
        with self._cond:
            self._check_open()
            seq = self._next_seq
            self._next_seq = seq + 1
            self._queue.append(_Event(seq, ts, kind, account, coid, payload_json, payload, waiter))
            if self._idle:
                self._idle = False
                self._cond.notify()
        return seq

    def submit_snapshot(
        self, seq: int, ts: int, state_json: str, state: dict[str, Any], waiter: Waiter
    ) -> None:
        """Queue a snapshot covering events up to ``seq``; ``seq`` must already be assigned."""
        with self._cond:
            self._check_open()
            if not 0 <= seq < self._next_seq:
                raise ValueError(
                    f"snapshot seq must be between 0 and the last appended seq "
                    f"({self._next_seq - 1}), got {seq}"
                )
            self._queue.append(_Snapshot(seq, ts, state_json, state, waiter))
            if self._idle:
                self._idle = False
                self._cond.notify()

    def submit_barrier(self, waiter: Waiter) -> None:
        """Queue a barrier that resolves (to ``None``) once everything before it is durable."""
        with self._cond:
            self._check_open()
            self._queue.append(_Barrier(waiter))
            if self._idle:
                self._idle = False
                self._cond.notify()

    def close(self) -> None:
        """Commit everything queued, stop the thread and close the connection. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        elif self._thread.ident is None:  # never started: the connection is still ours
            self._conn.close()

    def _check_open(self) -> None:
        """Raise if nothing more may be queued (call with the lock held)."""
        if self._closing:
            raise JournalClosedError(f"journal {self._name} is closed")
        if self._error is not None:
            raise self._new_error()

    def _new_error(self) -> JournalWriteError:
        """A fresh exception describing the halt, chained to the original failure."""
        err = JournalWriteError(self._error_text)
        err.__cause__ = self._error
        return err

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        """Thread body: take batches until closed and drained, or until a failure halts it."""
        batch: list[_Item] = []
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._idle = True
                        self._cond.wait()
                    self._idle = False
                    if not self._queue:
                        return
                    if len(self._queue) <= self._max_batch:
                        batch, self._queue = self._queue, []
                    else:
                        batch = self._queue[: self._max_batch]
                        del self._queue[: self._max_batch]
                self._commit(batch)
                batch = []
        except BaseException as exc:  # halt on anything: never lose an item silently
            self._halt(exc, batch)
        finally:
            with contextlib.suppress(sqlite3.Error):  # already broken: closing is best effort
                self._conn.close()

    def _commit(self, batch: list[_Item]) -> None:
        """Write one batch in one transaction, then resolve its waiters."""
        params: list[object] = []
        snaps: list[tuple[int, int, str, str]] = []
        results: list[tuple[Waiter, object]] = []
        prev = self._last_hash
        last_seq = self._durable_seq
        batch_hashes: dict[int, str] = {}
        for item in batch:
            if type(item) is _Event:
                seq, ts, kind, account = item.seq, item.ts, item.kind, item.account
                coid, text = item.coid, item.payload_json
                digest = event_hash(prev, seq, ts, kind, account, coid, text)
                params += (seq, ts, kind, account, coid, text, prev, digest)
                record = JournalRecord(seq, ts, kind, account, coid, item.payload, prev, digest)
                results.append((item.waiter, record))
                batch_hashes[seq] = digest
                prev = digest
                last_seq = seq
            elif type(item) is _Snapshot:
                anchor = self._anchor_hash(item.seq, batch_hashes)
                snaps.append((item.seq, item.ts, item.state_json, anchor))
                results.append((item.waiter, Snapshot(item.seq, item.ts, item.state, anchor)))
            else:
                results.append((item.waiter, None))
        events = len(params) // EVENT_COLUMNS
        if events or snaps:
            self._write(params, events, snaps)
            self._last_hash = prev
            self._durable_seq = last_seq
            self._events_committed += events
            self._commits += 1
            self._largest_batch = max(self._largest_batch, events)
        _settle(results, None)

    def _write(
        self, params: list[object], events: int, snaps: list[tuple[int, int, str, str]]
    ) -> None:
        """Insert the batch atomically and durably.

        The common case (events only, few enough for one statement) is a single multi-row
        INSERT in autocommit mode: one ``sqlite3_step`` that inserts, commits and syncs with the
        GIL released, so the event loop keeps running meanwhile. Otherwise an explicit
        transaction wraps several statements.
        """
        conn = self._conn
        per_statement = self._rows_per_statement
        if not snaps and events <= per_statement:
            conn.execute(_insert_sql(events), params)
            return
        conn.execute("BEGIN")
        try:
            for first in range(0, events, per_statement):
                count = min(per_statement, events - first)
                chunk = params[first * EVENT_COLUMNS : (first + count) * EVENT_COLUMNS]
                conn.execute(_insert_sql(count), chunk)
            if snaps:
                conn.executemany(INSERT_SNAPSHOT, snaps)
            conn.execute("COMMIT")
        except BaseException:
            _rollback_quietly(conn)
            raise

    def _anchor_hash(self, seq: int, batch_hashes: dict[int, str]) -> str:
        """Hash of event ``seq`` (already written, or earlier in this batch)."""
        if seq == 0:
            return GENESIS_HASH
        if seq in batch_hashes:
            return batch_hashes[seq]
        row = self._conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise RuntimeError(f"snapshot anchor seq {seq} is not in the events table")
        anchor: str = row[0]
        return anchor

    def _halt(self, exc: BaseException, batch: list[_Item]) -> None:
        """Record the failure and fail the batch in flight and everything still queued."""
        seqs = [item.seq for item in batch if type(item) is _Event]
        where = f" while committing seq {seqs[0]}..{seqs[-1]}" if seqs else ""
        with self._cond:
            self._error = exc
            first = self._durable_seq + 1
            self._error_text = (
                f"journal {self._name}: the writer failed{where}: {type(exc).__name__}: {exc}. "
                f"The journal halted: seq {first} and later were not acknowledged and nothing "
                f"more will be written (a commit that failed part-way may still show up on disk "
                f"after a restart). Fix the cause (disk space, permissions, the disk itself) "
                f"and restart."
            )
            pending, self._queue = self._queue, []
        failed: list[tuple[Waiter, object]] = [(item.waiter, None) for item in batch + pending]
        _settle(failed, self)


def _settle(results: list[tuple[Waiter, object]], failed: JournalWriter | None) -> None:
    """Resolve waiters with their values, or fail them all if ``failed`` is the halted writer.

    Concurrent futures are resolved here; asyncio futures are handed to their loop in one
    ``call_soon_threadsafe`` per loop.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], object]]] = {}
    for waiter, value in results:
        outcome: object = failed._new_error() if failed is not None else value
        if isinstance(waiter, concurrent.futures.Future):
            _resolve_concurrent(waiter, outcome)
        else:
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, outcome))
    for loop, pairs in by_loop.items():
        # A closed loop raises RuntimeError: nobody can be awaiting its futures any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve_async, pairs)


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    """A multi-row INSERT for ``rows`` events."""
    return INSERT_EVENTS + ",".join(["(?,?,?,?,?,?,?,?)"] * rows)


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back after a failed write; the original failure is what gets reported."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the connection is unusable; SQLite rolls back the open transaction on close


def _resolve_concurrent(waiter: concurrent.futures.Future[Any], outcome: object) -> None:
    """Set a concurrent future's result or exception unless it was cancelled."""
    try:
        if isinstance(outcome, JournalWriteError):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)
    except concurrent.futures.InvalidStateError:
        pass  # cancelled by its owner; the item itself was handled


def _resolve_async(pairs: list[tuple[asyncio.Future[Any], object]]) -> None:
    """Runs on the loop: set each future's result or exception unless it was cancelled."""
    for future, outcome in pairs:
        if future.done():
            continue
        if isinstance(outcome, JournalWriteError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
