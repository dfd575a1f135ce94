"""Angel One SmartWebSocketV2 market-data client, native asyncio on ``websockets``.

Wire contract (research/smartapi.md §10):

* connect to ``wss://smartapisocket.angelone.in/smart-stream`` with the headers
  ``Authorization: <jwt>`` (the bare jwt, no ``Bearer``), ``x-api-key``, ``x-client-code`` and
  ``x-feed-token``; a refused login is an HTTP 401 carrying ``x-error-message``;
* subscribe / unsubscribe with text JSON ``{"correlationID", "action": 1|0, "params": {"mode",
  "tokenList": [{"exchangeType", "tokens"}]}}``;
* modes 1 LTP, 2 QUOTE, 3 SNAP_QUOTE, 4 DEPTH_20 (Depth-20 only for exchange type 1, at most 50
  tokens, as the SDK enforces); at most 1,000 subscriptions per session and 3 connections per
  client code;
* heartbeat: a text ``ping`` that the server answers with a text ``pong``; error frames are JSON
  ``{"correlationID", "errorCode", "errorMessage"}``; ticks are binary packets (see
  :mod:`brokers.angelone.decoder`).

Unlike smartapi-python (§12) this client reconnects for ever with exponential backoff and full
jitter, resubscribes everything it was asked for from its own subscription table after every
reconnect, detects a dead connection by a missing ``pong``, closes cleanly on :meth:`stop` (and then
stays closed), and reports every outage as a gap so the caller can backfill bars from historical
candles and reconcile orders.

The subscription table holds one mode per (exchange type, token): subscribing a token again in
the same mode is ignored, in another mode moves it (unsubscribe from the old mode, subscribe in
the new one). Changes are batched: whatever was changed since the last message went out is sent
as one message per (action, mode), grouped by exchange type.

:class:`ReconnectingSocket` is the connection loop (backoff, heartbeat, state, stop) shared with the
order-update stream (:mod:`brokers.angelone.order_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final, Generic, NamedTuple, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from brokers.angelone.decoder import EXCHANGE_TYPES, FeedDecoder, FeedError, Pong, parse_text_frame
from engine.clock import NS_PER_SECOND, Clock, WallClock
from engine.models import Quote
from engine.redaction import redact, register_secret

__all__ = [
    "DEFAULT_FEED_URL",
    "MARKET_DATA_SLOTS",
    "MAX_CONNECTIONS_PER_CLIENT",
    "MAX_DEPTH_20_TOKENS",
    "MAX_SUBSCRIPTIONS",
    "WIRE_LOGGER_NAME",
    "AngelMarketFeed",
    "Backoff",
    "ConnectionLimitError",
    "ConnectionSlots",
    "ExchangeType",
    "FeedGap",
    "FeedIssue",
    "FeedMode",
    "FeedState",
    "FeedStats",
    "FeedStatus",
    "ReconnectingSocket",
    "Subscription",
    "SubscriptionError",
    "SubscriptionLimitError",
    "WsCredentials",
]

_log = logging.getLogger(__name__)


class _RedactingFilter(logging.Filter):
    """Masks secrets in every record of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


WIRE_LOGGER_NAME: Final = "brokers.angelone.websockets"
"""The logger ``websockets`` writes to for our sockets; its DEBUG records show the handshake
headers, so every record is redacted before it reaches a handler."""
_wire_log = logging.getLogger(WIRE_LOGGER_NAME)
_wire_log.addFilter(_RedactingFilter())

DEFAULT_FEED_URL: Final = "wss://smartapisocket.angelone.in/smart-stream"
MAX_SUBSCRIPTIONS: Final = 1000
"""Subscriptions (token x mode) Angel allows per market-data session."""
MAX_CONNECTIONS_PER_CLIENT: Final = 3
"""Concurrent websocket connections Angel allows per client code (per endpoint)."""
MAX_DEPTH_20_TOKENS: Final = 50
"""Depth-20 subscriptions allowed (the SDK's limit; exchange type 1 only)."""
DEPTH_20_EXCHANGE_TYPE: Final = 1
MAX_TOKEN_LENGTH: Final = 25
"""The packet's token field is 25 bytes."""


class FeedMode(IntEnum):
    """SmartWebSocketV2 subscription modes."""

    LTP = 1
    QUOTE = 2
    SNAP_QUOTE = 3
    DEPTH_20 = 4


class ExchangeType(IntEnum):
    """SmartWebSocketV2 ``exchangeType`` codes."""

    NSE_CM = 1
    NSE_FO = 2
    BSE_CM = 3
    BSE_FO = 4
    MCX_FO = 5
    NCX_FO = 7
    CDE_FO = 13


# ---------------------------------------------------------------------------------------------
# Errors


class SubscriptionError(ValueError):
    """A subscribe/unsubscribe request that cannot be sent, with what would be accepted."""


class SubscriptionLimitError(SubscriptionError):
    """A subscription would exceed one of Angel's limits (1,000 per session, 50 Depth-20)."""


