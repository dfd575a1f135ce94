"""The command bar's language: ``buy SBIN 10 limit 812.50 mis`` -> a command the UI acts on.

Bloomberg-style (research/anchors-ui.md §A3): a trade command *fills the ticket for review*; it
never submits anything by itself. :func:`parse_command` is pure: it reads the instrument index and
asks ``ltp_of(token)`` for the last price where a default or a check needs one.

Commands (case does not matter; ``help`` lists them with examples)::

    buy SBIN 10 limit 812.50 mis        b RELIANCE 5 @ 2900 cnc        sell NIFTY FUT 1 lot market
    s INFY 10 sl 1490 trigger 1495      buy TCS 1 slm trigger 4100     ... ioc | day | disclosed 5
    gtt SBIN sell 10 trigger 850 limit 849
    gtt SBIN sell 10 oco trigger 780 limit 779 trigger 850 limit 849
    bracket SBIN buy 10 limit 812 sl 805 target 830 trail 2 exit 30m   (sl 1% | 5pts | 1.5atr)
    cancel all | cancel all SBIN | cancel <order id>     exit SBIN | exit all
    chart RELIANCE 5m     alert SBIN above 820 | below 790 | cross 800 | alert NIFTY move 1%
    kill                  help | ?

Choices made here (the ticket shows all of them before anything is sent):

* **Product.** Equity defaults to CNC (delivery), F&O to NRML (carry forward), as the Kite and
  Angel One order windows do; write ``mis``/``intraday`` for intraday. CNC on a derivative and
  NRML on equity are refused (brokers reject them). GTTs take CNC or NRML only (Kite's rule).
  A ``bracket`` defaults to MIS: a bracket is an intraday trade idea (Angel One ROBO orders are
  intraday only, squared off at 15:10); write ``cnc``/``nrml`` to carry it.
* **Order type.** A price (``limit 812.50``, ``@ 812.50``, or a second bare number) makes a LIMIT;
  ``market`` a MARKET; ``sl <limit> trigger <t>`` a stop-limit; ``slm trigger <t>`` a stop-market.
  A trigger together with a price makes an SL, a trigger alone an SL-M. With no price and no type
  the ticket is a LIMIT at the current LTP: an unpriced market order is never a default.
* **Quantity** is in units; ``N lot``/``N lots`` multiplies by the lot size (1 for equity). Units
  of an F&O contract must be a whole number of lots.
* **Prices** are rupees parsed exactly (:func:`engine.money.parse_price`) at the instrument's
  scale and must sit on its tick grid (an alert level need not: it is compared, not sent).
* **Instruments.** The word after the verb is the instrument (so ``IOC`` the stock and ``ioc`` the
  validity do not clash). An exact symbol wins (``SBIN`` is ``SBIN-EQ``; ``BSE:SBIN`` picks the
  exchange); ``NIFTY FUT`` is the near-month future; otherwise the index's ranked search decides
  when all its matches are one underlying, and anything wider is an error listing the candidates.
  An index cannot be traded: ``buy NIFTY`` says to write ``buy NIFTY FUT``.

Every error is a :class:`CommandError` (returned, not raised) that says what was wrong and shows
a correct example. :func:`complete` suggests the next word for the command bar's autocomplete.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from engine.alerts import AlertKind, AlertRule
from engine.brackets import BracketError, BracketSpec, ExitKind, ExitLevel, validate_spec
from engine.gtt import GttError, GttKind, GttLeg, validate_rule
from engine.instruments import InstrumentIndex, normalize
from engine.intent import OrderIntent, intent_errors
from engine.models import (
    Exchange,
    Instrument,
    InstrumentType,
    Interval,
    OptionKind,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.money import PriceError, format_money, format_price, parse_price, snap_to_tick

__all__ = [
    "AlertCommand",
    "BracketCommand",
    "CancelCommand",
    "ChartCommand",
    "Command",
    "CommandError",
    "CommandParser",
    "ExitCommand",
    "GttCommand",
    "HelpCommand",
    "KillCommand",
    "OrderCommand",
    "command_symbol",
    "complete",
    "help_lines",
    "parse_command",
]

# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class OrderCommand:
    """A regular order to put in the ticket for review. ``intent_fields`` are
    :class:`~engine.intent.OrderIntent` keyword arguments (already validated); ``lots`` is the
    number of lots when the quantity was given in lots."""

    intent_fields: dict[str, Any]
    instrument: Instrument
    summary: str
    lots: int | None = None
    price_from_ltp: bool = False

    def intent(self, **extra: Any) -> OrderIntent:
        """The :class:`OrderIntent` (``extra`` adds fields such as ``client_order_id``)."""
        return OrderIntent(**self.intent_fields, **extra)


@dataclass(frozen=True, slots=True)
class GttCommand:
    """A GTT to put in the GTT ticket: legs in price order (OCO: stop-side leg first), and the
    LTP that decided each trigger's direction (``GttBook.create`` needs it)."""

    instrument: Instrument
    kind: GttKind
    legs: tuple[GttLeg, ...]
    ltp: int
    summary: str


@dataclass(frozen=True, slots=True)
class BracketCommand:
    """A bracket to put in the bracket ticket; ``spec_fields`` are :class:`BracketSpec` keyword
    arguments (``stop``/``target`` as :class:`ExitLevel`), already validated."""

    instrument: Instrument
    spec_fields: dict[str, Any]
    summary: str
    lots: int | None = None

    def spec(self) -> BracketSpec:
        """The :class:`BracketSpec`."""
        return BracketSpec(**self.spec_fields)


@dataclass(frozen=True, slots=True)
class CancelCommand:
    """Cancel open orders: all of them (both fields ``None``), all of one instrument, or one
    order by id."""

    instrument: Instrument | None = None
    order_id: str | None = None
    summary: str = ""

    @property
    def is_all(self) -> bool:
        """True for ``cancel all`` (every open order)."""
        return self.instrument is None and self.order_id is None


@dataclass(frozen=True, slots=True)
class ExitCommand:
    """Square off: one instrument's position, or every position (``instrument is None``)."""

    instrument: Instrument | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class ChartCommand:
    """Show a chart; ``interval`` ``None`` keeps the chart's current interval."""

    instrument: Instrument
    interval: Interval | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class AlertCommand:
    """An alert to add (``ltp`` is the price when it was typed, ``None`` without a quote)."""

    instrument: Instrument
    kind: AlertKind
    level: int | None = None
    pct: Decimal | None = None
    repeat: bool = False
    note: str = ""
    ltp: int | None = None
    summary: str = ""

    def rule(self, alert_id: str, created_ts: int = 0) -> AlertRule:
        """The :class:`AlertRule` for :meth:`AlertBook.add` (pass :attr:`ltp` along with it)."""
        return AlertRule(
            id=alert_id,
            token=self.instrument.token,
            kind=self.kind,
            level=self.level,
            pct=self.pct,
            repeat=self.repeat,
            note=self.note,
            symbol=command_symbol(self.instrument),
            price_scale=self.instrument.price_scale,
            created_ts=created_ts,
        )


@dataclass(frozen=True, slots=True)
class KillCommand:
    """Engage the kill switch (the UI asks for confirmation first)."""

    summary: str = "Kill switch: cancel every open order and block new ones (asks to confirm)"


@dataclass(frozen=True, slots=True)
class HelpCommand:
    """Show help, for one verb when ``topic`` is set."""

    topic: str | None = None
    lines: tuple[str, ...] = ()


Command = (
    OrderCommand
    | GttCommand
    | BracketCommand
    | CancelCommand
    | ExitCommand
    | ChartCommand
    | AlertCommand
    | KillCommand
    | HelpCommand
)
"""Anything :func:`parse_command` can return besides an error."""


@dataclass(frozen=True, slots=True)
class CommandError:
    """What was wrong with a command and a correct example. ``candidates`` lists the
    instruments an ambiguous name could mean (best first)."""

    message: str
    example: str
    candidates: tuple[Instrument, ...] = ()

    @property
    def text(self) -> str:
        """``message`` and the example, for the status line."""
        return f"{self.message}. Example: {self.example}"

    def __str__(self) -> str:
        """Same as :attr:`text`."""
        return self.text


class _Fail(Exception):
    """Internal: aborts parsing with a :class:`CommandError`."""

    def __init__(
        self, message: str, example: str, candidates: Sequence[Instrument] = ()
    ) -> None:
        super().__init__(message)
        self.error = CommandError(message, example, tuple(candidates))


# ---------------------------------------------------------------------------------------------
# Vocabulary

EXAMPLES: dict[str, str] = {
    "buy": "buy SBIN 10 limit 812.50",
    "sell": "sell NIFTY FUT 1 lot market",
    "gtt": "gtt SBIN sell 10 trigger 850 limit 849",
    "oco": "gtt SBIN sell 10 oco trigger 780 limit 779 trigger 850 limit 849",
    "bracket": "bracket SBIN buy 10 limit 812 sl 805 target 830 trail 2",
    "cancel": "cancel all SBIN",
    "exit": "exit SBIN",
    "chart": "chart RELIANCE 5m",
    "alert": "alert SBIN above 820",
    "kill": "kill",
    "help": "help gtt",
}

