"""Paper fills against an external live feed: :class:`LiveFillModel`.

``cockpit --paper --feed angelone`` streams real Angel One quotes and fills paper orders locally.
Our orders cannot enter the real exchange book, so this model estimates what would have happened
to them from what the feed shows. It reports the same :data:`~engine.book_events.BookEvent` s as the
simulated exchange (:class:`engine.book.OrderBook`), so the paper broker treats both alike. Prices
are ``int`` price units, quantities ``int`` units, timestamps ``int`` ns.

The rules (see research/trading-semantics.md §1.3 and §6):

* **Taker fills walk the depth.** A MARKET order, or a LIMIT that reaches the opposite best, takes
  the displayed best-5 (or deeper) depth level by level, each level at its own price and up to its
  displayed size, never beyond the limit or the MARKET protection price (reference LTP +/-
  ``market_protection_bps``). Optionally a taker fill slips ``slippage_ticks`` worse with
  probability ``prob_slippage`` (seeded RNG), never beyond the limit/protection price. What is left
  rests (a MARKET remainder as a LIMIT at the protection price, as NSE/Zerodha do, or is cancelled:
  ``market_remainder``); IOC cancels it; FOK fills in full or is cancelled untouched.
* **Consumed liquidity.** Depth our fills took is not available again while its level shows the
  same size (:mod:`engine.fills_market`): two orders on one quote never fill against the same
  shares.
* **Resting orders fill only at their own limit price** (as the maker), in three ways, checked on
  every quote in price-time priority of our orders:

  1. the opposite side now shows depth at or through our price: in the real book that liquidity
     would have met our order first, so we fill up to its (unconsumed) size;
  2. the market traded *through* our price (a trade strictly better than our limit: the LTP after
     a new trade, a new session low/high, or a trade print): every order at our price must have
     filled, so we fill completely;
  3. trades *at* our price: at acceptance the queue ahead of us is the displayed size at our price
     on our side (0 if our price is better than the best or inside the displayed range with no
     level there; unknown if deeper than the displayed levels, until our level shows). Volume
     traded at our price (the rise in volume when the LTP equals our price, or prints at our price
     by the opposite side) first works off the queue ahead, then fills us, capped by that volume
     and shared in time priority by our orders at that price. A smaller displayed size at our level
     caps the queue ahead (nobody behind us can be ahead of us).

  A price change or a quantity increase by ``modify`` sends the order to the back of the queue
  (and a modified order that reaches the opposite side takes it as a taker); a decrease keeps its
  place.
* **Stops**: SL / SL-M wait until a trade reaches the trigger (buy: LTP or new high >= trigger;
  sell: LTP or new low <= trigger), then enter as LIMIT / MARKET (with protection at that moment).
  A stop whose trigger the LTP has already reached is rejected, as brokers do.
* **Validation** (tick, lot, freeze quantity, circuit band from the feed's upper/lower circuit,
  stop rules) rejects with the book's reasons. DAY orders expire at :meth:`expire_day_orders`.
  Charges are applied by the core, not here.
* **No depth known** (an LTP or Quote feed, or no data yet for the instrument): an order whose
  price reaches the LTP (every MARKET order, a buy limit at or above the LTP, a sell at or below
  it, any order before the first LTP) cannot see the liquidity it would take. It waits as a *blind
  taker*: the first quote with depth makes it arrive as a new order would (it walks that depth),
  and before that a new trade at or better than its price (LTP or print) fills it completely at
  that trade's price as the aggressor (with slippage as configured). Other orders follow the
  resting rules, with an unknown queue (they fill only when traded through). IOC and FOK orders
  find nothing to take there and are cancelled.

Fill events: our side is the order id and :attr:`FillModelConfig.account`; the market's side is
:data:`~engine.fills_config.MARKET_ORDER_ID` (0) and account 0, and its ``leaves`` is reported as 0
(unknown). A taker fill has our side as the aggressor, a resting fill the opposite side.

Limits of the estimate, said plainly: a snapshot feed does not say at which prices the volume
between two quotes traded, so it is all attributed to the LTP; fills on a feed without depth are
not capped by any liquidity we can see; and our orders never move the real market.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from engine.book_events import (
    Accepted,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    MarketRemainder,
    Modified,
    Rejected,
    Triggered,
)
from engine.clock import Clock
from engine.fills_config import MARKET_ACCOUNT, MARKET_ORDER_ID, FillModelConfig
from engine.fills_market import LiveMarket, QuoteUpdate
from engine.models import Instrument, OrderType, Quote, Side, TradePrint, Validity
from engine.money import format_price
from engine.order_rules import (
    not_live_reason,
    price_violation,
    qty_violation,
    stop_violation,
)

__all__ = ["MARKET_ORDER_ID", "FillModelConfig", "LiveFillModel", "LiveMarket"]

_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_SL = OrderType.SL
_SL_M = OrderType.SL_M
_DAY = Validity.DAY
_FOK = Validity.FOK
_BPS = 10_000
_NO_FREEZE = 1 << 62

_R_USER = "cancelled on request"
_R_IOC = "IOC: unfilled remainder cancelled"
_R_MKT = "MARKET: remainder beyond the protection price cancelled"


class _Order:
    """One live paper order: waiting for its trigger, or resting at ``price``."""

    __slots__ = (
        "ahead",
        "blind",
        "is_buy",
        "leaves",
        "oid",
        "order_type",
        "price",
        "qty",
        "rank",
        "token",
        "trigger",
        "validity",
        "waiting",
    )

    def __init__(
        self,
        oid: int,
        token: str,
        is_buy: bool,
        order_type: OrderType,
        qty: int,
        price: int,
        trigger: int,
        validity: Validity,
    ) -> None:
        self.oid = oid
        self.token = token
        self.is_buy = is_buy
        self.order_type = order_type
        self.qty = qty  # total quantity (filled = qty - leaves)
        self.leaves = qty
        self.price = price  # limit; 0 for MARKET / SL-M until entered (then the protection price)
        self.trigger = trigger
        self.validity = validity
        self.waiting = False  # a stop that has not triggered
        self.ahead: int | None = None  # estimated queue ahead; None = unknown
        self.blind = False  # rests as a taker that could not see the opposite side (see _enter)
        self.rank = 0  # time priority among resting orders (smaller = older)

    @property
    def side(self) -> Side:
        return _BUY if self.is_buy else _SELL


class LiveFillModel:
    """Fills paper orders against a live feed; see the module docs for the rules.

    ``rng`` drives the optional slippage (seed it for reproducible runs); ``clock`` stamps events
    of calls made without a ``ts`` and of quotes that carry no time. Instruments must be known
    (``instruments`` or :meth:`add_instrument`) before orders on them are accepted; quotes of any
    token are tracked.
    """

    def __init__(
        self,
        config: FillModelConfig | None = None,
        *,
        rng: random.Random,
        clock: Clock,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        """Create a model with no orders; ``instruments`` are registered at once."""
        self._cfg = config if config is not None else FillModelConfig()
        self._rng = rng
        self._clock = clock
        self._markets: dict[str, LiveMarket] = {}
        self._orders: dict[int, _Order] = {}  # every live order
        self._resting: dict[str, dict[int, _Order]] = {}  # per token, in time priority
        self._stops: dict[str, dict[int, _Order]] = {}  # per token, in arrival order
        self._next_trade = 1
        self._next_rank = 1
        for instrument in instruments:
            self.add_instrument(instrument)

    # -----------------------------------------------------------------------------------------
    # Set-up and read-only views

    @property
    def config(self) -> FillModelConfig:
        """The model's settings."""
        return self._cfg

    def add_instrument(self, instrument: Instrument) -> None:
        """Make ``instrument`` tradable here (its tick, lot and freeze rules apply to orders)."""
        if instrument.tick_size <= 0 or instrument.lot_size <= 0:
            raise ValueError(
                f"{instrument.key}: tick size {instrument.tick_size} and lot size "
                f"{instrument.lot_size} must both be positive"
            )
        market = self._markets.get(instrument.token)
        if market is None:
            self._markets[instrument.token] = LiveMarket(instrument.token, instrument)
        else:
            market.instrument = instrument

    def market(self, token: str) -> LiveMarket | None:
        """The merged live state of ``token`` (read it, do not change it); None if never seen."""
        return self._markets.get(token)

    def leaves(self, order_id: int) -> int:
        """Open qty still working (resting or waiting for its trigger); 0 if not live."""
        order = self._orders.get(order_id)
        return order.leaves if order is not None else 0

    def is_live(self, order_id: int) -> bool:
        """True while the order rests or waits for its trigger."""
        return order_id in self._orders

    def live_order_ids(self) -> list[int]:
        """Ids of all live orders, in the order they were submitted."""
        return list(self._orders)

    def queue_ahead(self, order_id: int) -> int | None:
        """Estimated quantity ahead of a resting order at its price; None if unknown or not resting.

        A waiting stop has no queue position (None).
        """
        order = self._orders.get(order_id)
        if order is None or order.waiting:
            return None
        return order.ahead

    def limit_price(self, order_id: int) -> int:
        """The price a live order works at: its limit, or a MARKET remainder's protection price.

        0 for an order that is not live and for a waiting SL-M (it has no price until triggered).
        """
        order = self._orders.get(order_id)
        return order.price if order is not None else 0

    # -----------------------------------------------------------------------------------------
    # Orders

    def submit(
        self,
        order_id: int,
        token: str,
        side: Side,
        qty: int,
        order_type: OrderType = _LIMIT,
        price: int = 0,
        trigger: int = 0,
        validity: Validity = _DAY,
        ts: int | None = None,
    ) -> list[BookEvent]:
        """Submit a new order; returns what happened (Accepted/Rejected/Fill/Cancelled).

        A marketable order fills at once against the last known depth; ``Accepted`` is reported
        when (part of) it rests or when a stop starts waiting for its trigger.
        """
        now = self._now(ts)
        reason = self._validate(order_id, token, side, qty, order_type, price, trigger, validity)
        if reason:
            return [Rejected(order_id, reason, now)]
        market = self._markets[token]
        order = _Order(order_id, token, side is _BUY, order_type, qty, price, trigger, validity)
        if order_type is _SL or order_type is _SL_M:
            order.waiting = True
            self._orders[order_id] = order
            self._stops.setdefault(token, {})[order_id] = order
            return [Accepted(order_id, now)]
        events: list[BookEvent] = []
        is_market = order_type is _MARKET
        limit = self._protection_price(market, order.is_buy) if is_market else price
        self._enter(order, market, limit, is_market, now, events, announce=True)
        return events

    def cancel(self, order_id: int, ts: int | None = None) -> list[BookEvent]:
        """Cancel a live order; an unknown or finished id gets ``[Rejected]``."""
        now = self._now(ts)
        order = self._orders.get(order_id)
        if order is None:
            return [Rejected(order_id, _not_live(order_id), now)]
        self._drop(order)
        return [Cancelled(order_id, order.leaves, _R_USER, now)]

    def modify(
        self,
        order_id: int,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger: int | None = None,
        ts: int | None = None,
    ) -> list[BookEvent]:
        """Change a live order's total qty, price or trigger.

        ``qty`` is the new TOTAL quantity and must exceed what has already filled. A price change
        or a quantity increase sends a resting order to the back of the queue (and if it now reaches
        the opposite side it takes that depth at once); a decrease keeps its place. Only a waiting
        SL / SL-M takes a new trigger.
        """
        now = self._now(ts)
        if qty is None and price is None and trigger is None:
            return [Rejected(order_id, "modify needs a new qty, price or trigger", now)]
        order = self._orders.get(order_id)
        if order is None:
            return [Rejected(order_id, _not_live(order_id), now)]
        market = self._markets[order.token]
        inst = market.instrument
        assert inst is not None  # orders exist only on registered instruments
        filled = order.qty - order.leaves
        if qty is not None:
            reason = _check_qty(inst, qty)
            if not reason and qty <= filled:
                reason = (
                    f"new qty {qty} must exceed the {filled} already filled; "
                    f"cancel the order instead"
                )
            if reason:
                return [Rejected(order_id, reason, now)]
        if order.waiting:
            return self._modify_stop(order, market, inst, qty, price, trigger, now)
        if trigger is not None:
            return [
                Rejected(
                    order_id,
                    f"order {order_id} is not waiting for a trigger; only SL / SL-M orders that "
                    f"have not triggered take a trigger",
                    now,
                )
            ]
        if price is not None:
            reason = _check_price(inst, market, "price", price)
            if reason:
                return [Rejected(order_id, reason, now)]
        old_qty = order.qty
        new_qty = old_qty if qty is None else qty
        new_price = order.price if price is None else price
        order.leaves += new_qty - old_qty
        order.qty = new_qty
        events: list[BookEvent] = [Modified(order_id, new_qty, new_price, 0, now)]
        if new_price == order.price and new_qty <= old_qty:
            return events  # keeps its place in the queue
        # Back of the queue: out, and in again as a new arrival (a DAY limit: it rests).
        self._drop(order)
        order.validity = _DAY
        self._enter(order, market, new_price, False, now, events, announce=False)
        return events

    def expire_day_orders(self, ts: int | None = None) -> list[BookEvent]:
        """End of session: every live order expires (resting ones first, then waiting stops)."""
        now = self._now(ts)
        orders = list(self._orders.values())
        events: list[BookEvent] = [Expired(o.oid, o.leaves, now) for o in orders if not o.waiting]
        events.extend(Expired(o.oid, o.leaves, now) for o in orders if o.waiting)
        self._orders.clear()
        self._resting.clear()
        self._stops.clear()
        return events

    # -----------------------------------------------------------------------------------------
    # Market data

    def on_quote(self, quote: Quote) -> list[BookEvent]:
        """Take one live quote: fill resting orders it reaches, trigger stops; return the events."""
        token = quote.token
        market = self._markets.get(token)
        if market is None:
            market = self._markets[token] = LiveMarket(token)
        update = market.apply_quote(quote)
        resting = self._resting.get(token)
        stops = self._stops.get(token)
        if not resting and not stops:
            return []
        now = quote.exchange_ts or quote.ts or self._clock.now_ns()
        events: list[BookEvent] = []
        if resting:
            self._work_resting(market, resting, update, now, events)
        if stops and quote.ltp:
            high = max(quote.ltp, update.new_high)
            low = min(quote.ltp, update.new_low) if update.new_low else quote.ltp
            self._trigger_stops(market, stops, high, low, now, events)
        return events

    def on_trade(self, trade: TradePrint) -> list[BookEvent]:
        """Take one trade print (feeds that have them): through / at-price fills and triggers."""
        token = trade.token
        market = self._markets.get(token)
        if market is None:
            market = self._markets[token] = LiveMarket(token)
        market.apply_trade(trade)
        resting = self._resting.get(token)
        stops = self._stops.get(token)
        if not resting and not stops:
            return []
        now = trade.ts or self._clock.now_ns()
        events: list[BookEvent] = []
        price = trade.price
        if resting:
            flow = trade.qty
            for order in self._by_priority(resting):
                limit = order.price
                if order.blind and (price <= limit if order.is_buy else price >= limit):
                    self._taker_fill(order, market, price, limit, order.leaves, now, events)
                    self._drop(order)
                elif price < limit if order.is_buy else price > limit:
                    self._maker_fill(order, order.leaves, now, events)
                elif price == limit and trade.aggressor is not order.side:
                    flow -= self._fill_from_flow(order, flow, now, events)
        if stops:
            self._trigger_stops(market, stops, price, price, now, events)
        return events

    # -----------------------------------------------------------------------------------------
    # Internals: entering orders

    def _enter(
        self,
        order: _Order,
        market: LiveMarket,
        limit: int,
        is_market: bool,
        now: int,
        events: list[BookEvent],
        *,
        announce: bool,
    ) -> None:
        """Enter a validated order: take the depth it reaches, then rest or cancel the rest.

        ``announce`` reports ``Accepted`` if the order comes to rest (new orders only).
        """
        oid = order.oid
        is_buy = order.is_buy
        if order.validity is _FOK:
            available = market.available(is_buy, limit)
            if available < order.leaves:
                self._drop(order)
                events.append(
                    Cancelled(
                        oid,
                        order.leaves,
                        f"FOK: only {available} of {order.leaves} could fill at once at "
                        f"{_fmt(market, limit)} or better; cancelled in full",
                        now,
                    )
                )
                return
        if market.has_depth:
            for level_price, qty in market.take(is_buy, limit, order.leaves):
                self._taker_fill(order, market, level_price, limit, qty, now, events)
        leaves = order.leaves
        if not leaves:
            self._drop(order)
            return
        if order.validity is not _DAY:
            self._drop(order)
            events.append(Cancelled(oid, leaves, _R_IOC, now))
            return
        if is_market and self._cfg.market_remainder is MarketRemainder.CANCEL:
            self._drop(order)
            events.append(Cancelled(oid, leaves, _R_MKT, now))
            return
        if announce:
            events.append(Accepted(oid, now))
        order.price = limit
        order.waiting = False
        order.ahead = market.queue_ahead(is_buy, limit, None)
        # No depth known at all (an LTP or Quote feed, or no data yet): an order whose price
        # reaches the LTP would have taken liquidity we cannot see. It waits as a "blind taker".
        ltp = market.ltp
        order.blind = not market.has_depth and (
            is_market or not ltp or (limit >= ltp if is_buy else limit <= ltp)
        )
        order.rank = self._next_rank
        self._next_rank += 1
        self._orders[oid] = order
        self._resting.setdefault(order.token, {})[oid] = order

    def _taker_fill(
        self,
        order: _Order,
        market: LiveMarket,
        price: int,
        limit: int,
        qty: int,
        now: int,
        events: list[BookEvent],
    ) -> None:
        """Fill ``qty`` of ``order`` as the aggressor at ``price`` (maybe slipped, within limit).

        The caller removes a filled order from the registries (or never registered it).
        """
        order.leaves -= qty
        events.append(
            Fill(
                self._trade_id(),
                self._slipped(market, price, limit, order.is_buy),
                qty,
                order.side,
                MARKET_ORDER_ID,
                order.oid,
                MARKET_ACCOUNT,
                self._cfg.account,
                0,
                order.leaves,
                now,
            )
        )

    def _slipped(self, market: LiveMarket, price: int, limit: int, is_buy: bool) -> int:
        """``price``, or with probability ``prob_slippage`` a few ticks worse (never past limit)."""
        cfg = self._cfg
        if cfg.prob_slippage <= 0.0 or not cfg.slippage_ticks:
            return price
        if self._rng.random() >= cfg.prob_slippage:
            return price
        inst = market.instrument
        tick = inst.tick_size if inst is not None else 1
        shift = cfg.slippage_ticks * tick
        if is_buy:
            return min(price + shift, limit)
        return max(price - shift, limit)

    def _protection_price(self, market: LiveMarket, is_buy: bool) -> int:
        """A MARKET order's limit: reference +/- protection, inward to the tick, within the band."""
        inst = market.instrument
        assert inst is not None
        ref = market.reference(is_buy)
        bps = self._cfg.market_protection_bps
        tick = inst.tick_size
        lower, upper = market.band
        if is_buy:
            price = ref * (_BPS + bps) // _BPS
            price -= price % tick
            if upper and price > upper:
                price = upper
            return max(price, tick)
        price = -(-ref * (_BPS - bps) // _BPS)
        price = -(-price // tick) * tick
        if lower and price < lower:
            price = lower
        return max(price, tick)

    # -----------------------------------------------------------------------------------------
    # Internals: resting orders and stops

    def _by_priority(self, resting: dict[int, _Order]) -> list[_Order]:
        """Our resting orders as the real book would meet them: best price first, then oldest."""
        return sorted(
            resting.values(),
            key=lambda o: (not o.is_buy, -o.price if o.is_buy else o.price, o.rank),
        )

    def _work_resting(
        self,
        market: LiveMarket,
        resting: dict[int, _Order],
        update: QuoteUpdate,
        now: int,
        events: list[BookEvent],
    ) -> None:
        """Fill resting orders a quote reaches (crossed depth, trade-through, trades at price)."""
        ltp = market.ltp
        flow = update.flow
        for order in self._by_priority(resting):
            limit = order.price
            is_buy = order.is_buy
            if order.blind:
                if update.depth:
                    # Depth at last: the blind taker arrives now, as a new order would.
                    order.blind = False
                    for level_price, qty in market.take(is_buy, limit, order.leaves):
                        self._taker_fill(order, market, level_price, limit, qty, now, events)
                    if not order.leaves:
                        self._drop(order)
                    else:
                        order.ahead = market.queue_ahead(is_buy, limit, None)
                    continue
                if update.new_trade and ltp and (ltp <= limit if is_buy else ltp >= limit):
                    # A trade at or better than our price: we would have been filled there.
                    self._taker_fill(order, market, ltp, limit, order.leaves, now, events)
                    self._drop(order)
                    continue
            if update.depth:
                taken = sum(qty for _, qty in market.take(is_buy, limit, order.leaves))
                if taken:
                    order.ahead = 0
                    self._maker_fill(order, taken, now, events)
                    if not order.leaves:
                        continue
            if update.through(is_buy, limit, ltp):
                self._maker_fill(order, order.leaves, now, events)
                continue
            if flow and ltp == limit:
                flow -= self._fill_from_flow(order, flow, now, events)
                if not order.leaves:
                    continue
            if update.depth:
                order.ahead = market.queue_ahead(is_buy, limit, order.ahead)

    def _fill_from_flow(self, order: _Order, flow: int, now: int, events: list[BookEvent]) -> int:
        """Volume ``flow`` traded at the order's price: work off the queue, then fill; returns
        the quantity filled (the flow used up by our order)."""
        ahead = order.ahead
        if ahead is None or flow <= 0:
            return 0  # queue position unknown: no fill on volume alone
        if ahead >= flow:
            order.ahead = ahead - flow
            return 0
        order.ahead = 0
        qty = min(order.leaves, flow - ahead)
        self._maker_fill(order, qty, now, events)
        return qty

    def _maker_fill(self, order: _Order, qty: int, now: int, events: list[BookEvent]) -> None:
        """Fill ``qty`` of a resting order at its own price (it is the maker)."""
        order.leaves -= qty
        events.append(
            Fill(
                self._trade_id(),
                order.price,
                qty,
                order.side.opposite,
                order.oid,
                MARKET_ORDER_ID,
                self._cfg.account,
                MARKET_ACCOUNT,
                order.leaves,
                0,
                now,
            )
        )
        if not order.leaves:
            self._drop(order)

    def _trigger_stops(
        self,
        market: LiveMarket,
        stops: dict[int, _Order],
        high: int,
        low: int,
        now: int,
        events: list[BookEvent],
    ) -> None:
        """Trigger stops that trades between ``low`` and ``high`` reached; enter them in order.

        Buy stops go first (lowest trigger, then oldest), then sell stops (highest trigger first).
        """
        buys = sorted(
            (o for o in stops.values() if o.is_buy and o.trigger <= high), key=lambda o: o.trigger
        )
        sells = sorted(
            (o for o in stops.values() if not o.is_buy and o.trigger >= low),
            key=lambda o: -o.trigger,
        )
        for order in (*buys, *sells):
            del stops[order.oid]
            order.waiting = False
            events.append(Triggered(order.oid, now))
            if order.order_type is _SL:
                lower, upper = market.band
                if upper and not lower <= order.price <= upper:
                    del self._orders[order.oid]
                    events.append(
                        Cancelled(
                            order.oid,
                            order.leaves,
                            f"SL limit price {_fmt(market, order.price)} is outside the circuit "
                            f"band {_fmt(market, lower)}-{_fmt(market, upper)} at trigger",
                            now,
                        )
                    )
                    continue
                self._enter(order, market, order.price, False, now, events, announce=False)
            else:
                limit = self._protection_price(market, order.is_buy)
                self._enter(order, market, limit, True, now, events, announce=False)

    def _modify_stop(
        self,
        order: _Order,
        market: LiveMarket,
        inst: Instrument,
        qty: int | None,
        price: int | None,
        trigger: int | None,
        now: int,
    ) -> list[BookEvent]:
        oid = order.oid
        if price is not None:
            if order.order_type is _SL_M:
                return [Rejected(oid, f"order {oid} is SL-M and has no limit price to modify", now)]
            reason = _check_price(inst, market, "price", price)
            if reason:
                return [Rejected(oid, reason, now)]
        if trigger is not None:
            reason = _check_price(inst, market, "trigger", trigger)
            if reason:
                return [Rejected(oid, reason, now)]
        new_price = order.price if price is None else price
        new_trigger = order.trigger if trigger is None else trigger
        if price is not None or trigger is not None:
            reason = _check_stop(market, order.is_buy, order.order_type, new_price, new_trigger)
            if reason:
                return [Rejected(oid, reason, now)]
        if qty is not None:
            order.leaves = order.qty = qty
        order.price = new_price
        order.trigger = new_trigger
        return [Modified(oid, order.qty, new_price, new_trigger, now)]

    # -----------------------------------------------------------------------------------------
    # Internals: bookkeeping and validation

    def _drop(self, order: _Order) -> None:
        """Forget a live order (filled, cancelled or leaving the queue to re-enter)."""
        oid = order.oid
        self._orders.pop(oid, None)
        resting = self._resting.get(order.token)
        if resting is not None:
            resting.pop(oid, None)
        stops = self._stops.get(order.token)
        if stops is not None:
            stops.pop(oid, None)

    def _trade_id(self) -> int:
        trade_id = self._next_trade
        self._next_trade = trade_id + 1
        return trade_id

    def _now(self, ts: int | None) -> int:
        return self._clock.now_ns() if ts is None else ts

    def _validate(
        self,
        order_id: int,
        token: str,
        side: Side,
        qty: int,
        order_type: OrderType,
        price: int,
        trigger: int,
        validity: Validity,
    ) -> str:
        """Return why an order is rejected, or "" when it is valid."""
        if order_id <= MARKET_ORDER_ID:
            return (
                f"order id {order_id} must be a positive integer "
                f"({MARKET_ORDER_ID} stands for the market's side of a fill)"
            )
        if order_id in self._orders:
            return f"order id {order_id} is already live; order ids must be unique"
        market = self._markets.get(token)
        inst = market.instrument if market is not None else None
        if market is None or inst is None:
            return f"unknown instrument token {token!r}; add the instrument before trading it"
        if not inst.tradable:
            return f"{inst.key} is an index and cannot be traded"
        if not isinstance(side, Side):
            return f"side {side!r} must be Side.BUY or Side.SELL"
        if not isinstance(order_type, OrderType):
            return f"order type {order_type!r} must be an OrderType (LIMIT, MARKET, SL or SL-M)"
        if not isinstance(validity, Validity):
            return f"validity {validity!r} must be a Validity (DAY, IOC or FOK)"
        reason = _check_qty(inst, qty)
        if reason:
            return reason
        if order_type is _LIMIT or order_type is _SL:
            reason = _check_price(inst, market, "price", price)
            if reason:
                return reason
        elif price:
            return f"{order_type} order takes no price (got {_fmt(market, price)}); use LIMIT or SL"
        if order_type is _SL or order_type is _SL_M:
            reason = _check_price(inst, market, "trigger", trigger)
            if reason:
                return reason
            return _check_stop(market, side is _BUY, order_type, price, trigger)
        if trigger:
            return (
                f"{order_type} order takes no trigger (got {_fmt(market, trigger)}); "
                f"use SL or SL-M for a stop"
            )
        if order_type is _MARKET and not market.reference(side is _BUY):
            other = "SELL" if side is _BUY else "BUY"
            return (
                f"MARKET order needs a reference price for its protection: no LTP, no previous "
                f"close and no {other} depth in the feed yet for {inst.key}"
            )
        return ""


def _fmt(market: LiveMarket, price: int) -> str:
    return format_price(price, _scale(market))


def _not_live(order_id: int) -> str:
    return not_live_reason(order_id)


def _check_qty(inst: Instrument, qty: int) -> str:
    return qty_violation(qty, inst.lot_size, inst.freeze_qty if inst.freeze_qty else _NO_FREEZE)


def _check_price(inst: Instrument, market: LiveMarket, what: str, price: int) -> str:
    lower, upper = market.band
    return price_violation(what, price, inst.tick_size, lower, upper, _scale(market))


def _check_stop(
    market: LiveMarket, is_buy: bool, order_type: OrderType, price: int, trigger: int
) -> str:
    """Stop rules: trigger vs limit, and the trigger not already reached by the LTP."""
    return stop_violation(is_buy, order_type, price, trigger, market.ltp, _scale(market))


def _scale(market: LiveMarket) -> int:
    inst = market.instrument
    return inst.price_scale if inst is not None else 100
