"""Tests for engine.charges: hand-computed contract-note examples and property tests.

Arithmetic in the comments is in paise unless marked ₹. Rounding: every component half-up to the
paisa, STT half-up to the rupee, GST 18 % of (brokerage + exchange + IPFT + SEBI + DP).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date, time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.charges import (
    ANGEL_ONE,
    COMPONENTS,
    DEFAULT_RATES,
    ZERODHA,
    BrokeragePlan,
    BrokerageRule,
    ChargeBreakdown,
    ChargeKind,
    ChargesError,
    ChargesModel,
    RateRow,
    RateTable,
    Segment,
    custom_plan,
    percent,
    segment_of,
    venue_of,
)
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

BEFORE = date(2026, 3, 31)  # last day of the old STT
AFTER = date(2026, 4, 1)  # first day of the new STT

RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
RELIANCE_BSE = Instrument("500325", Exchange.BSE, "RELIANCE", "RELIANCE", InstrumentType.EQUITY)
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
SENSEX_PE = Instrument(
    "8001",
    Exchange.BFO,
    "SENSEX26APR80000PE",
    "SENSEX",
    InstrumentType.OPTIDX,
    lot_size=20,
    strike=8_000_000,
    option_kind=OptionKind.PE,
)
GOLD = Instrument("9001", Exchange.MCX, "GOLDM", "GOLDM", InstrumentType.FUTCOM, lot_size=1)


def bd(**kw: int) -> ChargeBreakdown:
    """A breakdown with the given components (others 0)."""
    return ChargeBreakdown(**kw)


# ---------------------------------------------------------------------------------------------
# Segments and basics


def test_segment_of_maps_instrument_and_product() -> None:
    assert segment_of(RELIANCE, Product.CNC) is Segment.EQUITY_DELIVERY
    assert segment_of(RELIANCE, Product.MIS) is Segment.EQUITY_INTRADAY
    assert segment_of(NIFTY_FUT, Product.NRML) is Segment.FUTURES
    assert segment_of(NIFTY_FUT, Product.MIS) is Segment.FUTURES
    assert segment_of(NIFTY_CE, Product.NRML) is Segment.OPTIONS
    with pytest.raises(ChargesError, match="use CNC or MIS"):
        segment_of(RELIANCE, Product.NRML)
    with pytest.raises(ChargesError, match="use NRML or MIS"):
        segment_of(NIFTY_FUT, Product.CNC)
    index = Instrument("26000", Exchange.NSE, "NIFTY", "NIFTY", InstrumentType.INDEX)
    with pytest.raises(ChargesError, match="index"):
        segment_of(index, Product.MIS)


def test_venue_of() -> None:
    assert venue_of(Exchange.NSE) == venue_of(Exchange.NFO) == "NSE"
    assert venue_of(Exchange.BSE) == venue_of(Exchange.BFO) == "BSE"
    assert venue_of(Exchange.MCX) == "MCX"


def test_percent_is_exact_and_refuses_floats() -> None:
    assert percent("0.03") == Fraction(3, 10_000)
    assert percent("0.00297") == Fraction(297, 10_000_000)
    assert percent(18) == Fraction(18, 100)
    with pytest.raises(ChargesError, match="decimal string"):
        percent(0.1)  # type: ignore[arg-type]
    with pytest.raises(ChargesError, match="not a percentage"):
        percent("abc")
    with pytest.raises(ChargesError, match="negative"):
        percent("-1")


def test_breakdown_total_is_sum_and_frozen() -> None:
    b = bd(brokerage=2000, stt=100, gst=360)
    assert b.total == 2460
    assert (b + b).total == 4920
    assert (b - b).total == 0
    assert b.components()["stt"] == 100
    assert b.taxes == 460
    with pytest.raises(FrozenInstanceError):
        b.stt = 5  # type: ignore[misc]
    with pytest.raises(ChargesError, match="int paise"):
        ChargeBreakdown(stt=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Hand-computed examples, one per segment and plan, both sides of 2026-04-01


def test_zerodha_delivery_buy() -> None:
    # BUY 10 RELIANCE @ ₹2500.00 CNC: turnover 10 * 250000 = 2,500,000 paise (₹25,000)
    # brokerage 0 (Zerodha delivery is free)
    # STT 0.1 %: ₹25.00 -> 2500
    # exchange 0.00297 %: 2,500,000 * 297 / 10^7 = 74.25 -> 74
    # IPFT 0.0001 %: 2.5 -> 3 ; SEBI 0.0001 %: 2.5 -> 3
    # stamp 0.015 %: 375
    # GST 18 % of (0 + 74 + 3 + 3) = 14.4 -> 14
    m = ChargesModel(ZERODHA)
    got = m.estimate(RELIANCE, Side.BUY, Product.CNC, 10, 250_000, BEFORE)
    assert got == bd(stt=2500, exchange_txn=74, ipft=3, sebi_fee=3, stamp_duty=375, gst=14)
    assert got.total == 2969
    # delivery rates did not change on 2026-04-01
    assert m.estimate(RELIANCE, Side.BUY, Product.CNC, 10, 250_000, AFTER) == got


def test_zerodha_delivery_sell_with_dp_charge_once_per_day() -> None:
    # SELL 10 @ ₹2600.00 CNC: turnover 2,600,000
    # STT 0.1 % = ₹26 -> 2600 ; exchange 2,600,000 * 297 / 10^7 = 77.22 -> 77
    # IPFT 2.6 -> 3 ; SEBI 2.6 -> 3 ; stamp 0 (sell) ; DP ₹13 -> 1300
    # GST 18 % of (77 + 3 + 3 + 1300 = 1383) = 248.94 -> 249
    m = ChargesModel(ZERODHA)
    first = m.for_fill(RELIANCE, Side.SELL, Product.CNC, 10, 260_000, AFTER)
    assert first == bd(stt=2600, exchange_txn=77, ipft=3, sebi_fee=3, dp_charge=1300, gst=249)
    assert first.total == 4232
    # a second delivery sell of the same instrument that day: no DP
    # GST 18 % of 83 = 14.94 -> 15
    second = m.for_fill(RELIANCE, Side.SELL, Product.CNC, 10, 260_000, AFTER)
    assert second == bd(stt=2600, exchange_txn=77, ipft=3, sebi_fee=3, gst=15)
    # the estimate knows DP was already charged today
    assert m.estimate(RELIANCE, Side.SELL, Product.CNC, 10, 260_000, AFTER).dp_charge == 0
    # the next day it is due again
    next_day = m.for_fill(RELIANCE, Side.SELL, Product.CNC, 10, 260_000, date(2026, 4, 2))
    assert next_day.dp_charge == 1300
    # the caller may decide instead
    told = m.for_fill(
        RELIANCE,
        Side.SELL,
        Product.CNC,
        1,
        260_000,
        date(2026, 4, 2),
        first_delivery_sell_today=True,
    )
    assert told.dp_charge == 1300
    # buys and intraday sells never pay DP
    assert m.for_fill(RELIANCE, Side.SELL, Product.MIS, 1, 260_000, date(2026, 4, 3)).dp_charge == 0


def test_angel_intraday_both_sides() -> None:
    # Angel One MIS BUY 100 @ ₹500.00: turnover 5,000,000 (₹50,000)
    # brokerage min(0.03 % = ₹15, ₹20) = 1500 ; STT 0 (buy)
    # exchange 5,000,000 * 297 / 10^7 = 148.5 -> 149 (half-up)
    # IPFT 5 ; SEBI 5 ; stamp 0.003 % = 150
    # GST 18 % of (1500 + 149 + 5 + 5 = 1659) = 298.62 -> 299
    m = ChargesModel(ANGEL_ONE)
    buy = m.estimate(RELIANCE, Side.BUY, Product.MIS, 100, 50_000, BEFORE)
    assert buy == bd(brokerage=1500, exchange_txn=149, ipft=5, sebi_fee=5, stamp_duty=150, gst=299)
    assert buy.total == 2108
    # SELL 100 @ ₹510.00: turnover 5,100,000
    # brokerage 0.03 % = 1530 ; STT 0.025 % = ₹12.75 -> ₹13 -> 1300
    # exchange 151.47 -> 151 ; IPFT 5.1 -> 5 ; SEBI 5 ; stamp 0
    # GST 18 % of (1530 + 151 + 5 + 5 = 1691) = 304.38 -> 304
    sell = m.estimate(RELIANCE, Side.SELL, Product.MIS, 100, 51_000, BEFORE)
    assert sell == bd(brokerage=1530, stt=1300, exchange_txn=151, ipft=5, sebi_fee=5, gst=304)
    assert sell.total == 3295
    # intraday STT did not change on 2026-04-01
    assert m.estimate(RELIANCE, Side.SELL, Product.MIS, 100, 51_000, AFTER) == sell
    # the ₹20 cap: ₹1,00,000 turnover -> 0.03 % = ₹30 -> ₹20
    assert m.estimate(RELIANCE, Side.BUY, Product.MIS, 200, 50_000, BEFORE).brokerage == 2000


def test_zerodha_futures_sell_stt_change() -> None:
    # SELL 75 NIFTY fut @ ₹24,000.00: turnover 75 * 2,400,000 = 180,000,000 (₹18 lakh)
    # brokerage min(0.03 % = ₹540, ₹20) = 2000
    # STT before: 0.02 % = ₹360 -> 36000 ; from 2026-04-01: 0.05 % = ₹900 -> 90000
    # exchange 0.00173 % = 3114 ; IPFT 0.0001 % = 180 ; SEBI 180 ; stamp 0 (sell)
    # GST 18 % of (2000 + 3114 + 180 + 180 = 5474) = 985.32 -> 985
    m = ChargesModel(ZERODHA)
    common = {"brokerage": 2000, "exchange_txn": 3114, "ipft": 180, "sebi_fee": 180, "gst": 985}
    old = m.estimate(NIFTY_FUT, Side.SELL, Product.NRML, 75, 2_400_000, BEFORE)
    new = m.estimate(NIFTY_FUT, Side.SELL, Product.NRML, 75, 2_400_000, AFTER)
    assert old == bd(stt=36_000, **common)
    assert new == bd(stt=90_000, **common)
    assert (old.total, new.total) == (42_459, 96_459)


def test_angel_futures_buy() -> None:
    # Angel One BUY 75 NIFTY fut @ ₹24,000.00 on 2026-04-01: turnover 180,000,000
    # brokerage flat ₹20 = 2000 ; STT 0 (buy) ; exchange 3114 ; IPFT 180 ; SEBI 180
    # stamp 0.002 % = 3600 ; GST 18 % of 5474 = 985
    m = ChargesModel(ANGEL_ONE)
    got = m.estimate(NIFTY_FUT, Side.BUY, Product.MIS, 75, 2_400_000, AFTER)
    assert got == bd(
        brokerage=2000, exchange_txn=3114, ipft=180, sebi_fee=180, stamp_duty=3600, gst=985
    )
    assert got.total == 10_059


def test_angel_options_sell_stt_change() -> None:
    # SELL 75 NIFTY 24000 CE @ ₹120.50: premium turnover 75 * 12050 = 903,750 (₹9,037.50)
    # brokerage flat ₹20 = 2000
    # STT before: 0.1 % = ₹9.0375 -> ₹9 -> 900 ; after: 0.15 % = ₹13.55625 -> ₹14 -> 1400
    # exchange 0.03503 %: 903,750 * 3503 / 10^7 = 316.58 -> 317
    # IPFT 0.0005 %: 4.51875 -> 5 ; SEBI 0.90375 -> 1 ; stamp 0 (sell)
    # GST 18 % of (2000 + 317 + 5 + 1 = 2323) = 418.14 -> 418
    m = ChargesModel(ANGEL_ONE)
    common = {"brokerage": 2000, "exchange_txn": 317, "ipft": 5, "sebi_fee": 1, "gst": 418}
    old = m.estimate(NIFTY_CE, Side.SELL, Product.NRML, 75, 12_050, BEFORE)
    new = m.estimate(NIFTY_CE, Side.SELL, Product.NRML, 75, 12_050, AFTER)
    assert old == bd(stt=900, **common)
    assert new == bd(stt=1400, **common)
    assert (old.total, new.total) == (3641, 4141)


def test_zerodha_options_buy() -> None:
    # BUY 75 NIFTY CE @ ₹120.50: turnover 903,750 ; brokerage ₹20 ; STT 0 (buy)
    # exchange 317 ; IPFT 5 ; SEBI 1 ; stamp 0.003 % = 27.1125 -> 27 ; GST 418
    m = ChargesModel(ZERODHA)
    for day in (BEFORE, AFTER):
        got = m.estimate(NIFTY_CE, Side.BUY, Product.NRML, 75, 12_050, day)
        assert got == bd(
            brokerage=2000, exchange_txn=317, ipft=5, sebi_fee=1, stamp_duty=27, gst=418
        )
        assert got.total == 2768


def test_angel_delivery_minimum_and_cap() -> None:
    # BUY 1 @ ₹100.00 CNC: turnover 10,000 (₹100)
    # brokerage 0.1 % = 10 paise -> minimum ₹2 = 200
    # STT 0.1 % = ₹0.10 -> ₹0 ; exchange 0.297 -> 0 ; IPFT 0.01 -> 0 ; SEBI 0
    # stamp 0.015 % = 1.5 -> 2 (half-up) ; GST 18 % of 200 = 36
    m = ChargesModel(ANGEL_ONE)
    tiny = m.estimate(RELIANCE, Side.BUY, Product.CNC, 1, 10_000, BEFORE)
    assert tiny == bd(brokerage=200, stamp_duty=2, gst=36)
    assert tiny.total == 238
    # ₹50,000 -> 0.1 % = ₹50 -> capped at ₹20
    assert m.estimate(RELIANCE, Side.BUY, Product.CNC, 100, 50_000, BEFORE).brokerage == 2000
    # Angel DP ₹20: GST 18 % of (brokerage 2000 + exch 148.5->149 + 5 + 5 + 2000) ...
    sell = m.estimate(RELIANCE, Side.SELL, Product.CNC, 100, 50_000, AFTER)
    assert sell.dp_charge == 2000
    # GST 18 % of (2000 + 149 + 5 + 5 + 2000 = 4159) = 748.62 -> 749
    assert sell.gst == 749


def test_bse_equity_single_configurable_rate() -> None:
    # BSE CNC BUY 10 @ ₹2500.00: turnover 2,500,000 ; exchange 0.00375 % = 93.75 -> 94 ; no IPFT
    # GST 18 % of (94 + 3) = 17.46 -> 17
    m = ChargesModel(ZERODHA)
    got = m.estimate(RELIANCE_BSE, Side.BUY, Product.CNC, 10, 250_000, AFTER)
    assert got == bd(stt=2500, exchange_txn=94, sebi_fee=3, stamp_duty=375, gst=17)
    # configure 0.00275 %: 68.75 -> 69 ; GST 18 % of 72 = 12.96 -> 13
    custom = ChargesModel(ZERODHA, DEFAULT_RATES.with_bse_equity_txn("0.00275"))
    got2 = custom.estimate(RELIANCE_BSE, Side.BUY, Product.CNC, 10, 250_000, AFTER)
    assert (got2.exchange_txn, got2.gst) == (69, 13)


def test_bse_options_sell() -> None:
    # SELL 20 SENSEX PE @ ₹250.00 on BFO: turnover 500,000 (₹5,000)
    # brokerage ₹20 ; STT 0.15 % = ₹7.50 -> ₹8 (half-up) ; exchange 0.0325 % = 162.5 -> 163
    # IPFT 0 (BSE) ; SEBI 0.5 -> 1 ; GST 18 % of (2000 + 163 + 0 + 1) = 389.52 -> 390
    got = ChargesModel(ZERODHA).estimate(SENSEX_PE, Side.SELL, Product.NRML, 20, 25_000, AFTER)
    assert got == bd(brokerage=2000, stt=800, exchange_txn=163, sebi_fee=1, gst=390)


def test_custom_plans() -> None:
    flat = ChargesModel(custom_plan(flat_paise=1000))
    assert flat.estimate(NIFTY_FUT, Side.BUY, Product.NRML, 75, 2_400_000, AFTER).brokerage == 1000
    pct = ChargesModel(custom_plan(pct="0.05", cap_paise=2500, dp_charge_paise=500))
    # 0.05 % of ₹25,000 = ₹12.50 -> 1250
    assert pct.estimate(RELIANCE, Side.BUY, Product.CNC, 10, 250_000, AFTER).brokerage == 1250
    # 0.05 % of ₹18 lakh = ₹900 -> capped ₹25
    assert pct.estimate(NIFTY_FUT, Side.BUY, Product.NRML, 75, 2_400_000, AFTER).brokerage == 2500
    assert pct.estimate(RELIANCE, Side.SELL, Product.CNC, 1, 250_000, AFTER).dp_charge == 500
    with pytest.raises(ChargesError, match="non-negative int"):
        BrokerageRule(flat_paise=-1)
    with pytest.raises(ChargesError, match="Fraction"):
        BrokerageRule(rate=0.1)  # type: ignore[arg-type]


def test_gst_on_ipft_can_be_turned_off() -> None:
    # futures sell example without IPFT in the GST base: 18 % of 5294 = 952.92 -> 953
    plan = BrokeragePlan(
        "no-ipft-gst",
        ZERODHA.delivery,
        ZERODHA.intraday,
        ZERODHA.futures,
        ZERODHA.options,
        gst_on_ipft=False,
    )
    got = ChargesModel(plan).estimate(NIFTY_FUT, Side.SELL, Product.NRML, 75, 2_400_000, AFTER)
    assert got.gst == 953


# ---------------------------------------------------------------------------------------------
# Per-order aggregation of partial fills


def test_partial_fills_pay_the_brokerage_cap_once() -> None:
    # Zerodha MIS BUY 1000 @ ₹100 in two fills of 500 (₹50,000 each)
    # alone, each fill: 0.03 % = ₹15 ; as one order: 0.03 % of ₹1 lakh = ₹30 -> ₹20
    m = ChargesModel(ZERODHA)
    f1 = m.for_fill(RELIANCE, Side.BUY, Product.MIS, 500, 10_000, AFTER, order_id="A")
    f2 = m.for_fill(RELIANCE, Side.BUY, Product.MIS, 500, 10_000, AFTER, order_id="A")
    assert (f1.brokerage, f2.brokerage) == (1500, 500)
    whole = m.estimate(RELIANCE, Side.BUY, Product.MIS, 1000, 10_000, AFTER)
    assert f1 + f2 == whole
    # without an order id each fill is its own order
    m2 = ChargesModel(ZERODHA)
    g1 = m2.for_fill(RELIANCE, Side.BUY, Product.MIS, 500, 10_000, AFTER)
    g2 = m2.for_fill(RELIANCE, Side.BUY, Product.MIS, 500, 10_000, AFTER)
    assert g1.brokerage + g2.brokerage == 3000


def test_stt_rounded_to_the_rupee_per_order() -> None:
    # MIS SELL of ₹1,000 per fill: STT 0.025 % = ₹0.25 per fill.
    # Order cumulative: ₹0.25 -> ₹0, ₹0.50 -> ₹1 (half-up), ₹0.75 -> ₹1: increments 0, 100, 0
    m = ChargesModel(ZERODHA)
    incs = [
        m.for_fill(RELIANCE, Side.SELL, Product.MIS, 10, 10_000, AFTER, order_id="S").stt
        for _ in range(3)
    ]
    assert incs == [0, 100, 0]
    # each fill priced alone would pay no STT at all
    alone = ChargesModel(ZERODHA).for_fill(RELIANCE, Side.SELL, Product.MIS, 10, 10_000, AFTER)
    assert alone.stt == 0


def test_for_execution_uses_fill_fields() -> None:
    m = ChargesModel(ZERODHA)
    ts = ist_ns(AFTER, time(10, 0))
    fill = Fill(
        TradeId("T1"),
        ClientOrderId("C1"),
        VenueOrderId("V1"),
        NIFTY_FUT.token,
        Side.SELL,
        75,
        2_400_000,
        Product.NRML,
        ts,
    )
    assert m.for_execution(fill, NIFTY_FUT).stt == 90_000
    with pytest.raises(ChargesError, match="token"):
        m.for_execution(fill, RELIANCE)


def test_order_id_reuse_with_other_side_is_refused() -> None:
    m = ChargesModel(ZERODHA)
    m.for_fill(RELIANCE, Side.BUY, Product.MIS, 1, 10_000, AFTER, order_id="X")
    with pytest.raises(ChargesError, match="order 'X'"):
        m.for_fill(RELIANCE, Side.SELL, Product.MIS, 1, 10_000, AFTER, order_id="X")


def test_state_round_trip() -> None:
    m = ChargesModel(ZERODHA)
    m.for_fill(RELIANCE, Side.SELL, Product.CNC, 500, 10_000, AFTER, order_id="A")
    restored = ChargesModel(ZERODHA)
    restored.load_state(m.to_dict())
    a = m.for_fill(RELIANCE, Side.SELL, Product.CNC, 500, 10_000, AFTER, order_id="A")
    b = restored.for_fill(RELIANCE, Side.SELL, Product.CNC, 500, 10_000, AFTER, order_id="A")
    assert a == b
    assert a.dp_charge == 0  # DP went with the first fill


def test_older_day_after_newer_is_refused() -> None:
    m = ChargesModel(ZERODHA)
    m.for_fill(RELIANCE, Side.BUY, Product.MIS, 1, 10_000, AFTER)
    with pytest.raises(ChargesError, match="in order"):
        m.for_fill(RELIANCE, Side.BUY, Product.MIS, 1, 10_000, BEFORE)


# ---------------------------------------------------------------------------------------------
# The rate table


def test_missing_rates_are_errors_not_zeros() -> None:
    m = ChargesModel(ZERODHA)
    with pytest.raises(ChargesError, match="table starts on 2024-10-01"):
        m.estimate(RELIANCE, Side.BUY, Product.CNC, 1, 10_000, date(2024, 9, 30))
    with pytest.raises(ChargesError, match="MCX"):
        m.estimate(GOLD, Side.BUY, Product.NRML, 1, 7_000_000, AFTER)


def test_bad_quantities_and_prices() -> None:
    m = ChargesModel(ZERODHA)
    with pytest.raises(ChargesError, match="quantity"):
        m.estimate(RELIANCE, Side.BUY, Product.CNC, 0, 10_000, AFTER)
    with pytest.raises(ChargesError, match="price"):
        m.estimate(RELIANCE, Side.BUY, Product.CNC, 1, 100.5, AFTER)  # type: ignore[arg-type]


def test_rows_override_and_specificity() -> None:
    # a later-added row at the same date and specificity wins
    cheaper = DEFAULT_RATES.with_rows(
        RateRow(
            ChargeKind.EXCHANGE_TXN, "NSE", Segment.FUTURES, None, date(2024, 10, 1), percent("0")
        )
    )
    assert cheaper.rate(ChargeKind.EXCHANGE_TXN, "NSE", Segment.FUTURES, Side.BUY, AFTER) == 0
    # IPFT: options row (named segment) beats the all-segment row
    assert DEFAULT_RATES.rate(ChargeKind.IPFT, "NSE", Segment.OPTIONS, Side.BUY, AFTER) == (
        percent("0.0005")
    )
    assert DEFAULT_RATES.rate(ChargeKind.IPFT, "NSE", Segment.FUTURES, Side.BUY, AFTER) == (
        percent("0.0001")
    )
    # the dated STT rows
    fut = (ChargeKind.STT, "NSE", Segment.FUTURES, Side.SELL)
    assert DEFAULT_RATES.rate(*fut, BEFORE) == percent("0.02")
    assert DEFAULT_RATES.rate(*fut, AFTER) == percent("0.05")
    opt = (ChargeKind.STT, "NSE", Segment.OPTIONS, Side.SELL)
    assert DEFAULT_RATES.rate(*opt, BEFORE) == percent("0.1")
    assert DEFAULT_RATES.rate(*opt, AFTER) == percent("0.15")


def test_rates_from_toml() -> None:
    text = """
