"""Crash recovery: a paper trading session is SIGKILLed at random points and rebuilt from its
journal.

Each trial forks a child from this (already imported) test process. The child builds its own
simulated market, paper broker, journal and :class:`~engine.core.TradingCore` on its own asyncio
loop and trades a seeded script: marketable and resting orders, market steps so resting orders
fill passively, GTTs that fire, cancels and exits. After every acknowledgement it tells the
parent over a pipe:

* ``order <coid>`` once ``submit`` returned accepted (the order is durable: journaled before the
  broker saw it), ``rejected <coid>`` once it returned refused (journaled as rejected);
* ``fill <trade_id> <qty> <price>`` when the core announces a fill (announcements are durable);
* ``gtt <rule_id>`` once ``create_gtt`` returned.

The parent SIGKILLs the child at a random point, then rebuilds a core from the same journal (a
fresh market and paper broker; ``start()`` replays), lets it run a little, and checks that every
acknowledged order, fill and GTT is there, that no fill is duplicated, that positions, realized
P&L and charges equal those recomputed from the journal's fills alone (exact integers), and that
the journal's hash chain verifies.

The journal runs with ``synchronous="NORMAL"``: an acknowledged event survives the death of the
process (what SIGKILL simulates); ``FULL`` would add the fsync that a power cut needs.
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import signal
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from datetime import time as dtime
from pathlib import Path

import pytest

from brokers.paper import PaperBroker
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, ist_date, ist_ns
from engine.core import CoreEvent, TradingCore
from engine.gtt import GttError, GttKind, GttLeg
from engine.intent import OrderIntent
from engine.journal import Journal
from engine.models import Fill, Instrument, InstrumentType, OrderType, Product, Quote, Side
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

DAY = date(2026, 11, 20)
CASH = 50_00_000_00  # Rs 50 lakh in paise
TRIALS = 60
MAX_ACTIONS = 400  # the child stops (and waits to be killed) after this many actions
CHILD_TIMEOUT_S = 20.0


@dataclass
class Rig:
    """One paper account over one simulated market."""

    market: SimulatedMarket
    journal: Journal
    core: TradingCore
    stocks: list[Instrument]

    async def step(self, seconds: float, *, settle: bool = True) -> None:
        """Advance the market in 20 ms steps, feeding its quotes to the core."""
        for _ in range(max(1, int(seconds * 50))):
            events = self.market.step(20 * NS_PER_MS)
            self.core.on_quotes(e for e in events if isinstance(e, Quote))
            if settle:
                await self.core.settle()
            else:
                await asyncio.sleep(0)


def build(path: Path, *, seed: int, clock_start: int) -> Rig:
    """A core over a fresh simulated market and paper broker, journaling to ``path``."""
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:3]
    prices = {i.token: universe.start_prices[i.token] for i in stocks}
    clock = SimClock(clock_start)
    market = SimulatedMarket(
        stocks,
        prices,
        seed=seed,
        config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN, events_per_s=60),
        clock=clock,
    )
    journal = Journal.open(path, synchronous="NORMAL")
    core = TradingCore(
        broker=PaperBroker(market),
        journal=journal,
        instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(RiskConfig(), clock),
        portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE),
        clock=clock,
        account="paper",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    return Rig(market, journal, core, stocks)


# ---------------------------------------------------------------------------------- the child


class _Reporter:
    """Writes one acknowledgement per line to the pipe (each write is atomic: < PIPE_BUF)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def on_event(self, event: CoreEvent) -> None:
        if event.kind == "fill" and event.fill is not None:
            fill = event.fill
            self.send(f"fill {fill.trade_id} {fill.qty} {fill.price}")


