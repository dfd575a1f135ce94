"""Tests for the SmartWebSocketV2 binary decoder; smartapi-python's own parser is the oracle."""

from __future__ import annotations

import math
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.angelone.decoder import (
    DEPTH_20_PACKET_SIZE,
    EXCHANGE_TYPES,
    LTP_PACKET_SIZE,
    QUOTE_PACKET_SIZE,
    SNAP_QUOTE_PACKET_SIZE,
    FeedDecoder,
    FeedError,
    Pong,
    UnknownText,
    parse_text_frame,
)
from engine.clock import SimClock
from engine.models import DepthLevel, Quote
from tests.brokers.sdk_oracle import NetworkBlocked, load_sdk_parser, no_network

I64 = st.integers(-(2**63), 2**63 - 1)
QTY64 = st.integers(0, 2**63 - 1)
MS = st.integers(0, 4_102_444_800_000)  # epoch ms up to 2100
U16 = st.integers(0, 2**16 - 1)
I32_QTY = st.integers(0, 2**31 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)
I16_QTY = st.integers(0, 2**15 - 1)
# whole-number doubles, as the exchange's total buy/sell quantities are
TOTAL_QTY = st.one_of(
    st.integers(0, 2**53).map(float),
    st.integers(0, 62).map(lambda bits: float(2**bits)),
)
TOKEN = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=25
)
DIGIT_TOKEN = st.text(alphabet="0123456789", min_size=1, max_size=25)
EXCHANGE_TYPE = st.sampled_from(sorted(EXCHANGE_TYPES))

HEADER = struct.Struct("<BB25sqqq")
QUOTE_TAIL = struct.Struct("<qqqddqqqq")
SNAP_MID = struct.Struct("<qqd")
LEVEL = struct.Struct("<HqqH")
SNAP_TAIL = struct.Struct("<qqqq")
DEPTH_LEVEL = struct.Struct("<iih")


@pytest.fixture(scope="module")
def sdk_parse() -> Callable[[bytes], dict[str, Any]]:
    """smartapi-python's parser, loaded with the network blocked (see sdk_oracle)."""
    return load_sdk_parser()


# ---------------------------------------------------------------------------------------------
# Packet builders


def ltp_packet(
    token: str, seq: int, ts_ms: int, ltp: int, *, mode: int = 1, exch: int = 1
) -> bytes:
    """Header + LTP: 51 bytes."""
    return HEADER.pack(mode, exch, token.encode("ascii"), seq, ts_ms, ltp)


def quote_fields(
    ltq: int = 0,
    atp: int = 0,
    volume: int = 0,
    buy: float = 0.0,
    sell: float = 0.0,
    o: int = 0,
    h: int = 0,
    lo: int = 0,
    c: int = 0,
) -> bytes:
    """The 72 bytes a Quote adds to the LTP header."""
    return QUOTE_TAIL.pack(ltq, atp, volume, buy, sell, o, h, lo, c)


