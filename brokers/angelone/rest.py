"""Async REST client for Angel One SmartAPI on httpx.

:class:`AngelRestClient` sends every request with the documented headers (research/smartapi.md §2),
waits for its endpoint group's rate limit (:mod:`brokers.angelone.ratelimit`), reads both error
envelopes (:mod:`brokers.angelone.errors`) and returns typed rows (:mod:`brokers.angelone.wire`).

Retries and outcomes:

* reads (order/trade book, details, positions, holdings, funds, LTP, quotes, candles, GTT details
  and list, charge estimates) are retried after a timeout, a broken connection, an HTTP 5xx, a
  garbled answer or a 403 rate limit (``read_attempts`` in all, with backoff);
* writes (place, modify, cancel, GTT create/modify/cancel) are sent **once**. The only exception is
  a refused jwt (AG8001...): the gateway refuses such a request before anything is done, so the
  client refreshes the session and sends it once more, as it does for every request;
* after a timeout (or a broken or garbled answer) on **place**, the client looks the order up in
  the order book by its ``ordertag`` (our client order id) and returns it when found; otherwise
  it raises :class:`~brokers.angelone.errors.OrderOutcomeUnknown`. Modify, cancel and GTT writes
  have no tag to look up, so they raise :class:`OrderOutcomeUnknown` straight away. Nothing is
  ever resent blindly.

Headers: ``X-ClientLocalIP`` is this machine's outward-facing IP, found by asking the kernel which
local address would route to a private address (``connect()`` on a UDP socket sends no packet), or
``127.0.0.1``; ``X-MACAddress`` comes from :func:`uuid.getnode` (read locally; when no hardware
address is found it is a random number, as the SDK would send). ``X-ClientPublicIP`` is whatever
the caller configures and defaults to the local IP: no public-IP lookup service is ever called.
Whether Angel enforces these headers is unconfirmed; orders from a static-IP API key must come from
the registered IP regardless of what the header says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx

from brokers.angelone.auth import AngelCredentials, AngelSession, AngelSessionManager
from brokers.angelone.errors import (
    AngelError,
    AngelProtocolError,
    AngelRateLimitError,
    AngelServerError,
    AngelSessionInvalid,
    AngelSessionUnavailable,
    AngelTransportError,
    OrderOutcomeUnknown,
    WireError,
    error_from_envelope,
)
from brokers.angelone.ratelimit import EndpointGroup, RateLimit, RateLimiter
from brokers.angelone.wire import (
    CANDLE_SPAN_DAYS,
    CANDLE_TIME_FORMAT,
    QUOTE_TOKENS_MAX,
    AngelFunds,
    AngelHolding,
    AngelInterval,
    AngelLtp,
    AngelOrder,
    AngelPosition,
    AngelTrade,
    Candle,
    ChargeQuery,
    ChargesEstimate,
    GttField,
    GttRequest,
    GttRule,
    GttStatus,
    ModifyRequest,
    OrderAck,
    OrderRequest,
    PlacedOrder,
    QuoteMode,
    QuoteResult,
    Variety,
    angel_interval,
    candles_from_wire,
    charges_from_wire,
    charges_params,
    exchange_to_wire,
    funds_from_wire,
    gtt_create_params,
    gtt_id_from_wire,
    gtt_modify_params,
    gtt_rule_from_wire,
    gtt_rules_from_wire,
    holdings_from_wire,
    ltp_from_wire,
    modify_params,
    order_ack_from_wire,
    order_from_wire,
    orders_from_wire,
    place_params,
    positions_from_wire,
    quote_result_from_wire,
    trades_from_wire,
    variety_for_change,
)
from engine.clock import IST
from engine.models import Instrument, Interval

__all__ = [
    "DEFAULT_BASE_URL",
    "AngelRestClient",
    "Route",
    "candle_chunks",
    "default_routes",
    "local_ip_address",
    "mac_address",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://apiconnect.angelone.in"
SECURE: Final = "/rest/secure/angelbroking"
"""Prefix of every authenticated route."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: HTTP method, path (with ``{name}`` fields), rate-limit group, and whether it
    is a read (retried) or an order write (a business error is an order rejection)."""

    method: str
    path: str
    group: str
    read: bool
    order_write: bool = False


def default_routes(gtt_write_prefix: str = "/gtt-service") -> dict[str, Route]:
    """The route table. ``gtt_write_prefix`` precedes the GTT create/modify/cancel paths, as the
    SDK sends them (the docs show them without it; which one production prefers is unconfirmed)."""
    g = EndpointGroup
    gtt = f"{gtt_write_prefix}{SECURE}/gtt/v1"
    return {
        "login": Route(
            "POST", "/rest/auth/angelbroking/user/v1/loginByPassword", g.LOGIN, read=False
        ),
        "generate_tokens": Route(
            "POST", "/rest/auth/angelbroking/jwt/v1/generateTokens", g.GENERATE_TOKENS, read=False
        ),
        "logout": Route("POST", f"{SECURE}/user/v1/logout", g.LOGOUT, read=False),
        "place_order": Route(
            "POST", f"{SECURE}/order/v1/placeOrder", g.ORDERS, read=False, order_write=True
        ),
        "modify_order": Route(
            "POST", f"{SECURE}/order/v1/modifyOrder", g.ORDERS, read=False, order_write=True
        ),
        "cancel_order": Route(
            "POST", f"{SECURE}/order/v1/cancelOrder", g.ORDERS, read=False, order_write=True
        ),
        "order_book": Route("GET", f"{SECURE}/order/v1/getOrderBook", g.ORDER_BOOK, read=True),
        "trade_book": Route("GET", f"{SECURE}/order/v1/getTradeBook", g.TRADE_BOOK, read=True),
        "order_details": Route(
            "GET", f"{SECURE}/order/v1/details/{{unique_order_id}}", g.ORDER_DETAILS, read=True
        ),
        "positions": Route("GET", f"{SECURE}/order/v1/getPosition", g.POSITIONS, read=True),
        "holdings": Route("GET", f"{SECURE}/portfolio/v1/getHolding", g.HOLDINGS, read=True),
        "funds": Route("GET", f"{SECURE}/user/v1/getRMS", g.RMS, read=True),
        "ltp": Route("POST", f"{SECURE}/order/v1/getLtpData", g.LTP, read=True),
        "quote": Route("POST", f"{SECURE}/market/v1/quote", g.QUOTE, read=True),
        "candles": Route("POST", f"{SECURE}/historical/v1/getCandleData", g.CANDLES, read=True),
        "gtt_create": Route("POST", f"{gtt}/createRule", g.GTT_WRITE, read=False, order_write=True),
        "gtt_modify": Route("POST", f"{gtt}/modifyRule", g.GTT_WRITE, read=False, order_write=True),
        "gtt_cancel": Route("POST", f"{gtt}/cancelRule", g.GTT_WRITE, read=False, order_write=True),
        "gtt_details": Route("POST", f"{SECURE}/gtt/v1/ruleDetails", g.GTT_READ, read=True),
        "gtt_list": Route("POST", f"{SECURE}/gtt/v1/ruleList", g.GTT_READ, read=True),
        "estimate_charges": Route(
            "POST", f"{SECURE}/brokerage/v1/estimateCharges", g.CHARGES, read=True
        ),
    }


_AUTH_OPERATIONS: Final = {
    "login": "the login",
    "generate_tokens": "the token refresh",
    "logout": "the logout",
}


def local_ip_address() -> str:
    """This machine's outward-facing IPv4 address, found without sending anything.

    ``connect()`` on a UDP socket only makes the kernel choose a route and a source address; no
    packet leaves the machine. Falls back to ``127.0.0.1`` (no route, no network).
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    return address if isinstance(address, str) and address != "0.0.0.0" else "127.0.0.1"


