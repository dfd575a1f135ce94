"""Pre-trade risk: every order passes these checks before it is journaled and sent.

The core (``TradingCore.submit``) fills an :class:`OrderCheck` (the order and the market around
it) and a :class:`RiskState` (a snapshot of the account) and calls :meth:`PreTradeRisk.check`.
The answer is a :class:`RiskDecision`: accepted, or the FIRST failed check as a
:class:`RiskRejection` with its stable name and a message that carries the numbers in rupees
("order value ₹1,25,000.00 exceeds max_order_value ₹1,00,000.00"), plus warnings.
:meth:`PreTradeRisk.evaluate_all` lists every failure for the UI and changes nothing.

Checks, in the order they run (cheapest and most fundamental first)::

    instrument, quantity, order_fields          the order itself is well formed
    kill_switch, market_hours, reduce_only      may anything be sent at all
    lot_size, tick_size, freeze_qty, trigger,   exchange rules (always on)
    circuit, price_band                         fat-finger band (price_band_pct)
    daily_loss, drawdown                        loss limits                      } skipped for
    max_order_qty, max_order_value,             exposure limits                  } verified
    max_position_qty, max_position_value,                                        } exits
    max_open_positions, max_gross_exposure,                                      }
    funds, risk_per_trade, min_reward_risk                                       }
    otr                                         order-to-trade ratio block       }
    duplicate, rate_limit                       stateful, last

**Exits.** An order flagged ``is_exit`` skips the loss, exposure and OTR checks *only* when it
really reduces the position: the ``reduce_only`` check refuses an "exit" on the wrong side, with no
position, or larger than the position less the exits already working. Exits never skip the tick,
lot, freeze, circuit, band, market-hours, duplicate or rate checks.

**Side effects.** Only an accepted order changes state: it consumes exactly one rate-limit slot
(one per slice with :meth:`PreTradeRisk.check_sliced`), is remembered for the duplicate window and
counted in the order-to-trade meter. A rejected order consumes nothing. The one exception is a
breached loss limit: with ``kill_switch_on_daily_loss`` / ``kill_switch_on_drawdown`` (on by
default) the breach triggers the kill switch, and the decision carries the
:class:`~engine.kill_switch.KillSwitchPlan` the core must execute. The core should also call
:meth:`PreTradeRisk.monitor` on every P&L update so a breach trips the switch without waiting for an
order.

**Time.** Rate-limit, duplicate and OTR windows use the clock given to :class:`PreTradeRisk`, not
``OrderCheck.ts`` (which is only carried for the journal), so a stale or wrong timestamp in an order
cannot widen them.

Money in the state is paise; prices are integers in the instrument's price units (paise for NSE and
BSE). Values of instruments with another ``price_scale`` are converted to paise rounding up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fractions import Fraction

from engine.clock import Clock, SessionPhase, ist_date
from engine.kill_switch import KillSwitch, KillSwitchPlan, KillSwitchSource, KillSwitchState
from engine.models import Instrument, OrderType, Side
from engine.rate_limit import OrderAction, OrderRateLimiter
from engine.risk_config import RiskConfig, RiskLimits
from engine.risk_meters import DuplicateGuard, OrderToTradeMeter
from engine.risk_rules import (
    CheckContext,
    ceil_div,
    check_circuit,
    check_freeze_qty,
    check_instrument,
    check_lot_size,
    check_market_hours,
    check_mis_cutoff,
    check_order_fields,
    check_price_band,
    check_quantity,
    check_reduce_only,
    check_tick_size,
    check_trigger,
    describe,
    pct_text,
    price_text,
    ratio_text,
    reduces,
    rupees,
    to_paise,
    value_price,
)
from engine.risk_types import (
    CHECKS,
    OrderCheck,
    PositionExit,
    PositionLike,
    RiskDecision,
    RiskInputError,
    RiskRejection,
    RiskState,
    RiskWarning,
)
from engine.slicing import MAX_SLICES, SlicingError, slice_quantity

__all__ = [
    "CHECKS",
    "OrderCheck",
    "PositionExit",
    "PositionLike",
    "PreTradeRisk",
    "RiskDecision",
    "RiskInputError",
    "RiskRejection",
    "RiskState",
    "RiskWarning",
]

_FUNDAMENTAL = frozenset({"instrument", "quantity", "order_fields"})
_ENTRY_ONLY = frozenset(CHECKS[CHECKS.index("daily_loss") : CHECKS.index("otr") + 1])
_NS_PER_MS = 1_000_000

# ---------------------------------------------------------------------------------------------
# The checker


class PreTradeRisk:
    """Runs the pre-trade checks, owns the rate limiter, the meters and the kill switch.

    One instance serves the whole account: every order from every widget, key and strategy goes
    through it, so the rate limit and the OTR are shared. Not thread-safe: the core calls it on its
    event loop, and a check runs to completion without awaiting.
    """

    __slots__ = (
        "_checks",
        "_clock",
        "_config",
        "_duplicates",
        "_kill",
        "_limiter",
        "_limits",
        "_otr",
    )

    def __init__(
        self,
        config: RiskConfig,
        clock: Clock,
        *,
        kill_switch: KillSwitch | None = None,
        rate_limiter: OrderRateLimiter | None = None,
        otr_meter: OrderToTradeMeter | None = None,
    ) -> None:
        self._config = config
        self._limits: RiskLimits = config.limits()
        self._clock = clock
        self._kill = (
            kill_switch
            if kill_switch is not None
            else KillSwitch(self._limits.flatten_protection_pct)
        )
        if rate_limiter is None:
            rate_limiter = OrderRateLimiter(
                self._limits.orders_per_second,
                count_modify_cancel=self._limits.count_modify_cancel,
            )
        elif rate_limiter.max_per_window > self._limits.orders_per_second:
            raise ValueError(
                f"the shared rate limiter allows {rate_limiter.max_per_window} orders per window, "
                f"more than orders_per_second {self._limits.orders_per_second}"
            )
        self._limiter = rate_limiter
        self._otr = otr_meter if otr_meter is not None else OrderToTradeMeter()
        self._duplicates = DuplicateGuard(self._limits.duplicate_window_ns)
        allow_amo, band = self._limits.allow_amo, self._limits.price_band_pct
        cutoff = self._limits.mis_entry_cutoff
        rules: dict[str, Callable[[CheckContext], str | None]] = {
            "instrument": check_instrument,
            "quantity": check_quantity,
            "order_fields": check_order_fields,
            "market_hours": lambda ctx: check_market_hours(ctx, allow_amo),
            "reduce_only": check_reduce_only,
            "lot_size": check_lot_size,
            "tick_size": check_tick_size,
            "freeze_qty": check_freeze_qty,
            "trigger": check_trigger,
            "circuit": check_circuit,
            "price_band": lambda ctx: check_price_band(ctx, band),
            "mis_cutoff": lambda ctx: check_mis_cutoff(ctx, cutoff),
        }
        self._checks: tuple[tuple[str, Callable[[CheckContext], str | None]], ...] = tuple(
            (name, rules[name] if name in rules else getattr(self, f"_check_{name}"))
            for name in CHECKS
        )

    # -- read-only parts ---------------------------------------------------------------------------

    @property
    def config(self) -> RiskConfig:
        """The configuration in force."""
        return self._config

    @property
    def limits(self) -> RiskLimits:
        """The limits in paise/ns/fractions."""
        return self._limits

    @property
    def kill_switch(self) -> KillSwitch:
        """The account's kill switch."""
        return self._kill

    @property
    def rate_limiter(self) -> OrderRateLimiter:
        """The shared order-rate limiter."""
        return self._limiter

    @property
    def otr(self) -> OrderToTradeMeter:
        """The order-to-trade meter."""
        return self._otr

    # -- public API ------------------------------------------------------------------------------

    def check(
        self, order: OrderCheck, state: RiskState, *, action: OrderAction = OrderAction.NEW
    ) -> RiskDecision:
        """Accept the order or return the first failed check (see the module docstring).

        ``action`` MODIFY checks a modification: pass the order as it will be after the change,
        with ``state.required_margin`` the extra margin it needs and ``state.open_exit_qty``
        excluding the order being modified (the duplicate check is skipped; the rate limit
        counts it when so configured). An order above the freeze quantity is refused here; use
        :meth:`check_sliced` to split it.
        """
        return self._decide(order, state, action, sliced=False, max_slices=1)

    def check_sliced(
        self, order: OrderCheck, state: RiskState, *, max_slices: int = MAX_SLICES
    ) -> RiskDecision:
        """Check a new order as a whole and split it into freeze-sized slices.

        The limits apply to the whole order (slicing cannot get around them); every slice is a lot
        multiple within the freeze quantity; the rate limiter must have a slot for every slice
        at once, and an accepted decision consumes them all (``decision.slices``).
        """
        if type(max_slices) is not int or not 1 <= max_slices <= MAX_SLICES:
            raise ValueError(f"max_slices must be between 1 and {MAX_SLICES}, got {max_slices!r}")
        return self._decide(order, state, OrderAction.NEW, sliced=True, max_slices=max_slices)

    def evaluate_all(
        self, order: OrderCheck, state: RiskState, *, action: OrderAction = OrderAction.NEW
    ) -> list[RiskRejection]:
        """Every failed check, in order, for the UI. Changes nothing (no slot, no trigger).

        When the order itself is malformed (instrument, quantity or order fields) only those
        failures are listed: the other checks would be meaningless.
        """
        ctx = self._context(order, state, action, self._clock.now_ns(), False, 1)
        failures: list[RiskRejection] = []
        for name, fn in self._checks:
            if name in _ENTRY_ONLY and ctx.exit_verified:
                continue
            if name not in _FUNDAMENTAL and any(f.check in _FUNDAMENTAL for f in failures):
                break
            message = fn(ctx)
            if message is not None:
                failures.append(RiskRejection(name, message))
        return failures

    def admit_cancel(self, instrument: Instrument) -> RiskDecision:
        """Admit a cancellation: only the rate limit applies (the kill switch never blocks one).

        With ``rate_limit_counts_modify_cancel`` (the default) a cancel uses a slot and is
        counted in the OTR; a refused cancel names the wait.
        """
        now = self._clock.now_ns()
        segment = instrument.exchange.value
        if not self._limiter.try_acquire(segment, now, OrderAction.CANCEL):
            return RiskDecision(RiskRejection("rate_limit", self._rate_message(segment, 1, now)))
        self._otr.record(OrderAction.CANCEL, now)
        return RiskDecision(None)

    def on_trade(self, ts: int | None = None, n: int = 1) -> None:
        """Count ``n`` executions for the order-to-trade ratio (call on every new fill)."""
        self._otr.record_trade(self._clock.now_ns() if ts is None else ts, n)

    def monitor(self, state: RiskState) -> KillSwitchPlan | None:
        """Trip the kill switch on a daily-loss or drawdown breach (call on P&L updates).

        Only an ARMED switch is triggered, and each source at most once per IST day (after a
        re-arm the loss limits keep refusing new orders, so re-triggering would only repeat the
        flattening). Returns the plan the core must execute, or None.
        """
        now = self._clock.now_ns()
        loss = self._daily_loss_message(state)
        if loss is not None and self._limits.kill_on_daily_loss:
            plan = self._auto_trigger(KillSwitchSource.DAILY_LOSS, loss, now)
            if plan is not None:
                return plan
        drawdown = self._drawdown_message(state)
        if drawdown is not None and self._limits.kill_on_drawdown:
            return self._auto_trigger(KillSwitchSource.DRAWDOWN, drawdown, now)
        return None

    def positions_to_exit(self, positions: Iterable[PositionLike]) -> list[PositionExit]:
        """Open positions whose gross loss (``-(realized + unrealized)``) reached the limit.

        Each comes with the exit order's side and quantity. Empty when
        ``max_loss_per_position`` is off. The loss is the position's gross P&L, as
        :attr:`engine.portfolio.PositionView.max_loss` measures it.
        """
        limit = self._limits.max_loss_per_position
        if limit is None:
            return []
        exits: list[PositionExit] = []
        for pos in positions:
            if pos.net_qty == 0:
                continue
            loss = -(pos.realized + pos.unrealized)
            if loss < limit:
                continue
            side = Side.SELL if pos.net_qty > 0 else Side.BUY
            exits.append(
                PositionExit(
                    token=pos.token,
                    product=pos.product,
                    side=side,
                    qty=abs(pos.net_qty),
                    loss=loss,
                    message=(
                        f"position {pos.net_qty:+d} in {pos.token} ({pos.product}) has lost "
                        f"{rupees(loss)}, at or beyond max_loss_per_position {rupees(limit)}: "
                        f"{side} {abs(pos.net_qty)} to exit"
                    ),
                )
            )
        return exits

    # -- the decision ------------------------------------------------------------------------------

    def _context(
        self,
        order: OrderCheck,
        state: RiskState,
        action: OrderAction,
        now: int,
        sliced: bool,
        max_slices: int,
    ) -> CheckContext:
        valuation, from_reference = value_price(order)
        return CheckContext(
            order=order,
            state=state,
            action=action,
            now=now,
            sliced=sliced,
            max_slices=max_slices,
            value_price=valuation,
            value_from_reference=from_reference,
            new_qty=state.position_qty + order.side.sign * order.qty,
            exit_verified=order.is_exit and reduces(order, state),
        )

    def _decide(
        self,
        order: OrderCheck,
        state: RiskState,
        action: OrderAction,
        *,
        sliced: bool,
        max_slices: int,
    ) -> RiskDecision:
        now = self._clock.now_ns()
        ctx = self._context(order, state, action, now, sliced, max_slices)
        for name, fn in self._checks:
            if name in _ENTRY_ONLY and ctx.exit_verified:
                continue
            message = fn(ctx)
            if message is None:
                continue
            plan = None
            if name == "daily_loss" and self._limits.kill_on_daily_loss:
                plan = self._auto_trigger(KillSwitchSource.DAILY_LOSS, message, now)
            elif name == "drawdown" and self._limits.kill_on_drawdown:
                plan = self._auto_trigger(KillSwitchSource.DRAWDOWN, message, now)
            return RiskDecision(RiskRejection(name, message), kill_switch=plan)
        slices = tuple(self._slices(ctx))
        segment = order.segment
        if not self._limiter.try_acquire_many(segment, len(slices), now, action):
            rejection = RiskRejection("rate_limit", self._rate_message(segment, len(slices), now))
            return RiskDecision(rejection)
        if action is OrderAction.NEW:
            self._duplicates.record(self._dup_key(order), now)
        self._otr.record(action, now, len(slices))
        return RiskDecision(None, tuple(self._warnings(ctx, slices)), slices)

    def _slices(self, ctx: CheckContext) -> list[int]:
        if not ctx.sliced:
            return [ctx.order.qty]
        return slice_quantity(
            ctx.order.qty, ctx.inst, ctx.inst.freeze_qty, max_slices=ctx.max_slices
        )

    def _auto_trigger(
        self, source: KillSwitchSource, message: str, now: int
    ) -> KillSwitchPlan | None:
        if self._kill.state is not KillSwitchState.ARMED:
            return None
        if self._kill.auto_triggered_on(source, ist_date(now)):
            return None
        return self._kill.trigger(message, source, now)

    def _warnings(self, ctx: CheckContext, slices: tuple[int, ...]) -> list[RiskWarning]:
        order, limits = ctx.order, self._limits
        out: list[RiskWarning] = []
        if ctx.state.phase is SessionPhase.CLOSED and limits.allow_amo:
            out.append(
                RiskWarning(
                    "market_hours",
                    f"{order.segment} is closed: the order goes as an after-market order (AMO)",
                )
            )
        if ctx.value_from_reference and ctx.value_price is not None:
            out.append(
                RiskWarning(
                    "max_order_value",
                    f"LTP of {ctx.inst.symbol} unknown: the MARKET order was valued at the "
                    f"previous close {price_text(ctx.value_price, ctx.inst)}",
                )
            )
        ratio = self._otr.ratio(ctx.now)
        if limits.otr_warn is not None and ratio >= limits.otr_warn:
            out.append(
                RiskWarning(
                    "otr",
                    f"order-to-trade ratio is {ratio_text(ratio)} today "
                    f"({self._otr.messages(ctx.now)} orders+modifies+cancels, "
                    f"{self._otr.trades(ctx.now)} trades); otr_warn is {limits.otr_warn}"
                    + (f", otr_block {limits.otr_block}" if limits.otr_block else ""),
                )
            )
        if len(slices) > 1:
            out.append(
                RiskWarning(
                    "freeze_qty",
                    f"{order.qty} {ctx.inst.symbol} goes as {len(slices)} slices: "
                    + " + ".join(str(q) for q in slices),
                )
            )
        return out

    def _rate_message(self, segment: str, n: int, now: int) -> str:
        cap = self._limiter.max_per_window
        if n > cap:
            return (
                f"{n} slices need {n} order slots at once but {segment} allows {cap} orders per "
                "second"
            )
        wait = self._limiter.time_until_available(segment, now, n)
        free = self._limiter.available(segment, now)
        need = f"{n} slots needed, {free} free" if n > 1 else "no slot free"
        return (
            f"{segment} order rate limit of {cap} orders per second reached ({need}); "
            f"retry in {ceil_div(wait, _NS_PER_MS)} ms"
        )

    @staticmethod
    def _dup_key(order: OrderCheck) -> tuple[str, Side, int, int, int, OrderType]:
        return (order.token, order.side, order.qty, order.price, order.trigger, order.order_type)

    # -- loss figures shared by checks and the monitor --------------------------------------------

    def _daily_loss_message(self, state: RiskState) -> str | None:
        limit = self._limits.daily_loss_limit
        if limit is None or -state.day_pnl < limit:
            return None
        return (
            f"day P&L {rupees(state.day_pnl)} has reached daily_loss_limit {rupees(limit)}; "
            "new orders are blocked for the day (exits are still accepted)"
        )

    def _drawdown_message(self, state: RiskState) -> str | None:
        fall = state.peak_equity - state.equity
        if fall <= 0:
            return None
        amount = self._limits.max_drawdown
        if amount is not None and fall >= amount:
            return (
                f"equity {rupees(state.equity)} is {rupees(fall)} below the day's peak "
                f"{rupees(state.peak_equity)}; max_drawdown_from_peak is {rupees(amount)}"
            )
        pct = self._limits.max_drawdown_pct
        if pct is not None and fall * 100 >= pct * state.peak_equity:
            shown = (
                pct_text(Fraction(fall * 100, state.peak_equity))
                if state.peak_equity > 0
                else "all"
            )
            return (
                f"equity {rupees(state.equity)} is {rupees(fall)} ({shown}) below the day's "
                f"peak {rupees(state.peak_equity)}; max_drawdown_from_peak_pct is {pct_text(pct)}"
            )
        return None

    # -- the checks (each returns a message when it fails) ----------------------------------------

    def _check_kill_switch(self, ctx: CheckContext) -> str | None:
        return self._kill.blocks(ctx.order.is_exit)

    def _check_daily_loss(self, ctx: CheckContext) -> str | None:
        return self._daily_loss_message(ctx.state)

    def _check_drawdown(self, ctx: CheckContext) -> str | None:
        return self._drawdown_message(ctx.state)

    def _unvalued(self, ctx: CheckContext, limit: str) -> str:
        return (
            f"cannot value the {ctx.order.order_type} order for {limit}: no LTP or previous "
            f"close known for {ctx.inst.symbol}"
        )

    def _check_max_order_qty(self, ctx: CheckContext) -> str | None:
        limit = self._limits.max_order_qty
        if limit is None or ctx.order.qty <= limit:
            return None
        return f"quantity {ctx.order.qty} exceeds max_order_qty {limit}"

    def _check_max_order_value(self, ctx: CheckContext) -> str | None:
        limit = self._limits.max_order_value
        if limit is None:
            return None
        if ctx.value_price is None:
            return self._unvalued(ctx, "max_order_value")
        value = to_paise(ctx.order.qty * ctx.value_price, ctx.inst)
        if value <= limit:
            return None
        return f"order value {rupees(value)} exceeds max_order_value {rupees(limit)}"

    def _check_max_position_qty(self, ctx: CheckContext) -> str | None:
        limit = self._limits.max_position_qty
        if limit is None or not ctx.grows or abs(ctx.new_qty) <= limit:
            return None
        return (
            f"position in {ctx.inst.symbol} would be {ctx.new_qty:+d} (now "
            f"{ctx.state.position_qty:+d}); max_position_qty_per_instrument is {limit}"
        )

    def _check_max_position_value(self, ctx: CheckContext) -> str | None:
        limit = self._limits.max_position_value
        if limit is None or not ctx.grows:
            return None
        if ctx.value_price is None:
            return self._unvalued(ctx, "max_position_value_per_instrument")
        value = to_paise(abs(ctx.new_qty) * ctx.value_price, ctx.inst)
        if value <= limit:
            return None
        return (
            f"position in {ctx.inst.symbol} would be worth {rupees(value)} "
            f"({abs(ctx.new_qty)} at {price_text(ctx.value_price, ctx.inst)}); "
            f"max_position_value_per_instrument is {rupees(limit)}"
        )

    def _check_max_open_positions(self, ctx: CheckContext) -> str | None:
        limit = self._limits.max_open_positions
        if limit is None or ctx.state.position_qty != 0 or ctx.state.open_positions < limit:
            return None
        return (
            f"this order opens a new position in {ctx.inst.symbol}; "
            f"{ctx.state.open_positions} are open and max_open_positions is {limit}"
        )

    def _check_max_gross_exposure(self, ctx: CheckContext) -> str | None:
        limit = self._limits.max_gross_exposure
        if limit is None or not ctx.grows:
            return None
        if ctx.value_price is None:
            return self._unvalued(ctx, "max_gross_exposure")
        added_qty = abs(ctx.new_qty) - abs(ctx.state.position_qty)
        added = to_paise(added_qty * ctx.value_price, ctx.inst)
        total = ctx.state.gross_exposure + added
        if total <= limit:
            return None
        return (
            f"gross exposure would be {rupees(total)} (now "
            f"{rupees(ctx.state.gross_exposure)} + this order {rupees(added)}); "
            f"max_gross_exposure is {rupees(limit)}"
        )

    def _check_funds(self, ctx: CheckContext) -> str | None:
        need, have = ctx.state.required_margin, ctx.state.funds_available
        if need <= have:
            return None
        return (
            f"required margin {rupees(need)} exceeds available funds {rupees(have)} "
            f"(short by {rupees(need - max(have, 0))})"
        )

    def _entry_and_stop(self, ctx: CheckContext, limit_name: str) -> tuple[int, int] | str:
        """(entry price, stop distance) or the failure message."""
        order, inst = ctx.order, ctx.inst
        if order.stop_loss == 0:
            return f"{limit_name} is on: the order needs a stop-loss price"
        if ctx.value_price is None:
            return self._unvalued(ctx, limit_name)
        entry = ctx.value_price
        if order.side is Side.BUY and order.stop_loss >= entry:
            return (
                f"a BUY's stop-loss {price_text(order.stop_loss, inst)} must be below the entry "
                f"{price_text(entry, inst)}"
            )
        if order.side is Side.SELL and order.stop_loss <= entry:
            return (
                f"a SELL's stop-loss {price_text(order.stop_loss, inst)} must be above the entry "
                f"{price_text(entry, inst)}"
            )
        return entry, abs(entry - order.stop_loss)

    def _check_risk_per_trade(self, ctx: CheckContext) -> str | None:
        pct = self._limits.risk_per_trade_pct
        if pct is None:
            return None
        found = self._entry_and_stop(ctx, "risk_per_trade_pct")
        if isinstance(found, str):
            return found
        entry, distance = found
        capital = ctx.state.capital_base
        if capital <= 0:
            return f"risk_per_trade_pct needs a positive capital base; it is {rupees(capital)}"
        risk = to_paise(distance * ctx.order.qty, ctx.inst)
        if risk * 100 <= pct * capital:
            return None
        allowed = math.floor(pct * capital / 100)
        return (
            f"risk to the stop-loss {rupees(risk)} ({ctx.order.qty} × "
            f"{price_text(distance, ctx.inst)} from {price_text(entry, ctx.inst)} to "
            f"{price_text(ctx.order.stop_loss, ctx.inst)}) exceeds risk_per_trade_pct "
            f"{pct_text(pct)} of capital {rupees(capital)} = {rupees(allowed)}"
        )

    def _check_min_reward_risk(self, ctx: CheckContext) -> str | None:
        minimum = self._limits.min_reward_risk
        if minimum is None:
            return None
        found = self._entry_and_stop(ctx, "min_reward_risk")
        if isinstance(found, str):
            return found
        entry, risk = found
        order, inst = ctx.order, ctx.inst
        if order.target == 0:
            return "min_reward_risk is on: the order needs a target price"
        reward = order.target - entry if order.side is Side.BUY else entry - order.target
        if reward <= 0:
            where = "above" if order.side is Side.BUY else "below"
            return (
                f"a {order.side}'s target {price_text(order.target, inst)} must be {where} the "
                f"entry {price_text(entry, inst)}"
            )
        ratio = Fraction(reward, risk)
        if ratio >= minimum:
            return None
        return (
            f"reward/risk {ratio_text(ratio)} (entry {price_text(entry, inst)}, target "
            f"{price_text(order.target, inst)}, stop {price_text(order.stop_loss, inst)}) is below "
            f"min_reward_risk {ratio_text(minimum)}"
        )

    def _check_otr(self, ctx: CheckContext) -> str | None:
        block = self._limits.otr_block
        if block is None:
            return None
        n = len(self._slices_or_one(ctx))
        ratio = self._otr.ratio(ctx.now, extra_messages=n)
        if ratio <= block:
            return None
        return (
            f"order-to-trade ratio would be {ratio_text(ratio)} today "
            f"({self._otr.messages(ctx.now)} orders+modifies+cancels + {n}, "
            f"{self._otr.trades(ctx.now)} trades); otr_block is {block}"
        )

    def _check_duplicate(self, ctx: CheckContext) -> str | None:
        order = ctx.order
        if ctx.action is not OrderAction.NEW or order.confirmed:
            return None
        ago = self._duplicates.seen_ago(self._dup_key(order), ctx.now)
        if ago is None:
            return None
        window = Fraction(self._duplicates.window_ns, 1_000_000_000)
        return (
            f"the same order ({describe(order)}) was accepted {ago / 1e9:.1f} s ago; "
            f"confirm to send it again (duplicate_window_s {ratio_text(window)})"
        )

    def _check_rate_limit(self, ctx: CheckContext) -> str | None:
        if not self._limiter.counts(ctx.action):
            return None
        n = len(self._slices_or_one(ctx))
        if self._limiter.available(ctx.order.segment, ctx.now) >= n:
            return None
        return self._rate_message(ctx.order.segment, n, ctx.now)

    def _slices_or_one(self, ctx: CheckContext) -> list[int]:
        """The slices the order would go as (the freeze check has already passed)."""
        try:
            return self._slices(ctx)
        except SlicingError:
            return [ctx.order.qty]
