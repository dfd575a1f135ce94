"""Angel One instrument master (``OpenAPIScripMaster.json``): parsing and a once-a-day disk cache.

The master is one JSON array, regenerated daily, in which every field is a string
(research/smartapi.md §9)::

    {"token": "3045", "symbol": "SBIN-EQ", "name": "SBIN", "expiry": "", "strike": "-1.000000",
     "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE", "tick_size": "5.000000"}

Each row becomes an :class:`engine.models.Instrument`:

* ``exch_seg`` -> :class:`Exchange` (``NSE``/``nse_cm``, ``BSE``/``bse_cm``, ``NFO``/``nse_fo``,
  ``BFO``/``bse_fo``, ``MCX``/``mcx_fo``, ``CDS``/``cde_fo``, ``NCDEX``/``ncx_fo``; the NCDEX
  spelling in the live file is **UNCONFIRMED**, rows of any other segment are skipped and counted);
* ``instrumenttype`` -> :class:`InstrumentType` (``""`` is cash equity and only valid on NSE/BSE,
  ``AMXIDX`` an index, ``FUTIDX OPTIDX FUTSTK OPTSTK FUTCOM OPTFUT FUTCUR OPTCUR`` as named);
* ``strike`` and ``tick_size`` are rupees x 100. Our prices are integers in the instrument's price
  scale: 100 (paise) everywhere except CDS, whose scale is 10**7, so ``"2500000.000000"`` is
  2,500,000 units (Rs 25,000) and a CDS tick ``"0.250000"`` (Rs 0.0025) is 25,000 units. A value
  the scale cannot hold exactly is an error, never rounded. Non-option strikes (``-1``, ``0``) are
  ``None``. An index's tick ``"0.000000"`` becomes 1 (indices are not tradable; 1 unit is their
  display step); any tradable row needs a positive tick;
* ``expiry`` ``DDMMMYYYY`` -> :class:`datetime.date`; derivatives must have one;
* ``option_kind`` from the symbol's ``CE``/``PE`` suffix; ``underlying`` is ``name``.

Rows that fail are skipped and counted by reason in a :class:`MasterParseReport`.

:class:`MasterCache` keeps, in a directory the caller chooses (the app uses platformdirs' user cache
dir), the raw JSON as downloaded and a fast binary cache of the ready :class:`InstrumentIndex`. It
downloads at most once per IST day; later loads that day come from the fast cache. The fast cache
is a pickle written and read only by this module in the user's own cache directory (never load
one from elsewhere). It stores the instruments as columns and the index's built state, and is keyed
by a fingerprint of the source of this module, ``engine.models`` and ``engine.instruments``: after
any change to them the index is rebuilt from the raw JSON of the day (no new download).
"""

from __future__ import annotations

import asyncio
import copyreg
import gc
import hashlib
import inspect
import io
import json
import operator
import os
import pickle
from array import array
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import date
from itertools import repeat
from pathlib import Path
from typing import Any, Final, Literal

import engine.instruments
import engine.models
from engine.instruments import InstrumentIndex
from engine.models import Exchange, Instrument, InstrumentType, OptionKind

# ---------------------------------------------------------------------------------------------
# Mappings

SEGMENTS: Final[Mapping[str, Exchange]] = {
    "NSE": Exchange.NSE,
    "nse_cm": Exchange.NSE,
    "BSE": Exchange.BSE,
    "bse_cm": Exchange.BSE,
    "NFO": Exchange.NFO,
    "nse_fo": Exchange.NFO,
    "BFO": Exchange.BFO,
    "bse_fo": Exchange.BFO,
    "MCX": Exchange.MCX,
    "mcx_fo": Exchange.MCX,
    "CDS": Exchange.CDS,
    "cde_fo": Exchange.CDS,
    "NCDEX": Exchange.NCDEX,
    "ncx_fo": Exchange.NCDEX,
}
"""``exch_seg`` values (live file spelling and the docs' sample spelling) and our exchange."""

