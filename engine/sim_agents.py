"""The synthetic traders of the paper market and the per-instrument state they trade on.

One :class:`SimInstrument` per tradable instrument owns its :class:`~engine.book.OrderBook`, a
fair value that follows a jump-diffusion (or, for a future, its underlying plus a basis), the agents
that trade around it, and the session statistics a feed reports (LTP, OHLC, volume, VWAP). Every
order an agent sends goes through the real book; every event the book returns is absorbed here:
trades become :class:`~engine.models.TradePrint` s, the makers' bookkeeping follows their fills, and
events concerning a caller's orders reach the caller's account listener.

Agents (accounts from :mod:`engine.sim_config`):

* market makers keep ``maker_levels`` price levels of several orders on each side around the fair
  value, cancelling quotes the fair value has moved through and refilling from the inside out;
* noise takers send random marketable IOC limits or MARKET IOC orders;
* momentum takers buy when the last price is above its moving average and sell when below;
* in the pre-open, auction agents send limit orders scattered around the fair value.

:class:`SimIndex` is a non-tradable index: a weighted price relative of its constituents, or its own
walk on the market factor. :class:`MarketFactor` is the walk every fair value loads on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from math import exp, log, sqrt

from engine.book import OrderBook
from engine.book_events import (
    Accepted,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    Modified,
    Rejected,
)
from engine.models import (
    Instrument,
    MarketEvent,
    OrderType,
    Quote,
    Side,
    TradePrint,
    Validity,
)
from engine.money import snap_to_tick
from engine.sim_config import (
    AUCTION_BUY_ACCOUNT,
    AUCTION_SELL_ACCOUNT,
    MAKER_ACCOUNT,
    MOMENTUM_ACCOUNT,
    NOISE_ACCOUNT,
    SYNTHETIC_ORDER_ID_BASE,
    SimulatorConfig,
)
from engine.sim_session import NEVER

AccountListener = Callable[[str, BookEvent], None]
"""Receives ``(token, event)`` for every book event concerning one account's orders."""

SESSION_SECONDS = 22_500
"""Length of NSE's continuous session (09:15-15:30) in seconds: the unit of daily volatility."""

BASIS_HALF_LIFE_S = 60.0
"""How fast a future's basis noise reverts to the configured basis."""

_BASE = SYNTHETIC_ORDER_ID_BASE
_BUY = Side.BUY
_SELL = Side.SELL
_IOC = Validity.IOC
_MARKET = OrderType.MARKET
_DEAD = (Cancelled, Expired, Rejected)
_SLACK_TICKS = 2
"""Maker quotes up to this many ticks beyond the ladder stay as extra depth before being moved."""
_ALL_LEVELS = 1 << 30
"""Depth request that returns every level (the totals a feed reports cover the whole book)."""