async def _session(path: Path, seed: int, report: _Reporter) -> None:
    """The scripted trading session the parent kills."""
    rng = random.Random(seed)
    rig = build(path, seed=seed, clock_start=ist_ns(DAY, dtime(10, 0)))
    core = rig.core
    core.subscribe(report.on_event)
    await core.start()
    await rig.step(0.4)
    report.send("ready")
    for _ in range(MAX_ACTIONS):
        stock = rng.choice(rig.stocks)
        token, tick = stock.token, stock.tick_size
        quote = core.quote(token)
        roll = rng.random()
        if quote is None or not quote.ltp or not quote.bids or not quote.asks:
            pass
        elif roll < 0.30:  # marketable: fills at once
            side = rng.choice((Side.BUY, Side.SELL))
            price = quote.asks[0].price + 4 * tick if side is Side.BUY else (
                quote.bids[0].price - 4 * tick
            )
            await _submit(core, report, OrderIntent(
                token=token, side=side, qty=rng.randint(1, 25), order_type=OrderType.LIMIT,
                price=price, product=Product.MIS,
            ))
        elif roll < 0.58:  # resting: fills passively as the market moves (or not)
            side = rng.choice((Side.BUY, Side.SELL))
            away = rng.randint(0, 6) * tick
            price = quote.bids[0].price - away if side is Side.BUY else quote.asks[0].price + away
            await _submit(core, report, OrderIntent(
                token=token, side=side, qty=rng.randint(1, 25), order_type=OrderType.LIMIT,
                price=price, product=Product.MIS,
            ))
        elif roll < 0.72:  # cancel a working order
            working = [o for o in core.open_orders() if o.pending_action is None]
            if working:
                await core.cancel(rng.choice(working).client_order_id)
        elif roll < 0.90:  # a GTT a few ticks away: it fires soon, placing a marketable LIMIT
            side = rng.choice((Side.BUY, Side.SELL))
            above = rng.random() < 0.5
            trigger = quote.ltp + rng.randint(1, 4) * tick * (1 if above else -1)
            limit = trigger + 10 * tick if side is Side.BUY else trigger - 10 * tick
            try:
                rule = await core.create_gtt(token, GttKind.SINGLE, [GttLeg(
                    trigger=trigger, limit=limit, side=side, qty=rng.randint(1, 10),
                    product=Product.MIS,
                )])
            except GttError:
                pass
            else:
                report.send(f"gtt {rule.id}")
        else:  # flatten one position
            open_positions = [p for p in core.positions() if p.net_qty]
            if open_positions:
                position = rng.choice(open_positions)
                result = await core.exit_position(position.token, position.product)
                if result is not None:
                    _report_result(report, result.accepted, result.client_order_ids)
        await rig.step(rng.choice((0.04, 0.08, 0.14)), settle=rng.random() < 0.5)
    await core.settle()
    report.send("done")
    time.sleep(CHILD_TIMEOUT_S)


async def _submit(core: TradingCore, report: _Reporter, intent: OrderIntent) -> None:
    result = await core.submit(intent)
    _report_result(report, result.accepted, result.client_order_ids)


def _report_result(report: _Reporter, accepted: bool, ids: tuple[str, ...]) -> None:
    for coid in ids:
        report.send(f"{'order' if accepted else 'rejected'} {coid}")