INSTRUMENT_TYPES: Final[Mapping[str, InstrumentType]] = {
    "": InstrumentType.EQUITY,
    "AMXIDX": InstrumentType.INDEX,
    "FUTIDX": InstrumentType.FUTIDX,
    "OPTIDX": InstrumentType.OPTIDX,
    "FUTSTK": InstrumentType.FUTSTK,
    "OPTSTK": InstrumentType.OPTSTK,
    "FUTCOM": InstrumentType.FUTCOM,
    "OPTFUT": InstrumentType.OPTFUT,
    "FUTCUR": InstrumentType.FUTCUR,
    "OPTCUR": InstrumentType.OPTCUR,
}
"""``instrumenttype`` values and our instrument type."""

CASH_SEGMENTS: Final = frozenset({Exchange.NSE, Exchange.BSE})

PRICE_SCALES: Final[Mapping[Exchange, int]] = {Exchange.CDS: 10**7}
"""Price units per rupee where it is not 100 (paise)."""

MASTER_WIRE_SCALE: Final = 100
"""The master's ``strike`` and ``tick_size`` are in rupees x 100."""

_FIELDS: Final = tuple(f.name for f in dataclass_fields(Instrument))
_SETTERS: Final = tuple(Instrument.__dict__[name].__set__ for name in _FIELDS)

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}


# ---------------------------------------------------------------------------------------------
# Row parsing


