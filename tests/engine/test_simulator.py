"""The simulated paper market: real books, synthetic flow, sessions, caller orders and the feed."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import defaultdict
from datetime import date
from datetime import time as dtime
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.book_events import (
    Accepted,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    Modified,
    Rejected,
)
from engine.clock import NS_PER_MS, NS_PER_SECOND, SessionPhase, SimClock, ist_ns
from engine.models import (
    Exchange,
    Instrument,
    InstrumentType,
    MarketEvent,
    OrderType,
    Quote,
    Side,
    TradePrint,
    Validity,
)
from engine.sim_agents import band_limits, round_half_even_div
from engine.sim_config import (
    SYNTHETIC_ACCOUNT_BASE,
    SYNTHETIC_ORDER_ID_BASE,
    USER_ACCOUNT,
    SessionMode,
    SimulatorConfig,
)
from engine.simulator import SimulatedMarket
from engine.ticks import tick_for

MONDAY = date(2026, 3, 2)
SECOND = NS_PER_SECOND
MINUTE = 60 * SECOND


def at(hh: int, mm: int, ss: int = 0, day: date = MONDAY) -> int:
    """Timestamp of an IST wall time on the test Monday."""
    return ist_ns(day, dtime(hh, mm, ss))


def equities(n: int, seed: int = 7) -> tuple[list[Instrument], dict[str, int]]:
    """``n`` NSE equities at assorted prices, each with NSE's tick for its price."""
    rng = random.Random(seed)
    instruments: list[Instrument] = []
    prices: dict[str, int] = {}
    for i in range(n):
        price = int(rng.uniform(40, 9000) * 100)
        tick = tick_for(InstrumentType.EQUITY, price)
        price -= price % tick
        token = str(3000 + i)
        instruments.append(
            Instrument(
                token, Exchange.NSE, f"SYM{i}-EQ", f"SYM{i}", InstrumentType.EQUITY, tick_size=tick
            )
        )
        prices[token] = price
    return instruments, prices


NIFTY = Instrument("26000", Exchange.NSE, "Nifty 50", "NIFTY", InstrumentType.INDEX, tick_size=1)
NIFTY_FUT = Instrument(
    "35001",
    Exchange.NFO,
    "NIFTY26MARFUT",
    "NIFTY",
    InstrumentType.FUTIDX,
    lot_size=65,
    tick_size=10,
    freeze_qty=1800,
)
RELIANCE = Instrument(
    "2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY, tick_size=10
)


def market(
    n: int = 5,
    *,
    seed: int = 1,
    start: int | None = None,
    extra: tuple[Instrument, ...] = (),
    extra_prices: dict[str, int] | None = None,
    **cfg: object,
) -> SimulatedMarket:
    """A market of ``n`` equities (plus ``extra``) on a SimClock at ``start`` (default 10:00)."""
    instruments, prices = equities(n)
    prices.update(extra_prices or {})
    config = SimulatorConfig(**cfg)  # type: ignore[arg-type]
    clock = SimClock(at(10, 0) if start is None else start)
    return SimulatedMarket([*instruments, *extra], prices, seed=seed, config=config, clock=clock)


def phase(m: SimulatedMarket) -> SessionPhase:
    """The market's phase (a call, so type checkers do not pin it between steps)."""
    return m.phase


def run(m: SimulatedMarket, seconds: float, step_ms: int = 100) -> list[MarketEvent]:
    """Step the market ``seconds`` of simulated time in ``step_ms`` steps; all events."""
    out: list[MarketEvent] = []
    for _ in range(int(seconds * 1000 / step_ms)):
        out.extend(m.step(step_ms * NS_PER_MS))
    return out


def quotes(events: list[MarketEvent], token: str | None = None) -> list[Quote]:
    """The quotes among ``events`` (of one token)."""
    return [e for e in events if isinstance(e, Quote) and (token is None or e.token == token)]


def prints(events: list[MarketEvent], token: str | None = None) -> list[TradePrint]:
    """The trade prints among ``events`` (of one token)."""
    return [e for e in events if isinstance(e, TradePrint) and (token is None or e.token == token)]


