"""GTT rules and brackets driven by the core, with every order through ``TradingCore.submit``.

:class:`~engine.gtt.GttBook` and :class:`~engine.brackets.BracketManager` are pure state machines
that return what to do; this module journals their state and carries out their actions through
the core's one order path (risk -> journal -> broker), so a GTT or bracket order is checked and
journaled like any other.

Exactly once, across crashes:

* a GTT's order id is derived from the rule id (``T`` + rule id), and submission is idempotent
  by client order id, so re-placing an unplaced fire after a restart can never make two orders;
* bracket state is journaled *before* its actions run; on restart, a live bracket order that the
  journal never saw submitted is submitted then, with the same client order id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine import brackets as br
from engine.brackets import BracketAction, BracketManager, BracketSpec
from engine.gtt import GttBook, GttError, GttFire, GttKind, GttLeg, GttRule, GttStatus
from engine.intent import OrderIntent
from engine.models import ClientOrderId, OrderType, Quote
from engine.orders import (
    Order,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderModifyRejected,
    OrderRejected,
)

if TYPE_CHECKING:
    from engine.core import TradingCore

log = logging.getLogger("engine.protection")

K_GTT = "gtt"
K_BRACKETS = "brackets"


def gtt_order_id(rule_id: str) -> ClientOrderId:
    """The client order id of the order a GTT rule places (deterministic: exactly once)."""
    return ClientOrderId(("T" + "".join(ch for ch in rule_id if ch.isalnum()))[:20])


class Protection:
    """GTT rules and brackets of one account, wired to a :class:`TradingCore`."""

    def __init__(self, core: TradingCore) -> None:
        self.core = core
        self.gtts = GttBook(id_factory=lambda: core.oms.new_client_order_id("G"))
        self.brackets = BracketManager(id_factory=lambda: core.oms.new_client_order_id("B"))
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._gtt_by_order: dict[str, str] = {}
        self._replayed_rules: dict[str, GttRule] = {}
        self._replayed_brackets: dict[str, Any] | None = None

    # ------------------------------------------------------------------ replay and start

    def replay(self, kind: str, payload: dict[str, Any]) -> None:
        """Take one journal record (called in journal order while the core rebuilds); call
        :meth:`finish_replay` after the last one.

        A GTT record holds the whole new state of one rule, a brackets record the whole state
        of every bracket: the latest of each wins, so the books are built once, at the end
        (rebuilding them on every record made a long replay quadratic).
        """
        if kind == K_GTT:
            rule = GttRule.from_dict(payload["rule"])
            self._replayed_rules[rule.id] = rule
            if rule.client_order_id:
                self._gtt_by_order[rule.client_order_id] = rule.id
        elif kind == K_BRACKETS:
            self._replayed_brackets = payload["state"]

    def finish_replay(self) -> None:
        """Build the GTT book and the brackets from the records :meth:`replay` took."""
        if self._replayed_rules:
            data = self.gtts.to_dict()
            rules = {str(r["id"]): r for r in data["rules"]}
            rules.update((rid, rule.to_dict()) for rid, rule in self._replayed_rules.items())
            data["rules"] = sorted(
                rules.values(), key=lambda r: (int(r["created_ts"]), str(r["id"]))
            )
            self.gtts = GttBook.from_dict(data, lambda: self.core.oms.new_client_order_id("G"))
            self._replayed_rules = {}
        if self._replayed_brackets is not None:
            self.brackets = BracketManager.from_dict(
                self._replayed_brackets, lambda: self.core.oms.new_client_order_id("B")
            )
            self._replayed_brackets = None

    # ------------------------------------------------------------------ snapshots

    def to_dict(self) -> dict[str, Any]:
        """The GTT book and the brackets as plain JSON-able data (for a core snapshot)."""
        return {"gtts": self.gtts.to_dict(), "brackets": self.brackets.to_dict()}

    def load_dict(self, data: dict[str, Any]) -> None:
        """Replace the GTT book and the brackets with :meth:`to_dict` output.

        Both are rebuilt before either is swapped in, so bad data raises and changes nothing.
        """
        gtts = GttBook.from_dict(data["gtts"], lambda: self.core.oms.new_client_order_id("G"))
        brackets = BracketManager.from_dict(
            data["brackets"], lambda: self.core.oms.new_client_order_id("B")
        )
        self.gtts, self.brackets = gtts, brackets
        self._gtt_by_order = {
            rule.client_order_id: rule.id for rule in gtts.rules() if rule.client_order_id
        }

    def live_order_ids(self) -> set[str]:
        """Client order ids of brackets that are not finished (their orders must stay known)."""
        return {
            coid
            for bracket in self.brackets.brackets()
            if not bracket.state.is_terminal or bracket.position
            for coid in bracket.orders
        }

    def prune(self, before_ts: int) -> int:
        """Forget finished GTT rules and brackets whose last change was before ``before_ts``.

        Kept: active rules, triggered rules whose order was never placed, finished brackets
        that still hold a position (they can reopen). Returns how many were dropped. The journal
        keeps the history.
        """
        gtt_data = self.gtts.to_dict()
        rules = gtt_data["rules"]
        kept_rules = [r for r in rules if not _finished_rule(r, before_ts)]
        bracket_data = self.brackets.to_dict()
        finished = {
            b.id
            for b in self.brackets.brackets()
            if b.state.is_terminal and not b.position
            and max(b.closed_ts or 0, b.created_ts) < before_ts
        }
        dropped = len(rules) - len(kept_rules) + len(finished)
        if not dropped:
            return 0
        kept_ids = {str(r["id"]) for r in kept_rules}
        gtt_data["rules"] = kept_rules
        gtt_data["expired_unreported"] = [
            rid for rid in gtt_data.get("expired_unreported", []) if rid in kept_ids
        ]
        bracket_data["brackets"] = [
            b for b in bracket_data["brackets"] if str(b["id"]) not in finished
        ]
        self.load_dict({"gtts": gtt_data, "brackets": bracket_data})
        return dropped

    async def resume(self) -> None:
        """After a restart: place GTT fires and bracket orders the journal shows as not placed."""
        self._start_worker()
        for fire in self.gtts.unplaced_fires():
            await self._place_fire(fire)
        for bracket in self.brackets.brackets():
            if bracket.state.is_terminal:
                continue
            for order in bracket.orders.values():
                if order.live and self.core.oms.get(order.client_order_id) is None:
                    await self._run_action(
                        br.PlaceOrder(
                            bracket_id=bracket.id,
                            role=order.role,
                            client_order_id=order.client_order_id,
                            token=bracket.spec.token,
                            side=order.side,
                            qty=order.qty,
                            order_type=order.order_type,
                            price=order.price,
                            trigger=None,
                            product=bracket.spec.product,
                            reduce_only=order.is_exit,
                        )
                    )

    def _start_worker(self) -> None:
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.ensure_future(self._work())

    def has_work(self) -> bool:
        """True while queued actions wait to be carried out."""
        return self._queue is not None and self._queue.qsize() > 0

    async def idle(self) -> None:
        """Wait until every queued GTT fire and bracket action has been carried out."""
        if self._queue is not None:
            await self._queue.join()

    async def stop(self) -> None:
        """Stop the action worker."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            what, item = await self._queue.get()
            try:
                if what == "fire":
                    await self._place_fire(item)
                else:
                    for action in item:
                        await self._run_action(action)
            except Exception:
                log.exception("protection action failed")
            finally:
                self._queue.task_done()

    def _enqueue(self, what: str, item: Any) -> None:
        self._start_worker()
        assert self._queue is not None
        self._queue.put_nowait((what, item))

    # ------------------------------------------------------------------ GTT commands

    async def create_gtt(
        self,
        token: str,
        kind: GttKind,
        legs: Sequence[GttLeg],
        *,
        expires_ts: int | None = None,
    ) -> GttRule:
        """Create a rule (validated against the current LTP); journaled before it is live."""
        instrument = self.core.instruments.get(token)
        if instrument is None:
            raise GttError(f"unknown instrument token {token!r}")
        ltp = self.core._ltp(token)
        if not ltp:
            raise GttError(f"no price yet for {instrument.symbol}; wait for a quote")
        now = self.core.clock.now_ns()
        rule = self.gtts.create(token, kind, tuple(legs), ltp, now, instrument.tick_size,
                                expires_ts=expires_ts)
        await self._journal_rule(rule)
        return rule

    async def modify_gtt(self, rule_id: str, legs: Sequence[GttLeg]) -> GttRule:
        """Change an ACTIVE rule's legs (re-validated against the current LTP)."""
        rule = self.gtts.get(rule_id)
        ltp = self.core._ltp(rule.token)
        rule = self.gtts.modify(rule_id, tuple(legs), ltp, self.core.clock.now_ns())
        await self._journal_rule(rule)
        return rule

    async def cancel_gtt(self, rule_id: str) -> GttRule:
        """Cancel a rule."""
        rule = self.gtts.cancel(rule_id, self.core.clock.now_ns())
        await self._journal_rule(rule)
        return rule

    async def cancel_all_gtts(self) -> int:
        """Cancel every ACTIVE rule (the kill switch)."""
        count = 0
        for rule in self.gtts.rules():
            if rule.status is GttStatus.ACTIVE:
                await self.cancel_gtt(rule.id)
                count += 1
        return count

    async def _journal_rule(self, rule: GttRule) -> None:
        await self.core._journal([(K_GTT, {"rule": rule.to_dict()})])
        self.core._announce_protection("gtt", rule.id)

    async def _place_fire(self, fire: GttFire) -> None:
        coid = gtt_order_id(fire.rule_id)
        self._gtt_by_order[coid] = fire.rule_id
        intent = OrderIntent(
            token=fire.token,
            side=fire.side,
            qty=fire.qty,
            order_type=OrderType.LIMIT,
            product=fire.product,
            price=fire.limit_price,
            client_order_id=coid,
            strategy_id="gtt",
            confirmed=True,
        )
        result = await self.core.submit(intent)
        now = self.core.clock.now_ns()
        if result.accepted or self.core.oms.get(coid) is not None:
            rule = self.gtts.mark_placed(fire.rule_id, coid)
            if not result.accepted:
                rule = self.gtts.mark_rejected(fire.rule_id, result.message, now)
        else:
            rule = self.gtts.mark_rejected(fire.rule_id, result.message, now)
        await self._journal_rule(rule)

    # ------------------------------------------------------------------ brackets

    async def submit_bracket(self, spec: BracketSpec) -> str:
        """Start a bracket: journal its state, then place the entry through the core."""
        actions = self.brackets.submit(spec, self.core.clock.now_ns())
        await self._journal_brackets()
        for action in actions:
            await self._run_action(action)
        return actions[0].bracket_id if actions else ""

    async def cancel_bracket(self, bracket_id: str, *, flatten: bool = False) -> None:
        """Stop a bracket (optionally flattening its position)."""
        actions = self.brackets.cancel(bracket_id, self.core.clock.now_ns(), flatten=flatten)
        await self._journal_brackets()
        for action in actions:
            await self._run_action(action)

    async def _journal_brackets(self) -> None:
        await self.core._journal([(K_BRACKETS, {"state": self.brackets.to_dict()})])
        self.core._announce_protection("bracket", "")

    async def _run_action(self, action: BracketAction) -> None:
        core = self.core
        if isinstance(action, br.PlaceOrder):
            intent = OrderIntent(
                token=action.token,
                side=action.side,
                qty=action.qty,
                order_type=action.order_type,
                product=action.product,
                price=action.price or 0,
                trigger_price=action.trigger or 0,
                client_order_id=action.client_order_id,
                strategy_id=f"bracket-{action.bracket_id}"[:40],
                is_exit=action.reduce_only,
                confirmed=True,
            )
            result = await core.submit(intent)
            if not result.accepted and core.oms.get(action.client_order_id) is None:
                self._bracket_event(
                    action.client_order_id, br.OrderRejected(reason=result.message)
                )
        elif isinstance(action, br.ModifyOrder):
            result = await core.modify(action.client_order_id, qty=action.qty, price=action.price)
            if not result.accepted:
                self._bracket_event(
                    action.client_order_id, br.ModifyRejected(reason=result.message)
                )
        else:
            result = await core.cancel(action.client_order_id)
            if not result.accepted:
                self._bracket_event(
                    action.client_order_id, br.CancelRejected(reason=result.message)
                )

    def _bracket_event(self, coid: str, event: br.BracketOrderEvent) -> None:
        actions = self.brackets.on_order_event(coid, event, self.core.clock.now_ns())
        self._after_bracket_change(actions)

    def _after_bracket_change(self, actions: list[BracketAction]) -> None:
        # Journal the new state first (ordered before the actions' own records), then act.
        self.core._journal_nowait(
            [(K_BRACKETS, {"state": self.brackets.to_dict()})], None
        )
        self.core._announce_protection("bracket", "")
        if actions:
            self._enqueue("actions", actions)

    # ------------------------------------------------------------------ feeds from the core

    def on_order_event(self, order: Order, event: OrderEvent) -> None:
        """Route an applied order event to the bracket or GTT that owns the order."""
        coid = order.client_order_id
        if self.brackets.owns(coid):
            translated = _translate(order, event)
            if translated is not None:
                self._bracket_event(coid, translated)

    def on_quote(self, quote: Quote) -> None:
        """Fire GTTs, trail and check bracket stops."""
        if not quote.ltp:
            return
        ts = quote.exchange_ts or quote.ts or self.core.clock.now_ns()
        for fire in self.gtts.on_quote(quote.token, quote.ltp, ts):
            # The rule is TRIGGERED in memory; journal that before the order goes out.
            rule = self.gtts.get(fire.rule_id)
            self.core._journal_nowait([(K_GTT, {"rule": rule.to_dict()})], None)
            self._enqueue("fire", fire)
        actions = self.brackets.on_quote(quote.token, quote.ltp, ts)
        if actions:
            self._after_bracket_change(actions)

    def on_time(self, ts: int) -> None:
        """Clock tick: bracket time exits and square-off; GTT expiry."""
        actions = self.brackets.on_time(ts)
        if actions:
            self._after_bracket_change(actions)
        for rule in self.gtts.expire_due(ts):
            self.core._journal_nowait([(K_GTT, {"rule": rule.to_dict()})], None)

    def active_brackets(self) -> list[br.Bracket]:
        """Brackets that are not finished."""
        return [b for b in self.brackets.brackets() if not b.state.is_terminal]

    async def cancel_all_brackets(self) -> None:
        """Stop every bracket without flattening (the kill switch flattens positions itself)."""
        for bracket in self.active_brackets():
            await self.cancel_bracket(bracket.id)


