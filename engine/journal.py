"""The order journal: a durable, append-only, hash-chained event log in SQLite.

The core writes every order event here *before* the broker sees the order, and rebuilds its whole
state from it on start (latest snapshot + replay of the tail, in ``seq`` order).

Why a dedicated writer thread on the stdlib ``sqlite3`` and not ``aiosqlite``
---------------------------------------------------------------------------
``aiosqlite`` gives each connection a thread but makes every ``execute``/``commit`` a separate
round trip from the loop (~80 µs of loop CPU per event measured), and group commit would have
to be built on top of it anyway. A single writer thread on the stdlib ``sqlite3`` that drains its
queue and commits everything pending in one transaction measured ~290 k raw rows/s with
``synchronous=FULL`` (research/perf-baselines.md §6). That is what this module does. Each event
here also pays for exact JSON encoding with a round-trip check, a sha256 link and its own
future (about 10 µs of loop time per ``append``), so ``bench/journal.py`` shows tens of
thousands of durable events/s: thousands of times the 10 orders/s a retail account may send.

* ``await journal.append(...)`` resolves only after the row's transaction is committed; with
  ``synchronous="FULL"`` (the default) that includes the ``fsync`` of the WAL, so an
  acknowledged event survives a power cut. ``synchronous="NORMAL"`` skips that ``fsync``: an
  acknowledged event survives a crash of the process but not of the machine.
* ``seq`` is assigned at the call, in call order; payloads are encoded (and checked to
  round-trip exactly) at the call too, so a bad payload raises there and never reaches the
  writer. The loop does no disk I/O.
* If the writer fails it halts: the pending and every later append raise
  :class:`JournalWriteError`. Nothing is dropped silently and nothing after a failure is written.

Reading (:meth:`Journal.replay`, :meth:`Journal.query`, :meth:`Journal.verify_chain`,
:meth:`Journal.latest_snapshot`) uses separate read-only connections and is synchronous: call it
at start-up before trading, or through ``asyncio.to_thread``. WAL lets reads run while the writer
commits; each read sees the journal as of its start.

One process owns a journal (see :mod:`engine.journal_lock`). Cancelling the await of an append
does not withdraw the event: once :meth:`Journal.append` returned, the event will be written
unless the writer halts.

The hash chain detects edits, insertions and deletions inside the log; it cannot tell that the
newest rows were cut off. Snapshots record the hash of the event they cover, which catches a
cut below the latest snapshot.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import sqlite3
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from engine.clock import Clock, WallClock, to_ist
from engine.journal_errors import (
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    JournalFormatError,
    JournalLockedError,
    JournalPayloadError,
    JournalWriteError,
)
from engine.journal_lock import JournalLock, LockOwner, lock_path_for
from engine.journal_records import (
    GENESIS_HASH,
    JournalRecord,
    Snapshot,
    check_int64,
    check_name,
    encode_exact_json,
    event_hash,
)
from engine.journal_writer import JournalWriter, WriterStats

__all__ = [
    "GENESIS_HASH",
    "Journal",
    "JournalClosedError",
    "JournalCorruptError",
    "JournalError",
    "JournalFormatError",
    "JournalLockedError",
    "JournalPayloadError",
    "JournalRecord",
    "JournalWriteError",
    "LockOwner",
    "Snapshot",
    "WriterStats",
    "lock_path_for",
]

APPLICATION_ID: Final = 0x436B4A31  # "CkJ1": marks an SQLite file as a Cockpit journal
SCHEMA_VERSION: Final = 1
FETCH_ROWS: Final = 8192

_SCHEMA: Final = (
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        client_order_id TEXT,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )
    """,
    """
    CREATE INDEX events_client_order_id ON events (client_order_id)
        WHERE client_order_id IS NOT NULL
    """,
    """
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END
    """,
    """
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END
    """,
    """
    CREATE TABLE snapshots (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        state TEXT NOT NULL,
        event_hash TEXT NOT NULL
    )
    """,
)

_RAW_DECODE: Final = json.JSONDecoder().raw_decode
_COLUMNS: Final = "seq, ts, kind, account, client_order_id, payload, prev_hash, hash"

_OPEN_JOURNALS: weakref.WeakSet[Journal] = weakref.WeakSet()