HELP: dict[str, tuple[str, ...]] = {
    "buy": (
        "buy|b SYMBOL QTY [lot|lots] [limit|@ PRICE | market | sl PRICE trigger T | slm trigger T]"
        " [cnc|mis|nrml] [day|ioc] [disclosed N]",
        "  buy SBIN 10 limit 812.50 mis     b RELIANCE 5 @ 2900 cnc     buy TCS 1 slm trigger 4100",
        "  no price and no type: a LIMIT at the LTP. Equity defaults to CNC, F&O to NRML.",
        "  fills the order ticket for review; nothing is sent until you confirm it there.",
    ),
    "sell": (
        "sell|s SYMBOL QTY ...  (as buy)",
        "  sell NIFTY FUT 1 lot market     s INFY 10 sl 1490 trigger 1495",
    ),
    "gtt": (
        "gtt SYMBOL buy|sell QTY trigger T limit P            (single)",
        "gtt SYMBOL buy|sell QTY oco trigger T1 limit P1 trigger T2 limit P2   (stop and target)",
        "  gtt SBIN sell 10 trigger 850 limit 849   (CNC for equity, NRML for F&O)",
    ),
    "bracket": (
        "bracket SYMBOL buy|sell QTY [limit PRICE | market] sl LEVEL target LEVEL [trail PTS]"
        " [exit 30m]",
        "  LEVEL is a price (805), a percent (1%), points (5pts) or ATRs (1.5atr)",
        "  bracket SBIN buy 10 limit 812 sl 805 target 830 trail 2   (MIS unless cnc/nrml)",
    ),
    "cancel": ("cancel all | cancel all SYMBOL | cancel ORDER_ID",),
    "exit": ("exit SYMBOL | exit all   (square off at market, after review)",),
    "chart": ("chart SYMBOL [1m|3m|5m|15m|1h|1d]",),
    "alert": (
        "alert SYMBOL above|below|cross PRICE [repeat] [note TEXT]",
        "alert SYMBOL move PCT% [repeat] [note TEXT]     e.g. alert NIFTY move 1%",
    ),
    "kill": ("kill   (kill switch: cancels everything and blocks new orders; asks to confirm)",),
    "help": ("help [VERB]   or ?",),
}

_VERBS: dict[str, str] = {
    "buy": "buy",
    "b": "buy",
    "sell": "sell",
    "s": "sell",
    "gtt": "gtt",
    "bracket": "bracket",
    "bo": "bracket",
    "cancel": "cancel",
    "exit": "exit",
    "squareoff": "exit",
    "chart": "chart",
    "alert": "alert",
    "kill": "kill",
    "help": "help",
    "?": "help",
}
VERB_WORDS: tuple[str, ...] = (
    "buy", "sell", "gtt", "bracket", "alert", "chart", "cancel", "exit", "kill", "help",
)
"""The verbs the autocomplete offers (aliases are accepted but not suggested)."""

_SIDES = {"buy": Side.BUY, "b": Side.BUY, "sell": Side.SELL, "s": Side.SELL}
_PRODUCTS = {
    "cnc": Product.CNC,
    "delivery": Product.CNC,
    "mis": Product.MIS,
    "intraday": Product.MIS,
    "nrml": Product.NRML,
    "normal": Product.NRML,
    "carryforward": Product.NRML,
}
_VALIDITIES = {"day": Validity.DAY, "ioc": Validity.IOC}
_LIMIT_WORDS = frozenset({"limit", "lmt", "lim"})
_AT_WORDS = frozenset({"@", "at", "price"})
_MARKET_WORDS = frozenset({"market", "mkt"})
_SL_WORDS = frozenset({"sl", "stoplimit", "stop-limit"})
_SLM_WORDS = frozenset({"slm", "sl-m", "sl_m", "stopmarket", "stop-market"})
_TRIGGER_WORDS = frozenset({"trigger", "trig", "trg"})
_DISCLOSED_WORDS = frozenset({"disclosed", "dq", "disc"})
_LOT_WORDS = frozenset({"lot", "lots"})
_QTY_WORDS = frozenset({"qty", "quantity"})
_STOP_WORDS = frozenset({"sl", "stop", "stoploss"})
_TARGET_WORDS = frozenset({"target", "tgt", "tp"})
_ALERT_KINDS = {
    "above": AlertKind.ABOVE,
    ">": AlertKind.ABOVE,
    ">=": AlertKind.ABOVE,
    "below": AlertKind.BELOW,
    "<": AlertKind.BELOW,
    "<=": AlertKind.BELOW,
    "cross": AlertKind.CROSS,
    "crosses": AlertKind.CROSS,
    "move": AlertKind.MOVE_PCT,
    "change": AlertKind.MOVE_PCT,
}
_INTERVALS: dict[str, Interval] = {
    "1m": Interval.M1,
    "1min": Interval.M1,
    "3m": Interval.M3,
    "3min": Interval.M3,
    "5m": Interval.M5,
    "5min": Interval.M5,
    "15m": Interval.M15,
    "15min": Interval.M15,
    "1h": Interval.H1,
    "60m": Interval.H1,
    "60min": Interval.H1,
    "1d": Interval.D1,
    "d": Interval.D1,
    "daily": Interval.D1,
}
_KIND_FUT = frozenset({"fut", "futs", "future", "futures"})
_KIND_OPT = {"ce": OptionKind.CE, "call": OptionKind.CE, "pe": OptionKind.PE, "put": OptionKind.PE}

_KEYWORDS: frozenset[str] = frozenset(
    {
        *_SIDES,
        *_PRODUCTS,
        *_VALIDITIES,
        *_LIMIT_WORDS,
        *_AT_WORDS,
        *_MARKET_WORDS,
        *_SL_WORDS,
        *_SLM_WORDS,
        *_TRIGGER_WORDS,
        *_DISCLOSED_WORDS,
        *_LOT_WORDS,
        *_QTY_WORDS,
        *_STOP_WORDS,
        *_TARGET_WORDS,
        *_ALERT_KINDS,
        *_INTERVALS,
        "oco",
        "single",
        "trail",
        "exit",
        "time",
        "repeat",
        "note",
        "all",
        "fok",
        "pts",
        "points",
        "atr",
        "%",
    }
)
"""Words that end an instrument name (only words after the first one: ``buy IOC`` is a stock)."""

_VALUE_RE = re.compile(r"^[\d.,_]+(%|lots?|pts?|points?|atr|x|m|min|mins|h|hr|d)?$")
_INT_RE = re.compile(r"^\d+$")
_PRICE_TEXT_RE = re.compile(r"^(₹|rs\.?)?[\d,_]*\.?\d*$", re.IGNORECASE)
_LOTS_RE = re.compile(r"^(\d+)(lots?)$")
_TOKEN_RE = re.compile(r"@|>=|<=|[<>]|[^\s@<>]+")
_EQ_SERIES = "-EQ"

# Offered after the instrument, per verb, by the autocomplete (in this order).
_NEXT_WORDS: dict[str, tuple[str, ...]] = {
    "buy": (
        "lot", "lots", "limit", "@", "market", "sl", "slm", "trigger",
        "cnc", "mis", "nrml", "day", "ioc", "disclosed",
    ),
    "gtt": ("buy", "sell", "lot", "lots", "trigger", "limit", "oco", "cnc", "nrml"),
    "bracket": (
        "buy", "sell", "lot", "lots", "limit", "market", "sl", "target", "trail", "exit",
        "mis", "cnc", "nrml",
    ),
    "alert": ("above", "below", "cross", "move", "repeat", "note"),
    "chart": ("1m", "3m", "5m", "15m", "1h", "1d"),
}
_NEXT_WORDS["sell"] = _NEXT_WORDS["buy"]
_WANTS_VALUE = frozenset(
    {
        *_LIMIT_WORDS, *_AT_WORDS, *_TRIGGER_WORDS, *_DISCLOSED_WORDS, *_QTY_WORDS,
        *_TARGET_WORDS, *_STOP_WORDS, "sl", "slm", "trail", "exit", "time",
        "above", "below", "cross", "move", "change", ">", "<", ">=", "<=", "note",
    }
)


# ---------------------------------------------------------------------------------------------
# Helpers


def command_symbol(instrument: Instrument) -> str:
    """The shortest text the parser resolves back to ``instrument``: ``SBIN`` for NSE's SBIN-EQ,
    ``BSE:SBIN`` on BSE, ``NIFTY`` for the Nifty 50 index, the symbol for a derivative."""
    kind = instrument.instrument_type
    if kind is InstrumentType.INDEX:
        return normalize(instrument.name) or normalize(instrument.symbol)
    if kind is InstrumentType.EQUITY:
        symbol = instrument.symbol
        base = symbol[: -len(_EQ_SERIES)] if symbol.endswith(_EQ_SERIES) else symbol
        return base if instrument.exchange is Exchange.NSE else f"{instrument.exchange}:{base}"
    return instrument.symbol


