"""A fake Angel One SmartAPI REST server on 127.0.0.1, for tests.

It speaks HTTP/1.1 (keep-alive, Content-Length bodies) on a real socket via
:func:`asyncio.start_server`, answers with Angel's real envelopes and error codes
(research/smartapi.md §3), and keeps state: accounts, tokens with expiry, orders, trades,
positions, holdings, funds, GTT rules. It validates the documented headers, the API key, the jwt and
the TOTP (pyotp, strict 30-second window), enforces its own copy of the published per-second rate
limits (HTTP 403 plain text beyond them), records every request with its arrival time, and can
inject faults per route (stall before/after applying, 403, 500, malformed JSON, empty 400, refused
token).

The state (:class:`FakeAngelState`) is separate from the HTTP front (:class:`FakeAngelServer`) so
that the websocket fakes (market data, order updates) can share it: ``state.order_listeners`` hear
every order change and ``state.feed_tokens`` holds the feed tokens issued.

Usage::

    async with FakeAngelServer() as server:
        creds = AngelCredentials(**server.credentials_values())
        client = AngelRestClient(creds, base_url=server.base_url)
        server.fail("place_order", "stall_after", seconds=2.0)  # placed, answer late
        server.state.expire_jwts()                              # next request: AG8001
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self

import pyotp

from engine.clock import IST

SECURE = "/rest/secure/angelbroking"
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RATE_LIMIT_TEXT = "Access denied because of exceeding access rate"

# The fake's own copy of the published per-second limits (research/smartapi.md §7), kept apart
# from the client's table on purpose: the tests check one against the other.
SERVER_LIMITS_PER_SECOND: dict[str, int] = {
    "login": 1,
    "generate_tokens": 1,
    "logout": 1,
    "funds": 2,
    "orders": 9,
    "order_book": 1,
    "trade_book": 1,
    "positions": 1,
    "holdings": 1,
    "ltp": 10,
    "order_details": 10,
    "quote": 10,
    "gtt_write": 9,
    "gtt_read": 10,
    "candles": 3,
}

FAST_SERVER_LIMITS: dict[str, int] = {group: 50 for group in SERVER_LIMITS_PER_SECOND}
"""50/s everywhere: for tests that are not about rate limits (the client gets matching limits)."""

ROUTE_GROUPS: dict[str, str] = {
    "place_order": "orders",
    "modify_order": "orders",
    "cancel_order": "orders",
    "gtt_create": "gtt_write",
    "gtt_modify": "gtt_write",
    "gtt_cancel": "gtt_write",
    "gtt_details": "gtt_read",
    "gtt_list": "gtt_read",
}
"""Route -> rate-limit group where they differ (otherwise the route name is the group)."""

CANDLE_SPANS = {
    "ONE_MINUTE": (1, 30),
    "THREE_MINUTE": (3, 60),
    "FIVE_MINUTE": (5, 100),
    "TEN_MINUTE": (10, 100),
    "FIFTEEN_MINUTE": (15, 200),
    "THIRTY_MINUTE": (30, 200),
    "ONE_HOUR": (60, 400),
    "ONE_DAY": (1440, 2000),
}
"""interval -> (minutes per bar, max days per request)."""

REQUIRED_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json",
    "x-usertype": "USER",
    "x-sourceid": "WEB",
}
PRESENT_HEADERS = ("x-clientlocalip", "x-clientpublicip", "x-macaddress", "x-privatekey")

MASTER_PATH = "/OpenAPI_File/files/OpenAPIScripMaster.json"
"""Where the fake serves the instrument master (public: no headers, no login, no rate limit)."""

DEFAULT_MASTER_ROWS: list[dict[str, str]] = [
    {
        "token": "99926000",
        "symbol": "Nifty 50",
        "name": "NIFTY",
        "expiry": "",
        "strike": "0.000000",
        "lotsize": "1",
        "instrumenttype": "AMXIDX",
        "exch_seg": "NSE",
        "tick_size": "0.000000",
    },
    {
        "token": "3045",
        "symbol": "SBIN-EQ",
        "name": "SBIN",
        "expiry": "",
        "strike": "-1.000000",
        "lotsize": "1",
        "instrumenttype": "",
        "exch_seg": "NSE",
        "tick_size": "5.000000",
    },
    {
        "token": "2885",
        "symbol": "RELIANCE-EQ",
        "name": "RELIANCE",
        "expiry": "",
        "strike": "-1.000000",
        "lotsize": "1",
        "instrumenttype": "",
        "exch_seg": "NSE",
        "tick_size": "5.000000",
    },
]
"""The master the fake serves by default: NIFTY 50 (index), SBIN-EQ and RELIANCE-EQ on NSE."""


class MutableClock:
    """A wall clock (Unix seconds) that tests can move: ``clock.advance(60)``."""

    def __init__(self, start: float | None = None) -> None:
        self.offset = 0.0
        self.fixed: float | None = start

    def __call__(self) -> float:
        base = self.fixed if self.fixed is not None else time.time()
        return base + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative number)."""
        self.offset += seconds

    def set(self, when: float) -> None:
        """Freeze the clock at ``when``."""
        self.fixed, self.offset = when, 0.0


@dataclass
class FakeAccount:
    """One Angel account the fake knows."""

    client_code: str = "T12345"
    pin: str = "4321"
    api_key: str = "testapikey01"
    totp_secret: str = TEST_TOTP_SECRET
    funds: dict[str, Any] = field(
        default_factory=lambda: {
            "net": "100000.00",
            "availablecash": "100000.00",
            "availableintradaypayin": "0",
            "availablelimitmargin": "0",
            "collateral": "0",
            "m2munrealized": "0",
            "m2mrealized": "-12.3456",
            "utiliseddebits": "0",
            "utilisedspan": None,
            "utilisedoptionpremium": None,
            "utilisedholdingsales": None,
            "utilisedexposure": None,
            "utilisedturnover": None,
            "utilisedpayout": "0",
        }
    )
    positions: list[dict[str, Any]] = field(default_factory=list)
    holdings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Token:
    client_code: str
    expires_at: float
    revoked: bool = False


