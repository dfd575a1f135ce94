"""Recording the Angel One feed from the fake websocket server and replaying it."""

from __future__ import annotations

import asyncio
import gc
import io
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.angelone.decoder import FeedDecoder
from brokers.angelone.feed import AngelMarketFeed, FeedMode, WsCredentials
from brokers.angelone.master import parse_rows
from cockpit.doctor import FeedTarget, resolve_symbols
from cockpit.recording import (
    MAGIC,
    FeedRecorder,
    RecordingDecoder,
    RecordingFormatError,
    RecordingHeader,
    ReplayFeed,
    instrument_from_json,
    instrument_to_json,
    record,
    record_command,
)
from engine.instruments import InstrumentIndex
from engine.models import MarketEvent, Quote
from tests.brokers.fake_angel_ws import FakeAngelWs, FakeTokens, packet
from tests.cockpit.test_doctor import MASTER_ROWS, live

TOKENS = FakeTokens(
    jwt="eyJhbGciOiJIUzUxMiJ9.recordJwtPayload.recordSig99",
    feed_token="recFeedToken0451",
    api_key="recApiKey7788",
    client_code="R1234567",
)


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()


def credentials() -> WsCredentials:
    """What the fake websocket accepts."""
    return WsCredentials(TOKENS.jwt, TOKENS.feed_token, TOKENS.api_key, TOKENS.client_code)


def targets() -> list[FeedTarget]:
    """SBIN and the NIFTY 50 index, resolved through a master."""
    instruments, _ = parse_rows(MASTER_ROWS)
    found, problems = resolve_symbols(["SBIN", "99926000"], InstrumentIndex(instruments))
    assert problems == []
    return found


async def record_live(path: Path, seconds: float, mode: FeedMode) -> list[Quote]:
    """Record from the fake for ``seconds``; returns the quotes the live decoder produced."""
    live_quotes: list[Quote] = []
    async with FakeAngelWs(TOKENS, tick_interval_s=0.01) as fake:
        stop = asyncio.Event()

        count = await record(
            path,
            feed_url=fake.feed_url,
            provider=credentials,
            targets=targets(),
            stop=stop,
            mode=mode,
            flush_every_s=0.2,
            seconds=seconds,
            feed_options={"heartbeat_s": 5.0},
            on_quote=live_quotes.append,
        )
        assert fake.feed_connections, "the recorder never connected"
    assert count == len(live_quotes) > 0
    return live_quotes


async def replay_all(path: Path, speed: float | None) -> tuple[list[Quote], ReplayFeed]:
    feed = ReplayFeed(path, speed=speed)
    got: list[MarketEvent] = []
    await feed.run(got.append, asyncio.Event())
    quotes = [q for q in got if isinstance(q, Quote)]
    assert len(quotes) == len(got)
    return quotes, feed


async def test_record_then_replay_at_max_speed_and_10x_gives_the_same_quotes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feed.rec"
    recorded = await record_live(path, 1.0, FeedMode.SNAP_QUOTE)
    tokens = {q.token for q in recorded}
    assert tokens == {"3045", "99926000"}
    assert all(q.bids and q.asks for q in recorded)  # SnapQuote depth came through

    fast, feed = await replay_all(path, None)
    assert fast == recorded  # same quotes (ts included), same order
    assert feed.stats.records == len(recorded) and feed.stats.truncated_bytes == 0
    assert set(feed.instruments()) == {"3045", "99926000"}
    assert feed.instruments()["3045"].symbol == "SBIN-EQ"
    assert feed.clock.now_ns() == recorded[-1].ts

    span_s = (recorded[-1].ts - recorded[0].ts) / 1e9
    started = time.monotonic()
    tenfold, _ = await replay_all(path, 10.0)
    elapsed = time.monotonic() - started
    assert tenfold == recorded
    assert elapsed >= span_s / 10 * 0.8  # paced, not as fast as possible


