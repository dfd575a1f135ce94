"""Angel One order-update websocket client (``smartWebSocketOrderUpdate``), native asyncio.

Wire contract (research/smartapi.md §11):

* connect to ``wss://tns.angelone.in/smart-order-update`` with ``Authorization: Bearer <jwt>``
  (plus ``x-api-key``, ``x-client-code``, ``x-feed-token`` as the SDK sends); HTTP 401 means an
  invalid token, 403 an expired one, 429 too many connections (at most 3 per client code);
* the first frame after connecting is an acknowledgement
  ``{"user-id", "status-code": "200", "order-status": "AB00", "error-message": "", "orderData"}``;
  then one text JSON per order event whose ``orderData`` is an order-book row (§6);
* the client sends a text ``ping`` every 10 s; the server answers ``pong``.

Every order event becomes an :class:`OrderUpdate` (prices as integer price units, quantities as
ints) passed to ``on_update`` in arrival order. A message that cannot be read is counted by reason
and skipped, never fatal. Order events sent while the socket was down are lost (Angel does not
replay them), so after every reconnect ``on_reconnect(down_since_ns, up_at_ns)`` runs: the caller
reconciles its orders from the REST order book.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final

from websockets.asyncio.client import ClientConnection

from brokers.angelone.feed import (
    MAX_CONNECTIONS_PER_CLIENT,
    ConnectionSlots,
    FeedGap,
    FeedIssue,
    FeedStatus,
    ReconnectingSocket,
    TokensProvider,
    WsCredentials,
)
from engine.clock import IST, NS_PER_SECOND, Clock
from engine.money import PriceError, parse_price, scale_digits
from engine.redaction import redact

__all__ = [
    "DEFAULT_ORDER_STREAM_URL",
    "ORDER_STATUS_CODES",
    "ORDER_UPDATE_SLOTS",
    "AngelOrderStream",
    "OrderStreamState",
    "OrderStreamStats",
    "OrderUpdate",
    "OrderUpdateError",
    "default_price_scale",
    "parse_order_update",
]

_log = logging.getLogger(__name__)

DEFAULT_ORDER_STREAM_URL: Final = "wss://tns.angelone.in/smart-order-update"

ORDER_STATUS_CODES: Final[Mapping[str, str]] = {
    "AB00": "connected",
    "AB01": "open",
    "AB02": "cancelled",
    "AB03": "rejected",
    "AB04": "modified",
    "AB05": "complete",
    "AB06": "after market order req received",
    "AB07": "cancelled after market order",
    "AB08": "modify after market order req received",
    "AB09": "open pending",
    "AB10": "trigger pending",
    "AB11": "modify pending",
}
"""The ``order-status`` codes of the order-update socket and what they mean (§11)."""

ORDER_UPDATE_SLOTS: Final = ConnectionSlots("order-update websocket", MAX_CONNECTIONS_PER_CLIENT)
"""The process-wide slot counter of order-update connections."""

_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}


class OrderUpdateError(ValueError):
    """An order-update message that cannot be read; ``reason`` is the counter it goes to."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order event from the order-update socket.

    Prices (``price``, ``trigger_price``, ``avg_price``) are integer price units of the
    instrument's scale (paise for NSE); 0 where Angel sends 0 or nothing. ``avg_price`` is rounded
    half-even to the nearest unit when Angel sends more decimals than the scale holds (an average
    of several fills); ``price`` and ``trigger_price`` must be exact. Quantities are units (not
    lots). ``status`` is Angel's status string as sent (``open``, ``complete``, ``rejected`` ...);
    ``status_code`` the socket's ``order-status`` code (``AB05``...). ``update_ts_ns`` is Angel's
    ``updatetime`` (IST) in ns since the epoch, 0 when absent or unreadable. ``raw`` is the
    ``orderData`` row as received.
    """

    order_id: str
    unique_order_id: str
    tag: str
    status: str
    status_code: str
    side: str
    exchange: str
    token: str
    symbol: str
    order_type: str
    product: str
    variety: str
    qty: int
    filled_qty: int
    unfilled_qty: int
    cancelled_qty: int
    price: int
    trigger_price: int
    avg_price: int
    text: str
    update_ts_ns: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def default_price_scale(exchange: str, token: str) -> int:
    """Price units per rupee by segment: 10**7 for currency derivatives (CDS), else 100."""
    return 10**7 if exchange.upper() == "CDS" else 100


def _number_text(value: object) -> str | None:
    """A JSON scalar as decimal text; floats by their shortest repr (the literal that was sent,
    for any price of up to 15 significant digits). ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (str, int, Decimal)):
        return str(value).strip()
    return None


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    text = _number_text(value)
    if text is None:
        raise OrderUpdateError("bad_field", f"order-update field {key!r} is not text: {value!r}")
    return text