class MasterRowError(ValueError):
    """A master row that cannot become an Instrument; ``reason`` is the counted category."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class MasterParseReport:
    """How a master parsed: rows seen, instruments made, and skipped rows by reason.

    ``examples`` holds, per reason, the first offending row's error message.
    """

    rows: int
    parsed: int
    skipped: Mapping[str, int] = field(default_factory=dict)
    examples: Mapping[str, str] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        """Rows that did not become instruments."""
        return self.rows - self.parsed


def _scaled(text: str, price_scale: int, what: str) -> int:
    """Exact integer price units of a rupees x 100 decimal string (``"5.000000"`` -> 5 on 100)."""
    body = text.strip()
    negative = body.startswith("-")
    if negative or body.startswith("+"):
        body = body[1:]
    whole, _, frac = body.partition(".")
    if not (whole or frac) or not (whole + frac).isdigit() or not (whole + frac).isascii():
        raise MasterRowError(f"bad {what}", f"{what} {text!r} is not a decimal number")
    factor = price_scale // MASTER_WIRE_SCALE
    digits = len(str(factor)) - 1  # decimals of rupees x 100 that the scale can hold
    frac = frac.rstrip("0")
    if len(frac) > digits:
        finest = "1" if digits == 0 else "0." + "0" * (digits - 1) + "1"
        raise MasterRowError(
            f"bad {what}",
            f"{what} {text!r} (rupees x 100) is finer than price scale {price_scale} holds "
            f"(finest step {finest})",
        )
    units = int(whole or "0") * factor + (int(frac.ljust(digits, "0")) if digits else 0)
    return -units if negative else units


def _expiry(text: str) -> date:
    """``28MAR2024`` -> ``date(2024, 3, 28)``."""
    month = _MONTHS.get(text[2:5].upper()) if len(text) == 9 else None
    day_text, year_text = text[:2], text[5:]
    digits = day_text + year_text
    if month is None or not digits.isdigit() or not digits.isascii():
        raise MasterRowError("bad expiry", f"expiry {text!r} is not DDMMMYYYY (e.g. 28MAR2024)")
    try:
        return date(int(year_text), month, int(day_text))
    except ValueError:
        raise MasterRowError("bad expiry", f"expiry {text!r} is not a calendar date") from None


def _lot_size(text: str) -> int:
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or not whole.isascii() or frac.strip("0"):
        raise MasterRowError("bad lotsize", f"lotsize {text!r} is not a whole number")
    lot = int(whole)
    if lot < 1:
        raise MasterRowError("bad lotsize", f"lotsize {text!r} must be at least 1")
    return lot


def _text(row: Mapping[str, Any], key: str, required: bool) -> str:
    """A field that is not already a string: numbers are accepted as their text, None as ''."""
    value = row.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        if required:
            raise MasterRowError(f"missing {key}", f"row has no {key!r} field")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise MasterRowError(f"bad {key}", f"{key} is a {type(value).__name__}, expected a string")


_OPTION_KINDS: Final = {"CE": OptionKind.CE, "PE": OptionKind.PE}
_Kind = tuple[Exchange, InstrumentType, int, bool, bool]
"""exchange, instrument type, price scale, is option, is derivative"""

InstrumentFields = tuple[
    str, Exchange, str, str, InstrumentType, int, int, int,
    "date | None", "int | None", "OptionKind | None", "int | None", "str | None",
]  # fmt: skip
"""The values of one Instrument, in field order (what :meth:`RowParser.fields` returns)."""


class RowParser:
    """Parses master rows into Instruments, caching the values that repeat across rows.

    Use one parser per master; :meth:`parse` and :meth:`fields` raise :class:`MasterRowError` for a
    bad row.
    """

    __slots__ = ("_expiries", "_kinds", "_lots", "_strikes", "_ticks")

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str], _Kind] = {}
        self._expiries: dict[str, date] = {}
        self._strikes: dict[tuple[str, int], int] = {}
        self._ticks: dict[tuple[str, int], int] = {}
        self._lots: dict[str, int] = {}

    def parse(self, row: Mapping[str, Any]) -> Instrument:
        """One row -> Instrument, or :class:`MasterRowError` naming what is wrong."""
        return Instrument(*self.fields(row))

    def fields(self, row: Mapping[str, Any]) -> InstrumentFields:
        """One row -> the Instrument's field values in order (see :meth:`parse`)."""
        if not isinstance(row, Mapping):
            raise MasterRowError("not an object", f"row is a {type(row).__name__}, not an object")
        get = row.get
        token = get("token")
        if type(token) is not str:
            token = _text(row, "token", True)
        token = token.strip()
        if not (token.isascii() and token.isalnum()) and (
            not token or not token.isascii() or not token.isprintable() or " " in token
        ):
            raise MasterRowError("bad token", f"token {token!r} is not a printable ASCII token")
        symbol = get("symbol")
        if type(symbol) is not str:
            symbol = _text(row, "symbol", True)
        symbol = symbol.strip()
        if not symbol:
            raise MasterRowError("missing symbol", f"token {token}: empty symbol")
        segment = get("exch_seg")
        if type(segment) is not str:
            segment = _text(row, "exch_seg", True)
        type_text = get("instrumenttype")
        if type(type_text) is not str:
            type_text = _text(row, "instrumenttype", True)
        kind = self._kinds.get((segment, type_text))
        if kind is None:
            kind = self._kind(segment, type_text, symbol, token)
        exchange, instrument_type, price_scale, is_option, is_derivative = kind

        name = get("name")
        if type(name) is not str:
            name = _text(row, "name", False)
        name = name.strip()

        expiry_text = get("expiry")
        if type(expiry_text) is not str:
            expiry_text = _text(row, "expiry", False)
        expiry: date | None = None
        if expiry_text:
            expiry = self._expiries.get(expiry_text)
            if expiry is None:
                expiry = self._expiries[expiry_text] = _expiry(expiry_text.strip().upper())
        elif is_derivative:
            raise MasterRowError("derivative without expiry", f"{symbol} ({token})")

        strike: int | None = None
        option_kind: OptionKind | None = None
        if is_option:
            strike_text = get("strike")
            if type(strike_text) is not str:
                strike_text = _text(row, "strike", True)
            strike = self._strikes.get((strike_text, price_scale))
            if strike is None:
                strike = _scaled(strike_text, price_scale, "strike")
                if strike <= 0:
                    raise MasterRowError(
                        "bad strike", f"{symbol} ({token}): option strike {strike_text!r}"
                    )
                self._strikes[(strike_text, price_scale)] = strike
            option_kind = _OPTION_KINDS.get(symbol[-2:].upper())
            if option_kind is None:
                raise MasterRowError(
                    "option symbol without CE/PE", f"{symbol} ({token}) ends in neither CE nor PE"
                )

        tick_text = get("tick_size")
        if type(tick_text) is not str:
            tick_text = _text(row, "tick_size", True)
        tick = self._ticks.get((tick_text, price_scale))
        if tick is None:
            tick = _scaled(tick_text, price_scale, "tick_size")
            if tick < 0:
                raise MasterRowError(
                    "bad tick_size", f"{symbol} ({token}): tick_size {tick_text!r} is not positive"
                )
            self._ticks[(tick_text, price_scale)] = tick
        if tick == 0:
            if instrument_type is not InstrumentType.INDEX:
                raise MasterRowError(
                    "bad tick_size", f"{symbol} ({token}): tick_size {tick_text!r} is not positive"
                )
            tick = 1  # an index's "0.000000": not tradable, 1 unit is its display step

        lot_text = get("lotsize")
        if type(lot_text) is not str:
            lot_text = _text(row, "lotsize", True)
        lot = self._lots.get(lot_text)
        if lot is None:
            lot = self._lots[lot_text] = _lot_size(lot_text)
        return (
            token, exchange, symbol, name or symbol, instrument_type, lot, tick, price_scale,
            expiry, strike, option_kind, None, name or None,
        )  # fmt: skip

    def _kind(self, segment: str, type_text: str, symbol: str, token: str) -> _Kind:
        exchange = SEGMENTS.get(segment.strip())
        if exchange is None:
            raise MasterRowError(f"unknown exch_seg {segment!r}", f"{symbol} ({token})")
        instrument_type = INSTRUMENT_TYPES.get(type_text.strip())
        if instrument_type is None:
            raise MasterRowError(f"unsupported instrumenttype {type_text!r}", f"{symbol} ({token})")
        if instrument_type is InstrumentType.EQUITY and exchange not in CASH_SEGMENTS:
            raise MasterRowError(
                f"blank instrumenttype on {exchange}",
                f"{symbol} ({token}): a blank type means cash equity, which only NSE/BSE list",
            )
        kind = (
            exchange,
            instrument_type,
            PRICE_SCALES.get(exchange, 100),
            instrument_type.is_option,
            instrument_type.is_derivative,
        )
        self._kinds[(segment, type_text)] = kind
        return kind