async def test_replay_at_1x_keeps_the_original_timing(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    base = 1_700_000_000_000_000_000
    header = RecordingHeader(base, "ws://test", {1: 1}, ((1, "3045", 1),), {})
    recorder = FeedRecorder.create(path, header)
    for i in range(5):
        recorder.append(base + i * 100_000_000, packet(1, 1, "3045", i + 1))  # every 100 ms
    recorder.close()
    feed = ReplayFeed(path, speed=1.0)
    arrivals: list[float] = []
    await feed.run(lambda _e: arrivals.append(time.monotonic()), asyncio.Event())
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] >= 0.38  # 400 ms of recorded time


async def test_truncated_tail_is_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    recorded = await record_live(path, 0.3, FeedMode.QUOTE)
    data = path.read_bytes()
    cut = tmp_path / "cut.rec"
    cut.write_bytes(data[:-7])  # the last record loses its last 7 bytes
    quotes, feed = await replay_all(cut, None)
    assert quotes == recorded[:-1]
    assert feed.stats.truncated_bytes > 0 and feed.stats.corrupt_bytes == 0
    # A header-only file replays nothing; a cut record header is counted too.
    header_end = len(data) - sum(len(p) + 12 for _ts, p in ReplayFeed(path).records())
    for extra in (0, 5):
        short = tmp_path / f"short{extra}.rec"
        short.write_bytes(data[: header_end + extra])
        quotes, feed = await replay_all(short, None)
        assert quotes == [] and feed.stats.truncated_bytes == extra


async def test_damaged_record_length_stops_the_replay_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    header = RecordingHeader(1, "ws://test", {1: 1}, (), {})
    recorder = FeedRecorder.create(path, header)
    recorder.append(10, packet(1, 1, "3045", 1))
    recorder.close()
    with path.open("ab") as stream:
        stream.write(struct.pack("<Iq", 10_000_000, 11) + b"garbage")
    quotes, feed = await replay_all(path, None)
    assert [q.ltp for q in quotes] == [100_001]
    assert feed.stats.corrupt_bytes == 12 + len(b"garbage")


async def test_malformed_packets_replay_as_they_were_dropped_live(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    recorder = FeedRecorder.create(path, RecordingHeader(1, "ws://t", {1: 1}, (), {}))
    live_decoder = RecordingDecoder(recorder)
    frames = [
        packet(2, 1, "3045", 1),
        b"\x02\x01short",
        packet(2, 1, "3045", 2)[:-3],
        packet(2, 1, "3045", 3),
    ]
    live = [live_decoder.decode(f) for f in frames]
    recorder.close()
    quotes, feed = await replay_all(path, None)
    assert quotes == [q for q in live if q is not None]
    assert feed.stats.dropped == 2
    assert feed.decoder.stats.dropped == live_decoder.stats.dropped


async def test_stop_ends_a_replay_early(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    recorder = FeedRecorder.create(path, RecordingHeader(0, "ws://t", {1: 1}, (), {}))
    for i in range(100):
        recorder.append(i * 1_000_000_000, packet(1, 1, "3045", i + 1))  # one a second
    recorder.close()
    feed = ReplayFeed(path, speed=1.0)
    stop = asyncio.Event()
    got: list[MarketEvent] = []
    task = asyncio.create_task(feed.run(got.append, stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 2.0)
    assert len(got) == 1


def test_not_a_recording_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "other.bin"
    path.write_bytes(b"hello world, not a recording")
    with pytest.raises(RecordingFormatError, match="not a cockpit feed recording"):
        ReplayFeed(path)
    path.write_bytes(MAGIC + struct.pack("<HI", 9, 2) + b"{}")
    with pytest.raises(RecordingFormatError, match="version 9"):
        ReplayFeed(path)
    with pytest.raises(ValueError, match="speed"):
        ReplayFeed(path, speed=0)


def test_recordings_are_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "feed.rec"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="never overwritten"):
        FeedRecorder.create(path, RecordingHeader(0, "ws://t", {}, (), {}))
    assert path.read_bytes() == b"precious"


def test_instrument_json_round_trip() -> None:
    instruments, _ = parse_rows(
        [
            *MASTER_ROWS,
            {
                "token": "43210",
                "symbol": "NIFTY27MAR2522500CE",
                "name": "NIFTY",
                "expiry": "27MAR2025",
                "strike": "2250000.000000",
                "lotsize": "75",
                "instrumenttype": "OPTIDX",
                "exch_seg": "NFO",
                "tick_size": "5.000000",
            },
        ]
    )
    for instrument in instruments:
        assert instrument_from_json(instrument_to_json(instrument)) == instrument
    with pytest.raises(RecordingFormatError, match="unreadable"):
        instrument_from_json({"token": "1"})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**62), st.binary(max_size=400)), max_size=30),
    st.integers(0, 50),
)
def test_any_records_read_back_and_any_cut_is_safe(
    records: list[tuple[int, bytes]], cut: int
) -> None:
    """Whatever was appended reads back in order; cutting the file anywhere after the header
    loses only the cut record, counted as truncated."""
    buffer = io.BytesIO()
    header = RecordingHeader(0, "ws://t", {1: 1}, (), {})
    buffer.write(header.to_bytes())
    recorder = FeedRecorder(buffer)
    for ts, payload in records:
        recorder.append(ts, payload)
    recorder.flush()
    data = buffer.getvalue()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.rec"
        path.write_bytes(data)
        assert list(ReplayFeed(path).records()) == records
        end = max(len(header.to_bytes()), len(data) - cut)
        path.write_bytes(data[:end])
        feed = ReplayFeed(path)
        got = list(feed.records())
        assert got == records[: len(got)]
        kept = len(header.to_bytes()) + sum(12 + len(p) for _t, p in got)
        assert feed.stats.truncated_bytes == end - kept


