"""Paper trading on a live feed: :class:`PaperLiveBroker` fills orders with
:class:`~engine.fills.LiveFillModel` against real quotes (``cockpit --paper --feed angelone``).

The broker is the :class:`~brokers.paper.PaperBroker` itself, trading in a different venue: instead
of the simulated market's matching books, :class:`LiveFillVenue` hands the orders to a
:class:`~engine.fills.LiveFillModel`. Both report the same :mod:`engine.book_events`, so everything
the paper broker does is reused unchanged: venue order ids (``P`` + 19 digits) and trade ids
(``PT`` + 19 digits), the translation of book events into :mod:`engine.orders` events (accepted
first, then fills, cancels, triggers, expiries, modify/cancel refusals with the model's reasons),
``resume`` after a restart (working orders re-enter the model, which estimates their queue afresh)
and the broker's order book for reconciliation. See :mod:`brokers.paper` for those rules and
:mod:`engine.fills` for how orders fill:

* a marketable order walks the live best-5 (or deeper) depth at once, level by level;
* a resting limit fills at its own price when the opposite side's depth reaches it, when the
  market trades through it, or from volume traded at its price after the estimated queue ahead;
* stops trigger on the live LTP; MARKET orders carry a protection price; optional slippage.

Market data reaches the broker from the session's core consumer: :meth:`PaperLiveBroker.on_quote`
(and :meth:`PaperLiveBroker.on_trade` for feeds with trade prints) for every event, in feed order.
Fills that a quote causes reach the event sink synchronously, before ``on_quote`` returns, stamped
with the broker's clock (when the quote was processed), not the exchange's timestamp.

When the venue takes orders is ``phase`` (default: the real NSE calendar; a closed market refuses
new orders, as the paper broker does); :meth:`PaperLiveBroker.expire_day_orders` ends the day's
orders (the session calls it when the market closes). Charges are the core's, as for every broker.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, cast

from brokers.paper import PaperBroker
from engine.book_events import BookEvent
from engine.calendar import default_calendar
from engine.clock import Clock, SessionPhase
from engine.fills import FillModelConfig, LiveFillModel
from engine.models import (
    Instrument,
    MarketEvent,
    OrderType,
    Quote,
    Side,
    TradePrint,
    Validity,
)
from engine.sim_config import USER_ACCOUNT

if TYPE_CHECKING:
    from engine.book import OrderBook
    from engine.simulator import SimulatedMarket

__all__ = ["LiveFillVenue", "PaperLiveBroker", "PaperVenue", "calendar_phase"]

AccountListener = Callable[[str, BookEvent], None]
"""``listener(token, event)``: what a venue calls for every event of the account's orders."""


class BookView(Protocol):
    """What the paper broker reads of one instrument's book."""

    @property
    def in_auction(self) -> bool:
        """True while the book collects orders for a call auction."""
        ...

    @property
    def instrument(self) -> Instrument:
        """The instrument the book trades."""
        ...

    def is_live(self, order_id: int) -> bool:
        """True while the order rests or waits for its trigger."""
        ...


class PaperVenue(Protocol):
    """The part of :class:`~engine.simulator.SimulatedMarket` that :class:`PaperBroker` uses.

    :class:`LiveFillVenue` implements it over a :class:`LiveFillModel`; both implementations are
    checked against it statically (see the end of this module).
    """

    @property
    def now_ns(self) -> int:
        """The venue's time now."""
        ...

    @property
    def phase(self) -> SessionPhase:
        """The session phase now."""
        ...

    @property
    def books(self) -> Mapping[str, BookView]:
        """The book of every tradable instrument, by token."""
        ...

    @property
    def tokens(self) -> Collection[str]:
        """Every token the venue knows (indices included)."""
        ...

    def set_account_listener(self, account: int, callback: AccountListener | None) -> None:
        """Report every later event of ``account``'s orders to ``callback``."""
        ...

    def submit(
        self,
        token: str,
        order_id: int,
        account: int,
        side: Side,
        qty: int,
        *,
        order_type: OrderType = OrderType.LIMIT,
        price: int = 0,
        trigger: int = 0,
        validity: Validity = Validity.DAY,
        disclosed_qty: int = 0,
    ) -> list[BookEvent]:
        """Enter a new order; returns what happened at once."""
        ...

    def modify(
        self,
        token: str,
        order_id: int,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger: int | None = None,
    ) -> list[BookEvent]:
        """Change a working order (``qty`` is the new total)."""
        ...

    def cancel(self, token: str, order_id: int) -> list[BookEvent]:
        """Cancel a working order."""
        ...