def _root(instrument: Instrument) -> str:
    """The underlying a trader means: SBIN for SBIN-EQ and SBIN futures, NIFTY for the index."""
    kind = instrument.instrument_type
    if kind is InstrumentType.EQUITY:
        symbol = instrument.symbol
        return normalize(symbol[: -len(_EQ_SERIES)] if symbol.endswith(_EQ_SERIES) else symbol)
    return normalize(instrument.name) or normalize(instrument.symbol)


def _is_future(instrument: Instrument) -> bool:
    return instrument.instrument_type.is_derivative and not instrument.instrument_type.is_option


def _is_spot(instrument: Instrument) -> bool:
    return instrument.instrument_type in (InstrumentType.EQUITY, InstrumentType.INDEX)


def _candidates_text(found: Sequence[Instrument]) -> str:
    return ", ".join(command_symbol(i) for i in found)


@dataclass(slots=True)
class _Word:
    """One word of the command: its text, lower-cased form and where it starts."""

    raw: str
    low: str
    start: int


@dataclass(slots=True)
class _Cursor:
    """Walks the words after the instrument."""

    words: list[_Word]
    pos: int = 0

    def more(self) -> bool:
        return self.pos < len(self.words)

    def peek(self) -> _Word | None:
        return self.words[self.pos] if self.pos < len(self.words) else None

    def take(self) -> _Word:
        word = self.words[self.pos]
        self.pos += 1
        return word


@dataclass(slots=True)
class _Qty:
    """A quantity as written: units, or lots."""

    count: int
    in_lots: bool
    word: _Word


@dataclass(slots=True)
class _Context:
    """What every sub-parser needs: the text, the verb, the index and the LTP source."""

    text: str
    verb: str
    index: InstrumentIndex
    ltp_of: Callable[[str], int]
    resolved_note: str = ""

    def example(self, key: str | None = None) -> str:
        return EXAMPLES[key or self.verb]

    def ltp(self, instrument: Instrument) -> int | None:
        try:
            value = self.ltp_of(instrument.token)
        except (LookupError, ValueError):
            return None
        return value if isinstance(value, int) and value > 0 else None

    def replaced(self, word: _Word, new: str) -> str:
        """The command text with one word replaced (for examples that fix the user's input)."""
        return self.text[: word.start] + new + self.text[word.start + len(word.raw) :]


# ---------------------------------------------------------------------------------------------
# Parser