def book_totals(m: SimulatedMarket, token: str) -> tuple[int, int]:
    """Total visible bid and ask quantity over the whole book."""
    bids, asks = m.books[token].depth(10_000)
    return sum(level.qty for level in bids), sum(level.qty for level in asks)


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_same_events_and_different_seed_differs() -> None:
    first = run(market(8, seed=42), 120)
    second = run(market(8, seed=42), 120)
    other = run(market(8, seed=43), 120)
    assert len(prints(first)) > 200
    assert first == second
    assert prints(first) != prints(other)


def test_trades_do_not_depend_on_how_time_is_stepped() -> None:
    fine = run(market(4, seed=9), 60, step_ms=10)
    coarse = run(market(4, seed=9), 60, step_ms=1000)
    assert prints(fine) == prints(coarse)
    # Conflation: the coarse run publishes at most one quote per instrument per step.
    assert len(quotes(coarse)) <= 60 * 4
    assert len(quotes(fine)) > len(quotes(coarse))


# ------------------------------------------------------------------------------------ feed shape


def check_feed(m: SimulatedMarket, events: list[MarketEvent], state: dict[str, Quote]) -> None:
    """Invariants every continuous-session feed must keep; ``state`` carries the last quote."""
    for event in events:
        if isinstance(event, TradePrint):
            book = m.books[event.token]
            lower, upper = book.bands
            assert lower <= event.price <= upper
            assert event.qty > 0 and event.qty % book.instrument.lot_size == 0
            assert event.price % book.instrument.tick_size == 0
            continue
        q = event
        prev = state.get(q.token)
        if prev is not None:
            assert q.seq == prev.seq + 1
            assert q.volume >= prev.volume
            assert q.ts >= prev.ts
        if q.token not in m.books:  # an index
            continue
        assert q.exchange_ts <= q.ts
        assert q.lower_circuit <= q.ltp <= q.upper_circuit
        assert 0 < len(q.bids) <= 5 and 0 < len(q.asks) <= 5
        assert q.best_bid < q.best_ask
        assert all(a.price > b.price for a, b in zip(q.bids, q.bids[1:], strict=False))
        assert all(a.price < b.price for a, b in zip(q.asks, q.asks[1:], strict=False))
        assert all(level.qty > 0 and level.orders > 0 for level in q.bids + q.asks)
        assert q.total_buy_qty >= sum(level.qty for level in q.bids)
        assert q.total_sell_qty >= sum(level.qty for level in q.asks)
        if q.volume:
            assert q.low <= q.ltp <= q.high and q.low <= q.avg_price <= q.high
            assert q.low <= q.open <= q.high
        assert q.close == m.books[q.token].reference_price
        state[q.token] = q


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), user_order=st.booleans())
def test_random_seeds_keep_quote_invariants(seed: int, user_order: bool) -> None:
    m = market(4, seed=seed, events_per_s=20.0)
    state: dict[str, Quote] = {}
    token = next(iter(m.books))
    for i in range(300):
        if user_order and i == 10:
            bid = m.books[token].best_bid
            m.submit(
                token,
                1,
                USER_ACCOUNT,
                Side.BUY,
                5,
                price=bid - 3 * m.books[token].instrument.tick_size,
            )
        events = m.step(100 * NS_PER_MS)
        check_feed(m, events, state)
        # The feed's totals are the whole book's, on both the makers-only and the mixed path.
        for q in quotes(events):
            assert (q.total_buy_qty, q.total_sell_qty) == book_totals(m, q.token)
            assert (q.bids, q.asks) == m.books[q.token].depth(5)
    assert len(state) == 4


def test_first_step_publishes_a_snapshot_of_every_instrument() -> None:
    m = market(3, extra=(NIFTY,), extra_prices={"26000": 2450035})
    first = m.step(0)
    assert {q.token for q in quotes(first)} == {*m.books, "26000"}
    nifty = quotes(first, "26000")[0]
    assert (nifty.ltp, nifty.close, nifty.bids, nifty.volume) == (2450035, 2450035, (), 0)
    assert m.step(0) == []  # nothing changed


