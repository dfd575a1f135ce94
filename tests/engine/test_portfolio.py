"""Tests for engine.portfolio: average-cost P&L, flips, margin, funds, days and snapshots."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import date, time
from fractions import Fraction
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.charges import ChargesError
from engine.clock import ist_ns
from engine.models import (
    ClientOrderId,
    Exchange,
    Fill,
    Instrument,
    InstrumentType,
    OptionKind,
    Product,
    Side,
    TradeId,
    VenueOrderId,
)
from engine.portfolio import MarginRules, Portfolio, PortfolioError

DAY = date(2026, 4, 6)
TS = ist_ns(DAY, time(10, 0))
LAKH = 100_000 * 100  # ₹1,00,000 in paise

RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
INFY = Instrument("1594", Exchange.NSE, "INFY-EQ", "INFY", InstrumentType.EQUITY)
NIFTY_FUT = Instrument(
    "35001", Exchange.NFO, "NIFTY26APRFUT", "NIFTY", InstrumentType.FUTIDX, lot_size=75
)
NIFTY_CE = Instrument(
    "35002",
    Exchange.NFO,
    "NIFTY26APR24000CE",
    "NIFTY",
    InstrumentType.OPTIDX,
    lot_size=75,
    strike=2_400_000,
    option_kind=OptionKind.CE,
)

_ids = count(1)


def fill(
    inst: Instrument,
    side: Side,
    qty: int,
    price: int,
    product: Product = Product.MIS,
    *,
    charges: int = 0,
    ts: int = TS,
    trade_id: str | None = None,
) -> Fill:
    """A fill of ``qty`` units at ``price`` paise."""
    n = next(_ids)
    return Fill(
        trade_id=TradeId(trade_id or f"T{n}"),
        client_order_id=ClientOrderId(f"C{n}"),
        venue_order_id=VenueOrderId(f"V{n}"),
        token=inst.token,
        side=side,
        qty=qty,
        price=price,
        product=product,
        ts=ts,
        charges=charges,
    )


# ---------------------------------------------------------------------------------------------
# Positions and P&L


def test_buy_then_partial_sells_average_cost() -> None:
    p = Portfolio(10 * LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 3, 10_000), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.BUY, 7, 11_000), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    # cost 3*10000 + 7*11000 = 107000 over 10 -> avg ₹107.00
    assert (pos.net_qty, pos.open_cost, pos.avg_price) == (10, 107_000, Fraction(10_700))
    p.apply_fill(fill(RELIANCE, Side.SELL, 4, 12_000), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    # released 107000 * 4/10 = 42800 ; realized 4*12000 - 42800 = 5200 ; avg unchanged
    assert (pos.net_qty, pos.realized, pos.open_cost) == (6, 5_200, 64_200)
    assert pos.avg_price == Fraction(10_700)
    assert (pos.day_buy_qty, pos.day_sell_qty) == (10, 4)
    assert (pos.day_buy_value, pos.day_sell_value) == (107_000, 48_000)
    # marked at the latest fill price until a quote: 6*12000 - 64200 = 7800
    assert pos.ltp == 12_000 and pos.unrealized == 7_800
    p.mark(RELIANCE.token, 11_000)  # 6*11000 - 64200 = 1800
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None and pos.unrealized == 1_800


def test_flip_long_to_short() -> None:
    # long 10 @ ₹100, sell 15 @ ₹110: realize 10 * ₹10 = ₹100 on the 10, short 5 @ ₹110
    p = Portfolio(10 * LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 10_000), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.SELL, 15, 11_000), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    assert pos.net_qty == -5
    assert pos.realized == 10_000
    assert pos.avg_price == Fraction(11_000)
    assert pos.open_cost == -55_000
    # short 5 marked at ₹105: gain 5 * ₹5 = ₹25
    p.mark(RELIANCE.token, 10_500)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None and pos.unrealized == 2_500
    # buy 8 @ ₹104 flips back: realize 5 * (110 - 104) = ₹30 ; long 3 @ ₹104
    p.apply_fill(fill(RELIANCE, Side.BUY, 8, 10_400), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    assert (pos.net_qty, pos.realized, pos.avg_price) == (3, 13_000, Fraction(10_400))


def test_rounding_moves_sub_paisa_between_realized_and_unrealized_only() -> None:
    # cost 10000 + 2*10001 = 30002 over 3 (avg 10000.67); sell 1 @ 10000:
    # released round(30002/3 = 10000.67) = 10001, realized -1, remaining 20001 (avg 10000.5)
    p = Portfolio(LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 1, 10_000), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.BUY, 2, 10_001), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.SELL, 1, 10_000), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    assert (pos.realized, pos.open_cost, pos.avg_price_paise) == (-1, 20_001, 10_000)
    p.apply_fill(fill(RELIANCE, Side.SELL, 2, 10_000), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    # flat: realized = cash flows = -30002 + 30000
    assert (pos.net_qty, pos.open_cost, pos.unrealized, pos.realized) == (0, 0, 0, -2)
    assert pos.avg_price == 0 and pos.is_flat


def test_fno_lot_multiples_and_short_futures() -> None:
    p = Portfolio(10 * LAKH)
    with pytest.raises(PortfolioError, match="multiple of the lot size 75"):
        p.apply_fill(fill(NIFTY_FUT, Side.SELL, 50, 2_400_000, Product.NRML), NIFTY_FUT)
    p.apply_fill(fill(NIFTY_FUT, Side.SELL, 150, 2_400_000, Product.NRML), NIFTY_FUT)
    p.mark(NIFTY_FUT.token, 2_390_000)
    pos = p.position(NIFTY_FUT.token, Product.NRML)
    assert pos is not None
    # short 150 from ₹24,000 to ₹23,900: +150 * ₹100 = ₹15,000
    assert pos.unrealized == 1_500_000
    p.apply_fill(fill(NIFTY_FUT, Side.BUY, 75, 2_380_000, Product.NRML), NIFTY_FUT)
    pos = p.position(NIFTY_FUT.token, Product.NRML)
    assert pos is not None
    assert (pos.net_qty, pos.realized) == (-75, 75 * 20_000)


def test_charges_are_deducted_from_net_pnl() -> None:
    p = Portfolio(LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 10_000, charges=2_108), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.SELL, 10, 10_200, charges=3_295), RELIANCE)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None
    assert (pos.realized, pos.charges) == (2_000, 5_403)
    assert pos.gross_pnl == 2_000 and pos.net_pnl == 2_000 - 5_403
    f = p.funds()
    assert (f.realized, f.charges, f.gross_pnl, f.net_pnl) == (2_000, 5_403, 2_000, -3_403)
    assert f.equity == LAKH - 3_403
    assert f.available == LAKH + 2_000 - 5_403


def test_positions_are_keyed_by_product() -> None:
    p = Portfolio(10 * LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 10_000, Product.CNC), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.SELL, 4, 10_100, Product.MIS), RELIANCE)
    views = {v.product: v for v in p.positions()}
    assert views[Product.CNC].net_qty == 10
    assert views[Product.MIS].net_qty == -4
    p.mark(RELIANCE.token, 10_200)
    views = {v.product: v for v in p.positions()}
    assert views[Product.CNC].unrealized == 2_000
    assert views[Product.MIS].unrealized == -400
    assert p.position(RELIANCE.token, Product.NRML) is None


def test_duplicate_trade_ids_are_ignored() -> None:
    p = Portfolio(LAKH)
    f = fill(RELIANCE, Side.BUY, 10, 10_000, trade_id="dup")
    assert p.apply_fill(f, RELIANCE) is True
    assert p.apply_fill(f, RELIANCE) is False
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None and pos.net_qty == 10


def test_bad_fills_change_nothing() -> None:
    p = Portfolio(LAKH)
    with pytest.raises(PortfolioError, match="token"):
        p.apply_fill(fill(RELIANCE, Side.BUY, 1, 100), INFY)
    with pytest.raises(ChargesError, match="CNC or MIS"):
        p.apply_fill(fill(RELIANCE, Side.BUY, 1, 100, Product.NRML), RELIANCE)
    cds = Instrument(
        "1", Exchange.CDS, "USDINR", "USDINR", InstrumentType.FUTCUR, price_scale=10**7
    )
    with pytest.raises(PortfolioError, match="price_scale 100"):
        p.apply_fill(fill(cds, Side.BUY, 1, 100, Product.NRML), cds)
    no_strike = Instrument("7", Exchange.NFO, "X", "X", InstrumentType.OPTSTK)
    with pytest.raises(PortfolioError, match="no strike"):
        p.apply_fill(fill(no_strike, Side.SELL, 1, 100, Product.NRML), no_strike)
    with pytest.raises(PortfolioError, match="charges"):
        p.apply_fill(fill(RELIANCE, Side.BUY, 1, 100, charges=-1), RELIANCE)
    assert p.positions() == ()
    assert p.funds().available == LAKH
    with pytest.raises(PortfolioError, match="int paise"):
        Portfolio(1.5)  # type: ignore[arg-type]


def test_views_are_frozen() -> None:
    p = Portfolio(LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 1, 100), RELIANCE)
    view = p.positions()[0]
    with pytest.raises(FrozenInstanceError):
        view.net_qty = 5  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        p.funds().cash = 0  # type: ignore[misc]


def test_mark_ignores_unknown_tokens_and_rejects_bad_prices() -> None:
    p = Portfolio(LAKH)
    p.mark("nope", 100)
    p.apply_fill(fill(RELIANCE, Side.BUY, 1, 100), RELIANCE)
    with pytest.raises(PortfolioError, match="ltp"):
        p.mark(RELIANCE.token, -1)


# ---------------------------------------------------------------------------------------------
# Margin and funds


def test_margin_by_product_and_segment() -> None:
    p = Portfolio(50 * LAKH)
    # CNC: full value at cost: 10 * ₹2500 = ₹25,000
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 250_000, Product.CNC), RELIANCE)
    # MIS: 20 % of marked notional: 100 * ₹1500 = ₹1.5 lakh -> ₹30,000
    p.apply_fill(fill(INFY, Side.SELL, 100, 150_000, Product.MIS), INFY)
    # futures: 12 % of 75 * ₹24,000 = ₹18 lakh -> ₹2,16,000
    p.apply_fill(fill(NIFTY_FUT, Side.BUY, 75, 2_400_000, Product.NRML), NIFTY_FUT)
    margins = {v.token: v.margin for v in p.positions()}
    assert margins == {
        RELIANCE.token: 2_500_000,
        INFY.token: 3_000_000,
        NIFTY_FUT.token: 21_600_000,
    }
    assert p.funds().margin_used == 27_100_000
    # marks move MIS and futures margin, not CNC
    p.mark(RELIANCE.token, 260_000)
    p.mark(INFY.token, 151_000)  # 20 % of ₹1,51,000 = ₹30,200
    p.mark(NIFTY_FUT.token, 2_410_000)  # 12 % of ₹18,07,500 = ₹2,16,900
    margins = {v.token: v.margin for v in p.positions()}
    assert margins == {
        RELIANCE.token: 2_500_000,
        INFY.token: 3_020_000,
        NIFTY_FUT.token: 21_690_000,
    }


def test_option_margin_long_is_premium_short_is_strike_fraction() -> None:
    p = Portfolio(50 * LAKH)
    p.apply_fill(fill(NIFTY_CE, Side.BUY, 75, 12_050, Product.NRML), NIFTY_CE)
    pos = p.position(NIFTY_CE.token, Product.NRML)
    assert pos is not None and pos.margin == 903_750  # premium paid 75 * ₹120.50
    # sell 150: now short 75; 12 % of 75 * ₹24,000 strike = ₹2,16,000
    p.apply_fill(fill(NIFTY_CE, Side.SELL, 150, 13_000, Product.NRML), NIFTY_CE)
    pos = p.position(NIFTY_CE.token, Product.NRML)
    assert pos is not None and pos.net_qty == -75 and pos.margin == 21_600_000
    rules = MarginRules(option_sell_fraction=Fraction("0.2"))
    q = Portfolio(50 * LAKH, rules)
    q.apply_fill(fill(NIFTY_CE, Side.SELL, 75, 13_000, Product.NRML), NIFTY_CE)
    pos = q.position(NIFTY_CE.token, Product.NRML)
    assert pos is not None and pos.margin == 36_000_000


def test_margin_rules_are_configurable_and_exact() -> None:
    rules = MarginRules.from_dict({"mis_fraction": "1/3", "futures_fraction": "0.15"})
    p = Portfolio(10 * LAKH, rules)
    # 1/3 of 10 * ₹1.00 = 333.33 paise -> rounded up to 334
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 100), RELIANCE)
    assert p.funds().margin_used == 334
    with pytest.raises(PortfolioError, match="decimal string"):
        MarginRules(mis_fraction=0.2)  # type: ignore[arg-type]
    with pytest.raises(PortfolioError, match="negative"):
        MarginRules(futures_fraction=Fraction(-1, 10))
    with pytest.raises(PortfolioError, match="unknown margin rule"):
        MarginRules.from_dict({"cnc_fraction": "1"})


def test_funds_with_blocks() -> None:
    p = Portfolio(LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 200_000, Product.CNC, charges=500), RELIANCE)
    # available = 1,00,000 - 20,000 margin - 5 charges
    assert p.funds().available == LAKH - 2_000_000 - 500
    p.block("O1", 1_000_000)
    p.block("O2", 300_000)
    f = p.funds()
    assert f.blocked == 1_300_000
    assert f.available == LAKH - 2_000_000 - 500 - 1_300_000
    p.block("O1", 400_000)  # modify: replaces
    assert p.blocked_for("O1") == 400_000
    assert p.funds().blocked == 700_000
    assert p.release("O2") == 300_000
    assert p.release("O2") == 0
    assert p.funds().blocked == 400_000
    with pytest.raises(PortfolioError, match="amount"):
        p.block("O3", -1)
    # a realized gain adds to available
    p.apply_fill(fill(RELIANCE, Side.SELL, 10, 210_000, Product.CNC), RELIANCE)
    f = p.funds()
    assert f.margin_used == 0
    assert f.available == LAKH + 100_000 - 500 - 400_000


def test_mtm_loss_of_leveraged_positions_reduces_available() -> None:
    p = Portfolio(50 * LAKH)
    p.apply_fill(fill(NIFTY_FUT, Side.BUY, 75, 2_400_000, Product.NRML), NIFTY_FUT)
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 250_000, Product.CNC), RELIANCE)
    p.mark(NIFTY_FUT.token, 2_390_000)  # loss 75 * ₹100 = ₹7,500
    p.mark(RELIANCE.token, 240_000)  # CNC loss ₹1,000: not deducted (fully paid)
    f = p.funds()
    fut_margin = -(-(75 * 2_390_000 * 12) // 100)
    assert f.mtm_loss == 750_000
    assert f.margin_used == fut_margin + 2_500_000
    assert f.available == 50 * LAKH - fut_margin - 2_500_000 - 750_000
    q = Portfolio(50 * LAKH, MarginRules(deduct_mtm_loss=False))
    q.apply_fill(fill(NIFTY_FUT, Side.BUY, 75, 2_400_000, Product.NRML), NIFTY_FUT)
    q.mark(NIFTY_FUT.token, 2_390_000)
    assert q.funds().mtm_loss == 0


# ---------------------------------------------------------------------------------------------
# Day P&L, peak and drawdown


def test_day_pnl_peak_and_drawdown() -> None:
    p = Portfolio(LAKH)
    p.start_day(DAY)
    p.apply_fill(fill(RELIANCE, Side.BUY, 100, 100_000, charges=1_000), RELIANCE)
    f = p.funds()
    assert (f.day_pnl, f.peak_day_equity, f.day_drawdown) == (-1_000, LAKH, 1_000)
    p.mark(RELIANCE.token, 101_000)  # +₹1,000
    p.mark(RELIANCE.token, 102_000)  # +₹2,000 -> peak
    p.mark(RELIANCE.token, 100_500)  # +₹500
    f = p.funds()
    assert f.day_pnl == 50_000 - 1_000
    assert f.peak_day_equity == LAKH + 200_000 - 1_000
    assert f.day_drawdown == 150_000
    assert p.day_pnl == f.day_pnl and p.day_drawdown == f.day_drawdown
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None and pos.max_loss == 0
    p.mark(RELIANCE.token, 99_000)  # -₹1,000 on the position
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None and pos.max_loss == 100_000
    p.mark(RELIANCE.token, 100_000)
    pos = p.position(RELIANCE.token, Product.MIS)
    assert pos is not None and pos.max_loss == 100_000  # worst seen, not current


def test_next_day_rolls_day_figures_and_drops_flat_positions() -> None:
    p = Portfolio(10 * LAKH)
    p.apply_fill(fill(RELIANCE, Side.BUY, 10, 10_000), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.SELL, 10, 10_500), RELIANCE)
    p.apply_fill(fill(NIFTY_FUT, Side.BUY, 75, 2_400_000, Product.NRML), NIFTY_FUT)
    p.mark(NIFTY_FUT.token, 2_410_000)
    assert p.day == DAY
    equity_before = p.equity
    next_ts = ist_ns(date(2026, 4, 7), time(9, 15))
    p.apply_fill(fill(INFY, Side.BUY, 1, 150_000, ts=next_ts), INFY)
    assert p.day == date(2026, 4, 7)
    tokens = {v.token for v in p.positions()}
    assert tokens == {NIFTY_FUT.token, INFY.token}  # the flat RELIANCE position is gone
    fut = p.position(NIFTY_FUT.token, Product.NRML)
    assert fut is not None
    assert (fut.day_buy_qty, fut.day_realized, fut.net_qty) == (0, 0, 75)
    f = p.funds()
    assert f.realized == 5_000  # yesterday's realized stays in the totals
    assert f.day_start_equity == equity_before
    assert f.day_pnl == 0
    with pytest.raises(PortfolioError, match="already on"):
        p.start_day(DAY)
    p.start_day(date(2026, 4, 7))  # same day: nothing happens
    assert p.funds().day_start_equity == equity_before


# ---------------------------------------------------------------------------------------------
# Snapshot and restore


def _busy_portfolio() -> Portfolio:
    p = Portfolio(20 * LAKH, MarginRules(mis_fraction=Fraction(1, 4)))
    p.apply_fill(fill(RELIANCE, Side.BUY, 3, 10_000, charges=10), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.BUY, 2, 10_001, charges=10), RELIANCE)
    p.apply_fill(fill(RELIANCE, Side.SELL, 1, 10_300, charges=10), RELIANCE)
    p.apply_fill(fill(NIFTY_CE, Side.SELL, 75, 12_000, Product.NRML, charges=40), NIFTY_CE)
    p.apply_fill(fill(RELIANCE, Side.BUY, 4, 10_000, Product.CNC), RELIANCE)
    p.mark(RELIANCE.token, 9_900)
    p.mark(NIFTY_CE.token, 12_500)
    p.block("open-1", 12_345)
    return p


def test_snapshot_round_trip_through_json() -> None:
    p = _busy_portfolio()
    data = json.loads(json.dumps(p.to_dict()))
    q = Portfolio.from_dict(data)
    assert q.positions() == p.positions()
    assert q.funds() == p.funds()
    assert q.rules == p.rules
    assert q.day == p.day
    assert q.to_dict() == p.to_dict()
    # both continue identically
    for port in (p, q):
        port.apply_fill(fill(RELIANCE, Side.SELL, 4, 10_100, trade_id="same"), RELIANCE)
        port.mark(RELIANCE.token, 10_050)
    assert q.positions() == p.positions()
    assert q.funds() == p.funds()
    # dedupe state survives too
    assert q.apply_fill(fill(RELIANCE, Side.SELL, 4, 10_100, trade_id="same"), RELIANCE) is False
    with pytest.raises(PortfolioError, match="version"):
        Portfolio.from_dict({**data, "version": 99})


# ---------------------------------------------------------------------------------------------
# Properties

KEYS = [
    (RELIANCE, Product.MIS),
    (RELIANCE, Product.CNC),
    (NIFTY_FUT, Product.NRML),
    (NIFTY_CE, Product.NRML),
    (INFY, Product.MIS),
]
TOKENS = [RELIANCE.token, NIFTY_FUT.token, NIFTY_CE.token, INFY.token]

fill_ops = st.tuples(
    st.just("fill"),
    st.integers(0, len(KEYS) - 1),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 20),
    st.integers(1, 1_000_000),
    st.integers(0, 5_000),
)
mark_ops = st.tuples(
    st.just("mark"),
    st.integers(0, len(TOKENS) - 1),
    st.integers(0, 1_000_000),
)
ops_strategy = st.lists(st.one_of(fill_ops, mark_ops), min_size=1, max_size=40)


class Reference:
    """Independent bookkeeping: signed quantity, cash flows and mark per key."""

    def __init__(self) -> None:
        self.net: dict[tuple[str, Product], int] = {}
        self.cash: dict[tuple[str, Product], int] = {}
        self.mark: dict[tuple[str, Product], int] = {}
        self.charges = 0

    def fill(self, inst: Instrument, product: Product, side: Side, qty: int, price: int) -> None:
        key = (inst.token, product)
        self.net[key] = self.net.get(key, 0) + side.sign * qty
        self.cash[key] = self.cash.get(key, 0) - side.sign * qty * price
        self.mark[key] = price
        self.mark_token(inst.token, price)

    def mark_token(self, token: str, ltp: int) -> None:
        for key in self.mark:
            if key[0] == token:
                self.mark[key] = ltp


def run_ops(ops: list[tuple[object, ...]], p: Portfolio, ref: Reference) -> None:
    """Apply ``ops`` to the portfolio and the reference, checking invariants after each."""
    for op in ops:
        if op[0] == "fill":
            _, k, side, lots, price, charges = op
            assert isinstance(k, int) and isinstance(side, Side)
            assert isinstance(lots, int) and isinstance(price, int) and isinstance(charges, int)
            inst, product = KEYS[k]
            qty = lots * inst.lot_size
            p.apply_fill(fill(inst, side, qty, price, product, charges=charges), inst)
            ref.fill(inst, product, side, qty, price)
            ref.charges += charges
        else:
            _, t, ltp = op
            assert isinstance(t, int) and isinstance(ltp, int)
            p.mark(TOKENS[t], ltp)
            ref.mark_token(TOKENS[t], ltp)
        check_invariants(p, ref)


def check_invariants(p: Portfolio, ref: Reference) -> None:
    """realized + unrealized == cash flows + marked value, exactly, per position and in total."""
    total = 0
    margin = 0
    for view in p.positions():
        key = (view.token, view.product)
        expected = ref.cash[key] + ref.net[key] * ref.mark[key]
        assert view.net_qty == ref.net[key]
        assert view.ltp == ref.mark[key]
        assert view.realized + view.unrealized == expected
        for value in (view.realized, view.unrealized, view.open_cost, view.margin, view.charges):
            assert type(value) is int
        assert view.margin >= 0 and view.max_loss >= 0
        total += expected
        margin += view.margin
    f = p.funds()
    assert f.realized + f.unrealized == total
    assert f.charges == ref.charges
    assert f.margin_used == margin
    assert f.equity == p.cash + total - ref.charges
    assert f.available == p.cash + f.realized - f.charges - f.margin_used - f.blocked - f.mtm_loss
    assert f.peak_day_equity >= f.equity and f.day_drawdown >= 0
    assert all(type(v) is int for v in (f.available, f.equity, f.day_pnl, f.mtm_loss))


PROPS = settings(max_examples=120, deadline=None)


@PROPS
@given(ops_strategy)
def test_pnl_identity_holds_for_any_fills_and_marks(ops: list[tuple[object, ...]]) -> None:
    p = Portfolio(100 * LAKH)
    run_ops(ops, p, Reference())


@PROPS
@given(ops_strategy, st.lists(st.integers(1, 1_000_000), min_size=len(KEYS), max_size=len(KEYS)))
def test_flattening_realizes_exactly_the_cash_flows(
    ops: list[tuple[object, ...]], exit_prices: list[int]
) -> None:
    p = Portfolio(100 * LAKH)
    ref = Reference()
    run_ops(ops, p, ref)
    for (inst, product), price in zip(KEYS, exit_prices, strict=True):
        view = p.position(inst.token, product)
        if view is None or view.net_qty == 0:
            continue
        side = Side.SELL if view.net_qty > 0 else Side.BUY
        qty = abs(view.net_qty)
        p.apply_fill(fill(inst, side, qty, price, product), inst)
        ref.fill(inst, product, side, qty, price)
    for view in p.positions():
        key = (view.token, view.product)
        assert view.net_qty == 0
        assert view.open_cost == 0 and view.unrealized == 0 and view.margin == 0
        assert view.realized == ref.cash[key]
    f = p.funds()
    assert f.unrealized == 0 and f.margin_used == 0 and f.mtm_loss == 0
    assert f.realized == sum(ref.cash.values())


@PROPS
@given(ops_strategy, ops_strategy)
def test_snapshot_restore_is_exact_at_any_point(
    first: list[tuple[object, ...]], then: list[tuple[object, ...]]
) -> None:
    p = Portfolio(100 * LAKH)
    ref = Reference()
    run_ops(first, p, ref)
    q = Portfolio.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q.positions() == p.positions() and q.funds() == p.funds()
    run_ops(then, q, ref)