class ConnectionLimitError(RuntimeError):
    """Starting another websocket would exceed Angel's 3 connections per client code."""


# ---------------------------------------------------------------------------------------------
# Credentials, connection slots, backoff


def _bare_jwt(token: str) -> str:
    """The jwt without a ``Bearer `` prefix (some generateTokens answers carry one)."""
    text = token.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    return text


@dataclass(frozen=True, slots=True, repr=False)
class WsCredentials:
    """What the websockets need to log in; every value is registered as a secret.

    ``jwt`` is stored bare (a leading ``Bearer `` is stripped); each socket adds the prefix its
    endpoint wants. ``repr`` shows no value.
    """

    jwt: str
    feed_token: str
    api_key: str
    client_code: str

    def __post_init__(self) -> None:
        for name in ("jwt", "feed_token", "api_key", "client_code"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(
                    f"websocket credential {name} is empty; log in first so that the session "
                    "provides a jwt, a feed token, the API key and the client code"
                )
            register_secret(value)
            register_secret(value.strip())
        object.__setattr__(self, "jwt", _bare_jwt(self.jwt))
        object.__setattr__(self, "feed_token", self.feed_token.strip())
        object.__setattr__(self, "api_key", self.api_key.strip())
        object.__setattr__(self, "client_code", self.client_code.strip())

    def __repr__(self) -> str:
        return "WsCredentials(***)"

    __str__ = __repr__


TokensProvider = Callable[[], WsCredentials | Awaitable[WsCredentials]]
"""Returns the current credentials (called before every connection attempt, so a refreshed
session is picked up on the next reconnect); may be a plain function or a coroutine function."""


class ConnectionSlots:
    """Counts the open connections per client code of one endpoint against Angel's limit.

    One process-wide instance per endpoint (:data:`MARKET_DATA_SLOTS`, the order stream's own);
    a client takes a slot when it starts running and gives it back when it stops.
    """

    def __init__(self, endpoint: str, limit: int = MAX_CONNECTIONS_PER_CLIENT) -> None:
        if limit < 1:
            raise ValueError(f"connection limit must be at least 1, got {limit}")
        self._endpoint = endpoint
        self._limit = limit
        self._open: dict[str, int] = {}

    @property
    def limit(self) -> int:
        """Connections allowed per client code."""
        return self._limit

    def in_use(self, client_code: str) -> int:
        """Connections this process has open for ``client_code``."""
        return self._open.get(client_code, 0)

    def acquire(self, client_code: str) -> None:
        """Take a slot, or raise :class:`ConnectionLimitError` naming the numbers."""
        used = self._open.get(client_code, 0)
        if used >= self._limit:
            raise ConnectionLimitError(
                f"{self._endpoint}: this client code already has {used} connections open and "
                f"Angel One allows at most {self._limit} per client code; stop one before "
                "starting another (one connection carries up to 1000 subscriptions)"
            )
        self._open[client_code] = used + 1

    def release(self, client_code: str) -> None:
        """Give a slot back."""
        used = self._open.get(client_code, 0)
        if used <= 1:
            self._open.pop(client_code, None)
        else:
            self._open[client_code] = used - 1


MARKET_DATA_SLOTS: Final = ConnectionSlots("market-data websocket")
"""The process-wide slot counter of SmartWebSocketV2 connections."""


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(max, base * 2**n)).

    ``rng`` is injectable (a seeded :class:`random.Random` makes delays reproducible).
    """

    def __init__(
        self, base_s: float = 0.5, max_s: float = 30.0, rng: random.Random | None = None
    ) -> None:
        if not base_s > 0 or not max_s >= base_s:
            raise ValueError(
                f"backoff needs 0 < base_s <= max_s, got base_s={base_s}, max_s={max_s}"
            )
        self._base = base_s
        self._max = max_s
        self._rng = rng if rng is not None else random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def ceiling(self, attempt: int) -> float:
        """The largest delay of attempt ``attempt`` (0-based)."""
        return min(self._max, self._base * 2.0 ** min(attempt, 62))

    def next_delay(self) -> float:
        """The next delay in seconds."""
        delay = self._rng.uniform(0.0, self.ceiling(self._attempt))
        self._attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the base delay (after a connection proved healthy)."""
        self._attempt = 0


# ---------------------------------------------------------------------------------------------
# State


class FeedStatus(StrEnum):
    """Where a websocket client is."""

    CONNECTING = "CONNECTING"
    LIVE = "LIVE"
    RECONNECTING = "RECONNECTING"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class FeedIssue:
    """Something that went wrong, as shown to the user (never contains a secret).

    ``kind``: ``auth`` (login refused), ``handshake`` (other HTTP refusal), ``connect`` (network),
    ``closed`` (the connection closed; ``code`` is the close code), ``heartbeat`` (no ``pong``),
    ``error_frame`` (the server sent an error; ``code`` is Angel's, e.g. ``E1002``),
    ``credentials`` (the tokens provider failed), ``internal`` (a bug, logged with a traceback).
    """

    kind: str
    code: str
    message: str
    at_ns: int