def parse_rows(rows: Iterable[Any]) -> tuple[list[Instrument], MasterParseReport]:
    """Parse master rows; bad rows are skipped and counted by reason (never raised)."""
    columns, report = _parse_columns(rows)
    return _build_instruments([(column, None) for column in columns]), report


def _parse_columns(rows: Iterable[Any]) -> tuple[list[tuple[Any, ...]], MasterParseReport]:
    """Parse rows into one tuple per Instrument field (plus the report)."""
    parse = RowParser().fields
    parsed: list[InstrumentFields] = []
    append = parsed.append
    skipped: dict[str, int] = {}
    examples: dict[str, str] = {}
    count = 0
    for row in rows:
        count += 1
        try:
            append(parse(row))
        except MasterRowError as error:
            skipped[error.reason] = skipped.get(error.reason, 0) + 1
            examples.setdefault(error.reason, str(error))
    report = MasterParseReport(count, len(parsed), skipped, examples)
    columns = list(zip(*parsed, strict=True)) if parsed else [() for _ in _FIELDS]
    return columns, report


class MasterFormatError(ValueError):
    """The master as a whole is unusable (not JSON, not an array, no valid row)."""


def parse_master(raw: bytes | str) -> tuple[list[Instrument], MasterParseReport]:
    """Parse the bytes of ``OpenAPIScripMaster.json``.

    Raises :class:`MasterFormatError` when the document is not a JSON array or yields no instrument
    (for instance an HTML error page instead of the file).
    """
    columns, report = _parse_master_columns(raw)
    return _build_instruments([(column, None) for column in columns]), report


def _parse_master_columns(raw: bytes | str) -> tuple[list[tuple[Any, ...]], MasterParseReport]:
    try:
        rows = json.loads(raw)
    except ValueError as error:
        head = raw[:80] if isinstance(raw, str) else raw[:80].decode("utf-8", "replace")
        raise MasterFormatError(
            f"instrument master is not JSON ({error}); it starts with {head!r}"
        ) from None
    if not isinstance(rows, list):
        raise MasterFormatError(
            f"instrument master must be a JSON array of rows, got a {type(rows).__name__}"
        )
    columns, report = _parse_columns(rows)
    if not report.parsed:
        reasons = ", ".join(f"{reason} x{n}" for reason, n in report.skipped.items()) or "no rows"
        raise MasterFormatError(f"instrument master has no usable row ({reasons})")
    return columns, report