class CommandParser:
    """Parses command-bar text against one instrument index (see the module docstring)."""

    def __init__(self, index: InstrumentIndex, ltp_of: Callable[[str], int]) -> None:
        self.index = index
        self.ltp_of = ltp_of

    def parse(self, text: str) -> Command | CommandError:
        """The command ``text`` asks for, or a :class:`CommandError` saying what is wrong."""
        try:
            return self._parse(text)
        except _Fail as fail:
            return fail.error

    def complete(self, text: str, limit: int = 12) -> list[str]:
        """Suggestions for the word being typed at the end of ``text`` (see :func:`complete`)."""
        return complete(text, self.index, limit=limit)

    # -- top level -------------------------------------------------------------------------

    def _parse(self, text: str) -> Command:
        words = [_Word(m.group(), m.group().lower(), m.start()) for m in _TOKEN_RE.finditer(text)]
        if not words:
            raise _Fail("the command is empty; type a verb such as buy, sell, gtt or help", "help")
        verb = _VERBS.get(words[0].low)
        if verb is None:
            raise _Fail(
                f"unknown command {words[0].raw!r}; start with one of: {', '.join(VERB_WORDS)}",
                EXAMPLES["buy"],
            )
        ctx = _Context(text, verb, self.index, self.ltp_of)
        rest = words[1:]
        if verb in ("buy", "sell"):
            return self._order(ctx, rest, _SIDES[verb])
        if verb == "gtt":
            return self._gtt(ctx, rest)
        if verb == "bracket":
            return self._bracket(ctx, rest)
        if verb == "cancel":
            return self._cancel(ctx, rest)
        if verb == "exit":
            return self._exit(ctx, rest)
        if verb == "chart":
            return self._chart(ctx, rest)
        if verb == "alert":
            return self._alert(ctx, rest)
        if verb == "kill":
            extra = [w for w in rest if w.low not in ("switch", "all")]
            if extra:
                raise _Fail(
                    f"'kill' takes nothing more (got {extra[0].raw!r}); it asks to confirm", "kill"
                )
            return KillCommand()
        return self._help(rest)

    def _help(self, rest: list[_Word]) -> HelpCommand:
        if not rest:
            return HelpCommand(None, tuple(help_lines(None)))
        topic = _VERBS.get(rest[0].low)
        if topic is None or topic == "help":
            raise _Fail(
                f"no help on {rest[0].raw!r}; topics are {', '.join(VERB_WORDS)}", "help gtt"
            )
        return HelpCommand(topic, tuple(help_lines(topic)))

    # -- instrument ------------------------------------------------------------------------

    def _split_instrument(
        self, ctx: _Context, rest: list[_Word], *, allow_side_first: bool
    ) -> tuple[list[_Word], list[_Word], list[_Word]]:
        """(words before the instrument, the instrument's words, the words after it)."""
        before: list[_Word] = []
        i = 0
        while i < len(rest):
            low = rest[i].low
            counted = _INT_RE.match(low) or _LOTS_RE.match(low) or (low in _LOT_WORDS and before)
            if counted or (allow_side_first and low in _SIDES):
                before.append(rest[i])
            else:
                break
            i += 1
        if i >= len(rest):
            raise _Fail(f"which instrument? '{ctx.verb}' needs a symbol", ctx.example())
        name = [rest[i]]
        i += 1
        while i < len(rest):
            low = rest[i].low
            nxt = rest[i + 1].low if i + 1 < len(rest) else ""
            if low in _KEYWORDS or low in _VERBS:
                break
            if _VALUE_RE.match(low) and not (_INT_RE.match(low) and nxt in _KIND_OPT):
                break
            name.append(rest[i])
            i += 1
        return before, name, rest[i:]

    def _resolve(self, ctx: _Context, name: list[_Word], *, tradable: bool) -> Instrument:
        try:
            instrument = self._resolve_words(ctx, [w.raw for w in name])
        except _Fail as fail:
            kind_words = _KIND_FUT | set(_KIND_OPT)
            if (
                len(name) > 1
                and not fail.error.candidates
                and not any(w.low in kind_words for w in name)
            ):
                try:
                    first = self._resolve_words(ctx, [name[0].raw])
                except _Fail:
                    first = None
                if first is not None:
                    extra = " ".join(w.raw for w in name[1:])
                    raise _Fail(
                        f"did not understand {extra!r} after {command_symbol(first)}",
                        ctx.example(),
                    ) from None
            raise
        if tradable and not instrument.tradable:
            shown = command_symbol(instrument)
            raise _Fail(
                f"{shown} is an index and cannot be traded; trade its future instead",
                f"{ctx.verb} {shown} FUT 1 lot" if ctx.verb in ("buy", "sell") else ctx.example(),
            )
        return instrument

    def _resolve_words(self, ctx: _Context, raw: list[str]) -> Instrument:
        index = self.index
        query = " ".join(raw)
        if len(raw) == 1 and ":" in query:
            exchange, _, symbol = query.partition(":")
            if exchange.upper() not in Exchange.__members__:
                raise _Fail(
                    f"unknown exchange {exchange!r}; use one of "
                    f"{', '.join(e.value for e in Exchange)}",
                    "buy NSE:SBIN 10",
                )
            found = index.get(exchange.upper(), symbol)
            if found is None:
                raise _Fail(f"no instrument {symbol!r} on {exchange.upper()}", "buy NSE:SBIN 10")
            return found
        words = [normalize(w) for w in raw]
        words = [w for w in words if w]
        if not words:
            raise _Fail(f"{query!r} is not a symbol", ctx.example())
        lowered = {w.lower() for w in raw}
        if lowered & (_KIND_FUT | set(_KIND_OPT)):
            return self._resolve_derivative(ctx, raw, query)
        if len(raw) == 1:
            for exchange in (Exchange.NSE, Exchange.NFO, Exchange.BSE, Exchange.BFO):
                found = index.get(exchange, raw[0])
                if found is not None:
                    return found
        whole = "".join(words)
        results = index.search(query, 10)
        if not results:
            raise _Fail(f"no instrument matches {query!r}; check the symbol", ctx.example())
        exact = [i for i in results if normalize(i.symbol) == whole]
        if exact:
            return exact[0]
        spot = [i for i in results if _is_spot(i) and _root(i) == whole]
        if spot:
            return spot[0]
        rooted = [i for i in results if _root(i) == whole]
        if rooted:
            results = rooted
        roots = {_root(i) for i in results}
        if len(roots) == 1 and (rooted or _is_spot(results[0])):
            found = results[0]
            if not rooted:
                ctx.resolved_note = f"{query} matched {command_symbol(found)}"
            return found
        top = _distinct(results)[:6]
        raise _Fail(
            f"{query!r} could mean {_candidates_text(top)}; write the one you mean",
            ctx.example() if not top else _example_with(ctx, top[0]),
            top,
        )

    def _resolve_derivative(self, ctx: _Context, raw: list[str], query: str) -> Instrument:
        lowered = [w.lower() for w in raw]
        want_future = any(w in _KIND_FUT for w in lowered)
        option_kinds = {_KIND_OPT[w] for w in lowered if w in _KIND_OPT}
        if want_future and option_kinds:
            raise _Fail(f"{query!r} asks for both a future and an option", "buy NIFTY FUT 1 lot")
        head = normalize(raw[0])
        results = self.index.search(query, 50)
        if want_future:
            found = [i for i in results if _is_future(i)]
        else:
            found = [
                i
                for i in results
                if i.instrument_type.is_option and i.option_kind in option_kinds
            ]
            strikes = [w for w in raw[1:] if _VALUE_RE.match(w.lower()) and w[0].isdigit()]
            if strikes:
                wanted: set[int] = set()
                for text in strikes:
                    try:
                        wanted.add(parse_price(text, found[0].price_scale if found else 100))
                    except PriceError:
                        raise _Fail(
                            f"strike {text!r} is not a number", "buy NIFTY 24500 CE 1 lot"
                        ) from None
                found = [i for i in found if i.strike in wanted]
        rooted = [i for i in found if _root(i) == head]
        found = rooted or found
        if not found:
            kind = "future" if want_future else "option"
            raise _Fail(f"no {kind} matches {query!r}", "buy NIFTY FUT 1 lot")
        if len({_root(i) for i in found}) > 1:
            top = _distinct(found)[:6]
            raise _Fail(
                f"{query!r} could mean {_candidates_text(top)}; write the one you mean",
                _example_with(ctx, top[0]),
                top,
            )
        if not want_future and len({(i.strike, i.option_kind) for i in found}) > 1:
            top = sorted(found, key=_expiry_key)[:6]
            raise _Fail(
                f"{query!r} names several options; add the strike, e.g. {raw[0]} 24500 CE",
                _example_with(ctx, top[0]),
                top,
            )
        nearest = min(found, key=_expiry_key)
        return nearest

    # -- values ----------------------------------------------------------------------------

    def _price(
        self, ctx: _Context, inst: Instrument, word: _Word | None, what: str, *, on_tick: bool
    ) -> int:
        if word is None:
            raise _Fail(f"{what} needs a price after it", ctx.example())
        if _PRICE_TEXT_RE.match(word.raw) is None and _VALUE_RE.match(word.low) is None:
            raise _Fail(f"{what}: write {word.raw!r} as digits, such as 812.50", ctx.example())
        try:
            units = parse_price(word.raw, inst.price_scale)
        except PriceError as exc:
            raise _Fail(f"{what}: {exc}", ctx.example()) from None
        if units <= 0:
            raise _Fail(f"{what} must be above zero (got {word.raw})", ctx.example())
        if on_tick and units % inst.tick_size:
            low = snap_to_tick(units, inst.tick_size, mode="down")
            low_text = format_price(low, inst.price_scale)
            high_text = format_price(low + inst.tick_size, inst.price_scale)
            choices = f"{low_text} or {high_text}" if low > 0 else high_text
            raise _Fail(
                f"{word.raw} is not a multiple of the tick "
                f"{format_price(inst.tick_size, inst.price_scale)} for {command_symbol(inst)}; "
                f"try {choices}",
                ctx.replaced(word, low_text if low > 0 else high_text),
            )
        return units

    @staticmethod
    def _int(ctx: _Context, word: _Word | None, what: str) -> int:
        if word is None or not _INT_RE.match(word.low):
            got = "nothing" if word is None else repr(word.raw)
            raise _Fail(f"{what} must be a whole number (got {got})", ctx.example())
        return int(word.low)

    def _qty(self, ctx: _Context, cur: _Cursor, word: _Word, current: _Qty | None) -> _Qty:
        """A quantity word (``10``, ``2lots``), with a following ``lot``/``lots``."""
        if current is not None:
            raise _Fail(
                f"the quantity is given twice ({current.word.raw} and {word.raw})", ctx.example()
            )
        match = _LOTS_RE.match(word.low)
        if match:
            return _Qty(int(match.group(1)), True, word)
        if not _INT_RE.match(word.low):
            raise _Fail(
                f"quantity {word.raw!r} must be a whole number of units or lots (digits only)",
                ctx.example(),
            )
        nxt = cur.peek()
        if nxt is not None and nxt.low in _LOT_WORDS:
            cur.take()
            return _Qty(int(word.low), True, word)
        return _Qty(int(word.low), False, word)

    def _units(self, ctx: _Context, inst: Instrument, qty: _Qty | None) -> tuple[int, int | None]:
        """(units, lots or None) for a quantity; checks it is positive and a whole lot."""
        if qty is None:
            raise _Fail(
                f"how many? give a quantity after {command_symbol(inst)}",
                _example_with(ctx, inst),
            )
        if qty.count <= 0:
            raise _Fail(f"quantity must be at least 1 (got {qty.word.raw})", ctx.example())
        lot = max(inst.lot_size, 1)
        if qty.in_lots:
            return qty.count * lot, (qty.count if lot > 1 else None)
        if qty.count % lot:
            low = qty.count - qty.count % lot
            options = f"{low} or {low + lot}" if low else f"{lot}"
            raise _Fail(
                f"{qty.count} is not a whole number of lots for {command_symbol(inst)} "
                f"(lot size {lot}); use {options}, or write it in lots",
                ctx.replaced(qty.word, "1 lot"),
            )
        return qty.count, None

    @staticmethod
    def _product(
        ctx: _Context, inst: Instrument, chosen: Product | None, default_intraday: bool = False
    ) -> Product:
        derivative = inst.instrument_type.is_derivative
        if chosen is None:
            if default_intraday:
                return Product.MIS
            return Product.NRML if derivative else Product.CNC
        if chosen is Product.CNC and derivative:
            raise _Fail(
                f"CNC is for equity delivery; {command_symbol(inst)} is F&O: use nrml (overnight) "
                "or mis (intraday)",
                f"{ctx.verb} {command_symbol(inst)} 1 lot market nrml"
                if ctx.verb in ("buy", "sell")
                else ctx.example(),
            )
        if chosen is Product.NRML and not derivative:
            raise _Fail(
                f"NRML is for F&O; {command_symbol(inst)} is equity: use cnc (delivery) or mis "
                "(intraday)",
                f"{ctx.verb} {command_symbol(inst)} 10 market cnc"
                if ctx.verb in ("buy", "sell")
                else ctx.example(),
            )
        return chosen

    @staticmethod
    def _set_once(ctx: _Context, slot: dict[str, Any], key: str, value: Any, word: _Word) -> None:
        old = slot.get(key)
        if old is not None and old != value:
            raise _Fail(f"{key} is given twice (again at {word.raw!r})", ctx.example())
        slot[key] = value

    # -- buy / sell ------------------------------------------------------------------------

    def _order(self, ctx: _Context, rest: list[_Word], side: Side) -> OrderCommand:
        before, name, after = self._split_instrument(ctx, rest, allow_side_first=False)
        inst = self._resolve(ctx, name, tradable=True)
        cur = _Cursor(before + after)
        qty: _Qty | None = None
        slots: dict[str, Any] = {}
        order_type: OrderType | None = None
        price: int | None = None
        trigger: int | None = None
        disclosed: int | None = None

        def set_type(new: OrderType, word: _Word) -> None:
            nonlocal order_type
            if order_type is not None and order_type is not new:
                raise _Fail(
                    f"two order types: {order_type.value} and {new.value} (at {word.raw!r})",
                    ctx.example(),
                )
            order_type = new

        def set_price(word: _Word | None, what: str) -> None:
            nonlocal price
            if price is not None:
                raise _Fail("the price is given twice", ctx.example())
            price = self._price(ctx, inst, word, what, on_tick=True)

        def number_next() -> _Word | None:
            """The next word when it is meant as a price (a number, or a non-keyword typo)."""
            nxt = cur.peek()
            if nxt is None or _LOTS_RE.match(nxt.low):
                return None
            if _VALUE_RE.match(nxt.low) or (nxt.low not in _KEYWORDS and nxt.low not in _VERBS):
                return cur.take()
            return None

        while cur.more():
            word = cur.take()
            low = word.low
            if _INT_RE.match(low) or _LOTS_RE.match(low):
                if qty is None:
                    qty = self._qty(ctx, cur, word, None)
                elif price is None and order_type in (None, OrderType.LIMIT, OrderType.SL):
                    set_price(word, "price")
                else:
                    raise _Fail(f"did not understand the number {word.raw!r} here", ctx.example())
            elif _VALUE_RE.match(low):
                if qty is None:
                    raise _Fail(
                        f"quantity {word.raw!r} must be a whole number (digits only); write the "
                        "quantity first",
                        ctx.example(),
                    )
                if price is not None or order_type in (OrderType.MARKET, OrderType.SL_M):
                    raise _Fail(f"did not understand the number {word.raw!r} here", ctx.example())
                set_price(word, "price")
            elif low in _QTY_WORDS:
                qty = self._qty(ctx, cur, cur.take() if cur.more() else word, qty)
            elif low in _LOT_WORDS:
                raise _Fail(f"'{word.raw}' needs a number before it, e.g. 2 lots", ctx.example())
            elif low in _LIMIT_WORDS:
                if order_type is OrderType.SL_M:
                    raise _Fail(
                        "an SL-M order has no limit price; use sl for a stop-limit",
                        "sell INFY 10 sl 1490 trigger 1495",
                    )
                if order_type is None:
                    order_type = OrderType.LIMIT
                value = number_next()
                if value is not None:
                    set_price(value, "limit price")
            elif low in _AT_WORDS:
                if order_type is None:
                    order_type = OrderType.LIMIT
                set_price(number_next(), f"'{word.raw}'")
            elif low in _MARKET_WORDS:
                set_type(OrderType.MARKET, word)
            elif low in _SL_WORDS:
                if order_type is OrderType.LIMIT:
                    order_type = None
                set_type(OrderType.SL, word)
                value = number_next()
                if value is not None:
                    set_price(value, "SL limit price")
            elif low in _SLM_WORDS:
                set_type(OrderType.SL_M, word)
                value = number_next()
                if value is not None:
                    if trigger is not None:
                        raise _Fail("the trigger is given twice", ctx.example())
                    trigger = self._price(ctx, inst, value, "trigger", on_tick=True)
            elif low in _TRIGGER_WORDS:
                if trigger is not None:
                    raise _Fail("the trigger is given twice", ctx.example())
                trigger = self._price(ctx, inst, number_next(), "trigger", on_tick=True)
            elif low in _PRODUCTS:
                self._set_once(ctx, slots, "product", _PRODUCTS[low], word)
            elif low in _VALIDITIES:
                self._set_once(ctx, slots, "validity", _VALIDITIES[low], word)
            elif low == "fok":
                raise _Fail(
                    "FOK is not offered by Indian brokers; use ioc (fill what you can now, cancel "
                    "the rest) or day",
                    ctx.replaced(word, "ioc"),
                )
            elif low in _DISCLOSED_WORDS:
                if disclosed is not None:
                    raise _Fail("the disclosed quantity is given twice", ctx.example())
                disclosed = self._int(ctx, cur.take() if cur.more() else None, "disclosed qty")
            elif low in _SIDES:
                if _SIDES[low] is not side:
                    raise _Fail(
                        f"the command is a {side.value.lower()} but also says {word.raw!r}",
                        ctx.example(),
                    )
            else:
                raise _Fail(f"did not understand {word.raw!r}", ctx.example())

        units, lots = self._units(ctx, inst, qty)
        price_from_ltp = False
        if trigger is not None and order_type in (None, OrderType.LIMIT):
            order_type = OrderType.SL if price is not None else OrderType.SL_M
        if order_type is OrderType.MARKET and trigger is not None:
            raise _Fail(
                "a MARKET order takes no trigger; for a stop-market order use slm",
                f"{ctx.verb} {command_symbol(inst)} {units} slm trigger "
                f"{format_price(trigger, inst.price_scale)}",
            )
        if order_type is OrderType.MARKET and price is not None:
            raise _Fail(
                "a MARKET order takes no price; drop 'market' for a limit order",
                f"{ctx.verb} {command_symbol(inst)} {units} limit "
                f"{format_price(price, inst.price_scale)}",
            )
        if order_type is OrderType.SL and (price is None or trigger is None):
            raise _Fail(
                "an SL (stop-limit) order needs a limit price and a trigger (slm needs only the "
                "trigger)",
                "sell INFY 10 sl 1490 trigger 1495",
            )
        if order_type is OrderType.SL_M and trigger is None:
            raise _Fail("an SL-M order needs a trigger", "buy TCS 1 slm trigger 4100")
        if order_type is OrderType.SL_M and price is not None:
            raise _Fail(
                "an SL-M order has no limit price; use sl for a stop-limit",
                "sell INFY 10 sl 1490 trigger 1495",
            )
        if order_type in (None, OrderType.LIMIT) and price is None:
            ltp = ctx.ltp(inst)
            if ltp is None:
                raise _Fail(
                    f"no price for {command_symbol(inst)} yet; give a limit price or say market",
                    f"{ctx.verb} {command_symbol(inst)} {units} limit <price>",
                )
            price = snap_to_tick(ltp, inst.tick_size)
            price_from_ltp = True
        if order_type is None:
            order_type = OrderType.LIMIT
        if order_type is OrderType.SL and price is not None and trigger is not None:
            fmt = inst.price_scale
            if side is Side.BUY and trigger > price:
                raise _Fail(
                    f"a buy SL needs the trigger at or below the limit (trigger "
                    f"{format_price(trigger, fmt)} > limit {format_price(price, fmt)})",
                    f"buy {command_symbol(inst)} {units} sl {format_price(trigger, fmt)} trigger "
                    f"{format_price(price, fmt)}",
                )
            if side is Side.SELL and trigger < price:
                raise _Fail(
                    f"a sell SL needs the trigger at or above the limit (trigger "
                    f"{format_price(trigger, fmt)} < limit {format_price(price, fmt)})",
                    f"sell {command_symbol(inst)} {units} sl {format_price(trigger, fmt)} trigger "
                    f"{format_price(price, fmt)}",
                )
        if disclosed is not None and disclosed > units:
            raise _Fail(
                f"the disclosed quantity {disclosed} is more than the order quantity {units}",
                f"{ctx.verb} {command_symbol(inst)} {units} disclosed {max(units // 10, 1)}",
            )
        product = self._product(ctx, inst, slots.get("product"))
        fields: dict[str, Any] = {
            "token": inst.token,
            "side": side,
            "qty": units,
            "order_type": order_type,
            "product": product,
            "validity": slots.get("validity", Validity.DAY),
            "price": price or 0,
            "trigger_price": trigger or 0,
            "disclosed_qty": disclosed or 0,
        }
        try:
            OrderIntent(**fields)
        except ValidationError as exc:
            raise _Fail("; ".join(intent_errors(exc)), ctx.example()) from None
        summary = _order_summary(fields, inst, lots, price_from_ltp, ctx.resolved_note)
        return OrderCommand(fields, inst, summary, lots, price_from_ltp)

    # -- gtt -------------------------------------------------------------------------------

    def _gtt(self, ctx: _Context, rest: list[_Word]) -> GttCommand:
        before, name, after = self._split_instrument(ctx, rest, allow_side_first=True)
        inst = self._resolve(ctx, name, tradable=True)
        cur = _Cursor(before + after)
        side: Side | None = None
        qty: _Qty | None = None
        product: Product | None = None
        oco = False
        triggers: list[int] = []
        limits: list[int] = []
        while cur.more():
            word = cur.take()
            low = word.low
            if low in _SIDES:
                if side is not None and side is not _SIDES[low]:
                    raise _Fail("a GTT has one side; both buy and sell were given", ctx.example())
                side = _SIDES[low]
            elif _INT_RE.match(low) or _LOTS_RE.match(low):
                qty = self._qty(ctx, cur, word, qty)
            elif low in _QTY_WORDS:
                qty = self._qty(ctx, cur, cur.take() if cur.more() else word, qty)
            elif low in _TRIGGER_WORDS:
                triggers.append(
                    self._price(ctx, inst, _next(cur), "trigger", on_tick=True)
                )
            elif low in _LIMIT_WORDS or low in _AT_WORDS:
                limits.append(self._price(ctx, inst, _next(cur), "limit price", on_tick=True))
            elif low == "oco":
                oco = True
            elif low == "single":
                continue
            elif low in _PRODUCTS:
                chosen = _PRODUCTS[low]
                if chosen is Product.MIS:
                    raise _Fail(
                        "a GTT places CNC (equity) or NRML (F&O) orders; MIS is not allowed",
                        ctx.example(),
                    )
                if product is not None and product is not chosen:
                    raise _Fail("the product is given twice", ctx.example())
                product = chosen
            elif low in _MARKET_WORDS:
                raise _Fail(
                    "a GTT always places a LIMIT order when it triggers; give 'limit PRICE'",
                    ctx.example(),
                )
            else:
                raise _Fail(f"did not understand {word.raw!r} in a GTT", ctx.example())
        sym = command_symbol(inst)
        if side is None:
            raise _Fail(
                "a GTT needs a side: buy or sell", f"gtt {sym} sell 10 trigger <t> limit <p>"
            )
        units, lots = self._units(ctx, inst, qty)
        kind = GttKind.OCO if oco or len(triggers) == 2 else GttKind.SINGLE
        want = 2 if kind is GttKind.OCO else 1
        if len(triggers) != want or len(limits) != want:
            if kind is GttKind.OCO:
                raise _Fail(
                    f"an OCO GTT needs two triggers and two limit prices (got {len(triggers)} "
                    f"and {len(limits)})",
                    EXAMPLES["oco"],
                )
            raise _Fail(
                f"a GTT needs one trigger and one limit price (got {len(triggers)} and "
                f"{len(limits)}); two of each make an OCO",
                EXAMPLES["gtt"],
            )
        ltp = ctx.ltp(inst)
        if ltp is None:
            raise _Fail(
                f"no price for {sym} yet; a GTT needs the LTP to know which way each trigger "
                "fires. Try again once quotes arrive",
                EXAMPLES["gtt"],
            )
        chosen_product = self._product(ctx, inst, product)
        pairs = zip(triggers, limits, strict=True)
        legs = sorted(
            (GttLeg(t, p, side, units, chosen_product) for t, p in pairs),
            key=lambda leg: leg.trigger,
        )
        fmt = inst.price_scale
        for leg in legs:
            if leg.trigger == ltp:
                raise _Fail(
                    f"trigger {format_price(leg.trigger, fmt)} equals the LTP; a trigger must be "
                    "above the LTP (fires on a rise) or below it (fires on a fall)",
                    EXAMPLES["gtt"],
                )
        if kind is GttKind.OCO and not legs[0].trigger < ltp < legs[1].trigger:
            raise _Fail(
                f"an OCO GTT needs one trigger below the LTP {format_price(ltp, fmt)} and one "
                f"above it (got {format_price(legs[0].trigger, fmt)} and "
                f"{format_price(legs[1].trigger, fmt)})",
                EXAMPLES["oco"],
            )
        try:
            validate_rule(inst.token, kind, tuple(legs), ltp, inst.tick_size)
        except GttError as exc:
            raise _Fail(str(exc), EXAMPLES["gtt"]) from None
        parts = []
        for leg in legs:
            way = "rises to" if leg.trigger > ltp else "falls to"
            parts.append(
                f"when LTP {way} {format_price(leg.trigger, fmt)}: {side.value} {units} "
                f"LIMIT {format_price(leg.limit, fmt)}"
            )
        lots_text = f" ({lots} lot{'s' if lots != 1 else ''})" if lots else ""
        summary = (
            f"GTT {kind.value} {sym}{lots_text} {chosen_product.value}, LTP "
            f"{format_price(ltp, fmt)}; " + "; or ".join(parts)
        )
        return GttCommand(inst, kind, tuple(legs), ltp, _with_note(summary, ctx.resolved_note))

    # -- bracket ---------------------------------------------------------------------------

    def _bracket(self, ctx: _Context, rest: list[_Word]) -> BracketCommand:
        before, name, after = self._split_instrument(ctx, rest, allow_side_first=True)
        inst = self._resolve(ctx, name, tradable=True)
        cur = _Cursor(before + after)
        side: Side | None = None
        qty: _Qty | None = None
        product: Product | None = None
        entry_type: OrderType | None = None
        entry_price: int | None = None
        stop: ExitLevel | None = None
        target: ExitLevel | None = None
        trail: int | None = None
        minutes: int | None = None
        while cur.more():
            word = cur.take()
            low = word.low
            if low in _SIDES:
                if side is not None and side is not _SIDES[low]:
                    raise _Fail(
                        "a bracket has one side; both buy and sell were given", ctx.example()
                    )
                side = _SIDES[low]
            elif _INT_RE.match(low) or _LOTS_RE.match(low):
                if qty is None:
                    qty = self._qty(ctx, cur, word, None)
                elif entry_price is None and entry_type is None:
                    entry_price = self._price(ctx, inst, word, "entry price", on_tick=True)
                    entry_type = OrderType.LIMIT
                else:
                    raise _Fail(f"did not understand the number {word.raw!r} here", ctx.example())
            elif low in _QTY_WORDS:
                qty = self._qty(ctx, cur, cur.take() if cur.more() else word, qty)
            elif low in _LIMIT_WORDS or low in _AT_WORDS:
                if entry_type is not None:
                    raise _Fail("the entry is given twice", ctx.example())
                entry_type = OrderType.LIMIT
                entry_price = self._price(ctx, inst, _next(cur), "entry price", on_tick=True)
            elif low in _MARKET_WORDS:
                if entry_type is not None:
                    raise _Fail("the entry is given twice", ctx.example())
                entry_type = OrderType.MARKET
            elif low in _STOP_WORDS:
                if stop is not None:
                    raise _Fail("the stop-loss is given twice", ctx.example())
                stop = self._level(ctx, inst, cur, "sl")
            elif low in _TARGET_WORDS:
                if target is not None:
                    raise _Fail("the target is given twice", ctx.example())
                target = self._level(ctx, inst, cur, "target")
            elif low == "trail":
                if trail is not None:
                    raise _Fail("the trail is given twice", ctx.example())
                trail = self._price(ctx, inst, _points_word(cur), "trail (points)", on_tick=True)
            elif low in ("exit", "time"):
                minutes = self._minutes(ctx, _next(cur))
            elif low in _PRODUCTS:
                if product is not None and product is not _PRODUCTS[low]:
                    raise _Fail("the product is given twice", ctx.example())
                product = _PRODUCTS[low]
            else:
                raise _Fail(f"did not understand {word.raw!r} in a bracket", ctx.example())
        sym = command_symbol(inst)
        if side is None:
            raise _Fail(
                "a bracket needs a side: buy or sell", f"bracket {sym} buy 10 limit <p> sl <s>"
            )
        units, lots = self._units(ctx, inst, qty)
        if stop is None and target is None:
            raise _Fail("a bracket needs a stop-loss (sl), a target, or both", EXAMPLES["bracket"])
        if trail is not None and stop is None:
            raise _Fail("a trailing stop needs an sl to start from", EXAMPLES["bracket"])
        price_from_ltp = False
        ltp = ctx.ltp(inst)
        if entry_type is None:
            if ltp is None:
                raise _Fail(
                    f"no price for {sym} yet; give the entry (limit PRICE) or say market",
                    EXAMPLES["bracket"],
                )
            entry_type, entry_price = OrderType.LIMIT, snap_to_tick(ltp, inst.tick_size)
            price_from_ltp = True
        chosen_product = self._product(ctx, inst, product, default_intraday=True)
        ref = entry_price if entry_type is OrderType.LIMIT else ltp
        if ref is not None:
            self._check_levels(ctx, inst, side, ref, stop, target)
        fields: dict[str, Any] = {
            "token": inst.token,
            "side": side,
            "qty": units,
            "tick": inst.tick_size,
            "stop": stop,
            "target": target,
            "entry_type": entry_type,
            "entry_price": entry_price if entry_type is OrderType.LIMIT else None,
            "product": chosen_product,
            "trail_step": trail,
            "time_exit_minutes": minutes,
        }
        try:
            validate_spec(BracketSpec(**fields))
        except BracketError as exc:
            raise _Fail(str(exc), EXAMPLES["bracket"]) from None
        summary = _bracket_summary(fields, inst, lots, price_from_ltp, ctx.resolved_note)
        return BracketCommand(inst, fields, summary, lots)

    def _level(self, ctx: _Context, inst: Instrument, cur: _Cursor, what: str) -> ExitLevel:
        """``805`` (price), ``1%``/``1 %``, ``5pts``/``5 pts``, ``1.5atr``/``1.5 atr``."""
        word = _next(cur)
        if word is None:
            raise _Fail(f"{what} needs a level: a price, 1%, 5pts or 1.5atr", EXAMPLES["bracket"])
        match = re.match(r"^([\d.,_]+)\s*(%|pts?|points?|atr|x)?$", word.low)
        if match is None:
            raise _Fail(
                f"{what} {word.raw!r} is not a level; write a price (805), a percent (1%), "
                "points (5pts) or ATRs (1.5atr)",
                EXAMPLES["bracket"],
            )
        number, unit = match.group(1), match.group(2)
        nxt = cur.peek()
        if unit is None and nxt is not None and nxt.low in ("%", "pts", "pt", "points", "atr"):
            unit = cur.take().low
        try:
            if unit == "%":
                value = Decimal(number.replace(",", ""))
                if not value.is_finite() or not 0 < value < 100:
                    raise _Fail(f"{what} {word.raw}: a percent must be between 0 and 100",
                                EXAMPLES["bracket"])
                return ExitLevel.percent(value)
            if unit in ("atr", "x"):
                value = Decimal(number.replace(",", ""))
                if not value.is_finite() or value <= 0:
                    raise _Fail(f"{what} {word.raw}: an ATR multiple must be above 0",
                                EXAMPLES["bracket"])
                return ExitLevel.atr(value)
        except InvalidOperation:
            raise _Fail(f"{what} {word.raw!r} is not a number", EXAMPLES["bracket"]) from None
        price_word = _Word(number, number, word.start)
        if unit is None:
            return ExitLevel.price(self._price(ctx, inst, price_word, what, on_tick=True))
        return ExitLevel.points(self._price(ctx, inst, price_word, f"{what} points", on_tick=True))

    @staticmethod
    def _check_levels(
        ctx: _Context,
        inst: Instrument,
        side: Side,
        ref: int,
        stop: ExitLevel | None,
        target: ExitLevel | None,
    ) -> None:
        sign = side.sign
        fmt = inst.price_scale
        if stop is not None and stop.kind is ExitKind.PRICE:
            level = int(stop.value)
            if not sign * level < sign * ref:
                where = "below" if sign > 0 else "above"
                raise _Fail(
                    f"the sl {format_price(level, fmt)} must be {where} the entry "
                    f"{format_price(ref, fmt)} for a {side.value.lower()} bracket",
                    EXAMPLES["bracket"],
                )
        if target is not None and target.kind is ExitKind.PRICE:
            level = int(target.value)
            if not sign * level > sign * ref:
                where = "above" if sign > 0 else "below"
                raise _Fail(
                    f"the target {format_price(level, fmt)} must be {where} the entry "
                    f"{format_price(ref, fmt)} for a {side.value.lower()} bracket",
                    EXAMPLES["bracket"],
                )

    @staticmethod
    def _minutes(ctx: _Context, word: _Word | None) -> int:
        pattern = r"^(\d+)\s*(m|min|mins|minutes|h|hr|hrs|hours)?$"
        match = re.match(pattern, word.low) if word is not None else None
        if match is None:
            got = "nothing" if word is None else repr(word.raw)
            raise _Fail(
                f"a time exit is minutes or hours such as 30m or 1h (got {got})",
                "bracket SBIN buy 10 limit 812 sl 805 exit 30m",
            )
        value = int(match.group(1))
        minutes = value * 60 if (match.group(2) or "m").startswith("h") else value
        if minutes <= 0:
            raise _Fail(
                "a time exit must be at least 1 minute",
                "bracket SBIN buy 10 limit 812 sl 805 exit 30m",
            )
        return minutes

    # -- cancel / exit / chart / alert -----------------------------------------------------

    def _cancel(self, ctx: _Context, rest: list[_Word]) -> CancelCommand:
        if not rest:
            raise _Fail("cancel what? all, all SYMBOL, or an order id", "cancel all")
        if rest[0].low == "all":
            if len(rest) == 1:
                return CancelCommand(summary="Cancel every open order")
            _, name, after = self._split_instrument(ctx, rest[1:], allow_side_first=False)
            if after:
                raise _Fail(
                    f"did not understand {after[0].raw!r} after the symbol", "cancel all SBIN"
                )
            inst = self._resolve(ctx, name, tradable=True)
            return CancelCommand(
                instrument=inst, summary=f"Cancel every open order of {command_symbol(inst)}"
            )
        if len(rest) > 1:
            raise _Fail(
                f"cancel takes one order id (got {' '.join(w.raw for w in rest)!r})",
                "cancel 250101000000123",
            )
        order_id = rest[0].raw
        if not re.match(r"^[A-Za-z0-9_-]+$", order_id):
            raise _Fail(f"{order_id!r} is not an order id", "cancel 250101000000123")
        if not any(c.isdigit() for c in order_id):
            for exchange in (Exchange.NSE, Exchange.NFO, Exchange.BSE):
                if self.index.get(exchange, order_id) is not None:
                    raise _Fail(
                        f"{order_id!r} is a symbol, not an order id; to cancel its orders say "
                        "cancel all",
                        f"cancel all {order_id}",
                    )
        return CancelCommand(order_id=order_id, summary=f"Cancel order {order_id}")

    def _exit(self, ctx: _Context, rest: list[_Word]) -> ExitCommand:
        if not rest:
            raise _Fail("exit what? a symbol, or all", "exit SBIN")
        if rest[0].low == "all":
            if len(rest) > 1:
                raise _Fail(
                    f"'exit all' takes nothing more (got {rest[1].raw!r}); for one position "
                    "name it",
                    "exit SBIN",
                )
            return ExitCommand(None, "Square off every open position at market (after review)")
        _, name, after = self._split_instrument(ctx, rest, allow_side_first=False)
        if after:
            raise _Fail(f"did not understand {after[0].raw!r} after the symbol", "exit SBIN")
        inst = self._resolve(ctx, name, tradable=True)
        return ExitCommand(
            inst,
            _with_note(
                f"Square off the {command_symbol(inst)} position at market (after review)",
                ctx.resolved_note,
            ),
        )

    def _chart(self, ctx: _Context, rest: list[_Word]) -> ChartCommand:
        _, name, after = self._split_instrument(ctx, rest, allow_side_first=False)
        inst = self._resolve(ctx, name, tradable=False)
        interval: Interval | None = None
        for word in after:
            found = _INTERVALS.get(word.low)
            if found is None:
                raise _Fail(
                    f"{word.raw!r} is not a chart interval; use one of 1m, 3m, 5m, 15m, 1h, 1d",
                    f"chart {command_symbol(inst)} 5m",
                )
            if interval is not None:
                raise _Fail("the interval is given twice", f"chart {command_symbol(inst)} 5m")
            interval = found
        shown = interval.value if interval else "current interval"
        return ChartCommand(
            inst, interval, _with_note(f"Chart {command_symbol(inst)} ({shown})", ctx.resolved_note)
        )

    def _alert(self, ctx: _Context, rest: list[_Word]) -> AlertCommand:
        _, name, after = self._split_instrument(ctx, rest, allow_side_first=False)
        inst = self._resolve(ctx, name, tradable=False)
        sym = command_symbol(inst)
        cur = _Cursor(after)
        kind: AlertKind | None = None
        level: int | None = None
        pct: Decimal | None = None
        repeat = False
        note = ""
        while cur.more():
            word = cur.take()
            low = word.low
            if low in _ALERT_KINDS:
                if kind is not None:
                    raise _Fail("an alert has one condition; add another alert for a second one",
                                f"alert {sym} above 820")
                kind = _ALERT_KINDS[low]
                value = _next(cur)
                if kind is AlertKind.MOVE_PCT:
                    pct = self._pct(ctx, value, cur, sym)
                else:
                    level = self._price(ctx, inst, value, f"'{word.raw}'", on_tick=False)
            elif low in ("repeat", "again", "every"):
                repeat = True
            elif low == "note":
                note = ctx.text[word.start + len(word.raw) :].strip()
                break
            else:
                raise _Fail(
                    f"did not understand {word.raw!r} in an alert", f"alert {sym} above 820"
                )
        if kind is None:
            raise _Fail(
                "an alert needs a condition: above, below, cross PRICE or move PCT%",
                f"alert {sym} above 820",
            )
        ltp = ctx.ltp(inst)
        fmt = inst.price_scale
        if ltp is not None and level is not None:
            if kind is AlertKind.ABOVE and ltp >= level:
                raise _Fail(
                    f"{sym} is at {format_price(ltp, fmt)}, already at or above "
                    f"{format_price(level, fmt)}: an 'above' alert fires when the price rises to "
                    "the level",
                    f"alert {sym} below {format_price(level, fmt)}",
                )
            if kind is AlertKind.BELOW and ltp <= level:
                raise _Fail(
                    f"{sym} is at {format_price(ltp, fmt)}, already at or below "
                    f"{format_price(level, fmt)}: a 'below' alert fires when the price falls to "
                    "the level",
                    f"alert {sym} above {format_price(level, fmt)}",
                )
        if kind is AlertKind.MOVE_PCT:
            what = f"moves {pct}% from the previous close (either way)"
        else:
            assert level is not None
            verb = {AlertKind.ABOVE: "rises to", AlertKind.BELOW: "falls to"}.get(kind, "crosses")
            what = f"{verb} {format_price(level, fmt)}"
        summary = f"Alert when {sym} {what}" + (", every time" if repeat else ", once")
        if note:
            summary += f" - {note}"
        return AlertCommand(
            inst, kind, level, pct, repeat, note, ltp, _with_note(summary, ctx.resolved_note)
        )

    @staticmethod
    def _pct(ctx: _Context, word: _Word | None, cur: _Cursor, sym: str) -> Decimal:
        example = f"alert {sym} move 1%"
        if word is None:
            raise _Fail("move needs a percentage", example)
        text = word.low.removesuffix("%")
        nxt = cur.peek()
        if text == word.low and nxt is not None and nxt.low == "%":
            cur.take()
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _Fail(f"{word.raw!r} is not a percentage", example) from None
        if not value.is_finite() or not 0 < value < 100:
            raise _Fail(f"a move alert needs a percentage between 0 and 100 (got {word.raw})",
                        example)
        return value


