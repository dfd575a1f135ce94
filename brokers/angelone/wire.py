"""Angel One SmartAPI wire values: our enums and instruments in, typed rows out.

Everything that knows how Angel spells a value lives here (research/smartapi.md §5-§8 and
trading-semantics.md §1, §2.2, §3):

* enums: ``Side`` -> ``transactiontype``; ``OrderType`` -> ``ordertype`` (``STOPLOSS_LIMIT``...)
  and the ``variety`` it needs; ``Product`` -> ``producttype`` (``DELIVERY``/``INTRADAY``/
  ``CARRYFORWARD``); ``Validity`` -> ``duration``; ``Exchange`` -> ``exchange``; candle
  intervals and their span limits;
* prices: requests carry rupee strings made from int units (``81250`` -> ``"812.50"``); responses
  are parsed into int units with :func:`engine.money.parse_price` (exact: a price finer than the
  scale is an error, never rounded). Averages (``averageprice``, ``buyavgprice``) need not sit on
  the tick grid and are kept exact as :class:`~fractions.Fraction` price units. Amounts of money
  (funds, P&L, charges) are int paise, rounded half-even when Angel sends more than two decimals;
* request bodies for orders, GTT rules and charge estimates, and the typed dataclasses that
  order-book, trade-book, position, holding, funds, LTP, quote, candle and GTT rows become.

JSON is expected to be parsed with ``parse_float=decimal.Decimal`` (the REST client does), so no
binary float ever carries a price; a float that does arrive is read through its shortest ``repr``.

AMO: Angel decides AMO itself; after-hours orders are sent with variety ``NORMAL`` and an AMO shown
in the order book with variety ``AMO`` is cancelled or modified with variety ``NORMAL``
(:func:`variety_for_change`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any, Final

from brokers.angelone.errors import WireError
from engine.clock import IST
from engine.models import (
    ClientOrderId,
    DepthLevel,
    Exchange,
    Instrument,
    Interval,
    OrderType,
    Product,
    Quote,
    Side,
    Validity,
)
from engine.money import PriceError, format_price, parse_price, rupees_to_units, scale_digits

__all__ = [
    "CANDLE_SPAN_DAYS",
    "ORDERTAG_MAX",
    "AngelFunds",
    "AngelHolding",
    "AngelInterval",
    "AngelLtp",
    "AngelOrder",
    "AngelPosition",
    "AngelTrade",
    "Candle",
    "ChargeItem",
    "ChargeQuery",
    "ChargesEstimate",
    "GttField",
    "GttRequest",
    "GttRule",
    "GttStatus",
    "MarketQuote",
    "ModifyRequest",
    "OrderAck",
    "OrderRequest",
    "PlacedOrder",
    "QuoteMode",
    "QuoteResult",
    "RoboLegs",
    "UnfetchedToken",
    "Variety",
    "angel_interval",
    "charges_params",
    "exchange_from_wire",
    "exchange_to_wire",
    "gtt_create_params",
    "gtt_modify_params",
    "modify_params",
    "money_from_wire",
    "order_tag",
    "order_type_from_wire",
    "order_type_to_wire",
    "place_params",
    "price_from_wire",
    "price_scale_for",
    "price_to_wire",
    "product_from_wire",
    "product_to_wire",
    "side_from_wire",
    "validity_from_wire",
    "validity_to_wire",
    "variety_for",
    "variety_for_change",
]


# ---------------------------------------------------------------------------------------------
# Enums


class Variety(StrEnum):
    """Angel's order varieties. AMO is not sent: after-hours NORMAL orders become AMOs."""

    NORMAL = "NORMAL"
    STOPLOSS = "STOPLOSS"
    ROBO = "ROBO"


_EXCHANGES: Final[Mapping[Exchange, str]] = {
    Exchange.NSE: "NSE",
    Exchange.BSE: "BSE",
    Exchange.NFO: "NFO",
    Exchange.BFO: "BFO",
    Exchange.MCX: "MCX",
    Exchange.CDS: "CDS",
}
_EXCHANGES_BACK: Final = {text: exchange for exchange, text in _EXCHANGES.items()}

_PRICE_SCALES: Final[Mapping[str, int]] = {"CDS": 10**7}
"""Price units per rupee by wire exchange (same convention as the instrument master: 100 except
currency derivatives, 10**7)."""

_SIDES: Final[Mapping[Side, str]] = {Side.BUY: "BUY", Side.SELL: "SELL"}
_SIDES_BACK: Final = {text: side for side, text in _SIDES.items()}

_ORDER_TYPES: Final[Mapping[OrderType, str]] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.SL: "STOPLOSS_LIMIT",
    OrderType.SL_M: "STOPLOSS_MARKET",
}
_ORDER_TYPES_BACK: Final = {text: kind for kind, text in _ORDER_TYPES.items()}

_PRODUCTS: Final[Mapping[Product, str]] = {
    Product.CNC: "DELIVERY",
    Product.MIS: "INTRADAY",
    Product.NRML: "CARRYFORWARD",
}
_PRODUCTS_BACK: Final[Mapping[str, Product]] = {
    **{text: product for product, text in _PRODUCTS.items()},
    "BO": Product.MIS,  # ROBO legs are intraday
}
"""``MARGIN`` (margin delivery) has no counterpart among our products and parses as ``None``."""

_VALIDITIES: Final[Mapping[Validity, str]] = {Validity.DAY: "DAY", Validity.IOC: "IOC"}
_VALIDITIES_BACK: Final = {text: validity for validity, text in _VALIDITIES.items()}

ORDERTAG_MAX: Final = 20
"""Longest ``ordertag`` Angel accepts (since 2024-11-15; error AB4008 beyond it)."""
_TAG_RE: Final = re.compile(r"[0-9A-Za-z]+")


def exchange_to_wire(exchange: Exchange) -> str:
    """Angel's ``exchange`` value; raises :class:`WireError` for a segment Angel cannot trade."""
    text = _EXCHANGES.get(exchange)
    if text is None:
        allowed = ", ".join(_EXCHANGES.values())
        raise WireError(f"Angel One SmartAPI does not trade on {exchange}; use one of {allowed}")
    return text


def exchange_from_wire(text: str) -> Exchange | None:
    """Our :class:`Exchange` for Angel's ``exchange`` text, ``None`` when it is not one we know."""
    return _EXCHANGES_BACK.get(text.strip().upper())


