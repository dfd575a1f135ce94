"""GTT (good-till-triggered) rules, single and OCO, with a trigger index that is cheap per quote.

This module is a pure state machine: no I/O, no asyncio. The core feeds it quotes and clock
ticks; it answers with :class:`GttFire` values, and the core places the resulting LIMIT orders
through its one order path (risk -> journal -> broker).

Semantics (Kite/Angel, research/trading-semantics.md §2):

* **Direction from the LTP at creation.** A leg whose trigger is above the reference LTP fires
  when ``ltp >= trigger``; below it fires when ``ltp <= trigger``. A trigger equal to the
  reference LTP is refused. The reference is the LTP given at creation, or at the last modify
  (a modify re-validates against the LTP the caller passes, as Kite's modify does).
* **OCO** has two legs, given in price order: ``legs[0]`` below the reference LTP (the stop of a
  long) and ``legs[1]`` above it (the target of a long). Both legs are the same side and product:
  an OCO is the two exits of one position, as at Kite and Angel One.
* **One-shot, exactly once.** Firing moves the rule ACTIVE -> TRIGGERED inside the same
  :meth:`GttBook.on_quote` call and removes it from the index, so a replayed quote, a second
  evaluator or a restart can never fire it again. The core journals the :class:`GttFire`, places
  the order, and reports the order id with :meth:`GttBook.mark_placed`. After a restart,
  :meth:`GttBook.unplaced_fires` lists TRIGGERED rules whose order was never placed, so the core
  places each exactly once.
* **An OCO fires exactly one leg.** The lower leg needs ``ltp <= lower`` and the upper leg
  ``ltp >= upper`` with ``lower < upper``, so one LTP can never satisfy both. The leg that fires
  is the level the price reached first along the quote path: while a rule is armed the last LTP
  lies between its levels, so a move from it (however large the gap) crosses only the level on
  the side it moved to. A path that gaps up through the upper level and then down through the
  lower one fires the upper leg; the rule is then TRIGGERED and the lower leg can never fire. (If
  a rule was created with a stale LTP, the leg that fires is the one the new LTP satisfies.)
* **Expiry.** One year after creation by default. A rule is live while ``ts < expires_ts``;
  :meth:`GttBook.expire_due` moves due rules to EXPIRED, and :meth:`GttBook.on_quote` never fires
  a rule whose expiry has passed (it expires it instead; the next ``expire_due`` reports it).
* **Statuses.** ACTIVE, TRIGGERED (fired; order placed or to be placed), CANCELLED (by the user),
  EXPIRED, REJECTED (the fired order was refused by risk or the broker: :meth:`mark_rejected`),
  DISABLED (taken out by the core, e.g. after a corporate action: :meth:`disable`).

The trigger index keeps, per token, two sorted arrays: thresholds that fire on a rise (ascending;
a quote fires a prefix) and thresholds that fire on a fall (ascending; a quote fires a suffix),
plus the nearest threshold on each side cached, so a quote that fires nothing costs one dict
lookup and two comparisons, and a quote that fires costs O(log n + fired).
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from engine.models import ClientOrderId, OrderType, Product, Side

NS_PER_DAY = 86_400 * 1_000_000_000
DEFAULT_LIFETIME_NS = 365 * NS_PER_DAY
"""Default lifetime of a rule: one year (Kite: GTTs on equity expire a year after creation)."""

_NO_UP = 1 << 62  # sentinel "no fire-on-rise threshold": no LTP reaches it
_NO_DOWN = -(1 << 62)  # sentinel "no fire-on-fall threshold"


class GttError(ValueError):
    """A GTT request that cannot be honoured; the message says what was wrong and what is valid."""


class GttKind(StrEnum):
    """A single trigger, or two triggers of which the first reached cancels the other (OCO)."""

    SINGLE = "SINGLE"
    OCO = "OCO"


class GttStatus(StrEnum):
    """Lifecycle of a GTT rule. Only ACTIVE rules are in the trigger index."""

    ACTIVE = "ACTIVE"
    TRIGGERED = "TRIGGERED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    DISABLED = "DISABLED"


@dataclass(frozen=True, slots=True)
class GttLeg:
    """One trigger and the LIMIT order it places: prices in price units, qty in units."""

    trigger: int
    limit: int
    side: Side
    qty: int
    product: Product = Product.CNC

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "trigger": self.trigger,
            "limit": self.limit,
            "side": self.side.value,
            "qty": self.qty,
            "product": self.product.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GttLeg:
        """Inverse of :meth:`to_dict`."""
        return cls(
            trigger=int(data["trigger"]),
            limit=int(data["limit"]),
            side=Side(data["side"]),
            qty=int(data["qty"]),
            product=Product(data["product"]),
        )


@dataclass(frozen=True, slots=True)
class GttRule:
    """A GTT rule and its outcome. Immutable: every change produces a new value in the book.

    ``ref_ltp`` is the LTP at creation (or at the last modify); it decides each leg's direction.
    ``fired_leg``/``fired_ts``/``fired_ltp`` say which leg fired, when and at what LTP;
    ``client_order_id`` is the id of the order placed for it (``None`` until the core reports it).
    """

    id: str
    token: str
    kind: GttKind
    legs: tuple[GttLeg, ...]
    tick: int
    ref_ltp: int
    created_ts: int
    expires_ts: int
    status: GttStatus = GttStatus.ACTIVE
    updated_ts: int = 0
    fired_leg: int | None = None
    fired_ts: int | None = None
    fired_ltp: int | None = None
    client_order_id: ClientOrderId | None = None
    reject_reason: str = ""

    def fires_on_rise(self, leg_index: int) -> bool:
        """True if leg ``leg_index`` fires when the LTP rises to its trigger (trigger above ref)."""
        return self.legs[leg_index].trigger > self.ref_ltp

    def leg_fires_at(self, leg_index: int, ltp: int) -> bool:
        """True if leg ``leg_index`` is satisfied by ``ltp`` (ignores status and expiry)."""
        trigger = self.legs[leg_index].trigger
        return ltp >= trigger if trigger > self.ref_ltp else ltp <= trigger

    @property
    def is_placed(self) -> bool:
        """True once the order of a TRIGGERED rule has been placed (its id is known)."""
        return self.client_order_id is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "id": self.id,
            "token": self.token,
            "kind": self.kind.value,
            "legs": [leg.to_dict() for leg in self.legs],
            "tick": self.tick,
            "ref_ltp": self.ref_ltp,
            "created_ts": self.created_ts,
            "expires_ts": self.expires_ts,
            "status": self.status.value,
            "updated_ts": self.updated_ts,
            "fired_leg": self.fired_leg,
            "fired_ts": self.fired_ts,
            "fired_ltp": self.fired_ltp,
            "client_order_id": self.client_order_id,
            "reject_reason": self.reject_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GttRule:
        """Inverse of :meth:`to_dict`."""
        coid = data.get("client_order_id")
        return cls(
            id=str(data["id"]),
            token=str(data["token"]),
            kind=GttKind(data["kind"]),
            legs=tuple(GttLeg.from_dict(leg) for leg in data["legs"]),
            tick=int(data["tick"]),
            ref_ltp=int(data["ref_ltp"]),
            created_ts=int(data["created_ts"]),
            expires_ts=int(data["expires_ts"]),
            status=GttStatus(data["status"]),
            updated_ts=int(data.get("updated_ts", 0)),
            fired_leg=_opt_int(data.get("fired_leg")),
            fired_ts=_opt_int(data.get("fired_ts")),
            fired_ltp=_opt_int(data.get("fired_ltp")),
            client_order_id=None if coid is None else ClientOrderId(str(coid)),
            reject_reason=str(data.get("reject_reason", "")),
        )


@dataclass(frozen=True, slots=True)
class GttFire:
    """A rule fired: the LIMIT order the core must journal and then place, exactly once."""

    rule_id: str
    token: str
    leg_index: int
    side: Side
    qty: int
    limit_price: int
    product: Product
    trigger: int
    ltp: int
    ts: int

    @property
    def order_type(self) -> OrderType:
        """Always LIMIT: a GTT places a limit order at the leg's price."""
        return OrderType.LIMIT

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for the journal)."""
        return {
            "rule_id": self.rule_id,
            "token": self.token,
            "leg_index": self.leg_index,
            "side": self.side.value,
            "qty": self.qty,
            "limit_price": self.limit_price,
            "product": self.product.value,
            "trigger": self.trigger,
            "ltp": self.ltp,
            "ts": self.ts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GttFire:
        """Inverse of :meth:`to_dict`."""
        return cls(
            rule_id=str(data["rule_id"]),
            token=str(data["token"]),
            leg_index=int(data["leg_index"]),
            side=Side(data["side"]),
            qty=int(data["qty"]),
            limit_price=int(data["limit_price"]),
            product=Product(data["product"]),
            trigger=int(data["trigger"]),
            ltp=int(data["ltp"]),
            ts=int(data["ts"]),
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _fire_of(rule: GttRule) -> GttFire:
    """The fire record of a TRIGGERED rule (rebuilt from the rule itself)."""
    assert rule.fired_leg is not None and rule.fired_ts is not None and rule.fired_ltp is not None
    leg = rule.legs[rule.fired_leg]
    return GttFire(
        rule_id=rule.id,
        token=rule.token,
        leg_index=rule.fired_leg,
        side=leg.side,
        qty=leg.qty,
        limit_price=leg.limit,
        product=leg.product,
        trigger=leg.trigger,
        ltp=rule.fired_ltp,
        ts=rule.fired_ts,
    )


def validate_rule(
    token: str, kind: GttKind, legs: tuple[GttLeg, ...], ltp: int, tick: int
) -> None:
    """Raise :class:`GttError` naming the first problem with a rule; return if it is valid."""
    if not token:
        raise GttError("a GTT needs the instrument token; got an empty token")
    if tick <= 0:
        raise GttError(f"tick size must be a positive number of price units, got {tick}")
    if ltp <= 0:
        raise GttError(f"the LTP must be positive to set a GTT's direction, got {ltp}")
    want = 1 if kind is GttKind.SINGLE else 2
    if len(legs) != want:
        raise GttError(f"a {kind.value} GTT has exactly {want} leg(s), got {len(legs)}")
    for i, leg in enumerate(legs):
        name = f"leg {i}"
        if leg.qty <= 0:
            raise GttError(f"{name}: quantity must be a positive number of units, got {leg.qty}")
        for what, price in (("trigger", leg.trigger), ("limit price", leg.limit)):
            if price <= 0:
                raise GttError(f"{name}: {what} must be positive, got {price}")
            if price % tick:
                low = price - price % tick
                raise GttError(
                    f"{name}: {what} {price} is not a multiple of the tick {tick}; "
                    f"use {low} or {low + tick}"
                )
        if leg.trigger == ltp:
            raise GttError(
                f"{name}: trigger {leg.trigger} equals the last traded price; a trigger must be "
                "above the LTP (fires on a rise) or below it (fires on a fall)"
            )
    if kind is GttKind.OCO:
        low_leg, high_leg = legs
        if not low_leg.trigger < ltp < high_leg.trigger:
            raise GttError(
                "an OCO GTT needs legs[0].trigger below the LTP and legs[1].trigger above it "
                f"(stop then target of a long; target then stop of a short); got "
                f"{low_leg.trigger} and {high_leg.trigger} with LTP {ltp}"
            )
        if low_leg.side is not high_leg.side or low_leg.product is not high_leg.product:
            raise GttError(
                "both legs of an OCO GTT exit the same position: they need the same side and "
                f"product; got {low_leg.side.value}/{low_leg.product.value} and "
                f"{high_leg.side.value}/{high_leg.product.value}"
            )


class _TokenIndex:
    """Trigger thresholds of one token's ACTIVE rules.

    ``up_keys`` (ascending) fire when ``ltp >= key``; ``down_keys`` (ascending) fire when
    ``ltp <= key``. ``*_refs`` hold ``(rule id, leg index)`` parallel to the keys. ``up_min`` and
    ``down_max`` cache the nearest thresholds (sentinels when a side is empty).
    """

    __slots__ = ("down_keys", "down_max", "down_refs", "up_keys", "up_min", "up_refs")

    def __init__(self) -> None:
        self.up_keys: list[int] = []
        self.up_refs: list[tuple[str, int]] = []
        self.down_keys: list[int] = []
        self.down_refs: list[tuple[str, int]] = []
        self.up_min = _NO_UP
        self.down_max = _NO_DOWN

    def add(self, key: int, ref: tuple[str, int], on_rise: bool) -> None:
        keys, refs = (self.up_keys, self.up_refs) if on_rise else (self.down_keys, self.down_refs)
        at = bisect_right(keys, key)
        keys.insert(at, key)
        refs.insert(at, ref)
        self._refresh()

    def remove(self, key: int, ref: tuple[str, int], on_rise: bool) -> None:
        keys, refs = (self.up_keys, self.up_refs) if on_rise else (self.down_keys, self.down_refs)
        for at in range(bisect_left(keys, key), bisect_right(keys, key)):
            if refs[at] == ref:
                del keys[at]
                del refs[at]
                self._refresh()
                return
        raise AssertionError(f"trigger index lost entry {ref} at {key}")

    def take_crossed(self, ltp: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Remove and return the refs ``ltp`` satisfies: rises lowest first, falls highest first."""
        rises: list[tuple[str, int]] = []
        falls: list[tuple[str, int]] = []
        if ltp >= self.up_min:
            n = bisect_right(self.up_keys, ltp)
            rises = self.up_refs[:n]
            del self.up_keys[:n]
            del self.up_refs[:n]
        if ltp <= self.down_max:
            n = bisect_left(self.down_keys, ltp)
            falls = self.down_refs[n:]
            falls.reverse()
            del self.down_keys[n:]
            del self.down_refs[n:]
        self._refresh()
        return rises, falls

    def _refresh(self) -> None:
        self.up_min = self.up_keys[0] if self.up_keys else _NO_UP
        self.down_max = self.down_keys[-1] if self.down_keys else _NO_DOWN

    def __len__(self) -> int:
        return len(self.up_keys) + len(self.down_keys)


