"""``cockpit --paper --reset``: archive the paper journal after a typed confirmation, refuse while
another cockpit holds it. Real journals written by a real core; a real second process holds the
lock where the test needs one."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import date
from datetime import time as dtime
from pathlib import Path

import pytest

from brokers.paper import PaperBroker
from cockpit.cli import main
from cockpit.export import ExportOptions, export_journal
from cockpit.paths import resolve_paths
from cockpit.reset import (
    CONFIRM_WORD,
    ResetError,
    confirm_reset,
    journal_holder,
    reset_paper_journal,
    run_reset,
)
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, ist_ns
from engine.core import TradingCore
from engine.intent import OrderIntent
from engine.journal import Journal
from engine.models import InstrumentType, Product, Quote, Side
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

DAY = date(2026, 11, 20)
CASH = 5_00_000_00


def make_core(path: Path) -> tuple[TradingCore, SimulatedMarket]:
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:2]
    clock = SimClock(ist_ns(DAY, dtime(10, 0)))
    market = SimulatedMarket(
        stocks, {i.token: universe.start_prices[i.token] for i in stocks}, seed=9,
        config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN, events_per_s=40), clock=clock,
    )
    core = TradingCore(
        broker=PaperBroker(market), journal=Journal.open(path, synchronous="NORMAL"),
        instruments={i.token: i for i in stocks}, risk=PreTradeRisk(RiskConfig(), clock),
        portfolio=Portfolio(CASH), charges=ChargesModel(ANGEL_ONE), clock=clock,
        account="paper", phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    return core, market


async def trade_a_little(path: Path) -> int:
    """A real paper session that buys one stock; returns the number of orders it made."""
    core, market = make_core(path)
    await core.start()
    for _ in range(50):
        core.on_quotes(e for e in market.step(20 * NS_PER_MS) if isinstance(e, Quote))
    token = next(iter(core.instruments))
    quote = core.quote(token)
    assert quote is not None and quote.asks
    result = await core.submit(OrderIntent(token=token, side=Side.BUY, qty=3,
                                           price=quote.asks[0].price, product=Product.MIS))
    assert result.accepted, result.message
    await core.settle()
    count = len(core.orders())
    await core.stop()
    core.journal.close()
    return count


@pytest.fixture()
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process that holds a journal open (as a running cockpit does)."""
    path = tmp_path / "held" / "journal-paper.sqlite"
    script = textwrap.dedent(f"""
        import sys, time
        from engine.journal import Journal
        journal = Journal.open({str(path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        journal.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield path, proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


async def test_reset_archives_the_journal_and_the_account_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "journal-paper.sqlite"
    made = await trade_a_little(path)
    assert made == 1
    out = io.StringIO()
    outcome = run_reset(path, assume_yes=False, stdin=io.StringIO("RESET\n"), stdout=out)
    assert outcome is not None and outcome.archived is not None
    assert f"Type {CONFIRM_WORD} to continue" in out.getvalue()
    assert not path.exists()
    archived = outcome.archived
    assert archived.parent == path.parent
    assert archived.name.startswith("journal-paper.") and archived.suffix == ".sqlite"
    assert str(archived) in outcome.message
    # The old account is intact in the archive and still exports.
    text = io.StringIO()
    assert export_journal("orders", archived, text, ExportOptions()) == 1
    # A core on the account's path starts with nothing but the starting cash.
    core, _ = make_core(path)
    assert await core.start() == 0
    assert core.orders() == [] and core.trades() == [] and core.positions() == ()
    assert core.funds().available == CASH
    await core.stop()
    core.journal.close()


async def test_anything_but_the_word_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal-paper.sqlite"
    await trade_a_little(path)
    before = path.read_bytes()
    for answer in ("reset\n", "yes\n", "", " RESET now\n"):
        assert run_reset(path, assume_yes=False, stdin=io.StringIO(answer),
                         stdout=io.StringIO()) is None
    assert path.read_bytes() == before
    assert list(tmp_path.glob("journal-paper.*.sqlite")) == []
    # Surrounding whitespace is fine; --yes asks nothing.
    assert confirm_reset(path, io.StringIO("  RESET \n"), io.StringIO())
    asked = io.StringIO()
    outcome = run_reset(path, assume_yes=True, stdin=io.StringIO(""), stdout=asked)
    assert outcome is not None and outcome.archived is not None and asked.getvalue() == ""


def test_no_journal_means_already_fresh(tmp_path: Path) -> None:
    path = tmp_path / "journal-paper.sqlite"
    outcome = run_reset(path, assume_yes=False, stdin=io.StringIO(""), stdout=io.StringIO())
    assert outcome is not None and outcome.archived is None
    assert "the account is fresh" in outcome.message
    assert reset_paper_journal(path).archived is None


def test_refuses_while_another_cockpit_holds_the_journal(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = holder
    owner = journal_holder(path)
    assert owner is not None and owner.pid == proc.pid
    before = path.read_bytes()
    with pytest.raises(ResetError, match=f"in use by PID {proc.pid}") as refused:
        run_reset(path, assume_yes=False, stdin=io.StringIO("RESET\n"), stdout=io.StringIO())
    assert "Quit that cockpit first" in str(refused.value)
    with pytest.raises(ResetError, match=f"PID {proc.pid}"):
        reset_paper_journal(path)
    assert path.read_bytes() == before
    other = path.with_name("other.sqlite")
    assert journal_holder(other) is None and not other.exists()


def test_cli_reset_refuses_and_cancels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    held_path, proc = holder
    monkeypatch.setenv("COCKPIT_HOME", str(tmp_path / "home"))
    paths = resolve_paths()
    # --reset without --paper is a usage error.
    assert main(["--reset"]) == 2
    assert "works only with --paper" in capsys.readouterr().err
    # The paper journal held by another process: refused, naming the PID, nothing asked.
    monkeypatch.setenv("COCKPIT_DATA_DIR", str(held_path.parent))
    monkeypatch.setattr(sys, "stdin", io.StringIO("RESET\n"))
    assert resolve_paths().journal_file("paper") == held_path
    assert main(["--paper", "--reset"]) == 1
    captured = capsys.readouterr()
    assert f"in use by PID {proc.pid}" in captured.err and "Type RESET" not in captured.out
    assert held_path.exists()
    # A free journal and a wrong answer: cancelled, unchanged.
    monkeypatch.delenv("COCKPIT_DATA_DIR")
    free = paths.journal_file("paper")
    free.parent.mkdir(parents=True, exist_ok=True)
    with Journal.open(free):
        pass
    monkeypatch.setattr(sys, "stdin", io.StringIO("no\n"))
    assert main(["--paper", "--reset"]) == 1
    captured = capsys.readouterr()
    assert "Type RESET to continue" in captured.out
    assert "reset cancelled" in captured.err
    assert free.exists() and list(free.parent.glob("journal-paper.*.sqlite")) == []
