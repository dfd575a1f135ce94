"""Core snapshots: restart from snapshot + tail equals a full replay, with real parts (the
simulated market, the paper broker, a real SQLite journal in a temp dir)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest

from brokers.paper import PaperBroker
from engine.brackets import BracketSpec, ExitLevel
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, NS_PER_SECOND, SessionPhase, SimClock, ist_ns
from engine.core import K_ORDER, TradingCore
from engine.gtt import GttKind, GttLeg, GttStatus
from engine.intent import OrderIntent
from engine.journal import Journal
from engine.kill_switch import KillSwitchState
from engine.models import (
    ClientOrderId,
    Instrument,
    InstrumentType,
    OrderStatus,
    OrderType,
    Product,
    Quote,
    Side,
    TradeId,
    VenueOrderId,
)
from engine.oms import OMS
from engine.orders import (
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
)
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

DAY = date(2026, 11, 20)
CASH = 10_00_000_00


@dataclass
class Rig:
    """One paper account over one simulated market."""

    market: SimulatedMarket
    clock: SimClock
    journal: Journal
    core: TradingCore
    stocks: list[Instrument]

    async def step(self, seconds: float) -> None:
        for _ in range(max(1, int(seconds * 50))):
            events = self.market.step(20 * NS_PER_MS)
            self.core.on_quotes(e for e in events if isinstance(e, Quote))
            await self.core.settle()

    def ltp(self, token: str) -> int:
        quote = self.core.quote(token)
        assert quote is not None
        return quote.ltp


def build(path: Path, clock_start: int, *, snapshot_every: int = 20_000) -> Rig:
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:4]
    prices = {i.token: universe.start_prices[i.token] for i in stocks}
    clock = SimClock(clock_start)
    market = SimulatedMarket(stocks, prices, seed=5,
                             config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN,
                                                    events_per_s=40), clock=clock)
    journal = Journal.open(path, synchronous="NORMAL")
    core = TradingCore(
        broker=PaperBroker(market), journal=journal, instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(RiskConfig(), clock), portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE), clock=clock, account="paper",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS, snapshot_every=snapshot_every,
    )
    return Rig(market, clock, journal, core, stocks)


def buy(rig: Rig, token: str, qty: int, *, ticks: int = 5, product: Product = Product.MIS
        ) -> OrderIntent:
    """A BUY LIMIT ``ticks`` above the best ask (marketable) or below the LTP (negative)."""
    tick = rig.core.instruments[token].tick_size
    quote = rig.core.quote(token)
    assert quote is not None and quote.asks
    price = quote.asks[0].price + ticks * tick if ticks > 0 else quote.ltp + ticks * tick
    return OrderIntent(token=token, side=Side.BUY, qty=qty, order_type=OrderType.LIMIT,
                       price=price, product=product)


async def trade(rig: Rig, *, end_killed: bool) -> None:
    """Orders, fills, a cancel, GTTs, brackets, the kill switch (tripped and re-armed)."""
    core = rig.core
    t0, t1, t2, t3 = (i.token for i in rig.stocks)
    await core.submit(buy(rig, t0, 10))
    cancel_me = await core.submit(buy(rig, t1, 3, ticks=-60))
    await core.cancel(cancel_me.client_order_ids[0])
    await rig.step(1)
    await core.trigger_kill_switch("test")
    await rig.step(1)
    await core.rearm_kill_switch("REARM")
    assert core.kill_switch.state is KillSwitchState.ARMED
    await core.submit(buy(rig, t1, 8))
    await core.submit(buy(rig, t0, 4, ticks=-80))  # stays open
    await core.submit(buy(rig, t2, 5, product=Product.CNC))
    tick = core.instruments[t2].tick_size
    far = rig.ltp(t2) - 300 * tick
    await core.create_gtt(t2, GttKind.SINGLE, [GttLeg(trigger=far, limit=far, side=Side.BUY,
                                                      qty=1)])
    gone = await core.create_gtt(t2, GttKind.SINGLE, [GttLeg(trigger=far - tick,
                                                             limit=far - tick, side=Side.BUY,
                                                             qty=2)])
    await core.cancel_gtt(gone.id)
    tick3 = core.instruments[t3].tick_size
    quote = core.quote(t3)
    assert quote is not None and quote.asks
    await core.submit_bracket(BracketSpec(
        token=t3, side=Side.BUY, qty=6, tick=tick3, stop=ExitLevel.points(400 * tick3),
        target=ExitLevel.points(400 * tick3), entry_type=OrderType.LIMIT,
        entry_price=quote.asks[0].price + 2 * tick3, product=Product.MIS,
    ))
    await core.submit_bracket(BracketSpec(
        token=t3, side=Side.BUY, qty=2, tick=tick3, stop=ExitLevel.points(400 * tick3),
        target=ExitLevel.points(400 * tick3), entry_type=OrderType.LIMIT,
        entry_price=quote.ltp - 300 * tick3, product=Product.MIS,
    ))
    await rig.step(2)
    if end_killed:
        await core.trigger_kill_switch("end of test")
        await rig.step(1)
    await core.settle()


def state_of(core: TradingCore, *, marks: bool) -> dict[str, Any]:
    """What a restart must rebuild. ``marks`` includes the figures that depend on the last
    quote (a full replay marks at the last fill price; a snapshot keeps the last quote)."""
    positions = []
    for p in core.positions():
        row: dict[str, Any] = {
            "token": p.token, "product": p.product, "net_qty": p.net_qty,
            "open_cost": p.open_cost, "realized": p.realized, "day_realized": p.day_realized,
            "charges": p.charges, "day_buy_qty": p.day_buy_qty, "day_sell_qty": p.day_sell_qty,
            "day_buy_value": p.day_buy_value, "day_sell_value": p.day_sell_value,
        }
        if marks:
            row.update(ltp=p.ltp, unrealized=p.unrealized, margin=p.margin, max_loss=p.max_loss)
        positions.append(row)
    funds = core.funds()
    brackets = core.protection.brackets.to_dict()["brackets"]
    if not marks:  # the latest quotes a bracket saw are not journaled on their own
        brackets = [{k: v for k, v in b.items() if k not in ("last_ltp", "best_ltp")}
                    for b in brackets]
    return {
        "orders": [o.to_dict() for o in core.orders()],
        "open": sorted(o.client_order_id for o in core.open_orders()),
        "trades": core.trades(),
        "positions": sorted(positions, key=lambda r: (r["token"], r["product"])),
        "funds": (funds.cash, funds.realized, funds.charges,
                  *((funds.unrealized, funds.margin_used, funds.equity) if marks else ())),
        "charges": core.charges.to_dict(),
        "gtts": [r.to_dict() for r in core.gtts()],
        "brackets": brackets,
        "kill_switch": core.kill_switch.to_dict(),
    }


def without_snapshots(path: Path, copy: Path) -> Path:
    """A copy of a closed journal with its snapshots deleted: start() must replay it all."""
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            shutil.copy(source, copy.with_name(copy.name + suffix))
    conn = sqlite3.connect(copy)
    conn.execute("DELETE FROM snapshots")
    conn.commit()
    conn.close()
    return copy


async def restart(path: Path, clock_start: int) -> tuple[Rig, int]:
    rig = build(path, clock_start)
    count = await rig.core.start()
    return rig, count


async def close(rig: Rig, *, stop: bool = True) -> None:
    if stop:
        await rig.core.stop()
    rig.journal.close()


@pytest.mark.parametrize("end_killed", [False, True])
async def test_restart_from_snapshot_equals_full_replay(tmp_path: Path, end_killed: bool) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path, ist_ns(DAY, dtime(10, 0)))
    await rig.core.start()
    await rig.step(2)
    await trade(rig, end_killed=end_killed)
    before = state_of(rig.core, marks=True)
    assert before["trades"] and before["gtts"] and before["brackets"]
    if end_killed:  # everything cancelled and flattened, the switch locked
        assert rig.core.kill_switch.state is not KillSwitchState.ARMED
        assert not before["open"]
    else:
        assert before["open"]
        assert any(r["status"] == GttStatus.ACTIVE for r in before["gtts"])
    await close(rig)  # a clean stop writes a snapshot at the end of the journal
    again_at = rig.market.now_ns + NS_PER_SECOND

    fast, replayed = await restart(path, again_at)
    assert fast.core.restored_from is not None and fast.core.restored_from > 0
    assert replayed == 0  # nothing after the stop's snapshot
    assert state_of(fast.core, marks=True) == before
    fast_state = state_of(fast.core, marks=False)
    fast_blocked = fast.core.funds().blocked
    await close(fast, stop=False)

    full, count = await restart(without_snapshots(path, tmp_path / "full.sqlite"), again_at)
    assert full.core.restored_from is None and count > 0
    assert state_of(full.core, marks=False) == fast_state
    assert full.core.funds().blocked == fast_blocked
    await close(full, stop=False)


async def test_crash_after_a_snapshot_replays_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path, ist_ns(DAY, dtime(10, 0)))
    await rig.core.start()
    await rig.step(2)
    t0, t1 = rig.stocks[0].token, rig.stocks[1].token
    await rig.core.submit(buy(rig, t0, 5))
    await rig.step(1)
    snapshot = await rig.core.write_snapshot()
    assert snapshot is not None and snapshot.seq == rig.journal.last_seq
    # More trading after the snapshot, then a crash: no stop(), so no snapshot at the end.
    await rig.core.submit(buy(rig, t1, 7))
    await rig.core.submit(buy(rig, t0, 3, ticks=-70))
    await rig.core.create_gtt(t1, GttKind.SINGLE, [GttLeg(
        trigger=rig.ltp(t1) - 200 * rig.core.instruments[t1].tick_size,
        limit=rig.ltp(t1) - 200 * rig.core.instruments[t1].tick_size, side=Side.BUY, qty=1)])
    await rig.step(1)
    await rig.core.settle()
    tail = rig.journal.last_seq - snapshot.seq
    assert tail > 0
    before = state_of(rig.core, marks=False)
    await close(rig, stop=False)
    again_at = rig.market.now_ns + NS_PER_SECOND

    fast, replayed = await restart(path, again_at)
    assert fast.core.restored_from == snapshot.seq
    assert replayed == tail
    assert state_of(fast.core, marks=False) == before
    fast_state = state_of(fast.core, marks=False)
    await close(fast, stop=False)
    full, _ = await restart(without_snapshots(path, tmp_path / "full.sqlite"), again_at)
    assert state_of(full.core, marks=False) == fast_state
    await close(full, stop=False)


@pytest.mark.parametrize("damage", ["version", "orders", "account"])
async def test_a_snapshot_that_cannot_be_loaded_falls_back_to_a_full_replay(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path, ist_ns(DAY, dtime(10, 0)))
    await rig.core.start()
    await rig.step(2)
    await trade(rig, end_killed=False)
    before = state_of(rig.core, marks=False)
    seq, state = rig.core._capture_state()
    if damage == "version":
        state["version"] = 99
    elif damage == "orders":
        state["oms"]["orders"][0] = {"client_order_id": "X"}  # a field-less order
    else:
        state["account"] = "someone-else"
    await rig.core.stop()  # writes a good snapshot at the end...
    await rig.journal.write_snapshot(rig.journal.last_seq, state)  # ...replaced by a bad one
    await close(rig, stop=False)

    with caplog.at_level(logging.ERROR, logger="engine.core"):
        again, count = await restart(path, rig.market.now_ns + NS_PER_SECOND)
    assert again.core.restored_from is None
    assert count == again.journal.last_seq  # every record replayed
    assert "cannot be restored" in caplog.text
    assert state_of(again.core, marks=False) == before
    await close(again, stop=False)
    assert seq <= rig.journal.last_seq


async def test_periodic_snapshots_are_written_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path, ist_ns(DAY, dtime(10, 0)), snapshot_every=10)
    await rig.core.start()
    await rig.step(2)
    assert rig.journal.latest_snapshot() is None
    for _ in range(4):
        await rig.core.submit(buy(rig, rig.stocks[0].token, 2))
        await rig.step(0.2)
    await rig.core.settle()
    snapshot = rig.journal.latest_snapshot()
    assert snapshot is not None and snapshot.seq >= 10
    assert rig.core.trades()
    # The capture reuses the dicts of unchanged orders; it must equal a fresh one.
    assert rig.core._capture_state()[1]["oms"] == rig.core.oms.to_dict()
    before = state_of(rig.core, marks=False)
    await close(rig, stop=False)  # a crash: start() replays what came after it
    again, count = await restart(path, rig.market.now_ns + NS_PER_SECOND)
    assert again.core.restored_from == snapshot.seq
    assert count == again.journal.last_seq - snapshot.seq
    assert state_of(again.core, marks=False) == before
    await close(again, stop=False)


async def test_day_change_prunes_finished_orders_and_keeps_open_ones(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path, ist_ns(DAY, dtime(10, 0)))
    core = rig.core
    await core.start()
    await rig.step(2)
    t0, t1 = rig.stocks[0].token, rig.stocks[1].token
    filled = await core.submit(buy(rig, t0, 5, product=Product.CNC))
    cancelled = await core.submit(buy(rig, t1, 2, ticks=-60))
    await core.cancel(cancelled.client_order_ids[0])
    resting = await core.submit(buy(rig, t1, 3, ticks=-90))
    await rig.step(1)
    ids = {r.client_order_ids[0] for r in (filled, cancelled, resting)}
    assert ids <= {o.client_order_id for o in core.orders()}
    assert core.trades()
    position = core.portfolio.position(t0, Product.CNC)
    assert position is not None and position.net_qty == 5

    next_day = ist_ns(DAY + timedelta(days=1), dtime(9, 20))
    rig.clock.set(next_day)
    core.on_quotes([])  # the first quotes of the new day roll it over
    await core.settle()
    assert {o.client_order_id for o in core.orders()} == {resting.client_order_ids[0]}
    assert core.trades() == []
    kept = core.portfolio.position(t0, Product.CNC)
    assert kept is not None and kept.net_qty == 5 and kept.open_cost == position.open_cost
    # The day change wrote a (smaller) snapshot; a restart from it or from the whole journal
    # holds the same working set.
    snapshot = rig.journal.latest_snapshot()
    assert snapshot is not None
    assert len(snapshot.state["oms"]["orders"]) == 1 and snapshot.state["fills"] == []
    before = state_of(core, marks=False)
    await close(rig, stop=False)
    again_at = next_day + NS_PER_SECOND
    fast, _ = await restart(path, again_at)
    assert fast.core.restored_from == snapshot.seq
    assert state_of(fast.core, marks=False) == before
    await close(fast, stop=False)
    full, _ = await restart(without_snapshots(path, tmp_path / "full.sqlite"), again_at)
    assert state_of(full.core, marks=False) == before
    await close(full, stop=False)
    # The journal still has the history for export.
    with Journal.open(path) as journal:
        coids = {r.client_order_id for r in journal.query(kind=K_ORDER)}
    assert ids <= coids


def test_oms_prune_keeps_open_recent_kept_and_unreconciled_orders() -> None:
    clock = SimClock(ist_ns(DAY, dtime(10, 0)))
    oms = OMS(clock=clock, salt="ABC")
    early, late = ist_ns(DAY, dtime(10, 0)), ist_ns(DAY + timedelta(days=1), dtime(10, 0))

    def order(coid: str, ts: int, end: str) -> None:
        cid = ClientOrderId(coid)
        oms.apply(OrderInitialized(client_order_id=cid, ts=ts, token="1", side=Side.BUY,
                                   order_type=OrderType.LIMIT, product=Product.MIS, qty=2,
                                   price=100))
        oms.apply(OrderSubmitted(client_order_id=cid, ts=ts))
        if end == "submitted":
            return
        oms.apply(OrderAccepted(client_order_id=cid, ts=ts, venue_order_id=VenueOrderId(
            f"V{coid}")))
        if end == "filled":
            oms.apply(OrderFilled(client_order_id=cid, ts=ts, trade_id=TradeId(f"T{coid}"),
                                  qty=2, price=100, venue_order_id=VenueOrderId(f"V{coid}")))
        elif end == "cancelled":
            oms.apply(OrderCancelled(client_order_id=cid, ts=ts, reason="x"))

    order("OLDFILL", early, "filled")
    order("OLDCXL", early, "cancelled")
    order("OLDOPEN", early, "open")
    order("OLDKEEP", early, "filled")
    order("OLDWAIT", early, "submitted")
    order("NEWFILL", late, "filled")
    dropped = oms.prune_terminal(ist_ns(DAY + timedelta(days=1), dtime(0, 0)), {"OLDKEEP"})
    assert dropped == 2
    assert [o.client_order_id for o in oms.all_orders()] == [
        "OLDOPEN", "OLDKEEP", "OLDWAIT", "NEWFILL"]
    assert oms.by_venue_id(VenueOrderId("VOLDFILL")) is None
    assert oms.by_venue_id(VenueOrderId("VNEWFILL")) is not None
    assert oms.get(ClientOrderId("OLDOPEN")) is not None
    assert oms.get(ClientOrderId("OLDOPEN")).status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_oms_load_dict_restores_in_place_and_keeps_listeners() -> None:
    clock = SimClock(ist_ns(DAY, dtime(10, 0)))
    source = OMS(clock=clock, salt="ABC")
    cid = source.new_client_order_id()
    source.apply(OrderInitialized(client_order_id=cid, ts=clock.now_ns(), token="1",
                                  side=Side.SELL, order_type=OrderType.LIMIT,
                                  product=Product.MIS, qty=1, price=5))
    heard: list[str] = []
    target = OMS(clock=clock, salt="XYZ", on_change=lambda o, _e: heard.append(o.client_order_id))
    target.load_dict(source.to_dict())
    assert [o.to_dict() for o in target.all_orders()] == [o.to_dict() for o in source.all_orders()]
    fresh = target.new_client_order_id()
    assert fresh != cid and fresh.endswith("XYZ")
    target.apply(OrderSubmitted(client_order_id=cid, ts=clock.now_ns()))
    assert heard == [cid]
    with pytest.raises((ValueError, KeyError)):
        target.load_dict({"version": 2})
    assert len(target) == 1