def test_trade_prints_sum_to_quote_volume_and_vwap_is_exact() -> None:
    m = market(3, seed=5)
    events = run(m, 90)
    for token in m.books:
        tape = prints(events, token)
        last = quotes(events, token)[-1]
        assert sum(p.qty for p in tape) == last.volume
        turnover = sum(p.price * p.qty for p in tape)
        q, r = divmod(turnover, last.volume)
        assert last.avg_price == (
            q + 1 if 2 * r > last.volume or (2 * r == last.volume and q % 2) else q
        )
        assert last.ltp == tape[-1].price and last.last_qty == tape[-1].qty
        assert (last.open, last.high, last.low) == (
            tape[0].price,
            max(p.price for p in tape),
            min(p.price for p in tape),
        )
        assert len({p.trade_id for p in tape}) == len(tape)
        assert all(a.ts <= b.ts for a, b in itertools.pairwise(tape))


# ------------------------------------------------------------------------------------ realism


@pytest.mark.slow
def test_fifty_instruments_keep_spread_and_depth_for_an_hour() -> None:
    # A calm day (0.6 % idiosyncratic, 0.4 % market volatility) keeps this test's runtime small:
    # maker work grows with how many ticks prices travel. Stress is the circuit-band test's job.
    m = market(50, seed=11, events_per_s=1.0, volatility=0.006, market_volatility=0.004)
    starts = {token: book.reference_price for token, book in m.books.items()}
    full = spread_ok = snapshots = 0
    orders_per_level: list[float] = []
    for _ in range(120):
        m.step(30 * SECOND)
        for token, book in m.books.items():
            tick = book.instrument.tick_size
            bids, asks = book.depth(5)
            snapshots += 1
            assert bids and asks and bids[0].price < asks[0].price
            full += len(bids) == 5 and len(asks) == 5
            spread_ok += asks[0].price - bids[0].price <= 4 * tick
            orders_per_level.append(sum(lv.orders for lv in bids + asks) / len(bids + asks))
            ltp = m.ltp(token)
            assert abs(ltp - starts[token]) < starts[token] * 0.10  # an hour is not a crash
    assert full >= 0.98 * snapshots
    assert spread_ok >= 0.98 * snapshots
    assert sum(orders_per_level) / len(orders_per_level) >= 2.5


def test_prices_respect_circuit_bands_under_extreme_volatility() -> None:
    m = market(3, seed=2, volatility=2.0, jumps_per_day=2000.0, jump_size=0.05, band_pct=5)
    state: dict[str, Quote] = {}
    for _ in range(240):
        check_feed(m, m.step(SECOND), state)
    for token, book in m.books.items():
        lower, upper = book.bands
        assert (lower, upper) == (state[token].lower_circuit, state[token].upper_circuit)
        assert lower <= m.ltp(token) <= upper
        assert upper < book.reference_price * 106 // 100


def test_future_tracks_its_index_and_weighted_index_follows_constituents() -> None:
    instruments, prices = equities(3)
    sensex = Instrument("1", Exchange.BSE, "SENSEX", "SENSEX", InstrumentType.INDEX, tick_size=1)
    weights = {"1": {instruments[0].token: 2.0, instruments[1].token: 1.0}}
    prices.update({"26000": 2450035, "1": 8000000})
    m = SimulatedMarket(
        [*instruments, NIFTY, NIFTY_FUT, sensex],
        prices,
        seed=4,
        config=SimulatorConfig(index_weights=weights),
        clock=SimClock(at(10, 0)),
    )
    assert m.ltp("35001") == 2454940  # index start x (1 + 20 bps), on the 0.10 tick
    for _ in range(30):
        m.step(MINUTE)
        ratio = m.ltp("35001") / m.ltp("26000")
        assert 0.9985 < ratio < 1.0055
    a, b = instruments[0].token, instruments[1].token
    expected = 8000000 * (2 * m.ltp(a) / prices[a] + m.ltp(b) / prices[b]) / 3
    m.step(NS_PER_MS * 500)  # one factor interval: the index republishes
    assert abs(m.ltp("1") - expected) <= 0.002 * expected
    assert m.ltp("26000") != 2450035


