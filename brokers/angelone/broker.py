"""The live Angel One adapter: :class:`AngelOneBroker` implements :class:`engine.broker.Broker`.

What it does with each call of the core:

* ``place``: the request becomes a placeOrder (variety NORMAL, or STOPLOSS for SL/SL-M; product,
  duration and exchange through :mod:`brokers.angelone.wire`; ``ordertag`` = the client order id).
  Angel's acceptance is emitted as :class:`~engine.orders.OrderAccepted` with Angel's order id.
  A definitive refusal (Angel said no, the rate limit or the session refused it, or the request
  could not be built) raises :class:`~engine.broker.BrokerRejectedError` with the reason, and the
  core journals the rejection. A lost answer: the REST client looks the order up by its tag; found,
  it is accepted like any other (it was not resent); not found, the call raises
  :class:`~engine.broker.BrokerOutcomeUnknownError` and the order stays in flight until the order
  stream or a reconciliation finds it (or, missing from the book ``unknown_grace_s`` later, it is
  rejected as never received: see :mod:`brokers.angelone.reconcile`).
* ``modify`` / ``cancel``: sent once with the full parameter set Angel wants. Angel's answer only
  means "request taken": the outcome (modified, cancelled, or refused by the exchange) arrives on
  the order-update stream or with the next reconciliation. A refusal raises
  :class:`~engine.broker.BrokerRejectedError` (the core emits ModifyRejected/CancelRejected); a
  lost answer raises :class:`~engine.broker.BrokerOutcomeUnknownError` and the order is settled
  by the next reconciliation.
* The order-update stream (:class:`~brokers.angelone.order_stream.AngelOrderStream`): every
  message becomes an :class:`~engine.orders.OrderUpdated` for its order; orders placed outside the
  cockpit are adopted as ``EXT<order id>``. Angel's messages carry the cumulative filled quantity,
  not trades, so when it grows the trade book is read (one read at a time, through the rate limit,
  retried a few times while the trades lag behind) and every new trade becomes an
  :class:`~engine.orders.OrderFilled` with Angel's ``fillid`` as the trade id.
* Reconciliation, every ``reconcile_every_s`` (every ``down_reconcile_s`` while the stream is
  down), after every reconnect of the order stream, after a refused or unanswered modify/cancel,
  and at ``resume``: the order book and the trade book become fills and reconciling reports
  stamped so that an older snapshot never undoes a newer fill (see
  :mod:`brokers.angelone.reconcile`).

Market data is separate (feed -> bus -> core): :attr:`AngelOneBroker.market_data` is an
:class:`~brokers.angelone.market.AngelMarketData` started and stopped with the broker; the app sets
its ``publish`` (``MarketBus.publish``), ``on_stale`` and ``on_gap`` before :meth:`connect`.

The broker owns neither the REST client's HTTP connections nor the core: :meth:`close` logs out
but leaves ``rest`` usable (close it with ``await rest.close()`` at exit). ``api_key`` is the
SmartAPI key the websockets present (the REST client keeps its credentials private).

Wiring in the app: construct the broker, set ``market_data.publish`` (and ``on_stale``/``on_gap``),
build the core with it, then ``broker.set_order_lookup(core.oms.get)`` so that the cockpit's own
orders of earlier runs in today's order book are recognised exactly (without it they are
recognised by the shape of their ids) and their known fills are not reported again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from brokers.angelone.errors import (
    AngelError,
    OrderOutcomeUnknown,
    WireError,
)
from brokers.angelone.feed import FeedStatus, WsCredentials
from brokers.angelone.market import AngelMarketData
from brokers.angelone.order_stream import (
    DEFAULT_ORDER_STREAM_URL,
    AngelOrderStream,
    OrderStreamState,
    OrderUpdate,
    default_price_scale,
)
from brokers.angelone.reconcile import (
    BrokerClock,
    OrderLookup,
    OrderTracker,
    TrackedOrder,
    TrackerStats,
    report_from_row,
    report_from_update,
)
from brokers.angelone.rest import AngelRestClient
from brokers.angelone.wire import ModifyRequest as WireModifyRequest
from brokers.angelone.wire import OrderRequest
from engine.broker import (
    BrokerError,
    BrokerOutcomeUnknownError,
    BrokerRejectedError,
    EventSink,
    ModifyRequest,
    PlaceRequest,
)
from engine.clock import NS_PER_SECOND, Clock
from engine.models import ClientOrderId, Instrument, VenueOrderId
from engine.oms import BrokerOrderSnapshot
from engine.orders import Order, OrderEvent

__all__ = ["DEFAULT_ORDER_STREAM_URL", "AngelBrokerStats", "AngelOneBroker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AngelBrokerStats:
    """Counters of the adapter (for the status bar and the log)."""

    connected: bool
    stream_status: FeedStatus
    stream_updates: int
    reconciliations: int
    reconcile_failures: int
    last_reconcile_ns: int
    last_reconcile_error: str
    trade_book_reads: int
    events_emitted: int
    sink_errors: int
    broker_skew_ns: int
    tracker: TrackerStats


class AngelOneBroker:
    """Angel One SmartAPI behind the :class:`engine.broker.Broker` protocol.

    ``rest`` is the REST client (its session manager logs in); ``order_stream_url`` and
    ``feed_url`` are the websocket endpoints (tests point them at 127.0.0.1); ``instruments`` maps
    tokens to instruments; ``clock`` is the cockpit's clock; ``api_key`` the SmartAPI key.
    ``order_lookup`` (optional, also :meth:`set_order_lookup`) is read access to the core's
    orders (``oms.get``): it tells which order-book tags are cockpit orders of an earlier run.
    ``unknown_grace_s``: how long an unanswered place may stay missing from the book before it is
    rejected as never received. ``clock_tolerance_s``: how far ahead of Angel's clock ours is
    assumed to be until Angel's stamps tell. ``stream_options`` go to
    :class:`~brokers.angelone.order_stream.AngelOrderStream`, ``feed_options`` to the market feed,
    ``market_data_options`` to :class:`~brokers.angelone.market.AngelMarketData`.
    """

    name = "angelone"
    is_live = True

    def __init__(
        self,
        rest: AngelRestClient,
        *,
        order_stream_url: str = DEFAULT_ORDER_STREAM_URL,
        feed_url: str,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        api_key: str,
        reconcile_every_s: float = 30.0,
        down_reconcile_s: float = 5.0,
        order_lookup: OrderLookup | None = None,
        unknown_grace_s: float = 60.0,
        clock_tolerance_s: float = 1.0,
        connect_timeout_s: float = 10.0,
        fill_retry_s: float = 1.0,
        fill_retries: int = 5,
        stream_options: Mapping[str, Any] | None = None,
        feed_options: Mapping[str, Any] | None = None,
        market_data_options: Mapping[str, Any] | None = None,
    ) -> None:
        for label, value in (
            ("reconcile_every_s", reconcile_every_s),
            ("down_reconcile_s", down_reconcile_s),
            ("connect_timeout_s", connect_timeout_s),
            ("fill_retry_s", fill_retry_s),
        ):
            if not value > 0:
                raise ValueError(f"{label} must be a positive number of seconds, got {value}")
        if fill_retries < 0:
            raise ValueError(f"fill_retries must be >= 0, got {fill_retries}")
        if not api_key.strip():
            raise ValueError("api_key must be the SmartAPI key (the websockets log in with it)")
        if not order_stream_url.startswith(("ws://", "wss://")):
            raise ValueError(
                f"order_stream_url must start with ws:// or wss://, got {order_stream_url!r}"
            )
        self._rest = rest
        self._order_stream_url = order_stream_url
        self._instruments = instruments
        self._clock = clock
        self._api_key = api_key.strip()
        self._every_s = reconcile_every_s
        self._down_every_s = min(down_reconcile_s, reconcile_every_s)
        self._connect_timeout_s = connect_timeout_s
        self._fill_retry_s = fill_retry_s
        self._fill_retries = fill_retries
        self._stream_options = dict(stream_options or {})
        self.broker_clock = BrokerClock(clock, clock_tolerance_s)
        self._tracker = OrderTracker(
            instruments=instruments,
            clock=clock,
            broker_clock=self.broker_clock,
            order_lookup=order_lookup,
            unknown_grace_s=unknown_grace_s,
        )
        self.market_data = AngelMarketData(
            rest,
            feed_url=feed_url,
            instruments=instruments,
            tokens_provider=self._ws_credentials,
            clock=clock,
            feed_options=feed_options,
            **dict(market_data_options or {}),
        )
        self._sink: EventSink | None = None
        self._stream: AngelOrderStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._stream_live = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile_wanted = asyncio.Event()
        self._fills_wanted = asyncio.Event()
        self._reconcile_lock = asyncio.Lock()
        self._connected = False
        self._fill_attempts = 0
        self._stream_updates = 0
        self._reconciliations = 0
        self._reconcile_failures = 0
        self._last_reconcile_ns = 0
        self._last_reconcile_error = ""
        self._trade_book_reads = 0
        self._events_emitted = 0
        self._sink_errors = 0

    # ---- wiring -----------------------------------------------------------------------------

    def set_event_sink(self, sink: EventSink) -> None:
        """Install the callback that receives every order event, in order."""
        self._sink = sink

    def set_order_lookup(self, lookup: OrderLookup | None) -> None:
        """Give the adapter read access to the core's orders (``oms.get``)."""
        self._tracker.order_lookup = lookup

    @property
    def connected(self) -> bool:
        """True between :meth:`connect` and :meth:`close`."""
        return self._connected

    def tracked(self, client_order_id: ClientOrderId) -> TrackedOrder | None:
        """What the adapter knows of an order (ids, parameters, fills seen)."""
        return self._tracker.get(client_order_id)

    def stream_state(self) -> OrderStreamState | None:
        """The order-update stream's state (``None`` before :meth:`connect`)."""
        return self._stream.state() if self._stream is not None else None

    def stats(self) -> AngelBrokerStats:
        """The adapter's counters."""
        tracker = self._tracker.stats
        return AngelBrokerStats(
            connected=self._connected,
            stream_status=self._stream.status if self._stream is not None else FeedStatus.STOPPED,
            stream_updates=self._stream_updates,
            reconciliations=self._reconciliations,
            reconcile_failures=self._reconcile_failures,
            last_reconcile_ns=self._last_reconcile_ns,
            last_reconcile_error=self._last_reconcile_error,
            trade_book_reads=self._trade_book_reads,
            events_emitted=self._events_emitted,
            sink_errors=self._sink_errors,
            broker_skew_ns=self.broker_clock.skew_ns,
            tracker=dataclasses.replace(tracker),
        )

    # ---- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Log in, start the order-update stream, the reconciliation loop and the market data.

        Waits up to ``connect_timeout_s`` for the order stream to be LIVE (it keeps trying in the
        background after that; reconciliation covers the gap). Raises :class:`BrokerError` when
        the login fails or the stream cannot run at all (e.g. too many connections).
        """
        if self._connected:
            return
        try:
            await self._rest.auth.ensure_session()
        except AngelError as exc:
            raise BrokerError(f"Angel One login failed: {exc}") from None
        stream = AngelOrderStream(
            self._order_stream_url,
            self._ws_credentials,
            on_update=self._on_stream_update,
            on_state=self._on_stream_state,
            on_reconnect=self._on_stream_reconnect,
            clock=self._clock,
            price_scale_for=self._price_scale,
            **self._stream_options,
        )
        self._stream = stream
        self._stream_live.clear()
        task = asyncio.create_task(stream.run(), name="angel-order-stream")
        self._stream_task = task
        live = asyncio.create_task(self._stream_live.wait())
        try:
            await asyncio.wait(
                [task, live], timeout=self._connect_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            live.cancel()
        if task.done():
            failure = task.exception() if not task.cancelled() else None
            self._stream, self._stream_task = None, None
            raise BrokerError(f"the Angel One order-update stream could not start: {failure}")
        if stream.status is not FeedStatus.LIVE:
            log.warning(
                "the Angel One order-update stream is not connected after %.0f s; it keeps "
                "trying, and orders are reconciled from the order book meanwhile",
                self._connect_timeout_s,
            )
        self._connected = True
        self._tasks = [
            asyncio.create_task(self._reconcile_loop(), name="angel-reconcile"),
            asyncio.create_task(self._fill_loop(), name="angel-fills"),
        ]
        self._reconcile_wanted.set()
        await self.market_data.start()

    async def close(self) -> None:
        """Stop the loops, the order stream and the market data, then log out. Safe twice."""
        if not self._connected and self._stream is None:
            return
        self._connected = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stream, self._stream = self._stream, None
        stream_task, self._stream_task = self._stream_task, None
        if stream is not None:
            await stream.stop()
        if stream_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await stream_task
        await self.market_data.stop()
        await self._rest.auth.logout()

    # ---- orders -----------------------------------------------------------------------------

    async def place(self, request: PlaceRequest) -> None:
        """Send a new order once; see the module docstring for the outcomes."""
        coid = request.client_order_id
        if not self._connected:
            raise BrokerRejectedError(
                f"order {coid} was not sent: the Angel One broker is not connected"
            )
        instrument = self._instruments.get(request.token)
        if instrument is None:
            raise BrokerRejectedError(
                f"order {coid} was not sent: instrument token {request.token!r} is not in the "
                "Angel One instrument master"
            )
        wire = OrderRequest(
            client_order_id=coid,
            instrument=instrument,
            side=request.side,
            qty=request.qty,
            order_type=request.order_type,
            product=request.product,
            validity=request.validity,
            price=request.price,
            trigger_price=request.trigger_price,
            disclosed_qty=request.disclosed_qty,
        )
        try:
            self._tracker.start_place(request)
        except ValueError as exc:
            # Sent before (an app bug if it happens): never twice, and the order is whatever
            # Angel has, so it is left to reconciliation rather than called rejected.
            self._reconcile_wanted.set()
            raise BrokerOutcomeUnknownError(str(exc)) from None
        sent_ns = self._clock.now_ns()
        try:
            placed = await self._rest.place_order(wire)
        except OrderOutcomeUnknown as exc:
            self._tracker.place_unknown(coid)
            self._reconcile_wanted.set()
            raise BrokerOutcomeUnknownError(str(exc)) from None
        except WireError as exc:
            self._tracker.place_refused(coid)
            raise BrokerRejectedError(f"order {coid} was not sent: {exc}") from None
        except AngelError as exc:
            self._tracker.place_refused(coid)
            raise BrokerRejectedError(str(exc)) from None
        except asyncio.CancelledError:
            self._tracker.place_unknown(coid)
            raise
        except Exception as exc:
            self._tracker.place_unknown(coid)
            self._reconcile_wanted.set()
            log.exception("placing order %s failed unexpectedly", coid)
            raise BrokerOutcomeUnknownError(
                f"placing order {coid} failed unexpectedly ({type(exc).__name__}: {exc}); it may "
                "have reached Angel One and was NOT resent: it is reconciled from the order book"
            ) from None
        if placed.found_by_lookup:
            log.info("order %s: answer lost, found in the order book as %s", coid, placed.order_id)
        self._emit([self._tracker.placed(coid, placed.order_id, sent_ns)])

    async def modify(self, request: ModifyRequest) -> None:
        """Send a modify once (the full parameter set, with the unchanged values kept)."""
        coid = request.client_order_id
        track, venue, instrument = self._for_change(coid, request.venue_order_id, "modified")
        if track.order_type is None or track.product is None:
            raise BrokerRejectedError(
                f"order {coid} cannot be modified from the cockpit: its order type or product "
                "has no counterpart here; modify it in Angel One's own app"
            )
        wire = WireModifyRequest(
            order_id=venue,
            instrument=instrument,
            qty=request.qty if request.qty is not None else track.qty,
            order_type=track.order_type,
            product=track.product,
            validity=track.validity,
            price=request.price if request.price is not None else track.price,
            trigger_price=(
                request.trigger_price if request.trigger_price is not None else track.trigger_price
            ),
            variety=track.change_variety,
        )
        sent_ns = self._clock.now_ns()
        await self._send_change(
            track, lambda: self._rest.modify_order(wire), f"modifying order {coid}"
        )
        self._tracker.change_sent(track, sent_ns, request.qty, request.price, request.trigger_price)

    async def cancel(
        self, client_order_id: ClientOrderId, venue_order_id: VenueOrderId | None
    ) -> None:
        """Send a cancel once."""
        track, venue, _ = self._for_change(client_order_id, venue_order_id, "cancelled")
        variety = track.change_variety
        await self._send_change(
            track,
            lambda: self._rest.cancel_order(venue, variety),
            f"cancelling order {client_order_id}",
        )

    def _for_change(
        self, coid: ClientOrderId, venue_order_id: VenueOrderId | None, verb: str
    ) -> tuple[TrackedOrder, str, Instrument]:
        if not self._connected:
            raise BrokerRejectedError(
                f"order {coid} cannot be {verb}: the Angel One broker is not connected"
            )
        track = self._tracker.get(coid)
        if track is None and venue_order_id is not None:
            track = self._tracker.by_venue(venue_order_id)
        if track is None:
            raise BrokerRejectedError(
                f"order {coid} cannot be {verb}: the Angel One adapter does not know it (it was "
                "not placed, resumed or found in the order book in this session)"
            )
        venue = track.venue_order_id or venue_order_id
        if venue is None:
            raise BrokerRejectedError(
                f"order {coid} cannot be {verb} yet: Angel One has not confirmed it (no order "
                "id); it will be once the order stream or a reconciliation finds it"
            )
        instrument = self._instruments.get(track.token)
        if instrument is None:
            raise BrokerRejectedError(
                f"order {coid} cannot be {verb}: instrument token {track.token!r} is not in the "
                "instrument master"
            )
        return track, str(venue), instrument

    async def _send_change(
        self,
        track: TrackedOrder,
        send: Callable[[], Awaitable[object]],
        what: str,
    ) -> None:
        try:
            await send()
        except OrderOutcomeUnknown as exc:
            self._tracker.change_unknown(track)
            self._reconcile_wanted.set()
            raise BrokerOutcomeUnknownError(str(exc)) from None
        except AngelError as exc:
            # Refused: the order may have finished meanwhile; the book says what it is now.
            self._reconcile_wanted.set()
            raise BrokerRejectedError(str(exc)) from None
        except asyncio.CancelledError:
            self._tracker.change_unknown(track)
            raise
        except Exception as exc:
            self._unexpected(track, what, exc)
        if self._stream is None or self._stream.status is not FeedStatus.LIVE:
            self._reconcile_wanted.set()

    def _unexpected(self, track: TrackedOrder, what: str, exc: Exception) -> NoReturn:
        self._tracker.change_unknown(track)
        self._reconcile_wanted.set()
        log.exception("%s failed unexpectedly", what)
        raise BrokerOutcomeUnknownError(
            f"{what} failed unexpectedly ({type(exc).__name__}: {exc}); it was NOT resent and "
            "the order is reconciled from the order book"
        ) from None

    # ---- reconciliation ---------------------------------------------------------------------

    async def resume(self, open_orders: Sequence[Order]) -> None:
        """Follow the journal's working orders and reconcile them with the order book now.

        When the book cannot be read, the failure is logged and the reconciliation loop retries
        (the orders stay as the journal says until then)."""
        for order in open_orders:
            self._tracker.resume(order)
        try:
            await self.reconcile_now()
        except BrokerError as exc:
            log.warning("reconciling resumed orders failed (%s); retrying shortly", exc)
            self._reconcile_wanted.set()

    async def order_snapshots(self) -> list[BrokerOrderSnapshot]:
        """Angel's order book as OMS snapshots (rows whose product or order type has no
        counterpart here are left out). Each is stamped with its ``updatetime`` or, when later,
        the earliest Angel time at which the book was asked for."""
        requested = self._clock.now_ns()
        try:
            rows = await self._rest.order_book()
        except AngelError as exc:
            raise BrokerError(f"reading Angel One's order book failed: {exc}") from None
        as_of = self.broker_clock.earliest(requested)
        snapshots = []
        for row in rows:
            report = report_from_row(row)
            snapshot = report.snapshot(max(report.stamp_ns, as_of))
            if snapshot is not None:
                snapshots.append(snapshot)
        return snapshots

    async def reconcile_now(self) -> None:
        """One reconciliation: read the order book and the trade book, emit what is new.
        Raises :class:`BrokerError` when either cannot be read."""
        async with self._reconcile_lock:
            requested = self._clock.now_ns()
            try:
                rows = await self._rest.order_book()
                trades = await self._rest.trade_book()
            except AngelError as exc:
                self._reconcile_failures += 1
                self._last_reconcile_error = str(exc)
                raise BrokerError(f"reconciliation with Angel One failed: {exc}") from None
            self._trade_book_reads += 1
            received = self._clock.now_ns()
            events = self._tracker.on_book(
                [report_from_row(row) for row in rows],
                trades,
                requested_ns=requested,
                received_ns=received,
            )
            self._reconciliations += 1
            self._last_reconcile_ns = received
            self._last_reconcile_error = ""
            self._emit(events)

    async def _reconcile_loop(self) -> None:
        failed = False
        while True:
            live = self._stream is not None and self._stream.status is FeedStatus.LIVE
            wait_s = self._every_s if live and not failed else self._down_every_s
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races
            # with the event being set, and close() would then wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._reconcile_wanted.wait()
            self._reconcile_wanted.clear()
            try:
                await self.reconcile_now()
            except BrokerError as exc:
                failed = True
                log.warning("%s; retrying in %.0f s", exc, self._down_every_s)
            except Exception:
                failed = True
                log.exception("reconciliation failed unexpectedly")
            else:
                failed = False

    async def _fill_loop(self) -> None:
        while True:
            await self._fills_wanted.wait()
            self._fills_wanted.clear()
            try:
                trades = await self._rest.trade_book()
            except AngelError as exc:
                log.warning("reading the trade book for new fills failed: %s", exc)
            except Exception:
                log.exception("reading the trade book for new fills failed unexpectedly")
            else:
                self._trade_book_reads += 1
                self._emit(self._tracker.on_trades(trades))
            if self._tracker.fills_missing() and self._fill_attempts < self._fill_retries:
                self._fill_attempts += 1
                await asyncio.sleep(self._fill_retry_s)
                self._fills_wanted.set()

    # ---- order stream -----------------------------------------------------------------------

    async def _ws_credentials(self) -> WsCredentials:
        session = await self._rest.auth.ensure_session()
        return WsCredentials(
            session.jwt_token, session.feed_token, self._api_key, self._rest.auth.client_code
        )

    def _price_scale(self, exchange: str, token: str) -> int:
        instrument = self._instruments.get(token)
        return (
            instrument.price_scale
            if instrument is not None
            else default_price_scale(exchange, token)
        )

    def _on_stream_update(self, update: OrderUpdate) -> None:
        self._stream_updates += 1
        report = report_from_update(update, self._price_scale(update.exchange, update.token))
        before = self._tracker.by_venue(report.venue_order_id)
        filled_before = before.reported_filled if before is not None else 0
        self._emit(self._tracker.on_update(report, self._clock.now_ns()))
        track = self._tracker.by_venue(report.venue_order_id)
        if track is not None and report.filled_qty > filled_before and track.fills_missing:
            self._fill_attempts = 0
            self._fills_wanted.set()

    def _on_stream_state(self, state: OrderStreamState) -> None:
        if state.status is FeedStatus.LIVE:
            self._stream_live.set()
        else:
            self._stream_live.clear()

    def _on_stream_reconnect(self, down_since_ns: int, up_at_ns: int) -> None:
        log.info(
            "order-update stream back after %.1f s; reconciling orders from the order book",
            (up_at_ns - down_since_ns) / NS_PER_SECOND,
        )
        self._reconcile_wanted.set()

    # ---- events -----------------------------------------------------------------------------

    def _emit(self, events: Sequence[OrderEvent]) -> None:
        sink = self._sink
        for event in events:
            if sink is None:
                log.warning(
                    "no event sink installed; %s for %s dropped",
                    type(event).__name__,
                    event.client_order_id,
                )
                continue
            self._events_emitted += 1
            try:
                sink(event)
            except Exception:
                self._sink_errors += 1
                log.exception("the event sink failed on %s", type(event).__name__)