def _quantity(row: Mapping[str, Any], key: str) -> int:
    value = row.get(key)
    if value is None or value == "":
        return 0
    text = _number_text(value)
    try:
        number = Decimal(text) if text is not None else None
    except InvalidOperation:
        number = None
    if (
        number is None
        or not number.is_finite()
        or number != number.to_integral_value()
        or number < 0
    ):
        raise OrderUpdateError(
            "bad_quantity", f"order-update {key} {value!r} is not a whole number of units >= 0"
        )
    return int(number)


def _price(row: Mapping[str, Any], key: str, scale: int, *, rounded: bool) -> int:
    value = row.get(key)
    if value is None or value == "":
        return 0
    text = _number_text(value)
    if text is None:
        raise OrderUpdateError("bad_price", f"order-update {key} {value!r} is not a price")
    try:
        if rounded:
            exact = Decimal(text)
            if not exact.is_finite():
                raise PriceError(f"{text!r} is not a finite price")
            step = Decimal(1).scaleb(-scale_digits(scale))
            text = str(exact.quantize(step, rounding=ROUND_HALF_EVEN))
        return parse_price(text, scale)
    except (PriceError, InvalidOperation) as exc:
        raise OrderUpdateError("bad_price", f"order-update {key}: {exc}") from None


def _update_time(text: str) -> int:
    """``10-Oct-2023 09:00:16`` (IST) -> ns since the epoch; 0 when it does not read."""
    try:
        day_part, time_part = text.split()
        day, month, year = day_part.split("-")
        hour, minute, second = time_part.split(":")
        moment = datetime(
            int(year), _MONTHS[month[:3].upper()], int(day),
            int(hour), int(minute), int(second), tzinfo=IST,
        )  # fmt: skip
    except (ValueError, KeyError):
        return 0
    return int(moment.timestamp()) * NS_PER_SECOND


def parse_order_update(
    message: Mapping[str, Any],
    price_scale_for: Callable[[str, str], int] = default_price_scale,
) -> OrderUpdate:
    """Read one order-update message (already JSON-decoded; decode with ``parse_float=Decimal``
    to keep numbers exact, floats are read by their shortest repr).

    Raises :class:`OrderUpdateError` (with the reason it is counted under) when the message has no
    ``orderData`` row, no order id, or a quantity or price that does not read.
    """
    row = message.get("orderData")
    if not isinstance(row, Mapping):
        raise OrderUpdateError("no_order_data", "order-update message has no orderData object")
    order_id = _text(row, "orderid")
    if not order_id:
        raise OrderUpdateError("missing_order_id", "order-update row has no orderid")
    exchange = _text(row, "exchange")
    token = _text(row, "symboltoken")
    scale = price_scale_for(exchange, token)
    status = _text(row, "status") or _text(row, "orderstatus")
    code = message.get("order-status")
    updated = _text(row, "updatetime") or _text(row, "exchorderupdatetime")
    return OrderUpdate(
        order_id=order_id,
        unique_order_id=_text(row, "uniqueorderid"),
        tag=_text(row, "ordertag"),
        status=status,
        status_code=code.strip() if isinstance(code, str) else "",
        side=_text(row, "transactiontype"),
        exchange=exchange,
        token=token,
        symbol=_text(row, "tradingsymbol"),
        order_type=_text(row, "ordertype"),
        product=_text(row, "producttype"),
        variety=_text(row, "variety"),
        qty=_quantity(row, "quantity"),
        filled_qty=_quantity(row, "filledshares"),
        unfilled_qty=_quantity(row, "unfilledshares"),
        cancelled_qty=_quantity(row, "cancelsize"),
        price=_price(row, "price", scale, rounded=False),
        trigger_price=_price(row, "triggerprice", scale, rounded=False),
        avg_price=_price(row, "averageprice", scale, rounded=True),
        text=_text(row, "text"),
        update_ts_ns=_update_time(updated) if updated else 0,
        raw=dict(row),
    )


@dataclass(frozen=True, slots=True)
class OrderStreamState:
    """A snapshot of the order stream, passed to ``on_state`` on every change.

    ``attempts``: connection attempts since the stream was last LIVE (while LIVE: how many it
    took). ``gaps``: the most recent outages (order events in them must be reconciled by REST).
    """

    status: FeedStatus
    since_ns: int
    attempts: int
    last_error: FeedIssue | None
    last_update_ns: int
    updates_received: int
    gaps: tuple[FeedGap, ...]


@dataclass(frozen=True, slots=True)
class OrderStreamStats:
    """Counters of the order stream (cumulative over reconnects); ``malformed`` per reason."""

    frames: int
    updates: int
    acks: int
    malformed: Mapping[str, int]
    error_frames: int
    connect_attempts: int
    reconnects: int
    pings_sent: int
    pongs_received: int
    heartbeat_timeouts: int
    callback_errors: int
    issues: Mapping[str, int]