# ------------------------------------------------------------------------------------ caller orders


class Recorder:
    """An account listener that keeps what it hears."""

    def __init__(self) -> None:
        self.events: list[tuple[str, BookEvent]] = []

    def __call__(self, token: str, event: BookEvent) -> None:
        self.events.append((token, event))

    def fills(self, order_id: int) -> list[Fill]:
        return [
            e
            for _, e in self.events
            if isinstance(e, Fill) and order_id in (e.maker_id, e.taker_id)
        ]


def test_user_order_rests_and_is_filled_by_synthetic_flow() -> None:
    m = market(3, seed=21)
    token = next(iter(m.books))
    book = m.books[token]
    heard = Recorder()
    m.set_account_listener(USER_ACCOUNT, heard)
    m.step(SECOND)
    bid = book.best_bid
    events = m.submit(token, 7, USER_ACCOUNT, Side.BUY, 300, price=bid)
    assert events == [Accepted(7, m.now_ns)]
    assert heard.events == [(token, events[0])]
    assert book.leaves(7) == 300
    assert book.depth(1)[0][0].price == bid
    tape: list[TradePrint] = []
    for _ in range(1800):
        tape += prints(m.step(SECOND), token)
        if not book.is_live(7):
            break
    fills = heard.fills(7)
    assert fills, "the resting order never traded"
    assert all(f.maker_id == 7 and f.maker_account == USER_ACCOUNT for f in fills)
    assert all(f.taker_id >= SYNTHETIC_ORDER_ID_BASE for f in fills)
    assert all(f.taker_account >= SYNTHETIC_ACCOUNT_BASE for f in fills)
    assert all(f.price <= bid for f in fills)
    assert sum(f.qty for f in fills) == 300 - book.leaves(7)
    assert [f.maker_leaves for f in fills] == sorted((f.maker_leaves for f in fills), reverse=True)
    on_tape = {p.trade_id for p in tape}
    assert {str(f.trade_id) for f in fills} <= on_tape
    assert not book.is_live(7) and fills[-1].maker_leaves == 0


def test_marketable_user_order_trades_now_and_prints_in_next_step() -> None:
    m = market(2, seed=3)
    token = next(iter(m.books))
    heard = Recorder()
    m.set_account_listener(USER_ACCOUNT, heard)
    m.step(2 * SECOND)
    ask = m.books[token].best_ask
    events = m.submit(
        token, 11, USER_ACCOUNT, Side.BUY, 1, order_type=OrderType.MARKET, validity=Validity.IOC
    )
    fills = [e for e in events if isinstance(e, Fill)]
    assert fills and fills[0].price == ask and fills[0].taker_id == 11
    assert [e for _, e in heard.events] == events
    nxt = m.step(0)
    assert [p.trade_id for p in prints(nxt)] == [str(f.trade_id) for f in fills]
    assert quotes(nxt, token)[0].ltp == fills[-1].price
    assert quotes(nxt, token)[0].last_qty == fills[-1].qty


def test_cancel_modify_and_listener_reentrancy() -> None:
    m = market(2, seed=8)
    token = next(iter(m.books))
    book = m.books[token]
    tick = book.instrument.tick_size
    m.step(SECOND)
    low = book.best_bid - 20 * tick
    heard = Recorder()

    def hedge(tok: str, event: BookEvent) -> None:
        heard(tok, event)
        if isinstance(event, Fill) and event.taker_id == 30:  # react to our own fill by resting
            m.submit(tok, 31, USER_ACCOUNT, Side.SELL, 1, price=book.best_ask + 10 * tick)

    m.set_account_listener(USER_ACCOUNT, hedge)
    assert m.submit(token, 20, USER_ACCOUNT, Side.BUY, 10, price=low) == [Accepted(20, m.now_ns)]
    modified = m.modify(token, 20, qty=5)
    assert book.leaves(20) == 5 and modified == [Modified(20, 5, low, 0, m.now_ns)]
    cancelled = m.cancel(token, 20)
    assert cancelled == [Cancelled(20, 5, "cancelled on request", m.now_ns)]
    again = m.cancel(token, 20)
    assert isinstance(again[0], Rejected)
    m.submit(token, 30, USER_ACCOUNT, Side.BUY, 1, order_type=OrderType.MARKET)
    assert book.is_live(31)
    assert [type(e).__name__ for _, e in heard.events][-2:] == ["Fill", "Accepted"]
    heard_before = len(heard.events)
    m.set_account_listener(USER_ACCOUNT, None)  # removed: the cancel is returned, not heard
    assert m.cancel(token, 31) == [Cancelled(31, 1, "cancelled on request", m.now_ns)]
    assert len(heard.events) == heard_before


