"""Tests for the order-update websocket client against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, time
from decimal import ROUND_HALF_EVEN, Decimal
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.angelone.feed import ConnectionSlots, FeedStatus, TokensProvider, WsCredentials
from brokers.angelone.order_stream import (
    AngelOrderStream,
    OrderStreamState,
    OrderUpdate,
    OrderUpdateError,
    parse_order_update,
)
from engine.clock import ist_ns
from engine.money import format_price
from engine.redaction import register_secret
from tests.brokers.fake_angel_ws import (
    ORDER_PATH,
    FakeAngelWs,
    FakeTokens,
    order_frame,
    order_row,
    wait_until,
)

TOKENS = FakeTokens(
    jwt="eyJhbGciOiJIUzUxMiJ9.orderjwtPayloadSecret.sigSecretAbc",
    feed_token="orderFeedTokenSecret0451",
    api_key="orderApiKeySecret7788",
    client_code="R7654321",
)
WRONG_JWT = "wrongOrderJwtSecret-7733"
for _secret in (TOKENS.jwt, TOKENS.feed_token, TOKENS.api_key, TOKENS.client_code, WRONG_JWT):
    register_secret(_secret)

UPDATED_NS = ist_ns(date(2023, 10, 10), time(9, 0, 16))


def good_credentials() -> WsCredentials:
    """The credentials the fake accepts."""
    return WsCredentials(TOKENS.jwt, TOKENS.feed_token, TOKENS.api_key, TOKENS.client_code)


class Recorder:
    """Collects what the stream reports."""

    def __init__(self) -> None:
        self.updates: list[OrderUpdate] = []
        self.states: list[OrderStreamState] = []
        self.reconnects: list[tuple[int, int]] = []

    def on_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_state(self, state: OrderStreamState) -> None:
        self.states.append(state)

    def on_reconnect(self, down: int, up: int) -> None:
        self.reconnects.append((down, up))


@pytest.fixture
async def fake() -> AsyncIterator[FakeAngelWs]:
    async with FakeAngelWs(TOKENS) as server:
        yield server


def make_stream(
    fake: FakeAngelWs, rec: Recorder, provider: TokensProvider = good_credentials, **options: Any
) -> AngelOrderStream:
    settings_: dict[str, Any] = {
        "heartbeat_s": 0.1,
        "pong_timeout_s": 0.5,  # generous: a loaded CI machine must not fake a dead socket
        "base_backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "close_timeout_s": 0.5,
        "rng": random.Random(3),
        "slots": ConnectionSlots("test order-update websocket"),
    }
    settings_.update(options)
    return AngelOrderStream(
        fake.order_url,
        provider,
        on_update=rec.on_update,
        on_state=rec.on_state,
        on_reconnect=rec.on_reconnect,
        **settings_,
    )


@asynccontextmanager
async def running(stream: AngelOrderStream) -> AsyncIterator[None]:
    task = asyncio.create_task(stream.run())
    try:
        await wait_until(lambda: stream.status is FeedStatus.LIVE, what="stream LIVE")
        yield
    finally:
        await asyncio.wait_for(stream.stop(), 5)
        await asyncio.wait_for(task, 5)


async def test_updates_arrive_parsed_and_in_order(fake: FakeAngelWs) -> None:
    rec = Recorder()
    stream = make_stream(fake, rec)
    async with running(stream):
        conn = fake.order_connections[0]
        assert conn.headers["Authorization"] == f"Bearer {TOKENS.jwt}"
        assert conn.headers["x-api-key"] == TOKENS.api_key
        assert conn.headers["x-client-code"] == TOKENS.client_code
        assert conn.headers["x-feed-token"] == TOKENS.feed_token
        await wait_until(lambda: stream.stats().acks == 1, what="the AB00 acknowledgement")
        await fake.push_order(order_row("2401", "open pending"))
        await fake.push_order(order_row("2401", "open", filled=4, avg="812.50"))
        await fake.push_order(order_row("2401", "complete", filled=10, avg=812.535))
        await fake.push_order(
            order_row("2402", "rejected", qty=5, price="0", trigger="799.95", text="RMS: margin")
        )
        await wait_until(lambda: len(rec.updates) == 4, what="four updates")
    first, partial, done, rejected = rec.updates
    assert [u.status for u in rec.updates] == ["open pending", "open", "complete", "rejected"]
    assert [u.status_code for u in rec.updates] == ["AB01", "AB01", "AB05", "AB03"]
    assert (first.order_id, first.unique_order_id, first.tag) == ("2401", "u-2401", "ck-1")
    assert (first.qty, first.filled_qty, first.unfilled_qty, first.avg_price) == (10, 0, 10, 0)
    assert (first.price, first.trigger_price) == (81250, 0)
    assert (first.side, first.exchange, first.token) == ("BUY", "NSE", "3045")
    assert first.symbol == "SBIN-EQ"
    assert (first.order_type, first.product, first.variety) == ("LIMIT", "INTRADAY", "NORMAL")
    assert first.update_ts_ns == UPDATED_NS
    assert (partial.filled_qty, partial.unfilled_qty, partial.avg_price) == (4, 6, 81250)
    assert (done.filled_qty, done.avg_price) == (10, 81254)  # 812.535 rounds half-even
    assert (rejected.qty, rejected.price, rejected.trigger_price) == (5, 0, 79995)
    assert rejected.text == "RMS: margin" and rejected.raw["orderid"] == "2402"
    stats = stream.stats()
    assert (stats.updates, stats.acks, stats.malformed, stats.reconnects) == (4, 1, {}, 0)
    state = stream.state()
    assert state.updates_received == 4 and state.last_update_ns > 0
    assert rec.reconnects == [] and rec.states[-1].status is FeedStatus.STOPPED


async def test_malformed_messages_are_counted_and_skipped(fake: FakeAngelWs) -> None:
    rec = Recorder()
    stream = make_stream(fake, rec)
    async with running(stream):
        bad_qty = order_row("3", "open")
        bad_qty["filledshares"] = "four"
        bad_price = order_row("4", "open", price="81.2.5")
        too_fine = order_row("5", "open", price="812.505")  # an order price must be exact
        no_id = order_row("", "open")
        frames: list[str | bytes] = [
            "garbage{",
            "[1, 2]",
            json.dumps({"status-code": "200", "order-status": "AB01", "orderData": "x"}),
            order_frame(no_id),
            order_frame(bad_qty),
            order_frame(bad_price),
            order_frame(too_fine),
            order_frame(order_row("6", "open", tag=["not", "text"])),  # type: ignore[arg-type]
        ]
        for frame in frames:
            await fake.push_order(frame)  # type: ignore[arg-type]
        for conn in fake.open_orders():
            await conn.ws.send(b"\x00\x01")
        await fake.push_order(order_row("7", "open"))
        await wait_until(lambda: len(rec.updates) == 1, what="the good update")
        assert rec.updates[0].order_id == "7"
        assert stream.stats().malformed == {
            "not_json": 1,
            "not_object": 1,
            "no_order_data": 1,
            "missing_order_id": 1,
            "bad_quantity": 1,
            "bad_price": 2,
            "bad_field": 1,
            "binary_frame": 1,
        }
        assert stream.status is FeedStatus.LIVE and len(fake.order_connections) == 1


async def test_error_status_frame_is_surfaced(fake: FakeAngelWs) -> None:
    rec = Recorder()
    stream = make_stream(fake, rec)
    async with running(stream):
        await fake.push_order(
            json.dumps({"status-code": "401", "error-message": "Invalid token", "orderData": {}})
        )
        await wait_until(lambda: stream.stats().error_frames == 1, what="the error frame")
        issue = stream.state().last_error
        assert issue is not None and (issue.kind, issue.code) == ("error_frame", "401")
        assert "Invalid token" in issue.message and rec.states[-1].last_error == issue


async def test_reconnect_calls_on_reconnect_and_updates_continue(fake: FakeAngelWs) -> None:
    rec = Recorder()
    stream = make_stream(fake, rec)
    async with running(stream):
        await fake.push_order(order_row("11", "open"))
        await wait_until(lambda: len(rec.updates) == 1, what="first update")
        fake.refuse_next(1)
        fake.drop_orders()
        await wait_until(lambda: len(rec.reconnects) == 1, what="on_reconnect")
        assert fake.handshakes[-2:] == [(ORDER_PATH, 503), (ORDER_PATH, 101)]
        down, up = rec.reconnects[0]
        assert 0 < down < up
        assert stream.state().gaps == ((down, up),)
        await fake.push_order(order_row("11", "complete", filled=10, avg="812.50"))
        await wait_until(lambda: len(rec.updates) == 2, what="update after the reconnect")
        assert [u.status for u in rec.updates] == ["open", "complete"]
        stats = stream.stats()
        assert stats.reconnects == 1 and stats.acks == 2 and stats.connect_attempts == 3


async def test_missing_pong_reconnects(fake: FakeAngelWs) -> None:
    rec = Recorder()
    stream = make_stream(fake, rec, pong_timeout_s=0.15)
    async with running(stream):
        await wait_until(lambda: stream.stats().pongs_received >= 1, what="a pong")
        fake.answer_order_pings = False
        await wait_until(lambda: stream.stats().heartbeat_timeouts >= 1, what="timeout")
        assert any(
            s.last_error is not None and s.last_error.kind == "heartbeat" for s in rec.states
        )
        fake.answer_order_pings = True
        await wait_until(lambda: len(rec.reconnects) >= 1, what="on_reconnect")
        await wait_until(lambda: stream.status is FeedStatus.LIVE, what="LIVE again")
        assert not fake.order_connections[0].open


async def test_auth_failure_is_clear_and_contains_no_secret(
    fake: FakeAngelWs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def provider() -> WsCredentials:
        return WsCredentials(WRONG_JWT, TOKENS.feed_token, TOKENS.api_key, TOKENS.client_code)

    rec = Recorder()
    stream = make_stream(fake, rec, provider=provider)
    task = asyncio.create_task(stream.run())
    await wait_until(lambda: stream.stats().issues.get("auth", 0) >= 1, what="auth failure")
    await stream.stop()
    await task
    issue = next(s.last_error for s in rec.states if s.last_error is not None)
    assert (issue.kind, issue.code) == ("auth", "401")
    assert "order-update websocket refused the connection: HTTP 401 Invalid token" in issue.message
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("brokers.")]
    shown = " ".join([repr(s) for s in rec.states] + ours)
    for secret in (WRONG_JWT, TOKENS.jwt, TOKENS.feed_token, TOKENS.api_key):
        assert secret not in shown


async def test_connection_limit_refusal_is_explained(fake: FakeAngelWs) -> None:
    fake.refuse_next(1, HTTPStatus.TOO_MANY_REQUESTS)
    rec = Recorder()
    stream = make_stream(fake, rec)
    async with running(stream):
        issue = next(s.last_error for s in rec.states if s.last_error is not None)
        assert (issue.kind, issue.code) == ("handshake", "429")
        assert "Angel allows 3" in issue.message


# ---------------------------------------------------------------------------------------------
# Parsing without a socket


def test_cds_prices_use_the_1e7_scale_and_json_numbers_stay_exact() -> None:
    row = order_row("9", "open", price=83.1234, trigger="83.0000001", exchange="CDS")
    message = json.loads(order_frame(row), parse_float=Decimal)
    update = parse_order_update(message)
    assert (update.price, update.trigger_price) == (831_234_000, 830_000_001)


def test_update_time_that_does_not_read_is_zero_not_a_drop() -> None:
    for text in ("", "2023-10-10T09:00:16", "10-Foo-2023 09:00:16"):
        update = parse_order_update({"orderData": order_row("9", "open", updatetime=text)})
        assert update.update_ts_ns == 0
    exch = order_row("9", "open", updatetime="")
    exch["exchorderupdatetime"] = "10-oct-2023 09:00:16"
    assert parse_order_update({"orderData": exch}).update_ts_ns == UPDATED_NS


def test_parse_errors_name_the_field() -> None:
    row = order_row("9", "open")
    row["quantity"] = "-3"
    with pytest.raises(OrderUpdateError, match=r"quantity '-3' is not a whole number") as e:
        parse_order_update({"orderData": row})
    assert e.value.reason == "bad_quantity"
    row = order_row("9", "open", price="12.345")
    with pytest.raises(OrderUpdateError, match=r"more than 2 decimals"):
        parse_order_update({"orderData": row})


@settings(max_examples=200, deadline=None)
@given(
    units=st.integers(0, 10**9),
    extra=st.integers(0, 9999),
    as_number=st.booleans(),
    filled=st.integers(0, 10**6),
)
def test_prices_round_trip_and_averages_round_half_even(
    units: int, extra: int, as_number: bool, filled: int
) -> None:
    price_text = format_price(units, 100)
    avg_text = f"{price_text}{extra:04d}"  # up to six decimals
    row = order_row("1", "open", qty=filled + 1, filled=filled, price=price_text, avg=avg_text)
    text = order_frame(row)
    if as_number:  # prices sent as JSON numbers instead of strings
        text = text.replace(f'"price": "{price_text}"', f'"price": {price_text}')
        text = text.replace(f'"averageprice": "{avg_text}"', f'"averageprice": {avg_text}')
    update = parse_order_update(json.loads(text, parse_float=Decimal))
    assert update.price == units
    expected = int((Decimal(avg_text) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert update.avg_price == expected
    assert (update.filled_qty, update.unfilled_qty, update.qty) == (filled, 1, filled + 1)
