"""Record the live Angel One feed to a file, and replay it through the same decode pipeline.

``cockpit record FILE --symbols ...`` (:func:`run_record`) logs in, subscribes the symbols on the
SmartWebSocketV2 market feed (:class:`~brokers.angelone.feed.AngelMarketFeed`) and appends every
binary frame the feed receives, exactly as it arrived, to ``FILE``. ``cockpit --paper --replay
FILE`` plays it back with :class:`ReplayFeed`, which decodes the recorded packets with the same
:class:`~brokers.angelone.decoder.FeedDecoder` the live feed uses and publishes the resulting
quotes at the original pace (``speed=1``), faster (``speed=10``) or as fast as possible
(``speed=None``).

File format (version 1; all integers little-endian)::

    offset  size  field
    0       8     magic b"CKPTFEED"
    8       2     format version (u16) = 1
    10      4     header length H (u32)
    14      H     header: UTF-8 JSON object (below)
    14+H    ...   records, each: u32 packet length N | i64 receive time (ns since the epoch)
                                 | N bytes: the binary frame as received from the feed

The header holds ``format`` (``"cockpit-angel-feed"``), ``version``, ``created_ns``,
``source`` (the feed URL: no credential is ever written), ``price_multipliers`` (exchange type ->
the decoder's wire-price multiplier, so replays decode exactly as recorded), ``subscriptions``
(``[exchange_type, token, mode]`` lists) and ``instruments``: token -> the instrument's fields
(``engine.models.Instrument``: enums by value, ``expiry`` as an ISO date).

The record is append-only: the header is written once and records are appended and flushed to
the OS every ``flush_every_s`` (default 1 s) and when recording stops, so stopping with Ctrl+C
(or a crash) loses at most the last second. A record cut short at the end of the file (the last
write of a killed recorder) is counted in :attr:`ReplayStats.truncated_bytes` and skipped; it
never stops the records before it from replaying. A length above :data:`MAX_PACKET` means the
file is damaged from there on: the rest is counted in ``corrupt_bytes`` and skipped.

Only binary frames are recorded (text frames are ``pong`` and error frames). Malformed packets are
recorded too, so the replay's decoder counts them exactly as the live one did. Replayed quotes
carry the recorded receive time in ``Quote.ts`` (the decoder is driven by :attr:`ReplayFeed.clock`,
which moves to each record's time), so a replay produces the very quotes the live feed produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, Literal, TextIO

from brokers.angelone.auth import ENV_VARS, AngelCredentials
from brokers.angelone.decoder import DEFAULT_PRICE_MULTIPLIERS, FeedDecoder
from brokers.angelone.errors import AngelError
from brokers.angelone.feed import AngelMarketFeed, FeedMode, FeedStatus, WsCredentials
from brokers.angelone.master import MasterDownloadError
from brokers.angelone.rest import AngelRestClient
from cockpit.config import CockpitConfig
from cockpit.doctor import (
    FeedTarget,
    load_master,
    resolve_symbols,
    scan_credentials,
    ws_credentials,
)
from cockpit.login import KeyringBackend, system_keyring
from cockpit.paths import AppPaths
from engine.clock import NS_PER_SECOND, Clock, WallClock
from engine.models import Exchange, Instrument, InstrumentType, MarketEvent, OptionKind, Quote
from engine.redaction import redact

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_PACKET",
    "FeedRecorder",
    "RecordingDecoder",
    "RecordingFormatError",
    "RecordingHeader",
    "ReplayFeed",
    "ReplayStats",
    "instrument_from_json",
    "instrument_to_json",
    "read_header",
    "record",
    "run_record",
]

log = logging.getLogger(__name__)

MAGIC: Final = b"CKPTFEED"
FORMAT_NAME: Final = "cockpit-angel-feed"
FORMAT_VERSION: Final = 1
MAX_PACKET: Final = 65_536
"""Longest packet a record may hold (Angel's largest, Depth-20, is 443 bytes)."""

_PREAMBLE: Final = struct.Struct("<8sHI")
_RECORD: Final = struct.Struct("<Iq")
_MAX_HEADER: Final = 64 * 1024 * 1024
_READ_CHUNK: Final = 1 << 20


class RecordingFormatError(ValueError):
    """The file is not a cockpit feed recording (or not one this version reads)."""


# ---------------------------------------------------------------------------------------------
# Instruments <-> JSON


def instrument_to_json(instrument: Instrument) -> dict[str, Any]:
    """An instrument's fields as JSON values (enums by value, dates ISO)."""
    out: dict[str, Any] = {}
    for item in fields(instrument):
        value = getattr(instrument, item.name)
        if isinstance(value, Exchange | InstrumentType | OptionKind):
            value = value.value
        elif isinstance(value, date):
            value = value.isoformat()
        out[item.name] = value
    return out


def instrument_from_json(data: Mapping[str, Any]) -> Instrument:
    """The inverse of :func:`instrument_to_json`; raises :class:`RecordingFormatError`."""
    try:
        values = dict(data)
        values["exchange"] = Exchange(values["exchange"])
        values["instrument_type"] = InstrumentType(values["instrument_type"])
        if values.get("option_kind") is not None:
            values["option_kind"] = OptionKind(values["option_kind"])
        if values.get("expiry") is not None:
            values["expiry"] = date.fromisoformat(values["expiry"])
        return Instrument(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingFormatError(f"an instrument in the header is unreadable: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Header


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """What the file's header says (see the module docstring)."""

    created_ns: int
    source: str
    price_multipliers: Mapping[int, int]
    subscriptions: tuple[tuple[int, str, int], ...]
    instruments: Mapping[str, Instrument]

    def to_bytes(self) -> bytes:
        """The preamble and the JSON header, ready to be written at the start of a file."""
        body = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "created_ns": self.created_ns,
            "source": self.source,
            "price_multipliers": {str(k): v for k, v in sorted(self.price_multipliers.items())},
            "subscriptions": [list(s) for s in self.subscriptions],
            "instruments": {t: instrument_to_json(i) for t, i in self.instruments.items()},
        }
        text = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(text)) + text


def read_header(stream: BinaryIO, name: str = "recording") -> RecordingHeader:
    """Read the preamble and header from ``stream`` (left positioned at the first record)."""
    preamble = stream.read(_PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size or not preamble.startswith(MAGIC):
        raise RecordingFormatError(
            f"{name} is not a cockpit feed recording (it does not start with {MAGIC!r}); make "
            "one with `cockpit record FILE --symbols ...`"
        )
    _magic, version, length = _PREAMBLE.unpack(preamble)
    if version != FORMAT_VERSION:
        raise RecordingFormatError(
            f"{name} is a version {version} recording; this cockpit reads version "
            f"{FORMAT_VERSION} (record it again, or use the cockpit that wrote it)"
        )
    if length > _MAX_HEADER:
        raise RecordingFormatError(f"{name}: header length {length} is implausible (damaged)")
    raw = stream.read(length)
    if len(raw) < length:
        raise RecordingFormatError(f"{name}: the header is cut short (the file is damaged)")
    try:
        body = json.loads(raw.decode("utf-8"))
        if body.get("format") != FORMAT_NAME:
            raise RecordingFormatError(
                f"{name}: header format is {body.get('format')!r}, expected {FORMAT_NAME!r}"
            )
        multipliers = {int(k): int(v) for k, v in body["price_multipliers"].items()}
        subscriptions = tuple((int(e), str(t), int(m)) for e, t, m in body["subscriptions"])
        instruments = {str(t): instrument_from_json(v) for t, v in body["instruments"].items()}
        return RecordingHeader(
            int(body["created_ns"]), str(body["source"]), multipliers, subscriptions, instruments
        )
    except RecordingFormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordingFormatError(f"{name}: the header is unreadable ({exc})") from None


# ---------------------------------------------------------------------------------------------
# Recording


class FeedRecorder:
    """Appends records to an open file; flushes to the OS when asked (the caller's timer).

    Use :meth:`create` to start a new file with its header. Not thread-safe: one feed, one loop.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self.records = 0
        self.bytes_written = 0

    @classmethod
    def create(cls, path: Path, header: RecordingHeader) -> FeedRecorder:
        """A new file at ``path`` (refuses to overwrite one) with ``header`` written."""
        try:
            stream = path.open("xb")
        except FileExistsError:
            raise FileExistsError(
                f"{path} already exists; record to a new file (recordings are never overwritten)"
            ) from None
        stream.write(header.to_bytes())
        stream.flush()
        return cls(stream)

    def append(self, ts_ns: int, packet: bytes | bytearray | memoryview) -> None:
        """Buffer one record (written at the next :meth:`flush`)."""
        size = len(packet)
        if size > MAX_PACKET:
            log.warning("packet of %d bytes not recorded (longer than %d)", size, MAX_PACKET)
            return
        self._buffer += _RECORD.pack(size, ts_ns)
        self._buffer += packet
        self.records += 1

    def flush(self) -> None:
        """Write the buffered records and hand them to the OS."""
        if self._buffer:
            self._stream.write(self._buffer)
            self.bytes_written += len(self._buffer)
            self._buffer.clear()
        self._stream.flush()

    def close(self) -> None:
        """Flush, fsync and close the file."""
        try:
            self.flush()
            with contextlib.suppress(OSError, io.UnsupportedOperation):
                os.fsync(self._stream.fileno())
        finally:
            self._stream.close()


class _PinnedClock:
    """A clock that reports the time it was last pinned to (the decoder stamps with it)."""

    def __init__(self) -> None:
        self.ts = 0

    def now_ns(self) -> int:
        return self.ts


class RecordingDecoder(FeedDecoder):
    """A :class:`FeedDecoder` that appends every packet it is given to a :class:`FeedRecorder`.

    The receive time is read once from ``clock`` per packet, recorded, and used as the quote's
    ``ts``, so a replay of the file decodes to identical quotes.
    """

    __slots__ = ("_pin", "_recorder", "_wall")

    def __init__(
        self,
        recorder: FeedRecorder,
        clock: Clock | None = None,
        price_multipliers: Mapping[int, int] | None = None,
    ) -> None:
        pin = _PinnedClock()
        super().__init__(price_multipliers, clock=pin)
        self._pin = pin
        self._recorder = recorder
        self._wall: Clock = clock if clock is not None else WallClock()

    def decode(self, packet: bytes | bytearray | memoryview) -> Quote | None:
        """Record ``packet`` with its receive time, then decode it."""
        ts = self._wall.now_ns()
        self._pin.ts = ts
        self._recorder.append(ts, packet)
        return super().decode(packet)


async def record(
    path: Path,
    *,
    feed_url: str,
    provider: Callable[[], WsCredentials],
    targets: Sequence[FeedTarget],
    stop: asyncio.Event,
    mode: FeedMode = FeedMode.SNAP_QUOTE,
    flush_every_s: float = 1.0,
    seconds: float | None = None,
    on_progress: Callable[[int, FeedStatus], None] | None = None,
    on_quote: Callable[[Quote], None] | None = None,
    feed_options: Mapping[str, Any] | None = None,
) -> int:
    """Record ``targets`` from the feed at ``feed_url`` into a new file at ``path`` until ``stop``
    is set (or ``seconds`` have passed); returns the number of records written.

    ``on_progress(records, status)`` is called after every flush; ``on_quote`` gets every
    quote the live decoder produced (the replay produces the same ones); ``feed_options`` go to
    :class:`~brokers.angelone.feed.AngelMarketFeed`.
    """
    if not flush_every_s > 0:
        raise ValueError(f"flush_every_s must be positive seconds, got {flush_every_s}")
    if not targets:
        raise ValueError("nothing to record: give at least one symbol")
    instruments = {t.token: t.instrument for t in targets if t.instrument is not None}
    header = RecordingHeader(
        created_ns=time.time_ns(),
        source=feed_url,
        price_multipliers=dict(DEFAULT_PRICE_MULTIPLIERS),
        subscriptions=tuple((t.exchange_type, t.token, int(mode)) for t in targets),
        instruments=instruments,
    )
    recorder = FeedRecorder.create(path, header)
    try:
        decoder = RecordingDecoder(recorder, WallClock(), header.price_multipliers)
        feed = AngelMarketFeed(
            feed_url,
            provider,
            decoder,
            on_quote=on_quote or (lambda _quote: None),
            clock=WallClock(),
            **dict(feed_options or {}),
        )
        for target in targets:
            feed.subscribe(target.exchange_type, target.token, mode)
        task = asyncio.create_task(feed.run())
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        try:
            while not stop.is_set() and not task.done():
                wait = flush_every_s
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - loop.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                recorder.flush()
                if on_progress is not None:
                    on_progress(recorder.records, feed.status)
                if deadline is not None and loop.time() >= deadline:
                    break
        finally:
            await feed.stop()
            with contextlib.suppress(Exception):
                await task
        return recorder.records
    finally:
        recorder.close()


# ---------------------------------------------------------------------------------------------
# Replay


@dataclass(slots=True)
class ReplayStats:
    """What a replay read: records, quotes published, packets the decoder dropped (by reason in
    ``decoder.stats``), and bytes skipped at a cut-short tail or after damage."""

    records: int = 0
    published: int = 0
    dropped: int = 0
    truncated_bytes: int = 0
    corrupt_bytes: int = 0


class ReplayFeed:
    """Plays a recording back as market events (see the module docstring).

    ``speed``: 1.0 replays at the recorded pace, 10.0 ten times faster, ``None`` as fast as
    possible (yielding to the loop every ``batch`` records). :attr:`clock` follows the recorded
    time (a session replaying a file can use it as its clock). The header is read (and checked) on
    construction: a file that is not a recording raises :class:`RecordingFormatError`.
    """

    def __init__(self, path: Path | str, *, speed: float | None = 1.0, batch: int = 512) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"replay speed must be positive (1 = real time) or None, got {speed}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.path = Path(path)
        self.speed = speed
        self._batch = batch
        with self.path.open("rb") as stream:
            self.header = read_header(stream, str(self.path))
            self._data_start = stream.tell()
        self.clock = _ReplayClock(self.header.created_ns)
        self.decoder = FeedDecoder(self.header.price_multipliers, clock=self.clock)
        self.stats = ReplayStats()

    def instruments(self) -> dict[str, Instrument]:
        """The recorded instruments by token (from the header)."""
        return dict(self.header.instruments)

    def records(self) -> Iterator[tuple[int, bytes]]:
        """Every complete ``(receive ts ns, packet)`` in file order (a synchronous read; the
        truncated/corrupt counters of :attr:`stats` are updated as the end is reached)."""
        with self.path.open("rb") as stream:
            stream.seek(self._data_start)
            buffer = b""
            while True:
                chunk = stream.read(_READ_CHUNK)
                buffer += chunk
                parsed, buffer, damaged = self._split(buffer)
                yield from parsed
                if damaged or not chunk:
                    break
            self._tail(buffer, damaged, stream)

    async def run(self, publish: Callable[[MarketEvent], None], stop: asyncio.Event) -> None:
        """Decode and publish every recorded packet until the end or ``stop``."""
        loop = asyncio.get_running_loop()
        speed = self.speed
        first_ts: int | None = None
        wall0 = loop.time()
        since_yield = 0
        decode = self.decoder.decode
        stream = await asyncio.to_thread(self.path.open, "rb")
        try:
            await asyncio.to_thread(stream.seek, self._data_start)
            buffer = b""
            damaged = False
            while not stop.is_set():
                chunk = await asyncio.to_thread(stream.read, _READ_CHUNK)
                buffer += chunk
                parsed, buffer, damaged = self._split(buffer)
                for ts, packet in parsed:
                    if stop.is_set():
                        return
                    if first_ts is None:
                        first_ts = ts
                    if speed is not None:
                        due = wall0 + (ts - first_ts) / NS_PER_SECOND / speed
                        delay = due - loop.time()
                        if delay > 0.001:
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), delay)
                            if stop.is_set():
                                return
                            since_yield = 0
                    elif since_yield >= self._batch:
                        await asyncio.sleep(0)
                        since_yield = 0
                    since_yield += 1
                    self.clock.move_to(ts)
                    self.stats.records += 1
                    quote = decode(packet)
                    if quote is None:
                        self.stats.dropped += 1
                        continue
                    self.stats.published += 1
                    publish(quote)
                if damaged or not chunk:
                    break
            if not stop.is_set():
                self._tail(buffer, damaged, stream)
        finally:
            await asyncio.to_thread(stream.close)

    def _split(self, buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes, bool]:
        """Complete records from the front of ``buffer``; the rest; True when damage was found."""
        out: list[tuple[int, bytes]] = []
        offset = 0
        size = len(buffer)
        head = _RECORD.size
        while size - offset >= head:
            length, ts = _RECORD.unpack_from(buffer, offset)
            if length > MAX_PACKET:
                return out, buffer[offset:], True
            end = offset + head + length
            if end > size:
                break
            out.append((ts, buffer[offset + head : end]))
            offset = end
        return out, buffer[offset:], False

    def _tail(self, rest: bytes, damaged: bool, stream: IO[bytes]) -> None:
        """Count what is left after the last complete record."""
        if damaged:
            remaining = len(rest) + len(stream.read())
            self.stats.corrupt_bytes += remaining
            log.warning("%s: damaged record; %d bytes skipped", self.path, remaining)
        elif rest:
            self.stats.truncated_bytes += len(rest)
            log.warning("%s: last record cut short; %d bytes skipped", self.path, len(rest))


class _ReplayClock:
    """The recorded time: moves to each record's receive time, never backwards."""

    def __init__(self, start_ns: int) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        """The receive time of the record being replayed."""
        return self._now

    def move_to(self, ts_ns: int) -> None:
        """Move to ``ts_ns`` (ignored when it is earlier: the recorder's clock stepped back)."""
        if ts_ns > self._now:
            self._now = ts_ns


# ---------------------------------------------------------------------------------------------
# The command


async def record_command(
    path: Path,
    config: CockpitConfig,
    paths: AppPaths,
    *,
    symbols: Sequence[str],
    out: TextIO,
    seconds: float | None = None,
    mode: FeedMode = FeedMode.SNAP_QUOTE,
    env: Mapping[str, str] | None = None,
    keyring: KeyringBackend | Literal["system"] | None = "system",
    stop: asyncio.Event | None = None,
    flush_every_s: float = 1.0,
) -> int:
    """``cockpit record``: returns the exit code (0 recorded, 1 failed, 2 bad arguments).

    Logs in with the credentials from ``env``/``keyring``, loads the instrument master to resolve
    ``symbols``, and records until ``stop`` is set (Ctrl+C in :func:`run_record`) or ``seconds``.
    """
    if path.exists():
        print(f"{path} already exists; record to a new file.", file=out)
        return 2
    if not symbols:
        print("Give the symbols to record: --symbols SBIN NSE:RELIANCE-EQ 99926000", file=out)
        return 2
    environ = os.environ if env is None else env
    backend = system_keyring() if keyring == "system" else keyring
    scan = scan_credentials(environ, backend)
    if scan.missing:
        print(
            "Angel One credentials missing: "
            + ", ".join(ENV_VARS[m] for m in scan.missing)
            + ". Set the COCKPIT_ANGEL_* environment variables or run `cockpit login`; "
            "`cockpit doctor` explains what is wrong.",
            file=out,
        )
        return 1
    try:
        credentials = AngelCredentials(**scan.values)
    except AngelError as exc:
        print(redact(str(exc)), file=out)
        return 1
    try:
        loaded = await load_master(config, paths)
    except MasterDownloadError as exc:
        print(f"Instrument master unavailable: {redact(str(exc))}", file=out)
        return 1
    targets, problems = resolve_symbols(symbols, loaded.index)
    if problems:
        for problem in problems:
            print(problem, file=out)
        return 2
    rest = AngelRestClient(credentials, base_url=config.angelone.rest_url, timeout=10.0)
    try:
        try:
            session = await rest.login()
        except AngelError as exc:
            print(f"Login failed: {redact(str(exc))} (run `cockpit doctor` for the fix)", file=out)
            return 1

        def provider() -> WsCredentials:
            current = rest.session if rest.session is not None else session
            return ws_credentials(current, credentials)

        stopper = stop if stop is not None else asyncio.Event()
        labels = ", ".join(t.label for t in targets)
        print(f"Recording {labels} in {mode.name} mode to {path} (Ctrl+C stops) ...", file=out)

        seen: list[FeedStatus] = []

        def progress(records: int, status: FeedStatus) -> None:
            log.debug("recorded %d packets; feed %s", records, status.value)
            if not seen or seen[-1] is not status:
                seen.append(status)
                print(f"  feed {status.value}; {records} packets so far", file=out, flush=True)

        count = await record(
            path,
            feed_url=config.angelone.feed_url,
            provider=provider,
            targets=targets,
            stop=stopper,
            mode=mode,
            flush_every_s=flush_every_s,
            seconds=seconds,
            on_progress=progress,
        )
    finally:
        await rest.close()
    print(f"Recorded {count} packets to {path}.", file=out)
    if count == 0:
        print(
            "Nothing was recorded: the feed did not connect or sent no ticks (outside market "
            "hours Angel sends none). `cockpit doctor` checks the feed and says what to fix.",
            file=out,
        )
        return 1
    return 0


def run_record(
    path: Path,
    config: CockpitConfig,
    paths: AppPaths,
    *,
    symbols: Sequence[str],
    out: TextIO,
    seconds: float | None = None,
    mode: FeedMode = FeedMode.SNAP_QUOTE,
) -> int:
    """:func:`record_command` on a fresh loop; Ctrl+C (SIGINT) or SIGTERM stop it cleanly."""

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        return await record_command(
            path, config, paths, symbols=symbols, out=out, seconds=seconds, mode=mode, stop=stop
        )

    return asyncio.run(main())