def test_listener_hears_only_its_own_account() -> None:
    m = market(2, seed=12)
    token = next(iter(m.books))
    mine, theirs = Recorder(), Recorder()
    m.set_account_listener(1, mine)
    m.set_account_listener(2, theirs)
    m.step(SECOND)
    m.submit(token, 1, 1, Side.BUY, 1, price=m.books[token].best_bid)
    m.submit(token, 2, 2, Side.SELL, 1, price=m.books[token].best_ask)
    run(m, 60)
    assert mine.events and theirs.events
    assert all(getattr(e, "order_id", 1) == 1 for _, e in mine.events)
    assert all(getattr(e, "order_id", 2) == 2 for _, e in theirs.events)


def test_a_duplicate_id_is_refused_to_its_submitter_only() -> None:
    m = market(1, seed=4)
    token = next(iter(m.books))
    owner, intruder = Recorder(), Recorder()
    m.set_account_listener(1, owner)
    m.set_account_listener(2, intruder)
    m.step(SECOND)
    low = m.books[token].bands[0]
    m.submit(token, 9, 1, Side.BUY, 1, price=low)
    refused = m.submit(token, 9, 2, Side.BUY, 1, price=low)
    assert isinstance(refused[0], Rejected) and "already live" in refused[0].reason
    assert intruder.events == [(token, refused[0])]
    cancelled = m.cancel(token, 9)
    assert owner.events[-1] == (token, cancelled[0]) and isinstance(cancelled[0], Cancelled)


def test_caller_ids_and_accounts_are_checked() -> None:
    m = market(1, extra=(NIFTY,), extra_prices={"26000": 2450035})
    token = next(iter(m.books))
    with pytest.raises(ValueError, match="callers' range"):
        m.submit(token, SYNTHETIC_ORDER_ID_BASE, 1, Side.BUY, 1, price=100)
    with pytest.raises(ValueError, match="callers' range"):
        m.submit(token, 0, 1, Side.BUY, 1, price=100)
    with pytest.raises(ValueError, match="accounts from 1000"):
        m.submit(token, 1, SYNTHETIC_ACCOUNT_BASE, Side.BUY, 1, price=100)
    with pytest.raises(ValueError, match="index"):
        m.submit("26000", 1, 1, Side.BUY, 1, price=100)
    with pytest.raises(ValueError, match="unknown token"):
        m.cancel("nope", 1)
    with pytest.raises(ValueError, match="callers' range"):
        m.set_account_listener(1000, Recorder())


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="start_prices has no entry for '3000'"):
        SimulatedMarket(equities(1)[0], {}, seed=1, config=SimulatorConfig())
    with pytest.raises(ValueError, match="maker_share"):
        SimulatorConfig(maker_share=0.8, noise_share=0.3)
    with pytest.raises(ValueError, match="speed"):
        SimulatorConfig(speed=0)
    with pytest.raises(ValueError, match="circuit band"):
        SimulatorConfig(band_pct=0)
    with pytest.raises(ValueError, match="multiple of its tick"):
        SimulatedMarket([RELIANCE], {"2885": 141025}, seed=1, config=SimulatorConfig())
    with pytest.raises(ValueError, match="not instruments"):
        SimulatedMarket(
            [RELIANCE],
            {"2885": 141020},
            seed=1,
            config=SimulatorConfig(index_weights={"26000": {"2885": 1.0}}),
        )