def calendar_phase(clock: Clock) -> Callable[[], SessionPhase]:
    """The real NSE session phase at ``clock``'s time (holidays and weekends CLOSED)."""
    calendar = default_calendar()
    return lambda: calendar.phase_at(clock.now_ns())


class _LiveBook:
    """One instrument as the paper broker sees it: its orders live in the fill model."""

    __slots__ = ("_instrument", "_model")

    def __init__(self, model: LiveFillModel, instrument: Instrument) -> None:
        self._model = model
        self._instrument = instrument

    @property
    def in_auction(self) -> bool:
        """Always False: the live-feed model has no call auction (pre-open orders are refused)."""
        return False

    @property
    def instrument(self) -> Instrument:
        """The instrument."""
        return self._instrument

    def is_live(self, order_id: int) -> bool:
        """True while the order rests or waits for its trigger in the fill model."""
        return self._model.is_live(order_id)


class _LiveBooks(Mapping[str, _LiveBook]):
    """Every tradable instrument of the master as a book view (made on demand: the Angel One
    master has ~200,000 rows)."""

    def __init__(self, model: LiveFillModel, instruments: Mapping[str, Instrument]) -> None:
        self._model = model
        self._instruments = instruments

    def __getitem__(self, token: str) -> _LiveBook:
        instrument = self._instruments.get(token)
        if instrument is None or not instrument.tradable:
            raise KeyError(token)
        return _LiveBook(self._model, instrument)

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        instrument = self._instruments.get(token)
        return instrument is not None and instrument.tradable

    def __iter__(self) -> Iterator[str]:
        return (token for token, inst in self._instruments.items() if inst.tradable)

    def __len__(self) -> int:
        return sum(1 for inst in self._instruments.values() if inst.tradable)


class LiveFillVenue:
    """A :class:`LiveFillModel` behind the venue interface the paper broker trades in.

    ``instruments`` maps tokens to instruments (the instrument master); an instrument is
    registered with the model when its first order arrives. ``phase`` says whether the market
    takes orders now. Quotes and trade prints go in with :meth:`on_quote` / :meth:`on_trade`; the
    events they cause go to the account listener, in order.
    """

    def __init__(
        self,
        model: LiveFillModel,
        instruments: Mapping[str, Instrument],
        *,
        clock: Clock,
        phase: Callable[[], SessionPhase],
    ) -> None:
        self.model = model
        self._instruments = instruments
        self._clock = clock
        self._phase = phase
        self._books = _LiveBooks(model, instruments)
        self._listener: AccountListener | None = None
        self._account: int | None = None

    @property
    def now_ns(self) -> int:
        """Wall-clock time now (ns)."""
        return self._clock.now_ns()

    @property
    def phase(self) -> SessionPhase:
        """The session phase now."""
        return self._phase()

    @property
    def books(self) -> Mapping[str, _LiveBook]:
        """A book view for every tradable instrument."""
        return self._books

    @property
    def tokens(self) -> Collection[str]:
        """Every token of the instrument master."""
        return self._instruments.keys()

    def set_account_listener(self, account: int, callback: AccountListener | None) -> None:
        """Report the events quotes cause to ``callback`` (one account: the model's)."""
        self._account = account if callback is not None else None
        self._listener = callback

    def _register(self, token: str) -> None:
        market = self.model.market(token)
        if market is None or market.instrument is None:
            instrument = self._instruments.get(token)
            if instrument is not None:
                self.model.add_instrument(instrument)

    def submit(
        self,
        token: str,
        order_id: int,
        account: int,
        side: Side,
        qty: int,
        *,
        order_type: OrderType = OrderType.LIMIT,
        price: int = 0,
        trigger: int = 0,
        validity: Validity = Validity.DAY,
        disclosed_qty: int = 0,
    ) -> list[BookEvent]:
        """Hand a new order to the fill model (disclosed quantity does not change paper fills)."""
        self._register(token)
        return self.model.submit(
            order_id,
            token,
            side,
            qty,
            order_type,
            price,
            trigger,
            validity,
            ts=self._clock.now_ns(),
        )

    def modify(
        self,
        token: str,
        order_id: int,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger: int | None = None,
    ) -> list[BookEvent]:
        """Change a working order in the fill model."""
        return self.model.modify(
            order_id, qty=qty, price=price, trigger=trigger, ts=self._clock.now_ns()
        )

    def cancel(self, token: str, order_id: int) -> list[BookEvent]:
        """Cancel a working order in the fill model."""
        return self.model.cancel(order_id, ts=self._clock.now_ns())

    def on_quote(self, quote: Quote) -> None:
        """One live quote: fills and triggers it causes go to the listener."""
        events = self.model.on_quote(quote)
        if events:
            self._deliver(quote.token, self._restamped(events))

    def on_trade(self, trade: TradePrint) -> None:
        """One live trade print: fills and triggers it causes go to the listener."""
        events = self.model.on_trade(trade)
        if events:
            self._deliver(trade.token, self._restamped(events))

    def _restamped(self, events: list[BookEvent]) -> list[BookEvent]:
        """Stamp events with the venue's clock (when we saw the quote), not the exchange's time:
        the paper account keeps one timeline (orders are stamped with this clock too), which a
        skewed or replayed exchange timestamp would otherwise run backwards."""
        now = self._clock.now_ns()
        for event in events:
            event.ts = now
        return events

    def expire_day_orders(self) -> None:
        """End of the session: every working order expires (events to the listener)."""
        # Expired events carry no token; the listener finds orders by their id.
        self._deliver("", self.model.expire_day_orders(self._clock.now_ns()))

    def _deliver(self, token: str, events: list[BookEvent]) -> None:
        listener = self._listener
        if listener is None:
            return
        for event in events:
            listener(token, event)