@dataclass
class Fault:
    """A fault injected into the next request(s) of a route.

    kinds: ``stall`` (sleep ``seconds`` then handle normally), ``stall_after`` (handle, then
    sleep before answering: the change is made but the answer is late), ``rate_limit`` (403 text),
    ``http_500``, ``malformed`` (200 with broken JSON), ``empty_400``, ``invalid_token`` (AG8001).
    """

    kind: str
    seconds: float = 0.0


@dataclass
class RecordedRequest:
    """One request as the fake saw it. ``received`` is :func:`time.monotonic` at arrival."""

    method: str
    path: str
    route: str
    headers: dict[str, str]
    body: Any
    received: float
    status: int = 0
    rate_limited: bool = False


@dataclass
class Response:
    """An HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


def ok(data: Any) -> Response:
    """Angel's success envelope."""
    return _json(200, {"status": True, "message": "SUCCESS", "errorcode": "", "data": data})


def business_error(code: str, message: str, status: int = 200) -> Response:
    """Angel's business-error envelope (``status``/``errorcode``)."""
    return _json(status, {"message": message, "errorcode": code, "status": False, "data": None})


def gateway_error(code: str, message: str, status: int = 200) -> Response:
    """Angel's gateway-error envelope (``success``/``errorCode``)."""
    return _json(status, {"success": False, "message": message, "errorCode": code, "data": ""})


def _json(status: int, payload: Any) -> Response:
    return Response(status, dumps(payload).encode())


_DECIMAL_MARK = re.compile(r'"@@dec@@([-0-9.Ee+]+)@@"')


