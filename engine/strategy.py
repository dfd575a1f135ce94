"""Strategies: one API for backtest, paper and live, and the runner that hosts them on a core.

A strategy subclasses :class:`Strategy` and overrides any of its async hooks: ``on_start``,
``on_quote(quote)``, ``on_bar(bar)`` (closed bars of each subscribed interval), ``on_fill(fill)``,
``on_order_update(order)`` and ``on_stop``. Its parameters are a pydantic model named by the
``params_model`` class attribute (subclass :class:`StrategyParams`); bad values raise
:class:`StrategyParamsError` naming each field, the value and what is allowed.

Inside a hook, ``self.ctx`` (a :class:`StrategyContext`) gives:

* **orders**, only through :meth:`engine.core.TradingCore.submit` / ``cancel`` / ``modify``, with
  the strategy's id as ``strategy_id``: pre-trade risk applies, every order is journaled, and a
  refusal comes back as a :class:`engine.core.SubmitResult` with ``accepted=False`` and as a
  REJECTED order through ``on_order_update``. ``buy``, ``sell``, ``submit``, ``cancel``,
  ``modify``, ``cancel_all``, ``exit`` (flatten the strategy's own position) and
  ``order_target`` (trade the difference to a target position);
* **its own positions** (:class:`StrategyPosition`), built from the core's fills that carry its
  id (so two strategies on one instrument each see their own), its working orders and closed
  round trips (:class:`engine.metrics.ClosedTrade`);
* **indicators** fed with its closed bars (``ema``, ``sma``, ``rsi``, ``macd``, ``bollinger``,
  ``atr``), warmed up from the bar history that is already closed, and ``history`` (closed bars
  up to the bar being handled: never a later one);
* **the clock** (``now_ns``), instruments and the latest quotes.

:class:`StrategyRunner` owns the running strategies of one core. Each strategy has its own FIFO
queue and worker task, so a slow strategy never delays another, and its hooks run one at a time
in event order (quotes of one instrument are conflated to the newest while queued; bars, fills
and order updates never are). It starts, pauses (market data hooks stop; indicators keep
updating; fills and order updates are still delivered), resumes and stops strategies; routes
quotes, bars and the core's order and fill events (``core.subscribe``) to the owning strategy;
isolates failures (a hook that raises stops that strategy, cancels its working orders, and is
reported in :attr:`StrategyRunner.failures`; the runner carries on); swaps a running strategy
for a new version without touching its orders or positions (:meth:`StrategyRunner.hot_swap`);
and stops every strategy when the kill switch trips.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.bars import BarAggregator
from engine.clock import Clock
from engine.core import CoreEvent, SubmitResult, TradingCore
from engine.indicators import ATR, EMA, MACD, RSI, SMA, BollingerBands
from engine.intent import OrderIntent, intent_errors
from engine.kill_switch import KillSwitchState
from engine.metrics import ClosedTrade
from engine.models import (
    Bar,
    ClientOrderId,
    Fill,
    Instrument,
    Interval,
    OrderType,
    Product,
    Quote,
    Side,
    Validity,
)
from engine.money import round_half_even
from engine.orders import Order
from engine.portfolio import PositionView

log = logging.getLogger("engine.strategy")

RESERVED_STRATEGY_IDS = frozenset({"manual", "gtt", "external", "kill_switch"})
"""Ids the core uses for its own orders; a strategy cannot take them."""

HOOK_WAIT_S = 5.0
"""How long stop and hot_swap wait for a running hook before cancelling it."""


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model: frozen, and unknown names are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategyParamsError(ValueError):
    """Strategy parameters that do not validate; the message lists every problem."""


class StrategyError(RuntimeError):
    """A strategy cannot be started, swapped or found as asked (the message says why)."""


P = TypeVar("P", bound=StrategyParams)
AnyIndicator = EMA | SMA | RSI | MACD | BollingerBands | ATR


def _check_strategy_id(strategy_id: str) -> str:
    if not isinstance(strategy_id, str) or not 1 <= len(strategy_id) <= 40:
        raise StrategyError(f"a strategy id must be 1 to 40 characters, got {strategy_id!r}")
    if strategy_id in RESERVED_STRATEGY_IDS or strategy_id.startswith("bracket-"):
        raise StrategyError(
            f"strategy id {strategy_id!r} is reserved for the core's own orders; pick another"
        )
    return strategy_id


class SignalAction(StrEnum):
    """What a strategy decided on a bar."""

    ENTER_LONG = "ENTER_LONG"
    EXIT_LONG = "EXIT_LONG"
    ENTER_SHORT = "ENTER_SHORT"
    EXIT_SHORT = "EXIT_SHORT"


@dataclass(frozen=True, slots=True)
class Signal:
    """One decision: at bar ``ts`` (the bar's start, ns) on ``token``, with the value behind it."""

    ts: int
    token: str
    action: SignalAction
    reason: str = ""
    value: float = 0.0


class Strategy(Generic[P]):
    """Base class of every strategy: override the async hooks you need.

    ``tokens`` are the instruments it trades and listens to; ``intervals`` the bar intervals
    whose closed bars reach :meth:`on_bar`; ``product`` the default product of its orders.
    """

    params_model: ClassVar[type[StrategyParams]] = StrategyParams
    kind: ClassVar[str] = "strategy"
    """A short name for the strategy class (used by registries and reports)."""

    def __init__(
        self,
        strategy_id: str,
        *,
        tokens: Sequence[str],
        intervals: Sequence[Interval] = (Interval.M1,),
        params: P | Mapping[str, Any] | None = None,
        product: Product = Product.MIS,
    ) -> None:
        self.strategy_id = _check_strategy_id(strategy_id)
        if isinstance(tokens, str) or not tokens:
            raise StrategyError(
                f"strategy {strategy_id!r} needs a list of instrument tokens, got {tokens!r}"
            )
        self.tokens: tuple[str, ...] = tuple(dict.fromkeys(tokens))
        self.intervals: tuple[Interval, ...] = tuple(dict.fromkeys(Interval(i) for i in intervals))
        self.product = Product(product)
        self.params: P = self.parse_params(params)
        self.signals: list[Signal] = []
        self._ctx: StrategyContext | None = None

    def signal(
        self, ts: int, token: str, action: SignalAction, reason: str = "", value: float = 0.0
    ) -> Signal:
        """Record a decision in :attr:`signals` (for reports and tests) and return it."""
        sig = Signal(ts, token, action, reason, value)
        self.signals.append(sig)
        return sig

    @classmethod
    def parse_params(cls, params: P | Mapping[str, Any] | None) -> P:
        """Validate ``params`` (a model instance, a mapping of values or strings, or None)."""
        model = cls.params_model
        if isinstance(params, model):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump()
        try:
            return cast(P, model.model_validate(dict(params or {})))
        except ValidationError as exc:
            problems = "; ".join(intent_errors(exc))
            raise StrategyParamsError(f"{cls.__name__} parameters: {problems}") from None

    @property
    def ctx(self) -> StrategyContext:
        """The strategy's view of the market and its orders (set when a runner starts it)."""
        if self._ctx is None:
            raise StrategyError(
                f"strategy {self.strategy_id!r} is not running: start it with a StrategyRunner "
                "before using its context"
            )
        return self._ctx

    async def on_start(self) -> None:
        """Called once before any other hook: create indicators here."""

    async def on_quote(self, quote: Quote) -> None:
        """The newest quote of one of its instruments."""

    async def on_bar(self, bar: Bar) -> None:
        """A closed bar of one of its instruments at one of its intervals."""

    async def on_fill(self, fill: Fill) -> None:
        """One execution of one of its orders (its position already includes it)."""

    async def on_order_update(self, order: Order) -> None:
        """One of its orders changed (a snapshot): accepted, filled, rejected, cancelled..."""

    async def on_stop(self) -> None:
        """Called once when the strategy stops (or is replaced by a new version)."""


# ---------------------------------------------------------------------------------------------
# The strategy's own positions


@dataclass(frozen=True, slots=True)
class StrategyPosition:
    """A strategy's own position in one instrument and product (money in paise, exact).

    ``realized`` is the P&L of closed quantity (before charges); ``unrealized`` marks the open
    quantity at ``ltp`` (0 when no price is known).
    """

    token: str
    product: Product
    net_qty: int
    avg_price: Fraction
    realized: Fraction
    charges: int
    ltp: int | None

    @property
    def unrealized(self) -> Fraction:
        """P&L of the open quantity at the last price."""
        if not self.net_qty or self.ltp is None:
            return Fraction(0)
        return (self.ltp - self.avg_price) * self.net_qty

    @property
    def net_pnl(self) -> Fraction:
        """Realized + unrealized - charges."""
        return self.realized + self.unrealized - self.charges


class _LedgerPosition:
    __slots__ = (
        "avg",
        "charges",
        "net",
        "opened",
        "peak",
        "product",
        "realized",
        "token",
        "trip_charges",
        "trip_realized",
    )

    def __init__(self, token: str, product: Product) -> None:
        self.token = token
        self.product = product
        self.net = 0
        self.avg = Fraction(0)
        self.realized = Fraction(0)
        self.charges = 0
        self.opened = 0
        self.peak = 0
        self.trip_realized = Fraction(0)
        self.trip_charges = 0


class StrategyLedger:
    """Positions, orders and closed round trips of one strategy, from the core's fills.

    A round trip runs from flat to flat; a fill that flips the position closes one trip (and its
    charges count there) and opens the next with the remainder.
    """

    def __init__(self, strategy_id: str) -> None:
        self.strategy_id = strategy_id
        self._positions: dict[tuple[str, Product], _LedgerPosition] = {}
        self._seen: set[tuple[str, str]] = set()
        self._orders: dict[ClientOrderId, None] = {}
        self.closed_trades: list[ClosedTrade] = []
        self.fills = 0

    def note_order(self, order: Order) -> None:
        """Remember one of the strategy's orders."""
        self._orders.setdefault(order.client_order_id, None)

    def order_ids(self) -> list[ClientOrderId]:
        """Every order id of the strategy, oldest first."""
        return list(self._orders)

    def apply(self, fill: Fill) -> bool:
        """Add one fill; False (nothing changes) when this trade was already counted."""
        key = (fill.client_order_id, str(fill.trade_id))
        if key in self._seen:
            return False
        self._seen.add(key)
        self._orders.setdefault(fill.client_order_id, None)
        self.fills += 1
        pos = self._positions.get((fill.token, fill.product))
        if pos is None:
            pos = self._positions[(fill.token, fill.product)] = _LedgerPosition(
                fill.token, fill.product
            )
        sign = fill.side.sign
        qty, price = fill.qty, fill.price
        pos.charges += fill.charges
        pos.trip_charges += fill.charges
        if pos.net == 0:
            self._open(pos, sign * qty, price, fill.ts)
        elif (pos.net > 0) == (sign > 0):
            held = abs(pos.net)
            pos.avg = (pos.avg * held + price * qty) / (held + qty)
            pos.net += sign * qty
        else:
            closing = min(qty, abs(pos.net))
            direction = 1 if pos.net > 0 else -1
            pnl = (price - pos.avg) * closing * direction
            pos.realized += pnl
            pos.trip_realized += pnl
            pos.net += sign * closing
            if pos.net == 0:
                self.closed_trades.append(
                    ClosedTrade(
                        pnl=round_half_even(pos.trip_realized) - pos.trip_charges,
                        entry_ts=pos.opened,
                        exit_ts=max(fill.ts, pos.opened),
                        token=pos.token,
                        qty=pos.peak,
                        charges=pos.trip_charges,
                    )
                )
                pos.avg = Fraction(0)
                pos.trip_charges = 0
                if qty > closing:
                    self._open(pos, sign * (qty - closing), price, fill.ts)
        pos.peak = max(pos.peak, abs(pos.net))
        return True

    @staticmethod
    def _open(pos: _LedgerPosition, net: int, price: int, ts: int) -> None:
        pos.net = net
        pos.avg = Fraction(price)
        pos.opened = ts
        pos.peak = abs(net)
        pos.trip_realized = Fraction(0)

    def position(self, token: str, product: Product, ltp: int | None) -> StrategyPosition:
        """The strategy's position in ``token``/``product`` (a flat one when it never traded)."""
        pos = self._positions.get((token, product))
        if pos is None:
            return StrategyPosition(token, product, 0, Fraction(0), Fraction(0), 0, ltp)
        return StrategyPosition(
            token, product, pos.net, pos.avg, pos.realized, pos.charges, ltp
        )

    def position_keys(self) -> list[tuple[str, Product]]:
        """(token, product) of every position it has had, in the order they opened."""
        return list(self._positions)


# ---------------------------------------------------------------------------------------------
# The context a strategy sees


class StrategyState(StrEnum):
    """Lifecycle of a strategy in a runner."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"

    @property
    def may_trade(self) -> bool:
        """True while the strategy may send orders (it may flatten while stopping)."""
        return self in (
            StrategyState.STARTING,
            StrategyState.RUNNING,
            StrategyState.PAUSED,
            StrategyState.STOPPING,
        )


_FEEDERS: dict[type[Any], Callable[[Any, Bar], object]] = {
    EMA: lambda ind, bar: ind.update(bar.close),
    SMA: lambda ind, bar: ind.update(bar.close),
    RSI: lambda ind, bar: ind.update(bar.close),
    MACD: lambda ind, bar: ind.update(bar.close),
    BollingerBands: lambda ind, bar: ind.update(bar.close),
    ATR: lambda ind, bar: ind.update(bar.high, bar.low, bar.close),
}

IndT = TypeVar("IndT", EMA, SMA, RSI, MACD, BollingerBands, ATR)


class StrategyContext:
    """What one strategy may see and do. Every order goes through the core with its id."""

    def __init__(self, runner: StrategyRunner, slot: _Slot, strategy: Strategy[Any]) -> None:
        self._runner = runner
        self._slot = slot
        self._core = runner.core
        self.strategy_id = strategy.strategy_id
        self.default_product = strategy.product
        self._indicators: dict[tuple[str, Interval], list[tuple[AnyIndicator, list[int]]]] = {}
        self._last_bar: dict[tuple[str, Interval], int] = {}
        self._retired = ""

    # ------------------------------------------------------------------ time and market data

    @property
    def clock(self) -> Clock:
        """The core's clock (simulated in backtests and the paper market)."""
        return self._core.clock

    def now_ns(self) -> int:
        """Current time, ns since the epoch."""
        return self._core.clock.now_ns()

    def instrument(self, token: str) -> Instrument:
        """The instrument of ``token`` (lot size, tick size, ...)."""
        instrument = self._core.instruments.get(token)
        if instrument is None:
            raise StrategyError(f"unknown instrument token {token!r}")
        return instrument

    def whole_lots(self, token: str, qty: int) -> int:
        """``qty`` units of ``token`` checked to be whole lots (StrategyError otherwise)."""
        lot = self.instrument(token).lot_size
        if qty <= 0 or qty % lot:
            raise StrategyError(
                f"qty {qty} of {token} must be a positive multiple of its lot size {lot}"
            )
        return qty

    def quote(self, token: str) -> Quote | None:
        """The latest quote the core has seen for ``token``."""
        return self._core.quote(token)

    def ltp(self, token: str) -> int | None:
        """Last traded price of ``token`` (None before any quote)."""
        quote = self._core.quote(token)
        return quote.ltp if quote is not None and quote.ltp else None

    def history(self, token: str, interval: Interval) -> list[Bar]:
        """Closed bars of ``token`` up to the bar being handled, oldest first (no look-ahead)."""
        last = self._last_bar.get((token, Interval(interval)))
        bars = self._runner.bars.bars(token, interval) if self._runner.bars is not None else []
        if last is None:
            return bars
        return [b for b in bars if b.start <= last]

    # ------------------------------------------------------------------ indicators

    def _register(self, token: str, interval: Interval, indicator: IndT, warm: bool) -> IndT:
        interval = Interval(interval)
        self.instrument(token)
        feed = _FEEDERS[type(indicator)]
        last = [-1]
        if warm:
            for bar in self.history(token, interval):
                if bar.closed:
                    feed(indicator, bar)
                    last[0] = bar.start
        self._indicators.setdefault((token, interval), []).append((indicator, last))
        return indicator

    def ema(self, token: str, interval: Interval, period: int, *, warm: bool = True) -> EMA:
        """An EMA of closes, updated before each :meth:`Strategy.on_bar` of that token/interval."""
        return self._register(token, interval, EMA(period), warm)

    def sma(self, token: str, interval: Interval, period: int, *, warm: bool = True) -> SMA:
        """An SMA of closes, fed like :meth:`ema`."""
        return self._register(token, interval, SMA(period), warm)

    def rsi(self, token: str, interval: Interval, period: int = 14, *, warm: bool = True) -> RSI:
        """Wilder's RSI of closes, fed like :meth:`ema`."""
        return self._register(token, interval, RSI(period), warm)

    def macd(
        self,
        token: str,
        interval: Interval,
        fast: int = 12,
        slow: int = 26,
        signal: int = 9,
        *,
        warm: bool = True,
    ) -> MACD:
        """MACD of closes, fed like :meth:`ema`."""
        return self._register(token, interval, MACD(fast, slow, signal), warm)

    def bollinger(
        self, token: str, interval: Interval, period: int = 20, k: float = 2.0, *,
        warm: bool = True,
    ) -> BollingerBands:
        """Bollinger Bands of closes, fed like :meth:`ema`."""
        return self._register(token, interval, BollingerBands(period, k), warm)

    def atr(self, token: str, interval: Interval, period: int = 14, *, warm: bool = True) -> ATR:
        """Wilder's ATR of bars (high, low, close), fed like :meth:`ema`."""
        return self._register(token, interval, ATR(period), warm)

    def _feed(self, bar: Bar) -> None:
        key = (bar.token, Interval(bar.interval))
        self._last_bar[key] = bar.start
        for indicator, last in self._indicators.get(key, ()):
            if bar.start > last[0]:
                _FEEDERS[type(indicator)](indicator, bar)
                last[0] = bar.start

    # ------------------------------------------------------------------ own positions and orders

    def position(self, token: str, product: Product | None = None) -> StrategyPosition:
        """This strategy's own position (flat when it has none)."""
        return self._slot.ledger.position(token, product or self.default_product, self.ltp(token))

    def positions(self) -> list[StrategyPosition]:
        """Every position this strategy has had (flat ones included)."""
        ledger = self._slot.ledger
        return [ledger.position(t, p, self.ltp(t)) for t, p in ledger.position_keys()]

    def account_position(self, token: str, product: Product | None = None) -> PositionView | None:
        """The whole account's position in ``token`` (every strategy and manual trading)."""
        return self._core.portfolio.position(token, product or self.default_product)

    def funds(self) -> Any:
        """The account's funds (see :class:`engine.portfolio.Funds`)."""
        return self._core.funds()

    def orders(self) -> list[Order]:
        """Every order of this strategy, oldest first."""
        found = (self._core.order(c) for c in self._slot.ledger.order_ids())
        return [o for o in found if o is not None]

    def open_orders(self, token: str | None = None) -> list[Order]:
        """Working orders of this strategy (of one instrument when ``token`` is given)."""
        return [o for o in self.orders() if o.is_open and (token is None or o.token == token)]

    def closed_trades(self) -> list[ClosedTrade]:
        """Round trips this strategy has closed, oldest first (P&L net of charges)."""
        return list(self._slot.ledger.closed_trades)

    def working_qty(self, token: str, product: Product | None = None) -> int:
        """Signed quantity still working in this strategy's open orders (+ buys, - sells)."""
        product = product or self.default_product
        return sum(
            o.side.sign * o.leaves_qty for o in self.open_orders(token) if o.product is product
        )

    # ------------------------------------------------------------------ orders

    def _refusal(self) -> str | None:
        if self._retired:
            return self._retired
        state = self._slot.state
        if not state.may_trade:
            return f"strategy {self.strategy_id} is {state.value.lower()}: it sends no orders"
        return None

    async def submit(self, intent: OrderIntent | Mapping[str, Any]) -> SubmitResult:
        """Send an order through the core's risk checks and journal, as this strategy.

        A mapping is validated into an :class:`~engine.intent.OrderIntent` (a bad one raises
        ``pydantic.ValidationError``); ``strategy_id`` is always this strategy's id.
        """
        refusal = self._refusal()
        if refusal is not None:
            return SubmitResult(False, (), refusal)
        if isinstance(intent, OrderIntent):
            intent = intent.model_copy(update={"strategy_id": self.strategy_id})
        else:
            fields = dict(intent)
            fields["strategy_id"] = self.strategy_id
            intent = OrderIntent.model_validate(fields)
        result = await self._core.submit(intent)
        for coid in result.client_order_ids:
            order = self._core.order(coid)
            if order is not None:
                self._slot.ledger.note_order(order)
        return result

    async def buy(
        self,
        token: str,
        qty: int,
        *,
        price: int = 0,
        order_type: OrderType | None = None,
        trigger_price: int = 0,
        product: Product | None = None,
        validity: Validity = Validity.DAY,
        stop_loss: int = 0,
        target: int = 0,
        tag: str = "",
        is_exit: bool = False,
    ) -> SubmitResult:
        """Buy ``qty`` units: a LIMIT at ``price``, or MARKET when no price is given."""
        return await self._order(
            Side.BUY, token, qty, price, order_type, trigger_price, product, validity,
            stop_loss, target, tag, is_exit,
        )

    async def sell(
        self,
        token: str,
        qty: int,
        *,
        price: int = 0,
        order_type: OrderType | None = None,
        trigger_price: int = 0,
        product: Product | None = None,
        validity: Validity = Validity.DAY,
        stop_loss: int = 0,
        target: int = 0,
        tag: str = "",
        is_exit: bool = False,
    ) -> SubmitResult:
        """Sell ``qty`` units: a LIMIT at ``price``, or MARKET when no price is given."""
        return await self._order(
            Side.SELL, token, qty, price, order_type, trigger_price, product, validity,
            stop_loss, target, tag, is_exit,
        )

    async def _order(
        self,
        side: Side,
        token: str,
        qty: int,
        price: int,
        order_type: OrderType | None,
        trigger_price: int,
        product: Product | None,
        validity: Validity,
        stop_loss: int,
        target: int,
        tag: str,
        is_exit: bool,
    ) -> SubmitResult:
        if order_type is None:
            order_type = OrderType.LIMIT if price else OrderType.MARKET
        fields: dict[str, Any] = {
            "token": token,
            "side": side,
            "qty": qty,
            "order_type": order_type,
            "product": product or self.default_product,
            "validity": validity,
            "price": price,
            "trigger_price": trigger_price,
            "stop_loss": stop_loss,
            "target": target,
            "tag": tag,
            "is_exit": is_exit,
            "confirmed": True,
        }
        return await self.submit(fields)

    async def cancel(self, client_order_id: str) -> SubmitResult:
        """Cancel one of this strategy's working orders."""
        coid = ClientOrderId(client_order_id)
        order = self._core.order(coid)
        if order is None or str(order.strategy_id) != self.strategy_id:
            return SubmitResult(
                False, (coid,), f"order {client_order_id} is not an order of {self.strategy_id}"
            )
        return await self._core.cancel(coid)

    async def modify(
        self,
        client_order_id: str,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger_price: int | None = None,
    ) -> SubmitResult:
        """Change one of this strategy's working orders (risk-checked by the core)."""
        refusal = self._refusal()
        coid = ClientOrderId(client_order_id)
        if refusal is not None:
            return SubmitResult(False, (coid,), refusal)
        order = self._core.order(coid)
        if order is None or str(order.strategy_id) != self.strategy_id:
            return SubmitResult(
                False, (coid,), f"order {client_order_id} is not an order of {self.strategy_id}"
            )
        return await self._core.modify(coid, qty=qty, price=price, trigger_price=trigger_price)

    async def cancel_all(self, token: str | None = None) -> list[SubmitResult]:
        """Cancel every working order of this strategy (of one instrument with ``token``)."""
        return [await self._core.cancel(o.client_order_id) for o in self.open_orders(token)]

    async def exit(self, token: str, product: Product | None = None) -> SubmitResult | None:
        """Flatten this strategy's own position with a reduce-only MARKET order; None if flat.

        Quantity already working in its exit-side orders is not sent again.
        """
        product = product or self.default_product
        net = self._slot.ledger.position(token, product, None).net_qty
        if net == 0:
            return None
        side = Side.SELL if net > 0 else Side.BUY
        working = sum(
            o.leaves_qty for o in self.open_orders(token)
            if o.side is side and o.product is product
        )
        qty = abs(net) - working
        if qty <= 0:
            return SubmitResult(False, (), "exit orders for the whole position are already working")
        return await self._order(
            side, token, qty, 0, OrderType.MARKET, 0, product, Validity.DAY, 0, 0, "",
            self._account_reduces(token, product, side, qty),
        )

    def _account_reduces(self, token: str, product: Product, side: Side, qty: int) -> bool:
        """True when ``qty`` on ``side`` also reduces the *account's* position (the core's
        reduce-only check): only then may the order be flagged as an exit. Another strategy
        holding the other way can make a strategy's own exit an opening order for the account."""
        position = self._core.portfolio.position(token, product)
        net = position.net_qty if position is not None else 0
        if net == 0 or (net > 0) == (side is Side.BUY):
            return False
        working = sum(
            o.leaves_qty for o in self._core.open_orders()
            if o.token == token and o.side is side and o.product is product
        )
        return qty <= abs(net) - working

    async def order_target(
        self, token: str, target: int, product: Product | None = None, *, price: int = 0
    ) -> SubmitResult | None:
        """Trade the difference between ``target`` (signed units) and the position plus the
        quantity already working; None when nothing is needed. MARKET unless ``price``."""
        product = product or self.default_product
        net = self._slot.ledger.position(token, product, None).net_qty
        delta = target - net - self.working_qty(token, product)
        if delta == 0:
            return None
        side = Side.BUY if delta > 0 else Side.SELL
        reduces = (
            net != 0
            and (delta > 0) != (net > 0)
            and abs(delta) <= abs(net)
            and self._account_reduces(token, product, side, abs(delta))
        )
        order_type = OrderType.LIMIT if price else OrderType.MARKET
        return await self._order(
            side, token, abs(delta), price, order_type, 0, product, Validity.DAY, 0, 0, "",
            reduces,
        )


# ---------------------------------------------------------------------------------------------
# The runner


@dataclass(frozen=True, slots=True)
class StrategyFailure:
    """A strategy hook raised: the strategy was stopped (or the swap refused)."""

    strategy_id: str
    hook: str
    error: str
    traceback: str
    ts: int


@dataclass(frozen=True, slots=True)
class SwapResult:
    """What :meth:`StrategyRunner.hot_swap` did; ``elapsed_s`` is wall time."""

    strategy_id: str
    swapped: bool
    elapsed_s: float
    message: str


@dataclass(frozen=True, slots=True)
class StrategyStatus:
    """A strategy as a screen shows it: state, its positions, orders and P&L (paise)."""

    strategy_id: str
    kind: str
    state: StrategyState
    tokens: tuple[str, ...]
    intervals: tuple[Interval, ...]
    params: dict[str, Any]
    error: str
    positions: tuple[StrategyPosition, ...]
    open_orders: int
    orders: int
    fills: int
    closed_trades: int
    realized: Fraction
    unrealized: Fraction
    charges: int
    events: int
    swaps: int


@dataclass(frozen=True, slots=True)
class RunnerEvent:
    """A change the UI may show: ``kind`` is ``state``, ``failure`` or ``swap``."""

    kind: str
    strategy_id: str
    message: str


_Item = tuple[str, Any, Any]


@dataclass(eq=False)
class _Slot:
    strategy: Strategy[Any]
    ledger: StrategyLedger
    state: StrategyState = StrategyState.STARTING
    ctx: StrategyContext | None = None
    queue: asyncio.Queue[_Item] = field(default_factory=asyncio.Queue)
    pending_quotes: dict[str, Quote] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    error: str = ""
    events: int = 0
    swaps: int = 0


class StrategyRunner:
    """Hosts strategies on one :class:`~engine.core.TradingCore` (see the module docstring).

    ``bars`` (optional) is the aggregator whose closed bars reach the strategies (the runner
    listens to it) and whose history warms indicators; bars can also be pushed with
    :meth:`on_bar`. Quotes are pushed with :meth:`on_quote` / :meth:`on_quotes` by whoever feeds
    the core.
    """

    def __init__(
        self,
        core: TradingCore,
        bars: BarAggregator | None = None,
        *,
        hook_wait_s: float = HOOK_WAIT_S,
    ) -> None:
        self.core = core
        self.bars = bars
        self.hook_wait_s = hook_wait_s
        self.failures: list[StrategyFailure] = []
        self._slots: dict[str, _Slot] = {}
        self._by_token: dict[str, list[_Slot]] = {}
        self._by_bar: dict[tuple[str, Interval], list[_Slot]] = {}
        self._listeners: list[Callable[[RunnerEvent], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe = core.subscribe(self._on_core_event)
        if bars is not None:
            bars.add_listener(self.on_bar)
        self._closed = False

    # ------------------------------------------------------------------ queries

    def strategy(self, strategy_id: str) -> Strategy[Any]:
        """The strategy object running under ``strategy_id``."""
        return self._slot(strategy_id).strategy

    def state(self, strategy_id: str) -> StrategyState:
        """The lifecycle state of ``strategy_id``."""
        return self._slot(strategy_id).state

    def strategy_ids(self) -> list[str]:
        """Every strategy id the runner knows (running or not), in start order."""
        return list(self._slots)

    def status(self, strategy_id: str) -> StrategyStatus:
        """Positions, orders and P&L of one strategy."""
        slot = self._slot(strategy_id)
        ledger = slot.ledger
        positions = tuple(
            ledger.position(t, p, self._ltp(t)) for t, p in ledger.position_keys()
        )
        orders = [self.core.order(c) for c in ledger.order_ids()]
        strategy = slot.strategy
        return StrategyStatus(
            strategy_id=strategy_id,
            kind=strategy.kind,
            state=slot.state,
            tokens=strategy.tokens,
            intervals=strategy.intervals,
            params=strategy.params.model_dump(),
            error=slot.error,
            positions=positions,
            open_orders=sum(1 for o in orders if o is not None and o.is_open),
            orders=len(orders),
            fills=ledger.fills,
            closed_trades=len(ledger.closed_trades),
            realized=sum((p.realized for p in positions), Fraction(0)),
            unrealized=sum((p.unrealized for p in positions), Fraction(0)),
            charges=sum(p.charges for p in positions),
            events=slot.events,
            swaps=slot.swaps,
        )

    def statuses(self) -> list[StrategyStatus]:
        """:meth:`status` of every strategy."""
        return [self.status(s) for s in self._slots]

    def subscribe(self, listener: Callable[[RunnerEvent], None]) -> Callable[[], None]:
        """Hear state changes, failures and swaps; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, strategy: Strategy[Any]) -> StrategyState:
        """Add ``strategy`` and run its ``on_start``; returns its state (FAILED if it raised).

        Its positions and orders are rebuilt from the core (fills and orders carrying its id),
        so a strategy restarted under the same id picks up where it was.
        """
        if self._closed:
            raise StrategyError("this runner is closed")
        sid = strategy.strategy_id
        old = self._slots.get(sid)
        if old is not None and old.state not in (StrategyState.STOPPED, StrategyState.FAILED):
            raise StrategyError(
                f"strategy {sid!r} is already {old.state.value.lower()}; stop it or hot_swap it"
            )
        if strategy._ctx is not None:
            raise StrategyError(f"this {type(strategy).__name__} object is already running")
        self._check_tokens(strategy)
        if self.core.kill_switch.state is not KillSwitchState.ARMED:
            raise StrategyError(
                f"the kill switch is {self.core.kill_switch.state.value}: re-arm it before "
                "starting strategies"
            )
        slot = _Slot(strategy, self._rebuild_ledger(sid))
        self._slots[sid] = slot
        ctx = StrategyContext(self, slot, strategy)
        slot.ctx = ctx
        strategy._ctx = ctx
        async with slot.lock:
            try:
                await strategy.on_start()
            except Exception as exc:
                await self._fail(slot, "on_start", exc)
                return slot.state
        self._set_state(slot, StrategyState.RUNNING)
        self._route()
        slot.task = asyncio.ensure_future(self._work(slot))
        return slot.state

    def pause(self, strategy_id: str) -> None:
        """Stop calling its market-data hooks (indicators keep updating; orders keep working)."""
        slot = self._slot(strategy_id)
        if slot.state is not StrategyState.RUNNING:
            raise StrategyError(
                f"strategy {strategy_id!r} is {slot.state.value.lower()}, not running"
            )
        self._set_state(slot, StrategyState.PAUSED)
        slot.pending_quotes.clear()

    def resume(self, strategy_id: str) -> None:
        """Call its market-data hooks again after :meth:`pause`."""
        slot = self._slot(strategy_id)
        if slot.state is not StrategyState.PAUSED:
            raise StrategyError(
                f"strategy {strategy_id!r} is {slot.state.value.lower()}, not paused"
            )
        self._set_state(slot, StrategyState.RUNNING)

    async def stop(
        self,
        strategy_id: str,
        *,
        cancel_orders: bool = True,
        flatten: bool = False,
        reason: str = "stopped",
    ) -> StrategyState:
        """Stop a strategy: wait for its running hook, call ``on_stop``, cancel its working
        orders (``cancel_orders``) and exit its positions (``flatten``). Idempotent."""
        slot = self._slot(strategy_id)
        if slot.state in (StrategyState.STOPPED, StrategyState.FAILED, StrategyState.STOPPING):
            return slot.state
        self._set_state(slot, StrategyState.STOPPING, reason)
        acquired = await self._acquire(slot)
        try:
            if slot.task is not None and slot.task is not asyncio.current_task():
                slot.task.cancel()
                self._empty(slot.queue)
            try:
                await slot.strategy.on_stop()
            except Exception as exc:
                self._record(slot, "on_stop", exc)
            if cancel_orders or flatten:
                await self._cancel_orders(slot)
            if flatten:
                ctx = slot.ctx
                assert ctx is not None
                for token, product in slot.ledger.position_keys():
                    await ctx.exit(token, product)
        finally:
            if acquired:
                slot.lock.release()
        slot.error = slot.error or ""
        self._set_state(slot, StrategyState.STOPPED, reason)
        self._route()
        return slot.state

    async def stop_all(self, reason: str = "stopped", *, cancel_orders: bool = True) -> None:
        """Stop every strategy."""
        ids = list(self._slots)
        await asyncio.gather(
            *(self.stop(sid, cancel_orders=cancel_orders, reason=reason) for sid in ids)
        )

    async def hot_swap(self, strategy_id: str, new: Strategy[Any]) -> SwapResult:
        """Replace a running (or paused) strategy by a new version, keeping its orders and
        positions. The new version's ``on_start`` runs first; if it raises, the old version keeps
        running and the swap is refused. Events queued meanwhile go to the new version; the old
        one's ``on_stop`` runs last, with its order methods already disabled."""
        started = time.perf_counter()
        slot = self._slot(strategy_id)
        if new.strategy_id != strategy_id:
            raise StrategyError(
                f"the new version must run under the same id {strategy_id!r} to keep its orders "
                f"and positions, got {new.strategy_id!r}"
            )
        if slot.state not in (StrategyState.RUNNING, StrategyState.PAUSED):
            raise StrategyError(
                f"strategy {strategy_id!r} is {slot.state.value.lower()}: start it instead"
            )
        if new._ctx is not None or new is slot.strategy:
            raise StrategyError("the new version must be a fresh strategy object")
        self._check_tokens(new)
        acquired = await self._acquire(slot)
        try:
            old = slot.strategy
            old_ctx = slot.ctx
            ctx = StrategyContext(self, slot, new)
            if old_ctx is not None:
                ctx._last_bar.update(old_ctx._last_bar)
            new._ctx = ctx
            try:
                await new.on_start()
            except Exception as exc:
                new._ctx = None
                self._record(slot, "on_start (hot swap)", exc)
                return SwapResult(
                    strategy_id, False, time.perf_counter() - started,
                    f"the new version failed to start ({exc!r}); the old version keeps running",
                )
            slot.strategy = new
            slot.ctx = ctx
            slot.swaps += 1
            self._route()
            if old_ctx is not None:
                old_ctx._retired = (
                    f"strategy {strategy_id} was replaced by a new version: this one sends no "
                    "orders"
                )
            try:
                await old.on_stop()
            except Exception as exc:
                self._record(slot, "on_stop (hot swap)", exc)
        finally:
            if acquired:
                slot.lock.release()
        if slot.task is None or slot.task.done():
            slot.task = asyncio.ensure_future(self._work(slot))
        elapsed = time.perf_counter() - started
        message = f"swapped to the new version in {elapsed * 1000:.1f} ms"
        self._emit(RunnerEvent("swap", strategy_id, message))
        return SwapResult(strategy_id, True, elapsed, message)

    async def drain(self) -> None:
        """Wait until every strategy has handled every event so far, including the fills that
        the core announces once they are durable.

        Idle means: the journal flushed, no hook running, no event queued, no runner task, seen
        twice in a row with a flush in between (a hook that just returned may have journaled
        events that are announced only after the next flush).
        """
        idle_before = False
        for _ in range(10_000):
            await self.core.settle()
            await asyncio.sleep(0)
            live = [s for s in self._slots.values() if s.task is not None and not s.task.done()]
            idle = not self._tasks and not any(s.queue.qsize() or s.lock.locked() for s in live)
            if idle and idle_before:
                return
            idle_before = idle
            for slot in live:
                await slot.queue.join()
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop every strategy and stop listening to the core and the bars."""
        await self.stop_all("runner closed")
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._unsubscribe()
        if self.bars is not None:
            self.bars.remove_listener(self.on_bar)
        self._closed = True

    # ------------------------------------------------------------------ events in

    def on_quote(self, quote: Quote) -> None:
        """Route a quote to the strategies trading its instrument (newest wins while queued)."""
        for slot in self._by_token.get(quote.token, ()):
            if slot.state is not StrategyState.RUNNING:
                continue
            pending = slot.pending_quotes
            if quote.token not in pending:
                slot.queue.put_nowait(("quote", quote.token, None))
            pending[quote.token] = quote

    def on_quotes(self, quotes: Iterable[Quote]) -> None:
        """:meth:`on_quote` for each quote, in order."""
        for quote in quotes:
            self.on_quote(quote)

    def on_bar(self, bar: Bar) -> None:
        """Route a closed bar to the strategies subscribed to its token and interval."""
        if not bar.closed:
            return
        for slot in self._by_bar.get((bar.token, Interval(bar.interval)), ()):
            self._enqueue(slot, ("bar", bar, None))

    def _on_core_event(self, event: CoreEvent) -> None:
        if event.kind == "kill_switch":
            if self.core.kill_switch.state is not KillSwitchState.ARMED:
                self._spawn(self.stop_all("kill switch", cancel_orders=False))
            return
        order = event.order
        if order is None:
            return
        slot = self._slots.get(str(order.strategy_id))
        if slot is None:
            return
        slot.ledger.note_order(order)
        if event.kind == "fill" and event.fill is not None:
            if slot.ledger.apply(event.fill):
                self._enqueue(slot, ("fill", event.fill, copy.copy(order)))
        elif event.kind == "order":
            self._enqueue(slot, ("order", copy.copy(order), None))

    @staticmethod
    def _enqueue(slot: _Slot, item: _Item) -> None:
        """Queue an event for the strategy's hooks while it has (or is about to have) a worker;
        a stopping or stopped strategy hears nothing more."""
        if slot.state in _LISTENING:
            slot.queue.put_nowait(item)

    # ------------------------------------------------------------------ the worker

    async def _work(self, slot: _Slot) -> None:
        queue = slot.queue
        while True:
            kind, payload, extra = await queue.get()
            failed: Exception | None = None
            try:
                async with slot.lock:
                    if slot.state not in (StrategyState.STOPPED, StrategyState.FAILED):
                        await self._dispatch(slot, kind, payload, extra)
            except asyncio.CancelledError:
                queue.task_done()
                raise
            except Exception as exc:
                failed = exc
            queue.task_done()
            if failed is not None:
                self._empty(queue)
                await self._fail(slot, _HOOK_OF[kind], failed)
                return

    async def _dispatch(self, slot: _Slot, kind: str, payload: Any, extra: Any) -> None:
        strategy = slot.strategy
        running = slot.state is StrategyState.RUNNING
        if kind == "quote":
            quote = slot.pending_quotes.pop(payload, None)
            if quote is not None and running:
                slot.events += 1
                await strategy.on_quote(quote)
        elif kind == "bar":
            ctx = slot.ctx
            assert ctx is not None
            ctx._feed(payload)
            if running:
                slot.events += 1
                await strategy.on_bar(payload)
        elif kind == "fill":
            slot.events += 1
            await strategy.on_fill(payload)
            await strategy.on_order_update(extra)
        elif kind == "order":
            slot.events += 1
            await strategy.on_order_update(payload)

    @staticmethod
    def _empty(queue: asyncio.Queue[_Item]) -> None:
        while not queue.empty():
            queue.get_nowait()
            queue.task_done()

    async def _fail(self, slot: _Slot, hook: str, exc: BaseException) -> None:
        self._record(slot, hook, exc)
        slot.error = f"{hook} raised {type(exc).__name__}: {exc}"
        self._set_state(slot, StrategyState.STOPPING, slot.error)
        try:
            await slot.strategy.on_stop()
        except Exception as stop_exc:
            self._record(slot, "on_stop", stop_exc)
        await self._cancel_orders(slot)
        self._set_state(slot, StrategyState.FAILED, slot.error)
        self._empty(slot.queue)
        self._route()

    def _record(self, slot: _Slot, hook: str, exc: BaseException) -> None:
        failure = StrategyFailure(
            strategy_id=slot.strategy.strategy_id,
            hook=hook,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
            ts=self.core.clock.now_ns(),
        )
        self.failures.append(failure)
        log.error("strategy %s: %s raised %s", failure.strategy_id, hook, failure.error)
        self._emit(RunnerEvent("failure", failure.strategy_id, f"{hook}: {failure.error}"))

    async def _cancel_orders(self, slot: _Slot) -> None:
        for coid in slot.ledger.order_ids():
            order = self.core.order(coid)
            if order is not None and order.is_open and not order.in_flight:
                try:
                    await self.core.cancel(coid)
                except Exception:
                    log.exception("cancelling %s of strategy %s failed", coid,
                                  slot.strategy.strategy_id)

    async def _acquire(self, slot: _Slot) -> bool:
        """Wait for the running hook to finish; cancel the worker if it takes too long."""
        if slot.task is asyncio.current_task():
            return False
        try:
            await asyncio.wait_for(slot.lock.acquire(), self.hook_wait_s)
            return True
        except TimeoutError:
            if slot.task is not None:
                slot.task.cancel()
                await asyncio.gather(slot.task, return_exceptions=True)
            slot.error = f"a hook ran longer than {self.hook_wait_s} s and was cancelled"
            await slot.lock.acquire()
            return True

    # ------------------------------------------------------------------ helpers

    def _slot(self, strategy_id: str) -> _Slot:
        slot = self._slots.get(strategy_id)
        if slot is None:
            known = ", ".join(self._slots) or "none"
            raise StrategyError(f"no strategy {strategy_id!r} in this runner (running: {known})")
        return slot

    def _check_tokens(self, strategy: Strategy[Any]) -> None:
        unknown = [t for t in strategy.tokens if t not in self.core.instruments]
        if unknown:
            raise StrategyError(
                f"strategy {strategy.strategy_id!r} trades unknown instrument tokens {unknown}; "
                "use tokens of the core's instruments"
            )
        if self.bars is not None:
            missing = [i for i in strategy.intervals if i not in self.bars.intervals]
            if missing:
                built = ", ".join(i.value for i in self.bars.intervals)
                raise StrategyError(
                    f"strategy {strategy.strategy_id!r} wants {[i.value for i in missing]} bars "
                    f"but the bar aggregator builds only {built}"
                )

    def _rebuild_ledger(self, strategy_id: str) -> StrategyLedger:
        ledger = StrategyLedger(strategy_id)
        for order in self.core.orders():
            if str(order.strategy_id) == strategy_id:
                ledger.note_order(order)
        for fill in self.core.trades():
            if str(fill.strategy_id) == strategy_id:
                ledger.apply(fill)
        return ledger

    def _route(self) -> None:
        by_token: dict[str, list[_Slot]] = {}
        by_bar: dict[tuple[str, Interval], list[_Slot]] = {}
        for slot in self._slots.values():
            if slot.state not in (StrategyState.RUNNING, StrategyState.PAUSED):
                continue
            for token in slot.strategy.tokens:
                by_token.setdefault(token, []).append(slot)
                for interval in slot.strategy.intervals:
                    by_bar.setdefault((token, interval), []).append(slot)
        self._by_token = by_token
        self._by_bar = by_bar

    def _set_state(self, slot: _Slot, state: StrategyState, message: str = "") -> None:
        slot.state = state
        text = f"{state.value.lower()}" + (f": {message}" if message else "")
        self._emit(RunnerEvent("state", slot.strategy.strategy_id, text))

    def _emit(self, event: RunnerEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("runner listener failed")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ltp(self, token: str) -> int | None:
        quote = self.core.quote(token)
        return quote.ltp if quote is not None and quote.ltp else None


_LISTENING = frozenset({StrategyState.STARTING, StrategyState.RUNNING, StrategyState.PAUSED})

_HOOK_OF = {"quote": "on_quote", "bar": "on_bar", "fill": "on_fill", "order": "on_order_update"}