def price_scale_for(exchange: str | Exchange) -> int:
    """Price units per rupee for a wire exchange (100, or 10**7 for CDS)."""
    return _PRICE_SCALES.get(str(exchange).strip().upper(), 100)


def side_from_wire(text: str) -> Side:
    """``BUY``/``SELL`` -> :class:`Side`; raises :class:`WireError` for anything else."""
    side = _SIDES_BACK.get(text.strip().upper())
    if side is None:
        raise WireError(f"transactiontype {text!r} is neither BUY nor SELL")
    return side


def order_type_to_wire(order_type: OrderType) -> str:
    """Angel's ``ordertype``: MARKET, LIMIT, STOPLOSS_LIMIT (SL) or STOPLOSS_MARKET (SL-M)."""
    return _ORDER_TYPES[order_type]


def order_type_from_wire(text: str) -> OrderType | None:
    """Our :class:`OrderType` for an Angel ``ordertype``; ``None`` when unknown."""
    return _ORDER_TYPES_BACK.get(text.strip().upper())


def variety_for(order_type: OrderType, *, robo: bool = False) -> Variety:
    """The variety an order needs: ROBO for brackets, STOPLOSS for SL/SL-M, else NORMAL."""
    if robo:
        return Variety.ROBO
    return Variety.STOPLOSS if order_type in (OrderType.SL, OrderType.SL_M) else Variety.NORMAL


def variety_for_change(row_variety: str) -> str:
    """The variety to send when modifying or cancelling an order the book shows as ``row_variety``.

    The order book shows after-market orders as ``AMO``; Angel wants ``NORMAL`` to change them.
    """
    text = row_variety.strip().upper()
    return Variety.NORMAL.value if text in ("", "AMO") else text


def product_to_wire(product: Product) -> str:
    """Angel's ``producttype``: DELIVERY (CNC), INTRADAY (MIS) or CARRYFORWARD (NRML)."""
    return _PRODUCTS[product]


def product_from_wire(text: str) -> Product | None:
    """Our :class:`Product` for an Angel ``producttype``; ``None`` for MARGIN or unknown text."""
    return _PRODUCTS_BACK.get(text.strip().upper())


def validity_to_wire(validity: Validity, exchange: Exchange) -> str:
    """Angel's ``duration``; FOK does not exist there and IOC is refused for commodities."""
    text = _VALIDITIES.get(validity)
    if text is None:
        raise WireError(f"Angel One offers validity DAY or IOC, not {validity}")
    if validity is Validity.IOC and exchange is Exchange.MCX:
        raise WireError("Angel One does not allow IOC orders on MCX; use DAY")
    return text


def validity_from_wire(text: str) -> Validity | None:
    """Our :class:`Validity` for an Angel ``duration``; ``None`` when unknown."""
    return _VALIDITIES_BACK.get(text.strip().upper())


def order_tag(client_order_id: ClientOrderId | str) -> str:
    """The ``ordertag`` for an order: the client order id itself, checked against Angel's rules.

    The tag must be the id unchanged because reconciliation matches order-book rows to our orders
    by tag (:meth:`engine.oms.OMS.reconcile`); ids from :class:`engine.oms.ClientOrderIdGenerator`
    are at most 19 letters and digits, which fits.
    """
    text = str(client_order_id)
    if not text or len(text) > ORDERTAG_MAX or not _TAG_RE.fullmatch(text):
        raise WireError(
            f"client order id {text!r} cannot be an Angel One ordertag: it must be 1 to "
            f"{ORDERTAG_MAX} letters or digits"
        )
    return text


# ---------------------------------------------------------------------------------------------
# Numbers


def price_to_wire(units: int, price_scale: int = 100) -> str:
    """Rupee string for int price units: ``price_to_wire(81250) == "812.50"``."""
    if type(units) is not int:
        raise WireError(f"prices are int units, got {units!r} ({type(units).__name__})")
    return format_price(units, price_scale)


def _decimal_text(value: object, what: str) -> str | None:
    """The exact decimal text of a JSON value, ``None`` for null/empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise WireError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    raise WireError(f"{what}: expected a number or numeric string, got {type(value).__name__}")


def price_from_wire(value: object, price_scale: int = 100, *, what: str = "price") -> int:
    """Exact int price units for a JSON price (string or number); null/empty is 0.

    Raises :class:`WireError` when the value is not a number or is finer than the scale allows.
    """
    text = _decimal_text(value, what)
    if text is None:
        return 0
    try:
        return parse_price(text, price_scale)
    except PriceError as exc:
        raise WireError(f"{what}: {exc}") from None


def exact_from_wire(value: object, price_scale: int = 100, *, what: str = "price") -> Fraction:
    """Exact price units as a Fraction (for averages, which need not sit on the tick grid)."""
    text = _decimal_text(value, what)
    if text is None:
        return Fraction(0)
    try:
        dec = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise WireError(f"{what}: {text!r} is not a number") from None
    if not dec.is_finite():
        raise WireError(f"{what}: {text!r} is not a finite number")
    return Fraction(dec) * price_scale


def money_from_wire(value: object, *, what: str = "amount") -> int | None:
    """An amount in rupees as int paise (half-even beyond two decimals); ``None`` for null/empty."""
    text = _decimal_text(value, what)
    if text is None:
        return None
    try:
        dec = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise WireError(f"{what}: {text!r} is not an amount of money") from None
    if not dec.is_finite():
        raise WireError(f"{what}: {text!r} is not a finite amount")
    return rupees_to_units(dec)


def int_from_wire(value: object, *, what: str = "quantity") -> int:
    """An integer quantity from a JSON string or number; null/empty is 0."""
    text = _decimal_text(value, what)
    if text is None:
        return 0
    try:
        dec = Decimal(text)
    except InvalidOperation:
        raise WireError(f"{what}: {text!r} is not a whole number") from None
    if not dec.is_finite() or dec != dec.to_integral_value():
        raise WireError(f"{what}: {text!r} is not a whole number")
    return int(dec)


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    return str(value).strip()


_ANGEL_TIME_FORMATS: Final = ("%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%Y-%m-%d %H:%M:%S")


def angel_time_ns(text: str) -> int:
    """ns since the epoch for Angel's IST stamps (``"10-Oct-2023 09:00:16"``); 0 when unparsable."""
    text = text.strip()
    if not text:
        return 0
    for fmt in _ANGEL_TIME_FORMATS:
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
        return int(moment.timestamp()) * 1_000_000_000
    return 0