def mac_address() -> str:
    """A hardware address as ``aa:bb:cc:dd:ee:ff`` from :func:`uuid.getnode` (read locally)."""
    node = uuid.getnode()
    return ":".join(f"{(node >> shift) & 0xFF:02x}" for shift in range(40, -1, -8))


def candle_chunks(
    interval: Interval | AngelInterval, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end]`` into getCandleData requests that respect the interval's span limit.

    Each chunk covers at most ``span`` calendar days (IST) and ends at 23:59 of its last day, so it
    stays inside the limit whether Angel counts the span inclusively or not; the next chunk starts
    at 00:00 of the following day, when no exchange trades. Times are truncated to the minute
    (the request format has no seconds). Raises :class:`WireError` for naive datetimes or
    ``end < start``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise WireError("candle range needs timezone-aware datetimes (tzinfo=engine.clock.IST)")
    first = start.astimezone(IST).replace(second=0, microsecond=0)
    last = end.astimezone(IST).replace(second=0, microsecond=0)
    if last < first:
        raise WireError(
            f"candle range ends ({last:%Y-%m-%d %H:%M}) before it starts ({first:%Y-%m-%d %H:%M})"
        )
    span = CANDLE_SPAN_DAYS[angel_interval(interval)]
    chunks = []
    cursor = first
    while cursor <= last:
        last_day = cursor.date() + timedelta(days=span - 1)
        chunk_end = min(last, datetime.combine(last_day, dtime(23, 59), tzinfo=IST))
        chunks.append((cursor, chunk_end))
        cursor = datetime.combine(last_day + timedelta(days=1), dtime(0, 0), tzinfo=IST)
    return chunks