# ---------------------------------------------------------------------------------------------
# Fast cache: instruments as columns, plus the built index

_CACHE_MAGIC: Final = b"cockpit/angelone-instrument-master\n"
_CACHE_FORMAT: Final = 1
_RAW_PREFIX: Final = "OpenAPIScripMaster-"
_CACHE_PREFIX: Final = "instruments-"


def _fingerprint() -> str:
    """Changes whenever the code that defines the cached objects changes."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{','.join(_FIELDS)}".encode())
    for module in (engine.models, engine.instruments):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


Columns = list[tuple[Sequence[Any], "array[int] | None"]]
"""Per Instrument field: (values, None), or (distinct values, codes indexing them)."""


def _encode_columns(columns: Sequence[Sequence[Any]]) -> Columns:
    """Dictionary-encode the columns whose values repeat (all but tokens and symbols, in practice).

    Repeated values then load as one shared object each, which is faster and smaller.
    """
    encoded: Columns = []
    for values in columns:
        distinct = list(dict.fromkeys(values))
        if len(distinct) * 4 <= len(values) and len(distinct) < 2**32:
            position = {value: i for i, value in enumerate(distinct)}
            encoded.append((distinct, array("I", map(position.__getitem__, values))))
        else:
            encoded.append((list(values), None))
    return encoded


def _build_instruments(
    columns: Sequence[tuple[Sequence[Any], array[int] | None]],
) -> list[Instrument]:
    """Instruments from columns, built a column at a time.

    Each slot is set with its slot descriptor, which is what a frozen dataclass's own ``__init__``
    does through ``object.__setattr__``; a column at a time this runs in C and is two to three
    times faster than calling ``Instrument(...)`` per row. Every field is set (checked), so the
    objects equal ones made by ``Instrument(...)``.
    """
    if len(columns) != len(_FIELDS):
        raise ValueError(f"{len(columns)} instrument columns, expected {len(_FIELDS)}")
    lengths = {len(values if codes is None else codes) for values, codes in columns}
    if len(lengths) != 1:
        raise ValueError(f"instrument columns have different lengths {sorted(lengths)}")
    instruments = list(map(object.__new__, repeat(Instrument, lengths.pop())))
    for setter, (values, codes) in zip(_SETTERS, columns, strict=True):
        column = values if codes is None else map(values.__getitem__, codes)
        deque(map(setter, instruments, column), maxlen=0)
    return instruments


class _InstrumentTable(list[Instrument]):
    """The list pickled as columns; each Instrument is pickled as its position in it."""


def _dump_cache(
    path: Path, day: date, report: MasterParseReport, columns: Sequence[Sequence[Any]],
    instruments: list[Instrument], index: InstrumentIndex,
) -> None:  # fmt: skip
    """Write the fast cache atomically: magic, header pickle, then (table, index) pickle.

    ``columns`` are the field values ``instruments`` were built from.
    """
    table = _InstrumentTable(instruments)
    positions = {id(inst): i for i, inst in enumerate(table)}
    encoded = _encode_columns(columns)

    def instrument_reducer(inst: Instrument) -> tuple[Any, ...]:
        return operator.getitem, (table, positions[id(inst)])

    def table_reducer(_: _InstrumentTable) -> tuple[Any, ...]:
        return _build_instruments, (encoded,)

    header = {
        "fingerprint": _fingerprint(),
        "day": day.isoformat(),
        "rows": report.rows,
        "parsed": report.parsed,
        "skipped": dict(report.skipped),
        "examples": dict(report.examples),
        "instruments": len(table),
    }
    buffer = io.BytesIO()
    buffer.write(_CACHE_MAGIC)
    pickle.dump(header, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    body_start = buffer.tell()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {
        **copyreg.dispatch_table,
        Instrument: instrument_reducer,
        _InstrumentTable: table_reducer,
    }
    try:
        pickler.dump((table, index))
    except (pickle.PicklingError, TypeError, AttributeError, KeyError):
        # the index holds something pickle cannot store: cache the instruments only
        buffer.seek(body_start)
        buffer.truncate()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = {
            **copyreg.dispatch_table,
            _InstrumentTable: table_reducer,
        }
        pickler.dump((table, None))
    _write_atomic(path, buffer.getbuffer())


def _load_cache(path: Path, day: date) -> tuple[InstrumentIndex, MasterParseReport] | None:
    """The index and report from a fast cache of ``day``; ``None`` when absent, stale or broken."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_CACHE_MAGIC):
        return None
    try:
        stream = io.BytesIO(data)
        stream.seek(len(_CACHE_MAGIC))
        header = pickle.load(stream)
        if (
            not isinstance(header, dict)
            or header.get("fingerprint") != _fingerprint()
            or header.get("day") != day.isoformat()
        ):
            return None
        table, index = pickle.loads(memoryview(data)[stream.tell() :])
        if not isinstance(table, list) or len(table) != header["instruments"]:
            return None
        if index is None:
            index = InstrumentIndex(table)
        if not isinstance(index, InstrumentIndex) or len(index) != len(table):
            return None
        report = MasterParseReport(
            header["rows"], header["parsed"], header["skipped"], header["examples"]
        )
    except Exception:  # a truncated or foreign file is rebuilt from the raw JSON, never trusted
        return None
    return index, report