# ---------------------------------------------------------------------------------------------
# Module-level helpers


def _next(cur: _Cursor) -> _Word | None:
    return cur.take() if cur.more() else None


_POINT_UNITS = ("points", "pts", "pt")


def _points_word(cur: _Cursor) -> _Word | None:
    """The next word as a number of points: ``2``, ``2pts`` or ``2 pts``."""
    word = _next(cur)
    if word is None:
        return None
    for unit in _POINT_UNITS:
        if word.low.endswith(unit) and word.low != unit:
            return _Word(word.raw[: -len(unit)], word.low[: -len(unit)], word.start)
    nxt = cur.peek()
    if nxt is not None and nxt.low in _POINT_UNITS:
        cur.take()
    return word


def _expiry_key(instrument: Instrument) -> tuple[date, str]:
    return (instrument.expiry or date.max, instrument.symbol)


def _distinct(found: Sequence[Instrument]) -> list[Instrument]:
    seen: set[str] = set()
    out: list[Instrument] = []
    for inst in found:
        key = command_symbol(inst)
        if key not in seen:
            seen.add(key)
            out.append(inst)
    return out


def _example_with(ctx: _Context, instrument: Instrument) -> str:
    """A command of the current verb for ``instrument`` (concrete where no price is needed)."""
    qty = "10" if instrument.lot_size <= 1 else "1 lot"
    template = {
        "buy": "buy {s} {q}",
        "sell": "sell {s} {q}",
        "gtt": "gtt {s} sell {q} trigger <price> limit <price>",
        "bracket": "bracket {s} buy {q} market sl 1%",
        "cancel": "cancel all {s}",
        "exit": "exit {s}",
        "chart": "chart {s} 5m",
        "alert": "alert {s} move 1%",
    }.get(ctx.verb, "chart {s}")
    return template.format(s=command_symbol(instrument), q=qty)