# ---------------------------------------------------------------------------------------------
# Order requests


@dataclass(frozen=True, slots=True)
class RoboLegs:
    """Bracket (ROBO) exits in price units *away from the entry price* (points, not prices).

    ``squareoff`` is the target distance, ``stoploss`` the stop distance, ``trailing_stoploss`` the
    trailing step (0: no trailing).
    """

    squareoff: int
    stoploss: int
    trailing_stoploss: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """A new order as the REST client sends it. Prices are int units of the instrument.

    ``price`` is 0 for MARKET and SL-M; ``trigger_price`` is 0 except for SL and SL-M. ``robo``
    makes it a bracket (variety ROBO, product BO: intraday, LIMIT entry only).
    ``scrip_consent`` sends ``scripconsent: "yes"`` for scrips under surveillance (AB4036).
    """

    client_order_id: ClientOrderId
    instrument: Instrument
    side: Side
    qty: int
    order_type: OrderType
    product: Product
    validity: Validity = Validity.DAY
    price: int = 0
    trigger_price: int = 0
    disclosed_qty: int = 0
    robo: RoboLegs | None = None
    scrip_consent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyRequest:
    """A change to a working order: the full new set of parameters Angel's modifyOrder wants.

    ``variety`` is the order's variety as the order book shows it (``AMO`` is sent as NORMAL);
    ``None`` derives it from ``order_type``.
    """

    order_id: str
    instrument: Instrument
    qty: int
    order_type: OrderType
    product: Product
    validity: Validity = Validity.DAY
    price: int = 0
    trigger_price: int = 0
    variety: str | None = None


def _check_qty(instrument: Instrument, qty: int) -> None:
    if type(qty) is not int or qty <= 0:
        raise WireError(f"quantity must be a positive int of units, got {qty!r}")
    if instrument.lot_size > 1 and qty % instrument.lot_size:
        raise WireError(
            f"{instrument.symbol}: quantity {qty} is not a multiple of the lot size "
            f"{instrument.lot_size}"
        )


def _check_tick(instrument: Instrument, units: int, what: str) -> None:
    if type(units) is not int or units <= 0:
        raise WireError(f"{what} must be a positive int of price units, got {units!r}")
    tick = instrument.tick_size
    if tick > 0 and units % tick:
        raise WireError(
            f"{instrument.symbol}: {what} {format_price(units, instrument.price_scale)} is not on "
            f"the tick grid of {format_price(tick, instrument.price_scale)}"
        )


def _check_prices(
    instrument: Instrument, side: Side | None, order_type: OrderType, price: int, trigger: int
) -> None:
    """Grid and presence of price/trigger; with a side, also the stop-limit trigger/limit order."""
    if order_type in (OrderType.LIMIT, OrderType.SL):
        _check_tick(instrument, price, "price")
    elif price != 0:
        raise WireError(f"a {order_type} order carries no price; pass price=0")
    if order_type in (OrderType.SL, OrderType.SL_M):
        _check_tick(instrument, trigger, "trigger price")
    elif trigger != 0:
        raise WireError(f"a {order_type} order carries no trigger price; pass trigger_price=0")
    if order_type is OrderType.SL:
        if side is Side.BUY and trigger > price:
            raise WireError("a buy stop-limit needs trigger price <= limit price")
        if side is Side.SELL and trigger < price:
            raise WireError("a sell stop-limit needs trigger price >= limit price")


def _instrument_fields(instrument: Instrument) -> dict[str, str]:
    if not instrument.tradable:
        raise WireError(f"{instrument.symbol} is an index and cannot be traded")
    return {
        "exchange": exchange_to_wire(instrument.exchange),
        "tradingsymbol": instrument.symbol,
        "symboltoken": instrument.token,
    }


def place_params(request: OrderRequest) -> dict[str, str]:
    """The placeOrder body for ``request``; raises :class:`WireError` naming any bad field."""
    inst = request.instrument
    body = _instrument_fields(inst)
    _check_qty(inst, request.qty)
    _check_prices(inst, request.side, request.order_type, request.price, request.trigger_price)
    if request.disclosed_qty < 0 or request.disclosed_qty > request.qty:
        raise WireError(
            f"disclosed quantity must be between 0 and the order quantity {request.qty}, "
            f"got {request.disclosed_qty}"
        )
    scale = inst.price_scale
    variety = variety_for(request.order_type, robo=request.robo is not None)
    product = product_to_wire(request.product)
    if request.robo is not None:
        if request.order_type is not OrderType.LIMIT:
            raise WireError("Angel One accepts bracket (ROBO) entries as LIMIT orders only")
        if request.product is not Product.MIS:
            raise WireError("a bracket (ROBO) order is intraday: use product MIS")
        _check_tick(inst, request.robo.squareoff, "ROBO squareoff distance")
        _check_tick(inst, request.robo.stoploss, "ROBO stoploss distance")
        if request.robo.trailing_stoploss:
            _check_tick(inst, request.robo.trailing_stoploss, "ROBO trailing stoploss step")
        product = "BO"
    body.update(
        {
            "variety": variety.value,
            "transactiontype": _SIDES[request.side],
            "ordertype": order_type_to_wire(request.order_type),
            "producttype": product,
            "duration": validity_to_wire(request.validity, inst.exchange),
            "price": price_to_wire(request.price, scale),
            "triggerprice": price_to_wire(request.trigger_price, scale),
            "quantity": str(request.qty),
            "disclosedquantity": str(request.disclosed_qty),
            "ordertag": order_tag(request.client_order_id),
        }
    )
    if request.robo is not None:
        body["squareoff"] = price_to_wire(request.robo.squareoff, scale)
        body["stoploss"] = price_to_wire(request.robo.stoploss, scale)
        body["trailingStopLoss"] = price_to_wire(request.robo.trailing_stoploss, scale)
    if request.scrip_consent:
        body["scripconsent"] = "yes"
    return body