def _child_main(path: Path, seed: int, fd: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    report = _Reporter(fd)
    try:
        asyncio.run(_session(path, seed, report))
    except BaseException:
        text = traceback.format_exc().replace("\n", " | ")
        try:
            report.send("error " + text[-3000:])
        finally:
            code = 1
    os._exit(code)


# ---------------------------------------------------------------------------------- the parent


@dataclass
class Acknowledged:
    """What the child reported before it died."""

    orders: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    fills: dict[str, tuple[int, int]] = field(default_factory=dict)
    gtts: set[str] = field(default_factory=set)
    lines: int = 0
    error: str = ""

    def take(self, line: str) -> None:
        what, _, rest = line.partition(" ")
        self.lines += 1
        if what == "order":
            self.orders.add(rest)
        elif what == "rejected":
            self.rejected.add(rest)
        elif what == "fill":
            trade_id, qty, price = rest.split()
            assert trade_id not in self.fills, f"fill {trade_id} announced twice"
            self.fills[trade_id] = (int(qty), int(price))
        elif what == "gtt":
            self.gtts.add(rest)
        elif what == "error":
            self.error = rest


def run_and_kill(path: Path, seed: int) -> Acknowledged:
    """Fork the session, SIGKILL it at a seeded random point, return what it acknowledged.

    Kill points: right after (or a few ms after) the k-th acknowledgement of a given kind, the
    moment that kind's durability matters most; a random time into the session; a random time
    into the child's start-up.
    """
    rng = random.Random(f"kill:{seed}")
    mode = rng.random()
    kill_kind = rng.choice(("fill", "order", "gtt", "")) if mode < 0.6 else None
    kill_after_lines = rng.randint(1, 40)
    during_start = mode >= 0.9
    kill_after_s = rng.uniform(0.0, 0.06) if during_start else rng.uniform(0.0, 0.35)
    jitter_s = rng.choice((0.0, 0.0, rng.uniform(0.0, 0.004)))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_fd)
        _child_main(path, seed, write_fd)
    os.close(write_fd)
    ack = Acknowledged()
    buffer = b""
    started = time.monotonic()
    ready_at: float | None = None
    finished = killed = False

    def kill() -> None:
        nonlocal killed
        if not killed:
            os.kill(pid, signal.SIGKILL)
            killed = True

    def consume(chunk: bytes) -> None:
        nonlocal buffer, ready_at, finished
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode()
            if text == "ready":
                ready_at = time.monotonic()
            elif text == "done":
                finished = True
            else:
                ack.take(text)
                if (kill_kind is not None and ack.lines >= kill_after_lines
                        and text.startswith(kill_kind)):
                    if jitter_s:
                        time.sleep(jitter_s)
                    kill()

    try:
        while not killed:
            if time.monotonic() - started > CHILD_TIMEOUT_S:
                raise AssertionError(f"trial {seed}: the child session did not finish in time")
            readable, _, _ = select.select([read_fd], [], [], 0.002)
            if readable:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break  # the child exited by itself (an error)
                consume(chunk)
            since = started if during_start else ready_at
            by_time = (kill_kind is None and since is not None
                       and time.monotonic() - since >= kill_after_s)
            if by_time or finished or ack.error:
                kill()
        # Everything the child wrote before it died is still in the pipe: read it to EOF.
        while chunk := os.read(read_fd, 65536):
            consume(chunk)
    finally:
        os.close(read_fd)
        kill()
        os.waitpid(pid, 0)
    assert not ack.error, f"trial {seed}: the child session failed: {ack.error}"
    return ack


@dataclass
class _Pos:
    net_qty: int = 0
    open_cost: int = 0
    realized: int = 0
    charges: int = 0


def _half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) rounded half to even, in integers."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def recompute_positions(fills: list[dict[str, object]]) -> dict[tuple[str, str], _Pos]:
    """Average-cost positions from fills alone: net qty, open cost, realized P&L, charges."""
    out: dict[tuple[str, str], _Pos] = {}
    for fill in fills:
        key = (str(fill["token"]), str(fill["product"]))
        pos = out.setdefault(key, _Pos())
        qty, price = int(str(fill["qty"])), int(str(fill["price"]))
        sign = 1 if fill["side"] == Side.BUY.value else -1
        pos.charges += int(str(fill["charges"]))
        if pos.net_qty == 0 or (pos.net_qty > 0) == (sign > 0):
            pos.open_cost += sign * price * qty
            pos.net_qty += sign * qty
            continue
        closing = min(qty, abs(pos.net_qty))
        released = _half_even(pos.open_cost * closing, abs(pos.net_qty))
        pos.realized += -sign * price * closing - released
        pos.open_cost -= released
        pos.net_qty += sign * qty
        pos.open_cost += sign * price * (qty - closing)
    return out