def snap_packet(
    header: bytes,
    quote: bytes,
    levels: list[tuple[int, int, int, int]],
    *,
    ltt: int = 0,
    oi: int = 0,
    oi_change: float = 0.0,
    tail: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> bytes:
    """SnapQuote: header, quote part, LTT/OI/OI%, ten (flag, qty, price, orders), circuits."""
    assert len(levels) == 10
    depth = b"".join(LEVEL.pack(*level) for level in levels)
    return header + quote + SNAP_MID.pack(ltt, oi, oi_change) + depth + SNAP_TAIL.pack(*tail)


def depth20_packet(
    exch: int,
    token: str,
    ts_ms: int,
    bids: list[tuple[int, int, int]],
    asks: list[tuple[int, int, int]],
    *,
    filler: int = 0,
) -> bytes:
    """Depth-20 as the SDK parses it: header, 8 unknown bytes, timestamp, 20 + 20 levels."""
    assert len(bids) == len(asks) == 20
    head = struct.pack("<BB25sqq", 4, exch, token.encode("ascii"), filler, ts_ms)
    return head + b"".join(DEPTH_LEVEL.pack(*level) for level in bids + asks)


@st.composite
def snap_levels(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """Ten best-five entries: wire order (5 bids then 5 asks) or any flags, some zero padding."""
    if draw(st.booleans()):
        flags = [1] * 5 + [0] * 5
    else:
        flags = draw(st.lists(st.sampled_from([0, 1]), min_size=10, max_size=10))
    qty = st.one_of(st.just(0), QTY64)
    price = st.one_of(I64, st.integers(0, 10_000_000))
    return [(flag, draw(qty), draw(price), draw(U16)) for flag in flags]


@st.composite
def valid_packets(draw: st.DrawFn, mode: int) -> bytes:
    """A random well-formed packet of one mode."""
    exch = draw(EXCHANGE_TYPE)
    token = draw(st.one_of(DIGIT_TOKEN, TOKEN))
    if mode == 4:
        level = st.tuples(I32_QTY, I32, I16_QTY)
        bids = draw(st.lists(level, min_size=20, max_size=20))
        asks = draw(st.lists(level, min_size=20, max_size=20))
        return depth20_packet(exch, token, draw(MS), bids, asks, filler=draw(I64))
    header = ltp_packet(token, draw(I64), draw(MS), draw(I64), mode=mode, exch=exch)
    if mode == 1:
        return header
    quote = quote_fields(
        draw(QTY64), draw(I64), draw(QTY64), draw(TOTAL_QTY), draw(TOTAL_QTY),
        draw(I64), draw(I64), draw(I64), draw(I64),
    )  # fmt: skip
    if mode == 2:
        return header + quote
    return snap_packet(
        header,
        quote,
        draw(snap_levels()),
        ltt=draw(I64),
        oi=draw(QTY64),
        oi_change=draw(st.floats(allow_nan=True, allow_infinity=True)),
        tail=(draw(I64), draw(I64), draw(I64), draw(I64)),
    )


# ---------------------------------------------------------------------------------------------
# The oracle's output in our units


def _levels(rows: list[dict[str, int]], multiplier: int, *, bids: bool) -> tuple[DepthLevel, ...]:
    orders_key = "no of orders" if rows and "no of orders" in rows[0] else "num_of_orders"
    levels = [
        DepthLevel(row["price"] * multiplier, row["quantity"], row[orders_key])
        for row in rows
        if row["quantity"] != 0
    ]
    sign = -1 if bids else 1
    return tuple(
        sorted(levels, key=lambda level: sign * level.price)
    )  # stable: ties keep wire order


def expected_quote(sdk: dict[str, Any], multiplier: int = 1) -> dict[str, Any]:
    """The Quote fields our decoder must produce for a packet the SDK parsed as ``sdk``."""
    mode = sdk["subscription_mode"]
    out: dict[str, Any] = {
        "token": sdk["token"],
        "exchange_ts": sdk["exchange_timestamp"] * 1_000_000,
    }
    if mode == 4:
        out.update(
            ltp=0,
            seq=0,
            bids=_levels(sdk["depth_20_buy_data"], multiplier, bids=True),
            asks=_levels(sdk["depth_20_sell_data"], multiplier, bids=False),
        )
        return out
    out.update(ltp=sdk["last_traded_price"] * multiplier, seq=sdk["sequence_number"])
    if mode in (2, 3):
        out.update(
            last_qty=sdk["last_traded_quantity"],
            avg_price=sdk["average_traded_price"] * multiplier,
            volume=sdk["volume_trade_for_the_day"],
            total_buy_qty=int(sdk["total_buy_quantity"]),
            total_sell_qty=int(sdk["total_sell_quantity"]),
            open=sdk["open_price_of_the_day"] * multiplier,
            high=sdk["high_price_of_the_day"] * multiplier,
            low=sdk["low_price_of_the_day"] * multiplier,
            close=sdk["closed_price"] * multiplier,
        )
    if mode == 3:
        out.update(
            open_interest=sdk["open_interest"],
            upper_circuit=sdk["upper_circuit_limit"] * multiplier,
            lower_circuit=sdk["lower_circuit_limit"] * multiplier,
            bids=_levels(sdk["best_5_buy_data"], multiplier, bids=True),
            asks=_levels(sdk["best_5_sell_data"], multiplier, bids=False),
        )
    return out


def assert_matches(quote: Quote | None, expected: dict[str, Any]) -> None:
    """Every field the mode carries equals the oracle's; every other field is 0 / empty."""
    assert quote is not None
    defaults = Quote(token="", ltp=0)
    for name in Quote.__slots__:
        if name in ("ts",):
            continue
        want = expected.get(name, getattr(defaults, name))
        assert getattr(quote, name) == want, name
    for side in (quote.bids, quote.asks):
        assert all(type(level) is DepthLevel for level in side)
    assert [b.price for b in quote.bids] == sorted((b.price for b in quote.bids), reverse=True)
    assert [a.price for a in quote.asks] == sorted(a.price for a in quote.asks)


# ---------------------------------------------------------------------------------------------
# Against the SDK


@pytest.mark.parametrize("mode", [1, 2, 3, 4])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_sdk_parser_field_by_field(
    mode: int, data: st.DataObject, sdk_parse: Callable[[bytes], dict[str, Any]]
) -> None:
    packet = data.draw(valid_packets(mode))
    decoder = FeedDecoder(clock=SimClock(123))
    quote = decoder.decode(packet)
    assert decoder.stats.dropped == {}, decoder.stats.dropped
    assert_matches(quote, expected_quote(sdk_parse(packet)))
    assert quote is not None and quote.ts == 123
    assert decoder.stats.decoded[mode] == 1


@pytest.mark.parametrize("mode", [1, 2, 3, 4])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), multiplier=st.integers(1, 10**5))
def test_configured_price_multiplier_scales_every_price(
    mode: int, data: st.DataObject, multiplier: int, sdk_parse: Callable[[bytes], dict[str, Any]]
) -> None:
    packet = data.draw(valid_packets(mode))
    decoder = FeedDecoder(price_multipliers=dict.fromkeys(EXCHANGE_TYPES, multiplier))
    assert_matches(decoder.decode(packet), expected_quote(sdk_parse(packet), multiplier))