class FeedGap(NamedTuple):
    """An outage: data stopped at ``down_since_ns`` and flowed again from ``up_at_ns``."""

    down_since_ns: int
    up_at_ns: int


class Subscription(NamedTuple):
    """One subscribed token in one mode."""

    exchange_type: int
    token: str
    mode: int


@dataclass(frozen=True, slots=True)
class FeedState:
    """A snapshot of the market-data feed, passed to ``on_state`` on every change.

    ``since_ns``: when ``status`` began. ``attempts``: connection attempts made since the feed was
    last LIVE (while LIVE: how many it took). ``last_tick_ns``: receive time of the last decoded
    tick (0: none yet). ``gaps``: the most recent outages, oldest first.
    """

    status: FeedStatus
    since_ns: int
    attempts: int
    last_error: FeedIssue | None
    last_tick_ns: int
    ticks_received: int
    gaps: tuple[FeedGap, ...]


@dataclass(frozen=True, slots=True)
class FeedStats:
    """Counters of the market-data feed (cumulative over reconnects).

    ``decoded`` is per mode and ``dropped`` per reason, straight from the decoder; ``ticks_per_s``
    is the tick rate over the last complete ``rate_window_s`` seconds.
    """

    frames: int
    binary_frames: int
    text_frames: int
    bytes: int
    ticks: int
    decoded: Mapping[int, int]
    dropped: Mapping[str, int]
    oversize: int
    unknown_text: int
    error_frames: int
    connect_attempts: int
    reconnects: int
    pings_sent: int
    pongs_received: int
    heartbeat_timeouts: int
    callback_errors: int
    issues: Mapping[str, int]
    subscriptions: int
    messages_sent: int
    ticks_per_s: float


# ---------------------------------------------------------------------------------------------
# The connection loop shared by both sockets


class _HeartbeatTimeout(Exception):
    """No ``pong`` arrived in time after a ``ping``."""


StateT = TypeVar("StateT")
_T = TypeVar("_T")