_UNIQUE_ID_RE: Final = re.compile(r"[0-9A-Za-z-]{1,64}")


class AngelRestClient:
    """The Angel One REST API, async. Use ``async with`` (or call :meth:`close`): closing logs out.

    The session is created lazily on the first request (or by :meth:`login`). ``base_url`` is the
    REST origin (tests point it at 127.0.0.1); ``timeout`` is seconds per request;
    ``limits`` overrides rate-limit groups (``limiter`` replaces the limiter altogether, e.g. one
    shared with the websockets' REST calls). ``lifetime``/``refresh_margin`` set when tokens are
    refreshed (see :mod:`brokers.angelone.auth`). ``lookup_attempts``/``lookup_delay`` control the
    order-book look-ups after a place timed out. ``clock`` is the wall clock (TOTP, expiry);
    ``transport`` is an httpx transport (a real socket one in tests).
    """

    def __init__(
        self,
        credentials: AngelCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 7.0,
        limits: Mapping[str, RateLimit] | None = None,
        limiter: RateLimiter | None = None,
        local_ip: str | None = None,
        public_ip: str | None = None,
        mac: str | None = None,
        lifetime: timedelta | None = None,
        refresh_margin: timedelta = timedelta(minutes=5),
        totp_edge: float = 5.0,
        read_attempts: int = 3,
        retry_backoff: float = 0.25,
        lookup_attempts: int = 3,
        lookup_delay: float = 1.0,
        gtt_write_prefix: str = "/gtt-service",
        logout_on_close: bool = True,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if read_attempts < 1 or lookup_attempts < 1:
            raise ValueError("read_attempts and lookup_attempts must be at least 1")
        origin = base_url.rstrip("/")
        if not origin.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must be an http(s) origin such as {DEFAULT_BASE_URL}, got {base_url!r}"
            )
        self.base_url = origin
        self._credentials = credentials
        self._timeout = timeout
        self._limiter = limiter if limiter is not None else RateLimiter(limits)
        self._routes = default_routes(gtt_write_prefix)
        self._read_attempts = read_attempts
        self._backoff = retry_backoff
        self._lookup_attempts = lookup_attempts
        self._lookup_delay = lookup_delay
        self._logout_on_close = logout_on_close
        local = local_ip or local_ip_address()
        self._static_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-UserType": "USER",
            "X-SourceID": "WEB",
            "X-ClientLocalIP": local,
            "X-ClientPublicIP": public_ip or local,
            "X-MACAddress": mac or mac_address(),
            "X-PrivateKey": credentials.api_key,
        }
        self._http = httpx.AsyncClient(
            base_url=origin,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        self.auth = AngelSessionManager(
            credentials,
            self._auth_call,
            clock=clock,
            lifetime=lifetime,
            refresh_margin=refresh_margin,
            totp_edge=totp_edge,
        )

    def __repr__(self) -> str:
        return f"AngelRestClient(base_url={self.base_url!r}, session={self.auth.session!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- session ------------------------------------------------------------------------------

    @property
    def session(self) -> AngelSession | None:
        """The current session (``None`` before the first login)."""
        return self.auth.session

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter every request waits on."""
        return self._limiter

    async def login(self) -> AngelSession:
        """Log in now (otherwise the first request logs in)."""
        return await self.auth.login()

    async def daily_relogin(self) -> AngelSession:
        """Log out and in again; the app schedules it daily (see :mod:`brokers.angelone.auth`)."""
        return await self.auth.daily_relogin()

    async def close(self) -> None:
        """Log out (when logged in and ``logout_on_close``) and close the HTTP connections."""
        try:
            if self._logout_on_close:
                await self.auth.logout()
        finally:
            await self._http.aclose()

    # ---- orders -------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> PlacedOrder:
        """Place an order (sent once). Returns Angel's ids; after a lost answer, the order found
        by its tag. Raises :class:`AngelOrderRejected` (refused: nothing placed),
        :class:`AngelRateLimitError` (refused: nothing placed) or :class:`OrderOutcomeUnknown`."""
        body = place_params(request)
        tag = body["ordertag"]
        operation = f"placing order {tag}"
        try:
            data = await self._request("place_order", body, operation=operation)
            ack = order_ack_from_wire(data, what=operation)
        except AngelTransportError as exc:
            if not exc.sent:
                raise
            return await self._find_placed(tag, str(exc))
        except (AngelServerError, AngelProtocolError, WireError) as exc:
            return await self._find_placed(tag, str(exc))
        return PlacedOrder(ack.order_id, ack.unique_order_id, tag)

    async def modify_order(self, request: ModifyRequest) -> OrderAck:
        """Modify a working order (sent once). The result shows later in the book/stream."""
        body = modify_params(request)
        return await self._order_write(
            "modify_order",
            body,
            operation=f"modifying order {request.order_id}",
            order_id=request.order_id,
            parse=lambda d, w: order_ack_from_wire(d, what=w),
        )

    async def cancel_order(self, order_id: str, variety: str = Variety.NORMAL.value) -> OrderAck:
        """Cancel a working order (sent once). ``variety`` as the order book shows it (AMO is
        sent as NORMAL)."""
        if not order_id:
            raise WireError("cancel needs the order id Angel returned (orderid)")
        body = {"variety": variety_for_change(variety), "orderid": order_id}
        return await self._order_write(
            "cancel_order",
            body,
            operation=f"cancelling order {order_id}",
            order_id=order_id,
            parse=lambda d, w: order_ack_from_wire(d, what=w),
        )

    async def order_book(self) -> list[AngelOrder]:
        """Every order of the day (empty list when there are none)."""
        return orders_from_wire(await self._request("order_book", operation="the order book"))

    async def trade_book(self) -> list[AngelTrade]:
        """Every fill of the day."""
        return trades_from_wire(await self._request("trade_book", operation="the trade book"))

    async def order_details(self, unique_order_id: str) -> AngelOrder:
        """One order by its ``uniqueorderid``."""
        if not _UNIQUE_ID_RE.fullmatch(unique_order_id):
            raise WireError(f"{unique_order_id!r} is not a uniqueorderid (letters, digits, '-')")
        data = await self._request(
            "order_details",
            operation=f"details of order {unique_order_id}",
            path_args={"unique_order_id": unique_order_id},
        )
        return order_from_wire(data)

    async def find_orders_by_tag(self, tag: str) -> list[AngelOrder]:
        """Orders in the order book whose ``ordertag`` is ``tag``."""
        return [order for order in await self.order_book() if order.tag == tag]

    # ---- portfolio ----------------------------------------------------------------------------

    async def positions(self) -> list[AngelPosition]:
        """Open and closed positions of the day."""
        return positions_from_wire(await self._request("positions", operation="positions"))

    async def holdings(self) -> list[AngelHolding]:
        """Demat holdings."""
        return holdings_from_wire(await self._request("holdings", operation="holdings"))

    async def funds(self) -> AngelFunds:
        """Funds and margins (getRMS)."""
        return funds_from_wire(await self._request("funds", operation="funds"))

    # ---- market data --------------------------------------------------------------------------

    async def ltp(self, instrument: Instrument) -> AngelLtp:
        """Last price and day OHLC of one instrument (getLtpData)."""
        body = {
            "exchange": exchange_to_wire(instrument.exchange),
            "tradingsymbol": instrument.symbol,
            "symboltoken": instrument.token,
        }
        data = await self._request("ltp", body, operation=f"the LTP of {instrument.symbol}")
        return ltp_from_wire(data, instrument.price_scale)

    async def quotes(
        self, instruments: Sequence[Instrument], mode: QuoteMode = QuoteMode.FULL
    ) -> QuoteResult:
        """Quotes for any number of instruments, 50 per request (market/v1/quote)."""
        result = QuoteResult()
        for offset in range(0, len(instruments), QUOTE_TOKENS_MAX):
            tokens: dict[str, list[str]] = {}
            for inst in instruments[offset : offset + QUOTE_TOKENS_MAX]:
                tokens.setdefault(exchange_to_wire(inst.exchange), []).append(inst.token)
            body = {"mode": QuoteMode(mode).value, "exchangeTokens": tokens}
            data = await self._request("quote", body, operation="quotes")
            part = quote_result_from_wire(data)
            result.fetched.extend(part.fetched)
            result.unfetched.extend(part.unfetched)
        return result

    async def candles(
        self,
        instrument: Instrument,
        interval: Interval | AngelInterval,
        start: datetime,
        end: datetime,
    ) -> list[Candle]:
        """Historical candles for ``[start, end]`` (aware datetimes), in time order, without
        duplicates, fetched in as many requests as the interval's span limit needs."""
        wire_interval = angel_interval(interval)
        by_start: dict[int, Candle] = {}
        exchange = exchange_to_wire(instrument.exchange)
        for chunk_start, chunk_end in candle_chunks(wire_interval, start, end):
            body = {
                "exchange": exchange,
                "symboltoken": instrument.token,
                "interval": wire_interval.value,
                "fromdate": chunk_start.strftime(CANDLE_TIME_FORMAT),
                "todate": chunk_end.strftime(CANDLE_TIME_FORMAT),
            }
            data = await self._request(
                "candles",
                body,
                operation=f"{wire_interval.value} candles of {instrument.symbol} from "
                f"{body['fromdate']} to {body['todate']}",
            )
            for candle in candles_from_wire(data, instrument.price_scale):
                by_start.setdefault(candle.start, candle)
        return [by_start[key] for key in sorted(by_start)]

    # ---- GTT ----------------------------------------------------------------------------------

    async def gtt_create(self, request: GttRequest) -> str:
        """Create a GTT rule (single, or OCO with a stop-loss leg); returns the rule id."""
        body = gtt_create_params(request)
        return await self._order_write(
            "gtt_create",
            body,
            operation=f"creating a GTT rule on {request.instrument.symbol}",
            order_id="",
            parse=lambda d, w: gtt_id_from_wire(d, what=w),
        )

    async def gtt_modify(self, rule_id: str, request: GttRequest) -> str:
        """Change a GTT rule; returns its id."""
        body = gtt_modify_params(rule_id, request)
        return await self._order_write(
            "gtt_modify",
            body,
            operation=f"modifying GTT rule {rule_id}",
            order_id=rule_id,
            parse=lambda d, w: gtt_id_from_wire(d, what=w),
        )

    async def gtt_cancel(self, rule_id: str, instrument: Instrument) -> str:
        """Cancel a GTT rule; returns its id."""
        if not rule_id:
            raise WireError("cancelling a GTT rule needs its id")
        body = {
            GttField.ID: rule_id,
            GttField.SYMBOLTOKEN: instrument.token,
            GttField.EXCHANGE: exchange_to_wire(instrument.exchange),
        }
        return await self._order_write(
            "gtt_cancel",
            body,
            operation=f"cancelling GTT rule {rule_id}",
            order_id=rule_id,
            parse=lambda d, w: gtt_id_from_wire(d, what=w),
        )

    async def gtt_details(self, rule_id: str) -> GttRule:
        """One GTT rule."""
        data = await self._request(
            "gtt_details", {GttField.ID: rule_id}, operation=f"GTT rule {rule_id}"
        )
        return gtt_rule_from_wire(data)

    async def gtt_list(
        self,
        statuses: Sequence[GttStatus] = tuple(GttStatus),
        page: int = 1,
        count: int = 10,
    ) -> list[GttRule]:
        """One page of GTT rules with the given statuses."""
        if page < 1 or count < 1:
            raise WireError(f"GTT list page and count must be >= 1, got page={page} count={count}")
        body = {
            GttField.STATUS: [GttStatus(s).value for s in statuses],
            GttField.PAGE: page,
            GttField.COUNT: count,
        }
        return gtt_rules_from_wire(await self._request("gtt_list", body, operation="GTT rules"))

    # ---- charges ------------------------------------------------------------------------------

    async def estimate_charges(self, queries: Sequence[ChargeQuery]) -> ChargesEstimate:
        """Angel's estimate of brokerage and taxes for hypothetical orders."""
        data = await self._request(
            "estimate_charges", charges_params(queries), operation="the charges estimate"
        )
        return charges_from_wire(data)

    # ---- request machinery --------------------------------------------------------------------

    async def _find_placed(self, tag: str, reason: str) -> PlacedOrder:
        """After a lost place answer: find the order by tag; never resend."""
        log.warning("placing order %s: %s; looking it up in the order book by tag", tag, reason)
        lookup_error = ""
        for attempt in range(self._lookup_attempts):
            if attempt:
                await asyncio.sleep(self._lookup_delay)
            try:
                matches = await self.find_orders_by_tag(tag)
            except AngelError as exc:
                lookup_error = f" (the last look-up failed: {type(exc).__name__})"
                continue
            if len(matches) == 1:
                found = matches[0]
                log.info("order %s was placed (found by tag after a lost answer)", tag)
                return PlacedOrder(found.order_id, found.unique_order_id, tag, found_by_lookup=True)
            if len(matches) > 1:
                ids = ", ".join(order.order_id for order in matches)
                raise OrderOutcomeUnknown(
                    f"placing order {tag}: {reason}; the order book holds {len(matches)} orders "
                    f"with this tag ({ids}). Check them and cancel any duplicate; nothing was "
                    "resent.",
                    operation="place",
                    tag=tag,
                )
            lookup_error = ""
        raise OrderOutcomeUnknown(
            f"placing order {tag}: {reason}; it was not in the order book after "
            f"{self._lookup_attempts} look-ups{lookup_error}. It was NOT resent: it may still "
            "appear, so keep it in flight and reconcile from the order book or the order-update "
            "stream before placing it again.",
            operation="place",
            tag=tag,
        )

    async def _order_write(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        operation: str,
        order_id: str,
        parse: Callable[[Any, str], T],
    ) -> T:
        """A write with no tag to look up: a lost answer is an unknown outcome, never a resend."""
        try:
            data = await self._request(name, body, operation=operation)
            return parse(data, operation)
        except AngelTransportError as exc:
            if not exc.sent:
                raise
            reason = str(exc)
        except (AngelServerError, AngelProtocolError, WireError) as exc:
            reason = str(exc)
        raise OrderOutcomeUnknown(
            f"{operation}: {reason}. It was NOT resent: the change may or may not have been made; "
            "check the order book / GTT list (or wait for the order-update stream) before trying "
            "again.",
            operation=name,
            order_id=order_id,
        )

    async def _request(
        self,
        name: str,
        body: Mapping[str, Any] | None = None,
        *,
        operation: str,
        path_args: Mapping[str, str] | None = None,
    ) -> Any:
        """Send an authenticated request with the route's retry policy; returns ``data``."""
        route = self._routes[name]
        path = route.path.format(**path_args) if path_args else route.path
        attempt = 0
        recovered = False
        while True:
            session = await self._session_for(operation, self.auth.ensure_session())
            try:
                return await self._send(route, path, body, session.jwt_token, operation)
            except AngelSessionInvalid as exc:
                if recovered:
                    raise
                recovered = True
                log.info(
                    "Angel One refused the session token on %s (%s); refreshing",
                    operation,
                    exc.code,
                )
                await self._session_for(operation, self.auth.recover(session.jwt_token))
            except (
                AngelTransportError,
                AngelServerError,
                AngelProtocolError,
                AngelRateLimitError,
            ) as exc:
                attempt += 1
                if not route.read or attempt >= self._read_attempts:
                    raise
                delay = self._backoff * 2 ** (attempt - 1)
                if isinstance(exc, AngelRateLimitError):
                    delay = max(delay, 1.0)
                log.warning(
                    "%s failed (%s); retry %d of %d in %.2f s",
                    operation,
                    type(exc).__name__,
                    attempt,
                    self._read_attempts - 1,
                    delay,
                )
                await asyncio.sleep(delay)

    @staticmethod
    async def _session_for(operation: str, getting: Awaitable[AngelSession]) -> AngelSession:
        """Await a login/refresh made on behalf of ``operation``. HTTP-level failures become
        :class:`AngelSessionUnavailable`, so that nobody mistakes them for a lost answer to the
        request itself (which was not sent)."""
        try:
            return await getting
        except (
            AngelTransportError,
            AngelServerError,
            AngelProtocolError,
            AngelRateLimitError,
        ) as exc:
            raise AngelSessionUnavailable(
                f"no Angel One session for {operation}, which was not sent: {exc}"
            ) from None

    def _auth_call(self, route: str, body: Mapping[str, Any], *, jwt: str | None) -> Awaitable[Any]:
        """The session manager's way to send login/refresh/logout (no refresh, no retry)."""
        return self._send(
            self._routes[route],
            self._routes[route].path,
            body,
            jwt,
            _AUTH_OPERATIONS.get(route, route),
        )

    async def _send(
        self,
        route: Route,
        path: str,
        body: Mapping[str, Any] | None,
        jwt: str | None,
        operation: str,
    ) -> Any:
        """One HTTP exchange: wait for the rate limit, send, decode the envelope."""
        headers = dict(self._static_headers)
        if jwt:
            headers["Authorization"] = f"Bearer {jwt}"
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            async with self._limiter.slot(route.group):
                started = time.monotonic()
                response = await self._http.request(
                    route.method, path, content=content, headers=headers
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise AngelTransportError(
                f"could not reach Angel One for {operation} ({type(exc).__name__}); nothing was "
                "sent. Check the network connection.",
                sent=False,
            ) from None
        except httpx.TimeoutException as exc:
            raise AngelTransportError(
                f"no answer from Angel One for {operation} within {self._timeout:g} s "
                f"({type(exc).__name__})",
                sent=True,
            ) from None
        except httpx.HTTPError as exc:
            raise AngelTransportError(
                f"the connection to Angel One broke during {operation} ({type(exc).__name__})",
                sent=True,
            ) from None
        log.debug(
            "%s %s -> HTTP %d in %.0f ms",
            route.method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return self._decode(response, route, operation)

    @staticmethod
    def _decode(response: httpx.Response, route: Route, operation: str) -> Any:
        status = response.status_code
        raw = response.content
        try:
            body = json.loads(raw, parse_float=Decimal) if raw.strip() else None
        except ValueError:
            body = None
            garbled = True
        else:
            garbled = False
        if status == 403 and not isinstance(body, dict):
            raise AngelRateLimitError(
                f"Angel One refused {operation}: request rate limit exceeded (HTTP 403). Nothing "
                "was done; wait a second before sending more."
            )
        if isinstance(body, dict) and ("status" in body or "success" in body):
            ok = body.get("status", body.get("success"))
            if ok is True:
                return body.get("data")
            raise error_from_envelope(body, operation=operation, order_write=route.order_write)
        if status >= 500:
            raise AngelServerError(
                f"Angel One failed on {operation} (HTTP {status}); try again shortly",
                status=status,
            )
        if garbled:
            what = "an answer that is not JSON"
        elif body is None:
            what = "an empty answer"
        else:
            what = "JSON that is not an Angel One envelope"
        hint = (
            " (for an order from a static-IP API key this means the request came from an IP "
            "that is not registered with Angel One)"
            if status == 400 and body is None and not garbled
            else ""
        )
        raise AngelProtocolError(
            f"Angel One answered {operation} with HTTP {status} and {what}{hint}",
            status=status,
        )
