"""``cockpit export``: CSV from journals written by a real core over the simulated market and the
paper broker, read while the core still holds the journal."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from datetime import time as dtime
from fractions import Fraction
from pathlib import Path

import pytest

from brokers.paper import PaperBroker
from cockpit.cli import main
from cockpit.export import (
    AUDIT_COLUMNS,
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    ExportError,
    ExportOptions,
    export_journal,
    format_ist,
    parse_since,
)
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, ist_ns
from engine.core import TradingCore
from engine.intent import OrderIntent
from engine.journal import GENESIS_HASH, Journal, JournalLockedError
from engine.journal_records import event_hash
from engine.models import Fill, Instrument, InstrumentType, Product, Quote, Side
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

DAY = date(2026, 11, 20)
CASH = 10_00_000_00
ID_OFFSET = 1000


@dataclass
class Rig:
    """One paper account over one simulated market, every clock simulated."""

    market: SimulatedMarket
    broker: PaperBroker
    journal: Journal
    core: TradingCore
    clock: SimClock
    stocks: list[Instrument]

    async def step(self, seconds: float) -> None:
        """Advance the market in 20 ms steps, feeding its quotes to the core."""
        for _ in range(max(1, round(seconds * 50))):
            events = self.market.step(20 * NS_PER_MS)
            self.core.on_quotes(e for e in events if isinstance(e, Quote))
            await self.core.settle()


def build(path: Path, *, seed: int = 5) -> Rig:
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:3]
    prices = {i.token: universe.start_prices[i.token] for i in stocks}
    clock = SimClock(ist_ns(DAY, dtime(10, 0)))
    market = SimulatedMarket(
        stocks, prices, seed=seed,
        config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN, events_per_s=40), clock=clock,
    )
    broker = PaperBroker(market, id_offset=ID_OFFSET)
    journal = Journal.open(path, synchronous="NORMAL", clock=clock)
    core = TradingCore(
        broker=broker, journal=journal, instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(RiskConfig(), clock), portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE), clock=clock, account="paper",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    return Rig(market, broker, journal, core, clock, stocks)


@pytest.fixture()
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = build(tmp_path / "journal-paper.sqlite")
    await r.core.start()
    await r.step(1)
    yield r
    await r.core.stop()
    r.journal.close()


def rupees(units: int) -> str:
    """Hand-formatted paise -> rupees, independent of engine.money."""
    sign = "-" if units < 0 else ""
    return f"{sign}{abs(units) // 100}.{abs(units) % 100:02d}"


def export_text(kind: str, path: Path, options: ExportOptions | None = None) -> str:
    out = io.StringIO()
    export_journal(kind, path, out, options)
    return out.getvalue()


async def test_small_session_exports_exactly(rig: Rig) -> None:
    stock = rig.stocks[0]
    token, tick = stock.token, stock.tick_size
    quote = rig.core.quote(token)
    assert quote is not None and quote.asks and quote.bids
    ask = quote.asks[0].price
    t0 = rig.clock.now_ns()
    assert format_ist(t0) == "2026-11-20T10:00:01.000000+05:30"

    # 1. A marketable buy of one share at the best ask: one fill at that price.
    bought = await rig.core.submit(OrderIntent(
        token=token, side=Side.BUY, qty=1, price=ask, product=Product.MIS, client_order_id="BUY1",
    ))
    assert bought.accepted, bought.message
    # 2. A resting buy far below the market, then cancelled.
    rest_price = quote.bids[0].price - 20 * tick
    resting = await rig.core.submit(OrderIntent(
        token=token, side=Side.BUY, qty=2, price=rest_price, product=Product.MIS,
        client_order_id="REST1",
    ))
    assert resting.accepted, resting.message
    await rig.core.cancel("REST1")
    # 3. A fat-finger price: refused by risk, journaled as rejected.
    fat_price = ask * 110 // 100 // tick * tick  # 10 % above: outside the 5 % band
    refused = await rig.core.submit(OrderIntent(
        token=token, side=Side.SELL, qty=3, price=fat_price, product=Product.CNC,
        client_order_id="FAT1",
    ))
    assert not refused.accepted and refused.rejection is not None
    await rig.core.settle()

    # The core still holds the journal: a second owner is refused, the export still reads.
    with pytest.raises(JournalLockedError):
        Journal.open(rig.journal.path)
    options = ExportOptions(instruments=rig.core.instruments)
    charges = ChargesModel(ANGEL_ONE).for_fill(
        stock, Side.BUY, Product.MIS, 1, ask, DAY, order_id="BUY1"
    ).total
    stamp = "2026-11-20T10:00:01.000000+05:30"
    sym = stock.symbol
    fat_order = rig.core.order("FAT1")
    assert fat_order is not None
    assert export_text("orders", rig.journal.path, options) == (
        ",".join(ORDER_COLUMNS) + "\n"
        f"BUY1,P0000000000000001001,{stamp},{stamp},paper,{token},{sym},BUY,LIMIT,MIS,DAY,1,"
        f"{rupees(ask)},,FILLED,1,{rupees(ask)},{rupees(ask)},manual,BUY1,\n"
        f"REST1,P0000000000000001002,{stamp},{stamp},paper,{token},{sym},BUY,LIMIT,MIS,DAY,2,"
        f"{rupees(rest_price)},,CANCELLED,0,,0.00,manual,REST1,cancelled on request\n"
        f"FAT1,,{stamp},{stamp},paper,{token},{sym},SELL,LIMIT,CNC,DAY,3,{rupees(fat_price)},,"
        f"REJECTED,0,,0.00,manual,FAT1,{_csv_cell(fat_order.reason)}\n"
    )
    assert fat_order.reason.startswith("risk: price_band: ")
    assert export_text("trades", rig.journal.path, options) == (
        ",".join(TRADE_COLUMNS) + "\n"
        f"PT0000000000000001001,{stamp},paper,BUY1,P0000000000000001001,{token},{sym},BUY,MIS,1,"
        f"{rupees(ask)},{rupees(ask)},{rupees(charges)},manual\n"
    )
    # Without instruments the symbol is blank and prices are read as paise.
    plain = export_text("trades", rig.journal.path).splitlines()[1].split(",")
    assert plain[6] == "" and plain[10] == rupees(ask)

    audit = list(csv.reader(io.StringIO(export_text("audit", rig.journal.path))))
    assert tuple(audit[0]) == AUDIT_COLUMNS
    stored = list(rig.journal.replay())
    assert [int(row[0]) for row in audit[1:]] == [r.seq for r in stored]
    prev = GENESIS_HASH
    for row, record in zip(audit[1:], stored, strict=True):
        seq, ts_ist, ts_ns, kind, account, coid, payload, prev_hash, digest = row
        assert ts_ist == format_ist(int(ts_ns)) and int(ts_ns) == record.ts
        assert (kind, account, coid or None) == (record.kind, record.account,
                                                 record.client_order_id)
        assert json.loads(payload) == record.payload
        # The chain verifies from the CSV alone.
        assert prev_hash == prev
        assert digest == event_hash(prev_hash, int(seq), int(ts_ns), kind, account, coid or None,
                                    payload)
        prev = digest
    kinds = [row[3] for row in audit[1:]]
    assert kinds.count("fill") == 1 and "order" in kinds


def _csv_cell(text: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([text])
    return out.getvalue()


async def test_export_agrees_with_the_core_after_a_busy_session(rig: Rig) -> None:
    rng = random.Random(11)
    for _ in range(60):
        stock = rng.choice(rig.stocks)
        quote = rig.core.quote(stock.token)
        assert quote is not None and quote.asks and quote.bids
        side = rng.choice((Side.BUY, Side.SELL))
        away = rng.randint(-3, 3) * stock.tick_size
        price = (quote.bids[0].price - away) if side is Side.BUY else (quote.asks[0].price + away)
        await rig.core.submit(OrderIntent(token=stock.token, side=side, qty=rng.randint(1, 40),
                                          price=price, product=Product.MIS, confirmed=True))
        if rng.random() < 0.2 and rig.core.open_orders():
            await rig.core.cancel(rng.choice(rig.core.open_orders()).client_order_id)
        await rig.step(0.2)
    await rig.core.settle()
    path = rig.journal.path
    orders = list(csv.DictReader(io.StringIO(export_text("orders", path))))
    trades = list(csv.DictReader(io.StringIO(export_text("trades", path))))
    assert len(orders) == len(rig.core.orders()) and len(trades) == len(rig.core.trades()) > 5
    by_order: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in trades:
        by_order[row["client_order_id"]].append(row)
    core_trades: dict[str, Fill] = {t.trade_id: t for t in rig.core.trades()}
    for row in trades:
        fill = core_trades[row["trade_id"]]
        assert (int(row["qty"]), row["price"], row["charges"]) == (
            fill.qty, rupees(fill.price), rupees(fill.charges)
        )
    for row in orders:
        order = rig.core.order(row["client_order_id"])
        assert order is not None
        assert row["status"] == order.status.value
        fills = by_order[row["client_order_id"]]
        qty = sum(int(f["qty"]) for f in fills)
        assert int(row["filled_qty"]) == order.filled_qty == qty
        if qty:
            value = sum(int(f["qty"]) * _units(f["price"]) for f in fills)
            assert _units(row["filled_value"]) == value
            avg = Fraction(value, qty)
            assert abs(_units(row["avg_price"]) - avg) <= Fraction(1, 2)
        else:
            assert row["avg_price"] == ""


def _units(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac.ljust(2, "0"))


async def test_since_filters_by_ist_date(rig: Rig) -> None:
    stock = rig.stocks[1]
    quote = rig.core.quote(stock.token)
    assert quote is not None and quote.asks
    await rig.core.submit(OrderIntent(token=stock.token, side=Side.BUY, qty=1,
                                      price=quote.asks[0].price, product=Product.MIS))
    await rig.core.settle()
    path = rig.journal.path
    for kind in ("orders", "trades", "audit"):
        same_day = export_text(kind, path, ExportOptions(since=DAY)).splitlines()
        next_day = export_text(kind, path, ExportOptions(since=date(2026, 11, 21))).splitlines()
        assert len(same_day) >= 2 and len(next_day) == 1


def test_parse_since_and_format_ist() -> None:
    assert parse_since(" 2026-04-01 ") == date(2026, 4, 1)
    with pytest.raises(ExportError, match="YYYY-MM-DD"):
        parse_since("01/04/2026")
    assert format_ist(0) == "1970-01-01T05:30:00.000000+05:30"
    assert format_ist(ist_ns(DAY, dtime(9, 15)) + 123_456_789) == (
        "2026-11-20T09:15:00.123456+05:30"
    )


def test_unknown_kind_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no journal at"):
        export_journal("orders", tmp_path / "none.sqlite", io.StringIO())
    other = tmp_path / "other.sqlite"
    import sqlite3

    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ExportError, match="not a Cockpit journal"):
        export_journal("audit", other, io.StringIO())
    with pytest.raises(ExportError, match="choose one of orders, trades, audit"):
        export_journal("positions", other, io.StringIO())


async def test_cli_export_to_file_and_stdout(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path / "home"))
    stock = rig.stocks[0]
    quote = rig.core.quote(stock.token)
    assert quote is not None and quote.asks
    await rig.core.submit(OrderIntent(token=stock.token, side=Side.BUY, qty=2,
                                      price=quote.asks[0].price, product=Product.MIS))
    await rig.core.settle()
    path = rig.journal.path
    out = tmp_path / "trades.csv"
    assert main(["export", "trades", "--format", "csv", "--journal", str(path),
                 "--output", str(out)]) == 0
    assert "trades rows to" in capsys.readouterr().err
    expected = export_text("trades", path, ExportOptions(instruments={
        i.token: i for i in build_paper_universe(DAY).instruments
    }))
    assert out.read_text() == expected
    assert main(["export", "orders", "--journal", str(path), "--since", "2026-11-20"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == ",".join(ORDER_COLUMNS)
    assert len(printed.splitlines()) == 1 + len(rig.core.orders())


def test_cli_export_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path))
    assert main(["export", "orders"]) == 2
    err = capsys.readouterr().err
    assert "no journal at" in err and "journal-paper.sqlite" in err
    assert main(["export", "audit", "--since", "yesterday"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "orders", "--format", "xlsx"])
    assert "invalid choice: 'xlsx'" in capsys.readouterr().err