# ------------------------------------------------------------------------------------ sessions


def test_always_open_is_a_simulated_session_at_any_hour() -> None:
    m = market(2, start=at(23, 30, day=date(2026, 3, 7)))  # a Saturday night
    assert m.label == "SIMULATED SESSION"
    assert phase(m) is SessionPhase.CONTINUOUS
    assert prints(run(m, 30))


def test_real_mode_pre_open_auction_uncrosses_once_at_0908() -> None:
    m = market(
        3,
        seed=6,
        start=at(8, 59),
        mode=SessionMode.REAL,
        extra=(RELIANCE,),
        extra_prices={"2885": 141020},
    )
    assert m.label == "NSE SESSION" and m.phase is SessionPhase.CLOSED
    heard = Recorder()
    m.set_account_listener(USER_ACCOUNT, heard)
    rejected = m.submit("2885", 1, USER_ACCOUNT, Side.BUY, 10, price=141000)
    assert isinstance(rejected[0], Rejected) and "not taking orders" in rejected[0].reason
    by_phase: dict[SessionPhase, list[MarketEvent]] = defaultdict(list)
    for _ in range(17 * 60):
        if m.now_ns == at(9, 4):
            assert m.submit("2885", 2, USER_ACCOUNT, Side.BUY, 10, price=143000)[0] == Accepted(
                2, m.now_ns
            )
            ioc = m.submit(
                "2885", 3, USER_ACCOUNT, Side.BUY, 10, price=143000, validity=Validity.IOC
            )
            assert isinstance(ioc[0], Rejected)
        by_phase[phase(m)] += m.step(SECOND)
    assert phase(m) is SessionPhase.CONTINUOUS
    assert prints(by_phase[SessionPhase.CLOSED]) == []
    pre_open = by_phase[SessionPhase.PRE_OPEN]
    # Orders were collected (depth shows them) but nothing traded before 09:08.
    assert any(q.total_buy_qty and q.total_sell_qty for q in quotes(pre_open, "2885"))
    auction = [p for p in prints(pre_open) if p.ts == at(9, 8)]
    assert prints(pre_open) == auction  # the uncross is the step that reaches 09:08
    assert prints(by_phase[SessionPhase.PRE_OPEN_MATCH]) == []
    assert {p.token for p in auction} == set(m.books)
    for token in m.books:
        assert len({p.price for p in auction if p.token == token}) == 1  # one equilibrium price
    eq = auction[[p.token for p in auction].index("2885")].price
    user_fill = heard.fills(2)
    assert user_fill and user_fill[0].price == eq and sum(f.qty for f in user_fill) == 10
    continuous = by_phase[SessionPhase.CONTINUOUS]
    assert prints(continuous) and min(p.ts for p in prints(continuous)) >= at(9, 15)
    assert quotes(continuous, "2885")[-1].open == eq


def test_day_orders_expire_at_close_and_a_new_session_starts_next_day() -> None:
    m = market(2, seed=13, start=at(15, 20), mode=SessionMode.REAL)
    token = next(iter(m.books))
    book = m.books[token]
    heard = Recorder()
    m.set_account_listener(USER_ACCOUNT, heard)
    m.step(SECOND)
    far = book.bands[0]  # the lower circuit: nothing trades that low in ten minutes
    m.submit(token, 5, USER_ACCOUNT, Side.BUY, 3, price=far)
    run(m, 10 * 60 + 30, step_ms=1000)
    assert phase(m) is SessionPhase.CLOSING
    assert heard.events[-1] == (token, Expired(5, 3, at(15, 30)))
    assert book.depth() == ((), ())
    assert not book.live_order_ids()
    closing_price = m.ltp(token)
    late = m.submit(token, 6, USER_ACCOUNT, Side.BUY, 1, price=far)
    assert isinstance(late[0], Rejected) and "CLOSING" in late[0].reason
    quiet = run(m, 600, step_ms=10_000)
    assert prints(quiet) == []
    # Overnight: the close carries into the next session's reference, volume restarts.
    m.fast_forward(at(9, 0, day=date(2026, 3, 3)))
    assert phase(m) is SessionPhase.PRE_OPEN and book.in_auction
    snap = quotes(m.step(SECOND), token)[-1]
    assert snap.close == closing_price and snap.volume == 0 and snap.open == 0
    assert book.reference_price == closing_price