class GttBook:
    """All GTT rules of an account and their trigger index. Pure: the core drives it.

    ``id_factory`` makes rule ids (default ``gtt-1``, ``gtt-2``, ...; the counter survives
    :meth:`to_dict`/:meth:`from_dict`).
    """

    def __init__(self, id_factory: Callable[[], str] | None = None) -> None:
        self._rules: dict[str, GttRule] = {}
        self._index: dict[str, _TokenIndex] = {}
        self._expiry: list[tuple[int, str]] = []  # heap; stale entries skipped on pop
        self._expired_unreported: list[str] = []
        self._counter = 0
        self._id_factory = id_factory

    # ------------------------------------------------------------------ queries

    def get(self, rule_id: str) -> GttRule:
        """The rule with id ``rule_id``; :class:`GttError` if there is none."""
        rule = self._rules.get(rule_id)
        if rule is None:
            raise GttError(f"no GTT rule with id {rule_id!r}")
        return rule

    def rules(self) -> Iterator[GttRule]:
        """All rules, in creation order."""
        return iter(list(self._rules.values()))

    def active_count(self) -> int:
        """Number of ACTIVE rules."""
        return sum(1 for r in self._rules.values() if r.status is GttStatus.ACTIVE)

    def indexed_count(self) -> int:
        """Number of thresholds in the trigger index (one per leg of each ACTIVE rule)."""
        return sum(len(ix) for ix in self._index.values())

    # ------------------------------------------------------------------ commands

    def create(
        self,
        token: str,
        kind: GttKind,
        legs: tuple[GttLeg, ...] | list[GttLeg],
        ltp: int,
        ts: int,
        tick: int,
        *,
        expires_ts: int | None = None,
        rule_id: str | None = None,
    ) -> GttRule:
        """Validate and add an ACTIVE rule; ``ltp`` is the current LTP (decides direction)."""
        legs = tuple(legs)
        validate_rule(token, kind, legs, ltp, tick)
        expires = ts + DEFAULT_LIFETIME_NS if expires_ts is None else expires_ts
        if expires <= ts:
            raise GttError(f"expiry {expires} must be after the creation time {ts}")
        new_id = self._next_id() if rule_id is None else rule_id
        if not new_id:
            raise GttError("a GTT rule id must be a non-empty string")
        if new_id in self._rules:
            raise GttError(f"a GTT rule with id {new_id!r} already exists")
        rule = GttRule(
            id=new_id,
            token=token,
            kind=kind,
            legs=legs,
            tick=tick,
            ref_ltp=ltp,
            created_ts=ts,
            expires_ts=expires,
            updated_ts=ts,
        )
        self._rules[new_id] = rule
        self._index_add(rule)
        return rule

    def modify(
        self,
        rule_id: str,
        legs: tuple[GttLeg, ...] | list[GttLeg],
        ltp: int,
        ts: int,
        *,
        expires_ts: int | None = None,
    ) -> GttRule:
        """Replace the legs (and optionally the expiry) of an ACTIVE rule; re-validates at ``ltp``.

        The kind cannot change (cancel and create instead). ``ltp`` becomes the new reference.
        """
        rule = self.get(rule_id)
        if rule.status is not GttStatus.ACTIVE:
            raise GttError(
                f"GTT {rule_id!r} is {rule.status.value}; only an ACTIVE rule can be modified"
            )
        legs = tuple(legs)
        validate_rule(rule.token, rule.kind, legs, ltp, rule.tick)
        expires = rule.expires_ts if expires_ts is None else expires_ts
        if expires <= ts:
            raise GttError(f"expiry {expires} must be after the modify time {ts}")
        self._index_remove(rule)
        new = replace(rule, legs=legs, ref_ltp=ltp, expires_ts=expires, updated_ts=ts)
        self._rules[rule_id] = new
        self._index_add(new)
        return new

    def cancel(self, rule_id: str, ts: int) -> GttRule:
        """Cancel an ACTIVE rule (it leaves the index)."""
        return self._retire(rule_id, GttStatus.CANCELLED, ts, "")

    def disable(self, rule_id: str, reason: str, ts: int) -> GttRule:
        """Take an ACTIVE rule out of service (e.g. a bonus or split changed the prices)."""
        return self._retire(rule_id, GttStatus.DISABLED, ts, reason)

    def on_quote(self, token: str, ltp: int, ts: int) -> list[GttFire]:
        """Fire every ACTIVE rule of ``token`` that ``ltp`` satisfies; each rule at most once.

        Fired rules are TRIGGERED when this returns. Rises are listed lowest trigger first, then
        falls highest trigger first (the order the price reached them). A rule whose expiry has
        passed is expired instead of fired.
        """
        index = self._index.get(token)
        if index is None or index.up_min > ltp > index.down_max:
            return []
        rises, falls = index.take_crossed(ltp)
        fires: list[GttFire] = []
        for ref in itertools.chain(rises, falls):
            fire = self._fire(ref, ltp, ts, index)
            if fire is not None:
                fires.append(fire)
        return fires

    def expire_due(self, ts: int) -> list[GttRule]:
        """Expire every ACTIVE rule with ``expires_ts <= ts``; return them (and any expired by
        :meth:`on_quote` since the last call), in order of expiry."""
        out: list[GttRule] = [self._rules[rid] for rid in self._expired_unreported]
        self._expired_unreported.clear()
        heap = self._expiry
        while heap and heap[0][0] <= ts:
            expires, rid = heapq.heappop(heap)
            rule = self._rules.get(rid)
            if rule is None or rule.status is not GttStatus.ACTIVE or rule.expires_ts != expires:
                continue
            self._index_remove(rule)
            new = replace(rule, status=GttStatus.EXPIRED, updated_ts=ts)
            self._rules[rid] = new
            out.append(new)
        return out

    def unplaced_fires(self) -> list[GttFire]:
        """Fires of TRIGGERED rules whose order was never reported placed (oldest first)."""
        pending = [
            r
            for r in self._rules.values()
            if r.status is GttStatus.TRIGGERED and r.client_order_id is None
        ]
        pending.sort(key=lambda r: (r.fired_ts or 0, r.id))
        return [_fire_of(r) for r in pending]

    def mark_placed(self, rule_id: str, client_order_id: ClientOrderId) -> GttRule:
        """Record the order placed for a TRIGGERED rule. Idempotent for the same id; a second,
        different id is refused (that would be a second order for one fire)."""
        rule = self.get(rule_id)
        if rule.status is not GttStatus.TRIGGERED:
            raise GttError(
                f"GTT {rule_id!r} is {rule.status.value}; only a TRIGGERED rule gets an order"
            )
        if rule.client_order_id is not None:
            if rule.client_order_id == client_order_id:
                return rule
            raise GttError(
                f"GTT {rule_id!r} already placed order {rule.client_order_id!r}; refusing a "
                f"second order {client_order_id!r} for the same fire"
            )
        new = replace(rule, client_order_id=client_order_id)
        self._rules[rule_id] = new
        return new

    def mark_rejected(self, rule_id: str, reason: str, ts: int) -> GttRule:
        """The fired order was refused (risk, broker): TRIGGERED -> REJECTED with the reason.

        Also settles an unplaced fire the core decides not to place. The rule is not re-armed.
        """
        rule = self.get(rule_id)
        if rule.status is not GttStatus.TRIGGERED:
            raise GttError(
                f"GTT {rule_id!r} is {rule.status.value}; only a TRIGGERED rule can be rejected"
            )
        new = replace(rule, status=GttStatus.REJECTED, reject_reason=reason, updated_ts=ts)
        self._rules[rule_id] = new
        return new

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """The whole book as plain JSON-able data."""
        return {
            "version": 1,
            "counter": self._counter,
            "rules": [r.to_dict() for r in self._rules.values()],
            "expired_unreported": list(self._expired_unreported),
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], id_factory: Callable[[], str] | None = None
    ) -> GttBook:
        """Rebuild a book (rules, statuses, index, expiry queue) from :meth:`to_dict` data."""
        if data.get("version") != 1:
            raise GttError(f"unknown GTT book format version {data.get('version')!r}; expected 1")
        book = cls(id_factory)
        book._counter = int(data["counter"])
        for raw in data["rules"]:
            rule = GttRule.from_dict(raw)
            if rule.id in book._rules:
                raise GttError(f"duplicate GTT rule id {rule.id!r} in saved data")
            book._rules[rule.id] = rule
            if rule.status is GttStatus.ACTIVE:
                book._index_add(rule)
        book._expired_unreported = [str(x) for x in data.get("expired_unreported", [])]
        return book

    # ------------------------------------------------------------------ internals

    def _next_id(self) -> str:
        if self._id_factory is not None:
            return self._id_factory()
        while True:
            self._counter += 1
            rid = f"gtt-{self._counter}"
            if rid not in self._rules:
                return rid

    def _retire(self, rule_id: str, status: GttStatus, ts: int, reason: str) -> GttRule:
        rule = self.get(rule_id)
        if rule.status is not GttStatus.ACTIVE:
            raise GttError(
                f"GTT {rule_id!r} is {rule.status.value}; only an ACTIVE rule can be "
                f"{status.value.lower()}"
            )
        self._index_remove(rule)
        new = replace(rule, status=status, updated_ts=ts, reject_reason=reason)
        self._rules[rule_id] = new
        return new

    def _index_add(self, rule: GttRule) -> None:
        index = self._index.get(rule.token)
        if index is None:
            index = self._index[rule.token] = _TokenIndex()
        for i, leg in enumerate(rule.legs):
            index.add(leg.trigger, (rule.id, i), leg.trigger > rule.ref_ltp)
        heap = self._expiry
        heapq.heappush(heap, (rule.expires_ts, rule.id))
        if len(heap) > 64 and len(heap) > 2 * len(self._rules):
            self._compact_expiry()

    def _compact_expiry(self) -> None:
        """Drop heap entries of rules that are no longer ACTIVE (or whose expiry changed)."""
        live = [
            (r.expires_ts, r.id) for r in self._rules.values() if r.status is GttStatus.ACTIVE
        ]
        heapq.heapify(live)
        self._expiry = live

    def _index_remove(self, rule: GttRule) -> None:
        index = self._index[rule.token]
        for i, leg in enumerate(rule.legs):
            index.remove(leg.trigger, (rule.id, i), leg.trigger > rule.ref_ltp)
        if not len(index):
            del self._index[rule.token]

    def _fire(self, ref: tuple[str, int], ltp: int, ts: int, index: _TokenIndex) -> GttFire | None:
        rule_id, leg_index = ref
        rule = self._rules[rule_id]
        if rule.status is not GttStatus.ACTIVE:
            raise AssertionError(f"trigger index held {rule_id!r} in status {rule.status}")
        # This leg's entry is already out of the index; take out the sibling of an OCO.
        for i, leg in enumerate(rule.legs):
            if i != leg_index:
                index.remove(leg.trigger, (rule_id, i), leg.trigger > rule.ref_ltp)
        if not len(index):
            self._index.pop(rule.token, None)
        if ts >= rule.expires_ts:
            self._rules[rule_id] = replace(rule, status=GttStatus.EXPIRED, updated_ts=ts)
            self._expired_unreported.append(rule_id)
            return None
        fired = replace(
            rule,
            status=GttStatus.TRIGGERED,
            updated_ts=ts,
            fired_leg=leg_index,
            fired_ts=ts,
            fired_ltp=ltp,
        )
        self._rules[rule_id] = fired
        return _fire_of(fired)


__all__ = [
    "DEFAULT_LIFETIME_NS",
    "GttBook",
    "GttError",
    "GttFire",
    "GttKind",
    "GttLeg",
    "GttRule",
    "GttStatus",
    "validate_rule",
]