class Journal:
    """An open, exclusively owned order journal. Create it with :meth:`Journal.open`."""

    def __init__(
        self,
        path: Path,
        lock: JournalLock,
        writer: JournalWriter,
        *,
        synchronous: str,
        clock: Clock,
    ) -> None:
        """Internal: use :meth:`Journal.open`, which takes the lock and prepares the file."""
        self.path = path
        self.synchronous = synchronous
        self._lock = lock
        self._writer = writer
        self._clock = clock
        self._owner_pid = os.getpid()
        self._closed = False

    # ------------------------------------------------------------------ opening and closing

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        clock: Clock | None = None,
        max_batch: int = 2_000,
        busy_timeout_s: float = 5.0,
    ) -> Journal:
        """Open (creating if needed) the journal at ``path`` and start its writer thread.

        Takes the exclusive lock first: if another process holds it, raises
        :class:`JournalLockedError` naming that process, and the journal file is not touched.
        Raises :class:`JournalFormatError` if ``path`` is not a Cockpit journal. A journal left
        by a crashed process opens normally (SQLite recovers the WAL; the dead owner's lock is
        gone with it). ``max_batch`` caps the events per transaction. ``busy_timeout_s`` is how
        long the writer waits when some other SQLite connection (a tool, not a journal) holds
        the write lock, before it halts with :class:`JournalWriteError`.
        """
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be an int of at least 1, got {max_batch!r}")
        if not busy_timeout_s >= 0:
            raise ValueError(f"busy_timeout_s must be >= 0 seconds, got {busy_timeout_s!r}")
        journal_path = Path(path).expanduser().resolve()
        if journal_path.is_dir():
            raise JournalFormatError(
                f"journal path {journal_path} is a directory; give a file path such as "
                f"{journal_path / 'journal.sqlite'}"
            )
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        lock = JournalLock.acquire(journal_path)
        try:
            conn = _open_write_connection(journal_path, synchronous, busy_timeout_s)
            try:
                last_seq, last_hash = _tail(conn)
                _fsync_dir(journal_path.parent)  # a newly created file's name is durable too
                writer = JournalWriter(
                    conn,
                    name=str(journal_path),
                    last_seq=last_seq,
                    last_hash=last_hash,
                    max_batch=max_batch,
                )
            except BaseException:
                conn.close()
                raise
        except BaseException:
            lock.release()
            raise
        journal = cls(
            journal_path, lock, writer, synchronous=synchronous, clock=clock or WallClock()
        )
        writer.start()
        _OPEN_JOURNALS.add(journal)
        return journal

    def close(self) -> None:
        """Commit everything appended so far, stop the writer and release the lock.

        Blocks for at most the last group commit (normally well under a millisecond). Safe to
        call twice. Waiters on the loop are resolved when the loop next runs.
        """
        if self._closed:
            return
        self._closed = True
        _OPEN_JOURNALS.discard(self)
        if os.getpid() != self._owner_pid:
            return  # a forked child: the writer thread and the lock belong to the parent
        try:
            self._writer.close()
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def __enter__(self) -> Journal:
        """Use as ``with Journal.open(path) as journal:``; closes on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the journal."""
        self.close()

    def __repr__(self) -> str:
        """Path, state and sequence numbers."""
        state = "closed" if self._closed else ("halted" if self._writer.halted else "open")
        return (
            f"<Journal {self.path} {state} last_seq={self.last_seq} durable_seq={self.durable_seq}>"
        )

    # ------------------------------------------------------------------ state

    @property
    def last_seq(self) -> int:
        """Highest ``seq`` assigned so far (appended, maybe not yet durable); 0 when empty."""
        return self._writer.last_seq

    @property
    def durable_seq(self) -> int:
        """Highest ``seq`` known to be committed: the high-watermark."""
        return self._writer.durable_seq

    @property
    def halted(self) -> bool:
        """True once the writer failed; appends now raise :class:`JournalWriteError`."""
        return self._writer.halted

    @property
    def owner(self) -> LockOwner:
        """This process's entry in the lock file."""
        return self._lock.owner

    def stats(self) -> WriterStats:
        """Events committed, commits and the largest batch since opening."""
        return self._writer.stats()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        account: str,
        client_order_id: str | None = None,
        ts: int | None = None,
    ) -> asyncio.Future[JournalRecord]:
        """Append one event; the returned future resolves once it is durable.

        Call from the running event loop. ``seq`` is assigned now, in call order; ``ts`` defaults
        to the journal's clock. ``await journal.append(...)`` returns the stored
        :class:`JournalRecord`. Raises at once, before anything is queued:
        :class:`JournalPayloadError` for data that cannot be stored exactly,
        :class:`JournalClosedError` after :meth:`close`, :class:`JournalWriteError` if the writer
        has halted (the future fails with it if the writer halts while this event is pending).
        """
        loop = _running_loop("append", "from other threads use append_nowait")
        future: asyncio.Future[JournalRecord] = loop.create_future()
        self._submit(kind, payload, account, client_order_id, ts, future)
        return future

    def append_nowait(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        account: str,
        client_order_id: str | None = None,
        ts: int | None = None,
    ) -> concurrent.futures.Future[JournalRecord]:
        """Like :meth:`append` but callable from any thread; returns a concurrent future.

        For code that batches: queue many events, then wait on the last future (events commit
        in ``seq`` order, so when it resolves all earlier ones are durable too) or call
        :meth:`flush`.
        """
        future: concurrent.futures.Future[JournalRecord] = concurrent.futures.Future()
        self._submit(kind, payload, account, client_order_id, ts, future)
        return future

    def _submit(
        self,
        kind: str,
        payload: dict[str, Any],
        account: str,
        client_order_id: str | None,
        ts: int | None,
        waiter: asyncio.Future[JournalRecord] | concurrent.futures.Future[JournalRecord],
    ) -> None:
        """Validate and encode on the caller's thread, then hand over to the writer."""
        check_name(kind, "kind")
        check_name(account, "account")
        check_name(client_order_id, "client_order_id", optional=True)
        stamp = self._clock.now_ns() if ts is None else check_int64(ts, "ts")
        payload_json, decoded = encode_exact_json(payload, "payload")
        self._writer.submit_event(
            stamp, kind, account, client_order_id, payload_json, decoded, waiter
        )

    def flush(self) -> asyncio.Future[None]:
        """A future that resolves once everything appended before this call is durable.

        Call from the running loop (e.g. from a SIGTERM/SIGHUP handler before shutting down).
        Fails with :class:`JournalWriteError` if the writer halted.
        """
        loop = _running_loop("flush", "from other threads use flush_nowait")
        future: asyncio.Future[None] = loop.create_future()
        self._writer.submit_barrier(future)
        return future

    def flush_nowait(self) -> concurrent.futures.Future[None]:
        """Like :meth:`flush` but callable from any thread; returns a concurrent future."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer.submit_barrier(future)
        return future

    def write_snapshot(self, seq: int, state: dict[str, Any]) -> asyncio.Future[Snapshot]:
        """Store a checkpoint of the core's state covering events ``1..seq``.

        ``seq`` must be between 0 and :attr:`last_seq`; the snapshot is committed after those
        events (never ahead of the log). ``state`` is encoded now, on the caller's thread, so
        later changes to it do not leak in; it must survive JSON exactly (see
        :meth:`append`). Writing a second snapshot at the same ``seq`` replaces the first.
        Call from the running loop; the future resolves to the stored :class:`Snapshot`.
        """
        loop = _running_loop(
            "write_snapshot", "from another thread, call it via loop.call_soon_threadsafe"
        )
        future: asyncio.Future[Snapshot] = loop.create_future()
        check_int64(seq, "snapshot seq")
        state_json, decoded = encode_exact_json(state, "snapshot state")
        self._writer.submit_snapshot(seq, self._clock.now_ns(), state_json, decoded, future)
        return future

    # ------------------------------------------------------------------ reading

    def replay(self, from_seq: int = 0) -> Iterator[JournalRecord]:
        """Yield every event with ``seq >= from_seq`` in ``seq`` order, decoded.

        One SELECT read in large chunks: about a million events in a few seconds. The iterator
        sees the journal as it was when iteration started. After a snapshot at ``S``, replay
        the tail with ``replay(from_seq=S + 1)``.
        """
        check_int64(from_seq, "from_seq")
        return self._records(
            f"SELECT {_COLUMNS} FROM events WHERE seq >= ? ORDER BY seq", (from_seq,)
        )

    def query(
        self,
        *,
        kind: str | Iterable[str] | None = None,
        since: int | None = None,
        until: int | None = None,
        account: str | None = None,
        client_order_id: str | None = None,
    ) -> Iterator[JournalRecord]:
        """Yield matching events in ``seq`` order, for export and order histories.

        ``kind`` is one kind or several; ``since`` (inclusive) and ``until`` (exclusive) bound
        ``ts`` in ns since the epoch; ``account`` and ``client_order_id`` match exactly.
        """
        clauses: list[str] = []
        params: list[object] = []
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            if not kinds or not all(isinstance(k, str) for k in kinds):
                raise ValueError(f"kind must be a str or a non-empty list of str, got {kind!r}")
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(check_int64(since, "since"))
        if until is not None:
            clauses.append("ts < ?")
            params.append(check_int64(until, "until"))
        if account is not None:
            clauses.append("account = ?")
            params.append(account)
        if client_order_id is not None:
            clauses.append("client_order_id = ?")
            params.append(client_order_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._records(f"SELECT {_COLUMNS} FROM events{where} ORDER BY seq", params)

    def verify_chain(self) -> int | None:
        """Check the whole hash chain; return the first broken ``seq``, or None if intact.

        A seq is broken if its row's ``prev_hash`` is not the previous row's hash, if its hash
        does not match its content, or if it is missing (a gap: the missing seq is returned).
        """
        conn = self._read_connection()
        try:
            cursor = conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq")
            expected_seq = 1
            prev = GENESIS_HASH
            while rows := cursor.fetchmany(FETCH_ROWS):
                for seq, ts, kind, account, coid, payload, prev_hash, digest in rows:
                    if seq != expected_seq:
                        return expected_seq
                    if prev_hash != prev or digest != event_hash(
                        prev_hash, seq, ts, kind, account, coid, payload
                    ):
                        return int(seq)
                    prev = digest
                    expected_seq += 1
            return None
        finally:
            conn.close()

    def latest_snapshot(self) -> Snapshot | None:
        """The newest snapshot, or None if there is none.

        Raises :class:`JournalCorruptError` if the event it is anchored to is missing or has a
        different hash (the log was cut or altered below the snapshot).
        """
        conn = self._read_connection()
        try:
            row = conn.execute(
                "SELECT seq, ts, state, event_hash FROM snapshots ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            seq, ts, state_json, anchor = row
            if seq == 0:
                found: str | None = GENESIS_HASH
            else:
                hit = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
                found = None if hit is None else hit[0]
            if found != anchor:
                what = "is missing" if found is None else "has a different hash"
                raise JournalCorruptError(
                    f"journal {self.path}: snapshot at seq {seq} is anchored to an event that "
                    f"{what}; the log was cut or altered. Run verify_chain() and restore the "
                    f"journal from a backup"
                )
            return Snapshot(seq, ts, _decode_object(state_json), anchor)
        finally:
            conn.close()

    def _records(self, sql: str, params: Iterable[object]) -> Iterator[JournalRecord]:
        """Run ``sql`` on a fresh read connection and yield decoded records lazily."""
        conn = self._read_connection()
        try:
            cursor = conn.execute(sql, tuple(params))
        except BaseException:
            conn.close()
            raise
        return _iter_records(conn, cursor)

    def _read_connection(self) -> sqlite3.Connection:
        """A new query-only connection to this journal."""
        if self._closed:
            raise JournalClosedError(f"journal {self.path} is closed; open it again to read it")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    # ------------------------------------------------------------------ archive

    @staticmethod
    def archive(path: str | os.PathLike[str], *, clock: Clock | None = None) -> Path:
        """Move the journal at ``path`` aside to a timestamped name and return the new path.

        For ``cockpit --paper --reset``: ``paper.sqlite`` becomes
        ``paper.20260302T091403.sqlite`` (IST; ``-1``, ``-2``, ... appended if taken). The WAL is
        checkpointed into the main file first so one file holds everything; any ``-wal``/``-shm``
        left over move along with it. Raises :class:`JournalLockedError` if the journal is open
        (in any process) and :class:`FileNotFoundError` if there is nothing at ``path``.
        """
        journal_path = Path(path).expanduser().resolve()
        if not journal_path.is_file():
            raise FileNotFoundError(f"no journal file at {journal_path} to archive")
        lock = JournalLock.acquire(journal_path)
        try:
            _checkpoint_quietly(journal_path)
            stamp = to_ist((clock or WallClock()).now_ns()).strftime("%Y%m%dT%H%M%S")
            target = _free_archive_name(journal_path, stamp)
            for suffix in ("-wal", "-shm"):  # sidecars first, so no stale WAL meets a new file
                side = journal_path.with_name(journal_path.name + suffix)
                if side.exists():
                    os.replace(side, target.with_name(target.name + suffix))
            os.replace(journal_path, target)
            _fsync_dir(journal_path.parent)
        finally:
            lock.release()
        return target


# ---------------------------------------------------------------------- module helpers


def _running_loop(method: str, hint: str) -> asyncio.AbstractEventLoop:
    """The running loop, or a clear error saying what to do instead."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"Journal.{method} must be called from the running event loop; {hint}"
        ) from None


