"""``TradingCore``: the one facade every order goes through.

The safe path, always in this order::

    OrderIntent -> pre-trade risk -> journal (durable) -> broker -> events -> OMS -> portfolio -> UI

* Nothing reaches a broker without passing :class:`~engine.risk.PreTradeRisk` and being durable in
  the :class:`~engine.journal.Journal` first. A refused order is journaled as rejected, with the
  check's message, and shows in the order book like any other.
* Broker events (acks, fills, cancels...) are applied to the OMS at once, journaled (group
  commit), and announced to subscribers only once they are durable, so the screen never shows a
  fill that a crash could take back.
* On start the whole state (orders, positions, P&L, funds, kill switch) is rebuilt from the
  journal's latest snapshot plus the events after it (or from every event when there is no usable
  snapshot); working orders are handed to the broker's ``resume``.
* Snapshots (:meth:`TradingCore.write_snapshot`) are written on a clean :meth:`TradingCore.stop`,
  every ``snapshot_every`` journal records and after an IST day change. At a day change the
  previous days' finished orders, fills, GTT rules and brackets leave the working set (the
  journal keeps them for ``cockpit export``), so memory and snapshots stay the size of a day.

The core runs on one asyncio loop and never blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from datetime import time as dtime
from fractions import Fraction
from typing import Any

from engine.brackets import Bracket, BracketSpec
from engine.broker import (
    Broker,
    BrokerOutcomeUnknownError,
    BrokerRejectedError,
    ModifyRequest,
    PlaceRequest,
)
from engine.charges import ChargesModel
from engine.clock import Clock, SessionPhase, ist_date, ist_ns
from engine.equity_marks import K_EQUITY_MARK, EquityMark
from engine.gtt import GttKind, GttLeg, GttRule
from engine.intent import OrderIntent
from engine.journal import Journal, Snapshot
from engine.kill_switch import KillSwitch, KillSwitchPlan, KillSwitchSource, KillSwitchState
from engine.margin import order_margin
from engine.models import (
    ClientOrderId,
    Exchange,
    Fill,
    Instrument,
    OrderStatus,
    OrderType,
    Product,
    Quote,
    Side,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from engine.oms import OMS
from engine.orders import (
    Order,
    OrderCancelRejected,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderOutcomeUnknown,
    OrderPendingCancel,
    OrderPendingModify,
    OrderRejected,
    OrderSubmitted,
    event_from_dict,
    event_to_dict,
)
from engine.portfolio import Funds, Portfolio, PositionView
from engine.protection import K_BRACKETS, K_GTT, Protection
from engine.rate_limit import OrderAction
from engine.risk import PreTradeRisk
from engine.risk_meters import OrderToTradeMeter
from engine.risk_types import OrderCheck, RiskDecision, RiskRejection, RiskState, RiskWarning

log = logging.getLogger("engine.core")

# Journal record kinds
K_ORDER = "order"
K_FILL = "fill"
K_KILL = "kill_switch"
K_NOTE = "note"

SNAPSHOT_VERSION = 1
"""Version of the core snapshot format (:meth:`TradingCore.write_snapshot`)."""
DEFAULT_SNAPSHOT_EVERY = 100_000
"""Journal records between two background snapshots. Snapshots are also written at every IST day
change and on stop, so this only matters on a very busy day: a crash then replays at most this
many records (~3 s), while encoding a big day's snapshot (it holds the GIL) happens rarely."""

PhaseOf = Callable[[Exchange], SessionPhase]


class KillSwitchBlockedError(RuntimeError):
    """The kill switch blocks new orders, GTTs and brackets until it is re-armed."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to :meth:`TradingCore.submit`.

    ``accepted`` means the order passed risk, is durable in the journal and was handed to the
    broker (its fate at the broker arrives as events). ``client_order_ids`` has one id per slice.
    """

    accepted: bool
    client_order_ids: tuple[ClientOrderId, ...]
    message: str = ""
    rejection: RiskRejection | None = None
    warnings: tuple[RiskWarning, ...] = ()

    @property
    def client_order_id(self) -> ClientOrderId | None:
        """The first (usually only) order id."""
        return self.client_order_ids[0] if self.client_order_ids else None


@dataclass(frozen=True, slots=True)
class CoreEvent:
    """What subscribers (the UI, strategies) hear: a durable change of the core's state.

    ``kind`` is ``order`` (an order changed; ``order`` is set), ``fill`` (``fill`` and ``order``
    set), ``kill_switch`` (``message`` says what happened) or ``risk`` (a warning or a breach).
    """

    kind: str
    order: Order | None = None
    fill: Fill | None = None
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[CoreEvent], None]