class ReconnectingSocket(ABC, Generic[StateT]):
    """A websocket client that stays connected: backoff, heartbeat, state, clean stop.

    Subclasses say which headers to send, what to do once connected, how to read frames and what
    their state snapshot looks like. :meth:`run` runs until :meth:`stop`; a stopped client stays
    stopped (make a new one to connect again).
    """

    _endpoint = "websocket"

    def __init__(
        self,
        url: str,
        tokens_provider: TokensProvider,
        *,
        on_state: Callable[[StateT], None] | None,
        clock: Clock | None,
        slots: ConnectionSlots,
        base_backoff_s: float,
        max_backoff_s: float,
        heartbeat_s: float,
        pong_timeout_s: float | None,
        open_timeout_s: float,
        close_timeout_s: float,
        rng: random.Random | None,
        max_queue: int,
    ) -> None:
        for name, value in (
            ("heartbeat_s", heartbeat_s),
            ("open_timeout_s", open_timeout_s),
            ("close_timeout_s", close_timeout_s),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")
        if pong_timeout_s is not None and not pong_timeout_s > 0:
            raise ValueError(f"pong_timeout_s must be positive seconds, got {pong_timeout_s}")
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"websocket url must start with ws:// or wss://, got {url!r}")
        self._url = url
        self._tokens_provider = tokens_provider
        self._on_state = on_state
        self._clock: Clock = clock if clock is not None else WallClock()
        self._slots = slots
        self._backoff = Backoff(base_backoff_s, max_backoff_s, rng)
        self._heartbeat_s = heartbeat_s
        self._pong_timeout_s = pong_timeout_s if pong_timeout_s is not None else heartbeat_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._max_queue = max_queue

        self._status = FeedStatus.STOPPED
        self._since_ns = self._clock.now_ns()
        self._attempts = 0
        self._last_error: FeedIssue | None = None
        self._gaps: deque[FeedGap] = deque(maxlen=256)
        self._started = False
        self._running = False
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._pong = asyncio.Event()
        self._was_live = False
        self._down_since: int | None = None
        self._last_frame_ns = 0
        self._healthy = False

        self._connect_attempts = 0
        self._reconnects = 0
        self._pings_sent = 0
        self._pongs = 0
        self._heartbeat_timeouts = 0
        self._callback_errors = 0
        self._issues: dict[str, int] = {}

    # -- subclass hooks -------------------------------------------------------------------------

    @abstractmethod
    def _headers(self, credentials: WsCredentials) -> dict[str, str]:
        """The handshake headers."""

    @abstractmethod
    async def _on_open(self, ws: ClientConnection) -> None:
        """Runs once per connection before it counts as LIVE (e.g. resubscribe)."""

    @abstractmethod
    async def _read(self, ws: ClientConnection) -> None:
        """Reads frames until the connection closes; calls :meth:`_got_pong` on ``pong``."""

    @abstractmethod
    def _after_reconnect(self, down_since_ns: int, up_at_ns: int) -> None:
        """Runs when a connection is LIVE again after an outage (gap reporting)."""

    @abstractmethod
    def state(self) -> StateT:
        """The current state snapshot."""

    def _extra_tasks(self, ws: ClientConnection) -> list[Coroutine[Any, Any, None]]:
        """More coroutines to run while connected (they end the connection if they fail)."""
        return []

    # -- public ---------------------------------------------------------------------------------

    @property
    def status(self) -> FeedStatus:
        """The current status."""
        return self._status

    async def run(self) -> None:
        """Connect and stay connected until :meth:`stop`.

        Raises :class:`ConnectionLimitError` when this client code already has the maximum number
        of connections open to this endpoint, and ``RuntimeError`` when run twice.
        """
        if self._started:
            raise RuntimeError(
                f"this {self._endpoint} client has already been run; create a new one to "
                "connect again"
            )
        self._started = True
        if self._stop.is_set():
            self._set_status(FeedStatus.STOPPED)
            self._done.set()
            return
        credentials = await self._credentials()
        client_code = credentials.client_code
        self._slots.acquire(client_code)
        self._running = True
        try:
            self._set_status(FeedStatus.CONNECTING)
            while not self._stop.is_set():
                self._attempts += 1
                self._connect_attempts += 1
                self._notify()
                ws = await self._open(credentials)
                if ws is not None:
                    await self._serve(ws)
                if self._stop.is_set():
                    break
                self._set_status(FeedStatus.RECONNECTING)
                if await self._sleep_or_stop(self._backoff.next_delay()):
                    break
                try:
                    credentials = await self._credentials()
                except Exception as exc:  # the provider's failure is reported, then retried
                    self._issue("credentials", type(exc).__name__, f"tokens provider failed: {exc}")
        finally:
            self._slots.release(client_code)
            self._running = False
            self._set_status(FeedStatus.STOPPED)
            self._done.set()

    async def stop(self) -> None:
        """Close the connection cleanly and end :meth:`run` (waits until it has ended)."""
        self._stop.set()
        if self._running:
            await self._done.wait()

    # -- connection loop ------------------------------------------------------------------------

    async def _credentials(self) -> WsCredentials:
        got = self._tokens_provider()
        credentials = await got if inspect.isawaitable(got) else got
        if not isinstance(credentials, WsCredentials):
            raise TypeError(
                f"tokens_provider must return WsCredentials, got {type(credentials).__name__}"
            )
        return credentials

    async def _open(self, credentials: WsCredentials) -> ClientConnection | None:
        """One connection attempt; ``None`` (and an issue) when it failed or stop was asked."""
        dial = connect(
            self._url,
            additional_headers=self._headers(credentials),
            open_timeout=self._open_timeout_s,
            ping_interval=self._heartbeat_s,
            ping_timeout=self._pong_timeout_s,
            close_timeout=self._close_timeout_s,
            max_queue=self._max_queue,
            compression=None,
            logger=_wire_log,
        )
        try:
            return await self._until_stopped(dial)
        except InvalidStatus as exc:
            response = exc.response
            status = response.status_code
            detail = response.headers.get("x-error-message", "")
            if not detail:
                detail = response.body.decode("utf-8", "replace").strip()[:200]
            kind = "auth" if status in (401, 403) else "handshake"
            hint = {
                401: "; the session tokens were refused (a fresh login provides new ones)",
                403: "; the session has expired (a fresh login provides new tokens)",
                429: "; too many connections for this client code (Angel allows 3)",
            }.get(status, "")
            self._issue(
                kind,
                str(status),
                f"{self._endpoint} refused the connection: HTTP {status} {detail}{hint}",
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._issue("connect", type(exc).__name__, f"cannot connect to {self._endpoint}: {exc}")
        except Exception as exc:  # unexpected: reported with a traceback, then retried
            _log.exception("%s connection attempt failed unexpectedly", self._endpoint)
            message = f"cannot connect to {self._endpoint}: {exc}"
            self._issue("internal", type(exc).__name__, message)
        return None

    async def _serve(self, ws: ClientConnection) -> None:
        """Run one connection until it dies or stop is asked, then close it."""
        self._healthy = False
        self._pong.clear()
        self._last_frame_ns = self._clock.now_ns()
        heartbeat_dead = False
        try:
            await self._on_open(ws)
            up_at = self._clock.now_ns()
            outage = self._down_since if self._was_live else None
            self._was_live = True
            self._down_since = None
            self._set_status(FeedStatus.LIVE)
            if outage is not None:
                self._reconnects += 1
                self._gaps.append(FeedGap(outage, up_at))
                self._notify()
                self._after_reconnect(outage, up_at)
            tasks = [
                asyncio.ensure_future(self._read(ws)),
                asyncio.ensure_future(self._heartbeat(ws)),
                *[asyncio.ensure_future(c) for c in self._extra_tasks(ws)],
            ]
            stopper = asyncio.ensure_future(self._stop.wait())
            try:
                done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (*tasks, stopper):
                    task.cancel()
                await asyncio.gather(*tasks, stopper, return_exceptions=True)
            if not self._stop.is_set():
                failure = next(
                    (t.exception() for t in tasks if t in done and not t.cancelled()), None
                )
                heartbeat_dead = isinstance(failure, _HeartbeatTimeout)
                self._mark_down()
                self._connection_lost(failure)
        except ConnectionClosed as exc:
            if not self._stop.is_set():
                self._mark_down()
                self._connection_lost(exc)
        except Exception as exc:  # a bug must not end the client; it is reported and retried
            _log.exception("%s connection failed unexpectedly", self._endpoint)
            self._mark_down()
            self._issue("internal", type(exc).__name__, f"{self._endpoint} internal error: {exc}")
        finally:
            await self._close(ws, abort=heartbeat_dead)

    def _mark_down(self) -> None:
        """The connection is gone: remember when data last flowed, then say RECONNECTING."""
        if self._status is FeedStatus.LIVE:
            self._down_since = self._last_frame_ns
        self._set_status(FeedStatus.RECONNECTING)

    def _connection_lost(self, failure: BaseException | None) -> None:
        if isinstance(failure, _HeartbeatTimeout):
            self._issue("heartbeat", "no-pong", f"{self._endpoint}: {failure}; reconnecting")
        elif isinstance(failure, ConnectionClosed):
            received = failure.rcvd
            code = received.code if received is not None else 1006
            reason = received.reason if received is not None else "no close frame"
            self._issue(
                "closed", str(code), f"{self._endpoint} connection closed ({code} {reason})"
            )
        elif failure is not None:
            _log.error(
                "%s connection task failed", self._endpoint,
                exc_info=(type(failure), failure, failure.__traceback__),
            )  # fmt: skip
            self._issue(
                "internal", type(failure).__name__, f"{self._endpoint} internal error: {failure}"
            )
        else:
            self._issue("closed", "1006", f"{self._endpoint} connection ended")

    async def _close(self, ws: ClientConnection, *, abort: bool) -> None:
        if abort:
            ws.transport.abort()
            return
        with contextlib.suppress(Exception):
            await ws.close(1000, "client stop" if self._stop.is_set() else "reconnect")

    async def _heartbeat(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            self._pong.clear()
            await ws.send("ping")
            self._pings_sent += 1
            try:
                await asyncio.wait_for(self._pong.wait(), self._pong_timeout_s)
            except TimeoutError:
                self._heartbeat_timeouts += 1
                raise _HeartbeatTimeout(
                    f"no pong within {self._pong_timeout_s:g} s of a ping"
                ) from None
            if not self._healthy:
                self._healthy = True
                self._backoff.reset()

    def _got_pong(self) -> None:
        self._pongs += 1
        self._pong.set()

    async def _until_stopped(self, awaitable: Awaitable[_T]) -> _T | None:
        """Await ``awaitable`` unless stop is asked first (then it is cancelled: ``None``)."""
        task = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: the attempt is abandoned either way
            return None
        result = task.result()
        if self._stop.is_set() and isinstance(result, ClientConnection):
            await result.close(1000, "client stop")
            return None
        return result

    async def _sleep_or_stop(self, delay_s: float) -> bool:
        """Sleep ``delay_s``; True when stop was asked meanwhile."""
        try:
            await asyncio.wait_for(self._stop.wait(), delay_s)
        except TimeoutError:
            return False
        return True

    # -- state ----------------------------------------------------------------------------------

    def _set_status(self, status: FeedStatus) -> None:
        if status is self._status:
            return
        if self._status is FeedStatus.LIVE:
            self._attempts = 0
        self._status = status
        self._since_ns = self._clock.now_ns()
        self._notify()

    def _issue(self, kind: str, code: str, message: str) -> None:
        text = redact(message)
        self._last_error = FeedIssue(kind, redact(code), text, self._clock.now_ns())
        self._issues[kind] = self._issues.get(kind, 0) + 1
        _log.warning("%s", text)
        self._notify()

    def _notify(self) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(self.state())
        except Exception:
            self._callback_errors += 1
            _log.exception("%s on_state callback failed", self._endpoint)

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        """Run a user callback; its failure is counted and logged, never fatal."""
        try:
            callback(*args)
        except Exception:
            self._callback_errors += 1
            _log.exception("%s callback %r failed", self._endpoint, callback)


# ---------------------------------------------------------------------------------------------
# The market-data feed


def _check_token(token: object) -> str:
    if (
        not isinstance(token, str)
        or not 1 <= len(token) <= MAX_TOKEN_LENGTH
        or not all("!" <= ch <= "~" for ch in token)
    ):
        raise SubscriptionError(
            f"token {token!r} is not a SmartAPI token; a token is 1-{MAX_TOKEN_LENGTH} visible "
            "ASCII characters such as '3045' (the instrument master's 'token' column)"
        )
    return token


def _check_exchange_type(exchange_type: object) -> int:
    if (
        not isinstance(exchange_type, int)
        or isinstance(exchange_type, bool)
        or exchange_type not in EXCHANGE_TYPES
    ):
        known = ", ".join(f"{code} {ExchangeType(code).name.lower()}" for code in EXCHANGE_TYPES)
        raise SubscriptionError(
            f"exchange type {exchange_type!r} is not a SmartWebSocketV2 exchangeType; use one of "
            f"{known}"
        )
    return int(exchange_type)


def _check_mode(mode: object) -> int:
    if not isinstance(mode, int) or isinstance(mode, bool) or mode not in tuple(FeedMode):
        raise SubscriptionError(
            f"mode {mode!r} is not a SmartWebSocketV2 mode; use 1 LTP, 2 QUOTE, 3 SNAP_QUOTE or "
            "4 DEPTH_20"
        )
    return int(mode)


def _token_list(tokens: Iterable[str] | str) -> list[str]:
    if isinstance(tokens, str):
        tokens = [tokens]
    unique: dict[str, None] = {}
    for token in tokens:
        unique[_check_token(token)] = None
    return list(unique)


Key = tuple[int, str]


class AngelMarketFeed(ReconnectingSocket[FeedState]):
    """The SmartWebSocketV2 market-data client (see the module docstring for the contract).

    ``decoder`` turns binary frames into quotes; every decoded quote goes to ``on_quote`` in
    arrival order. ``on_state`` gets a :class:`FeedState` on every status change, connection
    attempt and reported issue. ``on_gap(down_since_ns, up_at_ns, subscriptions)`` runs once the
    feed is LIVE again after an outage, with everything that was resubscribed, so the caller can
    backfill bars from historical candles and reconcile orders. Callback failures are counted
    and logged, never fatal.

    ``heartbeat_s``: the text ``ping`` interval (Angel: at most 30 s); a ``pong`` must arrive within
    ``pong_timeout_s`` (default: ``heartbeat_s``) or the connection is taken for dead and replaced.
    Reconnect delays follow :class:`Backoff` (``base_backoff_s``, ``max_backoff_s``, ``rng``); the
    backoff resets once a new connection has answered a ping. ``stale_after_s``: a subscribed
    token without a tick for longer is reported by :meth:`stale_tokens`. ``batch_size``: tokens
    per subscribe message at most. ``slots``: connection counter (default: process-wide).
    """

    _endpoint = "market-data websocket"

    def __init__(
        self,
        url: str,
        tokens_provider: TokensProvider,
        decoder: FeedDecoder,
        *,
        on_quote: Callable[[Quote], None],
        on_state: Callable[[FeedState], None] | None = None,
        on_gap: Callable[[int, int, tuple[Subscription, ...]], None] | None = None,
        clock: Clock | None = None,
        max_backoff_s: float = 30.0,
        base_backoff_s: float = 0.5,
        heartbeat_s: float = 10.0,
        pong_timeout_s: float | None = None,
        stale_after_s: float = 5.0,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        rng: random.Random | None = None,
        slots: ConnectionSlots | None = None,
        batch_size: int = MAX_SUBSCRIPTIONS,
        rate_window_s: int = 1,
        max_queue: int = 1024,
    ) -> None:
        super().__init__(
            url,
            tokens_provider,
            on_state=on_state,
            clock=clock,
            slots=slots if slots is not None else MARKET_DATA_SLOTS,
            base_backoff_s=base_backoff_s,
            max_backoff_s=max_backoff_s,
            heartbeat_s=heartbeat_s,
            pong_timeout_s=pong_timeout_s,
            open_timeout_s=open_timeout_s,
            close_timeout_s=close_timeout_s,
            rng=rng,
            max_queue=max_queue,
        )
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be positive seconds, got {stale_after_s}")
        if not 1 <= batch_size <= MAX_SUBSCRIPTIONS:
            raise ValueError(f"batch_size must be 1-{MAX_SUBSCRIPTIONS} tokens, got {batch_size}")
        if type(rate_window_s) is not int or rate_window_s < 1:
            raise ValueError(f"rate_window_s must be a whole number of seconds >= 1, got "
                             f"{rate_window_s!r}")  # fmt: skip
        self._decoder = decoder
        self._on_quote = on_quote
        self._on_gap = on_gap
        self._stale_after_ns = int(stale_after_s * NS_PER_SECOND)
        self._batch_size = batch_size
        self._rate_window = rate_window_s

        self._desired: dict[Key, int] = {}
        self._subscribed_at: dict[Key, int] = {}
        self._sent: dict[Key, int] = {}
        self._dirty = asyncio.Event()
        self._last_tick: dict[Key, int] = {}
        self._requests: OrderedDict[str, str] = OrderedDict()
        self._correlation = 0

        self._frames = 0
        self._binary_frames = 0
        self._text_frames = 0
        self._bytes = 0
        self._ticks = 0
        self._last_tick_ns = 0
        self._unknown_text = 0
        self._error_frames = 0
        self._messages_sent = 0
        self._rate_sec = 0
        self._rate_count = 0
        self._rate_history: deque[tuple[int, int]] = deque(maxlen=64)

    # -- subscriptions --------------------------------------------------------------------------

    def subscribe(
        self, exchange_type: int, tokens: Iterable[str] | str, mode: int = FeedMode.LTP
    ) -> None:
        """Subscribe ``tokens`` of one exchange type in ``mode`` (sent at once when connected).

        A token already subscribed in ``mode`` is ignored; one subscribed in another mode moves
        to ``mode``. Raises :class:`SubscriptionError` for a bad mode, exchange type or token and
        :class:`SubscriptionLimitError` when Angel's limits would be exceeded (nothing changes).
        """
        exchange = _check_exchange_type(exchange_type)
        wanted = _check_mode(mode)
        keys = [(exchange, token) for token in _token_list(tokens)]
        if wanted == FeedMode.DEPTH_20:
            if exchange != DEPTH_20_EXCHANGE_TYPE:
                raise SubscriptionError(
                    f"Depth-20 (mode 4) is available only for exchange type "
                    f"{DEPTH_20_EXCHANGE_TYPE} (nse_cm), not {exchange}; use mode 3 SNAP_QUOTE "
                    "for best-five depth"
                )
            depth = {k for k, m in self._desired.items() if m == FeedMode.DEPTH_20}
            total = len(depth | set(keys))
            if total > MAX_DEPTH_20_TOKENS:
                raise SubscriptionLimitError(
                    f"Depth-20 subscriptions would be {total}; Angel allows at most "
                    f"{MAX_DEPTH_20_TOKENS} Depth-20 tokens (use SNAP_QUOTE for the rest)"
                )
        added = sum(1 for key in keys if key not in self._desired)
        total = len(self._desired) + added
        if total > MAX_SUBSCRIPTIONS:
            raise SubscriptionLimitError(
                f"subscribing {added} more tokens would make {total} subscriptions; Angel allows "
                f"at most {MAX_SUBSCRIPTIONS} per session (token x mode); {len(self._desired)} "
                "are subscribed now, unsubscribe some first"
            )
        now = self._clock.now_ns()
        changed = False
        for key in keys:
            if self._desired.get(key) == wanted:
                continue
            self._desired[key] = wanted
            self._subscribed_at[key] = now
            changed = True
        if changed:
            self._dirty.set()

    def unsubscribe(self, exchange_type: int, tokens: Iterable[str] | str) -> None:
        """Unsubscribe ``tokens`` of one exchange type (whatever their mode); unknown ones are
        ignored."""
        exchange = _check_exchange_type(exchange_type)
        changed = False
        for token in _token_list(tokens):
            key = (exchange, token)
            if self._desired.pop(key, None) is not None:
                self._subscribed_at.pop(key, None)
                self._last_tick.pop(key, None)
                changed = True
        if changed:
            self._dirty.set()

    def subscriptions(self) -> tuple[Subscription, ...]:
        """Everything the feed is asked to stream (resubscribed after every reconnect)."""
        return tuple(Subscription(e, t, m) for (e, t), m in self._desired.items())

    def stale_tokens(self, now_ns: int | None = None) -> tuple[Subscription, ...]:
        """Subscribed tokens without a tick for more than ``stale_after_s`` (counted from their
        subscription when they never ticked)."""
        now = self._clock.now_ns() if now_ns is None else now_ns
        limit = now - self._stale_after_ns
        last_tick = self._last_tick
        subscribed_at = self._subscribed_at
        return tuple(
            Subscription(e, t, m)
            for (e, t), m in self._desired.items()
            if max(last_tick.get((e, t), 0), subscribed_at[(e, t)]) < limit
        )

    def last_tick_ns(self, exchange_type: int, token: str) -> int:
        """Receive time of the last tick of a token (0: none)."""
        return self._last_tick.get((exchange_type, token), 0)

    # -- state and stats ------------------------------------------------------------------------

    def state(self) -> FeedState:
        """The current state snapshot."""
        return FeedState(
            status=self._status,
            since_ns=self._since_ns,
            attempts=self._attempts,
            last_error=self._last_error,
            last_tick_ns=self._last_tick_ns,
            ticks_received=self._ticks,
            gaps=tuple(self._gaps),
        )

    def stats(self, now_ns: int | None = None) -> FeedStats:
        """The counters; ``ticks_per_s`` is measured up to ``now_ns`` (default: the clock)."""
        now = self._clock.now_ns() if now_ns is None else now_ns
        decoder_stats = self._decoder.stats
        return FeedStats(
            frames=self._frames,
            binary_frames=self._binary_frames,
            text_frames=self._text_frames,
            bytes=self._bytes,
            ticks=self._ticks,
            decoded=dict(decoder_stats.decoded),
            dropped=dict(decoder_stats.dropped),
            oversize=decoder_stats.oversize,
            unknown_text=self._unknown_text,
            error_frames=self._error_frames,
            connect_attempts=self._connect_attempts,
            reconnects=self._reconnects,
            pings_sent=self._pings_sent,
            pongs_received=self._pongs,
            heartbeat_timeouts=self._heartbeat_timeouts,
            callback_errors=self._callback_errors,
            issues=dict(self._issues),
            subscriptions=len(self._desired),
            messages_sent=self._messages_sent,
            ticks_per_s=self._ticks_per_s(now),
        )

    def _ticks_per_s(self, now_ns: int) -> float:
        now_sec = now_ns // NS_PER_SECOND
        first = now_sec - self._rate_window
        total = sum(n for sec, n in self._rate_history if first <= sec < now_sec)
        if first <= self._rate_sec < now_sec:
            total += self._rate_count
        return total / self._rate_window

    # -- connection hooks -----------------------------------------------------------------------

    def _headers(self, credentials: WsCredentials) -> dict[str, str]:
        return {
            "Authorization": credentials.jwt,
            "x-api-key": credentials.api_key,
            "x-client-code": credentials.client_code,
            "x-feed-token": credentials.feed_token,
        }

    async def _on_open(self, ws: ClientConnection) -> None:
        self._sent = {}
        await self._flush(ws)

    def _extra_tasks(self, ws: ClientConnection) -> list[Coroutine[Any, Any, None]]:
        return [self._sync(ws)]

    def _after_reconnect(self, down_since_ns: int, up_at_ns: int) -> None:
        if self._on_gap is not None:
            self._call(self._on_gap, down_since_ns, up_at_ns, self.subscriptions())

    async def _sync(self, ws: ClientConnection) -> None:
        """Sends subscription changes as they are made."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._flush(ws)

    async def _flush(self, ws: ClientConnection) -> None:
        for message in self._diff_messages():
            await ws.send(message)
            self._messages_sent += 1

    def _diff_messages(self) -> list[str]:
        """Messages that bring the server from what it was told to what is desired (and record
        them as told): unsubscribes first, then subscribes, one per mode, batched."""
        desired, sent = self._desired, self._sent
        removals: dict[int, list[Key]] = {}
        additions: dict[int, list[Key]] = {}
        for key, mode in sent.items():
            if desired.get(key) != mode:
                removals.setdefault(mode, []).append(key)
        for key, mode in desired.items():
            if sent.get(key) != mode:
                additions.setdefault(mode, []).append(key)
        messages: list[str] = []
        for action, changes in ((0, removals), (1, additions)):
            for mode in sorted(changes):
                keys = changes[mode]
                for start in range(0, len(keys), self._batch_size):
                    batch = keys[start : start + self._batch_size]
                    messages.append(self._request(action, mode, batch))
                    for key in batch:
                        if action:
                            sent[key] = mode
                        else:
                            del sent[key]
        return messages

    def _request(self, action: int, mode: int, keys: list[Key]) -> str:
        by_exchange: dict[int, list[str]] = {}
        for exchange, token in keys:
            by_exchange.setdefault(exchange, []).append(token)
        self._correlation = (self._correlation + 1) % 100_000_000
        correlation_id = f"ck{self._correlation:08d}"
        verb = "subscribe" if action else "unsubscribe"
        self._requests[correlation_id] = (
            f"{verb} {len(keys)} tokens in mode {mode} {FeedMode(mode).name}"
        )
        while len(self._requests) > 256:
            self._requests.popitem(last=False)
        body = {
            "correlationID": correlation_id,
            "action": action,
            "params": {
                "mode": mode,
                "tokenList": [
                    {"exchangeType": exchange, "tokens": tokens}
                    for exchange, tokens in sorted(by_exchange.items())
                ],
            },
        }
        return json.dumps(body, separators=(",", ":"))

    async def _read(self, ws: ClientConnection) -> None:
        recv = ws.recv
        now = self._clock.now_ns
        decode = self._decoder.decode
        on_quote = self._on_quote
        last_tick = self._last_tick
        history = self._rate_history
        while True:
            frame = await recv()
            ts = now()
            self._frames += 1
            self._last_frame_ns = ts
            if type(frame) is bytes:
                self._binary_frames += 1
                self._bytes += len(frame)
                quote = decode(frame)
                if quote is None:
                    continue
                self._ticks += 1
                self._last_tick_ns = ts
                last_tick[(frame[1], quote.token)] = ts
                second = ts // NS_PER_SECOND
                if second != self._rate_sec:
                    history.append((self._rate_sec, self._rate_count))
                    self._rate_sec = second
                    self._rate_count = 0
                self._rate_count += 1
                try:
                    on_quote(quote)
                except Exception:
                    self._callback_errors += 1
                    _log.exception("on_quote callback failed")
            else:
                text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", "replace")
                self._text_frames += 1
                self._bytes += len(text.encode("utf-8"))
                self._on_text(text)

    def _on_text(self, text: str) -> None:
        parsed = parse_text_frame(text)
        if isinstance(parsed, Pong):
            self._got_pong()
        elif isinstance(parsed, FeedError):
            self._error_frames += 1
            request = self._requests.get(parsed.correlation_id)
            about = f" (answer to {parsed.correlation_id}: {request})" if request else ""
            self._issue(
                "error_frame",
                parsed.code,
                f"market-data server error {parsed.code}: {parsed.message}{about}",
            )
        else:
            self._unknown_text += 1
            _log.info("unrecognised market-data text frame: %s", redact(text[:200]))