def round_half_even_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even, in exact integers (denominator > 0)."""
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q & 1):
        return q + 1
    return q


def band_limits(reference: int, pct: int, tick: int) -> tuple[int, int]:
    """(lower, upper) circuit limits ``pct`` % around ``reference``, inside and on the tick grid."""
    lower = snap_to_tick(-(-reference * (100 - pct) // 100), tick, mode="up")
    upper = snap_to_tick(reference * (100 + pct) // 100, tick, mode="down")
    return max(lower, tick), upper


class MarketFactor:
    """The common walk (log scale) all fair values load on; it moves on a fixed simulated grid."""

    __slots__ = ("_rng", "_sigma_s", "interval_ns", "value", "vol")

    def __init__(self, rng: random.Random, daily_vol: float, interval_ns: int) -> None:
        self._rng = rng
        self._sigma_s = daily_vol / sqrt(SESSION_SECONDS)
        self.interval_ns = interval_ns
        self.value = 0.0
        self.vol = 1.0
        """The intraday volatility multiplier in force (set at each grid point)."""

    def gap(self, sd: float) -> None:
        """An overnight move of standard deviation ``sd`` (log scale)."""
        if sd > 0.0:
            self.value += self._rng.gauss(0.0, sd)

    def advance(self, multiplier: float) -> None:
        """Move one grid interval; ``multiplier`` (the intraday profile) applies until the next."""
        self.vol = multiplier
        sd = self._sigma_s * multiplier * sqrt(self.interval_ns * 1e-9)
        self.value += sd * self._rng.gauss(0.0, 1.0)


class SimInstrument:
    """A tradable instrument of the simulated market: its book, fair value, agents and statistics.

    ``out`` is the market's shared output list (trade prints are appended as they happen);
    ``listeners`` the market's account listeners. ``under`` is the underlying a future tracks.
    """

    __slots__ = (
        "_beta",
        "_drops_ask",
        "_drops_bid",
        "_ema",
        "_factor",
        "_half_spread",
        "_impact",
        "_jump_rate_s",
        "_jump_size",
        "_levels",
        "_listeners",
        "_maker_cut",
        "_market_share",
        "_min_gap",
        "_momentum_bps",
        "_momentum_s",
        "_next_jump",
        "_ok_ask",
        "_ok_bid",
        "_sigma_s",
        "_smoothing_s",
        "_start",
        "_taker_cut",
        "_through",
        "_want",
        "auction_ids",
        "auction_rate",
        "book",
        "call_qty",
        "call_turnover",
        "caller_orders",
        "center",
        "cfg",
        "changed_ts",
        "close",
        "continuous_rate",
        "depth_levels",
        "dirty",
        "fair",
        "has_auction",
        "hi_safe",
        "high",
        "in_auction",
        "instrument",
        "last",
        "last_qty",
        "last_t",
        "lo_safe",
        "lot",
        "low",
        "lower",
        "maker_lots",
        "max_qty",
        "mk_ask_qty",
        "mk_asks",
        "mk_bid_qty",
        "mk_bids",
        "mk_leaves",
        "mk_orders",
        "next_id",
        "open",
        "out",
        "rate",
        "rng",
        "seq",
        "taker_lots",
        "tick",
        "token",
        "turnover",
        "under",
        "upper",
        "volume",
        "x",
    )

    def __init__(
        self,
        instrument: Instrument,
        book: OrderBook,
        start_price: int,
        *,
        rng: random.Random,
        cfg: SimulatorConfig,
        factor: MarketFactor,
        out: list[MarketEvent],
        listeners: dict[int, AccountListener],
        under: SimInstrument | SimIndex | None,
        beta: float,
        rate: float,
        has_auction: bool,
    ) -> None:
        self.instrument = instrument
        self.token = instrument.token
        self.book = book
        self.depth_levels = book.config.depth_levels
        self.tick = instrument.tick_size
        self.lot = instrument.lot_size
        freeze = instrument.freeze_qty
        self.max_qty = freeze - freeze % self.lot if freeze else 0
        self.rng = rng
        self.cfg = cfg
        self._factor = factor
        self.out = out
        self._listeners = listeners
        self.under = under
        self._beta = beta
        self.continuous_rate = rate
        self.auction_rate = cfg.auction_events_per_s
        self.rate = rate
        self.has_auction = has_auction
        self.in_auction = False
        """Mirrors ``book.in_auction`` (set by begin_auction and uncross), read once per event."""
        # Agent mix thresholds of act(): r < maker cut -> maker, r < taker cut -> noise taker.
        self._maker_cut = cfg.maker_share
        self._taker_cut = cfg.maker_share + cfg.noise_share
        self._market_share = cfg.noise_market_share
        self._momentum_bps = cfg.momentum_threshold_bps
        self._start = float(start_price)
        self._sigma_s = cfg.volatility / sqrt(SESSION_SECONDS)
        if under is not None:
            self._sigma_s = cfg.basis_noise_bps * 1e-4 * sqrt(2.0 * log(2.0) / BASIS_HALF_LIFE_S)
        self._jump_rate_s = cfg.jumps_per_day / SESSION_SECONDS
        self._jump_size = cfg.jump_size
        self._impact = cfg.impact
        self._half_spread = cfg.spread_ticks * self.tick / 2.0
        self._smoothing_s = cfg.maker_smoothing_s
        self._momentum_s = cfg.momentum_window_s
        self._next_jump = NEVER
        self._min_gap = cfg.spread_ticks * self.tick
        self._levels = cfg.maker_levels
        self._through = cfg.taker_max_ticks_through + 1
        # Inner price at which each side's ladder was last complete (-1: check again), and how
        # many maker orders each side has lost (a loss invalidates the check).
        self._ok_bid = -1
        self._ok_ask = -1
        self._drops_bid = 0
        self._drops_ask = 0
        self._want = cfg.maker_orders_per_level
        self.x = 0.0
        self.fair = float(start_price)
        self.last_t = 0
        self._ema = float(start_price)
        self.center = float(start_price)
        self.next_id = _BASE
        # Makers' own resting orders: id -> price (negative for asks), and ids per price level.
        self.mk_orders: dict[int, int] = {}
        self.mk_leaves: dict[int, int] = {}
        self.mk_bid_qty = 0
        self.mk_ask_qty = 0
        self.mk_bids: dict[int, list[int]] = {}
        self.mk_asks: dict[int, list[int]] = {}
        self.auction_ids: list[int] = []
        # Caller (non-synthetic) orders that may still produce events: id -> account.
        self.caller_orders: dict[int, int] = {}
        self.close = start_price
        self.last = 0
        self.last_qty = 0
        self.volume = 0
        self.turnover = 0
        self.open = 0
        self.high = 0
        self.low = 0
        self.lower = 0
        self.upper = 0
        self.lo_safe = 0.0
        self.hi_safe = 0.0
        self.maker_lots = 1
        self.taker_lots = 1.0
        self.call_qty = 0
        self.call_turnover = 0
        self.dirty = True
        self.changed_ts = 0
        self.seq = 0

    # ------------------------------------------------------------------ session

    def begin_session(self, ts: int, reference: int, band_pct: int, *, gap: bool) -> None:
        """Start a trading session whose previous close is ``reference``; reset the statistics."""
        tick = self.tick
        self.close = reference
        self.last = self.last_qty = self.volume = self.turnover = 0
        self.open = self.high = self.low = 0
        self.lower, self.upper = band_limits(reference, band_pct, tick)
        self._ok_bid = self._ok_ask = -1
        self.book.set_reference_price(reference)
        self.book.set_bands(self.lower, self.upper)
        cfg = self.cfg
        margin = (cfg.maker_levels + cfg.spread_ticks + cfg.taker_max_ticks_through + 2) * tick
        self.lo_safe = float(self.lower + margin)
        self.hi_safe = float(self.upper - margin)
        if self.lo_safe >= self.hi_safe:
            self.lo_safe = self.hi_safe = float(reference)
        units = reference * self.lot
        self.maker_lots = max(1, round(cfg.maker_notional / units))
        self.taker_lots = max(1.0, cfg.taker_notional / units)
        if gap and self.under is None and cfg.overnight_gap > 0.0:
            self.x += self.rng.gauss(0.0, cfg.overnight_gap)
        self.last_t = ts
        self._next_jump = ts + self._jump_delay_ns()
        self._ema = float(reference)
        self._recenter()
        self.dirty = True
        self.changed_ts = ts

    def begin_auction(self, ts: int) -> None:
        """Open the pre-open call auction: the book collects orders and matches nothing."""
        self.book.begin_auction()
        self.in_auction = self.book.in_auction
        self.rate = self.auction_rate
        self.dirty = True
        self.changed_ts = ts

    def uncross(self, ts: int) -> None:
        """End the auction at one equilibrium price; the fair value re-anchors to it."""
        events = self.book.uncross(ts)
        self.in_auction = self.book.in_auction
        self.absorb(events)
        if self.last:
            self.anchor_fair(self.last)
        self.dirty = True
        self.changed_ts = ts

    def open_continuous(self, ts: int) -> None:
        """Cancel the auction agents' leftovers and lay the makers' opening ladder."""
        book = self.book
        for oid in self.auction_ids:
            if book.is_live(oid):
                self.absorb(book.cancel(oid, ts))
        self.auction_ids.clear()
        self.rate = self.continuous_rate
        self.last_t = ts
        self.refresh(ts, 1 << 30)

    def expire(self, ts: int) -> None:
        """End of session: the book expires every DAY order (makers' included)."""
        self.absorb(self.book.expire_day_orders(ts))
        self.dirty = True
        self.changed_ts = ts

    @property
    def ltp(self) -> int:
        """Last traded price of the session, or the previous close before the first trade."""
        return self.last or self.close

    # ------------------------------------------------------------------ fair value

    def anchor_fair(self, price: int) -> None:
        """Make ``price`` the fair value (after the auction discovered it)."""
        target = float(price)
        if self.under is None:
            self.x = log(target / self._start) - self._beta * self._factor.value
        else:
            self.x = log(target / (self.under.fair * (1.0 + self.cfg.futures_basis_bps * 1e-4)))
        self._recenter()

    def _recenter(self) -> None:
        self._reprice()
        self.center = self.fair

    def _reprice(self) -> None:
        if self.under is None:
            fair = self._start * exp(self.x + self._beta * self._factor.value)
            if fair > self.hi_safe:
                self.x -= 2.0 * log(fair / self.hi_safe)
                fair = self._start * exp(self.x + self._beta * self._factor.value)
                if fair > self.hi_safe:
                    fair = self.hi_safe
                    self.x = log(fair / self._start) - self._beta * self._factor.value
            elif fair < self.lo_safe:
                self.x += 2.0 * log(self.lo_safe / fair)
                fair = self._start * exp(self.x + self._beta * self._factor.value)
                if fair < self.lo_safe:
                    fair = self.lo_safe
                    self.x = log(fair / self._start) - self._beta * self._factor.value
        else:
            fair = self.under.fair * (1.0 + self.cfg.futures_basis_bps * 1e-4) * exp(self.x)
            if fair > self.hi_safe:
                fair = self.hi_safe
            elif fair < self.lo_safe:
                fair = self.lo_safe
        self.fair = fair

    def _walk(self, t: int) -> None:
        dt = (t - self.last_t) * 1e-9
        if dt <= 0.0:
            return
        self.last_t = t
        rng = self.rng
        factor = self._factor
        if self.under is None:
            x = self.x + self._sigma_s * factor.vol * sqrt(dt) * rng.gauss(0.0, 1.0)
            if t >= self._next_jump:
                x += rng.gauss(0.0, self._jump_size)
                self._next_jump = t + self._jump_delay_ns()
            self.x = x
            fair = self._start * exp(x + self._beta * factor.value)
            if self.lo_safe <= fair <= self.hi_safe:
                self.fair = fair
            else:
                self._reprice()
        else:
            decay = 0.5 ** (dt / BASIS_HALF_LIFE_S)
            self.x = self.x * decay + self._sigma_s * sqrt(dt) * rng.gauss(0.0, 1.0)
            self._reprice()
        a = dt / self._momentum_s
        self._ema += (a if a < 1.0 else 1.0) * ((self.last or self.close) - self._ema)
        a = dt / self._smoothing_s if self._smoothing_s else 1.0
        self.center += (a if a < 1.0 else 1.0) * (self.fair - self.center)

    def _jump_delay_ns(self) -> int:
        if not self._jump_rate_s:
            return NEVER
        return int(self.rng.expovariate(self._jump_rate_s) * 1e9) + 1

    # ------------------------------------------------------------------ agents

    def next_delay_ns(self) -> int:
        """Time to this instrument's next agent event (exponential, at the current rate)."""
        # == rng.expovariate(rate), inlined (the same draw and arithmetic, one call less).
        return int(-log(1.0 - self.rng.random()) / self.rate * 1e9) + 1

    def act(self, t: int) -> None:
        """One agent event at ``t``: a maker refresh, a noise taker or a momentum taker."""
        self._walk(t)
        if self.in_auction:
            self._auction_order(t)
            return
        rng = self.rng
        r = rng.random()
        if r < self._maker_cut:
            self.refresh(t, self.cfg.maker_orders_per_refresh)
        elif r < self._taker_cut:
            side = _BUY if rng.random() < 0.5 else _SELL
            market = rng.random() < self._market_share
            self._take(t, side, NOISE_ACCOUNT, market)
        else:
            ltp = self.last or self.close
            edge = (ltp - self._ema) / self._ema * 1e4
            if edge > self._momentum_bps:
                self._take(t, _BUY, MOMENTUM_ACCOUNT, False)
            elif edge < -self._momentum_bps:
                self._take(t, _SELL, MOMENTUM_ACCOUNT, False)

    def _maker_qty(self) -> int:
        qty = self.lot * max(1, int(self.maker_lots * (0.5 + self.rng.random())))
        if self.max_qty and qty > self.max_qty:
            qty = self.max_qty
        return qty

    def _taker_qty(self) -> int:
        # rng.expovariate(1.0 / taker_lots), inlined (the same draw and arithmetic)
        qty = self.lot * (1 + int(-log(1.0 - self.rng.random()) / (1.0 / self.taker_lots)))
        if self.max_qty and qty > self.max_qty:
            qty = self.max_qty
        return qty

    def refresh(self, t: int, budget: int) -> None:
        """Makers requote around ``center``, the fair value smoothed over ``maker_smoothing_s``.

        The ladder is ``maker_levels`` prices per side from ``spread_ticks / 2`` ticks off the
        center outwards. Quotes the center has crossed, or that are more than two ticks beyond the
        ladder, are stale: they are moved (cancel/replace, one book call) into missing places of the
        ladder, inside out, and cancelled if none is missing. Every visible level (best-5) gets at
        least one order now; beyond that at most ``budget`` new orders per side are added.
        """
        tick = self.tick
        center = self.center
        inner_bid = int((center - self._half_spread) // tick) * tick
        inner_ask = -int(-(center + self._half_spread) // tick) * tick
        if inner_ask - inner_bid < self._min_gap:
            inner_ask = inner_bid + self._min_gap
        if self._ok_bid == inner_bid and self._ok_ask == inner_ask:
            return  # both ladders complete at these prices: _requote would do nothing
        # The side the center moved through goes first, so no new quote crosses a stale one.
        if self.mk_asks and min(self.mk_asks) <= center:
            self._requote(t, False, inner_ask, center, budget)
            self._requote(t, True, inner_bid, center, budget)
        else:
            self._requote(t, True, inner_bid, center, budget)
            self._requote(t, False, inner_ask, center, budget)

    def _requote(self, t: int, is_bid: bool, inner: int, center: float, budget: int) -> None:
        if (self._ok_bid if is_bid else self._ok_ask) == inner:
            return  # the ladder was complete at this inner price and no maker order left since
        tick = self.tick
        levels = self._levels
        if is_bid:
            book_levels = self.mk_bids
            step = -tick
            last = inner - (levels - 1 + _SLACK_TICKS) * tick
            limit = self.lower if self.lower > tick else tick
            # (min/max first: usually nothing is stale and the scan is skipped)
            stale = (
                [p for p in book_levels if p >= center or p < last]
                if book_levels and (max(book_levels) >= center or min(book_levels) < last)
                else []
            )
            drops = self._drops_bid
            # Ladder prices inner, inner - tick, ... that are not below the limit.
            count = (inner - limit) // tick + 1 if inner >= limit else 0
        else:
            book_levels = self.mk_asks
            step = tick
            last = inner + (levels - 1 + _SLACK_TICKS) * tick
            limit = self.upper or last
            stale = (
                [p for p in book_levels if p <= center or p > last]
                if book_levels and (min(book_levels) <= center or max(book_levels) > last)
                else []
            )
            drops = self._drops_ask
            count = (limit - inner) // tick + 1 if inner <= limit else 0
        spare: list[int] = []
        for p in stale:
            spare += book_levels[p]
        mk_orders = self.mk_orders
        want = self._want
        visible = self.depth_levels
        complete = True
        p = inner
        for k in range(count if count < levels else levels):
            level = book_levels.get(p)
            have = len(level) if level is not None else 0
            while have < want:
                while spare and spare[-1] not in mk_orders:  # traded away meanwhile
                    spare.pop()
                if spare:
                    self._move(t, spare.pop(), is_bid, p)
                elif budget > 0:
                    self._place(t, is_bid, p)
                    budget -= 1
                elif have == 0 and k < visible:
                    self._place(t, is_bid, p)
                else:
                    complete = False
                    break
                have += 1
            p += step
        if complete:  # and nothing on this side traded away while we worked
            complete = drops == (self._drops_bid if is_bid else self._drops_ask)
        for oid in spare:
            if oid in mk_orders:
                self._cancel_maker(oid, t)
        if is_bid:
            self._ok_bid = inner if complete else -1
        else:
            self._ok_ask = inner if complete else -1

    def _move(self, t: int, oid: int, is_bid: bool, price: int) -> None:
        """Cancel/replace a maker order to ``price`` (it loses time priority, keeps its qty)."""
        old = self.mk_orders[oid]
        levels = self.mk_bids if is_bid else self.mk_asks
        key = old if is_bid else -old
        level = levels[key]
        level.remove(oid)
        if not level:
            del levels[key]
        self.mk_orders[oid] = price if is_bid else -price
        target = levels.get(price)
        if target is None:
            levels[price] = [oid]
        else:
            target.append(oid)
        events = self.book.modify(oid, price=price, ts=t)
        first = type(events[0])
        if len(events) == 1 and first is Modified:
            self.dirty = True
            self.changed_ts = t
        elif first is Rejected:  # unchanged in the book: give up on it
            self.mk_orders[oid] = old
            level = levels[price]
            level.remove(oid)
            if not level:
                del levels[price]
            levels.setdefault(key, []).append(oid)
            self._cancel_maker(oid, t)
        else:
            self.absorb(events)

    def _place(self, t: int, is_bid: bool, price: int) -> None:
        """A maker order; booked (as resting) before the call so absorb() sees it if it trades."""
        oid = self.next_id = self.next_id + 1
        qty = self._maker_qty()
        if is_bid:
            self.mk_orders[oid] = price
            self.mk_bid_qty += qty
            levels = self.mk_bids
        else:
            self.mk_orders[oid] = -price
            self.mk_ask_qty += qty
            levels = self.mk_asks
        self.mk_leaves[oid] = qty
        level = levels.get(price)
        if level is None:
            levels[price] = [oid]
        else:
            level.append(oid)
        events = self.book.submit(
            oid, MAKER_ACCOUNT, _BUY if is_bid else _SELL, qty, price=price, ts=t
        )
        if len(events) == 1 and type(events[0]) is Accepted:
            self.dirty = True
            self.changed_ts = t
        else:
            self.absorb(events)

    def _cancel_maker(self, oid: int, t: int) -> None:
        events = self.book.cancel(oid, t)
        if len(events) == 1 and type(events[0]) is Cancelled:
            self._drop_maker(oid)
            self.dirty = True
            self.changed_ts = t
        else:
            self.absorb(events)

    def _take(self, t: int, side: Side, account: int, market: bool) -> None:
        book = self.book
        if side is _BUY:
            best = book.best_ask
            if not best:
                return
            limit = best + self.tick * int(self.rng.random() * self._through)
            if self.upper and limit > self.upper:
                limit = self.upper
        else:
            best = book.best_bid
            if not best:
                return
            limit = best - self.tick * int(self.rng.random() * self._through)
            if limit < self.lower:
                limit = self.lower
        qty = self._taker_qty()
        oid = self.next_id = self.next_id + 1
        self.call_qty = 0
        self.call_turnover = 0
        if market:
            events = book.submit(oid, account, side, qty, order_type=_MARKET, validity=_IOC, ts=t)
        else:
            events = book.submit(oid, account, side, qty, price=limit, validity=_IOC, ts=t)
        self.absorb(events)
        if self.call_qty and self._impact:
            avg = self.call_turnover / self.call_qty
            self.x += self._impact * (avg / self.fair - 1.0)
            self._reprice()

    def _auction_order(self, t: int) -> None:
        rng = self.rng
        side = _BUY if rng.random() < 0.5 else _SELL
        tick = self.tick
        raw = self.fair * (1.0 + rng.gauss(0.0, self.cfg.auction_dispersion))
        price = int(raw / tick + 0.5) * tick
        if price < self.lower:
            price = self.lower
        elif self.upper and price > self.upper:
            price = self.upper
        if price < tick:
            price = tick
        oid = self.next_id = self.next_id + 1
        self.auction_ids.append(oid)
        account = AUCTION_BUY_ACCOUNT if side is _BUY else AUCTION_SELL_ACCOUNT
        self.absorb(self.book.submit(oid, account, side, self._maker_qty(), price=price, ts=t))

    # ------------------------------------------------------------------ events

    def _drop_maker(self, oid: int) -> None:
        price = self.mk_orders.pop(oid)
        leaves = self.mk_leaves.pop(oid)
        if price > 0:
            self.mk_bid_qty -= leaves
            self._drops_bid += 1
            self._ok_bid = -1
            levels = self.mk_bids
        else:
            self.mk_ask_qty -= leaves
            self._drops_ask += 1
            self._ok_ask = -1
            levels = self.mk_asks
            price = -price
        level = levels[price]
        level.remove(oid)
        if not level:
            del levels[price]

    def _maker_traded(self, oid: int, qty: int, leaves: int) -> None:
        if self.mk_orders[oid] > 0:
            self.mk_bid_qty -= qty
        else:
            self.mk_ask_qty -= qty
        self.mk_leaves[oid] = leaves
        if not leaves:
            self._drop_maker(oid)

    def absorb(self, events: list[BookEvent]) -> None:
        """Account for what one book call reported: statistics, trade prints, makers' bookkeeping,
        then the caller listeners (after the state is consistent, so a listener may trade)."""
        if not events:
            return
        notify: list[BookEvent] | None = None
        append = self.out.append
        token = self.token
        mk_orders = self.mk_orders
        changed = False
        qty = turnover = 0
        for ev in events:
            if isinstance(ev, Fill):
                p = ev.price
                q = ev.qty
                qty += q
                turnover += p * q
                if not self.open:
                    self.open = self.high = self.low = p
                elif p > self.high:
                    self.high = p
                elif p < self.low:
                    self.low = p
                append(TradePrint(token, p, q, ev.aggressor, ev.ts, str(ev.trade_id)))
                maker = ev.maker_id
                if maker in mk_orders:  # inline of _maker_traded (the usual case)
                    if mk_orders[maker] > 0:
                        self.mk_bid_qty -= q
                    else:
                        self.mk_ask_qty -= q
                    leaves = ev.maker_leaves
                    self.mk_leaves[maker] = leaves
                    if not leaves:
                        self._drop_maker(maker)
                taker = ev.taker_id
                if taker in mk_orders:
                    self._maker_traded(taker, q, ev.taker_leaves)
                if maker < _BASE or taker < _BASE:
                    (notify if notify is not None else (notify := [])).append(ev)
                changed = True
                self.last = p
                self.last_qty = q
                self.changed_ts = ev.ts
            else:
                oid = ev.order_id
                if oid in mk_orders and isinstance(ev, _DEAD):
                    self._drop_maker(oid)
                if oid < _BASE:
                    (notify if notify is not None else (notify := [])).append(ev)
                if not isinstance(ev, Rejected):
                    changed = True
                    self.changed_ts = ev.ts
        if qty:
            self.volume += qty
            self.turnover += turnover
            self.call_qty += qty
            self.call_turnover += turnover
        if changed:
            self.dirty = True
        if notify is not None:
            self._notify(notify)

    def _notify(self, events: list[BookEvent]) -> None:
        listeners = self._listeners
        orders = self.caller_orders
        token = self.token
        for ev in events:
            if isinstance(ev, Fill):
                maker = ev.maker_account if ev.maker_id < _BASE else -1
                taker = ev.taker_account if ev.taker_id < _BASE else -1
                if maker >= 0 and (callback := listeners.get(maker)) is not None:
                    callback(token, ev)
                if taker >= 0 and taker != maker and (callback := listeners.get(taker)) is not None:
                    callback(token, ev)
                if maker >= 0 and ev.maker_leaves == 0:
                    orders.pop(ev.maker_id, None)
                if taker >= 0 and ev.taker_leaves == 0:
                    orders.pop(ev.taker_id, None)
                continue
            account = orders.get(ev.order_id)
            if account is None:
                continue
            if (callback := listeners.get(account)) is not None:
                callback(token, ev)
            if isinstance(ev, Cancelled | Expired) or (
                isinstance(ev, Rejected) and not self.book.is_live(ev.order_id)
            ):
                orders.pop(ev.order_id, None)

    # ------------------------------------------------------------------ feed

    def quote(self, ts: int) -> Quote:
        """The instrument's feed snapshot now (call only when ``dirty``; clears it)."""
        self.dirty = False
        self.seq += 1
        book = self.book
        if self.caller_orders or self.auction_ids:
            # Orders the makers' bookkeeping does not cover may rest: add up the whole book.
            all_bids, all_asks = book.depth(_ALL_LEVELS)
            n = self.depth_levels
            bids = all_bids[:n]
            asks = all_asks[:n]
            total_buy = sum([level.qty for level in all_bids])
            total_sell = sum([level.qty for level in all_asks])
        else:
            # Only makers rest (takers are IOC): their bookkeeping gives the totals exactly.
            bids, asks = book.depth()
            total_buy = self.mk_bid_qty
            total_sell = self.mk_ask_qty
        volume = self.volume
        ltp = self.last or self.close
        if self.in_auction:
            indicative = book.indicative()[0]
            if indicative:
                ltp = indicative
        if volume:  # the session VWAP, turnover / volume rounded half-even (round_half_even_div)
            vwap, rest = divmod(self.turnover, volume)
            if 2 * rest > volume or (2 * rest == volume and vwap & 1):
                vwap += 1
        else:
            vwap = 0
        return Quote(
            self.token,
            ltp,
            ts,
            self.changed_ts,
            self.seq,
            self.last_qty,
            vwap,
            volume,
            self.open,
            self.high,
            self.low,
            self.close,
            total_buy,
            total_sell,
            bids,
            asks,
            self.upper,
            self.lower,
        )


class SimIndex:
    """A non-tradable index: a weighted relative of constituents' prices, or its own walk.

    With constituents, ``value = start x sum(w_i p_i / p0_i) / sum(w_i)`` over the constituents'
    last prices (the published value) and fair values (``fair``, what index futures track).
    Without, ``fair = start x exp(F + x)`` where ``F`` is the market factor and ``x`` a small
    idiosyncratic walk (a quarter of the configured instrument volatility).
    """

    __slots__ = (
        "_factor",
        "_rng",
        "_sigma_s",
        "_smoothing_s",
        "_start",
        "_through",
        "_want",
        "_weights",
        "changed_ts",
        "close",
        "dirty",
        "fair",
        "high",
        "instrument",
        "low",
        "open",
        "seq",
        "token",
        "trading",
        "value",
        "x",
    )

    def __init__(
        self,
        instrument: Instrument,
        start_price: int,
        *,
        rng: random.Random,
        cfg: SimulatorConfig,
        factor: MarketFactor,
    ) -> None:
        self.instrument = instrument
        self.token = instrument.token
        self._rng = rng
        self._factor = factor
        self._start = float(start_price)
        self._sigma_s = 0.25 * cfg.volatility / sqrt(SESSION_SECONDS)
        self._weights: list[tuple[SimInstrument, float]] = []
        self.x = 0.0
        self.fair = float(start_price)
        self.value = start_price
        self.close = start_price
        self.open = self.high = self.low = 0
        self.trading = False
        self.dirty = True
        self.changed_ts = 0
        self.seq = 0

    def set_constituents(self, weights: list[tuple[SimInstrument, float]]) -> None:
        """Compute the index from these (instrument, weight) pairs instead of its own walk."""
        total = sum(w for _, w in weights)
        self._weights = [(sim, w / total / sim.close) for sim, w in weights]

    def begin_session(self, ts: int) -> None:
        """New session: the previous value becomes the close; OHLC restart."""
        self.close = self.value
        self.open = self.high = self.low = 0
        self.trading = False
        self.dirty = True
        self.changed_ts = ts

    def advance(self, ts: int, interval_s: float, multiplier: float) -> None:
        """Move on one factor interval and recompute the published value."""
        start = self._start
        if self._weights:
            fair = 0.0
            published = 0.0
            for sim, w in self._weights:
                fair += w * sim.fair
                published += w * (sim.last or sim.close)
            self.fair = start * fair
            value = int(start * published + 0.5)
        else:
            self.x += self._sigma_s * multiplier * sqrt(interval_s) * self._rng.gauss(0.0, 1.0)
            self.fair = start * exp(self.x + self._factor.value)
            value = int(self.fair + 0.5)
        if value != self.value:
            self.value = value
            self.dirty = True
            self.changed_ts = ts
            if self.trading:
                if not self.open:
                    self.open = self.high = self.low = value
                elif value > self.high:
                    self.high = value
                elif value < self.low:
                    self.low = value

    def quote(self, ts: int) -> Quote:
        """The index's feed snapshot (value, OHLC, previous close); clears ``dirty``."""
        self.dirty = False
        self.seq += 1
        return Quote(
            self.token,
            self.value,
            ts=ts,
            exchange_ts=self.changed_ts,
            seq=self.seq,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
        )