def modify_params(request: ModifyRequest) -> dict[str, str]:
    """The modifyOrder body for ``request``."""
    if not request.order_id:
        raise WireError("modify needs the order id Angel returned (orderid)")
    inst = request.instrument
    body = _instrument_fields(inst)
    _check_qty(inst, request.qty)
    # A modify does not carry the side, so only the grid and the presence of prices are checked.
    _check_prices(inst, None, request.order_type, request.price, request.trigger_price)
    variety = (
        variety_for_change(request.variety)
        if request.variety is not None
        else variety_for(request.order_type).value
    )
    body.update(
        {
            "variety": variety,
            "orderid": request.order_id,
            "ordertype": order_type_to_wire(request.order_type),
            "producttype": product_to_wire(request.product),
            "duration": validity_to_wire(request.validity, inst.exchange),
            "price": price_to_wire(request.price, inst.price_scale),
            "triggerprice": price_to_wire(request.trigger_price, inst.price_scale),
            "quantity": str(request.qty),
        }
    )
    return body


# ---------------------------------------------------------------------------------------------
# Order responses


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """What placing an order returned. ``found_by_lookup`` is True when the answer was lost (a
    timeout) and the order was found in the order book by its tag instead."""

    order_id: str
    unique_order_id: str
    tag: str
    found_by_lookup: bool = False


@dataclass(frozen=True, slots=True)
class OrderAck:
    """Angel's answer to a modify or cancel: the order's ids. The outcome arrives later."""

    order_id: str
    unique_order_id: str