def _write_atomic(path: Path, data: bytes | memoryview) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The cache


@dataclass(frozen=True, slots=True)
class _BuiltMaster:
    """A parsed and indexed master, with the columns its instruments were built from."""

    columns: list[tuple[Any, ...]]
    report: MasterParseReport
    instruments: list[Instrument]
    index: InstrumentIndex

    @classmethod
    def from_raw(cls, raw: bytes) -> _BuiltMaster:
        columns, report = _parse_master_columns(raw)
        instruments = _build_instruments([(column, None) for column in columns])
        return cls(columns, report, instruments, InstrumentIndex(instruments))


class MasterDownloadError(RuntimeError):
    """The master could not be downloaded or the download was unusable, and no fallback applied."""


@dataclass(frozen=True, slots=True)
class LoadedMaster:
    """A ready instrument index and where it came from.

    ``source`` is ``cache`` (fast cache), ``raw`` (the day's raw JSON, re-parsed) or ``download``.
    ``stale`` is True when today's download failed and an earlier day's master was loaded instead;
    ``download_error`` then says why. ``day`` is the IST day the master was downloaded.
    """

    index: InstrumentIndex
    report: MasterParseReport
    day: date
    source: Literal["cache", "raw", "download"]
    stale: bool = False
    download_error: str | None = None


Fetch = Callable[[], bytes | Awaitable[bytes]]
"""Downloads the master's raw bytes: a plain function or a coroutine function."""