async def recover_and_check(path: Path, seed: int, ack: Acknowledged) -> None:
    """Rebuild from the journal, run a little, and check everything the child acknowledged."""
    rig = build(path, seed=seed + 1000, clock_start=ist_ns(DAY, dtime(11, 0)))
    core = rig.core
    try:
        await core.start()
        await core.settle()
        await rig.step(0.3)  # resumed orders may fill in the fresh market: new, unique trades
        await core.settle()
        await rig.journal.flush()

        orders = {o.client_order_id: o for o in core.orders()}
        assert len(orders) == len(core.orders()), "an order appears twice"
        missing = ack.orders - orders.keys()
        assert not missing, f"acknowledged orders lost: {sorted(missing)}"
        for coid in ack.rejected:
            assert coid in orders, f"acknowledged rejection {coid} lost"

        trades = core.trades()
        trade_ids = [t.trade_id for t in trades]
        assert len(trade_ids) == len(set(trade_ids)), "a fill is duplicated in the core"
        by_id: dict[str, Fill] = {t.trade_id: t for t in trades}
        for trade_id, (qty, price) in ack.fills.items():
            assert trade_id in by_id, f"acknowledged fill {trade_id} lost"
            assert (by_id[trade_id].qty, by_id[trade_id].price) == (qty, price)

        gtt_ids = {r.id for r in core.gtts()}
        assert ack.gtts <= gtt_ids, f"acknowledged GTTs lost: {sorted(ack.gtts - gtt_ids)}"

        # The journal's fills, read back independently of the core.
        journal_fills: list[dict[str, object]] = []
        for record in rig.journal.query(kind="fill"):
            event = record.payload["event"]
            journal_fills.append({
                "trade_id": event["trade_id"], "client_order_id": event["client_order_id"],
                "qty": event["qty"], "price": event["price"], "ts": event["ts"],
                "token": record.payload["token"], "side": record.payload["side"],
                "product": record.payload["product"], "charges": record.payload["charges"],
            })
        journal_ids = Counter(str(f["trade_id"]) for f in journal_fills)
        assert all(n == 1 for n in journal_ids.values()), "a fill is journaled twice"
        assert set(journal_ids) == set(by_id), "the core's fills differ from the journal's"

        # Filled quantity per order is the sum of its fills.
        filled: Counter[str] = Counter()
        for fill in journal_fills:
            filled[str(fill["client_order_id"])] += int(str(fill["qty"]))
        for coid, order in orders.items():
            assert order.filled_qty == filled.get(coid, 0), (
                f"order {coid} filled {order.filled_qty} but its fills sum to {filled.get(coid)}"
            )

        # Charges per fill equal a fresh charges model's, priced in journal order.
        charges = ChargesModel(ANGEL_ONE)
        instruments = core.instruments
        for fill in journal_fills:
            priced = charges.for_fill(
                instruments[str(fill["token"])],
                Side(str(fill["side"])),
                Product(str(fill["product"])),
                int(str(fill["qty"])), int(str(fill["price"])), ist_date(int(str(fill["ts"]))),
                order_id=str(fill["client_order_id"]),
            )
            assert priced.total == fill["charges"], f"charges of {fill['trade_id']} differ"

        # Positions, realized P&L and charges from the fills alone.
        expected = recompute_positions(journal_fills)
        actual = {(p.token, p.product.value): p for p in core.positions()}
        assert set(actual) == set(expected)
        for key, want in expected.items():
            got = actual[key]
            assert (got.net_qty, got.open_cost, got.realized, got.charges) == (
                want.net_qty, want.open_cost, want.realized, want.charges
            ), f"position {key} differs from its fills"
        funds = core.funds()
        assert funds.realized == sum(p.realized for p in expected.values())
        assert funds.charges == sum(p.charges for p in expected.values())

        assert rig.journal.verify_chain() is None
    finally:
        await core.stop()
        rig.journal.close()


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_a_random_point_loses_and_duplicates_nothing(tmp_path: Path, trial: int) -> None:
    path = tmp_path / "paper.sqlite"
    ack = run_and_kill(path, trial)
    if not path.exists():
        assert not (ack.orders or ack.fills or ack.gtts)
        return
    asyncio.run(recover_and_check(path, trial, ack))


def test_the_trials_cover_orders_fills_and_gtts(tmp_path: Path) -> None:
    """A session left to run long enough acknowledges every kind of thing the trials check."""
    path = tmp_path / "paper.sqlite"
    seed = 7
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        os.close(read_fd)
        _child_main(path, seed, write_fd)
    os.close(write_fd)
    ack = Acknowledged()
    buffer = b""
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([read_fd], [], [], 0.05)
            if readable:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, rest = buffer.split(b"\n")
                buffer = rest
                for line in lines:
                    if line not in (b"ready", b"done"):
                        ack.take(line.decode())
            if len(ack.fills) >= 10 and len(ack.gtts) >= 3 and len(ack.orders) >= 10:
                break
    finally:
        os.close(read_fd)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert not ack.error, ack.error
    assert len(ack.orders) >= 10 and len(ack.fills) >= 10 and len(ack.gtts) >= 3
    asyncio.run(recover_and_check(path, seed, ack))
    with Journal.open(path) as journal:
        statuses = {r.payload["rule"]["status"] for r in journal.query(kind="gtt")}
    assert "TRIGGERED" in statuses, "no GTT fired in the session"