def order_ack_from_wire(data: object, *, what: str) -> OrderAck:
    """Parse ``{"orderid", "uniqueorderid"}``."""
    row = _mapping(data, what)
    order_id = _text(row, "orderid")
    if not order_id:
        raise WireError(f"{what}: the answer carries no orderid")
    return OrderAck(order_id, _text(row, "uniqueorderid"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AngelOrder:
    """One order-book row (also the order-details answer), in our units.

    The ``*_text`` fields keep Angel's spelling; the typed fields are ``None`` when Angel used a
    value we have no counterpart for (e.g. product ``MARGIN``). ``status_text`` is Angel's status
    string (map it with :func:`engine.orders.map_broker_status`); ``reason`` is Angel's ``text``
    (the rejection reason). Prices are int units, ``average_price`` exact price units.
    ``update_ts`` is ``updatetime`` in ns (0 when absent).
    """

    order_id: str
    unique_order_id: str
    tag: str
    variety: str
    exchange_text: str
    exchange: Exchange | None
    tradingsymbol: str
    token: str
    side: Side
    order_type_text: str
    order_type: OrderType | None
    product_text: str
    product: Product | None
    validity_text: str
    validity: Validity | None
    qty: int
    filled_qty: int
    unfilled_qty: int
    cancelled_qty: int
    disclosed_qty: int
    price: int
    trigger_price: int
    average_price: Fraction
    squareoff: int
    stoploss: int
    trailing_stoploss: int
    status_text: str
    reason: str
    update_ts: int
    exchange_order_id: str
    parent_order_id: str
    price_scale: int = 100


def _mapping(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise WireError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _rows(data: object, what: str) -> list[Mapping[str, Any]]:
    """A list of objects; ``null`` (Angel's empty book) is an empty list."""
    if data is None or data == "":
        return []
    if not isinstance(data, list):
        raise WireError(f"{what}: expected a JSON list of rows, got {type(data).__name__}")
    return [_mapping(row, what) for row in data]


def order_from_wire(data: object) -> AngelOrder:
    """Parse one order row; raises :class:`WireError` naming the order and the bad field."""
    row = _mapping(data, "order row")
    order_id = _text(row, "orderid")
    what = f"order {order_id or '?'}"
    exchange_text = _text(row, "exchange")
    scale = price_scale_for(exchange_text)

    def price(key: str) -> int:
        return price_from_wire(row.get(key), scale, what=f"{what} {key}")

    def qty(key: str) -> int:
        return int_from_wire(row.get(key), what=f"{what} {key}")

    try:
        side = side_from_wire(_text(row, "transactiontype"))
    except WireError as exc:
        raise WireError(f"{what}: {exc}") from None
    order_type_text = _text(row, "ordertype")
    product_text = _text(row, "producttype")
    validity_text = _text(row, "duration")
    return AngelOrder(
        order_id=order_id,
        unique_order_id=_text(row, "uniqueorderid"),
        tag=_text(row, "ordertag"),
        variety=_text(row, "variety"),
        exchange_text=exchange_text,
        exchange=exchange_from_wire(exchange_text),
        tradingsymbol=_text(row, "tradingsymbol"),
        token=_text(row, "symboltoken"),
        side=side,
        order_type_text=order_type_text,
        order_type=order_type_from_wire(order_type_text),
        product_text=product_text,
        product=product_from_wire(product_text),
        validity_text=validity_text,
        validity=validity_from_wire(validity_text),
        qty=qty("quantity"),
        filled_qty=qty("filledshares"),
        unfilled_qty=qty("unfilledshares"),
        cancelled_qty=qty("cancelsize"),
        disclosed_qty=qty("disclosedquantity"),
        price=price("price"),
        trigger_price=price("triggerprice"),
        average_price=exact_from_wire(row.get("averageprice"), scale, what=f"{what} averageprice"),
        squareoff=price("squareoff"),
        stoploss=price("stoploss"),
        trailing_stoploss=price("trailingstoploss"),
        status_text=_text(row, "status") or _text(row, "orderstatus"),
        reason=_text(row, "text"),
        update_ts=angel_time_ns(_text(row, "updatetime")),
        exchange_order_id=_text(row, "exchangeorderid"),
        parent_order_id=_text(row, "parentorderid"),
        price_scale=scale,
    )


def orders_from_wire(data: object) -> list[AngelOrder]:
    """Parse the order book (``null`` and ``[]`` both mean no orders)."""
    return [order_from_wire(row) for row in _rows(data, "order book")]


@dataclass(frozen=True, slots=True, kw_only=True)
class AngelTrade:
    """One trade-book row: a fill of one of our orders. ``trade_value`` in paise."""

    fill_id: str
    order_id: str
    exchange_text: str
    tradingsymbol: str
    side: Side
    product_text: str
    product: Product | None
    fill_price: int
    fill_qty: int
    fill_time: str
    trade_value: int | None
    price_scale: int = 100


def trades_from_wire(data: object) -> list[AngelTrade]:
    """Parse the trade book."""
    trades = []
    for row in _rows(data, "trade book"):
        fill_id = _text(row, "fillid")
        what = f"trade {fill_id or '?'}"
        exchange_text = _text(row, "exchange")
        scale = price_scale_for(exchange_text)
        product_text = _text(row, "producttype")
        trades.append(
            AngelTrade(
                fill_id=fill_id,
                order_id=_text(row, "orderid"),
                exchange_text=exchange_text,
                tradingsymbol=_text(row, "tradingsymbol"),
                side=side_from_wire(_text(row, "transactiontype")),
                product_text=product_text,
                product=product_from_wire(product_text),
                fill_price=price_from_wire(row.get("fillprice"), scale, what=f"{what} fillprice"),
                fill_qty=int_from_wire(row.get("fillsize"), what=f"{what} fillsize"),
                fill_time=_text(row, "filltime"),
                trade_value=money_from_wire(row.get("tradevalue"), what=f"{what} tradevalue"),
                price_scale=scale,
            )
        )
    return trades


@dataclass(frozen=True, slots=True, kw_only=True)
class AngelPosition:
    """One position row. Quantities in units; averages exact price units; amounts in paise."""

    exchange_text: str
    token: str
    tradingsymbol: str
    product_text: str
    product: Product | None
    net_qty: int
    buy_qty: int
    sell_qty: int
    carry_buy_qty: int
    carry_sell_qty: int
    buy_avg_price: Fraction
    sell_avg_price: Fraction
    buy_amount: int | None
    sell_amount: int | None
    ltp: int
    pnl: int | None
    realised: int | None
    unrealised: int | None
    price_scale: int = 100


def positions_from_wire(data: object) -> list[AngelPosition]:
    """Parse the position book."""
    positions = []
    for row in _rows(data, "positions"):
        exchange_text = _text(row, "exchange")
        scale = price_scale_for(exchange_text)
        what = f"position {_text(row, 'tradingsymbol') or '?'}"
        product_text = _text(row, "producttype")

        def qty(key: str, row: Mapping[str, Any] = row, what: str = what) -> int:
            return int_from_wire(row.get(key), what=f"{what} {key}")

        def money(key: str, row: Mapping[str, Any] = row, what: str = what) -> int | None:
            return money_from_wire(row.get(key), what=f"{what} {key}")

        positions.append(
            AngelPosition(
                exchange_text=exchange_text,
                token=_text(row, "symboltoken"),
                tradingsymbol=_text(row, "tradingsymbol"),
                product_text=product_text,
                product=product_from_wire(product_text),
                net_qty=qty("netqty"),
                buy_qty=qty("buyqty"),
                sell_qty=qty("sellqty"),
                carry_buy_qty=qty("cfbuyqty"),
                carry_sell_qty=qty("cfsellqty"),
                buy_avg_price=exact_from_wire(row.get("buyavgprice"), scale, what=what),
                sell_avg_price=exact_from_wire(row.get("sellavgprice"), scale, what=what),
                buy_amount=money("buyamount"),
                sell_amount=money("sellamount"),
                ltp=price_from_wire(row.get("ltp"), scale, what=f"{what} ltp"),
                pnl=money("pnl"),
                realised=money("realised"),
                unrealised=money("unrealised"),
                price_scale=scale,
            )
        )
    return positions


@dataclass(frozen=True, slots=True, kw_only=True)
class AngelHolding:
    """One holding (demat) row. ``pnl`` in paise; ``average_price`` exact price units."""

    tradingsymbol: str
    exchange_text: str
    isin: str
    token: str
    product_text: str
    qty: int
    t1_qty: int
    realised_qty: int
    average_price: Fraction
    ltp: int
    close: int
    pnl: int | None


def holdings_from_wire(data: object) -> list[AngelHolding]:
    """Parse the holdings list."""
    holdings = []
    for row in _rows(data, "holdings"):
        what = f"holding {_text(row, 'tradingsymbol') or '?'}"
        holdings.append(
            AngelHolding(
                tradingsymbol=_text(row, "tradingsymbol"),
                exchange_text=_text(row, "exchange"),
                isin=_text(row, "isin"),
                token=_text(row, "symboltoken"),
                product_text=_text(row, "product"),
                qty=int_from_wire(row.get("quantity"), what=f"{what} quantity"),
                t1_qty=int_from_wire(row.get("t1quantity"), what=f"{what} t1quantity"),
                realised_qty=int_from_wire(
                    row.get("realisedquantity"), what=f"{what} realisedquantity"
                ),
                average_price=exact_from_wire(row.get("averageprice"), what=f"{what} avg"),
                ltp=price_from_wire(row.get("ltp"), what=f"{what} ltp"),
                close=price_from_wire(row.get("close"), what=f"{what} close"),
                pnl=money_from_wire(row.get("profitandloss"), what=f"{what} profitandloss"),
            )
        )
    return holdings


_FUNDS_FIELDS: Final[Mapping[str, str]] = {
    "net": "net",
    "available_cash": "availablecash",
    "available_intraday_payin": "availableintradaypayin",
    "available_limit_margin": "availablelimitmargin",
    "collateral": "collateral",
    "m2m_unrealized": "m2munrealized",
    "m2m_realized": "m2mrealized",
    "utilised_debits": "utiliseddebits",
    "utilised_span": "utilisedspan",
    "utilised_option_premium": "utilisedoptionpremium",
    "utilised_holding_sales": "utilisedholdingsales",
    "utilised_exposure": "utilisedexposure",
    "utilised_turnover": "utilisedturnover",
    "utilised_payout": "utilisedpayout",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AngelFunds:
    """The RMS limits (getRMS), in paise; ``None`` where Angel sent null."""

    net: int | None
    available_cash: int | None
    available_intraday_payin: int | None
    available_limit_margin: int | None
    collateral: int | None
    m2m_unrealized: int | None
    m2m_realized: int | None
    utilised_debits: int | None
    utilised_span: int | None
    utilised_option_premium: int | None
    utilised_holding_sales: int | None
    utilised_exposure: int | None
    utilised_turnover: int | None
    utilised_payout: int | None


def funds_from_wire(data: object) -> AngelFunds:
    """Parse the getRMS answer."""
    row = _mapping(data, "funds (getRMS)")
    values = {
        name: money_from_wire(row.get(key), what=f"funds {key}")
        for name, key in _FUNDS_FIELDS.items()
    }
    return AngelFunds(**values)


# ---------------------------------------------------------------------------------------------
# Market data


@dataclass(frozen=True, slots=True)
class AngelLtp:
    """The getLtpData answer, prices in int units."""

    exchange_text: str
    tradingsymbol: str
    token: str
    ltp: int
    open: int
    high: int
    low: int
    close: int


def ltp_from_wire(data: object, price_scale: int) -> AngelLtp:
    """Parse the getLtpData answer."""
    row = _mapping(data, "LTP")
    what = f"LTP {_text(row, 'tradingsymbol') or '?'}"

    def price(key: str) -> int:
        return price_from_wire(row.get(key), price_scale, what=f"{what} {key}")

    return AngelLtp(
        _text(row, "exchange"),
        _text(row, "tradingsymbol"),
        _text(row, "symboltoken"),
        price("ltp"),
        price("open"),
        price("high"),
        price("low"),
        price("close"),
    )


class QuoteMode(StrEnum):
    """market/v1/quote modes."""

    LTP = "LTP"
    OHLC = "OHLC"
    FULL = "FULL"


QUOTE_TOKENS_MAX: Final = 50
"""Tokens per market/v1/quote request."""


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """One fetched quote: the exchange and symbol, and the quote in our :class:`Quote` shape."""

    exchange_text: str
    tradingsymbol: str
    quote: Quote


@dataclass(frozen=True, slots=True)
class UnfetchedToken:
    """A token the quote endpoint could not serve, with Angel's reason."""

    exchange_text: str
    token: str
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class QuoteResult:
    """Fetched quotes in request order, and the tokens Angel could not serve."""

    fetched: list[MarketQuote] = field(default_factory=list)
    unfetched: list[UnfetchedToken] = field(default_factory=list)


def _depth(levels: object, scale: int, what: str) -> tuple[DepthLevel, ...]:
    if not isinstance(levels, list):
        return ()
    out = []
    for level in levels:
        row = _mapping(level, what)
        price = price_from_wire(row.get("price"), scale, what=f"{what} price")
        qty = int_from_wire(row.get("quantity"), what=f"{what} quantity")
        if price == 0 and qty == 0:
            continue
        out.append(DepthLevel(price, qty, int_from_wire(row.get("orders"), what=what)))
    return tuple(out)


def quote_from_wire(data: object) -> MarketQuote:
    """Parse one ``fetched`` row of market/v1/quote (camelCase keys, rupee prices)."""
    row = _mapping(data, "quote row")
    exchange_text = _text(row, "exchange")
    scale = price_scale_for(exchange_text)
    token = _text(row, "symbolToken")
    what = f"quote {token or '?'}"

    def price(key: str) -> int:
        return price_from_wire(row.get(key), scale, what=f"{what} {key}")

    def qty(key: str) -> int:
        return int_from_wire(row.get(key), what=f"{what} {key}")

    depth = row.get("depth")
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()
    if isinstance(depth, Mapping):
        bids = _depth(depth.get("buy"), scale, f"{what} depth")
        asks = _depth(depth.get("sell"), scale, f"{what} depth")
    quote = Quote(
        token=token,
        ltp=price("ltp"),
        exchange_ts=angel_time_ns(_text(row, "exchFeedTime")),
        last_qty=qty("lastTradeQty"),
        avg_price=price_from_wire(
            _to_scale(row.get("avgPrice"), scale), scale, what=f"{what} avgPrice"
        ),
        volume=qty("tradeVolume"),
        open=price("open"),
        high=price("high"),
        low=price("low"),
        close=price("close"),
        total_buy_qty=qty("totBuyQuan"),
        total_sell_qty=qty("totSellQuan"),
        bids=bids,
        asks=asks,
        upper_circuit=price("upperCircuit"),
        lower_circuit=price("lowerCircuit"),
        open_interest=qty("opnInterest"),
    )
    return MarketQuote(exchange_text, _text(row, "tradingSymbol"), quote)


def _to_scale(value: object, price_scale: int) -> object:
    """The session VWAP may carry more decimals than a price; round it half-even to the scale."""
    text = _decimal_text(value, "avgPrice")
    if text is None:
        return None
    try:
        return Decimal(text).quantize(Decimal(1).scaleb(-scale_digits(price_scale)))
    except InvalidOperation:
        raise WireError(f"avgPrice: {text!r} is not a number") from None


def quote_result_from_wire(data: object) -> QuoteResult:
    """Parse the market/v1/quote answer."""
    if data is None:
        return QuoteResult()
    body = _mapping(data, "quote answer")
    result = QuoteResult()
    for row in _rows(body.get("fetched"), "fetched quotes"):
        result.fetched.append(quote_from_wire(row))
    for row in _rows(body.get("unfetched"), "unfetched quotes"):
        result.unfetched.append(
            UnfetchedToken(
                _text(row, "exchange"),
                _text(row, "symbolToken"),
                _text(row, "message"),
                _text(row, "errorCode"),
            )
        )
    return result


# ---------------------------------------------------------------------------------------------
# Historical candles


class AngelInterval(StrEnum):
    """getCandleData intervals."""

    ONE_MINUTE = "ONE_MINUTE"
    THREE_MINUTE = "THREE_MINUTE"
    FIVE_MINUTE = "FIVE_MINUTE"
    TEN_MINUTE = "TEN_MINUTE"
    FIFTEEN_MINUTE = "FIFTEEN_MINUTE"
    THIRTY_MINUTE = "THIRTY_MINUTE"
    ONE_HOUR = "ONE_HOUR"
    ONE_DAY = "ONE_DAY"


CANDLE_SPAN_DAYS: Final[Mapping[AngelInterval, int]] = {
    AngelInterval.ONE_MINUTE: 30,
    AngelInterval.THREE_MINUTE: 60,
    AngelInterval.FIVE_MINUTE: 100,
    AngelInterval.TEN_MINUTE: 100,
    AngelInterval.FIFTEEN_MINUTE: 200,
    AngelInterval.THIRTY_MINUTE: 200,
    AngelInterval.ONE_HOUR: 400,
    AngelInterval.ONE_DAY: 2000,
}
"""Longest span one getCandleData request may cover, in days (research/smartapi.md §8)."""

_INTERVALS: Final[Mapping[Interval, AngelInterval]] = {
    Interval.M1: AngelInterval.ONE_MINUTE,
    Interval.M3: AngelInterval.THREE_MINUTE,
    Interval.M5: AngelInterval.FIVE_MINUTE,
    Interval.M15: AngelInterval.FIFTEEN_MINUTE,
    Interval.H1: AngelInterval.ONE_HOUR,
    Interval.D1: AngelInterval.ONE_DAY,
}

CANDLE_TIME_FORMAT: Final = "%Y-%m-%d %H:%M"
"""getCandleData ``fromdate``/``todate`` format (IST)."""


def angel_interval(interval: Interval | AngelInterval) -> AngelInterval:
    """Angel's interval for one of ours (or itself)."""
    if isinstance(interval, AngelInterval):
        return interval
    return _INTERVALS[interval]


@dataclass(frozen=True, slots=True)
class Candle:
    """One historical candle: ``start`` ns (bar open time), prices in int units."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int


def candles_from_wire(data: object, price_scale: int) -> list[Candle]:
    """Parse ``[[time, o, h, l, c, v], ...]`` (``null`` means no data)."""
    if data is None or data == "":
        return []
    if not isinstance(data, list):
        raise WireError(f"candles: expected a JSON list, got {type(data).__name__}")
    candles = []
    for item in data:
        if not isinstance(item, list) or len(item) < 6:
            raise WireError(f"candles: a row must be [time, o, h, l, c, volume], got {item!r}")
        stamp = str(item[0])
        try:
            start = datetime.fromisoformat(stamp)
        except ValueError:
            raise WireError(f"candles: {stamp!r} is not an ISO timestamp") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=IST)
        what = f"candle {stamp}"
        candles.append(
            Candle(
                start=int(start.timestamp()) * 1_000_000_000,
                open=price_from_wire(item[1], price_scale, what=f"{what} open"),
                high=price_from_wire(item[2], price_scale, what=f"{what} high"),
                low=price_from_wire(item[3], price_scale, what=f"{what} low"),
                close=price_from_wire(item[4], price_scale, what=f"{what} close"),
                volume=int_from_wire(item[5], what=f"{what} volume"),
            )
        )
    return candles


# ---------------------------------------------------------------------------------------------
# GTT


class GttField:
    """Angel's GTT field names, in one place: several are **UNCONFIRMED** (research/smartapi.md §5,
    trading-semantics.md §2.2): the OCO fields come from forum posts only, and the SDK's own test
    sends ``quantity`` where the docs say ``qty`` on modify."""

    ID: Final = "id"
    TRADINGSYMBOL: Final = "tradingsymbol"
    SYMBOLTOKEN: Final = "symboltoken"
    EXCHANGE: Final = "exchange"
    SIDE: Final = "transactiontype"
    PRODUCT: Final = "producttype"
    PRICE: Final = "price"
    QTY: Final = "qty"
    TRIGGER_PRICE: Final = "triggerprice"
    DISCLOSED_QTY: Final = "disclosedqty"
    TIME_PERIOD: Final = "timeperiod"
    GTT_TYPE: Final = "gttType"
    STOPLOSS_PRICE: Final = "stoplossprice"
    STOPLOSS_TRIGGER_PRICE: Final = "stoplosstriggerprice"
    STATUS: Final = "status"
    PAGE: Final = "page"
    COUNT: Final = "count"
    CREATED: Final = "createddate"
    UPDATED: Final = "updateddate"
    EXPIRY: Final = "expirydate"
    GTT_TYPE_SINGLE: Final = "GENERIC"
    GTT_TYPE_OCO: Final = "OCO"


class GttStatus(StrEnum):
    """ruleList status filters."""

    NEW = "NEW"
    CANCELLED = "CANCELLED"
    ACTIVE = "ACTIVE"
    SENTTOEXCHANGE = "SENTTOEXCHANGE"
    FORALL = "FORALL"


_GTT_PRODUCTS: Final[Mapping[Product, str]] = {Product.CNC: "DELIVERY"}


@dataclass(frozen=True, slots=True, kw_only=True)
class GttRequest:
    """A GTT rule: when LTP crosses ``trigger_price``, place a LIMIT order at ``price``.

    ``oco_stoploss_price``/``oco_stoploss_trigger`` (both or neither) make it an OCO rule whose
    second leg is a stop-loss. Angel documents GTT for NSE/BSE delivery only.
    """

    instrument: Instrument
    side: Side
    qty: int
    price: int
    trigger_price: int
    product: Product = Product.CNC
    disclosed_qty: int = 0
    time_period_days: int = 365
    oco_stoploss_price: int | None = None
    oco_stoploss_trigger: int | None = None

    @property
    def is_oco(self) -> bool:
        """True when the rule has a stop-loss leg."""
        return self.oco_stoploss_price is not None


def _gtt_common(request: GttRequest) -> dict[str, str]:
    inst = request.instrument
    if inst.exchange not in (Exchange.NSE, Exchange.BSE):
        raise WireError(f"Angel One GTT rules cover NSE and BSE only, not {inst.exchange}")
    product = _GTT_PRODUCTS.get(request.product)
    if product is None:
        raise WireError(f"Angel One GTT rules take product CNC (DELIVERY), not {request.product}")
    _check_qty(inst, request.qty)
    _check_tick(inst, request.price, "GTT price")
    _check_tick(inst, request.trigger_price, "GTT trigger price")
    if not 0 <= request.disclosed_qty <= request.qty:
        raise WireError("GTT disclosed quantity must be between 0 and the quantity")
    if request.time_period_days < 1:
        raise WireError(f"GTT time period must be at least 1 day, got {request.time_period_days}")
    if (request.oco_stoploss_price is None) != (request.oco_stoploss_trigger is None):
        raise WireError("an OCO GTT needs both the stop-loss price and the stop-loss trigger")
    scale = inst.price_scale
    f = GttField
    body = {
        f.SYMBOLTOKEN: inst.token,
        f.EXCHANGE: exchange_to_wire(inst.exchange),
        f.PRICE: price_to_wire(request.price, scale),
        f.QTY: str(request.qty),
        f.TRIGGER_PRICE: price_to_wire(request.trigger_price, scale),
        f.DISCLOSED_QTY: str(request.disclosed_qty),
        f.TIME_PERIOD: str(request.time_period_days),
    }
    if request.oco_stoploss_price is not None and request.oco_stoploss_trigger is not None:
        _check_tick(inst, request.oco_stoploss_price, "GTT stop-loss price")
        _check_tick(inst, request.oco_stoploss_trigger, "GTT stop-loss trigger")
        body[f.GTT_TYPE] = f.GTT_TYPE_OCO
        body[f.STOPLOSS_PRICE] = price_to_wire(request.oco_stoploss_price, scale)
        body[f.STOPLOSS_TRIGGER_PRICE] = price_to_wire(request.oco_stoploss_trigger, scale)
    return body


def gtt_create_params(request: GttRequest) -> dict[str, str]:
    """The createRule body."""
    body = _gtt_common(request)
    inst = request.instrument
    body[GttField.TRADINGSYMBOL] = inst.symbol
    body[GttField.SIDE] = _SIDES[request.side]
    body[GttField.PRODUCT] = _GTT_PRODUCTS[request.product]
    return body


def gtt_modify_params(rule_id: str, request: GttRequest) -> dict[str, str]:
    """The modifyRule body (Angel takes id, token, exchange, prices, quantities, period)."""
    if not rule_id:
        raise WireError("modifying a GTT rule needs its id")
    body = _gtt_common(request)
    body[GttField.ID] = rule_id
    return body


@dataclass(frozen=True, slots=True, kw_only=True)
class GttRule:
    """A GTT rule as Angel reports it; prices in int units (``None`` where absent)."""

    rule_id: str
    status: str
    gtt_type: str
    exchange_text: str
    tradingsymbol: str
    token: str
    side: Side | None
    product_text: str
    qty: int
    disclosed_qty: int
    price: int
    trigger_price: int
    stoploss_price: int | None
    stoploss_trigger_price: int | None
    created: str
    updated: str
    expiry: str


def gtt_rule_from_wire(data: object) -> GttRule:
    """Parse one GTT rule."""
    row = _mapping(data, "GTT rule")
    f = GttField
    rule_id = _text(row, f.ID)
    what = f"GTT rule {rule_id or '?'}"
    exchange_text = _text(row, f.EXCHANGE)
    scale = price_scale_for(exchange_text)

    def optional_price(key: str) -> int | None:
        value = row.get(key)
        if value is None or value == "":
            return None
        units = price_from_wire(value, scale, what=f"{what} {key}")
        return units or None

    side_text = _text(row, f.SIDE)
    return GttRule(
        rule_id=rule_id,
        status=_text(row, f.STATUS),
        gtt_type=_text(row, f.GTT_TYPE),
        exchange_text=exchange_text,
        tradingsymbol=_text(row, f.TRADINGSYMBOL),
        token=_text(row, f.SYMBOLTOKEN),
        side=side_from_wire(side_text) if side_text else None,
        product_text=_text(row, f.PRODUCT),
        qty=int_from_wire(row.get(f.QTY, row.get("quantity")), what=f"{what} qty"),
        disclosed_qty=int_from_wire(row.get(f.DISCLOSED_QTY), what=f"{what} disclosedqty"),
        price=price_from_wire(row.get(f.PRICE), scale, what=f"{what} price"),
        trigger_price=price_from_wire(row.get(f.TRIGGER_PRICE), scale, what=f"{what} trigger"),
        stoploss_price=optional_price(f.STOPLOSS_PRICE),
        stoploss_trigger_price=optional_price(f.STOPLOSS_TRIGGER_PRICE),
        created=_text(row, f.CREATED),
        updated=_text(row, f.UPDATED),
        expiry=_text(row, f.EXPIRY),
    )


def gtt_rules_from_wire(data: object) -> list[GttRule]:
    """Parse a ruleList answer."""
    return [gtt_rule_from_wire(row) for row in _rows(data, "GTT rule list")]


def gtt_id_from_wire(data: object, *, what: str) -> str:
    """The ``id`` of a create/modify/cancel answer."""
    row = _mapping(data, what)
    rule_id = _text(row, GttField.ID)
    if not rule_id:
        raise WireError(f"{what}: the answer carries no rule id")
    return rule_id


# ---------------------------------------------------------------------------------------------
# Charges


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeQuery:
    """One hypothetical order to price: instrument, side, product, quantity and price (units)."""

    instrument: Instrument
    side: Side
    product: Product
    qty: int
    price: int


def charges_params(queries: Sequence[ChargeQuery]) -> dict[str, list[dict[str, str]]]:
    """The estimateCharges body."""
    if not queries:
        raise WireError("estimate charges needs at least one order")
    orders = []
    for query in queries:
        inst = query.instrument
        _check_qty(inst, query.qty)
        _check_tick(inst, query.price, "price")
        orders.append(
            {
                "product_type": product_to_wire(query.product),
                "transaction_type": _SIDES[query.side],
                "quantity": str(query.qty),
                "price": price_to_wire(query.price, inst.price_scale),
                "exchange": exchange_to_wire(inst.exchange),
                "symbol_name": inst.name,
                "token": inst.token,
            }
        )
    return {"orders": orders}


@dataclass(frozen=True, slots=True)
class ChargeItem:
    """One line of a charges breakup (in paise), with its own sub-lines."""

    name: str
    amount: int
    message: str = ""
    parts: tuple[ChargeItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ChargesEstimate:
    """Total charges and trade value (paise) and the breakup; ``orders`` holds one per order."""

    total_charges: int
    trade_value: int
    breakup: tuple[ChargeItem, ...]
    orders: tuple[ChargesEstimate, ...] = ()


def _charge_items(data: object) -> tuple[ChargeItem, ...]:
    items = []
    for row in _rows(data, "charges breakup"):
        name = _text(row, "name")
        amount = money_from_wire(row.get("amount"), what=f"charge {name}") or 0
        items.append(ChargeItem(name, amount, _text(row, "msg"), _charge_items(row.get("breakup"))))
    return tuple(items)


def _charges_summary(data: object, orders: tuple[ChargesEstimate, ...] = ()) -> ChargesEstimate:
    row = _mapping(data, "charges summary")
    return ChargesEstimate(
        total_charges=money_from_wire(row.get("total_charges"), what="total_charges") or 0,
        trade_value=money_from_wire(row.get("trade_value"), what="trade_value") or 0,
        breakup=_charge_items(row.get("breakup")),
        orders=orders,
    )


def charges_from_wire(data: object) -> ChargesEstimate:
    """Parse the estimateCharges answer."""
    body = _mapping(data, "charges answer")
    per_order = []
    for row in _rows(body.get("charges"), "charges per order"):
        per_order.append(_charges_summary(row.get("summary", row)))
    return _charges_summary(body.get("summary"), tuple(per_order))
