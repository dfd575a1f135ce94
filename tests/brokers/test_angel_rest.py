"""The Angel One REST client against the fake server: every method, errors, limits, lost answers."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.angelone.auth import AngelCredentials
from brokers.angelone.errors import (
    AngelApiError,
    AngelNotFound,
    AngelOrderRejected,
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
from brokers.angelone.ratelimit import DEFAULT_LIMITS, RateLimit, RateLimiter
from brokers.angelone.rest import AngelRestClient, candle_chunks, local_ip_address, mac_address
from brokers.angelone.wire import (
    CANDLE_SPAN_DAYS,
    AngelInterval,
    ChargeQuery,
    GttRequest,
    GttStatus,
    ModifyRequest,
    OrderRequest,
    QuoteMode,
    RoboLegs,
    order_tag,
    place_params,
    price_from_wire,
    price_to_wire,
    product_from_wire,
    variety_for_change,
)
from engine.clock import IST
from engine.models import (
    ClientOrderId,
    DepthLevel,
    Exchange,
    Instrument,
    InstrumentType,
    Interval,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.redaction import forget_secrets
from tests.brokers.fake_angel import (
    FAST_SERVER_LIMITS,
    FakeAngelServer,
    candle_rows,
)

SBIN = Instrument("3045", Exchange.NSE, "SBIN-EQ", "SBIN", InstrumentType.EQUITY)
RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
NIFTY_FUT = Instrument(
    "35001",
    Exchange.NFO,
    "NIFTY28MAR24FUT",
    "NIFTY",
    InstrumentType.FUTIDX,
    lot_size=50,
    tick_size=5,
    expiry=date(2024, 3, 28),
)
CRUDE = Instrument(
    "234230",
    Exchange.MCX,
    "CRUDEOIL19MAR24FUT",
    "CRUDEOIL",
    InstrumentType.FUTCOM,
    lot_size=100,
    tick_size=100,
    expiry=date(2024, 3, 19),
)
NIFTY_INDEX = Instrument("99926000", Exchange.NSE, "Nifty 50", "NIFTY", InstrumentType.INDEX)

FAST_LIMITS = {group: RateLimit(per_second=50) for group in DEFAULT_LIMITS}


def coid(text: str) -> ClientOrderId:
    return ClientOrderId(text)


def limit_buy(tag: str = "M0LZ3K9QA000XYZ", **kwargs: Any) -> OrderRequest:
    values: dict[str, Any] = {
        "client_order_id": coid(tag),
        "instrument": SBIN,
        "side": Side.BUY,
        "qty": 10,
        "order_type": OrderType.LIMIT,
        "product": Product.CNC,
        "price": 81250,
    }
    values.update(kwargs)
    return OrderRequest(**values)


@pytest.fixture(autouse=True)
def _forget_test_secrets() -> Iterator[None]:
    """Credentials register their values process-wide; do not mask them in other modules' tests."""
    yield
    forget_secrets()


@pytest.fixture
async def server() -> AsyncIterator[FakeAngelServer]:
    async with FakeAngelServer(limits_per_second=FAST_SERVER_LIMITS) as srv:
        yield srv


@pytest.fixture
async def real_limits_server() -> AsyncIterator[FakeAngelServer]:
    async with FakeAngelServer() as srv:
        yield srv


def make_client(server: FakeAngelServer, **kwargs: Any) -> AngelRestClient:
    kwargs.setdefault("limits", FAST_LIMITS)
    kwargs.setdefault("local_ip", "10.1.2.3")
    kwargs.setdefault("mac", "02:00:5e:00:00:01")
    kwargs.setdefault("lookup_delay", 0.05)
    kwargs.setdefault("retry_backoff", 0.01)
    return AngelRestClient(
        AngelCredentials(**server.credentials_values()), base_url=server.base_url, **kwargs
    )


@pytest.fixture
async def client(server: FakeAngelServer) -> AsyncIterator[AngelRestClient]:
    async with make_client(server) as c:
        yield c


# ---- wire values ------------------------------------------------------------------------------


def test_place_params_spell_angel_wire_values() -> None:
    body = place_params(limit_buy())
    assert body == {
        "exchange": "NSE",
        "tradingsymbol": "SBIN-EQ",
        "symboltoken": "3045",
        "variety": "NORMAL",
        "transactiontype": "BUY",
        "ordertype": "LIMIT",
        "producttype": "DELIVERY",
        "duration": "DAY",
        "price": "812.50",
        "triggerprice": "0.00",
        "quantity": "10",
        "disclosedquantity": "0",
        "ordertag": "M0LZ3K9QA000XYZ",
    }