def test_weekends_and_holidays_are_closed_in_real_mode() -> None:
    holiday = date(2026, 3, 9)  # a Monday
    m = market(
        1,
        start=at(15, 35, day=date(2026, 3, 6)),
        mode=SessionMode.REAL,
        holidays=frozenset({holiday}),
    )  # from a Friday's close
    events = m.fast_forward(at(9, 30, day=holiday))
    assert phase(m) is SessionPhase.CLOSED and prints(events) == []
    token = next(iter(m.books))
    assert isinstance(m.submit(token, 1, 1, Side.BUY, 1, price=100)[0], Rejected)
    m.fast_forward(at(8, 59, day=date(2026, 3, 10)))
    m.step(61 * SECOND)
    assert phase(m) is SessionPhase.PRE_OPEN


# ------------------------------------------------------------------------------------ driver


async def test_run_paces_the_clock_and_publishes() -> None:
    m = market(2, speed=300.0, tick_ms=10)
    published: list[MarketEvent] = []
    stop = asyncio.Event()
    start = m.now_ns
    loop = asyncio.get_running_loop()
    began = loop.time()
    task = asyncio.create_task(m.run(published.append, stop=stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 2.0)
    wall = loop.time() - began
    simulated = (m.now_ns - start) / SECOND
    assert 0.5 * 300 * 0.3 <= simulated <= 300 * wall  # the sim clock follows the wall at 300x
    assert prints(published) and quotes(published)
    seqs = [q.seq for q in quotes(published, next(iter(m.books)))]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_run_skips_flow_when_far_behind() -> None:
    m = market(1, speed=1_000_000.0, tick_ms=5, max_step_ms=100, max_lag_ms=200)
    stop = asyncio.Event()
    task = asyncio.create_task(m.run(lambda _e: None, stop=stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 2.0)
    assert m.skipped_ns > 0
    with pytest.raises(ValueError, match="speed"):
        m.speed = 0


def test_one_long_step_crosses_every_morning_transition_at_its_time() -> None:
    m = market(2, seed=17, start=at(8, 59), mode=SessionMode.REAL)
    events = m.step(21 * MINUTE)  # 08:59 -> 09:20 in one call
    tape = prints(events)
    auction = [p for p in tape if p.ts < at(9, 15)]
    assert auction and {p.ts for p in auction} == {at(9, 8)}
    assert all(p.ts >= at(9, 15) for p in tape[len(auction) :])
    assert len(tape) > len(auction)
    assert phase(m) is SessionPhase.CONTINUOUS and m.now_ns == at(9, 20)
    assert [q.token for q in quotes(events)] == list(m.books)  # one conflated quote each


@given(
    units=st.integers(1, 10**7),
    pct=st.integers(1, 99),
    tick=st.sampled_from([1, 5, 10, 50, 100, 500]),
)
def test_band_limits_are_on_the_grid_and_inside_the_band(units: int, pct: int, tick: int) -> None:
    reference = units * tick  # references are traded prices, on the grid
    lower, upper = band_limits(reference, pct, tick)
    assert lower % tick == 0 and upper % tick == 0
    assert tick <= lower <= reference <= upper
    assert lower * 100 >= reference * (100 - pct)
    assert (lower - tick) * 100 < reference * (100 - pct) or lower == tick
    assert upper * 100 <= reference * (100 + pct) < (upper + tick) * 100


@given(numerator=st.integers(0, 10**15), denominator=st.integers(1, 10**9))
def test_round_half_even_div_is_exact(numerator: int, denominator: int) -> None:
    got = round_half_even_div(numerator, denominator)
    assert got == round(Fraction(numerator, denominator))  # Python rounds Fractions half-even