class TradingCore:
    """The single source of truth for orders, positions, P&L and risk of one account."""

    def __init__(
        self,
        *,
        broker: Broker,
        journal: Journal,
        instruments: Mapping[str, Instrument],
        risk: PreTradeRisk,
        portfolio: Portfolio,
        charges: ChargesModel,
        clock: Clock,
        account: str,
        phase_of: PhaseOf,
        oms: OMS | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    ) -> None:
        if type(snapshot_every) is not int or snapshot_every < 0:
            raise ValueError(
                f"snapshot_every must be a whole number of journal records >= 0 (0 = only on "
                f"stop), got {snapshot_every!r}"
            )
        self.broker = broker
        self.journal = journal
        self.instruments = instruments
        self.risk = risk
        self.portfolio = portfolio
        self.charges = charges
        self.clock = clock
        self.account = account
        self.phase_of = phase_of
        self.oms = oms if oms is not None else OMS(clock=clock)
        self._open = _OpenOrderIndex(self.oms.all_orders())
        self._replaying = False
        chained = self.oms.on_change

        def on_change(order: Order, event: OrderEvent) -> None:
            if not self._replaying:  # the replay rebuilds the index once, at its end
                self._open.update(order)
            if chained is not None:
                chained(order, event)

        self.oms.on_change = on_change
        self._quotes: dict[str, Quote] = {}
        self._subscribers: list[Subscriber] = []
        self._fills: list[Fill] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._capital_base = portfolio.funds().equity
        self.protection = Protection(self)
        self.snapshot_every = snapshot_every
        self.restored_from: int | None = None
        """Seq of the snapshot ``start()`` restored from; None after a full replay."""
        self._snapshot_seq = 0
        self._snapshot_tried_seq = 0
        self._snapshots_off = False
        self._snapshot_task: asyncio.Task[Snapshot | None] | None = None
        self._unapplied: dict[int, int] = {}  # first seq of journaled-not-yet-applied -> count
        self._next_day_ns = 0
        self._mark_day: date | None = None
        # Snapshot dicts of orders and fills, reused while unchanged (capture runs on the loop).
        self._order_dicts: dict[ClientOrderId, tuple[Order, tuple[int, int, int], Any]] = {}
        self._fill_dicts: dict[tuple[str, str], tuple[Fill, dict[str, Any]]] = {}
        broker.set_event_sink(self._on_broker_event)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Rebuild state from the journal, connect the broker and resume working orders.

        Returns the number of journal records replayed.
        """
        snapshot, replayed = await asyncio.to_thread(self._collect_journal)
        if snapshot is not None and not self._restore(snapshot):
            replayed = await asyncio.to_thread(self._collect_records, 0)
        count = self._apply_replay(replayed)
        self._roll_day(self.clock.now_ns(), snapshot=False)
        await self.broker.connect()
        working = [o for o in self.oms.open_orders() if not o.external]
        if working:
            await self.broker.resume(working)
        await self.protection.resume()
        self._started = True
        plan = self.kill_switch.pending_plan()
        if plan is not None:
            self._spawn(self._execute_kill_plan(plan))
        return count

    async def stop(self) -> None:
        """Flush the journal, write a snapshot and close the broker (the journal is closed by its
        owner)."""
        snapshotting = self._snapshot_task
        for task in list(self._tasks):
            if task is not snapshotting:
                task.cancel()
        await self.protection.stop()
        if snapshotting is not None:
            with contextlib.suppress(Exception):
                await snapshotting
        if not self.journal.closed and not self.journal.halted:
            if self._started:
                now = self.clock.now_ns()
                self._mark_equity(ist_date(now), now)
            await self.journal.flush()
            if self._can_snapshot():
                try:
                    await self.write_snapshot()
                except Exception:
                    log.exception("snapshot on stop failed; the next start replays the journal")
        self._snapshots_off = True
        await self.broker.close()

    async def write_snapshot(self) -> Snapshot | None:
        """Flush the journal, then store the whole rebuildable state as a snapshot.

        The snapshot covers the journal up to its last record (lower, if a journaled order
        event is still being applied), and holds the OMS, the portfolio, the charges model's
        day state, the GTT book and brackets, the kill switch, the order-to-trade meter and the
        day's fills. The state is captured at once on the loop; encoding and writing it run in
        a thread. Returns the stored snapshot, or None before :meth:`start` finished (a partial
        state must never be saved) or when the journal is closed or halted.
        """
        if not self._can_snapshot():
            return None
        await self.journal.flush()
        if not self._can_snapshot():
            return None
        seq, state = self._capture_state()
        snapshot = await asyncio.to_thread(asyncio.run, _store_snapshot(self.journal, seq, state))
        self._snapshot_seq = max(self._snapshot_seq, snapshot.seq)
        return snapshot

    async def settle(self) -> None:
        """Wait until follow-up work is done: GTT fires and bracket actions carried out, kill
        switch and exit tasks finished, and everything journaled so far durable."""
        for _ in range(100):
            await self.protection.idle()
            pending = [t for t in self._tasks if not t.done()]
            if pending:
                await asyncio.wait(pending)
                continue
            if self.protection.has_work():
                continue
            break
        await self.journal.flush()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Hear every durable change; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    # ------------------------------------------------------------------ read-only views

    @property
    def kill_switch(self) -> KillSwitch:
        """The account's kill switch."""
        return self.risk.kill_switch

    def orders(self) -> list[Order]:
        """Every order, oldest first."""
        return self.oms.all_orders()

    def open_orders(self) -> list[Order]:
        """Working orders."""
        return self.oms.open_orders()

    def order(self, client_order_id: str) -> Order | None:
        """One order by id."""
        return self.oms.get(ClientOrderId(client_order_id))

    def trades(self) -> list[Fill]:
        """Every fill, oldest first."""
        return list(self._fills)

    def positions(self) -> tuple[PositionView, ...]:
        """Positions (open and closed today)."""
        return self.portfolio.positions()

    def funds(self) -> Funds:
        """Cash, margin, P&L and funds available."""
        return self.portfolio.funds()

    def quote(self, token: str) -> Quote | None:
        """The latest quote the core has seen for a token."""
        return self._quotes.get(token)

    def risk_usage(self) -> dict[str, Any]:
        """How much of each account-level limit is in use (for the status bar)."""
        funds = self.portfolio.funds()
        limits = self.risk.limits
        usage: dict[str, Any] = {
            "day_pnl": funds.day_pnl,
            "daily_loss_limit": limits.daily_loss_limit,
            "drawdown": funds.day_drawdown,
            "margin_used": funds.margin_used,
            "funds_available": funds.available,
            "open_orders": self._open.count,
            "kill_switch": self.kill_switch.state.value,
        }
        if limits.daily_loss_limit:
            usage["daily_loss_used_pct"] = max(0, -funds.day_pnl) * 100 / limits.daily_loss_limit
        return usage

    # ------------------------------------------------------------------ orders

    async def submit(self, intent: OrderIntent) -> SubmitResult:
        """Risk-check, journal, then send an order (sliced above the freeze quantity)."""
        if intent.client_order_id is not None:
            existing = self.oms.get(ClientOrderId(intent.client_order_id))
            if existing is not None:
                return SubmitResult(
                    accepted=existing.status is not OrderStatus.REJECTED,
                    client_order_ids=(existing.client_order_id,),
                    message="already submitted (same client order id): nothing sent again",
                )
        now = self.clock.now_ns()
        coid = ClientOrderId(intent.client_order_id or self.oms.new_client_order_id())
        instrument = self.instruments.get(intent.token)
        if instrument is None:
            rejection = RiskRejection(
                "instrument", f"unknown instrument token {intent.token!r}; pick one from search"
            )
            await self._journal_rejection(coid, intent, rejection, now)
            return SubmitResult(False, (coid,), str(rejection), rejection)
        check = self._order_check(intent, instrument, coid, now)
        state = self._risk_state(intent, instrument, check)
        decision: RiskDecision = self.risk.check_sliced(check, state)
        if decision.kill_switch is not None:
            self._spawn(self._execute_kill_plan(decision.kill_switch))
        if not decision.accepted:
            assert decision.rejection is not None
            await self._journal_rejection(coid, intent, decision.rejection, now)
            return SubmitResult(
                False, (coid,), str(decision.rejection), decision.rejection, decision.warnings
            )
        ids: list[ClientOrderId] = []
        for index, qty in enumerate(decision.slices):
            slice_id = coid if index == 0 else ClientOrderId(self.oms.new_client_order_id())
            ids.append(slice_id)
            await self._send_new(slice_id, intent, instrument, qty, now)
        message = "sent" if len(ids) == 1 else f"sent as {len(ids)} slices"
        return SubmitResult(True, tuple(ids), message, None, decision.warnings)

    async def _send_new(
        self, coid: ClientOrderId, intent: OrderIntent, instrument: Instrument, qty: int, now: int
    ) -> None:
        init = OrderInitialized(
            client_order_id=coid,
            ts=now,
            token=intent.token,
            side=intent.side,
            order_type=intent.order_type,
            product=intent.product,
            qty=qty,
            validity=intent.validity,
            price=intent.price,
            trigger_price=intent.trigger_price,
            disclosed_qty=min(intent.disclosed_qty, qty),
            tag=intent.tag or coid,
            strategy_id=StrategyId(intent.strategy_id),
        )
        submitted = OrderSubmitted(client_order_id=coid, ts=now)
        # Durable BEFORE the broker sees it.
        await self._journal_events([init, submitted])
        self.oms.apply(init)
        self.oms.apply(submitted)
        margin = 0 if intent.is_exit else self._margin_for(intent, instrument, qty)
        if margin:
            self.portfolio.block(coid, margin)
        order = self.oms.get(coid)
        self._announce(CoreEvent("order", order=order))
        request = PlaceRequest(
            client_order_id=coid,
            token=intent.token,
            side=intent.side,
            qty=qty,
            order_type=intent.order_type,
            product=intent.product,
            validity=intent.validity,
            price=intent.price,
            trigger_price=intent.trigger_price,
            disclosed_qty=min(intent.disclosed_qty, qty),
            tag=init.tag,
        )
        try:
            await self.broker.place(request)
        except BrokerRejectedError as exc:
            self._on_broker_event(
                OrderRejected(client_order_id=coid, ts=self.clock.now_ns(), reason=str(exc))
            )
        except (BrokerOutcomeUnknownError, TimeoutError, OSError) as exc:
            self._on_broker_event(
                OrderOutcomeUnknown(client_order_id=coid, ts=self.clock.now_ns(), reason=str(exc))
            )

    async def modify(
        self,
        client_order_id: str,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger_price: int | None = None,
    ) -> SubmitResult:
        """Change a working order's total qty, price or trigger (risk-checked, journaled)."""
        coid = ClientOrderId(client_order_id)
        order = self.oms.get(coid)
        if order is None or not order.is_open:
            why = "no such order" if order is None else f"order is {order.status.value}"
            return SubmitResult(False, (coid,), f"cannot modify {client_order_id}: {why}")
        instrument = self.instruments[order.token]
        new_qty = qty if qty is not None else order.qty
        if new_qty <= order.filled_qty:
            return SubmitResult(
                False,
                (coid,),
                f"new qty {new_qty} must be more than the {order.filled_qty} already filled",
            )
        intent = OrderIntent(
            token=order.token,
            side=order.side,
            qty=new_qty,
            order_type=order.order_type,
            product=order.product,
            validity=order.validity,
            price=price if price is not None else order.price,
            trigger_price=trigger_price if trigger_price is not None else order.trigger_price,
            strategy_id=str(order.strategy_id),
            confirmed=True,
        )
        now = self.clock.now_ns()
        check = self._order_check(intent, instrument, coid, now)
        old_margin = self.portfolio.blocked_for(coid)
        state = self._risk_state(intent, instrument, check, exclude=coid)
        needed = self._margin_for(intent, instrument, new_qty - order.filled_qty)
        extra = max(0, needed - old_margin)
        state = replace(state, required_margin=extra)
        decision = self.risk.check(check, state, action=OrderAction.MODIFY)
        if not decision.accepted:
            assert decision.rejection is not None
            await self._journal([(K_NOTE, {"what": "modify refused", "client_order_id": coid,
                                           "reason": str(decision.rejection)})])
            return SubmitResult(False, (coid,), str(decision.rejection), decision.rejection)
        pending = OrderPendingModify(client_order_id=coid, ts=now)
        await self._journal_events([pending])
        self.oms.apply(pending)
        self._announce(CoreEvent("order", order=order))
        try:
            await self.broker.modify(
                ModifyRequest(coid, order.venue_order_id, qty, price, trigger_price)
            )
        except BrokerRejectedError as exc:
            self._on_broker_event(
                OrderModifyRejected(client_order_id=coid, ts=self.clock.now_ns(), reason=str(exc))
            )
        except (BrokerOutcomeUnknownError, TimeoutError, OSError) as exc:
            self._on_broker_event(
                OrderOutcomeUnknown(client_order_id=coid, ts=self.clock.now_ns(), reason=str(exc))
            )
        return SubmitResult(True, (coid,), "modify sent")

    async def cancel(self, client_order_id: str) -> SubmitResult:
        """Cancel a working order (journaled first)."""
        coid = ClientOrderId(client_order_id)
        order = self.oms.get(coid)
        if order is None or not order.is_open:
            why = "no such order" if order is None else f"order is {order.status.value}"
            return SubmitResult(False, (coid,), f"cannot cancel {client_order_id}: {why}")
        admitted = self.risk.admit_cancel(self.instruments[order.token])
        if not admitted.accepted:
            assert admitted.rejection is not None
            return SubmitResult(False, (coid,), str(admitted.rejection), admitted.rejection)
        pending = OrderPendingCancel(client_order_id=coid, ts=self.clock.now_ns())
        await self._journal_events([pending])
        self.oms.apply(pending)
        self._announce(CoreEvent("order", order=order))
        try:
            await self.broker.cancel(coid, order.venue_order_id)
        except BrokerRejectedError as exc:
            self._on_broker_event(
                OrderCancelRejected(client_order_id=coid, ts=self.clock.now_ns(), reason=str(exc))
            )
        except (BrokerOutcomeUnknownError, TimeoutError, OSError) as exc:
            self._on_broker_event(
                OrderOutcomeUnknown(client_order_id=coid, ts=self.clock.now_ns(), reason=str(exc))
            )
        return SubmitResult(True, (coid,), "cancel sent")

    async def cancel_all(self, token: str | None = None) -> list[SubmitResult]:
        """Cancel every working order (of one instrument when ``token`` is given)."""
        orders = self._open.for_token(token) if token else self.oms.open_orders()
        return [await self.cancel(o.client_order_id) for o in orders if not o.external]

    async def exit_position(
        self, token: str, product: Product, *, strategy_id: str = "manual"
    ) -> SubmitResult | None:
        """Flatten one position with a protected MARKET order (reduce-only). None if flat."""
        position = self.portfolio.position(token, product)
        if position is None or position.net_qty == 0:
            return None
        side = Side.SELL if position.net_qty > 0 else Side.BUY
        working_exits = sum(
            o.leaves_qty for o in self._open.for_token(token)
            if o.side is side and o.product is product
        )
        qty = abs(position.net_qty) - working_exits
        if qty <= 0:
            return SubmitResult(False, (), "exit orders for the whole position are already working")
        intent = OrderIntent(
            token=token,
            side=side,
            qty=qty,
            order_type=OrderType.MARKET,
            product=product,
            is_exit=True,
            confirmed=True,
            strategy_id=strategy_id,
        )
        return await self.submit(intent)

    # ------------------------------------------------------------------ GTT and brackets

    async def create_gtt(
        self, token: str, kind: GttKind, legs: Sequence[GttLeg], *, expires_ts: int | None = None
    ) -> GttRule:
        """Create a GTT rule (single or OCO); when it fires it places a LIMIT through submit()."""
        self._refuse_when_killed()
        return await self.protection.create_gtt(token, kind, legs, expires_ts=expires_ts)

    async def modify_gtt(self, rule_id: str, legs: Sequence[GttLeg]) -> GttRule:
        """Change an active GTT rule's legs."""
        self._refuse_when_killed()
        return await self.protection.modify_gtt(rule_id, legs)

    async def cancel_gtt(self, rule_id: str) -> GttRule:
        """Cancel a GTT rule."""
        return await self.protection.cancel_gtt(rule_id)

    def gtts(self) -> list[GttRule]:
        """Every GTT rule, oldest first."""
        return list(self.protection.gtts.rules())

    async def submit_bracket(self, spec: BracketSpec) -> str:
        """Start a bracket (entry + stop + target [+ trailing]); returns its id."""
        self._refuse_when_killed()
        return await self.protection.submit_bracket(spec)

    async def cancel_bracket(self, bracket_id: str, *, flatten: bool = False) -> None:
        """Stop a bracket; ``flatten`` also exits its position."""
        await self.protection.cancel_bracket(bracket_id, flatten=flatten)

    def brackets(self) -> list[Bracket]:
        """Every bracket, oldest first."""
        return list(self.protection.brackets.brackets())

    def _refuse_when_killed(self) -> None:
        reason = self.kill_switch.blocks(False)
        if reason is not None:
            raise KillSwitchBlockedError(reason)

    # ------------------------------------------------------------------ kill switch

    async def trigger_kill_switch(self, reason: str = "manual") -> KillSwitchPlan:
        """Cancel everything, flatten everything, block new orders until a confirmed re-arm."""
        plan = self.kill_switch.trigger(reason, KillSwitchSource.MANUAL, self.clock.now_ns())
        await self._execute_kill_plan(plan)
        return plan

    async def rearm_kill_switch(self, confirmation: str) -> str:
        """Allow orders again; needs the confirmation phrase and a flat account."""
        now = self.clock.now_ns()
        if self.kill_switch.state is KillSwitchState.TRIGGERED:
            open_positions = sum(1 for p in self.portfolio.positions() if p.net_qty)
            event = self.kill_switch.mark_flat(self._open.count, open_positions, now)
            await self._journal([(K_KILL, {"event": event, "state": self.kill_switch.to_dict()})])
        event = self.kill_switch.rearm(confirmation, now)
        await self._journal([(K_KILL, {"event": event, "state": self.kill_switch.to_dict()})])
        self._announce(CoreEvent("kill_switch", message="kill switch re-armed; orders allowed"))
        return "re-armed"

    async def _execute_kill_plan(self, plan: KillSwitchPlan) -> None:
        await self._journal([(K_KILL, {"event": plan.event, "state": self.kill_switch.to_dict()})])
        self._announce(
            CoreEvent("kill_switch", message=f"KILL SWITCH: {plan.reason}", data=plan.event)
        )
        if plan.cancel_gtts:
            await self.protection.cancel_all_gtts()
        await self.protection.cancel_all_brackets()
        if plan.cancel_open_orders:
            await self.cancel_all()
        if plan.flatten_positions:
            for position in self.portfolio.positions():
                if position.net_qty:
                    await self.exit_position(position.token, position.product)
        await self._try_mark_flat()

    async def _try_mark_flat(self) -> None:
        if self.kill_switch.state is not KillSwitchState.TRIGGERED:
            return
        open_positions = sum(1 for p in self.portfolio.positions() if p.net_qty)
        if self._open.count or open_positions:
            return
        event = self.kill_switch.mark_flat(0, 0, self.clock.now_ns())
        await self._journal([(K_KILL, {"event": event, "state": self.kill_switch.to_dict()})])
        self._announce(CoreEvent("kill_switch", message="kill switch: account is flat; locked"))

    # ------------------------------------------------------------------ market data

    def on_quote(self, quote: Quote) -> None:
        """Every market event for the core: mark positions, run the risk monitor."""
        self._quotes[quote.token] = quote
        if quote.ltp:
            self.portfolio.mark(quote.token, quote.ltp)
            if self._started:
                self.protection.on_quote(quote)

    def on_quotes(self, quotes: Iterable[Quote]) -> None:
        """A batch of quotes, in order; then the account-level risk monitor once."""
        if self._started:
            self._roll_day(self.clock.now_ns())
        for quote in quotes:
            self.on_quote(quote)
        if self._started:
            self.protection.on_time(self.clock.now_ns())
        self.check_risk_monitor()

    def check_risk_monitor(self) -> None:
        """Daily loss / drawdown breach -> kill switch; per-position max loss -> exit it."""
        if not self._started:
            return
        state = self._account_state()
        plan = self.risk.monitor(state)
        if plan is not None:
            self._spawn(self._execute_kill_plan(plan))
            return
        for exit_ in self.risk.positions_to_exit(self.portfolio.positions()):
            if not self._exit_in_progress(exit_.token, exit_.product):
                self._spawn(self.exit_position(exit_.token, exit_.product))

    def _exit_in_progress(self, token: str, product: Product) -> bool:
        working = self._open.for_token(token)
        return any(o.product is product for o in working)

    # ------------------------------------------------------------------ broker events

    def _on_broker_event(self, event: OrderEvent) -> None:
        if self._started:
            self._roll_day(self.clock.now_ns())
        result = self.oms.apply(event)
        if result.is_problem:
            log.warning("order event not applied: %s", result.message,
                        extra={"client_order_id": event.client_order_id})
        order = self.oms.get(event.client_order_id)
        if order is not None and result.changed:
            self.protection.on_order_event(order, event)
        if isinstance(event, OrderFilled) and result.changed and order is not None:
            fill = self._record_fill(order, event)
            if fill is not None:
                self._after_order_change(order)
                return
        records: list[tuple[str, dict[str, Any]]] = [(K_ORDER, event_to_dict(event))]
        future = self._journal_nowait(records, event.client_order_id)
        if order is not None:
            self._after_order_change(order)
            future.add_done_callback(self._announcer(CoreEvent("order", order=order)))

    def _record_fill(self, order: Order, event: OrderFilled) -> Fill | None:
        instrument = self.instruments[order.token]
        breakdown = self.charges.for_fill(
            instrument,
            order.side,
            order.product,
            event.qty,
            event.price,
            ist_date(event.ts),
            order_id=order.client_order_id,
        )
        fill = Fill(
            trade_id=TradeId(event.trade_id),
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id or event.venue_order_id or _NO_VENUE,
            token=order.token,
            side=order.side,
            qty=event.qty,
            price=event.price,
            product=order.product,
            ts=event.ts,
            charges=breakdown.total,
            strategy_id=order.strategy_id,
        )
        if not self.portfolio.apply_fill(fill, instrument):
            return None
        self._fills.append(fill)
        self.risk.on_trade(event.ts)
        payload = {"event": event_to_dict(event), "charges": breakdown.total,
                   "product": order.product.value, "side": order.side.value,
                   "token": order.token, "strategy_id": str(order.strategy_id)}
        future = self._journal_nowait([(K_FILL, payload)], order.client_order_id)
        future.add_done_callback(self._announcer(CoreEvent("fill", order=order, fill=fill)))
        return fill

    def _after_order_change(self, order: Order) -> None:
        coid = order.client_order_id
        if order.status.is_terminal:
            self.portfolio.release(coid)
        elif order.filled_qty and self.portfolio.blocked_for(coid):
            instrument = self.instruments[order.token]
            price = order.price or order.trigger_price or self._ltp(order.token)
            self.portfolio.block(
                coid,
                order_margin(instrument, order.side, order.product, order.leaves_qty, price,
                             self.portfolio.rules),
            )
        if self.kill_switch.state is KillSwitchState.TRIGGERED:
            self._spawn(self._try_mark_flat())

    # ------------------------------------------------------------------ journal

    async def _journal_events(self, events: list[OrderEvent]) -> None:
        """Journal order events that the caller applies right after this returns.

        Until then the journal is ahead of the state: a snapshot taken meanwhile must not claim
        to cover these records, so their first seq is held in ``_unapplied``.
        """
        first = self.journal.last_seq + 1
        self._unapplied[first] = self._unapplied.get(first, 0) + 1
        try:
            await self._journal([(K_ORDER, event_to_dict(e)) for e in events],
                                events[0].client_order_id if events else None)
        finally:
            left = self._unapplied.pop(first) - 1
            if left:
                self._unapplied[first] = left

    async def _journal(
        self, records: list[tuple[str, dict[str, Any]]], client_order_id: str | None = None
    ) -> None:
        futures = [
            self.journal.append(kind, payload, account=self.account,
                                client_order_id=client_order_id)
            for kind, payload in records
        ]
        self._maybe_snapshot()
        if futures:
            await futures[-1]

    def _journal_nowait(
        self, records: list[tuple[str, dict[str, Any]]], client_order_id: str | None
    ) -> asyncio.Future[Any]:
        futures = [
            self.journal.append(kind, payload, account=self.account,
                                client_order_id=client_order_id)
            for kind, payload in records
        ]
        self._maybe_snapshot()
        return futures[-1]

    async def _journal_rejection(
        self, coid: ClientOrderId, intent: OrderIntent, rejection: RiskRejection, now: int
    ) -> None:
        init = OrderInitialized(
            client_order_id=coid,
            ts=now,
            token=intent.token,
            side=intent.side,
            order_type=intent.order_type,
            product=intent.product,
            qty=intent.qty,
            validity=intent.validity,
            price=intent.price,
            trigger_price=intent.trigger_price,
            disclosed_qty=min(intent.disclosed_qty, intent.qty),
            tag=intent.tag or coid,
            strategy_id=StrategyId(intent.strategy_id),
        )
        rejected = OrderRejected(client_order_id=coid, ts=now, reason=f"risk: {rejection}")
        await self._journal_events([init, rejected])
        self.oms.apply(init)
        self.oms.apply(rejected)
        self._announce(CoreEvent("order", order=self.oms.get(coid), message=str(rejection)))

    # ------------------------------------------------------------------ snapshots and days

    def _can_snapshot(self) -> bool:
        return (self._started and not self._snapshots_off and not self.journal.closed
                and not self.journal.halted)

    def _maybe_snapshot(self) -> None:
        """Start a background snapshot once ``snapshot_every`` records were journaled."""
        if (
            self.snapshot_every
            and self._snapshot_task is None
            and self.journal.last_seq - self._snapshot_tried_seq >= self.snapshot_every
            and self._can_snapshot()
        ):
            self._start_snapshot()

    def _start_snapshot(self) -> None:
        if self._snapshot_task is not None:
            return
        self._snapshot_tried_seq = self.journal.last_seq
        task = asyncio.ensure_future(self._background_snapshot())
        self._snapshot_task = task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def _background_snapshot(self) -> Snapshot | None:
        try:
            return await self.write_snapshot()
        except Exception:
            log.exception("background snapshot failed; the journal still holds every event")
            return None
        finally:
            self._snapshot_task = None

    def _capture_state(self) -> tuple[int, dict[str, Any]]:
        """``(seq, state)``: everything the core rebuilds on start, as plain exact JSON data,
        and the last journal record it covers. Synchronous, so nothing changes meanwhile."""
        seq = min(self._unapplied) - 1 if self._unapplied else self.journal.last_seq
        portfolio = self.portfolio.to_dict()
        portfolio["blocks"] = {}  # start() blocks the working orders' margin again
        state: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "account": self.account,
            "ts": self.clock.now_ns(),
            "oms": self._oms_dict(),
            "portfolio": portfolio,
            "charges": self.charges.to_dict(),
            "protection": self.protection.to_dict(),
            "kill_switch": self.kill_switch.to_dict(),
            "otr": self.risk.otr.to_dict(),
            "fills": self._fills_list(),
        }
        return seq, state

    def _oms_dict(self) -> dict[str, Any]:
        """``oms.to_dict()``, reusing the dicts of orders that did not change since the last
        snapshot (every change of an order appends to its history)."""
        data = self.oms.to_dict_shell()
        cache: dict[ClientOrderId, tuple[Order, tuple[int, int, int], Any]] = {}
        orders = []
        for order in self.oms.all_orders():
            version = (len(order.history), order.last_fill_ts, order.last_venue_ts)
            hit = self._order_dicts.get(order.client_order_id)
            raw = hit[2] if hit is not None and hit[0] is order and hit[1] == version else (
                order.to_dict())
            cache[order.client_order_id] = (order, version, raw)
            orders.append(raw)
        self._order_dicts = cache
        data["orders"] = orders
        return data

    def _fills_list(self) -> list[dict[str, Any]]:
        cache: dict[tuple[str, str], tuple[Fill, dict[str, Any]]] = {}
        out = []
        for fill in self._fills:
            key = (fill.token, fill.trade_id)
            hit = self._fill_dicts.get(key)
            raw = hit[1] if hit is not None and hit[0] is fill else _fill_to_dict(fill)
            cache[key] = (fill, raw)
            out.append(raw)
        self._fill_dicts = cache
        return out

    def _restore(self, snapshot: Snapshot) -> bool:
        """Load every component from ``snapshot``; False (and nothing changed) if it cannot be
        used, in which case the caller replays the whole journal."""
        data = snapshot.state
        saved_protection = self.protection.to_dict()
        saved_charges = self.charges.to_dict()
        try:
            if data.get("version") != SNAPSHOT_VERSION:
                raise ValueError(
                    f"snapshot format version {data.get('version')!r}; this cockpit reads "
                    f"version {SNAPSHOT_VERSION}"
                )
            if data.get("account") != self.account:
                raise ValueError(
                    f"snapshot is of account {data.get('account')!r}, not {self.account!r}"
                )
            saved = data["portfolio"]
            delta = self.portfolio.cash - int(saved["cash"])  # the configured cash wins
            portfolio = Portfolio.from_dict(
                {**saved, "cash": self.portfolio.cash, "blocks": {},
                 "day_start_equity": int(saved["day_start_equity"]) + delta,
                 "peak": int(saved["peak"]) + delta},
                self.portfolio.rules,
            )
            risk = PreTradeRisk(
                self.risk.config,
                self.clock,
                kill_switch=KillSwitch.from_dict(data["kill_switch"]),
                rate_limiter=self.risk.rate_limiter,
                otr_meter=OrderToTradeMeter.from_dict(data["otr"]),
            )
            fills = [_fill_from_dict(raw) for raw in data["fills"]]
            self.protection.load_dict(data["protection"])
            self.charges.load_state(data["charges"])
            self.oms.load_dict(data["oms"])
        except Exception as exc:
            self.protection.load_dict(saved_protection)
            self.charges.load_state(saved_charges)
            log.error(
                "journal snapshot at seq %d cannot be restored (%s: %s); rebuilding from every "
                "journal record instead", snapshot.seq, type(exc).__name__, exc,
            )
            return False
        for name in Portfolio.__slots__:
            setattr(self.portfolio, name, getattr(portfolio, name))
        self.risk = risk
        self._fills = fills
        self.restored_from = self._snapshot_seq = self._snapshot_tried_seq = snapshot.seq
        return True

    def _roll_day(self, now: int, *, snapshot: bool = True) -> None:
        """At an IST day change: drop the previous days' finished orders, fills, GTT rules and
        brackets from the working set (the journal keeps them), then snapshot the smaller
        state."""
        if now < self._next_day_ns:
            return
        day = ist_date(now)
        day_start = ist_ns(day, dtime(0, 0))
        self._next_day_ns = ist_ns(day + timedelta(days=1), dtime(0, 0))
        ended, self._mark_day = self._mark_day, day
        if ended is not None and ended != day and self._started:
            self._mark_equity(ended, now)
        if self._prune(day_start) and snapshot and self._started:
            self._start_snapshot()

    def _mark_equity(self, day: date, now: int) -> None:
        """Journal the account's end-of-day figures for ``day`` (see :mod:`engine.equity_marks`)."""
        mark = EquityMark.of(day, now, self.portfolio.funds())
        try:
            future = self._journal_nowait([(K_EQUITY_MARK, mark.to_payload())], None)
        except Exception:
            log.exception("the equity mark of %s could not be journaled", day)
            return
        future.add_done_callback(_log_mark_failure)

    def _prune(self, before_ts: int) -> int:
        dropped = self.oms.prune_terminal(before_ts, self.protection.live_order_ids())
        kept = [f for f in self._fills if f.ts >= before_ts]
        dropped += len(self._fills) - len(kept)
        self._fills = kept
        return dropped + self.protection.prune(before_ts)

    # ------------------------------------------------------------------ replay

    def _collect_journal(self) -> tuple[Snapshot | None, list[tuple[str, dict[str, Any]]]]:
        """The latest usable snapshot (None if there is none or it cannot be read) and the
        records after it. Runs in a thread."""
        try:
            snapshot = self.journal.latest_snapshot()
        except Exception as exc:
            log.error("the journal's latest snapshot cannot be read (%s); rebuilding from every "
                      "journal record instead", exc)
            snapshot = None
        return snapshot, self._collect_records(snapshot.seq + 1 if snapshot else 0)

    def _collect_records(self, from_seq: int) -> list[tuple[str, dict[str, Any]]]:
        return [(rec.kind, rec.payload) for rec in self.journal.replay(from_seq=from_seq)]

    def _apply_replay(self, records: list[tuple[str, dict[str, Any]]]) -> int:
        kill_state: dict[str, Any] | None = None
        to_price: list[tuple[Instrument, Order, OrderFilled]] = []
        self._replaying = True
        try:
            for kind, payload in records:
                if kind == K_ORDER:
                    self.oms.apply(event_from_dict(payload))
                elif kind == K_FILL:
                    event = event_from_dict(payload["event"])
                    result = self.oms.apply(event)
                    order = self.oms.get(event.client_order_id)
                    if order is None or not isinstance(event, OrderFilled):
                        continue
                    if not result.changed:
                        continue
                    instrument = self.instruments[order.token]
                    to_price.append((instrument, order, event))
                    fill = Fill(
                        trade_id=TradeId(event.trade_id),
                        client_order_id=order.client_order_id,
                        venue_order_id=order.venue_order_id or _NO_VENUE,
                        token=order.token,
                        side=order.side,
                        qty=event.qty,
                        price=event.price,
                        product=order.product,
                        ts=event.ts,
                        charges=int(payload["charges"]),
                        strategy_id=order.strategy_id,
                    )
                    if self.portfolio.apply_fill(fill, instrument):
                        self._fills.append(fill)
                elif kind == K_KILL:
                    kill_state = payload["state"]
                elif kind in (K_GTT, K_BRACKETS):
                    self.protection.replay(kind, payload)
        finally:
            self._replaying = False
            self._open = _OpenOrderIndex(self.oms.all_orders())
        self.protection.finish_replay()
        self._prime_charges(to_price)
        if kill_state is not None:
            self.risk = PreTradeRisk(
                self.risk.config,
                self.clock,
                kill_switch=KillSwitch.from_dict(kill_state),
                rate_limiter=self.risk.rate_limiter,
                otr_meter=self.risk.otr,
            )
        for order in self.oms.all_orders():
            if order.status.is_terminal:
                continue
            if order.is_open and not order.filled_qty:
                known = self.instruments.get(order.token)
                if known is not None:
                    price = order.price or order.trigger_price or self._ltp(order.token)
                    self.portfolio.block(
                        order.client_order_id,
                        order_margin(known, order.side, order.product, order.leaves_qty,
                                     price, self.portfolio.rules),
                    )
        return len(records)

    def _prime_charges(self, fills: list[tuple[Instrument, Order, OrderFilled]]) -> None:
        """Re-price the replayed fills of the latest trade day, in journal order, so that later
        fills of the same orders pay only their increment (per-order caps and rounding, the
        day's DP charge).

        The charges model drops its per-order and DP state when a later day starts, so pricing
        only the last day's fills leaves it exactly as pricing every fill would, without the
        cost of re-pricing the whole history (the dominant cost of a long replay).
        """
        if not fills:
            return
        last_day = ist_date(max(event.ts for _, _, event in fills))
        day_start = ist_ns(last_day, dtime(0, 0))
        for instrument, order, event in fills:
            if event.ts < day_start:
                continue
            self.charges.for_fill(
                instrument, order.side, order.product, event.qty, event.price,
                last_day, order_id=order.client_order_id,
            )

    # ------------------------------------------------------------------ helpers

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("core task failed", exc_info=task.exception())

    def _announcer(self, event: CoreEvent) -> Callable[[asyncio.Future[Any]], None]:
        """A done-callback that announces ``event`` once its journal write is durable."""

        def done(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                self._announce(event)

        return done

    def _announce_protection(self, kind: str, ident: str) -> None:
        self._announce(CoreEvent(kind, message=ident))

    def _announce(self, event: CoreEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("core subscriber failed")

    def _ltp(self, token: str) -> int:
        quote = self._quotes.get(token)
        return quote.ltp if quote else 0

    def _margin_for(self, intent: OrderIntent, instrument: Instrument, qty: int) -> int:
        position = self.portfolio.position(intent.token, intent.product)
        if position is not None and position.net_qty and (position.net_qty > 0) != (
            intent.side is Side.BUY
        ) and qty <= abs(position.net_qty):
            return 0  # reduces an open position
        price = intent.reference_price or self._ltp(intent.token)
        if intent.order_type is OrderType.MARKET and price:
            price = int(price + price * Fraction(self.risk.limits.flatten_protection_pct) / 100)
        return order_margin(instrument, intent.side, intent.product, qty, price,
                            self.portfolio.rules)

    def _order_check(
        self, intent: OrderIntent, instrument: Instrument, coid: ClientOrderId, now: int
    ) -> OrderCheck:
        quote = self._quotes.get(intent.token)
        return OrderCheck(
            token=intent.token,
            instrument=instrument,
            side=intent.side,
            order_type=intent.order_type,
            product=intent.product,
            validity=intent.validity,
            qty=intent.qty,
            price=intent.price,
            trigger=intent.trigger_price,
            ltp=quote.ltp if quote else 0,
            reference=quote.close if quote else 0,
            upper_circuit=quote.upper_circuit if quote else 0,
            lower_circuit=quote.lower_circuit if quote else 0,
            stop_loss=intent.stop_loss,
            target=intent.target,
            is_exit=intent.is_exit,
            client_order_id=coid,
            strategy_id=StrategyId(intent.strategy_id),
            ts=now,
            confirmed=intent.confirmed,
        )

    def _account_state(self) -> RiskState:
        funds = self.portfolio.funds()
        positions = self.portfolio.positions()
        return RiskState(
            funds_available=funds.available,
            required_margin=0,
            open_positions=sum(1 for p in positions if p.net_qty),
            position_qty=0,
            gross_exposure=sum(_exposure(p) for p in positions),
            day_pnl=funds.day_pnl,
            peak_equity=funds.peak_day_equity,
            equity=funds.equity,
            capital_base=self._capital_base,
            open_orders=self._open.count,
            phase=SessionPhase.CONTINUOUS,
        )

    def _risk_state(
        self,
        intent: OrderIntent,
        instrument: Instrument,
        check: OrderCheck,
        *,
        exclude: ClientOrderId | None = None,
    ) -> RiskState:
        base = self._account_state()
        position = self.portfolio.position(intent.token, intent.product)
        exit_side = intent.side
        open_exit = 0
        if intent.is_exit:  # only exits are checked against the exits already working
            open_exit = sum(
                o.leaves_qty
                for o in self._open.for_token(intent.token)
                if o.side is exit_side and o.product is intent.product
                and o.client_order_id != exclude
            )
        return RiskState(
            funds_available=base.funds_available,
            required_margin=(
                0 if intent.is_exit else self._margin_for(intent, instrument, intent.qty)
            ),
            open_positions=base.open_positions,
            position_qty=position.net_qty if position else 0,
            gross_exposure=base.gross_exposure,
            day_pnl=base.day_pnl,
            peak_equity=base.peak_equity,
            equity=base.equity,
            capital_base=base.capital_base,
            open_orders=base.open_orders,
            phase=self.phase_of(instrument.exchange),
            open_exit_qty=open_exit,
        )


_NO_VENUE = VenueOrderId("")


def _log_mark_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("an equity mark was not journaled: %s", future.exception())


class _OpenOrderIndex:
    """Open orders by token, kept current by the OMS's change hook.

    The per-order risk state needs the open-order count and the open orders of one instrument;
    scanning every order of the day for them made ``submit`` O(orders so far).
    """

    __slots__ = ("_by_token", "count")

    def __init__(self, orders: Iterable[Order]) -> None:
        self._by_token: dict[str, dict[ClientOrderId, Order]] = {}
        self.count = 0
        for order in orders:
            self.update(order)

    def update(self, order: Order) -> None:
        """Add or drop ``order`` as its status says (call after every applied change)."""
        bucket = self._by_token.get(order.token)
        if order.is_open:
            if bucket is None:
                bucket = self._by_token[order.token] = {}
            if order.client_order_id not in bucket:
                bucket[order.client_order_id] = order
                self.count += 1
        elif bucket is not None and bucket.pop(order.client_order_id, None) is not None:
            self.count -= 1
            if not bucket:
                del self._by_token[order.token]

    def for_token(self, token: str) -> list[Order]:
        """The open orders of one instrument, oldest first."""
        bucket = self._by_token.get(token)
        return list(bucket.values()) if bucket else []


def _exposure(position: PositionView) -> int:
    if not position.net_qty or position.ltp is None:
        return 0
    return abs(position.net_qty) * position.ltp


async def _store_snapshot(journal: Journal, seq: int, state: dict[str, Any]) -> Snapshot:
    """Encode and queue a snapshot (run in a worker thread by ``asyncio.run``: the exact-JSON
    encoding of a large state stays off the core's loop)."""
    return await journal.write_snapshot(seq, state)


def _fill_to_dict(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": str(fill.trade_id),
        "client_order_id": str(fill.client_order_id),
        "venue_order_id": str(fill.venue_order_id),
        "token": fill.token,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": fill.price,
        "product": fill.product.value,
        "ts": fill.ts,
        "charges": fill.charges,
        "strategy_id": str(fill.strategy_id),
    }


def _fill_from_dict(data: Mapping[str, Any]) -> Fill:
    return Fill(
        trade_id=TradeId(str(data["trade_id"])),
        client_order_id=ClientOrderId(str(data["client_order_id"])),
        venue_order_id=VenueOrderId(str(data["venue_order_id"])),
        token=str(data["token"]),
        side=Side(data["side"]),
        qty=int(data["qty"]),
        price=int(data["price"]),
        product=Product(data["product"]),
        ts=int(data["ts"]),
        charges=int(data["charges"]),
        strategy_id=StrategyId(str(data["strategy_id"])),
    )
