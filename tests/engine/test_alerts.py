"""Alerts (above, below, cross, move %), one-shot and repeat, persistence; notifications."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.alerts import (
    AlertBook,
    AlertError,
    AlertKind,
    AlertRule,
    AlertStatus,
    Notification,
    NotificationHistory,
    NotificationKind,
    Severity,
)

SBIN = "3045"
NIFTY = "99926000"
T0 = 1_700_000_000_000_000_000


def rule(
    kind: AlertKind,
    level: int | None = None,
    *,
    pct: str | None = None,
    repeat: bool = False,
    token: str = SBIN,
    rid: str = "a1",
    note: str = "",
) -> AlertRule:
    return AlertRule(
        id=rid,
        token=token,
        kind=kind,
        level=level,
        pct=None if pct is None else Decimal(pct),
        repeat=repeat,
        note=note,
        symbol="SBIN",
    )


def feed(book: AlertBook, prices: list[int], token: str = SBIN, prev_close: int = 0) -> list[int]:
    """Indexes of the quotes at which anything fired."""
    hits = []
    for i, ltp in enumerate(prices):
        if book.on_quote(token, ltp, prev_close, T0 + i):
            hits.append(i)
    return hits


# ------------------------------------------------------------------------------- rules


def test_rule_validation_messages() -> None:
    with pytest.raises(AlertError, match="positive price level"):
        rule(AlertKind.ABOVE, None)
    with pytest.raises(AlertError, match="positive price level"):
        rule(AlertKind.BELOW, 0)
    with pytest.raises(AlertError, match="not a percentage"):
        AlertRule("a", SBIN, AlertKind.ABOVE, level=100, pct=Decimal(1))
    with pytest.raises(AlertError, match="needs a percentage"):
        rule(AlertKind.MOVE_PCT)
    with pytest.raises(AlertError, match="not a price level"):
        AlertRule("a", SBIN, AlertKind.MOVE_PCT, level=100, pct=Decimal(1))
    with pytest.raises(AlertError, match="above 0"):
        rule(AlertKind.MOVE_PCT, pct="0")
    with pytest.raises(AlertError, match="empty token"):
        AlertRule("a", "", AlertKind.ABOVE, level=100)
    with pytest.raises(AlertError, match="non-empty id"):
        AlertRule("", SBIN, AlertKind.ABOVE, level=100)


def test_describe() -> None:
    assert rule(AlertKind.ABOVE, 82000).describe() == "SBIN above 820.00"
    assert rule(AlertKind.MOVE_PCT, pct="1.5", repeat=True).describe() == "SBIN move 1.5% (repeat)"


# ------------------------------------------------------------------------------- above / below


def test_above_fires_when_price_rises_to_the_level() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.ABOVE, 82000), ltp=81000)
    assert book.on_quote(SBIN, 81500, 0, T0) == []
    fired = book.on_quote(SBIN, 82000, 80000, T0 + 1)
    assert len(fired) == 1
    assert fired[0].direction == "up"
    assert fired[0].ltp == 82000
    assert fired[0].message == "SBIN rose to 820.00 (above 820.00)"
    # one-shot: never again
    assert feed(book, [81000, 83000, 81000, 83000]) == []
    assert book.status("a1") is AlertStatus.FIRED
    assert book.active() == []
    assert book.list() == [book.get("a1")]
    assert book.fired_count("a1") == 1


def test_above_refused_when_already_reached_and_message_says_why() -> None:
    book = AlertBook()
    with pytest.raises(AlertError, match=r"SBIN is at 825.00, already at or above 820.00"):
        book.add(rule(AlertKind.ABOVE, 82000), ltp=82500)
    with pytest.raises(AlertError, match=r"already at or below 820.00"):
        book.add(rule(AlertKind.BELOW, 82000), ltp=82000)
    assert len(book) == 0


def test_above_without_a_quote_is_armed() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.ABOVE, 82000))
    assert feed(book, [83000]) == [0]


def test_below_fires_on_a_fall_and_gaps() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.BELOW, 79000), ltp=80000)
    fired = book.on_quote(SBIN, 78000, 0, T0)  # gap through the level
    assert [f.direction for f in fired] == ["down"]
    assert fired[0].message == "SBIN fell to 780.00 (below 790.00)"


def test_repeat_rearms_only_after_the_price_moves_back_across() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.ABOVE, 82000, repeat=True), ltp=81000)
    prices = [82000, 82500, 82000, 82000, 81995, 82000, 83000, 81000, 84000]
    assert feed(book, prices) == [0, 5, 8]
    assert book.status("a1") is AlertStatus.ACTIVE
    assert book.fired_count("a1") == 3


def test_cross_fires_both_ways_and_a_touch_counts_once() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.CROSS, 80000, repeat=True), ltp=79500)
    #          0      1      2      3      4      5      6
    prices = [80000, 79500, 80500, 80000, 80000, 79000, 81000]
    fired_at = []
    directions = []
    for i, ltp in enumerate(prices):
        for f in book.on_quote(SBIN, ltp, 0, T0 + i):
            fired_at.append(i)
            directions.append(f.direction)
    # touch at 0 (up); back below at 1 is no cross; up through at 2 (from below); touch from
    # above at 3 (down); at 4 still at the level; 5 below (no: it left the level, not a side);
    # 6 from below to above (up)
    assert fired_at == [0, 2, 3, 6]
    assert directions == ["up", "up", "down", "up"]


def test_cross_learns_its_side_from_the_first_quote_without_a_reference() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.CROSS, 80000))
    assert feed(book, [81000, 82000, 79000, 78000, 85000]) == [2]


def test_move_pct_fires_on_either_side_exactly() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.MOVE_PCT, pct="1", token=NIFTY, repeat=True))
    close = 2_400_000
    # 1% of 24,000.00 is 240.00 = 24,000 units
    assert book.on_quote(NIFTY, 2_423_999, close, T0) == []
    fired = book.on_quote(NIFTY, 2_424_000, close, T0 + 1)
    assert len(fired) == 1 and fired[0].direction == "up"
    assert fired[0].change_pct == Fraction(1)
    assert "moved +1.00% from the previous close" in fired[0].message
    assert book.on_quote(NIFTY, 2_430_000, close, T0 + 2) == []  # still beyond: no repeat
    assert book.on_quote(NIFTY, 2_400_000, close, T0 + 3) == []  # back: re-armed
    down = book.on_quote(NIFTY, 2_376_000, close, T0 + 4)
    assert [f.direction for f in down] == ["down"]
    assert "-1.00%" in down[0].message


def test_move_pct_ignores_quotes_without_previous_close() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.MOVE_PCT, pct="0.5"))
    assert book.on_quote(SBIN, 100_000, 0, T0) == []
    assert len(book.on_quote(SBIN, 100_000, 90_000, T0)) == 1


def test_several_alerts_per_symbol_and_other_tokens_untouched() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.ABOVE, 82000, rid="a"), ltp=81000)
    book.add(rule(AlertKind.ABOVE, 83000, rid="b", note="breakout"), ltp=81000)
    book.add(rule(AlertKind.BELOW, 80000, rid="c"), ltp=81000)
    book.add(rule(AlertKind.ABOVE, 100, rid="n", token=NIFTY), ltp=50)
    fired = book.on_quote(SBIN, 84000, 0, T0)
    assert sorted(f.rule.id for f in fired) == ["a", "b"]
    assert [f.message for f in fired if f.rule.id == "b"] == [
        "SBIN rose to 840.00 (above 830.00) - breakout"
    ]
    assert book.tokens() == {SBIN, NIFTY}
    assert [r.id for r in book.active(SBIN)] == ["c"]
    assert [r.id for r in book.list(SBIN)] == ["a", "b", "c"]
    assert book.on_quote("999", 1, 0, T0) == []


def test_remove_rearm_note_and_ids() -> None:
    book = AlertBook()
    first = book.next_id()
    book.add(AlertRule(first, SBIN, AlertKind.ABOVE, level=82000), ltp=81000)
    assert first == "al-1"
    assert book.next_id() == "al-2"
    with pytest.raises(AlertError, match="already exists"):
        book.add(AlertRule(first, SBIN, AlertKind.ABOVE, level=90000))
    feed(book, [82000])
    assert book.status(first) is AlertStatus.FIRED
    with pytest.raises(AlertError, match="already at or above"):
        book.rearm(first, ltp=83000)
    assert book.status(first) is AlertStatus.FIRED  # a refused re-arm changes nothing
    book.rearm(first, ltp=81000)
    assert book.status(first) is AlertStatus.ACTIVE
    assert feed(book, [82500]) == [0]
    assert book.fired_count(first) == 2
    assert book.update_note(first, "check news").note == "check news"
    book.remove(first)
    with pytest.raises(AlertError, match="no alert with id 'al-1'"):
        book.remove(first)
    assert book.tokens() == set()
    book.add(rule(AlertKind.ABOVE, 1, rid="x"))
    book.add(rule(AlertKind.BELOW, 1, rid="y"))
    assert [r.id for r in book.remove_for(SBIN)] == ["x", "y"]
    assert len(book) == 0


def test_persistence_round_trip_keeps_state() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.CROSS, 80000, rid="al-7", repeat=True), ltp=79000)
    book.add(rule(AlertKind.ABOVE, 90000, rid="al-2"), ltp=85000)
    book.add(rule(AlertKind.MOVE_PCT, pct="2.5", rid="m", note="gap"))
    fired = book.on_quote(SBIN, 90000, 80000, T0)  # a 12.5% move through both levels
    assert [f.rule.id for f in fired] == ["al-7", "al-2", "m"]
    data = json.loads(json.dumps(book.to_dict()))
    again = AlertBook.from_dict(data)
    assert again.to_dict() == book.to_dict()
    assert [r.to_dict() for r in again] == [r.to_dict() for r in book]
    assert again.next_id() == "al-8"
    # the restored cross knows it is above: a fall through fires at once
    assert [f.rule.id for f in again.on_quote(SBIN, 79000, 80000, T0)] == ["al-7"]
    with pytest.raises(AlertError, match="version"):
        AlertBook.from_dict({"version": 99})


# ------------------------------------------------------------------------------- properties

PRICES = st.lists(st.integers(min_value=95, max_value=105), min_size=1, max_size=60)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


@settings(max_examples=150, deadline=None)
@given(path=PRICES, level=st.integers(97, 103), ref=st.one_of(st.none(), st.integers(95, 105)))
def test_repeating_cross_fires_exactly_at_crossings(
    path: list[int], level: int, ref: int | None
) -> None:
    book = AlertBook()
    book.add(rule(AlertKind.CROSS, level, repeat=True), ltp=ref)
    expected = []
    last = None if ref is None else _sign(ref - level)
    for i, price in enumerate(path):
        side = _sign(price - level)
        if last in (-1, 1) and side != last:
            expected.append(i)
        last = side
    assert feed(book, path) == expected


@settings(max_examples=150, deadline=None)
@given(
    path=PRICES,
    level=st.integers(97, 103),
    kind=st.sampled_from([AlertKind.ABOVE, AlertKind.BELOW, AlertKind.CROSS]),
    repeat=st.booleans(),
)
def test_level_alerts_match_the_side_oracle_and_one_shot_fires_at_most_once(
    path: list[int], level: int, kind: AlertKind, repeat: bool
) -> None:
    book = AlertBook()
    book.add(rule(kind, level, repeat=repeat), ltp=None)
    last = {AlertKind.ABOVE: -1, AlertKind.BELOW: 1, AlertKind.CROSS: None}[kind]
    expected = []
    for i, price in enumerate(path):
        side = _sign(price - level)
        crossed = last in (-1, 1) and side != last
        if crossed and (
            kind is AlertKind.CROSS
            or (kind is AlertKind.ABOVE and last == -1)
            or (kind is AlertKind.BELOW and last == 1)
        ):
            expected.append(i)
        last = side
    got = feed(book, path)
    if repeat:
        assert got == expected
    else:
        assert got == expected[:1]
        assert len(got) <= 1
    for i in got:  # every fire is at a price on the level's far side (or on it)
        if kind is AlertKind.ABOVE:
            assert path[i] >= level
        if kind is AlertKind.BELOW:
            assert path[i] <= level


@settings(max_examples=100, deadline=None)
@given(
    path=st.lists(st.integers(9_000, 11_000), min_size=1, max_size=40),
    pct=st.sampled_from(["0.5", "1", "2.5", "5", "7.25"]),
    repeat=st.booleans(),
)
def test_move_pct_matches_exact_oracle(path: list[int], pct: str, repeat: bool) -> None:
    close = 10_000
    book = AlertBook()
    book.add(rule(AlertKind.MOVE_PCT, pct=pct, repeat=repeat))
    expected = []
    was: bool | None = None
    for i, price in enumerate(path):
        hit = abs(price - close) * 100 >= Decimal(pct) * close
        if hit and was is not True:
            expected.append(i)
        was = hit
    got = feed(book, path, prev_close=close)
    assert got == (expected if repeat else expected[:1])


@settings(max_examples=60, deadline=None)
@given(path=PRICES, cut=st.integers(0, 60), level=st.integers(97, 103))
def test_restart_anywhere_changes_nothing(path: list[int], cut: int, level: int) -> None:
    whole = AlertBook()
    whole.add(rule(AlertKind.CROSS, level, repeat=True))
    straight = feed(whole, path)
    first = AlertBook()
    first.add(rule(AlertKind.CROSS, level, repeat=True))
    head = feed(first, path[:cut])
    second = AlertBook.from_dict(json.loads(json.dumps(first.to_dict())))
    tail = [i + min(cut, len(path)) for i in feed(second, path[cut:])]
    assert head + tail == straight


# ------------------------------------------------------------------------------- notifications


def test_alert_to_notification() -> None:
    book = AlertBook()
    book.add(rule(AlertKind.ABOVE, 82000, note="take profit"), ltp=81000)
    [fired] = book.on_quote(SBIN, 82050, 0, T0)
    note = fired.to_notification()
    assert note == Notification(
        kind=NotificationKind.ALERT,
        title="Alert: SBIN above 820.00",
        body="SBIN rose to 820.50 (above 820.00) - take profit",
        ts=T0,
        severity=Severity.WARNING,
    )
    assert Notification.from_dict(json.loads(json.dumps(note.to_dict()))) == note
    assert note.to_dict()["kind"] == "alert"


def test_severity_order() -> None:
    assert Severity.CRITICAL.at_least(Severity.WARNING)
    assert Severity.WARNING.at_least(Severity.WARNING)
    assert not Severity.INFO.at_least(Severity.WARNING)
    assert [s.rank for s in Severity] == [0, 1, 2]


def test_notification_history_is_a_bounded_ring_newest_first() -> None:
    history = NotificationHistory(capacity=3)
    kinds = list(NotificationKind)
    for i in range(5):
        history.add(Notification(kinds[i % len(kinds)], f"t{i}", "b", T0 + i))
    assert [n.title for n in history] == ["t4", "t3", "t2"]
    assert len(history) == 3
    assert history.unread == 3
    assert [n.title for n in history.latest(2)] == ["t4", "t3"]
    assert [n.title for n in history.of_kind(NotificationKind.RISK)] == ["t3"]
    history.mark_read()
    assert history.unread == 0
    history.add(Notification(NotificationKind.FILL, "t5", "b", T0))
    assert history.unread == 1
    history.clear()
    assert len(history) == 0 and history.unread == 0
    with pytest.raises(ValueError, match="positive"):
        NotificationHistory(capacity=0)
    with pytest.raises(ValueError):
        Notification("nope", "t", "b", 0)  # type: ignore[arg-type]
