"""``cockpit export orders|trades|audit``: the journal's history as CSV, for accounting.

The journal (:mod:`engine.journal`) is read through its own **read-only** SQLite connection
(``mode=ro``). The exporter never takes the journal's lock and never writes, so it works while a
cockpit is running on the same account: WAL lets a reader see every committed event while the
owner keeps appending, and the export is a consistent snapshot as of its start.

Three exports, one row per line, a header first:

* ``orders``: one row per order with its final state, rebuilt by replaying the journal's order
  events through the OMS state machine (:class:`engine.oms.OMS`), exactly as the core does on
  start. Columns: :data:`ORDER_COLUMNS`.
* ``trades``: one row per fill (execution) with its charges. Columns: :data:`TRADE_COLUMNS`.
* ``audit``: every journal event as stored, with its hash-chain links, so the chain can be
  checked from the file. Columns: :data:`AUDIT_COLUMNS`.

Prices and amounts are integers in the engine and are formatted in rupees only here, with
:func:`engine.money.format_price` (no digit grouping, so spreadsheets read them as numbers). An
order's average price is its exact average rounded half-even to the instrument's smallest unit;
``filled_value`` is exact. Times are IST ISO 8601 with microseconds (``ts_ns`` in the audit
export keeps the exact nanoseconds the hash covers). A price of 0 (MARKET orders, no trigger) is
written as an empty cell.

``since`` (an IST calendar date) keeps orders created on or after it, fills traded on or after it
and journal events written on or after it.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any, Final, TextIO

from engine.clock import IST, NS_PER_SECOND, ist_ns
from engine.journal_records import JournalRecord
from engine.models import Instrument
from engine.money import PAISE_PER_RUPEE, format_price, round_half_even
from engine.oms import OMS
from engine.orders import Order, OrderEvent, OrderFilled, event_from_dict

__all__ = [
    "AUDIT_COLUMNS",
    "EXPORT_KINDS",
    "ORDER_COLUMNS",
    "TRADE_COLUMNS",
    "ExportError",
    "ExportOptions",
    "export_audit",
    "export_journal",
    "export_orders",
    "export_trades",
    "format_ist",
    "parse_since",
    "read_journal",
]

EXPORT_KINDS: Final = ("orders", "trades", "audit")
"""What ``cockpit export`` can write."""

ORDER_COLUMNS: Final = (
    "client_order_id",
    "venue_order_id",
    "created_ist",
    "updated_ist",
    "account",
    "token",
    "symbol",
    "side",
    "order_type",
    "product",
    "validity",
    "qty",
    "price",
    "trigger_price",
    "status",
    "filled_qty",
    "avg_price",
    "filled_value",
    "strategy_id",
    "tag",
    "reason",
)
"""Columns of the orders export."""

TRADE_COLUMNS: Final = (
    "trade_id",
    "ts_ist",
    "account",
    "client_order_id",
    "venue_order_id",
    "token",
    "symbol",
    "side",
    "product",
    "qty",
    "price",
    "value",
    "charges",
    "strategy_id",
)
"""Columns of the trades export (``value`` = qty x price; ``charges`` all-in, rupees)."""

AUDIT_COLUMNS: Final = (
    "seq",
    "ts_ist",
    "ts_ns",
    "kind",
    "account",
    "client_order_id",
    "payload",
    "prev_hash",
    "hash",
)
"""Columns of the audit export (``payload`` is the stored canonical JSON, byte for byte)."""

_APPLICATION_ID: Final = 0x436B4A31  # engine.journal.APPLICATION_ID ("CkJ1")
_FETCH_ROWS: Final = 8192
_ORDER_KINDS: Final = ("order", "fill")


class ExportError(Exception):
    """The export cannot be made: the message says what was wrong and what would be right."""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What to export and how to show it.

    ``since`` is an IST date (None: everything). ``instruments`` maps a token to its instrument,
    for the symbol column and the price scale (tokens not in it show no symbol and are priced in
    paise, the scale of every NSE/BSE equity and F&O contract).
    """

    since: date | None = None
    instruments: Mapping[str, Instrument] | None = None

    @property
    def since_ns(self) -> int | None:
        """``since`` as ns since the epoch (IST midnight), or None."""
        return None if self.since is None else ist_ns(self.since, dtime(0, 0))

    def symbol(self, token: str) -> str:
        """The symbol of ``token``, or an empty string when it is not known."""
        inst = self.instruments.get(token) if self.instruments else None
        return inst.symbol if inst is not None else ""

    def scale(self, token: str) -> int:
        """Price units per rupee of ``token`` (100 = paise when it is not known)."""
        inst = self.instruments.get(token) if self.instruments else None
        return inst.price_scale if inst is not None else PAISE_PER_RUPEE