def _with_note(summary: str, note: str) -> str:
    return f"{summary} ({note})" if note else summary


def _qty_text(units: int, lots: int | None) -> str:
    if lots is None:
        return str(units)
    return f"{lots} lot{'s' if lots != 1 else ''} ({units})"


def _order_summary(
    fields: dict[str, Any], inst: Instrument, lots: int | None, from_ltp: bool, note: str
) -> str:
    fmt = inst.price_scale
    order_type: OrderType = fields["order_type"]
    side: Side = fields["side"]
    parts = [f"{side.value} {_qty_text(fields['qty'], lots)} {command_symbol(inst)}"]
    if order_type is OrderType.MARKET:
        parts.append("MARKET")
    elif order_type is OrderType.LIMIT:
        at_ltp = " (the LTP)" if from_ltp else ""
        parts.append(f"LIMIT {format_price(fields['price'], fmt)}{at_ltp}")
    elif order_type is OrderType.SL:
        parts.append(
            f"SL trigger {format_price(fields['trigger_price'], fmt)} limit "
            f"{format_price(fields['price'], fmt)}"
        )
    else:
        parts.append(f"SL-M trigger {format_price(fields['trigger_price'], fmt)}")
    parts.append(f"{fields['product'].value} {fields['validity'].value}")
    if fields["disclosed_qty"]:
        parts.append(f"disclosed {fields['disclosed_qty']}")
    reference = fields["price"] or fields["trigger_price"]
    if reference and fmt == 100:
        parts.append(f"value ~ Rs {format_money(reference * fields['qty'])}")
    return _with_note(", ".join(parts), note)