def _translate(order: Order, event: OrderEvent) -> br.BracketOrderEvent | None:
    if isinstance(event, OrderFilled):
        return br.OrderFilled(qty=event.qty, price=event.price)
    if isinstance(event, OrderCancelled):
        return br.OrderCancelled(filled_qty=order.filled_qty, reason=event.reason)
    if isinstance(event, OrderExpired):
        return br.OrderExpired(filled_qty=order.filled_qty)
    if isinstance(event, OrderRejected):
        return br.OrderRejected(reason=event.reason)
    if isinstance(event, OrderModified):
        return br.ModifyDone(qty=order.qty, price=order.price or None)
    if isinstance(event, OrderModifyRejected):
        return br.ModifyRejected(reason=event.reason)
    if isinstance(event, OrderCancelRejected):
        return br.CancelRejected(reason=event.reason)
    return None


def _finished_rule(rule: dict[str, Any], before_ts: int) -> bool:
    """True for a saved GTT rule that is done (nothing left to place) and older than the cut."""
    status = GttStatus(rule["status"])
    if status is GttStatus.ACTIVE:
        return False
    if status is GttStatus.TRIGGERED and not rule.get("client_order_id"):
        return False  # fired but its order not placed yet: resume() places it
    changed = max(
        int(rule["created_ts"]), int(rule.get("updated_ts") or 0), int(rule.get("fired_ts") or 0)
    )
    return changed < before_ts
