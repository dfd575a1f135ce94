"""A fake SmartWebSocketV2 + order-update server on 127.0.0.1 (random port) for the client tests.

One ``websockets`` server serves both endpoints (research/smartapi.md §10, §11):

* ``/smart-stream``: checks the four auth headers (HTTP 401 + ``x-error-message`` naming the bad
  one), answers text ``ping`` with ``pong``, handles subscribe/unsubscribe JSON (``E1001`` for a bad
  payload, ``E1002`` past ``subscription_limit``), and streams a binary packet per subscribed
  (mode, exchange type, token) every ``tick_interval_s`` in the exact layout the decoder reads;
* ``/smart-order-update``: checks ``Authorization: Bearer <jwt>``, sends the ``AB00``
  acknowledgement, answers ``ping``, and pushes whatever order frames the test scripts.

Faults to inject: :meth:`FakeAngelWs.drop_feed` / :meth:`drop_orders` (abort the TCP connection,
no close frame), ``answer_pings = False`` (stop answering text pings), :meth:`send_feed` (any
frame: malformed or truncated packets, error frames), :meth:`refuse_next` (refuse the next N
handshakes), ``muted`` tokens (never streamed). Every connection records its headers, the JSON it
received and its subscription set.

With ``state`` (the :class:`tests.brokers.fake_angel.FakeAngelState` of a REST fake) the server
accepts the tokens that state issued at login instead of fixed :class:`FakeTokens`, and pushes
every order change of the REST fake on the order-update socket, in order, as Angel does (a change
made while no order-update connection is open is lost, as it is at Angel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.brokers.fake_angel import FakeAngelState, dumps

FEED_PATH = "/smart-stream"
ORDER_PATH = "/smart-order-update"

_HEADER = struct.Struct("<BB25sqqq")
_QUOTE_TAIL = struct.Struct("<qqqddqqqq")
_SNAP_MID = struct.Struct("<qqd")
_LEVEL = struct.Struct("<HqqH")
_SNAP_TAIL = struct.Struct("<qqqq")
_DEPTH_HEAD = struct.Struct("<BB25sqq")
_DEPTH_LEVEL = struct.Struct("<iih")

BASE_TS_MS = 1_735_201_464_000
"""Exchange timestamp (ms) of sequence number 0."""


# ---------------------------------------------------------------------------------------------
# Packets: every field is a function of (mode, exchange type, token, seq), so tests can check
# decoded values exactly.


def ltp_of(seq: int) -> int:
    """The LTP (paise) the fake sends with sequence number ``seq``."""
    return 100_000 + seq


def packet(mode: int, exchange_type: int, token: str, seq: int) -> bytes:
    """The binary packet of one tick in ``mode`` (1 LTP, 2 QUOTE, 3 SNAP_QUOTE, 4 DEPTH_20)."""
    ltp = ltp_of(seq)
    raw_token = token.encode("ascii")
    ts_ms = BASE_TS_MS + seq
    if mode == 4:
        bids = [(10 * (i + 1), ltp - 5 * (i + 1), i + 1) for i in range(20)]
        asks = [(20 * (i + 1), ltp + 5 * (i + 1), i + 2) for i in range(20)]
        head = _DEPTH_HEAD.pack(4, exchange_type, raw_token, seq, ts_ms)
        return head + b"".join(_DEPTH_LEVEL.pack(*level) for level in bids + asks)
    header = _HEADER.pack(mode, exchange_type, raw_token, seq, ts_ms, ltp)
    if mode == 1:
        return header
    quote = _QUOTE_TAIL.pack(
        1 + seq % 100, ltp - 3, 10_000 + seq, 5_000.0, 7_000.0, 99_000, 101_000, 98_000, 99_500
    )
    if mode == 2:
        return header + quote
    best_bids = [(1, 100 + i, ltp - 5 * (i + 1), i + 1) for i in range(5)]
    best_asks = [(0, 200 + i, ltp + 5 * (i + 1), i + 2) for i in range(5)]
    depth = b"".join(_LEVEL.pack(*level) for level in best_bids + best_asks)
    mid = _SNAP_MID.pack(ts_ms // 1000, 12_345, 0.0)
    return header + quote + mid + depth + _SNAP_TAIL.pack(110_000, 90_000, 120_000, 80_000)


def order_row(
    order_id: str,
    status: str,
    *,
    qty: int = 10,
    filled: int = 0,
    avg: str | float = 0,
    price: str | float = 812.5,
    trigger: str | float = 0,
    tag: str = "ck-1",
    exchange: str = "NSE",
    token: str = "3045",
    text: str = "",
    updatetime: str = "10-Oct-2023 09:00:16",
) -> dict[str, Any]:
    """An order-book row as Angel sends it in ``orderData`` (quantities as strings)."""
    return {
        "variety": "NORMAL",
        "ordertype": "LIMIT",
        "producttype": "INTRADAY",
        "duration": "DAY",
        "price": price,
        "triggerprice": trigger,
        "quantity": str(qty),
        "disclosedquantity": "0",
        "squareoff": 0,
        "stoploss": 0,
        "trailingstoploss": 0,
        "tradingsymbol": "SBIN-EQ",
        "transactiontype": "BUY",
        "exchange": exchange,
        "symboltoken": token,
        "ordertag": tag,
        "instrumenttype": "",
        "strikeprice": -1,
        "optiontype": "",
        "expirydate": "",
        "lotsize": "1",
        "cancelsize": "0",
        "averageprice": avg,
        "filledshares": str(filled),
        "unfilledshares": str(qty - filled),
        "orderid": order_id,
        "text": text,
        "status": status,
        "orderstatus": status,
        "updatetime": updatetime,
        "exchtime": updatetime,
        "exchorderupdatetime": updatetime,
        "fillid": "",
        "filltime": "",
        "parentorderid": "",
        "uniqueorderid": f"u-{order_id}",
    }


STATUS_CODES = {
    "open": "AB01",
    "cancelled": "AB02",
    "rejected": "AB03",
    "modified": "AB04",
    "complete": "AB05",
    "trigger pending": "AB10",
}


def order_frame(row: dict[str, Any], *, user: str = "A123") -> str:
    """One order-update message around an order row (Decimal values become exact JSON numbers)."""
    return dumps(
        {
            "user-id": user,
            "status-code": "200",
            "order-status": STATUS_CODES.get(str(row.get("status")), "AB01"),
            "error-message": "",
            "orderData": row,
        }
    )


# ---------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True)
class FakeTokens:
    """The credentials the fake accepts."""

    jwt: str
    feed_token: str
    api_key: str
    client_code: str


@dataclass
class FeedConnection:
    """What one market-data connection did."""

    ws: ServerConnection
    headers: dict[str, str]
    opened_at: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0
    subscriptions: set[tuple[int, int, str]] = field(default_factory=set)  # (mode, exch, token)
    ever_subscribed: set[tuple[int, int, str]] = field(default_factory=set)
    packets_sent: int = 0
    open: bool = True
    close_code: int | None = None


@dataclass
class OrderConnection:
    """What one order-update connection did."""

    ws: ServerConnection
    headers: dict[str, str]
    pings: int = 0
    open: bool = True
    close_code: int | None = None


class FakeAngelWs:
    """The fake server; ``async with FakeAngelWs(tokens) as fake`` starts and stops it."""

    def __init__(
        self,
        tokens: FakeTokens | None = None,
        *,
        state: FakeAngelState | None = None,
        tick_interval_s: float = 0.01,
        subscription_limit: int = 1000,
        connection_limit: int = 3,
    ) -> None:
        if tokens is None and state is None:
            raise ValueError("FakeAngelWs needs fixed tokens or the REST fake's state")
        self.tokens = tokens
        self.state = state
        self._order_frames: asyncio.Queue[str] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        if state is not None:
            state.order_listeners.append(self._on_state_order)
        self.tick_interval_s = tick_interval_s
        self.subscription_limit = subscription_limit
        self.connection_limit = connection_limit
        self.answer_pings = True
        self.answer_order_pings = True
        self.muted: set[str] = set()
        self.echo_secret_in_error = False
        self.feed_connections: list[FeedConnection] = []
        self.order_connections: list[OrderConnection] = []
        self.handshakes: list[tuple[str, int]] = []  # (path, HTTP status) of every attempt
        self._refuse = 0
        self._refuse_status = HTTPStatus.SERVICE_UNAVAILABLE
        self._seq: dict[tuple[int, int, str], int] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeAngelWs:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,
            close_timeout=1,
        )
        if self.state is not None:
            self._pump = asyncio.create_task(self._pump_orders())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.state is not None and self._on_state_order in self.state.order_listeners:
            self.state.order_listeners.remove(self._on_state_order)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def feed_url(self) -> str:
        """URL of the market-data endpoint."""
        return f"ws://127.0.0.1:{self.port}{FEED_PATH}"

    @property
    def order_url(self) -> str:
        """URL of the order-update endpoint."""
        return f"ws://127.0.0.1:{self.port}{ORDER_PATH}"

    # -- injection ------------------------------------------------------------------------------

    def refuse_next(self, count: int, status: HTTPStatus = HTTPStatus.SERVICE_UNAVAILABLE) -> None:
        """Refuse the next ``count`` handshakes (either endpoint) with ``status``."""
        self._refuse = count
        self._refuse_status = status

    def open_feeds(self) -> list[FeedConnection]:
        """Market-data connections still open."""
        return [c for c in self.feed_connections if c.open]

    def open_orders(self) -> list[OrderConnection]:
        """Order-update connections still open."""
        return [c for c in self.order_connections if c.open]

    def drop_feed(self) -> None:
        """Abort every open market-data connection (no close frame, as a network loss)."""
        for conn in self.open_feeds():
            conn.ws.transport.abort()

    def drop_orders(self) -> None:
        """Abort every open order-update connection."""
        for conn in self.open_orders():
            conn.ws.transport.abort()

    async def send_feed(self, frame: bytes | str) -> None:
        """Send one frame (binary or text) on every open market-data connection."""
        for conn in self.open_feeds():
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(frame)

    async def send_error_frame(self, code: str, message: str, correlation_id: str = "") -> None:
        """Send an Angel error frame on every open market-data connection."""
        body = {"correlationID": correlation_id, "errorCode": code, "errorMessage": message}
        await self.send_feed(json.dumps(body))

    async def push_order(self, frame: str | dict[str, Any]) -> None:
        """Send one order-update frame (a row dict is wrapped by :func:`order_frame`)."""
        text = frame if isinstance(frame, str) else order_frame(frame)
        for conn in self.open_orders():
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(text)

    def _on_state_order(self, row: dict[str, Any]) -> None:
        """A listener of the REST fake's state: queue the change for the order-update socket."""
        self._order_frames.put_nowait(order_frame(row, user=self._client_code()))

    async def _pump_orders(self) -> None:
        """Send queued order changes, one at a time and in order, to the open connections."""
        while True:
            frame = await self._order_frames.get()
            await self.push_order(frame)

    def _client_code(self) -> str:
        if self.tokens is not None:
            return self.tokens.client_code
        assert self.state is not None
        return self.state.account.client_code

    def _header_problem(self, path: str, headers: Headers) -> tuple[str, str] | None:
        """``(message, echoed secret)`` for the first bad auth header, ``None`` when all pass."""
        if self.tokens is not None:
            t = self.tokens
            if path == FEED_PATH:
                checks = [
                    (headers.get("Authorization") == t.jwt, "Invalid Auth token", t.jwt),
                    (headers.get("x-client-code") == t.client_code, "Client Code", ""),
                    (headers.get("x-api-key") == t.api_key, "API Key", ""),
                    (headers.get("x-feed-token") == t.feed_token, "Feed Token", ""),
                ]
            else:
                checks = [(headers.get("Authorization") == f"Bearer {t.jwt}", "Invalid token", "")]
        else:
            state = self.state
            assert state is not None
            auth = headers.get("Authorization") or ""
            if path == FEED_PATH:
                client = state.jwt_client(auth)
                account = state.accounts.get(client or "")
                checks = [
                    (client is not None, "Invalid Auth token", ""),
                    (headers.get("x-client-code") == client, "Client Code", ""),
                    (
                        account is not None and headers.get("x-api-key") == account.api_key,
                        "API Key",
                        "",
                    ),
                    (
                        state.feed_tokens.get(headers.get("x-feed-token") or "") == client,
                        "Feed Token",
                        "",
                    ),
                ]
            else:
                jwt = auth[7:] if auth.startswith("Bearer ") else ""
                checks = [(state.jwt_client(jwt) is not None, "Invalid token", "")]
        for ok, what, secret in checks:
            if not ok:
                return (f"Invalid Header - {what}" if path == FEED_PATH else what), secret
        return None

    # -- handshake ------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        headers = request.headers
        if path not in (FEED_PATH, ORDER_PATH):
            return self._reject(path, connection, HTTPStatus.NOT_FOUND, "")
        if self._refuse > 0:
            self._refuse -= 1
            return self._reject(path, connection, self._refuse_status, "")
        problem = self._header_problem(path, headers)
        if problem is not None:
            message, secret = problem
            if path == FEED_PATH and self.echo_secret_in_error:
                message += f" {headers.get('Authorization')} {headers.get('x-feed-token')}"
                message += f" {headers.get('x-api-key')} {secret}"
            return self._reject(path, connection, HTTPStatus.UNAUTHORIZED, message)
        if path == FEED_PATH:
            if len(self.open_feeds()) >= self.connection_limit:
                return self._reject(path, connection, HTTPStatus.TOO_MANY_REQUESTS, "")
        elif len(self.open_orders()) >= self.connection_limit:
            return self._reject(path, connection, HTTPStatus.TOO_MANY_REQUESTS, "")
        self.handshakes.append((path, 101))
        return None

    def _reject(
        self, path: str, connection: ServerConnection, status: HTTPStatus, message: str
    ) -> Response:
        self.handshakes.append((path, int(status)))
        response = connection.respond(status, f"{status.phrase}\n")
        if message:
            response.headers["x-error-message"] = message
        return response

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        headers = dict(Headers(ws.request.headers).raw_items())
        if ws.request.path.split("?", 1)[0] == FEED_PATH:
            await self._serve_feed(FeedConnection(ws, headers, time.monotonic()))
        else:
            await self._serve_orders(OrderConnection(ws, headers))

    # -- market data ----------------------------------------------------------------------------

    async def _serve_feed(self, conn: FeedConnection) -> None:
        self.feed_connections.append(conn)
        streamer = asyncio.create_task(self._stream(conn))
        self._tasks.add(streamer)
        streamer.add_done_callback(self._tasks.discard)
        try:
            async for message in conn.ws:
                if isinstance(message, str):
                    await self._on_feed_text(conn, message)
        except ConnectionClosed:
            pass
        finally:
            conn.open = False
            conn.close_code = conn.ws.close_code
            streamer.cancel()

    async def _on_feed_text(self, conn: FeedConnection, text: str) -> None:
        if text == "ping":
            conn.pings += 1
            if self.answer_pings:
                await conn.ws.send("pong")
            return
        try:
            body = json.loads(text)
            correlation_id = str(body["correlationID"])
            action = body["action"]
            mode = body["params"]["mode"]
            token_list = body["params"]["tokenList"]
            assert action in (0, 1) and mode in (1, 2, 3, 4)
            items = [(int(e["exchangeType"]), [str(t) for t in e["tokens"]]) for e in token_list]
        except (ValueError, KeyError, TypeError, AssertionError):
            await conn.ws.send(
                json.dumps(
                    {
                        "correlationID": "",
                        "errorCode": "E1001",
                        "errorMessage": "Invalid Request Payload.",
                    }
                )
            )
            return
        conn.messages.append(body)
        for exchange_type, tokens in items:
            for token in tokens:
                key = (mode, exchange_type, token)
                if action == 0:
                    conn.subscriptions.discard(key)
                    continue
                if key not in conn.subscriptions and (
                    len(conn.subscriptions) >= self.subscription_limit
                ):
                    await conn.ws.send(
                        json.dumps(
                            {
                                "correlationID": correlation_id,
                                "errorCode": "E1002",
                                "errorMessage": "Invalid Request. Subscription Limit Exceeded.",
                            }
                        )
                    )
                    return
                conn.subscriptions.add(key)
                conn.ever_subscribed.add(key)

    async def _stream(self, conn: FeedConnection) -> None:
        while True:
            await asyncio.sleep(self.tick_interval_s)
            for mode, exchange_type, token in sorted(conn.subscriptions):
                if token in self.muted:
                    continue
                key = (mode, exchange_type, token)
                seq = self._seq.get(key, 0) + 1
                self._seq[key] = seq
                try:
                    await conn.ws.send(packet(mode, exchange_type, token, seq))
                except ConnectionClosed:
                    return
                conn.packets_sent += 1

    # -- order updates --------------------------------------------------------------------------

    async def _serve_orders(self, conn: OrderConnection) -> None:
        self.order_connections.append(conn)
        empty_row = dict.fromkeys(order_row("", "").keys(), "")
        ack = {
            "user-id": self._client_code(),
            "status-code": "200",
            "order-status": "AB00",
            "error-message": "",
            "orderData": empty_row,
        }
        try:
            await conn.ws.send(json.dumps(ack))
            async for message in conn.ws:
                if message == "ping":
                    conn.pings += 1
                    if self.answer_order_pings:
                        await conn.ws.send("pong")
        except ConnectionClosed:
            pass
        finally:
            conn.open = False
            conn.close_code = conn.ws.close_code


async def wait_until(
    predicate: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` every few ms until it holds; fail the test after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)