def _level_text(level: ExitLevel | None, fmt: int) -> str:
    if level is None:
        return "none"
    if level.kind is ExitKind.PRICE:
        return format_price(int(level.value), fmt)
    if level.kind is ExitKind.POINTS:
        return f"{format_price(int(level.value), fmt)} pts"
    if level.kind is ExitKind.PERCENT:
        return f"{level.value}%"
    return f"{level.value} ATR"


def _bracket_summary(
    fields: dict[str, Any], inst: Instrument, lots: int | None, from_ltp: bool, note: str
) -> str:
    fmt = inst.price_scale
    side: Side = fields["side"]
    if fields["entry_type"] is OrderType.MARKET:
        entry = "MARKET"
    else:
        entry = f"LIMIT {format_price(fields['entry_price'], fmt)}" + (
            " (the LTP)" if from_ltp else ""
        )
    parts = [
        f"Bracket {side.value} {_qty_text(fields['qty'], lots)} {command_symbol(inst)} {entry}",
        f"sl {_level_text(fields['stop'], fmt)}",
        f"target {_level_text(fields['target'], fmt)}",
    ]
    if fields["trail_step"]:
        parts.append(f"trail {format_price(fields['trail_step'], fmt)}")
    if fields["time_exit_minutes"]:
        parts.append(f"exit after {fields['time_exit_minutes']} min")
    parts.append(fields["product"].value)
    return _with_note(", ".join(parts), note)