@pytest.mark.parametrize(
    ("order_type", "product", "price", "trigger", "variety", "wire_type", "wire_product"),
    [
        (OrderType.MARKET, Product.MIS, 0, 0, "NORMAL", "MARKET", "INTRADAY"),
        (OrderType.SL, Product.NRML, 81250, 81000, "STOPLOSS", "STOPLOSS_LIMIT", "CARRYFORWARD"),
        (OrderType.SL_M, Product.CNC, 0, 81000, "STOPLOSS", "STOPLOSS_MARKET", "DELIVERY"),
    ],
)
def test_order_types_choose_their_variety(
    order_type: OrderType,
    product: Product,
    price: int,
    trigger: int,
    variety: str,
    wire_type: str,
    wire_product: str,
) -> None:
    body = place_params(
        limit_buy(order_type=order_type, product=product, price=price, trigger_price=trigger)
    )
    assert (body["variety"], body["ordertype"], body["producttype"]) == (
        variety,
        wire_type,
        wire_product,
    )
    assert body["triggerprice"] == price_to_wire(trigger)


def test_robo_order_is_a_limit_with_product_bo() -> None:
    body = place_params(
        limit_buy(
            product=Product.MIS, robo=RoboLegs(squareoff=500, stoploss=250, trailing_stoploss=100)
        )
    )
    assert body["variety"] == "ROBO"
    assert body["producttype"] == "BO"
    assert (body["squareoff"], body["stoploss"], body["trailingStopLoss"]) == (
        "5.00",
        "2.50",
        "1.00",
    )


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"qty": 0}, "positive"),
        ({"instrument": NIFTY_FUT, "qty": 75, "price": 2200000}, "lot size 50"),
        ({"price": 81251}, "tick grid"),
        ({"order_type": OrderType.MARKET}, "no price"),
        ({"validity": Validity.FOK}, "DAY or IOC"),
        ({"instrument": CRUDE, "qty": 100, "price": 650000, "validity": Validity.IOC}, "MCX"),
        ({"order_type": OrderType.SL, "trigger_price": 81500}, "trigger price <= limit"),
        ({"robo": RoboLegs(500, 250), "product": Product.CNC}, "intraday"),
        (
            {
                "robo": RoboLegs(500, 250),
                "order_type": OrderType.MARKET,
                "price": 0,
                "product": Product.MIS,
            },
            "LIMIT orders only",
        ),
        ({"client_order_id": coid("has space")}, "letters or digits"),
        ({"client_order_id": coid("A" * 21)}, "1 to 20"),
        ({"instrument": NIFTY_INDEX}, "index"),
        ({"disclosed_qty": 11}, "disclosed"),
    ],
)
def test_bad_orders_are_refused_before_sending(
    request_kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(WireError, match=message):
        place_params(limit_buy(**request_kwargs))


def test_order_tag_is_the_client_order_id() -> None:
    assert order_tag("ABCDE0123456789XYZ1") == "ABCDE0123456789XYZ1"
    assert order_tag("A" * 20) == "A" * 20


def test_amo_is_changed_with_variety_normal() -> None:
    assert variety_for_change("AMO") == "NORMAL"
    assert variety_for_change("STOPLOSS") == "STOPLOSS"
    assert product_from_wire("MARGIN") is None
    assert product_from_wire("BO") is Product.MIS


@given(
    units=st.integers(min_value=-(10**12), max_value=10**12), scale=st.sampled_from([100, 10**7])
)
@settings(max_examples=200)
def test_prices_round_trip_through_rupee_strings(units: int, scale: int) -> None:
    text = price_to_wire(units, scale)
    assert price_from_wire(text, scale) == units
    assert price_from_wire(Decimal(text), scale) == units


def test_prices_from_numbers_strings_and_nulls() -> None:
    assert price_from_wire(Decimal("812.5")) == 81250
    assert price_from_wire(812) == 81200
    assert price_from_wire(812.05) == 81205
    assert price_from_wire("") == 0
    assert price_from_wire(None) == 0
    with pytest.raises(WireError, match="more than 2 decimals"):
        price_from_wire("812.123", what="order 1 price")


def test_local_ip_and_mac_need_no_network() -> None:
    ip = local_ip_address()
    assert len(ip.split(".")) == 4 and all(part.isdigit() for part in ip.split("."))
    mac = mac_address()
    assert len(mac.split(":")) == 6 and all(len(part) == 2 for part in mac.split(":"))


# ---- orders round trip ------------------------------------------------------------------------


async def test_headers_go_with_every_request(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    await client.funds()
    await client.order_book()
    await client.place_order(limit_buy())
    assert server.header_errors == []
    for record in server.requests:
        assert record.headers["x-usertype"] == "USER"
        assert record.headers["x-sourceid"] == "WEB"
        assert record.headers["x-clientlocalip"] == "10.1.2.3"
        assert record.headers["x-clientpublicip"] == "10.1.2.3"
        assert record.headers["x-macaddress"] == "02:00:5e:00:00:01"
        assert record.headers["x-privatekey"] == "testapikey01"
        assert record.headers["accept"] == "application/json"
        assert record.headers["content-type"] == "application/json"
    session = client.session
    assert session is not None
    for record in server.requests[1:]:
        assert record.headers["authorization"] == f"Bearer {session.jwt_token}"


async def test_public_ip_is_configurable(server: FakeAngelServer) -> None:
    async with make_client(server, public_ip="203.0.113.7") as c:
        await c.funds()
    assert server.calls("funds")[0].headers["x-clientpublicip"] == "203.0.113.7"


async def test_place_limit_order_and_read_it_back(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    changes: list[dict[str, Any]] = []
    server.state.order_listeners.append(changes.append)
    placed = await client.place_order(limit_buy())
    assert placed.tag == "M0LZ3K9QA000XYZ"
    assert not placed.found_by_lookup
    assert server.calls("place_order")[0].body == place_params(limit_buy())
    [order] = await client.order_book()
    assert order.order_id == placed.order_id
    assert order.unique_order_id == placed.unique_order_id
    assert order.tag == placed.tag
    assert (order.side, order.order_type, order.product, order.validity) == (
        Side.BUY,
        OrderType.LIMIT,
        Product.CNC,
        Validity.DAY,
    )
    assert (order.qty, order.filled_qty, order.unfilled_qty) == (10, 0, 10)
    assert order.price == 81250
    assert order.trigger_price == 0
    assert order.status_text == "open"
    assert order.exchange is Exchange.NSE
    assert order.update_ts > 0
    assert [c["status"] for c in changes] == ["open"]


async def test_place_market_order_fills_into_the_trade_book(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    placed = await client.place_order(
        limit_buy(order_type=OrderType.MARKET, price=0, product=Product.MIS)
    )
    [trade] = await client.trade_book()
    assert trade.order_id == placed.order_id
    assert (trade.side, trade.fill_qty, trade.fill_price) == (Side.BUY, 10, 81250)
    assert trade.trade_value == 812500
    assert trade.product is Product.MIS
    details = await client.order_details(placed.unique_order_id)
    assert details.status_text == "complete"
    assert details.filled_qty == 10
    assert details.average_price == Fraction(81250)


async def test_partial_fills_keep_the_exact_average(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    placed = await client.place_order(limit_buy(qty=3))
    server.state.fill(placed.order_id, 1, Decimal("812.50"))
    server.state.fill(placed.order_id, 1, Decimal("812.55"))
    order = await client.order_details(placed.unique_order_id)
    assert order.status_text == "open"
    assert (order.filled_qty, order.unfilled_qty) == (2, 1)
    assert order.average_price == Fraction(81252) + Fraction(1, 2)
    assert len(await client.trade_book()) == 2


async def test_stop_loss_and_robo_orders(server: FakeAngelServer, client: AngelRestClient) -> None:
    sl = await client.place_order(
        limit_buy("SL1", order_type=OrderType.SL, price=81500, trigger_price=81400)
    )
    robo = await client.place_order(
        limit_buy("RB1", product=Product.MIS, robo=RoboLegs(500, 250, 100))
    )
    orders = {o.tag: o for o in await client.order_book()}
    assert orders["SL1"].order_id == sl.order_id
    assert orders["SL1"].variety == "STOPLOSS"
    assert orders["SL1"].status_text == "trigger pending"
    assert orders["SL1"].trigger_price == 81400
    assert orders["RB1"].order_id == robo.order_id
    assert orders["RB1"].variety == "ROBO"
    assert orders["RB1"].product_text == "BO"
    assert (orders["RB1"].squareoff, orders["RB1"].stoploss, orders["RB1"].trailing_stoploss) == (
        500,
        250,
        100,
    )


async def test_modify_and_cancel(server: FakeAngelServer, client: AngelRestClient) -> None:
    placed = await client.place_order(limit_buy())
    ack = await client.modify_order(
        ModifyRequest(
            order_id=placed.order_id,
            instrument=SBIN,
            qty=20,
            order_type=OrderType.LIMIT,
            product=Product.CNC,
            price=81000,
        )
    )
    assert ack.order_id == placed.order_id
    assert server.calls("modify_order")[0].body == {
        "exchange": "NSE",
        "tradingsymbol": "SBIN-EQ",
        "symboltoken": "3045",
        "variety": "NORMAL",
        "orderid": placed.order_id,
        "ordertype": "LIMIT",
        "producttype": "DELIVERY",
        "duration": "DAY",
        "price": "810.00",
        "triggerprice": "0.00",
        "quantity": "20",
    }
    order = await client.order_details(placed.unique_order_id)
    assert (order.qty, order.price) == (20, 81000)
    cancelled = await client.cancel_order(placed.order_id, "AMO")
    assert cancelled.unique_order_id == placed.unique_order_id
    assert server.calls("cancel_order")[0].body == {"variety": "NORMAL", "orderid": placed.order_id}
    assert (await client.order_details(placed.unique_order_id)).status_text == "cancelled"
    assert (await client.find_orders_by_tag(placed.tag))[0].cancelled_qty == 20


async def test_business_errors_become_clear_exceptions(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    no_token = Instrument("", Exchange.NSE, "SBIN-EQ", "SBIN", InstrumentType.EQUITY)
    with pytest.raises(AngelOrderRejected) as rejected:
        await client.place_order(limit_buy(instrument=no_token))
    assert rejected.value.code == "AB4018"
    assert "placing order M0LZ3K9QA000XYZ" in str(rejected.value)
    with pytest.raises(AngelNotFound) as missing:
        await client.order_details("11111111-2222-3333-4444-555555555555")
    assert missing.value.code == "AB1013"
    assert "order not found" in str(missing.value)
    with pytest.raises(AngelNotFound, match="AB1013"):
        await client.cancel_order("240101000000999")
    assert len(server.calls("place_order")) == 1


# ---- portfolio and market data ----------------------------------------------------------------


async def test_positions_holdings_and_funds(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    account = server.state.account
    account.positions = [
        {
            "exchange": "NFO",
            "symboltoken": "35001",
            "producttype": "CARRYFORWARD",
            "tradingsymbol": "NIFTY28MAR24FUT",
            "netqty": "-50",
            "buyqty": "50",
            "sellqty": "100",
            "cfbuyqty": "0",
            "cfsellqty": "0",
            "buyavgprice": "22010.05",
            "sellavgprice": "22015.025",
            "buyamount": "1100502.50",
            "sellamount": "2201502.50",
            "ltp": "22000.00",
            "pnl": "1234.5",
            "realised": "250.00",
            "unrealised": "984.50",
        }
    ]
    account.holdings = [
        {
            "tradingsymbol": "RELIANCE-EQ",
            "exchange": "NSE",
            "isin": "INE002A01018",
            "t1quantity": 0,
            "realisedquantity": 5,
            "quantity": 5,
            "authorisedquantity": 0,
            "product": "DELIVERY",
            "collateralquantity": None,
            "collateraltype": None,
            "haircut": 0,
            "averageprice": Decimal("2801.3333"),
            "ltp": Decimal("2950.05"),
            "symboltoken": "2885",
            "close": Decimal("2940"),
            "profitandloss": Decimal("743.6"),
            "pnlpercentage": Decimal("5.31"),
        }
    ]
    [position] = await client.positions()
    assert position.product is Product.NRML
    assert (position.net_qty, position.buy_qty, position.sell_qty) == (-50, 50, 100)
    assert position.sell_avg_price == Fraction(22015025, 10)
    assert position.ltp == 2200000
    assert (position.pnl, position.realised) == (123450, 25000)
    [holding] = await client.holdings()
    assert (holding.tradingsymbol, holding.qty, holding.isin) == ("RELIANCE-EQ", 5, "INE002A01018")
    assert holding.average_price == Fraction(28013333, 100)
    assert (holding.ltp, holding.close, holding.pnl) == (295005, 294000, 74360)
    funds = await client.funds()
    assert funds.available_cash == 10_000_000
    assert funds.m2m_realized == -1235  # -12.3456 rupees, half-even to paise
    assert funds.utilised_span is None


async def test_empty_books_are_empty_lists(client: AngelRestClient) -> None:
    assert await client.order_book() == []
    assert await client.trade_book() == []
    assert await client.positions() == []
    assert await client.holdings() == []


async def test_ltp_and_quotes(server: FakeAngelServer, client: AngelRestClient) -> None:
    ltp = await client.ltp(SBIN)
    assert (ltp.ltp, ltp.open, ltp.high, ltp.low, ltp.close) == (81250, 81000, 81755, 80550, 81125)
    assert server.calls("ltp")[0].body == {
        "exchange": "NSE",
        "tradingsymbol": "SBIN-EQ",
        "symboltoken": "3045",
    }
    unknown = Instrument("999", Exchange.NSE, "XYZ-EQ", "XYZ", InstrumentType.EQUITY)
    result = await client.quotes([SBIN, unknown, RELIANCE], QuoteMode.FULL)
    assert [q.quote.token for q in result.fetched] == ["3045", "2885"]
    sbin = result.fetched[0].quote
    assert (sbin.ltp, sbin.open, sbin.close, sbin.volume) == (81250, 81150, 81200, 123456)
    assert sbin.avg_price == 81238  # 812.377 rounded to paise
    assert sbin.bids[0] == DepthLevel(81245, 10, 1)
    assert sbin.asks[4] == DepthLevel(81275, 100, 5)
    assert (sbin.upper_circuit, sbin.lower_circuit) == (89250, 73250)
    assert sbin.exchange_ts > 0
    assert [(u.token, u.code) for u in result.unfetched] == [("999", "AB4006")]
    assert server.calls("quote")[0].body == {
        "mode": "FULL",
        "exchangeTokens": {"NSE": ["3045", "999", "2885"]},
    }


async def test_quotes_go_fifty_tokens_per_request(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    many = [
        Instrument(str(10_000 + i), Exchange.NSE, f"S{i}-EQ", f"S{i}", InstrumentType.EQUITY)
        for i in range(120)
    ]
    for inst in many[:60]:
        server.state.prices[inst.token] = Decimal("10.05")
    result = await client.quotes(many, QuoteMode.LTP)
    sizes = [len(call.body["exchangeTokens"]["NSE"]) for call in server.calls("quote")]
    assert sizes == [50, 50, 20]
    assert len(result.fetched) == 60 and len(result.unfetched) == 60
    assert all(q.quote.ltp == 1005 for q in result.fetched)


# ---- candles ----------------------------------------------------------------------------------


def test_candle_chunks_respect_the_span_limits() -> None:
    start = datetime(2023, 1, 2, 9, 15, tzinfo=IST)
    end = datetime(2023, 3, 7, 15, 30, tzinfo=IST)
    chunks = candle_chunks(Interval.M1, start, end)
    assert chunks[0][0] == start and chunks[-1][1] == end
    assert [c[0].date() for c in chunks] == [date(2023, 1, 2), date(2023, 2, 1), date(2023, 3, 3)]
    for chunk_start, chunk_end in chunks:
        assert (chunk_end.date() - chunk_start.date()).days + 1 <= 30


@given(
    interval=st.sampled_from(list(AngelInterval)),
    start=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 1, 1)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5000)),
)
@settings(max_examples=200)
def test_candle_chunks_cover_the_range_without_gaps(
    interval: AngelInterval, start: datetime, length: timedelta
) -> None:
    first = start.replace(second=0, microsecond=0, tzinfo=IST)
    last = first + length
    last = last.replace(second=0, microsecond=0)
    chunks = candle_chunks(interval, first, last)
    span = CANDLE_SPAN_DAYS[interval]
    assert chunks[0][0] == first
    assert chunks[-1][1] == last
    for (_, a_end), (b_start, _) in itertools.pairwise(chunks):
        assert b_start == a_end + timedelta(minutes=1)
    for chunk_start, chunk_end in chunks:
        assert chunk_start <= chunk_end
        assert (chunk_end.date() - chunk_start.date()).days + 1 <= span
    # As few requests as the limit allows: every chunk but the last fills its span.
    assert len(chunks) == (last.date() - first.date()).days // span + 1


def test_candle_ranges_must_be_aware_and_ordered() -> None:
    with pytest.raises(WireError, match="timezone-aware"):
        candle_chunks(Interval.M5, datetime(2024, 1, 1), datetime(2024, 1, 2))
    with pytest.raises(WireError, match="before it starts"):
        candle_chunks(
            Interval.M5, datetime(2024, 1, 2, tzinfo=IST), datetime(2024, 1, 1, tzinfo=IST)
        )


async def test_candles_are_fetched_in_chunks_merged_and_ordered(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    start = datetime(2021, 1, 4, 9, 15, tzinfo=IST)
    end = datetime(2023, 6, 30, 15, 30, tzinfo=IST)  # 908 days: three ONE_HOUR requests
    candles = await client.candles(SBIN, Interval.H1, start, end)
    calls = server.calls("candles")
    assert [(c.body["fromdate"], c.body["todate"]) for c in calls] == [
        ("2021-01-04 09:15", "2022-02-07 23:59"),
        ("2022-02-08 00:00", "2023-03-14 23:59"),
        ("2023-03-15 00:00", "2023-06-30 15:30"),
    ]
    assert all(c.status == 200 for c in calls)
    expected = candle_rows(start.replace(tzinfo=None), end.replace(tzinfo=None), 60)
    assert len(candles) == len(expected) > 4000
    starts = [c.start for c in candles]
    assert starts == sorted(set(starts))
    stamp, o, h, low, close, volume = expected[100]
    assert candles[100].start == int(datetime.fromisoformat(stamp).timestamp()) * 10**9
    assert (candles[100].open, candles[100].high, candles[100].low, candles[100].close) == (
        int(o * 100),
        int(h * 100),
        int(low * 100),
        int(close * 100),
    )
    assert candles[100].volume == volume


async def test_overlapping_candle_answers_are_deduplicated(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    start = datetime(2024, 1, 1, 0, 0, tzinfo=IST)
    end = datetime(2024, 3, 15, 23, 59, tzinfo=IST)
    daily = await client.candles(SBIN, AngelInterval.ONE_DAY, start, end)
    assert len(server.calls("candles")) == 1
    assert len(daily) == len({c.start for c in daily}) == 55  # weekdays 1 Jan - 15 Mar 2024
    assert daily[0].start == int(start.timestamp()) * 10**9


async def test_a_bad_candle_range_reports_ab1004(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    # The client never sends such a range (candle_chunks refuses it); the server's answer to one
    # still maps to a clear error.
    body = {
        "exchange": "NSE",
        "symboltoken": "3045",
        "interval": "ONE_MINUTE",
        "fromdate": "2024-02-01 09:15",
        "todate": "2024-01-01 09:15",
    }
    with pytest.raises(AngelApiError) as info:
        await client._request("candles", body, operation="candles")
    assert info.value.code == "AB1004"
    assert "from <= to" in str(info.value)


# ---- GTT and charges --------------------------------------------------------------------------


async def test_gtt_rules_single_and_oco(server: FakeAngelServer, client: AngelRestClient) -> None:
    single = GttRequest(instrument=SBIN, side=Side.BUY, qty=10, price=80000, trigger_price=80050)
    oco = GttRequest(
        instrument=RELIANCE,
        side=Side.SELL,
        qty=5,
        price=310000,
        trigger_price=309950,
        oco_stoploss_price=270000,
        oco_stoploss_trigger=270050,
    )
    single_id = await client.gtt_create(single)
    oco_id = await client.gtt_create(oco)
    assert server.calls("gtt_create")[0].path.startswith("/gtt-service/rest/secure/")
    assert server.calls("gtt_create")[1].body["gttType"] == "OCO"
    rule = await client.gtt_details(oco_id)
    assert (rule.rule_id, rule.gtt_type, rule.side, rule.qty) == (oco_id, "OCO", Side.SELL, 5)
    assert (rule.price, rule.trigger_price) == (310000, 309950)
    assert (rule.stoploss_price, rule.stoploss_trigger_price) == (270000, 270050)
    assert (await client.gtt_details(single_id)).stoploss_price is None
    modified = GttRequest(instrument=SBIN, side=Side.BUY, qty=20, price=79000, trigger_price=79050)
    assert await client.gtt_modify(single_id, modified) == single_id
    rule = await client.gtt_details(single_id)
    assert (rule.qty, rule.price, rule.trigger_price) == (20, 79000, 79050)
    assert await client.gtt_cancel(single_id, SBIN) == single_id
    everything = await client.gtt_list()
    assert {r.rule_id: r.status for r in everything} == {single_id: "CANCELLED", oco_id: "NEW"}
    assert [r.rule_id for r in await client.gtt_list([GttStatus.NEW])] == [oco_id]
    assert [r.rule_id for r in await client.gtt_list(page=2, count=1)] == [oco_id]


def test_gtt_requests_are_checked() -> None:
    from brokers.angelone.wire import gtt_create_params

    with pytest.raises(WireError, match="NSE and BSE"):
        gtt_create_params(
            GttRequest(
                instrument=NIFTY_FUT, side=Side.BUY, qty=50, price=2200000, trigger_price=2200500
            )
        )
    with pytest.raises(WireError, match="CNC"):
        gtt_create_params(
            GttRequest(
                instrument=SBIN,
                side=Side.BUY,
                qty=1,
                price=80000,
                trigger_price=80050,
                product=Product.MIS,
            )
        )
    with pytest.raises(WireError, match="both"):
        gtt_create_params(
            GttRequest(
                instrument=SBIN,
                side=Side.BUY,
                qty=1,
                price=80000,
                trigger_price=80050,
                oco_stoploss_price=70000,
            )
        )


async def test_gtt_errors(server: FakeAngelServer, client: AngelRestClient) -> None:
    with pytest.raises(AngelNotFound) as info:
        await client.gtt_details("424242")
    assert info.value.code == "AB9013"


async def test_estimate_charges(server: FakeAngelServer, client: AngelRestClient) -> None:
    estimate = await client.estimate_charges(
        [
            ChargeQuery(instrument=SBIN, side=Side.BUY, product=Product.MIS, qty=10, price=81250),
            ChargeQuery(
                instrument=RELIANCE, side=Side.SELL, product=Product.CNC, qty=3, price=295005
            ),
        ]
    )
    assert server.calls("charges")[0].body["orders"][0] == {
        "product_type": "INTRADAY",
        "transaction_type": "BUY",
        "quantity": "10",
        "price": "812.50",
        "exchange": "NSE",
        "symbol_name": "SBIN",
        "token": "3045",
    }
    first, second = estimate.orders
    # 8125 trade value: brokerage 2.4375, STT 2.03125, GST 0.43875 -> 4.9075 -> 491 paise
    assert first.trade_value == 812500
    assert first.total_charges == 491
    assert [item.name for item in first.breakup] == ["Angel One Brokerage", "External Charges"]
    assert first.breakup[0].amount == 244
    assert [p.name for p in first.breakup[1].parts] == ["Securities Transaction Tax", "GST"]
    assert second.trade_value == 885015
    assert estimate.trade_value == 812500 + 885015
    assert estimate.total_charges == 491 + 221


# ---- rate limits ------------------------------------------------------------------------------


async def test_bursts_never_exceed_the_published_limits(
    real_limits_server: FakeAngelServer,
) -> None:
    server = real_limits_server
    async with make_client(server, limits=None) as c:
        await c.login()
        started = time.monotonic()
        orders = [c.place_order(limit_buy(f"B{i:03d}")) for i in range(20)]
        books = [c.order_book() for _ in range(3)]
        candles = [
            c.candles(
                SBIN,
                Interval.D1,
                datetime(2024, 1, 1, tzinfo=IST),
                datetime(2024, 1, 31, tzinfo=IST),
            )
            for _ in range(7)
        ]
        placed, *_ = await asyncio.gather(
            asyncio.gather(*orders), asyncio.gather(*books), asyncio.gather(*candles)
        )
        elapsed = time.monotonic() - started
    assert len({p.order_id for p in placed}) == 20
    assert not any(r.rate_limited for r in server.requests)
    assert server.max_in_window("orders") == 9
    assert server.max_in_window("order_book") == 1
    assert server.max_in_window("candles") == 3
    assert elapsed >= 2.0  # 20 orders at 9/s need three windows


async def test_the_limiter_counts_requests_until_their_answers_are_in() -> None:
    limiter = RateLimiter({"g": RateLimit(per_second=4)}, slack=0.0)
    spans: list[tuple[float, float]] = []

    async def one(duration: float) -> None:
        async with limiter.slot("g"):
            began = time.monotonic()
            await asyncio.sleep(duration)
        spans.append((began, time.monotonic()))

    durations = [0.0, 0.3, 0.05, 0.0, 0.2, 0.0, 0.1, 0.0, 0.0]
    await asyncio.gather(*(one(d) for d in durations))
    assert len(spans) == 9
    # When a request went, fewer than 4 others were in flight or had ended within the last second.
    for began, _ in spans:
        busy = [
            1
            for other_began, other_end in spans
            if other_began < began and other_end > began - 1.0 + 1e-3
        ]
        assert len(busy) <= 3
    assert limiter.wait_needed("g") > 0
    with pytest.raises(KeyError, match="no rate limit"):
        await limiter.acquire("nope")


async def test_an_unreleased_slot_blocks_its_group_until_released() -> None:
    limiter = RateLimiter({"g": RateLimit(per_second=1)}, slack=0.0)
    first = await limiter.acquire("g")
    assert limiter.wait_needed("g") == float("inf")
    waiter = asyncio.ensure_future(limiter.acquire("g"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    first.release()
    first.release()  # idempotent
    second = await asyncio.wait_for(waiter, timeout=2.0)
    assert second.end == float("inf")
    second.release()


def test_rate_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimit(per_second=0)
    with pytest.raises(ValueError, match="at least one"):
        RateLimit()
    assert DEFAULT_LIMITS["orders"].per_second == 9  # also below SEBI's 10 orders/s


# ---- faults: retries on reads, never on writes ------------------------------------------------


async def test_reads_are_retried_after_faults(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    server.fail("funds", "http_500")
    server.fail("funds", "malformed")
    assert (await client.funds()).available_cash == 10_000_000
    server.fail("positions", "rate_limit")
    assert await client.positions() == []
    assert [r.status for r in server.calls("funds")] == [500, 200, 200]
    assert [r.status for r in server.calls("positions")] == [403, 200]


async def test_reads_give_up_after_the_attempts(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    server.fail("holdings", "http_500", times=3)
    with pytest.raises(AngelServerError, match="HTTP 500"):
        await client.holdings()
    server.fail("trade_book", "empty_400", times=3)
    with pytest.raises(AngelProtocolError, match="static-IP"):
        await client.trade_book()
    server.fail("funds", "rate_limit", times=3)
    with pytest.raises(AngelRateLimitError, match="rate limit"):
        await client.funds()
    assert len(server.calls("holdings")) == 3


async def test_a_read_timeout_is_retried(server: FakeAngelServer) -> None:
    async with make_client(server, timeout=0.3) as c:
        server.fail("order_book", "stall", seconds=1.0)
        assert await c.order_book() == []
    assert len(server.calls("order_book")) == 2


async def test_a_rate_limited_order_is_not_resent(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    server.fail("place_order", "rate_limit")
    with pytest.raises(AngelRateLimitError):
        await client.place_order(limit_buy())
    assert len(server.calls("place_order")) == 1
    assert server.calls("order_book") == []


async def test_a_refused_token_on_place_is_refreshed_and_placed_once(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    await client.login()
    server.state.expire_jwts()
    placed = await client.place_order(limit_buy())
    assert [r.status for r in server.calls("place_order")] == [200, 200]
    assert len(server.state.orders) == 1
    assert next(iter(server.state.orders)) == placed.order_id


async def test_timeout_on_place_finds_the_order_by_tag(server: FakeAngelServer) -> None:
    async with make_client(server, timeout=0.3) as c:
        server.fail("place_order", "stall_after", seconds=1.5)
        placed = await c.place_order(limit_buy())
    assert placed.found_by_lookup
    assert len(server.calls("place_order")) == 1
    [row] = server.state.orders.values()
    assert (placed.order_id, placed.unique_order_id) == (row["orderid"], row["uniqueorderid"])
    assert server.route_names()[1:3] == ["place_order", "order_book"]


async def test_timeout_on_place_without_an_order_is_unknown_and_not_resent(
    server: FakeAngelServer,
) -> None:
    async with make_client(server, timeout=0.3, lookup_attempts=3) as c:
        server.fail("place_order", "stall", seconds=1.5)
        with pytest.raises(OrderOutcomeUnknown) as info:
            await c.place_order(limit_buy())
    exc = info.value
    assert (exc.operation, exc.tag) == ("place", "M0LZ3K9QA000XYZ")
    assert "NOT resent" in str(exc) and "3 look-ups" in str(exc)
    assert len(server.calls("place_order")) == 1
    assert len(server.calls("order_book")) == 3
    assert server.state.orders == {}


@pytest.mark.parametrize("fault", ["http_500", "malformed", "empty_400"])
async def test_a_garbled_place_answer_is_looked_up_not_resent(
    server: FakeAngelServer, client: AngelRestClient, fault: str
) -> None:
    server.fail("place_order", fault)
    with pytest.raises(OrderOutcomeUnknown):
        await client.place_order(limit_buy())
    assert len(server.calls("place_order")) == 1
    assert len(server.calls("order_book")) == 3


async def test_lookup_failures_still_end_in_unknown(
    server: FakeAngelServer,
) -> None:
    async with make_client(server, timeout=0.3, lookup_attempts=2, read_attempts=1) as c:
        server.fail("place_order", "stall", seconds=1.0)
        server.fail("order_book", "http_500", times=2)
        with pytest.raises(OrderOutcomeUnknown, match="last look-up failed"):
            await c.place_order(limit_buy())
    assert len(server.calls("place_order")) == 1


async def test_duplicate_tags_are_reported_not_chosen(
    server: FakeAngelServer, client: AngelRestClient
) -> None:
    await client.place_order(limit_buy())
    server.fail("place_order", "stall_after", seconds=0.0)
    await client.place_order(limit_buy(price=81000))  # same tag, placed twice on purpose
    server.fail("place_order", "http_500")
    with pytest.raises(OrderOutcomeUnknown, match="2 orders with this tag"):
        await client.place_order(limit_buy(price=80000))


async def test_timeout_on_modify_and_cancel_is_unknown(server: FakeAngelServer) -> None:
    async with make_client(server, timeout=0.3) as c:
        placed = await c.place_order(limit_buy())
        server.fail("modify_order", "stall_after", seconds=1.0)
        with pytest.raises(OrderOutcomeUnknown) as info:
            await c.modify_order(
                ModifyRequest(
                    order_id=placed.order_id,
                    instrument=SBIN,
                    qty=10,
                    order_type=OrderType.LIMIT,
                    product=Product.CNC,
                    price=81000,
                )
            )
        assert info.value.order_id == placed.order_id
        server.fail("cancel_order", "http_500")
        with pytest.raises(OrderOutcomeUnknown, match="cancelling order"):
            await c.cancel_order(placed.order_id)
        server.fail("gtt_create", "stall", seconds=1.0)
        with pytest.raises(OrderOutcomeUnknown, match="GTT"):
            await c.gtt_create(
                GttRequest(instrument=SBIN, side=Side.BUY, qty=1, price=80000, trigger_price=80050)
            )
    assert len(server.calls("modify_order")) == 1
    assert len(server.calls("cancel_order")) == 1
    assert len(server.calls("gtt_create")) == 1


async def test_a_failed_login_before_an_order_is_not_an_unknown_outcome(
    server: FakeAngelServer,
) -> None:
    async with make_client(server, timeout=0.3, logout_on_close=False) as c:
        server.fail("login", "stall", seconds=1.0)
        with pytest.raises(AngelSessionUnavailable, match="was not sent"):
            await c.place_order(limit_buy())
        await c.login()
        server.state.expire_jwts()
        server.fail("generate_tokens", "http_500")
        with pytest.raises(AngelSessionUnavailable, match="HTTP 500"):
            await c.place_order(limit_buy())
    assert [r.status for r in server.calls("place_order")] == [200]  # the refused first try
    assert server.state.orders == {}
    assert server.calls("order_book") == []


async def test_an_unreachable_server_is_a_transport_error_with_nothing_sent() -> None:
    async with FakeAngelServer() as server:
        base_url = server.base_url
        values = server.credentials_values()
    client = AngelRestClient(AngelCredentials(**values), base_url=base_url)
    with pytest.raises(AngelTransportError) as info:
        await client.login()
    assert info.value.sent is False
    assert "nothing was sent" in str(info.value)
    await client.close()


# ---- envelope mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "code"),
    [
        (
            {"success": False, "message": "Invalid Token", "errorCode": "AG8001", "data": ""},
            AngelSessionInvalid,
            "AG8001",
        ),
        (
            {"status": False, "message": "Invalid totp", "errorcode": "AB1050", "data": None},
            AngelApiError,
            "AB1050",
        ),
        (
            {"status": False, "message": "Too many requests", "errorcode": "AB1021"},
            AngelRateLimitError,
            "",
        ),
        (
            {"status": False, "message": "Order not found", "errorcode": "AB1013"},
            AngelNotFound,
            "AB1013",
        ),
        (
            {"status": False, "message": "INVALID PARAMETERS", "errorcode": "AB1007"},
            AngelOrderRejected,
            "AB1007",
        ),
    ],
)
def test_error_envelopes_of_both_dialects(
    body: dict[str, Any], kind: type[Exception], code: str
) -> None:
    exc = error_from_envelope(body, operation="placing order X", order_write=True)
    assert isinstance(exc, kind)
    if code:
        assert isinstance(exc, AngelApiError) and exc.code == code
        assert code in str(exc)
    assert "placing order X" in str(exc)


def test_error_messages_are_redacted() -> None:
    body = {
        "status": False,
        "errorcode": "AB2000",
        "message": "bad request jwtToken=eyJhbGciOiJIUzUxMiJ9.abcdefghijkl.mnopqrstuvwx",
    }
    exc = error_from_envelope(body, operation="the order book")
    assert "eyJ" not in str(exc)
    assert "***" in str(exc)