class PaperLiveBroker(PaperBroker):
    """The paper broker filling against a live feed (see the module docs).

    ``instruments`` maps tokens to instruments (the Angel One master); ``clock`` stamps orders and
    events; ``config`` sets the fill model (protection, MARKET remainder, slippage); ``rng`` drives
    slippage (seeded for reproducible runs); ``phase`` says when the market takes orders (default
    the real NSE calendar). ``account`` and ``id_offset`` are as for :class:`PaperBroker`.
    """

    name: str = "paper-live"
    is_live: bool = False

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        clock: Clock,
        config: FillModelConfig | None = None,
        rng: random.Random | None = None,
        phase: Callable[[], SessionPhase] | None = None,
        account: int = USER_ACCOUNT,
        id_offset: int | None = None,
    ) -> None:
        fill_config = config if config is not None else FillModelConfig(account=account)
        model = LiveFillModel(
            fill_config, rng=rng if rng is not None else random.Random(), clock=clock
        )
        venue = LiveFillVenue(
            model,
            instruments,
            clock=clock,
            phase=phase if phase is not None else calendar_phase(clock),
        )
        # The paper broker is typed against the simulated market; it uses only the PaperVenue
        # part of it, which LiveFillVenue implements (checked statically below).
        super().__init__(cast("SimulatedMarket", venue), account=account, id_offset=id_offset)
        self._venue = venue

    @property
    def venue(self) -> LiveFillVenue:
        """The live-feed venue (use this, not ``market``: there is no simulated market here)."""
        return self._venue

    @property
    def fill_model(self) -> LiveFillModel:
        """The fill model (read its state; change orders only through the broker)."""
        return self._venue.model

    def on_quote(self, quote: Quote) -> None:
        """A live quote: orders it fills or triggers are reported to the sink at once."""
        self._venue.on_quote(quote)

    def on_trade(self, trade: TradePrint) -> None:
        """A live trade print (feeds that have them)."""
        self._venue.on_trade(trade)

    def on_event(self, event: MarketEvent) -> None:
        """Any market event from the bus: a quote or a trade print."""
        if isinstance(event, Quote):
            self._venue.on_quote(event)
        else:
            self._venue.on_trade(event)

    def expire_day_orders(self) -> None:
        """The market closed: every working DAY order expires (``OrderExpired`` each)."""
        self._venue.expire_day_orders()


if TYPE_CHECKING:

    def _both_are_venues(sim: SimulatedMarket, live: LiveFillVenue) -> tuple[PaperVenue, ...]:
        """Static check: the simulated market and the live venue both satisfy PaperVenue."""
        return (sim, live)

    def _books_are_views(book: OrderBook, live: _LiveBook) -> tuple[BookView, ...]:
        """Static check: both book kinds satisfy BookView."""
        return (book, live)