def parse_since(text: str) -> date:
    """Parse ``--since YYYY-MM-DD``; a clear :class:`ExportError` otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ExportError(
            f"--since must be a date written YYYY-MM-DD, such as 2026-04-01; got {text!r}"
        ) from None


def format_ist(ts_ns: int) -> str:
    """``ts_ns`` (ns since the epoch) as IST ISO 8601 with microseconds, computed exactly.

    ``format_ist(0) == "1970-01-01T05:30:00.000000+05:30"``.
    """
    seconds, rest = divmod(ts_ns, NS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, tz=IST).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds")


# ---------------------------------------------------------------------- reading


def read_journal(path: Path) -> Iterator[JournalRecord]:
    """Every event of the journal at ``path`` in ``seq`` order, read-only, without its lock.

    Raises :class:`ExportError` if there is no file there or it is not a Cockpit journal. The
    iterator sees the journal as of its start (later appends by a running cockpit are not in it).
    """
    conn = _connect_read_only(path)
    try:
        cursor = conn.execute(
            "SELECT seq, ts, kind, account, client_order_id, payload, prev_hash, hash "
            "FROM events ORDER BY seq"
        )
    except BaseException:
        conn.close()
        raise
    return _records(conn, cursor)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ExportError(
            f"no journal at {path}; check --account (the paper account is 'paper') or give the "
            f"file with --journal PATH"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ExportError(f"cannot open the journal {path} for reading: {exc}") from exc
    try:
        conn.execute("PRAGMA query_only = ON")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != _APPLICATION_ID:
            raise ExportError(
                f"{path} is not a Cockpit journal (SQLite application_id {app_id:#x}); give the "
                f"journal file of an account, such as journal-paper.sqlite in the data dir"
            )
        conn.execute("BEGIN")  # one snapshot for the whole export
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ExportError(f"{path} cannot be read as a journal: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _records(conn: sqlite3.Connection, cursor: sqlite3.Cursor) -> Iterator[JournalRecord]:
    try:
        while rows := cursor.fetchmany(_FETCH_ROWS):
            for seq, ts, kind, account, coid, payload, prev_hash, digest in rows:
                yield JournalRecord(seq, ts, kind, account, coid, json.loads(payload), prev_hash,
                                    digest)
    finally:
        conn.close()


def _raw_rows(path: Path, since_ns: int | None) -> Iterator[tuple[Any, ...]]:
    """Audit rows exactly as stored (the payload text is not re-encoded)."""
    conn = _connect_read_only(path)
    try:
        where, params = ("WHERE ts >= ?", (since_ns,)) if since_ns is not None else ("", ())
        cursor = conn.execute(
            "SELECT seq, ts, kind, account, client_order_id, payload, prev_hash, hash "
            f"FROM events {where} ORDER BY seq",
            params,
        )
        while rows := cursor.fetchmany(_FETCH_ROWS):
            yield from rows
    finally:
        conn.close()


# ---------------------------------------------------------------------- the exports


def _writer(out: TextIO) -> Any:
    return csv.writer(out, lineterminator="\n")


def _price(units: int, scale: int) -> str:
    return format_price(units, scale) if units else ""


def export_orders(path: Path, out: TextIO, options: ExportOptions | None = None) -> int:
    """Write one CSV row per order (final state); returns the number of orders written."""
    opts = options or ExportOptions()
    oms = OMS()
    accounts: dict[str, str] = {}
    for record in read_journal(path):
        if record.kind not in _ORDER_KINDS:
            continue
        event = _order_event(record)
        oms.apply(event)
        accounts.setdefault(event.client_order_id, record.account)
    since_ns = opts.since_ns
    writer = _writer(out)
    writer.writerow(ORDER_COLUMNS)
    count = 0
    for order in oms.all_orders():
        if since_ns is not None and order.created_ts < since_ns:
            continue
        writer.writerow(_order_row(order, accounts.get(order.client_order_id, ""), opts))
        count += 1
    return count


def _order_event(record: JournalRecord) -> OrderEvent:
    """The order event inside an ``order`` or ``fill`` record."""
    data = record.payload if record.kind == "order" else record.payload.get("event")
    try:
        if not isinstance(data, dict):
            raise ValueError("no event in the record")
        return event_from_dict(data)
    except ValueError as exc:
        raise ExportError(
            f"journal event seq {record.seq} ({record.kind}) cannot be read: {exc}; this "
            f"cockpit may be older than the one that wrote the journal"
        ) from exc


def _order_row(order: Order, account: str, opts: ExportOptions) -> list[str]:
    scale = opts.scale(order.token)
    avg = order.avg_fill_price
    return [
        order.client_order_id,
        order.venue_order_id or "",
        format_ist(order.created_ts),
        format_ist(order.last_ts or order.created_ts),
        account,
        order.token,
        opts.symbol(order.token),
        order.side.value,
        order.order_type.value,
        order.product.value,
        order.validity.value,
        str(order.qty),
        _price(order.price, scale),
        _price(order.trigger_price, scale),
        order.status.value,
        str(order.filled_qty),
        "" if avg is None else format_price(round_half_even(avg), scale),
        format_price(order.filled_value, scale) if order.trade_qty == order.filled_qty else "",
        str(order.strategy_id),
        order.tag,
        order.reason,
    ]


def export_trades(path: Path, out: TextIO, options: ExportOptions | None = None) -> int:
    """Write one CSV row per fill, oldest first; returns the number of fills written."""
    opts = options or ExportOptions()
    since_ns = opts.since_ns
    oms = OMS()
    writer = _writer(out)
    writer.writerow(TRADE_COLUMNS)
    count = 0
    for record in read_journal(path):
        if record.kind not in _ORDER_KINDS:
            continue
        event = _order_event(record)
        oms.apply(event)
        if record.kind != "fill":
            continue
        if not isinstance(event, OrderFilled):
            continue
        if since_ns is not None and event.ts < since_ns:
            continue
        order = oms.get(event.client_order_id)
        token = str(record.payload.get("token") or (order.token if order else ""))
        scale = opts.scale(token)
        venue = event.venue_order_id or (order.venue_order_id if order else None) or ""
        writer.writerow([
            event.trade_id,
            format_ist(event.ts),
            record.account,
            event.client_order_id,
            venue,
            token,
            opts.symbol(token),
            str(record.payload.get("side") or (order.side.value if order else "")),
            str(record.payload.get("product") or (order.product.value if order else "")),
            str(event.qty),
            format_price(event.price, scale),
            format_price(event.qty * event.price, scale),
            format_price(int(record.payload["charges"]), PAISE_PER_RUPEE),
            str(record.payload.get("strategy_id") or (order.strategy_id if order else "")),
        ])
        count += 1
    return count


def export_audit(path: Path, out: TextIO, options: ExportOptions | None = None) -> int:
    """Write every journal event as stored; returns the number of events written."""
    opts = options or ExportOptions()
    writer = _writer(out)
    writer.writerow(AUDIT_COLUMNS)
    count = 0
    for seq, ts, kind, account, coid, payload, prev_hash, digest in _raw_rows(path, opts.since_ns):
        writer.writerow([seq, format_ist(ts), ts, kind, account, coid or "", payload, prev_hash,
                         digest])
        count += 1
    return count


_EXPORTERS: Final = {"orders": export_orders, "trades": export_trades, "audit": export_audit}


def export_journal(
    kind: str, path: Path, out: TextIO, options: ExportOptions | None = None
) -> int:
    """Write the ``kind`` export (``orders``, ``trades`` or ``audit``) of the journal at
    ``path`` to ``out``; returns the number of rows written (the header not counted)."""
    exporter = _EXPORTERS.get(kind)
    if exporter is None:
        raise ExportError(
            f"cannot export {kind!r}; choose one of {', '.join(EXPORT_KINDS)}"
        )
    return exporter(path, out, options)