def _mark_decimals(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"@@dec@@{value}@@"
    if isinstance(value, dict):
        return {k: _mark_decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_decimals(v) for v in value]
    return value


def dumps(payload: Any) -> str:
    """JSON text in which every Decimal is written as its exact digits (a JSON number)."""
    return _DECIMAL_MARK.sub(r"\1", json.dumps(_mark_decimals(payload)))


class _ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _fail(code: str, message: str) -> _ApiError:
    return _ApiError(business_error(code, message))


def _ist_text(when: float) -> str:
    return datetime.fromtimestamp(when, IST).strftime("%d-%b-%Y %H:%M:%S")


def _dec(value: Any, field_name: str, *, positive: bool = False, places: int = 2) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _fail("AB1007", f"Invalid {field_name}") from None
    if not number.is_finite() or number < 0 or (positive and number <= 0):
        raise _fail("AB1007", f"Invalid {field_name}")
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise _fail("AB1007", f"Invalid {field_name}: too many decimals")
    return number


def _qty(value: Any, field_name: str = "quantity") -> int:
    text = str(value)
    if not text.isdigit() or int(text) <= 0:
        raise _fail("AB1007", f"Invalid {field_name}")
    return int(text)


class FakeAngelState:
    """Accounts, tokens, orders, trades and GTT rules of the fake."""

    def __init__(
        self,
        accounts: list[FakeAccount] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        jwt_ttl: float = 6 * 3600,
        refresh_ttl: float = 24 * 3600,
    ) -> None:
        self.accounts = {a.client_code: a for a in (accounts or [FakeAccount()])}
        self.clock = clock
        self.jwt_ttl = jwt_ttl
        self.refresh_ttl = refresh_ttl
        self.jwts: dict[str, _Token] = {}
        self.refresh_tokens: dict[str, _Token] = {}
        self.feed_tokens: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.gtt_rules: dict[int, dict[str, Any]] = {}
        self.prices: dict[str, Decimal] = {"3045": Decimal("812.50"), "2885": Decimal("2950.05")}
        self.order_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.place_refusals: dict[str, tuple[str, str]] = {}
        """symboltoken -> (errorcode, message): placeOrder refuses orders on these tokens."""
        self.login_attempts: list[str] = []
        self.master_rows: list[dict[str, str]] = [dict(r) for r in DEFAULT_MASTER_ROWS]
        """The instrument master served at :data:`MASTER_PATH` (rows as Angel's JSON has them)."""
        self._order_seq = itertools.count(1)
        self._gtt_seq = itertools.count(1001)
        self._fill_seq = itertools.count(1)

    @property
    def account(self) -> FakeAccount:
        """The first (usually only) account."""
        return next(iter(self.accounts.values()))

    def api_keys(self) -> set[str]:
        """Every valid API key."""
        return {a.api_key for a in self.accounts.values()}

    # ---- tokens ----------------------------------------------------------------------------

    def issue_tokens(self, client_code: str) -> dict[str, str]:
        """New jwt, refresh token and feed token for a client."""
        now = self.clock()
        jwt = "eyJhbGciOiJIUzUxMiJ9." + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(16)
        refresh = "eyJhbGciOiJIUzUxMiJ9." + secrets.token_urlsafe(24) + ".r" + secrets.token_hex(8)
        feed = secrets.token_hex(16)
        self.jwts[jwt] = _Token(client_code, now + self.jwt_ttl)
        self.refresh_tokens[refresh] = _Token(client_code, now + self.refresh_ttl)
        self.feed_tokens[feed] = client_code
        return {"jwtToken": jwt, "refreshToken": refresh, "feedToken": feed}

    def expire_jwts(self) -> None:
        """Every jwt issued so far is now expired (refresh tokens still work)."""
        now = self.clock()
        for token in self.jwts.values():
            token.expires_at = min(token.expires_at, now - 1)

    def expire_refresh_tokens(self) -> None:
        """Every refresh token issued so far is now expired."""
        now = self.clock()
        for token in self.refresh_tokens.values():
            token.expires_at = min(token.expires_at, now - 1)

    def jwt_client(self, jwt: str, *, allow_expired: bool = False) -> str | None:
        """The client a jwt belongs to, if it is valid."""
        token = self.jwts.get(jwt)
        if token is None or token.revoked:
            return None
        if not allow_expired and token.expires_at <= self.clock():
            return None
        return token.client_code

    # ---- auth routes ------------------------------------------------------------------------

    def login(self, body: Mapping[str, Any], api_key: str) -> Response:
        """loginByPassword."""
        code = str(body.get("clientcode", ""))
        account = self.accounts.get(code)
        self.login_attempts.append(str(body.get("totp", "")))
        if account is None or account.api_key != api_key:
            return business_error("AB1000", "Invalid Email Or Password")
        if str(body.get("password", "")) != account.pin:
            return business_error("AB1000", "Invalid Email Or Password")
        totp = str(body.get("totp", ""))
        if not pyotp.TOTP(account.totp_secret).verify(totp, for_time=self.clock()):
            return business_error("AB1050", "Invalid totp")
        return ok(self.issue_tokens(code))

    def generate_tokens(self, body: Mapping[str, Any], jwt: str) -> Response:
        """generateTokens: refresh token + (possibly expired) jwt -> new tokens."""
        refresh = str(body.get("refreshToken", ""))
        token = self.refresh_tokens.get(refresh)
        if token is None or token.revoked:
            return business_error("AB8050", "Invalid Refresh Token")
        if token.expires_at <= self.clock():
            return business_error("AB8051", "Refresh Token Expired")
        if self.jwt_client(jwt, allow_expired=True) != token.client_code:
            return gateway_error("AG8001", "Invalid Token")
        token.revoked = True
        self.jwts[jwt].revoked = True
        return ok(self.issue_tokens(token.client_code))

    def logout(self, client: str, jwt: str) -> Response:
        """logout: revokes the client's tokens."""
        for store in (self.jwts, self.refresh_tokens):
            for token in store.values():
                if token.client_code == client:
                    token.revoked = True
        return ok("")

    # ---- orders -----------------------------------------------------------------------------

    def _notify(self, row: dict[str, Any]) -> None:
        for listener in self.order_listeners:
            listener(dict(row))

    @contextlib.contextmanager
    def unheard(self) -> Iterator[None]:
        """Order changes made inside the block reach no listener (an order-update stream that
        missed them); the order book and trade book still show them."""
        listeners = list(self.order_listeners)
        self.order_listeners.clear()
        try:
            yield
        finally:
            self.order_listeners[:0] = listeners

    def reject(self, order_id: str, text: str) -> None:
        """The exchange or Angel's RMS rejects a placed order (status ``rejected``, ``text``)."""
        row = self.orders[order_id]
        row["status"] = row["orderstatus"] = "rejected"
        row["text"] = text
        row["unfilledshares"] = "0"
        row["updatetime"] = _ist_text(self.clock())
        self._notify(row)

    def place_order(self, body: Mapping[str, Any]) -> Response:
        """placeOrder with Angel's validations."""
        variety = str(body.get("variety", ""))
        if variety not in ("NORMAL", "STOPLOSS", "ROBO"):
            raise _fail("AB1008", "Invalid Order Variety")
        for key in (
            "tradingsymbol",
            "transactiontype",
            "exchange",
            "ordertype",
            "producttype",
            "duration",
            "quantity",
        ):
            if not str(body.get(key, "")).strip():
                raise _fail("AB1007", f"INVALID PARAMETERS: {key}")
        if not str(body.get("symboltoken", "")).strip():
            raise _fail("AB4018", "Symbol token cannot be empty")
        ordertype = str(body["ordertype"])
        if ordertype not in ("MARKET", "LIMIT", "STOPLOSS_LIMIT", "STOPLOSS_MARKET"):
            raise _fail("AB1007", "Invalid ordertype")
        product = str(body["producttype"])
        if product not in ("DELIVERY", "CARRYFORWARD", "MARGIN", "INTRADAY", "BO"):
            raise _fail("AB1012", "Invalid Product Type")
        if str(body["exchange"]) not in ("NSE", "BSE", "NFO", "BFO", "MCX", "CDS"):
            raise _fail("AB1007", "Invalid exchange")
        if str(body["duration"]) not in ("DAY", "IOC"):
            raise _fail("AB1007", "Invalid duration")
        if str(body["transactiontype"]) not in ("BUY", "SELL"):
            raise _fail("AB1007", "Invalid transactiontype")
        tag = str(body.get("ordertag", ""))
        if len(tag) > 20:
            raise _fail("AB4008", "ordertag length should be less than 20 characters")
        refusal = self.place_refusals.get(str(body["symboltoken"]))
        if refusal is not None:
            raise _fail(*refusal)
        is_stop = ordertype.startswith("STOPLOSS")
        if is_stop != (variety == "STOPLOSS"):
            raise _fail("AB1007", "STOPLOSS order types need variety STOPLOSS")
        qty = _qty(body["quantity"])
        price = _dec(body.get("price", "0"), "price")
        trigger = _dec(body.get("triggerprice", "0"), "triggerprice")
        if ordertype in ("LIMIT", "STOPLOSS_LIMIT") and price <= 0:
            raise _fail("AB1007", "Invalid price")
        if is_stop and trigger <= 0:
            raise _fail("AB1007", "Invalid triggerprice")
        if variety == "ROBO":
            if product != "BO" or ordertype != "LIMIT":
                raise _fail("AB1007", "ROBO orders are LIMIT with producttype BO")
            _dec(body.get("squareoff"), "squareoff", positive=True)
            _dec(body.get("stoploss"), "stoploss", positive=True)
            _dec(body.get("trailingStopLoss", "0"), "trailingStopLoss")
        now = self.clock()
        order_id = f"{datetime.fromtimestamp(now, IST):%y%m%d}{next(self._order_seq):09d}"
        status = {"MARKET": "complete", "LIMIT": "open"}.get(ordertype, "trigger pending")
        row: dict[str, Any] = {
            "variety": variety,
            "ordertype": ordertype,
            "producttype": product,
            "duration": body["duration"],
            "price": price,
            "triggerprice": trigger,
            "quantity": str(qty),
            "disclosedquantity": str(body.get("disclosedquantity", "0")),
            "squareoff": Decimal(str(body.get("squareoff", "0"))),
            "stoploss": Decimal(str(body.get("stoploss", "0"))),
            "trailingstoploss": Decimal(str(body.get("trailingStopLoss", "0"))),
            "tradingsymbol": body["tradingsymbol"],
            "transactiontype": body["transactiontype"],
            "exchange": body["exchange"],
            "symboltoken": body["symboltoken"],
            "ordertag": tag,
            "instrumenttype": "",
            "strikeprice": "-1",
            "optiontype": "",
            "expirydate": "",
            "lotsize": "1",
            "cancelsize": "0",
            "averageprice": Decimal("0"),
            "filledshares": "0",
            "unfilledshares": str(qty),
            "orderid": order_id,
            "text": "",
            "status": "open" if status == "complete" else status,
            "orderstatus": "open" if status == "complete" else status,
            "updatetime": _ist_text(now),
            "exchtime": _ist_text(now),
            "exchorderupdatetime": _ist_text(now),
            "fillid": "",
            "filltime": "",
            "parentorderid": "",
            "uniqueorderid": str(uuid.uuid4()),
            "exchangeorderid": f"1100000{next(self._fill_seq):08d}",
        }
        self.orders[order_id] = row
        self._notify(row)
        if status == "complete":
            self.fill(order_id, qty, self.prices.get(str(body["symboltoken"]), Decimal("100")))
        return ok(
            {
                "script": body["tradingsymbol"],
                "orderid": order_id,
                "uniqueorderid": row["uniqueorderid"],
            }
        )

    def fill(self, order_id: str, qty: int, price: Decimal) -> None:
        """Execute ``qty`` of an order at ``price`` (a trade-book row; status updates)."""
        row = self.orders[order_id]
        filled = int(row["filledshares"])
        total = int(row["quantity"])
        new_filled = filled + qty
        if new_filled > total:
            raise ValueError(f"cannot fill {qty}: only {total - filled} left")
        avg = (row["averageprice"] * filled + price * qty) / new_filled
        row["averageprice"] = avg.quantize(Decimal("0.0001"))
        row["filledshares"] = str(new_filled)
        row["unfilledshares"] = str(total - new_filled)
        row["status"] = row["orderstatus"] = "complete" if new_filled == total else "open"
        now = self.clock()
        row["updatetime"] = _ist_text(now)
        fill_id = f"{next(self._fill_seq):08d}"
        self.trades.append(
            {
                "exchange": row["exchange"],
                "producttype": row["producttype"],
                "tradingsymbol": row["tradingsymbol"],
                "instrumenttype": "",
                "symbolgroup": "EQ",
                "strikeprice": "-1",
                "optiontype": "",
                "expirydate": "",
                "marketlot": "1",
                "precision": "2",
                "multiplier": "-1",
                "tradevalue": f"{price * qty:.2f}",
                "transactiontype": row["transactiontype"],
                "fillprice": f"{price:.2f}",
                "fillsize": str(qty),
                "orderid": order_id,
                "fillid": fill_id,
                "filltime": datetime.fromtimestamp(now, IST).strftime("%H:%M:%S"),
            }
        )
        self._notify(row)

    def modify_order(self, body: Mapping[str, Any]) -> Response:
        """modifyOrder."""
        row = self.orders.get(str(body.get("orderid", "")))
        if row is None:
            raise _fail("AB1013", "Order not found")
        if row["status"] not in ("open", "trigger pending"):
            raise _fail("AB1007", "Order cannot be modified as it is not open")
        if str(body.get("variety", "")) != row["variety"]:
            raise _fail("AB1008", "Invalid Order Variety")
        qty = _qty(body.get("quantity", ""))
        row["quantity"] = str(qty)
        row["unfilledshares"] = str(qty - int(row["filledshares"]))
        row["price"] = _dec(body.get("price", "0"), "price")
        row["triggerprice"] = _dec(body.get("triggerprice", "0"), "triggerprice")
        row["ordertype"] = str(body.get("ordertype", row["ordertype"]))
        row["updatetime"] = _ist_text(self.clock())
        self._notify(row)
        return ok({"orderid": row["orderid"], "uniqueorderid": row["uniqueorderid"]})

    def cancel_order(self, body: Mapping[str, Any]) -> Response:
        """cancelOrder."""
        row = self.orders.get(str(body.get("orderid", "")))
        if row is None:
            raise _fail("AB1013", "Order not found")
        if str(body.get("variety", "")) not in ("NORMAL", "STOPLOSS", "ROBO"):
            raise _fail("AB1008", "Invalid Order Variety")
        if row["status"] not in ("open", "trigger pending"):
            raise _fail("AB1007", "Order cannot be cancelled as it is not open")
        row["status"] = row["orderstatus"] = "cancelled"
        row["cancelsize"] = row["unfilledshares"]
        row["updatetime"] = _ist_text(self.clock())
        self._notify(row)
        return ok({"orderid": row["orderid"], "uniqueorderid": row["uniqueorderid"]})

    def order_details(self, unique_order_id: str) -> Response:
        """details/{uniqueorderid}."""
        for row in self.orders.values():
            if row["uniqueorderid"] == unique_order_id:
                return ok(row)
        raise _fail("AB1013", "Order not found")

    # ---- market data ------------------------------------------------------------------------

    def ltp(self, body: Mapping[str, Any]) -> Response:
        """getLtpData."""
        token = str(body.get("symboltoken", ""))
        if not token:
            raise _fail("AB4018", "Symbol token cannot be empty")
        if token not in self.prices:
            raise _fail("AB4006", "Invalid symboltoken")
        ltp = self.prices[token]
        return ok(
            {
                "exchange": body.get("exchange"),
                "tradingsymbol": body.get("tradingsymbol"),
                "symboltoken": token,
                "open": ltp - Decimal("2.50"),
                "high": ltp + Decimal("5.05"),
                "low": ltp - Decimal("7.00"),
                "close": ltp - Decimal("1.25"),
                "ltp": ltp,
            }
        )

    def quote(self, body: Mapping[str, Any]) -> Response:
        """market/v1/quote."""
        mode = body.get("mode")
        if mode not in ("LTP", "OHLC", "FULL"):
            raise _fail("AB1007", "Invalid mode")
        tokens = body.get("exchangeTokens")
        if not isinstance(tokens, dict) or not tokens:
            raise _fail("AB1007", "Invalid exchangeTokens")
        if sum(len(v) for v in tokens.values()) > 50:
            raise _fail("AB1007", "Maximum 50 tokens per request")
        fetched, unfetched = [], []
        for exchange, token_list in tokens.items():
            for token in token_list:
                if token not in self.prices:
                    unfetched.append(
                        {
                            "exchange": exchange,
                            "symbolToken": token,
                            "message": "Invalid symboltoken",
                            "errorCode": "AB4006",
                        }
                    )
                    continue
                ltp = self.prices[token]
                row: dict[str, Any] = {
                    "exchange": exchange,
                    "tradingSymbol": f"SYM{token}",
                    "symbolToken": token,
                    "ltp": ltp,
                }
                if mode in ("OHLC", "FULL"):
                    row.update(open=ltp - 1, high=ltp + 2, low=ltp - 3, close=ltp - Decimal("0.5"))
                if mode == "FULL":
                    row.update(
                        lastTradeQty=5,
                        exchFeedTime=_ist_text(self.clock()),
                        exchTradeTime=_ist_text(self.clock()),
                        netChange=Decimal("0.5"),
                        percentChange=Decimal("0.06"),
                        avgPrice=ltp - Decimal("0.123"),
                        tradeVolume=123456,
                        opnInterest=0,
                        lowerCircuit=ltp - 80,
                        upperCircuit=ltp + 80,
                        totBuyQuan=1000,
                        totSellQuan=2000,
                        **{"52WeekLow": ltp - 100, "52WeekHigh": ltp + 100},
                        depth={
                            "buy": [
                                {
                                    "price": ltp - Decimal("0.05") * (i + 1),
                                    "quantity": 10 * (i + 1),
                                    "orders": i + 1,
                                }
                                for i in range(5)
                            ],
                            "sell": [
                                {
                                    "price": ltp + Decimal("0.05") * (i + 1),
                                    "quantity": 20 * (i + 1),
                                    "orders": i + 1,
                                }
                                for i in range(5)
                            ],
                        },
                    )
                fetched.append(row)
        return ok({"fetched": fetched, "unfetched": unfetched})

    def candles(self, body: Mapping[str, Any]) -> Response:
        """getCandleData: deterministic bars inside [fromdate, todate], span limits enforced."""
        interval = str(body.get("interval", ""))
        if interval not in CANDLE_SPANS:
            raise _fail("AB1007", "Invalid interval")
        if not str(body.get("symboltoken", "")):
            raise _fail("AB4018", "Symbol token cannot be empty")
        try:
            start = datetime.strptime(str(body.get("fromdate")), "%Y-%m-%d %H:%M")
            end = datetime.strptime(str(body.get("todate")), "%Y-%m-%d %H:%M")
        except ValueError:
            raise _fail("AB1004", "Something Went Wrong, Please Try After Sometime") from None
        minutes, span_days = CANDLE_SPANS[interval]
        # The strictest reading of the span limit: calendar days touched, both ends included.
        if end < start or (end.date() - start.date()).days + 1 > span_days:
            raise _fail("AB1004", "Something Went Wrong, Please Try After Sometime")
        return ok(list(candle_rows(start, end, minutes)))

    # ---- GTT --------------------------------------------------------------------------------

    def gtt_create(self, body: Mapping[str, Any], client: str) -> Response:
        """createRule (single, or OCO with gttType OCO + stoplossprice/stoplosstriggerprice)."""
        for key in (
            "tradingsymbol",
            "symboltoken",
            "exchange",
            "transactiontype",
            "producttype",
            "price",
            "qty",
            "triggerprice",
            "disclosedqty",
            "timeperiod",
        ):
            if key not in body:
                raise _fail("AB9001", f"Invalid parameters: {key}")
        if body["exchange"] not in ("NSE", "BSE"):
            raise _fail("AB9010", "Invalid exchange segment")
        if body["producttype"] not in ("DELIVERY", "MARGIN"):
            raise _fail("AB9015", "Invalid product type")
        gtt_type = str(body.get("gttType", "GENERIC"))
        rule: dict[str, Any] = {
            "id": next(self._gtt_seq),
            "status": "NEW",
            "gttType": gtt_type,
            "clientid": client,
            "createddate": _ist_text(self.clock()),
            "updateddate": _ist_text(self.clock()),
            "expirydate": _ist_text(self.clock() + 86400 * int(str(body["timeperiod"]))),
            "tradingsymbol": body["tradingsymbol"],
            "symboltoken": body["symboltoken"],
            "exchange": body["exchange"],
            "producttype": body["producttype"],
            "transactiontype": body["transactiontype"],
            "price": _dec(body["price"], "price", positive=True),
            "qty": _qty(body["qty"], "qty"),
            "triggerprice": _dec(body["triggerprice"], "triggerprice", positive=True),
            "disclosedqty": int(str(body["disclosedqty"])),
            "stoplossprice": Decimal(0),
            "stoplosstriggerprice": Decimal(0),
        }
        if gtt_type == "OCO":
            if "stoplossprice" not in body or "stoplosstriggerprice" not in body:
                raise _fail("AB9001", "Invalid parameters: OCO needs the stop-loss leg")
            rule["stoplossprice"] = _dec(body["stoplossprice"], "stoplossprice", positive=True)
            rule["stoplosstriggerprice"] = _dec(
                body["stoplosstriggerprice"], "stoplosstriggerprice", positive=True
            )
        self.gtt_rules[rule["id"]] = rule
        return ok({"id": rule["id"]})

    def _rule(self, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            rule_id = int(str(body.get("id", "")))
        except ValueError:
            raise _fail("AB9013", "Invalid rule id") from None
        rule = self.gtt_rules.get(rule_id)
        if rule is None:
            raise _fail("AB9013", "Invalid rule id")
        return rule

    def gtt_modify(self, body: Mapping[str, Any]) -> Response:
        """modifyRule."""
        rule = self._rule(body)
        if rule["status"] == "CANCELLED":
            raise _fail("AB9001", "Rule is cancelled")
        if str(body.get("symboltoken")) != rule["symboltoken"]:
            raise _fail("AB9011", "Invalid symbol token")
        rule["price"] = _dec(body.get("price"), "price", positive=True)
        rule["qty"] = _qty(body.get("qty"), "qty")
        rule["triggerprice"] = _dec(body.get("triggerprice"), "triggerprice", positive=True)
        rule["disclosedqty"] = int(str(body.get("disclosedqty", "0")))
        if "stoplossprice" in body:
            rule["stoplossprice"] = _dec(body["stoplossprice"], "stoplossprice", positive=True)
            rule["stoplosstriggerprice"] = _dec(
                body.get("stoplosstriggerprice"), "stoplosstriggerprice", positive=True
            )
        rule["updateddate"] = _ist_text(self.clock())
        return ok({"id": rule["id"]})

    def gtt_cancel(self, body: Mapping[str, Any]) -> Response:
        """cancelRule."""
        rule = self._rule(body)
        if str(body.get("symboltoken")) != rule["symboltoken"]:
            raise _fail("AB9011", "Invalid symbol token")
        rule["status"] = "CANCELLED"
        rule["updateddate"] = _ist_text(self.clock())
        return ok({"id": rule["id"]})

    def gtt_list(self, body: Mapping[str, Any]) -> Response:
        """ruleList with status filter and paging."""
        statuses = body.get("status")
        if not isinstance(statuses, list) or not statuses:
            raise _fail("AB9004", "Invalid status array size")
        page, count = body.get("page"), body.get("count")
        if not isinstance(page, int) or page < 1:
            raise _fail("AB9017", "Invalid page")
        if not isinstance(count, int) or count < 1:
            raise _fail("AB9018", "Invalid count")
        rules = [
            r for r in self.gtt_rules.values() if "FORALL" in statuses or r["status"] in statuses
        ]
        return ok(rules[(page - 1) * count : page * count])

    # ---- charges ----------------------------------------------------------------------------

    def estimate_charges(self, body: Mapping[str, Any]) -> Response:
        """estimateCharges: brokerage 0.03% capped at 20 for intraday, STT 0.025%, GST 18%."""
        orders = body.get("orders")
        if not isinstance(orders, list) or not orders:
            raise _fail("AB1007", "Invalid orders")
        per_order = []
        total_charges = total_value = Decimal(0)
        for order in orders:
            for key in (
                "product_type",
                "transaction_type",
                "quantity",
                "price",
                "exchange",
                "symbol_name",
                "token",
            ):
                if key not in order:
                    raise _fail("AB1007", f"Invalid parameters: {key}")
            value = _dec(order["price"], "price", positive=True) * _qty(order["quantity"])
            brokerage = (
                min(Decimal(20), value * Decimal("0.0003"))
                if order["product_type"] == "INTRADAY"
                else Decimal(0)
            )
            stt = value * Decimal("0.00025")
            gst = brokerage * Decimal("0.18")
            charges = brokerage + stt + gst
            per_order.append(
                {
                    "summary": {
                        "total_charges": charges,
                        "trade_value": value,
                        "breakup": _breakup(brokerage, stt, gst),
                    }
                }
            )
            total_charges += charges
            total_value += value
        return ok(
            {
                "summary": {
                    "total_charges": total_charges,
                    "trade_value": total_value,
                    "breakup": [],
                },
                "charges": per_order,
            }
        )


def _breakup(brokerage: Decimal, stt: Decimal, gst: Decimal) -> list[dict[str, Any]]:
    return [
        {"name": "Angel One Brokerage", "amount": brokerage, "msg": "", "breakup": []},
        {
            "name": "External Charges",
            "amount": stt + gst,
            "msg": "",
            "breakup": [
                {"name": "Securities Transaction Tax", "amount": stt, "msg": "", "breakup": []},
                {"name": "GST", "amount": gst, "msg": "", "breakup": []},
            ],
        },
    ]


def candle_rows(start: datetime, end: datetime, minutes: int) -> list[list[Any]]:
    """Deterministic candles for [start, end] (naive IST): NSE session bars, or daily bars."""
    rows: list[list[Any]] = []
    day: date = start.date()
    while day <= end.date():
        if day.weekday() < 5:
            if minutes >= 1440:
                stamps = [datetime.combine(day, dtime(0, 0))]
            else:
                open_at = datetime.combine(day, dtime(9, 15))
                count = (375 + minutes - 1) // minutes
                stamps = [open_at + timedelta(minutes=minutes * i) for i in range(count)]
            for stamp in stamps:
                if minutes < 1440 and not start <= stamp <= end:
                    continue
                n = int(stamp.timestamp() // 60)
                base = Decimal(500) + Decimal(n % 397) * Decimal("0.05")
                rows.append(
                    [
                        stamp.strftime("%Y-%m-%dT%H:%M:%S+05:30"),
                        base,
                        base + Decimal("1.5"),
                        base - Decimal("1.25"),
                        base + Decimal("0.35"),
                        1000 + n % 5000,
                    ]
                )
        day += timedelta(days=1)
    return rows


Handler = Callable[["_Request"], Awaitable[Response] | Response]


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client: str = ""
    jwt: str = ""
    path_args: dict[str, str] = field(default_factory=dict)


class FakeAngelServer:
    """The HTTP front: routing, header/auth checks, rate limits, faults and the request log."""

    def __init__(
        self,
        state: FakeAngelState | None = None,
        *,
        enforce_rate_limits: bool = True,
        limits_per_second: Mapping[str, int] | None = None,
    ) -> None:
        self.state = state or FakeAngelState()
        self.enforce_rate_limits = enforce_rate_limits
        self.limits_per_second = dict(SERVER_LIMITS_PER_SECOND, **(limits_per_second or {}))
        self.requests: list[RecordedRequest] = []
        self.header_errors: list[str] = []
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._arrivals: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.port = 0
        s = SECURE
        self._routes: dict[tuple[str, str], tuple[str, Handler, bool]] = {}
        for method, path, name, handler, secure in (
            (
                "POST",
                "/rest/auth/angelbroking/user/v1/loginByPassword",
                "login",
                self._login,
                False,
            ),
            (
                "POST",
                "/rest/auth/angelbroking/jwt/v1/generateTokens",
                "generate_tokens",
                self._generate_tokens,
                False,
            ),
            ("POST", f"{s}/user/v1/logout", "logout", self._logout, True),
            (
                "POST",
                f"{s}/order/v1/placeOrder",
                "place_order",
                self._body(self.state.place_order),
                True,
            ),
            (
                "POST",
                f"{s}/order/v1/modifyOrder",
                "modify_order",
                self._body(self.state.modify_order),
                True,
            ),
            (
                "POST",
                f"{s}/order/v1/cancelOrder",
                "cancel_order",
                self._body(self.state.cancel_order),
                True,
            ),
            ("GET", f"{s}/order/v1/getOrderBook", "order_book", self._order_book, True),
            ("GET", f"{s}/order/v1/getTradeBook", "trade_book", self._trade_book, True),
            ("GET", f"{s}/order/v1/getPosition", "positions", self._positions, True),
            ("GET", f"{s}/portfolio/v1/getHolding", "holdings", self._holdings, True),
            ("GET", f"{s}/user/v1/getRMS", "funds", self._funds, True),
            ("POST", f"{s}/order/v1/getLtpData", "ltp", self._body(self.state.ltp), True),
            ("POST", f"{s}/market/v1/quote", "quote", self._body(self.state.quote), True),
            (
                "POST",
                f"{s}/historical/v1/getCandleData",
                "candles",
                self._body(self.state.candles),
                True,
            ),
            ("POST", f"{s}/gtt/v1/ruleDetails", "gtt_details", self._gtt_details, True),
            ("POST", f"{s}/gtt/v1/ruleList", "gtt_list", self._body(self.state.gtt_list), True),
            (
                "POST",
                f"{s}/brokerage/v1/estimateCharges",
                "charges",
                self._body(self.state.estimate_charges),
                True,
            ),
        ):
            self._routes[(method, path)] = (name, handler, secure)
        for prefix in ("", "/gtt-service"):
            self._routes[("POST", f"{prefix}{s}/gtt/v1/createRule")] = (
                "gtt_create",
                self._gtt_create,
                True,
            )
            self._routes[("POST", f"{prefix}{s}/gtt/v1/modifyRule")] = (
                "gtt_modify",
                self._body(self.state.gtt_modify),
                True,
            )
            self._routes[("POST", f"{prefix}{s}/gtt/v1/cancelRule")] = (
                "gtt_cancel",
                self._body(self.state.gtt_cancel),
                True,
            )

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_url(self) -> str:
        """The instrument master's URL (``COCKPIT_ANGEL_MASTER_URL`` in tests)."""
        return f"{self.base_url}{MASTER_PATH}"

    async def start(self) -> str:
        """Listen on 127.0.0.1 at a free port; returns the base URL."""
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        """Stop listening, drop every connection and stalled answer."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- test helpers -----------------------------------------------------------------------

    def credentials_values(self) -> dict[str, str]:
        """The first account's credentials as AngelCredentials keyword arguments."""
        a = self.state.account
        return {
            "api_key": a.api_key,
            "client_code": a.client_code,
            "pin": a.pin,
            "totp_secret": a.totp_secret,
        }

    def fail(self, route: str, kind: str, *, seconds: float = 0.0, times: int = 1) -> None:
        """Inject ``times`` faults of ``kind`` into the next requests of ``route``."""
        kinds = {
            "stall",
            "stall_after",
            "rate_limit",
            "http_500",
            "malformed",
            "empty_400",
            "invalid_token",
        }
        if kind not in kinds:
            raise ValueError(f"unknown fault {kind!r}; use one of {sorted(kinds)}")
        self.faults[route].extend(Fault(kind, seconds) for _ in range(times))

    def calls(self, route: str) -> list[RecordedRequest]:
        """Recorded requests of one route, in arrival order."""
        return [r for r in self.requests if r.route == route]

    def route_names(self) -> list[str]:
        """The route of every recorded request, in order."""
        return [r.route for r in self.requests]

    def max_in_window(self, group: str, window: float = 1.0) -> int:
        """Most requests of a rate-limit group that arrived within any ``window`` seconds."""
        times = sorted(r.received for r in self.requests if _group(r.route) == group)
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # ---- HTTP -------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    method, target, _version = line.decode("latin-1").split()
                except ValueError:
                    break
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                payload = await reader.readexactly(length) if length else b""
                response, delay = await self._dispatch(method, target, headers, payload)
                if delay:
                    await asyncio.sleep(delay)
                head = (
                    f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}\r\n"
                    f"Content-Type: {response.content_type}\r\n"
                    f"Content-Length: {len(response.body)}\r\n"
                    "Connection: keep-alive\r\n\r\n"
                )
                writer.write(head.encode("latin-1") + response.body)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly keeps asyncio from logging it.
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _dispatch(
        self, method: str, target: str, headers: dict[str, str], payload: bytes
    ) -> tuple[Response, float]:
        path = target.split("?", 1)[0]
        received = time.monotonic()
        if method == "GET" and path == MASTER_PATH:
            self.requests.append(RecordedRequest(method, path, "master", dict(headers), None,
                                                 received, status=200))
            return Response(200, json.dumps(self.state.master_rows).encode()), 0.0
        entry = self._routes.get((method, path))
        path_args: dict[str, str] = {}
        if entry is None and method == "GET" and path.startswith(f"{SECURE}/order/v1/details/"):
            path_args["unique_order_id"] = path.rsplit("/", 1)[1]
            entry = ("order_details", self._order_details, True)
        try:
            body = json.loads(payload, parse_float=Decimal) if payload else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method, path, entry[0] if entry else "?", dict(headers), body, received
        )
        self.requests.append(record)
        response, delay = await self._answer(record, entry, path_args)
        record.status = response.status
        return response, delay

    async def _answer(
        self,
        record: RecordedRequest,
        entry: tuple[str, Handler, bool] | None,
        path_args: dict[str, str],
    ) -> tuple[Response, float]:
        if entry is None:
            return Response(404, b"<html>Not Found</html>", "text/html"), 0.0
        name, handler, secure = entry
        account = record.headers.get("x-privatekey", "")
        if self.enforce_rate_limits and self._over_limit(name, account, record.received):
            record.rate_limited = True
            return Response(403, RATE_LIMIT_TEXT.encode(), "text/plain"), 0.0
        fault = self.faults[name].pop(0) if self.faults.get(name) else None
        delay = 0.0
        if fault is not None:
            if fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "stall_after":
                delay = fault.seconds
            elif fault.kind == "rate_limit":
                return Response(403, RATE_LIMIT_TEXT.encode(), "text/plain"), 0.0
            elif fault.kind == "http_500":
                return Response(500, b"<html>Internal Server Error</html>", "text/html"), 0.0
            elif fault.kind == "malformed":
                return Response(200, b'{"status": true, "data": {"orderid": '), 0.0
            elif fault.kind == "empty_400":
                return Response(400, b"", "text/plain"), 0.0
            elif fault.kind == "invalid_token":
                return gateway_error("AG8001", "Invalid Token"), 0.0
        problem = self._check_headers(record.headers)
        if problem is not None:
            self.header_errors.append(f"{record.route}: {problem}")
            return gateway_error("AG8003", f"Invalid Header - {problem}", status=400), 0.0
        if record.headers.get("x-privatekey") not in self.state.api_keys():
            return gateway_error("AG8004", "Invalid API Key"), 0.0
        request = _Request(
            record.method, record.path, record.headers, record.body, path_args=path_args
        )
        auth = record.headers.get("authorization", "")
        request.jwt = auth[7:] if auth.startswith("Bearer ") else ""
        if secure:
            if not request.jwt:
                return gateway_error("AG8003", "Token missing"), delay
            client = self.state.jwt_client(request.jwt)
            if client is None:
                return gateway_error("AG8001", "Invalid Token"), delay
            request.client = client
        try:
            result = handler(request)
            response = await result if isinstance(result, Awaitable) else result
        except _ApiError as exc:
            response = exc.response
        return response, delay

    def _over_limit(self, route: str, account: str, now: float) -> bool:
        """Angel counts per client code; the fake counts per API key (one per account)."""
        group = _group(route)
        limit = self.limits_per_second.get(group)
        if limit is None:
            return False
        arrivals = self._arrivals[(group, account)]
        while arrivals and now - arrivals[0] >= 1.0:
            arrivals.pop(0)
        if len(arrivals) >= limit:
            return True
        arrivals.append(now)
        return False

    def _check_headers(self, headers: Mapping[str, str]) -> str | None:
        for name, value in REQUIRED_HEADERS.items():
            if headers.get(name, "").split(";")[0].strip() != value:
                return f"{name} must be {value!r}"
        for name in PRESENT_HEADERS:
            if not headers.get(name, "").strip():
                return f"{name} missing"
        mac = headers["x-macaddress"]
        if len(mac.split(":")) != 6:
            return "x-macaddress is not aa:bb:cc:dd:ee:ff"
        return None

    # ---- route handlers ---------------------------------------------------------------------

    @staticmethod
    def _body(method: Callable[[Mapping[str, Any]], Response]) -> Handler:
        def handler(request: _Request) -> Response:
            if not isinstance(request.body, dict):
                raise _fail("AB1007", "INVALID PARAMETERS")
            return method(request.body)

        return handler

    def _login(self, request: _Request) -> Response:
        if not isinstance(request.body, dict):
            return business_error("AB1007", "INVALID PARAMETERS")
        return self.state.login(request.body, request.headers.get("x-privatekey", ""))

    def _generate_tokens(self, request: _Request) -> Response:
        if not request.jwt:
            return gateway_error("AG8003", "Token missing")
        if not isinstance(request.body, dict):
            return business_error("AB1007", "INVALID PARAMETERS")
        return self.state.generate_tokens(request.body, request.jwt)

    def _logout(self, request: _Request) -> Response:
        if not isinstance(request.body, dict) or request.body.get("clientcode") != request.client:
            return business_error("AB1007", "INVALID PARAMETERS")
        return self.state.logout(request.client, request.jwt)

    def _order_book(self, request: _Request) -> Response:
        rows = list(self.state.orders.values())
        return ok(rows or None)

    def _trade_book(self, request: _Request) -> Response:
        return ok(self.state.trades or None)

    def _order_details(self, request: _Request) -> Response:
        return self.state.order_details(request.path_args["unique_order_id"])

    def _positions(self, request: _Request) -> Response:
        return ok(self.state.accounts[request.client].positions or None)

    def _holdings(self, request: _Request) -> Response:
        return ok(self.state.accounts[request.client].holdings)

    def _funds(self, request: _Request) -> Response:
        return ok(self.state.accounts[request.client].funds)

    def _gtt_create(self, request: _Request) -> Response:
        if not isinstance(request.body, dict):
            raise _fail("AB9001", "Invalid parameters")
        return self.state.gtt_create(request.body, request.client)

    def _gtt_details(self, request: _Request) -> Response:
        if not isinstance(request.body, dict):
            raise _fail("AB9001", "Invalid parameters")
        return ok(self.state._rule(request.body))


def _group(route: str) -> str:
    return ROUTE_GROUPS.get(route, route)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
}
