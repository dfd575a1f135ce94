"""Decoder for Angel One SmartWebSocketV2 market-data frames.

Binary frames carry one tick each, little-endian, in the layout that smartapi-python's
``SmartWebSocketV2._parse_binary_data`` reads (research/smartapi.md §10)::

    off  size  field                                                        modes
    0    1     subscription mode (1 LTP, 2 Quote, 3 SnapQuote, 4 Depth-20)  all
    1    1     exchange type (1 nse_cm, 2 nse_fo, 3 bse_cm, 4 bse_fo,       all
               5 mcx_fo, 7 ncx_fo, 13 cde_fo)
    2    25    token, ASCII, NUL-terminated                                 all
    27   8     sequence number                                              1-3
    35   8     exchange timestamp, epoch ms                                 1-4
    43   8     last traded price (the LTP packet ends here: 51 B)           1-3
    51   72    LTQ, ATP, volume, total buy/sell qty (float64), OHLC         2-3 (Quote: 123 B)
    123  24    last traded time (s), open interest, OI change % (garbage)   3
    147  200   best five: 10 x (u16 flag, i64 qty, i64 price, u16 orders)   3
    347  32    upper/lower circuit, 52-week high/low (SnapQuote: 379 B)     3

Depth-20 (mode 4) is **UNCONFIRMED** (not in Angel's public docs; this follows the SDK): bytes
0-26 as above, the exchange timestamp at 35, then 20 bid and 20 ask entries from byte 43, each
10 B (i32 qty, i32 price, i16 orders): a 443-byte packet.

Every packet becomes an :class:`engine.models.Quote`. Fields a mode does not carry are 0 (an LTP
packet carries only ``ltp``; a Depth-20 packet carries only the depth, so its ``ltp`` is 0).
Best-five levels with flag 1 are bids and flag 0 asks (the SDK labels them the same way after its
internal swap); levels with zero quantity (the padding of a thin book and of indices) are left
out, bids are ordered best (highest) first and asks best (lowest) first.

Prices: the wire sends integers, paise for equity and F&O, 1e-7 rupee for currency (exchange
type 13) per Angel's docs. Our prices are integers in the instrument's price scale (100 for
paise, 10**7 for CDS), so by default the wire value *is* the price in price units. Those wire
units are **UNCONFIRMED** beyond the docs; :class:`FeedDecoder` therefore takes a per-exchange-type
integer multiplier (``price_multipliers``) that turns a wire price into price units, 1 for every
known exchange type unless configured otherwise.

Malformed or truncated packets never raise: :meth:`FeedDecoder.decode` returns ``None`` and counts
the reason in :attr:`FeedDecoder.stats`. This is stricter than the SDK, which parses anything:
a best-five flag other than 0/1, a negative quantity, or a total buy/sell quantity that is not a
whole number (NaN, infinite, fractional, negative) drops the packet.

Text frames (``pong`` and the JSON error frames) are parsed by :func:`parse_text_frame`; the
websocket layer decides what to do with them.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final

from engine.clock import NS_PER_MS, Clock
from engine.models import DepthLevel, Exchange, Quote

# ---------------------------------------------------------------------------------------------
# Wire constants

MODE_LTP: Final = 1
MODE_QUOTE: Final = 2
MODE_SNAP_QUOTE: Final = 3
MODE_DEPTH_20: Final = 4

EXCHANGE_TYPES: Final[Mapping[int, Exchange]] = {
    1: Exchange.NSE,
    2: Exchange.NFO,
    3: Exchange.BSE,
    4: Exchange.BFO,
    5: Exchange.MCX,
    7: Exchange.NCDEX,
    13: Exchange.CDS,
}
"""SmartWebSocketV2 ``exchangeType`` codes and the instrument-master segment each one carries."""

DEFAULT_PRICE_MULTIPLIERS: Final[Mapping[int, int]] = dict.fromkeys(EXCHANGE_TYPES, 1)
"""Wire price x multiplier = price units. 1 everywhere: paise on scale 100, 1e-7 on CDS 10**7."""

_LTP = struct.Struct("<BB25sqqq")
_QUOTE = struct.Struct("<BB25sqqqqqqddqqqq")
# SnapQuote: skip last traded time, OI change % and the 52-week range (not in Quote).
_SNAP = struct.Struct("<BB25sqqqqqqddqqqq8xq8x" + "HqqH" * 10 + "qq16x")
_DEPTH20 = struct.Struct("<BB25s8xq" + "iih" * 40)

LTP_PACKET_SIZE: Final = _LTP.size
QUOTE_PACKET_SIZE: Final = _QUOTE.size
SNAP_QUOTE_PACKET_SIZE: Final = _SNAP.size
DEPTH_20_PACKET_SIZE: Final = _DEPTH20.size

_PACKET_SIZES: Final[Mapping[int, int]] = {
    MODE_LTP: LTP_PACKET_SIZE,
    MODE_QUOTE: QUOTE_PACKET_SIZE,
    MODE_SNAP_QUOTE: SNAP_QUOTE_PACKET_SIZE,
    MODE_DEPTH_20: DEPTH_20_PACKET_SIZE,
}

# Indexes into the unpacked SnapQuote tuple.
_S_DEPTH = 16  # first best-five field (flag of level 0)
_S_UPPER = _S_DEPTH + 40
_BEST5_WIRE_FLAGS: Final = (1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
_snap_flags = slice(_S_DEPTH, _S_UPPER, 4)
_snap_depth_qtys = slice(_S_DEPTH + 1, _S_UPPER, 4)
_price_key = itemgetter(0)

_TOKEN_CACHE_LIMIT: Final = 8192
_new_level = tuple.__new__


# ---------------------------------------------------------------------------------------------
# Counters


@dataclass(slots=True)
class DecoderStats:
    """What a :class:`FeedDecoder` has seen.

    ``decoded`` counts the packets that produced a Quote, per mode. ``dropped`` counts the packets
    that were skipped, per reason: ``empty``, ``truncated``, ``unknown_mode``,
    ``unknown_exchange_type``, ``bad_token``, ``negative_quantity``, ``bad_total_quantity``,
    ``bad_depth_flag`` and ``decoder_error`` (a bug in this module, never expected).
    ``oversize`` counts decoded packets that were longer than their mode's layout (the extra bytes
    are ignored).
    """

    decoded: dict[int, int] = field(default_factory=lambda: dict.fromkeys(_PACKET_SIZES, 0))
    dropped: dict[str, int] = field(default_factory=dict)
    oversize: int = 0

    @property
    def total_decoded(self) -> int:
        """Packets that produced a Quote."""
        return sum(self.decoded.values())

    @property
    def total_dropped(self) -> int:
        """Packets that were skipped."""
        return sum(self.dropped.values())


# ---------------------------------------------------------------------------------------------
# The decoder


class FeedDecoder:
    """Turns SmartWebSocketV2 binary frames into :class:`Quote` objects.

    ``price_multipliers`` maps an exchange type to the integer that turns a wire price into price
    units of that segment's instruments (default :data:`DEFAULT_PRICE_MULTIPLIERS`, all 1). A packet
    of an exchange type missing from the map is dropped. ``clock`` stamps ``Quote.ts`` (receive
    time); the exchange's own timestamp goes to ``Quote.exchange_ts``. One decoder per feed
    connection; not thread-safe.
    """

    __slots__ = ("_decoded", "_multipliers", "_now", "_tokens", "stats")

    def __init__(
        self,
        price_multipliers: Mapping[int, int] | None = None,
        clock: Clock | None = None,
    ) -> None:
        multipliers = dict(
            DEFAULT_PRICE_MULTIPLIERS if price_multipliers is None else price_multipliers
        )
        for exchange_type, multiplier in multipliers.items():
            if type(exchange_type) is not int or not 0 <= exchange_type <= 255:
                raise ValueError(
                    f"exchange type {exchange_type!r} must be an int that fits the packet's one "
                    "byte (0-255)"
                )
            if type(multiplier) is not int or multiplier < 1:
                raise ValueError(
                    f"price multiplier for exchange type {exchange_type} must be a positive int "
                    f"(wire price x multiplier = price units), got {multiplier!r}"
                )
        self._multipliers = multipliers
        self._now: Callable[[], int] = time.time_ns if clock is None else clock.now_ns
        self._tokens: dict[bytes, str] = {}
        self.stats = DecoderStats()
        self._decoded = self.stats.decoded

    # -- public -------------------------------------------------------------------------------

    def decode(self, packet: bytes | bytearray | memoryview) -> Quote | None:
        """Decode one binary frame; ``None`` (and a counted reason) when it is not a valid tick."""
        # The three streaming modes are decoded inline: this runs once per tick.
        try:
            size = len(packet)
            if size < LTP_PACKET_SIZE:
                self._reject(packet)
                return None
            mode = packet[0]
            multiplier = self._multipliers.get(packet[1])
            if mode == MODE_SNAP_QUOTE:
                if size < SNAP_QUOTE_PACKET_SIZE or multiplier is None:
                    self._reject(packet)
                    return None
                t = _SNAP.unpack_from(packet)
                token = self._tokens.get(t[2]) or self._token(t[2])
                if token is None:
                    return None
                buy = int(t[9])  # ValueError / OverflowError for NaN / infinity
                sell = int(t[10])
                if buy != t[9] or sell != t[10] or (buy | sell) >> 63:
                    self._drop("bad_total_quantity")
                    return None
                if (t[6] | t[8] | t[15]) < 0:
                    self._drop("negative_quantity")
                    return None
                bids: tuple[DepthLevel, ...]
                asks: tuple[DepthLevel, ...]
                if (
                    t[_snap_flags] == _BEST5_WIRE_FLAGS
                    and min(t[_snap_depth_qtys]) > 0
                    and t[18] >= t[22] >= t[26] >= t[30] >= t[34]
                    and t[38] <= t[42] <= t[46] <= t[50] <= t[54]
                ):
                    # the usual case: five bids (flag 1) then five asks (flag 0), best first
                    D = DepthLevel
                    new = _new_level
                    bids = (
                        new(D, (t[18], t[17], t[19])),
                        new(D, (t[22], t[21], t[23])),
                        new(D, (t[26], t[25], t[27])),
                        new(D, (t[30], t[29], t[31])),
                        new(D, (t[34], t[33], t[35])),
                    )
                    asks = (
                        new(D, (t[38], t[37], t[39])),
                        new(D, (t[42], t[41], t[43])),
                        new(D, (t[46], t[45], t[47])),
                        new(D, (t[50], t[49], t[51])),
                        new(D, (t[54], t[53], t[55])),
                    )
                else:
                    grouped = _group_best_five(t)
                    if isinstance(grouped, str):
                        self._drop(grouped)
                        return None
                    bids, asks = grouped
                quote = Quote(
                    token, t[5], self._now(), t[4] * NS_PER_MS, t[3],
                    t[6], t[7], t[8], t[11], t[12], t[13], t[14], buy, sell,
                    bids, asks, t[_S_UPPER], t[_S_UPPER + 1], t[15],
                )  # fmt: skip
                expected = SNAP_QUOTE_PACKET_SIZE
            elif mode == MODE_LTP:
                if multiplier is None:
                    self._reject(packet)
                    return None
                t = _LTP.unpack_from(packet)
                token = self._tokens.get(t[2]) or self._token(t[2])
                if token is None:
                    return None
                quote = Quote(token, t[5], self._now(), t[4] * NS_PER_MS, t[3])
                expected = LTP_PACKET_SIZE
            elif mode == MODE_QUOTE:
                if size < QUOTE_PACKET_SIZE or multiplier is None:
                    self._reject(packet)
                    return None
                t = _QUOTE.unpack_from(packet)
                token = self._tokens.get(t[2]) or self._token(t[2])
                if token is None:
                    return None
                buy = int(t[9])
                sell = int(t[10])
                if buy != t[9] or sell != t[10] or (buy | sell) >> 63:
                    self._drop("bad_total_quantity")
                    return None
                if (t[6] | t[8]) < 0:
                    self._drop("negative_quantity")
                    return None
                quote = Quote(
                    token, t[5], self._now(), t[4] * NS_PER_MS, t[3],
                    t[6], t[7], t[8], t[11], t[12], t[13], t[14], buy, sell,
                )  # fmt: skip
                expected = QUOTE_PACKET_SIZE
            elif mode == MODE_DEPTH_20:
                if size < DEPTH_20_PACKET_SIZE or multiplier is None:
                    self._reject(packet)
                    return None
                depth = self._depth_20(packet)
                if depth is None:
                    return None
                quote = depth
                expected = DEPTH_20_PACKET_SIZE
            else:
                self._reject(packet)
                return None
            if multiplier != 1:
                _scale_prices(quote, multiplier)
            if size > expected:
                self.stats.oversize += 1
            self._decoded[mode] += 1
            return quote
        except (ValueError, OverflowError):  # int() of a NaN or infinite total quantity
            self._drop("bad_total_quantity")
            return None
        except Exception:  # a decoder bug must not kill the feed; it is counted instead
            self._drop("decoder_error")
            return None

    # -- slow paths ---------------------------------------------------------------------------

    def _reject(self, packet: bytes | bytearray | memoryview) -> None:
        """Count why a packet cannot be decoded: empty, unknown mode/exchange, or too short."""
        size = len(packet)
        if size == 0:
            reason = "empty"
        elif size < 2:
            reason = "truncated"
        elif packet[0] not in _PACKET_SIZES:
            reason = "unknown_mode"
        elif packet[1] not in self._multipliers:
            reason = "unknown_exchange_type"
        else:
            reason = "truncated"
        self._drop(reason)

    def _depth_20(self, packet: bytes | bytearray | memoryview) -> Quote | None:
        t = _DEPTH20.unpack_from(packet)
        token = self._tokens.get(t[2]) or self._token(t[2])
        if token is None:
            return None
        levels = []
        for i in range(4, 124, 3):
            qty = t[i]
            orders = t[i + 2]
            if qty < 0 or orders < 0:
                self._drop("negative_quantity")
                return None
            levels.append(_new_level(DepthLevel, (t[i + 1], qty, orders)))
        bids = tuple([level for level in levels[:20] if level[1]])
        asks = tuple([level for level in levels[20:] if level[1]])
        return Quote(
            token,
            0,
            self._now(),
            t[3] * NS_PER_MS,
            bids=_bids_best_first(bids),
            asks=_asks_best_first(asks),
        )

    # -- helpers ------------------------------------------------------------------------------

    def _token(self, raw: bytes) -> str | None:
        """Decode and cache a token field; ``None`` (counted) when it is not a printable token."""
        head = raw.split(b"\x00", 1)[0]
        if not head or not _printable(head):
            self._drop("bad_token")
            return None
        token = head.decode("ascii")
        if len(self._tokens) >= _TOKEN_CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[raw] = token
        return token

    def _drop(self, reason: str) -> None:
        dropped = self.stats.dropped
        dropped[reason] = dropped.get(reason, 0) + 1


def _printable(head: bytes) -> bool:
    """True when every byte is a visible ASCII character (no space, no control byte)."""
    return all(0x21 <= byte <= 0x7E for byte in head)


def _group_best_five(
    t: tuple[int, ...],
) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]] | str:
    """Best-five levels of an unpacked SnapQuote in any flag order, or the reason to drop it.

    Flag 1 is a bid, 0 an ask; zero-quantity levels are padding and left out; a negative quantity
    or another flag makes the packet malformed.
    """
    bids: list[DepthLevel] = []
    asks: list[DepthLevel] = []
    for i in range(_S_DEPTH, _S_UPPER, 4):
        flag, qty, price, orders = t[i : i + 4]
        if flag != 0 and flag != 1:
            return "bad_depth_flag"
        if qty < 0:
            return "negative_quantity"
        if qty:
            (bids if flag else asks).append(_new_level(DepthLevel, (price, qty, orders)))
    return _bids_best_first(tuple(bids)), _asks_best_first(tuple(asks))


def _bids_best_first(levels: tuple[DepthLevel, ...]) -> tuple[DepthLevel, ...]:
    """Bids by price, highest first (stable for equal prices); already-sorted input is returned."""
    for i in range(1, len(levels)):
        if levels[i - 1][0] < levels[i][0]:
            return tuple(sorted(levels, key=_price_key, reverse=True))
    return levels


def _asks_best_first(levels: tuple[DepthLevel, ...]) -> tuple[DepthLevel, ...]:
    """Asks by price, lowest first (stable for equal prices); already-sorted input is returned."""
    for i in range(1, len(levels)):
        if levels[i - 1][0] > levels[i][0]:
            return tuple(sorted(levels, key=_price_key))
    return levels


def _scale_prices(quote: Quote, multiplier: int) -> None:
    """Multiply every price field of a freshly decoded quote (before it is published)."""
    quote.ltp *= multiplier
    quote.avg_price *= multiplier
    quote.open *= multiplier
    quote.high *= multiplier
    quote.low *= multiplier
    quote.close *= multiplier
    quote.upper_circuit *= multiplier
    quote.lower_circuit *= multiplier
    quote.bids = tuple(
        [_new_level(DepthLevel, (lvl[0] * multiplier, lvl[1], lvl[2])) for lvl in quote.bids]
    )
    quote.asks = tuple(
        [_new_level(DepthLevel, (lvl[0] * multiplier, lvl[1], lvl[2])) for lvl in quote.asks]
    )


# ---------------------------------------------------------------------------------------------
# Text frames


@dataclass(frozen=True, slots=True)
class Pong:
    """The server's answer to a text ``ping``."""


@dataclass(frozen=True, slots=True)
class FeedError:
    """A JSON error frame, e.g. ``E1002`` "Invalid Request. Subscription Limit Exceeded."."""

    correlation_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class UnknownText:
    """A text frame that is neither ``pong`` nor a recognisable error (kept verbatim)."""

    text: str


TextFrame = Pong | FeedError | UnknownText
"""What :func:`parse_text_frame` returns."""


def parse_text_frame(text: str) -> TextFrame:
    """Classify a text frame from the market-data socket; never raises.

    ``"pong"`` -> :class:`Pong`; ``{"correlationID", "errorCode", "errorMessage"}`` ->
    :class:`FeedError`; anything else -> :class:`UnknownText`.
    """
    stripped = text.strip()
    if stripped == "pong":
        return Pong()
    try:
        body = json.loads(stripped)
    except ValueError:
        return UnknownText(text)
    if not isinstance(body, dict):
        return UnknownText(text)
    code = body.get("errorCode", body.get("errorcode"))
    if code is None:
        return UnknownText(text)
    return FeedError(
        correlation_id=str(body.get("correlationID", "")),
        code=str(code),
        message=str(body.get("errorMessage", body.get("message", ""))),
    )
