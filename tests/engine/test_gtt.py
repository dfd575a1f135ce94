"""GTT rules: direction, OCO, one-shot firing, expiry, modify/cancel, restart, and the index."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.gtt import (
    DEFAULT_LIFETIME_NS,
    GttBook,
    GttError,
    GttFire,
    GttKind,
    GttLeg,
    GttStatus,
)
from engine.models import ClientOrderId, OrderType, Product, Side

T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000
TICK = 5
TOKEN = "2885"


def sell(trigger: int, limit: int | None = None, qty: int = 10) -> GttLeg:
    return GttLeg(trigger, trigger if limit is None else limit, Side.SELL, qty, Product.CNC)


def buy(trigger: int, limit: int | None = None, qty: int = 10) -> GttLeg:
    return GttLeg(trigger, trigger if limit is None else limit, Side.BUY, qty, Product.CNC)


def restart(book: GttBook) -> GttBook:
    return GttBook.from_dict(json.loads(json.dumps(book.to_dict())))


# ------------------------------------------------------------------------------- direction


def test_single_above_ltp_fires_on_rise_only() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.SINGLE, [buy(10_500, 10_510)], ltp=10_000, ts=T0, tick=TICK)
    assert rule.fires_on_rise(0)
    assert book.on_quote(TOKEN, 9_000, T0 + 1) == []
    assert book.on_quote(TOKEN, 10_495, T0 + 2) == []
    fires = book.on_quote(TOKEN, 10_500, T0 + 3)
    assert fires == [
        GttFire(rule.id, TOKEN, 0, Side.BUY, 10, 10_510, Product.CNC, 10_500, 10_500, T0 + 3)
    ]
    assert fires[0].order_type is OrderType.LIMIT
    assert book.get(rule.id).status is GttStatus.TRIGGERED
    assert book.get(rule.id).fired_leg == 0
    assert book.get(rule.id).fired_ltp == 10_500


def test_single_below_ltp_fires_on_fall_only() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], ltp=10_000, ts=T0, tick=TICK)
    assert not rule.fires_on_rise(0)
    assert book.on_quote(TOKEN, 20_000, T0 + 1) == []
    assert book.on_quote(TOKEN, 9_505, T0 + 2) == []
    [fire] = book.on_quote(TOKEN, 9_000, T0 + 3)  # a gap through the trigger still fires
    assert (fire.rule_id, fire.limit_price, fire.ltp) == (rule.id, 9_500, 9_000)


def test_other_tokens_do_not_fire() -> None:
    book = GttBook()
    book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], ltp=10_000, ts=T0, tick=TICK)
    assert book.on_quote("OTHER", 1, T0 + 1) == []
    assert book.active_count() == 1


def test_trigger_equal_to_ltp_is_refused() -> None:
    book = GttBook()
    with pytest.raises(GttError, match="equals the last traded price"):
        book.create(TOKEN, GttKind.SINGLE, [sell(10_000)], ltp=10_000, ts=T0, tick=TICK)


@pytest.mark.parametrize(
    ("leg", "message"),
    [
        (GttLeg(10_502, 10_500, Side.BUY, 1), "trigger 10502 is not a multiple of the tick 5; use "
         "10500 or 10505"),
        (GttLeg(10_500, 10_501, Side.BUY, 1), "limit price 10501 is not a multiple"),
        (GttLeg(10_500, 10_500, Side.BUY, 0), "quantity must be a positive"),
        (GttLeg(0, 10_500, Side.BUY, 1), "trigger must be positive"),
    ],
)
def test_bad_legs_name_the_problem(leg: GttLeg, message: str) -> None:
    with pytest.raises(GttError, match=message):
        GttBook().create(TOKEN, GttKind.SINGLE, [leg], ltp=10_000, ts=T0, tick=TICK)


def test_leg_count_and_bad_inputs() -> None:
    book = GttBook()
    with pytest.raises(GttError, match="exactly 1 leg"):
        book.create(TOKEN, GttKind.SINGLE, [sell(9_500), sell(9_000)], 10_000, T0, TICK)
    with pytest.raises(GttError, match="exactly 2 leg"):
        book.create(TOKEN, GttKind.OCO, [sell(9_500)], 10_000, T0, TICK)
    with pytest.raises(GttError, match="tick size"):
        book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, 0)
    with pytest.raises(GttError, match="LTP must be positive"):
        book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 0, T0, TICK)
    with pytest.raises(GttError, match="empty token"):
        book.create("", GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    with pytest.raises(GttError, match="must be after the creation time"):
        book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK, expires_ts=T0)
    book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK, rule_id="mine")
    with pytest.raises(GttError, match="already exists"):
        book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK, rule_id="mine")
    with pytest.raises(GttError, match="no GTT rule"):
        book.get("nope")
    assert book.active_count() == 1


# ------------------------------------------------------------------------------- OCO


def test_oco_ordering_and_sides_are_validated() -> None:
    book = GttBook()
    with pytest.raises(GttError, match=r"legs\[0\].trigger below the LTP and legs\[1\]"):
        book.create(TOKEN, GttKind.OCO, [sell(11_000), sell(9_000)], 10_000, T0, TICK)
    with pytest.raises(GttError, match="below the LTP"):
        book.create(TOKEN, GttKind.OCO, [sell(9_000), sell(9_500)], 10_000, T0, TICK)
    with pytest.raises(GttError, match="same side and product"):
        book.create(TOKEN, GttKind.OCO, [sell(9_000), buy(11_000)], 10_000, T0, TICK)


def test_oco_fires_target_on_rise_and_never_the_stop_after() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.OCO, [sell(9_500), sell(11_000)], 10_000, T0, TICK)
    [fire] = book.on_quote(TOKEN, 11_000, T0 + 1)
    assert (fire.rule_id, fire.leg_index, fire.limit_price) == (rule.id, 1, 11_000)
    # The price collapses through the stop: the rule already fired, nothing more.
    assert book.on_quote(TOKEN, 9_000, T0 + 2) == []
    assert book.on_quote(TOKEN, 12_000, T0 + 3) == []
    assert book.indexed_count() == 0


def test_oco_gap_through_both_levels_fires_exactly_one_leg() -> None:
    """100.00 -> 130.00 -> 80.00: the upper leg is reached first; the lower never fires."""
    book = GttBook()
    rule = book.create(TOKEN, GttKind.OCO, [sell(9_000), sell(11_000)], 10_000, T0, TICK)
    fires = book.on_quote(TOKEN, 13_000, T0 + 1) + book.on_quote(TOKEN, 8_000, T0 + 2)
    assert [(f.rule_id, f.leg_index) for f in fires] == [(rule.id, 1)]


def test_oco_gap_down_straight_through_stop_fires_the_stop() -> None:
    """A gap from between the levels to far below both: the only level crossed is the stop."""
    book = GttBook()
    rule = book.create(TOKEN, GttKind.OCO, [sell(9_000), sell(11_000)], 10_000, T0, TICK)
    [fire] = book.on_quote(TOKEN, 100, T0 + 1)
    assert (fire.rule_id, fire.leg_index, fire.limit_price) == (rule.id, 0, 9_000)
    assert book.on_quote(TOKEN, 50_000, T0 + 2) == []


def test_replayed_quote_fires_once() -> None:
    book = GttBook()
    book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    book.create(TOKEN, GttKind.OCO, [sell(9_500), sell(11_000)], 10_000, T0, TICK)
    first = book.on_quote(TOKEN, 9_400, T0 + 1)
    assert len(first) == 2
    for _ in range(3):
        assert book.on_quote(TOKEN, 9_400, T0 + 1) == []


def test_fire_order_follows_the_path() -> None:
    book = GttBook()
    a = book.create(TOKEN, GttKind.SINGLE, [buy(10_200)], 10_000, T0, TICK)
    b = book.create(TOKEN, GttKind.SINGLE, [buy(10_100)], 10_000, T0, TICK)
    c = book.create(TOKEN, GttKind.SINGLE, [buy(10_300)], 10_000, T0, TICK)
    fires = book.on_quote(TOKEN, 10_250, T0 + 1)
    assert [f.rule_id for f in fires] == [b.id, a.id]
    assert book.get(c.id).status is GttStatus.ACTIVE


# ------------------------------------------------------------------------------- expiry


def test_default_expiry_is_one_year_and_expire_due() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    assert rule.expires_ts == T0 + DEFAULT_LIFETIME_NS == T0 + 365 * 86_400 * SEC
    assert book.expire_due(rule.expires_ts - 1) == []
    [expired] = book.expire_due(rule.expires_ts)
    assert expired.id == rule.id and expired.status is GttStatus.EXPIRED
    assert book.expire_due(rule.expires_ts + SEC) == []
    assert book.on_quote(TOKEN, 1, rule.expires_ts + 2) == []
    assert book.indexed_count() == 0


def test_quote_after_expiry_expires_instead_of_firing() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.OCO, [sell(9_500), sell(11_000)], 10_000, T0, TICK,
                       expires_ts=T0 + 10 * SEC)
    assert book.on_quote(TOKEN, 9_000, T0 + 10 * SEC) == []
    assert book.get(rule.id).status is GttStatus.EXPIRED
    assert [r.id for r in book.expire_due(T0 + 10 * SEC)] == [rule.id]
    assert book.expire_due(T0 + 20 * SEC) == []
    assert book.indexed_count() == 0


# ------------------------------------------------------------------------------- modify / cancel


def test_modify_moves_the_trigger_and_revalidates() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    with pytest.raises(GttError, match="equals the last traded price"):
        book.modify(rule.id, [sell(9_000)], ltp=9_000, ts=T0 + 1)
    assert book.get(rule.id).legs == (sell(9_500),)  # a refused modify changes nothing
    new = book.modify(rule.id, [sell(9_000, 8_990, qty=7)], ltp=9_800, ts=T0 + 2)
    assert new.ref_ltp == 9_800 and new.legs[0].qty == 7 and new.expires_ts == rule.expires_ts
    assert book.on_quote(TOKEN, 9_400, T0 + 3) == []  # the old trigger is gone
    [fire] = book.on_quote(TOKEN, 9_000, T0 + 4)
    assert (fire.limit_price, fire.qty) == (8_990, 7)


def test_modify_direction_follows_the_new_ltp() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.SINGLE, [buy(10_500)], 10_000, T0, TICK)
    book.modify(rule.id, [buy(10_500)], ltp=11_000, ts=T0 + 1)  # now below: fires on a fall
    assert book.on_quote(TOKEN, 12_000, T0 + 2) == []
    assert len(book.on_quote(TOKEN, 10_500, T0 + 3)) == 1


def test_modify_expiry_and_only_active() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    book.modify(rule.id, [sell(9_500)], 10_000, T0 + 1, expires_ts=T0 + 5 * SEC)
    assert [r.id for r in book.expire_due(T0 + 5 * SEC)] == [rule.id]
    with pytest.raises(GttError, match="only an ACTIVE rule can be modified"):
        book.modify(rule.id, [sell(9_500)], 10_000, T0 + 6 * SEC)


def test_cancel_removes_from_index_and_is_not_repeatable() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.OCO, [sell(9_500), sell(11_000)], 10_000, T0, TICK)
    other = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    cancelled = book.cancel(rule.id, T0 + 1)
    assert cancelled.status is GttStatus.CANCELLED
    assert book.indexed_count() == 1
    assert [f.rule_id for f in book.on_quote(TOKEN, 9_000, T0 + 2)] == [other.id]
    with pytest.raises(GttError, match="only an ACTIVE rule can be cancelled"):
        book.cancel(rule.id, T0 + 3)
    with pytest.raises(GttError, match="only an ACTIVE rule can be modified"):
        book.modify(other.id, [sell(9_000)], 10_000, T0 + 3)


def test_disable_and_reject() -> None:
    book = GttBook()
    a = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK)
    b = book.create(TOKEN, GttKind.SINGLE, [sell(9_000)], 10_000, T0, TICK)
    assert book.disable(a.id, "bonus 1:1", T0 + 1).reject_reason == "bonus 1:1"
    assert book.get(a.id).status is GttStatus.DISABLED
    with pytest.raises(GttError, match="only a TRIGGERED rule can be rejected"):
        book.mark_rejected(b.id, "x", T0 + 1)
    [fire] = book.on_quote(TOKEN, 8_000, T0 + 2)
    assert fire.rule_id == b.id
    rejected = book.mark_rejected(b.id, "insufficient holdings", T0 + 3)
    assert rejected.status is GttStatus.REJECTED
    assert rejected.reject_reason == "insufficient holdings"
    assert book.unplaced_fires() == []


# ------------------------------------------------------------------------------- restart


def test_restart_reports_an_unplaced_fire_exactly_once() -> None:
    book = GttBook()
    rule = book.create(TOKEN, GttKind.OCO, [sell(9_500), sell(11_000)], 10_000, T0, TICK)
    waiting = book.create(TOKEN, GttKind.SINGLE, [buy(12_000)], 10_000, T0, TICK)
    [fire] = book.on_quote(TOKEN, 9_400, T0 + 1)
    # Crash after the fire was journaled, before the order went out.
    book2 = restart(book)
    assert book2.unplaced_fires() == [fire]
    assert book2.on_quote(TOKEN, 9_400, T0 + 1) == []  # the replayed quote fires nothing
    assert book2.on_quote(TOKEN, 9_000, T0 + 2) == []
    book2.mark_placed(rule.id, ClientOrderId("c-1"))
    book2.mark_placed(rule.id, ClientOrderId("c-1"))  # idempotent
    with pytest.raises(GttError, match="refusing a second order"):
        book2.mark_placed(rule.id, ClientOrderId("c-2"))
    assert book2.unplaced_fires() == []
    book3 = restart(book2)
    assert book3.unplaced_fires() == []
    assert book3.get(rule.id).client_order_id == "c-1"
    # The untouched rule is still armed after two restarts.
    [later] = book3.on_quote(TOKEN, 12_000, T0 + 3)
    assert later.rule_id == waiting.id
    armed = book3.create(TOKEN, GttKind.SINGLE, [sell(1_000)], 2_000, T0 + 4, TICK)
    with pytest.raises(GttError, match="only a TRIGGERED rule gets an order"):
        book3.mark_placed(armed.id, ClientOrderId("c-3"))


def test_restart_keeps_ids_counter_and_expiry() -> None:
    book = GttBook()
    a = book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK, expires_ts=T0 + SEC)
    book2 = restart(book)
    b = book2.create(TOKEN, GttKind.SINGLE, [sell(9_000)], 10_000, T0, TICK)
    assert a.id != b.id
    assert [r.id for r in book2.expire_due(T0 + SEC)] == [a.id]
    with pytest.raises(GttError, match="format version"):
        GttBook.from_dict({"version": 99})


def test_injected_id_factory() -> None:
    ids = iter(["x-1", "x-2"])
    book = GttBook(id_factory=lambda: next(ids))
    assert book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK).id == "x-1"
    assert book.create(TOKEN, GttKind.SINGLE, [sell(9_500)], 10_000, T0, TICK).id == "x-2"


# ------------------------------------------------------------------ index vs brute force


class BruteGtt:
    """The obvious evaluator: every ACTIVE rule of the token, every quote."""

    def __init__(self) -> None:
        self.rules: dict[str, dict[str, object]] = {}
        self.expired_unreported: set[str] = set()

    def expire(self, ts: int) -> set[str]:
        out = set(self.expired_unreported)
        self.expired_unreported.clear()
        for rid, r in self.rules.items():
            expires = r["expires"]
            assert isinstance(expires, int)
            if r["status"] == "ACTIVE" and expires <= ts:
                r["status"] = "EXPIRED"
                out.add(rid)
        return out

    def add(self, rid: str, token: str, legs: list[GttLeg], ref: int, expires: int) -> None:
        self.rules[rid] = {"token": token, "legs": legs, "ref": ref, "expires": expires,
                           "status": "ACTIVE"}

    def quote(self, token: str, ltp: int, ts: int) -> set[tuple[str, int]]:
        fired: set[tuple[str, int]] = set()
        for rid, r in self.rules.items():
            if r["token"] != token or r["status"] != "ACTIVE":
                continue
            legs = r["legs"]
            ref = r["ref"]
            assert isinstance(legs, list) and isinstance(ref, int)
            hits = [
                i for i, leg in enumerate(legs)
                if (ltp >= leg.trigger if leg.trigger > ref else ltp <= leg.trigger)
            ]
            assert len(hits) <= 1, "an OCO can never have both legs satisfied by one LTP"
            if not hits:
                continue
            expires = r["expires"]
            assert isinstance(expires, int)
            if ts >= expires:
                r["status"] = "EXPIRED"
                self.expired_unreported.add(rid)
                continue
            r["status"] = "TRIGGERED"
            fired.add((rid, hits[0]))
        return fired


TOKENS = ["A", "B", "C"]

op_strategy = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(TOKENS), st.booleans(),
              st.integers(-40, 40), st.integers(-40, 40), st.integers(1, 400)),
    st.tuples(st.just("quote"), st.sampled_from(TOKENS), st.integers(-60, 60)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("modify"), st.integers(0, 50), st.integers(-40, 40)),
    st.tuples(st.just("restart"),),
    st.tuples(st.just("expire"),),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_strategy, min_size=1, max_size=80))
def test_index_matches_brute_force_and_never_fires_twice(ops: list[tuple[object, ...]]) -> None:
    book = GttBook()
    brute = BruteGtt()
    ltp = dict.fromkeys(TOKENS, 10_000)
    ts = T0
    created: list[str] = []
    ever_fired: set[str] = set()
    for op in ops:
        ts += SEC
        kind = op[0]
        if kind == "create":
            _, token, oco, d1, d2, life = op
            assert isinstance(token, str) and isinstance(d1, int) and isinstance(d2, int)
            assert isinstance(life, int)
            ref = ltp[token]
            if oco:
                low, high = ref - TICK * (abs(d1) + 1), ref + TICK * (abs(d2) + 1)
                legs = [sell(low), sell(high)]
                gkind = GttKind.OCO
            else:
                if d1 == 0:
                    continue
                legs = [buy(ref + TICK * d1)]
                gkind = GttKind.SINGLE
            rule = book.create(token, gkind, legs, ref, ts, TICK, expires_ts=ts + life * SEC)
            brute.add(rule.id, token, legs, ref, rule.expires_ts)
            created.append(rule.id)
        elif kind == "quote":
            _, token, step = op
            assert isinstance(token, str) and isinstance(step, int)
            ltp[token] = max(TICK, ltp[token] + step * TICK)
            got = {(f.rule_id, f.leg_index) for f in book.on_quote(token, ltp[token], ts)}
            assert got == brute.quote(token, ltp[token], ts)
            event("quote fired" if got else "quote fired nothing")
            for rid, _leg in got:
                assert rid not in ever_fired
                ever_fired.add(rid)
        elif kind in ("cancel", "modify"):
            if not created:
                continue
            idx = op[1]
            assert isinstance(idx, int)
            rid = created[idx % len(created)]
            rule = book.get(rid)
            if rule.status is not GttStatus.ACTIVE or brute.rules[rid]["status"] != "ACTIVE":
                continue
            if ts >= rule.expires_ts:
                continue  # due for expiry; expire_due would take it
            if kind == "cancel":
                book.cancel(rid, ts)
                brute.rules[rid]["status"] = "CANCELLED"
            else:
                d = op[2]
                assert isinstance(d, int)
                ref = ltp[rule.token]
                if rule.kind is GttKind.OCO:
                    legs = [sell(ref - TICK * (abs(d) + 1)), sell(ref + TICK * (abs(d) + 2))]
                else:
                    if d == 0:
                        continue
                    legs = [buy(ref + TICK * d)]
                book.modify(rid, legs, ref, ts)
                brute.rules[rid]["legs"] = legs
                brute.rules[rid]["ref"] = ref
        elif kind == "expire":
            assert {r.id for r in book.expire_due(ts)} == brute.expire(ts)
        else:
            book = restart(book)
    # Statuses agree at the end too.
    for rid, r in brute.rules.items():
        assert book.get(rid).status.value == r["status"]
    active = sum(len(book.get(rid).legs) for rid in brute.rules
                 if brute.rules[rid]["status"] == "ACTIVE")
    assert book.indexed_count() == active