def _open_write_connection(
    path: Path, synchronous: str, busy_timeout_s: float
) -> sqlite3.Connection:
    """Connect, check that the file is a Cockpit journal (or empty), and prepare WAL + schema."""
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    try:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == 0:
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise JournalFormatError(
                        f"{path} is an SQLite database but not a Cockpit journal; "
                        f"choose another path for the journal"
                    )
            elif app_id != APPLICATION_ID:
                raise JournalFormatError(
                    f"{path} is an SQLite database of another application "
                    f"(application_id {app_id:#x}), not a Cockpit journal"
                )
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalFormatError(
                    f"{path}: SQLite refused WAL mode (got {mode!r}); the journal needs a local "
                    f"file system that supports shared memory"
                )
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA application_id").fetchone()[0] == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise JournalFormatError(
                    f"{path} is a Cockpit journal of schema version {version}; this version of "
                    f"the cockpit reads version {SCHEMA_VERSION}"
                )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise JournalFormatError(f"{path} cannot be used as a journal: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _tail(conn: sqlite3.Connection) -> tuple[int, str]:
    """``(last seq, its hash)`` of the stored log, ``(0, GENESIS_HASH)`` when empty."""
    row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def _iter_records(conn: sqlite3.Connection, cursor: sqlite3.Cursor) -> Iterator[JournalRecord]:
    """Decode rows chunk by chunk; closes the connection when done or abandoned."""
    decode = _RAW_DECODE  # stored payloads are canonical JSON: no surrounding whitespace
    record = JournalRecord
    try:
        while rows := cursor.fetchmany(FETCH_ROWS):
            for seq, ts, kind, account, coid, payload, prev_hash, digest in rows:
                yield record(seq, ts, kind, account, coid, decode(payload)[0], prev_hash, digest)
    finally:
        conn.close()


def _decode_object(text: str) -> dict[str, Any]:
    """Decode a stored JSON object."""
    value: dict[str, Any] = _RAW_DECODE(text)[0]
    return value


def _fsync_dir(directory: Path) -> None:
    """Make a new or renamed directory entry durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checkpoint_quietly(path: Path) -> None:
    """Fold the WAL into the main file if the file is a readable SQLite database."""
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def _free_archive_name(path: Path, stamp: str) -> Path:
    """``<stem>.<stamp><suffix>`` next to ``path``, with ``-N`` added until nothing is there."""
    stem, suffix = (path.stem, path.suffix) if path.suffix else (path.name, "")
    counter = 0
    while True:
        tag = stamp if counter == 0 else f"{stamp}-{counter}"
        target = path.with_name(f"{stem}.{tag}{suffix}")
        taken = any(
            target.with_name(target.name + extra).exists()
            for extra in ("", "-wal", "-shm", ".lock")
        )
        if not taken:
            return target
        counter += 1


@atexit.register
def _close_open_journals() -> None:
    """On interpreter exit, commit what is pending in journals nobody closed."""
    for journal in list(_OPEN_JOURNALS):
        with contextlib.suppress(JournalError, OSError):
            journal.close()