[[rate]]
kind = "stt"
venue = "NSE"
segment = "futures"
side = "SELL"
effective_from = 2027-04-01
percent = "0.1"
source = "hypothetical budget"
"""
    table = RateTable.from_toml(text, base=DEFAULT_RATES)
    m = ChargesModel(ZERODHA, table)
    # 0.1 % of ₹18 lakh = ₹1800
    assert m.estimate(NIFTY_FUT, Side.SELL, Product.NRML, 75, 2_400_000, date(2027, 4, 1)).stt == (
        180_000
    )
    assert m.estimate(NIFTY_FUT, Side.SELL, Product.NRML, 75, 2_400_000, AFTER).stt == 90_000
    with pytest.raises(ChargesError, match="decimal string"):
        RateTable.from_toml(text.replace('"0.1"', "0.1"))
    with pytest.raises(ChargesError, match="lacks 'venue'"):
        RateTable.from_toml('[[rate]]\nkind = "stt"\neffective_from = 2027-04-01\npercent = "1"')
    with pytest.raises(ChargesError, match="not one of"):
        RateTable.from_toml(
            '[[rate]]\nkind = "vat"\nvenue = "NSE"\neffective_from = 2027-04-01\npercent = "1"'
        )
    with pytest.raises(ChargesError, match="does not parse"):
        RateTable.from_toml("[[rate]\n")


# ---------------------------------------------------------------------------------------------
# Properties

PLANS = [ZERODHA, ANGEL_ONE, custom_plan(flat_paise=1500), custom_plan(pct="0.05", min_paise=100)]
CASES = [
    (RELIANCE, Product.CNC),
    (RELIANCE, Product.MIS),
    (RELIANCE_BSE, Product.CNC),
    (NIFTY_FUT, Product.NRML),
    (NIFTY_CE, Product.NRML),
    (SENSEX_PE, Product.MIS),
]

plans = st.sampled_from(PLANS)
cases = st.sampled_from(CASES)
sides = st.sampled_from([Side.BUY, Side.SELL])
days = st.dates(min_value=date(2024, 10, 1), max_value=date(2027, 12, 31))
prices = st.integers(min_value=5, max_value=5_000_000)
lots = st.integers(min_value=1, max_value=400)

FAST = settings(max_examples=150, deadline=None)


@FAST
@given(plans, cases, sides, lots, prices, days)
def test_components_are_non_negative_ints_summing_to_total(
    plan: BrokeragePlan,
    case: tuple[Instrument, Product],
    side: Side,
    n: int,
    price: int,
    day: date,
) -> None:
    inst, product = case
    got = ChargesModel(plan).for_fill(inst, side, product, n * inst.lot_size, price, day)
    values = [getattr(got, name) for name in COMPONENTS]
    assert all(type(v) is int for v in values)
    assert type(got.total) is int
    assert all(v >= 0 for v in values)
    assert got.total == sum(values)


@FAST
@given(plans, cases, sides, lots, lots, prices, prices, days)
def test_monotone_in_turnover(
    plan: BrokeragePlan,
    case: tuple[Instrument, Product],
    side: Side,
    n1: int,
    n2: int,
    p1: int,
    p2: int,
    day: date,
) -> None:
    inst, product = case
    small_qty, big_qty = sorted((n1 * inst.lot_size, n2 * inst.lot_size))
    small_px, big_px = sorted((p1, p2))
    m = ChargesModel(plan)
    small = m.estimate(inst, side, product, small_qty, small_px, day)
    big = m.estimate(inst, side, product, big_qty, big_px, day)
    for name in COMPONENTS:
        assert getattr(small, name) <= getattr(big, name), name
    assert small.total <= big.total


@FAST
@given(
    plans,
    cases,
    sides,
    st.lists(st.tuples(lots, prices), min_size=1, max_size=6),
    days,
)
def test_fills_of_an_order_sum_to_the_whole_order(
    plan: BrokeragePlan,
    case: tuple[Instrument, Product],
    side: Side,
    parts: list[tuple[int, int]],
    day: date,
) -> None:
    inst, product = case
    m = ChargesModel(plan)
    total = ChargeBreakdown()
    turnover = Fraction(0)
    for n, price in parts:
        qty = n * inst.lot_size
        inc = m.for_fill(inst, side, product, qty, price, day, order_id="ORD")
        assert all(v >= 0 for v in inc.components().values())
        total = total + inc
        turnover += qty * price
    fresh = ChargesModel(plan)
    segment = segment_of(inst, product)
    dp = plan.dp_charge_paise if segment is Segment.EQUITY_DELIVERY and side is Side.SELL else 0
    assert total == fresh.order_charges(inst, side, product, turnover, day, dp)


def test_no_float_in_module_source() -> None:
    import engine.charges as mod

    source = Path(mod.__file__).read_text(encoding="utf-8")
    assert "float(" not in source
