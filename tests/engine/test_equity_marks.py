"""Daily equity marks: journaled at every IST day change and at stop, read back per day."""

from __future__ import annotations

from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clock import ist_ns
from engine.equity_marks import EquityMark, latest_per_day, read_equity_marks
from engine.journal import Journal
from engine.models import Product
from tests.engine.test_core_snapshots import CASH, DAY, build, buy, close


async def test_day_change_and_stop_journal_marks_with_the_account_figures(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path, ist_ns(DAY, dtime(10, 0)))
    core = rig.core
    await core.start()
    await rig.step(1)
    token = rig.stocks[0].token
    result = await core.submit(buy(rig, token, 5, product=Product.CNC))
    assert result.accepted
    await rig.step(1)
    day_one = core.funds()
    assert day_one.charges > 0 and core.portfolio.position(token, Product.CNC) is not None

    next_day = ist_ns(DAY + timedelta(days=1), dtime(9, 20))
    rig.clock.set(next_day)
    core.on_quotes([])  # the first market data of the new day ends the old one
    await core.settle()
    await rig.step(1)
    await core.stop()
    day_two = core.funds()
    await close(rig, stop=False)

    with Journal.open(path) as journal:
        marks = read_equity_marks(journal, account="paper")
    assert [m.day for m in marks] == [DAY, DAY + timedelta(days=1)]
    first, second = marks
    assert first.ts == next_day
    assert (first.equity, first.cash, first.realized, first.unrealized, first.charges) == (
        day_one.equity,
        day_one.cash,
        day_one.realized,
        day_one.unrealized,
        day_one.charges,
    )
    assert first.equity != CASH  # charges were paid and the position is marked
    assert second.equity == day_two.equity and second.charges == day_two.charges


async def test_a_restart_replaces_the_days_mark_and_replay_ignores_marks(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    start = ist_ns(DAY, dtime(10, 0))
    rig = build(path, start)
    await rig.core.start()
    await rig.step(1)
    await rig.core.stop()
    await close(rig, stop=False)
    again = build(path, start + 3_600 * 10**9)
    await again.core.start()
    await again.step(1)
    await again.core.stop()
    await close(again, stop=False)
    with Journal.open(path) as journal:
        raw = list(journal.query(kind="equity_mark"))
        marks = read_equity_marks(journal)
    assert len(raw) == 2 and len(marks) == 1
    assert marks[0].ts == raw[-1].payload["ts"]


def test_a_malformed_payload_names_the_field() -> None:
    good = EquityMark(DAY, 1, 2, 3, 4, 5, 6).to_payload()
    assert EquityMark.from_payload(good) == EquityMark(DAY, 1, 2, 3, 4, 5, 6)
    with pytest.raises(ValueError, match="equity"):
        EquityMark.from_payload({**good, "equity": "12.5"})
    with pytest.raises(ValueError, match="malformed"):
        EquityMark.from_payload({"date": "2026-13-01"})


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(-10**9, 10**9)), max_size=40))
def test_property_latest_per_day_keeps_the_last_mark_of_each_date(
    items: list[tuple[int, int]],
) -> None:
    marks = [
        EquityMark(date(2026, 1, 1) + timedelta(days=d), i, eq, 0, 0, 0, 0)
        for i, (d, eq) in enumerate(items)
    ]
    out = latest_per_day(marks)
    assert [m.day for m in out] == sorted({m.day for m in marks})
    for m in out:
        assert m == [x for x in marks if x.day == m.day][-1]