def help_lines(topic: str | None = None) -> list[str]:
    """Usage lines with examples: for one verb (``"gtt"``), or every verb."""
    if topic is not None:
        verb = _VERBS.get(topic.lower(), topic.lower())
        return list(HELP.get(verb, ()))
    lines: list[str] = []
    for verb in VERB_WORDS:
        lines.extend(HELP[verb])
    lines.append("Trade commands fill the ticket for review; nothing is sent without confirming.")
    return lines


def parse_command(
    text: str, index: InstrumentIndex, *, ltp_of: Callable[[str], int]
) -> Command | CommandError:
    """Parse one command-bar line (see the module docstring); never raises for bad input."""
    return CommandParser(index, ltp_of).parse(text)


# ---------------------------------------------------------------------------------------------
# Autocomplete


def complete(text: str, index: InstrumentIndex, limit: int = 12) -> list[str]:
    """Suggestions for the word being typed at the end of ``text`` (or the next word when
    ``text`` ends with a space): verbs, then symbols from the index's search, then the keywords
    that fit the verb and are not used yet. Each suggestion replaces the word being typed."""
    words = text.split()
    partial = "" if not text or text[-1].isspace() else words.pop()
    low = partial.lower()
    if not words:
        return [v for v in VERB_WORDS if v.startswith(low)][:limit]
    verb = _VERBS.get(words[0].lower())
    if verb is None or verb in ("kill",):
        return []
    if verb == "help":
        return [v for v in VERB_WORDS if v.startswith(low) and v != "help"][:limit] if len(
            words
        ) == 1 else []
    rest = [w.lower() for w in words[1:]]
    if verb == "cancel":
        if not rest:
            return [w for w in ("all",) if w.startswith(low)]
        if rest == ["all"] and partial:
            return _symbols(index, partial, limit)
        return []
    has_instrument = any(
        not (_INT_RE.match(w) or _LOTS_RE.match(w) or w in _LOT_WORDS or w in _SIDES)
        for w in rest
    )
    if not has_instrument:
        out: list[str] = []
        if verb in ("gtt", "bracket"):
            out.extend(s for s in ("buy", "sell") if s.startswith(low) and s not in rest)
        if verb == "exit" and "all".startswith(low):
            out.append("all")
        if partial:
            out.extend(_symbols(index, partial, limit))
        return out[:limit]
    if rest and rest[-1] in _WANTS_VALUE:
        return []
    symbol_only = [w for w in rest if w not in _SIDES]
    if partial and len(symbol_only) == 1 and not _INT_RE.match(symbol_only[0]):
        kinds = [w for w in ("FUT",) if w.lower().startswith(low)]
        if kinds:
            return kinds
    options = _NEXT_WORDS.get(verb, ())
    used = set(rest)
    groups = (
        set(_PRODUCTS),
        set(_VALIDITIES),
        {"buy", "sell"},
        set(_INTERVALS),
        {"above", "below", "cross", "move"},
        {"lot", "lots"},
        {"limit", "@", "market"},
    )
    blocked = set(used)
    for group in groups:
        if used & group:
            blocked |= group
    last_is_int = bool(rest) and bool(_INT_RE.match(rest[-1]))
    out = [
        w
        for w in options
        if w.startswith(low)
        and w not in blocked
        and (w not in _LOT_WORDS or last_is_int)
        and not (w in ("trigger", "limit") and verb == "gtt")
    ]
    if verb == "gtt":
        out += [w for w in ("trigger", "limit") if w.startswith(low)]
    return out[:limit]


def _symbols(index: InstrumentIndex, partial: str, limit: int) -> list[str]:
    """Symbols for a partial word: those that start with it, else the search's fuzzy matches."""
    key = normalize(partial)
    found = index.search(partial, limit * 2)
    prefixed = [
        i
        for i in found
        if normalize(command_symbol(i)).startswith(key) or _root(i).startswith(key)
    ]
    out: list[str] = []
    for inst in prefixed or found:
        shown = command_symbol(inst)
        if shown not in out:
            out.append(shown)
        if len(out) >= limit:
            break
    return out
