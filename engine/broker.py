"""The ``Broker`` protocol: what the core needs from any broker (paper or live).

It lives in ``engine`` (not ``brokers``) because the core is typed against it and ``engine``
imports nothing of the other layers; adapters in ``brokers/`` implement it.

Order flow: the core calls :meth:`Broker.place` / ``modify`` / ``cancel`` *after* the request is
journaled. The broker reports what happens to orders as :mod:`engine.orders` events through the
sink the core installs with :meth:`Broker.set_event_sink` (acceptances, rejections, fills,
cancels, triggers, expiries, status reports), in the order they happened. A call raises
:class:`BrokerRejectedError` for a definitive refusal (nothing was sent or the broker said no) and
:class:`BrokerOutcomeUnknownError` when the request may or may not have reached the broker (the
core then marks the order for reconciliation and never resends it blindly).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.models import ClientOrderId, OrderType, Product, Side, Validity, VenueOrderId
from engine.oms import BrokerOrderSnapshot
from engine.orders import Order, OrderEvent

EventSink = Callable[[OrderEvent], None]


class BrokerError(RuntimeError):
    """A broker call failed."""


class BrokerRejectedError(BrokerError):
    """The broker refused the request definitively (the order does not exist there)."""


class BrokerOutcomeUnknownError(BrokerError):
    """The request may have reached the broker; its outcome must be reconciled."""


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """An order to place, as the broker needs it (prices in price units)."""

    client_order_id: ClientOrderId
    token: str
    side: Side
    qty: int
    order_type: OrderType
    product: Product
    validity: Validity = Validity.DAY
    price: int = 0
    trigger_price: int = 0
    disclosed_qty: int = 0
    tag: str = ""


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """New parameters for a working order (``None`` = unchanged); qty is the new total."""

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None
    qty: int | None = None
    price: int | None = None
    trigger_price: int | None = None


class Broker(Protocol):
    """What the core calls. Market data flows separately (feed -> bus -> core.on_quote)."""

    name: str
    """Short name for the status bar and the journal (``paper``, ``angelone``)."""

    is_live: bool
    """True when orders reach a real exchange."""

    def set_event_sink(self, sink: EventSink) -> None:
        """Install the callback that receives every order event, in order."""
        ...

    async def connect(self) -> None:
        """Log in / start; raises :class:`BrokerError` with a clear reason."""
        ...

    async def close(self) -> None:
        """Stop; safe to call twice."""
        ...

    async def place(self, request: PlaceRequest) -> None:
        """Send a new order."""
        ...

    async def modify(self, request: ModifyRequest) -> None:
        """Change a working order."""
        ...

    async def cancel(self, client_order_id: ClientOrderId, venue_order_id: VenueOrderId | None
                     ) -> None:
        """Cancel a working order."""
        ...

    async def resume(self, open_orders: Sequence[Order]) -> None:
        """After a restart: bring orders the journal says are working back in line with the
        broker (the paper broker re-enters them in its book; a live broker reconciles)."""
        ...

    async def order_snapshots(self) -> list[BrokerOrderSnapshot]:
        """The broker's order book, for reconciliation."""
        ...