def test_oracle_loads_without_the_sdk_package_its_network_call_or_log_files(
    tmp_path: Path,
) -> None:
    # a fresh interpreter, so nothing another test imported can hide an import of the package
    script = (
        "import sys\n"
        "from tests.brokers.sdk_oracle import load_sdk_parser\n"
        "parse = load_sdk_parser()\n"
        "assert 'SmartApi' not in sys.modules, 'the SmartApi package __init__ ran'\n"
        "assert 'SmartApi.smartConnect' not in sys.modules\n"
        "print(parse(bytes([1, 1]) + b'42'.ljust(25, b'\\0') + bytes(24))['token'])\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"
    assert list(tmp_path.iterdir()) == []  # no ./logs written


# ---------------------------------------------------------------------------------------------
# Hand-built packets with known values

TS_MS = 1_735_201_464_000  # a real exchange timestamp seen in users' logs
TS_NS = TS_MS * 1_000_000


def sbin_quote_part() -> bytes:
    return quote_fields(
        ltq=25, atp=81_133, volume=4_512_345, buy=612_345.0, sell=598_765.0,
        o=80_500, h=81_900, lo=80_250, c=80_640,
    )  # fmt: skip


def test_ltp_packet_sbin() -> None:
    packet = ltp_packet("3045", 987_654, TS_MS, 81_250)
    assert len(packet) == LTP_PACKET_SIZE == 51
    quote = FeedDecoder(clock=SimClock(5)).decode(packet)
    assert quote == Quote(token="3045", ltp=81_250, ts=5, exchange_ts=TS_NS, seq=987_654)


def test_quote_packet_sbin() -> None:
    packet = ltp_packet("3045", 11, TS_MS, 81_250, mode=2) + sbin_quote_part()
    assert len(packet) == QUOTE_PACKET_SIZE == 123
    quote = FeedDecoder(clock=SimClock(5)).decode(packet)
    assert quote == Quote(
        token="3045", ltp=81_250, ts=5, exchange_ts=TS_NS, seq=11, last_qty=25,
        avg_price=81_133, volume=4_512_345, open=80_500, high=81_900, low=80_250, close=80_640,
        total_buy_qty=612_345, total_sell_qty=598_765,
    )  # fmt: skip


def test_snap_quote_packet_sbin_best_five() -> None:
    bids = [(1, 100 + i, 81_250 - 5 * i, 3 + i) for i in range(5)]
    asks = [(0, 200 + i, 81_255 + 5 * i, 7 + i) for i in range(5)]
    packet = snap_packet(
        ltp_packet("3045", 11, TS_MS, 81_250, mode=3),
        sbin_quote_part(),
        bids + asks,
        ltt=1_735_201_464,
        oi=0,
        oi_change=float("nan"),
        tail=(88_700, 72_580, 91_270, 54_320),
    )
    assert len(packet) == SNAP_QUOTE_PACKET_SIZE == 379
    quote = FeedDecoder(clock=SimClock(5)).decode(packet)
    assert quote is not None
    assert quote.bids == tuple(DepthLevel(81_250 - 5 * i, 100 + i, 3 + i) for i in range(5))
    assert quote.asks == tuple(DepthLevel(81_255 + 5 * i, 200 + i, 7 + i) for i in range(5))
    assert (quote.best_bid, quote.best_ask) == (81_250, 81_255)
    assert (quote.upper_circuit, quote.lower_circuit, quote.open_interest) == (88_700, 72_580, 0)
    assert (quote.ltp, quote.close, quote.volume, quote.seq) == (81_250, 80_640, 4_512_345, 11)


def test_snap_quote_unsorted_and_mixed_flags_come_out_best_first() -> None:
    levels = [
        (0, 10, 101, 1), (1, 10, 99, 1), (0, 0, 0, 0), (1, 5, 100, 2), (0, 7, 103, 1),
        (1, 0, 0, 0), (0, 3, 102, 1), (1, 4, 98, 1), (1, 9, 100, 4), (0, 0, 0, 0),
    ]  # fmt: skip
    packet = snap_packet(ltp_packet("12", 1, TS_MS, 100, mode=3), quote_fields(), levels)
    quote = FeedDecoder().decode(packet)
    assert quote is not None
    assert quote.bids == (
        DepthLevel(100, 5, 2), DepthLevel(100, 9, 4), DepthLevel(99, 10, 1), DepthLevel(98, 4, 1),
    )  # fmt: skip
    assert quote.asks == (DepthLevel(101, 10, 1), DepthLevel(102, 3, 1), DepthLevel(103, 7, 1))


def test_index_snap_quote_has_no_depth() -> None:
    # indices: sequence 0 and ten all-zero best-five rows (flag 0)
    packet = snap_packet(
        ltp_packet("99926000", 0, TS_MS, 2_250_015, mode=3),
        quote_fields(o=2_240_000, h=2_255_000, lo=2_238_000, c=2_245_000),
        [(0, 0, 0, 0)] * 10,
    )
    quote = FeedDecoder().decode(packet)
    assert quote is not None
    assert (quote.token, quote.ltp, quote.seq, quote.bids, quote.asks) == (
        "99926000", 2_250_015, 0, (), ()
    )  # fmt: skip


def test_thin_book_drops_zero_padding_levels() -> None:
    levels = [(1, 50, 1000, 1), (1, 0, 0, 0), (1, 0, 0, 0), (1, 0, 0, 0), (1, 0, 0, 0)]
    levels += [(0, 75, 1005, 2), (0, 25, 1010, 1), (0, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 0)]
    packet = snap_packet(ltp_packet("500", 3, TS_MS, 1000, mode=3), quote_fields(), levels)
    quote = FeedDecoder().decode(packet)
    assert quote is not None
    assert quote.bids == (DepthLevel(1000, 50, 1),)
    assert quote.asks == (DepthLevel(1005, 75, 2), DepthLevel(1010, 25, 1))


def test_cds_prices_stay_on_the_1e7_scale() -> None:
    # USDINR at Rs 83.2525 is 832_525_000 on the wire (1e-7 rupee) and in our price units
    packet = ltp_packet("1234", 1, TS_MS, 832_525_000, exch=13)
    quote = FeedDecoder().decode(packet)
    assert quote is not None and quote.ltp == 832_525_000


def test_depth_20_packet() -> None:
    bids = [(10 * (i + 1), 100_000 - 5 * i, i + 1) for i in range(20)]
    asks = [(20 * (i + 1), 100_005 + 5 * i, i + 2) for i in range(18)] + [(0, 0, 0)] * 2
    packet = depth20_packet(1, "2885", TS_MS, bids, asks, filler=-1)
    assert len(packet) == DEPTH_20_PACKET_SIZE == 443
    decoder = FeedDecoder()
    quote = decoder.decode(packet)
    assert quote is not None
    assert (quote.token, quote.ltp, quote.exchange_ts) == ("2885", 0, TS_NS)
    assert quote.bids == tuple(DepthLevel(p, q, o) for q, p, o in bids)
    assert quote.asks == tuple(DepthLevel(p, q, o) for q, p, o in asks[:18])
    assert decoder.stats.decoded == {1: 0, 2: 0, 3: 0, 4: 1}


def test_token_of_full_25_bytes_and_garbage_after_nul() -> None:
    full = "1" * 25
    assert FeedDecoder().decode(ltp_packet(full, 1, TS_MS, 5)) is not None
    raw = bytearray(ltp_packet("42", 1, TS_MS, 5))
    raw[2 + 3 : 2 + 8] = b"junk!"  # after the NUL: ignored, like the SDK
    quote = FeedDecoder().decode(bytes(raw))
    assert quote is not None and quote.token == "42"


def test_oversize_packet_decodes_and_is_counted() -> None:
    decoder = FeedDecoder()
    quote = decoder.decode(ltp_packet("7", 1, TS_MS, 5) + b"\x00" * 9)
    assert quote is not None and quote.ltp == 5
    assert decoder.stats.oversize == 1


def test_decoder_accepts_bytearray_and_memoryview() -> None:
    packet = ltp_packet("7", 1, TS_MS, 5)
    decoder = FeedDecoder(clock=SimClock(1))
    from_bytes = decoder.decode(packet)
    assert from_bytes is not None
    assert decoder.decode(bytearray(packet)) == from_bytes
    assert decoder.decode(memoryview(packet)) == from_bytes


# ---------------------------------------------------------------------------------------------
# Malformed packets: counted per reason, never raised


def good_snap(token: str = "3045") -> bytes:
    levels = [(1, 10, 100 - i, 1) for i in range(5)] + [(0, 10, 101 + i, 1) for i in range(5)]
    return snap_packet(ltp_packet(token, 1, TS_MS, 100, mode=3), quote_fields(), levels)


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"", "empty"),
        (b"\x01", "truncated"),
        (ltp_packet("1", 1, 1, 1)[:50], "truncated"),
        (good_snap()[:378], "truncated"),
        ((ltp_packet("1", 1, 1, 1, mode=2) + quote_fields())[:122], "truncated"),
        (good_snap()[:200], "truncated"),
        (ltp_packet("1", 1, 1, 1, mode=9), "unknown_mode"),
        (ltp_packet("1", 1, 1, 1, mode=0), "unknown_mode"),
        (ltp_packet("1", 1, 1, 1, exch=6), "unknown_exchange_type"),
        (good_snap()[:1] + b"\x63" + good_snap()[2:], "unknown_exchange_type"),
        (ltp_packet("", 1, 1, 1), "bad_token"),
        (HEADER.pack(1, 1, b"12 3", 1, 1, 1), "bad_token"),
        (HEADER.pack(1, 1, b"\x8012", 1, 1, 1), "bad_token"),
        (HEADER.pack(1, 1, b"\x0112", 1, 1, 1), "bad_token"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(buy=math.nan), "bad_total_quantity"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(sell=math.inf), "bad_total_quantity"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(buy=1.5), "bad_total_quantity"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(buy=-1.0), "bad_total_quantity"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(buy=2.0**63), "bad_total_quantity"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(ltq=-1), "negative_quantity"),
        (ltp_packet("1", 1, 1, 1, mode=2) + quote_fields(volume=-5), "negative_quantity"),
        (
            snap_packet(
                ltp_packet("1", 1, 1, 1, mode=3), quote_fields(), [(1, 1, 1, 1)] * 10, oi=-1
            ),
            "negative_quantity",
        ),
        (
            snap_packet(
                ltp_packet("1", 1, 1, 1, mode=3),
                quote_fields(),
                [(1, 1, 1, 1)] * 4 + [(1, -3, 1, 1)] + [(0, 1, 2, 1)] * 5,
            ),
            "negative_quantity",
        ),
        (
            snap_packet(
                ltp_packet("1", 1, 1, 1, mode=3),
                quote_fields(),
                [(1, 1, 1, 1)] * 5 + [(2, 1, 2, 1)] + [(0, 1, 2, 1)] * 4,
            ),
            "bad_depth_flag",
        ),
        (
            depth20_packet(1, "1", 1, [(1, 1, 1)] * 19 + [(-1, 1, 1)], [(1, 2, 1)] * 20),
            "negative_quantity",
        ),
        (
            depth20_packet(1, "1", 1, [(1, 1, 1)] * 20, [(1, 2, -1)] + [(1, 2, 1)] * 19),
            "negative_quantity",
        ),
    ],
)
def test_malformed_packet_is_counted_by_reason(packet: bytes, reason: str) -> None:
    decoder = FeedDecoder()
    assert decoder.decode(packet) is None
    assert decoder.stats.dropped == {reason: 1}
    assert decoder.stats.total_decoded == 0


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=500), max_size=20))
def test_fuzz_random_bytes_never_raise_and_every_packet_is_counted(packets: list[bytes]) -> None:
    decoder = FeedDecoder()
    for packet in packets:
        result = decoder.decode(packet)
        assert result is None or isinstance(result, Quote)
    stats = decoder.stats
    assert stats.total_decoded + stats.total_dropped == len(packets)
    assert "decoder_error" not in stats.dropped


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    mode=st.sampled_from([1, 2, 3, 4]),
    flips=st.lists(st.tuples(st.integers(0, 442), st.integers(0, 255)), max_size=8),
)
def test_fuzz_truncated_and_corrupted_valid_packets(
    data: st.DataObject, mode: int, flips: list[tuple[int, int]]
) -> None:
    packet = data.draw(valid_packets(mode))
    cut = data.draw(st.integers(0, len(packet) - 1))
    decoder = FeedDecoder()
    assert decoder.decode(packet[:cut]) is None
    assert set(decoder.stats.dropped) <= {"empty", "truncated"}
    corrupted = bytearray(packet)
    for offset, value in flips:
        if offset < len(corrupted):
            corrupted[offset] = value
    result = decoder.decode(bytes(corrupted))
    assert result is None or isinstance(result, Quote)
    assert decoder.stats.total_decoded + decoder.stats.total_dropped == 2
    assert "decoder_error" not in decoder.stats.dropped