class MasterCache:
    """Instrument master files in ``directory``: raw JSON and fast cache, one IST day at a time.

    ``load_or_download(fetch, today)`` returns today's index: from the fast cache when today's is
    there, else from today's raw JSON, else by calling ``fetch`` (at most once per IST day, counting
    only successful downloads). A failed download falls back to the newest earlier day's master
    (``stale=True``) unless ``allow_stale=False``. Every load ends with ``gc.freeze()``: the index
    is long-lived, so the collector stops scanning its ~2 million objects.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    # -- paths ------------------------------------------------------------------------------

    def raw_path(self, day: date) -> Path:
        """Where the raw JSON of ``day`` is kept."""
        return self.directory / f"{_RAW_PREFIX}{day.isoformat()}.json"

    def cache_path(self, day: date) -> Path:
        """Where the fast cache of ``day`` is kept."""
        return self.directory / f"{_CACHE_PREFIX}{day.isoformat()}.pickle"

    def days_on_disk(self) -> list[date]:
        """Days with a raw master on disk, newest first."""
        days: list[date] = []
        if not self.directory.is_dir():
            return days
        for path in self.directory.glob(f"{_RAW_PREFIX}*.json"):
            try:
                days.append(date.fromisoformat(path.stem[len(_RAW_PREFIX) :]))
            except ValueError:
                continue
        return sorted(days, reverse=True)

    # -- loading ----------------------------------------------------------------------------

    async def load_or_download(
        self, fetch: Fetch, today: date, *, allow_stale: bool = True
    ) -> LoadedMaster:
        """Today's index, downloading with ``fetch`` only when no master of ``today`` is on disk.

        Disk and CPU work runs in a worker thread; a plain ``fetch`` function does too, a coroutine
        function is awaited on the loop.
        """
        loaded = await asyncio.to_thread(self._load_day, today)
        if loaded is None:
            try:
                if inspect.iscoroutinefunction(fetch):
                    data = await fetch()
                else:
                    data = await asyncio.to_thread(fetch)
                    if inspect.isawaitable(data):
                        data = await data
                loaded = await asyncio.to_thread(self._store_download, data, today)
            except Exception as error:
                loaded = await asyncio.to_thread(self._fallback, error, today, allow_stale)
        gc.freeze()
        return loaded

    def load_or_download_sync(
        self, fetch: Callable[[], bytes], today: date, *, allow_stale: bool = True
    ) -> LoadedMaster:
        """:meth:`load_or_download` for a plain ``fetch`` function, on the calling thread."""
        loaded = self._load_day(today)
        if loaded is None:
            try:
                loaded = self._store_download(fetch(), today)
            except Exception as error:
                loaded = self._fallback(error, today, allow_stale)
        gc.freeze()
        return loaded

    def _load_day(self, day: date) -> LoadedMaster | None:
        """The master of ``day`` from disk (fast cache, else raw JSON), or ``None``."""
        collecting = gc.isenabled()
        gc.disable()  # millions of new long-lived objects: generational passes are pure waste
        try:
            cached = _load_cache(self.cache_path(day), day)
            if cached is not None:
                return LoadedMaster(cached[0], cached[1], day, "cache")
            try:
                raw = self.raw_path(day).read_bytes()
            except OSError:
                return None
            try:
                built = _BuiltMaster.from_raw(raw)
            except MasterFormatError:
                return None
            self._write_cache(day, built)
            return LoadedMaster(built.index, built.report, day, "raw")
        finally:
            if collecting:
                gc.enable()

    def _store_download(self, data: object, today: date) -> LoadedMaster:
        """Validate downloaded bytes, keep them with a fast cache, and drop older days."""
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        if not isinstance(data, bytes | str):
            raise MasterDownloadError(
                f"fetch returned a {type(data).__name__}; it must return the file's bytes"
            )
        raw = data.encode() if isinstance(data, str) else data
        collecting = gc.isenabled()
        gc.disable()
        try:
            try:
                built = _BuiltMaster.from_raw(raw)
            except MasterFormatError as error:
                raise MasterDownloadError(f"downloaded master is unusable: {error}") from None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                _write_atomic(self.raw_path(today), raw)
            except OSError:
                pass  # unwritable cache dir: the master is still good; tomorrow starts slower
            else:
                self._write_cache(today, built)
                self._remove_other_days(today)
            return LoadedMaster(built.index, built.report, today, "download")
        finally:
            if collecting:
                gc.enable()

    def _write_cache(self, day: date, built: _BuiltMaster) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _dump_cache(
                self.cache_path(day), day, built.report, built.columns, built.instruments,
                built.index,
            )  # fmt: skip
        except OSError:
            pass  # a read-only or full cache dir costs speed next time, not correctness

    def _fallback(self, error: Exception, today: date, allow_stale: bool) -> LoadedMaster:
        reason = f"{type(error).__name__}: {error}"
        if allow_stale:
            for day in self.days_on_disk():
                if day >= today:
                    continue
                loaded = self._load_day(day)
                if loaded is not None:
                    return LoadedMaster(
                        loaded.index, loaded.report, day, loaded.source, True, reason
                    )
        raise MasterDownloadError(
            f"could not download the instrument master for {today.isoformat()} ({reason})"
            + ("" if allow_stale else "; stale masters not allowed")
            + ("" if not allow_stale or self.days_on_disk() else "; no earlier master on disk")
        ) from error

    def _remove_other_days(self, keep: date) -> None:
        for pattern in (f"{_RAW_PREFIX}*.json", f"{_CACHE_PREFIX}*.pickle"):
            for path in self.directory.glob(pattern):
                if keep.isoformat() not in path.name:
                    path.unlink(missing_ok=True)