class AngelOrderStream(ReconnectingSocket[OrderStreamState]):
    """The order-update websocket client (see the module docstring for the contract).

    ``on_update`` gets each :class:`OrderUpdate` in arrival order; ``on_reconnect(down_since_ns,
    up_at_ns)`` runs after every reconnect (reconcile orders by REST then); ``on_state`` gets an
    :class:`OrderStreamState` on every change. ``price_scale_for(exchange, token)`` gives the price
    scale of an order's instrument (default: :func:`default_price_scale`). Heartbeat and backoff
    parameters are those of :class:`brokers.angelone.feed.AngelMarketFeed`.
    """

    _endpoint = "order-update websocket"

    def __init__(
        self,
        url: str,
        tokens_provider: TokensProvider,
        *,
        on_update: Callable[[OrderUpdate], None],
        on_state: Callable[[OrderStreamState], None] | None = None,
        on_reconnect: Callable[[int, int], None] | None = None,
        clock: Clock | None = None,
        price_scale_for: Callable[[str, str], int] = default_price_scale,
        max_backoff_s: float = 30.0,
        base_backoff_s: float = 0.5,
        heartbeat_s: float = 10.0,
        pong_timeout_s: float | None = None,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        rng: random.Random | None = None,
        slots: ConnectionSlots | None = None,
    ) -> None:
        super().__init__(
            url,
            tokens_provider,
            on_state=on_state,
            clock=clock,
            slots=slots if slots is not None else ORDER_UPDATE_SLOTS,
            base_backoff_s=base_backoff_s,
            max_backoff_s=max_backoff_s,
            heartbeat_s=heartbeat_s,
            pong_timeout_s=pong_timeout_s,
            open_timeout_s=open_timeout_s,
            close_timeout_s=close_timeout_s,
            rng=rng,
            max_queue=64,
        )
        self._on_update = on_update
        self._on_reconnect = on_reconnect
        self._price_scale_for = price_scale_for
        self._frames = 0
        self._updates = 0
        self._acks = 0
        self._malformed: dict[str, int] = {}
        self._error_frames = 0
        self._last_update_ns = 0

    def state(self) -> OrderStreamState:
        """The current state snapshot."""
        return OrderStreamState(
            status=self._status,
            since_ns=self._since_ns,
            attempts=self._attempts,
            last_error=self._last_error,
            last_update_ns=self._last_update_ns,
            updates_received=self._updates,
            gaps=tuple(self._gaps),
        )

    def stats(self) -> OrderStreamStats:
        """The counters."""
        return OrderStreamStats(
            frames=self._frames,
            updates=self._updates,
            acks=self._acks,
            malformed=dict(self._malformed),
            error_frames=self._error_frames,
            connect_attempts=self._connect_attempts,
            reconnects=self._reconnects,
            pings_sent=self._pings_sent,
            pongs_received=self._pongs,
            heartbeat_timeouts=self._heartbeat_timeouts,
            callback_errors=self._callback_errors,
            issues=dict(self._issues),
        )

    # -- connection hooks -----------------------------------------------------------------------

    def _headers(self, credentials: WsCredentials) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {credentials.jwt}",
            "x-api-key": credentials.api_key,
            "x-client-code": credentials.client_code,
            "x-feed-token": credentials.feed_token,
        }

    async def _on_open(self, ws: ClientConnection) -> None:
        return None

    def _after_reconnect(self, down_since_ns: int, up_at_ns: int) -> None:
        if self._on_reconnect is not None:
            self._call(self._on_reconnect, down_since_ns, up_at_ns)

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            frame = await ws.recv()
            self._frames += 1
            self._last_frame_ns = self._clock.now_ns()
            if not isinstance(frame, str):
                self._count("binary_frame")
                continue
            if frame.strip() == "pong":
                self._got_pong()
                continue
            self._on_message(frame)

    def _count(self, reason: str) -> None:
        self._malformed[reason] = self._malformed.get(reason, 0) + 1

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text, parse_float=Decimal)
        except ValueError:
            self._count("not_json")
            _log.info("order-update frame is not JSON: %s", redact(text[:200]))
            return
        if not isinstance(message, dict):
            self._count("not_object")
            return
        status_code = message.get("status-code")
        if status_code is not None and str(status_code).strip() != "200":
            self._error_frames += 1
            error = message.get("error-message") or message.get("message") or ""
            self._issue(
                "error_frame",
                str(status_code),
                f"order-update server error {status_code}: {error}",
            )
            return
        row = message.get("orderData")
        if message.get("order-status") == "AB00" and (
            not isinstance(row, Mapping) or not row.get("orderid")
        ):
            self._acks += 1
            return
        try:
            update = parse_order_update(message, self._price_scale_for)
        except OrderUpdateError as exc:
            self._count(exc.reason)
            _log.warning("order-update message skipped: %s", redact(str(exc)))
            return
        except Exception:  # e.g. a failing price_scale_for: counted, the stream goes on
            self._count("parse_error")
            _log.exception("order-update message could not be read")
            return
        self._updates += 1
        self._last_update_ns = self._last_frame_ns
        try:
            self._on_update(update)
        except Exception:
            self._callback_errors += 1
            _log.exception("on_update callback failed")