def test_token_cache_stays_bounded() -> None:
    decoder = FeedDecoder()
    for n in range(20_000):
        assert decoder.decode(ltp_packet(str(n), 1, 1, 1)) is not None
    assert len(decoder._tokens) <= 8192
    assert decoder.stats.decoded[1] == 20_000


def test_bad_multiplier_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="positive int"):
        FeedDecoder(price_multipliers={13: 0})
    with pytest.raises(ValueError, match="0-255"):
        FeedDecoder(price_multipliers={300: 1})


def test_exchange_type_left_out_of_the_configuration_is_dropped() -> None:
    decoder = FeedDecoder(price_multipliers={1: 1})
    assert decoder.decode(ltp_packet("1", 1, 1, 1, exch=13)) is None
    assert decoder.stats.dropped == {"unknown_exchange_type": 1}


# ---------------------------------------------------------------------------------------------
# Text frames


def test_text_frames() -> None:
    assert parse_text_frame("pong") == Pong()
    assert parse_text_frame(
        '{"correlationID":"abcde12345","errorCode":"E1002",'
        '"errorMessage":"Invalid Request. Subscription Limit Exceeded."}'
    ) == FeedError("abcde12345", "E1002", "Invalid Request. Subscription Limit Exceeded.")
    assert parse_text_frame('{"errorCode":"E1001","errorMessage":"Invalid Request Payload."}') == (
        FeedError("", "E1001", "Invalid Request Payload.")
    )
    assert parse_text_frame("hello") == UnknownText("hello")
    assert parse_text_frame("[1, 2]") == UnknownText("[1, 2]")
    assert parse_text_frame('{"a": 1}') == UnknownText('{"a": 1}')


def test_no_network_guard_refuses_connections_and_restores_them() -> None:
    original = socket.getaddrinfo
    with no_network(), pytest.raises(NetworkBlocked):
        socket.create_connection(("api.ipify.org", 443), timeout=0.01)
    with no_network(), pytest.raises(NetworkBlocked):
        socket.getaddrinfo("api.ipify.org", 443)
    assert socket.getaddrinfo is original
