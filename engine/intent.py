"""``OrderIntent``: what a widget, a key, the command bar or a strategy asks the core to do.

A pydantic model, validated on construction: a bad field raises ``pydantic.ValidationError``
whose message names the field, the value and what is allowed. :func:`intent_errors` turns that
into plain lines for the UI.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.models import OrderType, Product, Side, Validity


class OrderIntent(BaseModel):
    """A request for one order. Prices are int price units (paise for NSE); qty in units.

    ``client_order_id`` makes submission idempotent: the same id twice is one order. ``stop_loss``
    and ``target`` are the planned exits (used by risk-per-trade and reward:risk checks).
    ``is_exit`` asks for reduce-only treatment (it must reduce an open position). ``confirmed``
    sends an order again inside the duplicate window on purpose.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    token: str = Field(min_length=1, description="instrument token")
    side: Side
    qty: int = Field(gt=0, description="quantity in units (shares or contracts, not lots)")
    order_type: OrderType = OrderType.LIMIT
    product: Product = Product.MIS
    validity: Validity = Validity.DAY
    price: int = Field(default=0, ge=0, description="limit price in price units")
    trigger_price: int = Field(default=0, ge=0, description="stop trigger in price units")
    disclosed_qty: int = Field(default=0, ge=0)
    tag: str = Field(default="", max_length=20)
    strategy_id: str = Field(default="manual", min_length=1, max_length=40)
    client_order_id: str | None = Field(default=None, min_length=1, max_length=20)
    stop_loss: int = Field(default=0, ge=0)
    target: int = Field(default=0, ge=0)
    is_exit: bool = False
    confirmed: bool = False

    @model_validator(mode="after")
    def _fields_fit_the_order_type(self) -> Self:
        kind = self.order_type
        if kind is OrderType.LIMIT and self.price <= 0:
            raise ValueError("price: a LIMIT order needs a price > 0")
        if kind is OrderType.MARKET and (self.price or self.trigger_price):
            raise ValueError(
                f"price: a MARKET order takes no price or trigger (got price {self.price}, "
                f"trigger {self.trigger_price}); use LIMIT to set a price"
            )
        if kind is OrderType.SL and (self.price <= 0 or self.trigger_price <= 0):
            raise ValueError("trigger_price: an SL order needs both a trigger and a limit price")
        if kind is OrderType.SL_M and (self.trigger_price <= 0 or self.price):
            raise ValueError("trigger_price: an SL-M order needs a trigger and no limit price")
        if kind is OrderType.SL and self.side is Side.BUY and self.trigger_price > self.price:
            raise ValueError(
                f"trigger_price: a buy SL needs trigger <= limit (trigger {self.trigger_price} > "
                f"limit {self.price})"
            )
        if kind is OrderType.SL and self.side is Side.SELL and self.trigger_price < self.price:
            raise ValueError(
                f"trigger_price: a sell SL needs trigger >= limit (trigger {self.trigger_price} < "
                f"limit {self.price})"
            )
        if kind in (OrderType.LIMIT, OrderType.MARKET) and self.trigger_price:
            raise ValueError(
                f"trigger_price: only SL and SL-M orders take a trigger (got {self.trigger_price})"
            )
        if self.disclosed_qty > self.qty:
            raise ValueError(
                f"disclosed_qty: {self.disclosed_qty} is more than the order qty {self.qty}"
            )
        if self.client_order_id is not None and not self.client_order_id.isalnum():
            raise ValueError(
                f"client_order_id: {self.client_order_id!r} must be letters and digits only"
            )
        return self

    @property
    def reference_price(self) -> int:
        """The price that values the order: limit, else trigger, else 0 (market)."""
        return self.price or self.trigger_price


def intent_errors(error: ValidationError) -> list[str]:
    """Plain messages for a failed intent: ``field: what was wrong (got value)``."""
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "order"
        message = str(item["msg"]).removeprefix("Value error, ")
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{field}: {message}{shown}" if field != "order" else message)
    return lines