async def test_record_command_end_to_end(tmp_path: Path) -> None:
    """Login through the fake REST server, master download, record, replay."""
    async with live(tmp_path) as env:
        from cockpit.config import load_config

        config = load_config(None, env.env)
        out = io.StringIO()
        path = tmp_path / "session.rec"
        code = await record_command(
            path,
            config,
            env.paths,
            symbols=["SBIN", "NSE:RELIANCE-EQ"],
            out=out,
            seconds=0.5,
            env=env.env,
            keyring=None,
            flush_every_s=0.1,
        )
        secrets = env.secrets()
    assert code == 0, out.getvalue()
    assert "Recording NSE:SBIN-EQ (3045), NSE:RELIANCE-EQ (2885)" in out.getvalue()
    quotes, feed = await replay_all(path, None)
    assert {q.token for q in quotes} == {"3045", "2885"}
    assert feed.header.subscriptions == ((1, "3045", 3), (1, "2885", 3))
    raw = path.read_bytes()
    for secret in secrets:
        assert secret.encode() not in raw and secret not in out.getvalue()
    again = io.StringIO()
    assert await record_command(path, config, env.paths, symbols=["SBIN"], out=again) == 2
    assert "already exists" in again.getvalue()


async def test_record_command_without_credentials_names_the_variables(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        from cockpit.config import load_config

        config = load_config(None, env.env)
        del env.env["COCKPIT_ANGEL_PIN"]
        out = io.StringIO()
        code = await record_command(
            tmp_path / "x.rec",
            config,
            env.paths,
            symbols=["SBIN"],
            out=out,
            env=env.env,
            keyring=None,
        )
    assert code == 1
    assert "COCKPIT_ANGEL_PIN" in out.getvalue()
    assert not (tmp_path / "x.rec").exists()


def test_recording_decoder_is_a_feed_decoder() -> None:
    """The live feed takes it where it takes a FeedDecoder."""
    recorder = FeedRecorder(io.BytesIO())
    decoder = RecordingDecoder(recorder)
    assert isinstance(decoder, FeedDecoder)
    AngelMarketFeed("ws://127.0.0.1:1/x", credentials, decoder, on_quote=lambda _q: None)
    quote = decoder.decode(packet(1, 1, "3045", 5))
    assert quote is not None and quote.ltp == 100_005 and recorder.records == 1
