"""Tests of engine.ticks: NSE tick bands at and around every edge."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.models import InstrumentType
from engine.money import parse_price
from engine.ticks import (
    EQUITY_TICK_BANDS,
    NSE_TICK_RULES,
    TickBand,
    TickRuleError,
    TickRules,
    tick_for,
)

EQ = InstrumentType.EQUITY


def p(rupees: str) -> int:
    """Rupees to paise."""
    return parse_price(rupees)


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        ("0.01", "0.01"),
        ("249.99", "0.01"),
        ("250.00", "0.05"),
        ("250.05", "0.05"),
        ("999.95", "0.05"),
        ("1000.00", "0.10"),
        ("4999.90", "0.10"),
        ("5000.00", "0.50"),
        ("9999.50", "0.50"),
        ("10000.00", "1.00"),
        ("19999.00", "1.00"),
        ("20000.00", "5.00"),
        ("150000.00", "5.00"),
    ],
)
def test_equity_band_edges(price: str, tick: str) -> None:
    assert tick_for(EQ, p(price)) == p(tick)
    assert tick_for(InstrumentType.FUTSTK, p(price)) == p(tick)


def test_stock_futures_follow_their_underlying_when_given() -> None:
    assert tick_for(InstrumentType.FUTSTK, p("250.40"), underlying_price=p("249.90")) == 1
    assert tick_for(InstrumentType.FUTSTK, p("249.90"), underlying_price=p("250.00")) == 5


@pytest.mark.parametrize(
    ("level", "tick"),
    [
        ("9000.00", "0.05"),
        ("15000.00", "0.05"),
        ("15000.05", "0.10"),
        ("26050.15", "0.10"),
        ("30000.00", "0.10"),
        ("30000.10", "0.20"),
        ("59210.40", "0.20"),
    ],
)
def test_index_futures_band_edges(level: str, tick: str) -> None:
    assert tick_for(InstrumentType.FUTIDX, p(level)) == p(tick)
    # the index level decides when given, not the future's own price
    assert tick_for(InstrumentType.FUTIDX, p("1.00"), underlying_price=p(level)) == p(tick)


def test_index_options_are_five_paise_at_any_premium() -> None:
    for premium in ("0.05", "12.35", "999.95", "25000.00"):
        assert tick_for(InstrumentType.OPTIDX, p(premium)) == 5


@pytest.mark.parametrize(
    ("underlying", "tick"), [("100.00", 1), ("249.99", 1), ("250.00", 5), ("3000.00", 5)]
)
def test_stock_options_follow_the_underlying_price(underlying: str, tick: int) -> None:
    assert tick_for(InstrumentType.OPTSTK, p("3.15"), underlying_price=p(underlying)) == tick


def test_stock_options_need_the_underlying_price() -> None:
    with pytest.raises(TickRuleError, match="underlying_price"):
        tick_for(InstrumentType.OPTSTK, p("3.15"))


def test_index_values_step_by_one_paisa() -> None:
    assert tick_for(InstrumentType.INDEX, p("26050.15")) == 1


def test_other_scales_are_exact() -> None:
    assert tick_for(EQ, p("100.00") * 10**5, price_scale=10**7) == 100_000
    assert tick_for(InstrumentType.OPTIDX, 0, price_scale=10**7) == 500_000
    with pytest.raises(TickRuleError, match="decimals"):
        tick_for(EQ, 100, price_scale=10)  # 0.01 cannot be written at scale 10


@pytest.mark.parametrize(
    "kind", [InstrumentType.FUTCOM, InstrumentType.FUTCUR, InstrumentType.OPTCUR]
)
def test_no_rule_outside_nse_equity_and_fno(kind: InstrumentType) -> None:
    with pytest.raises(TickRuleError, match="instrument master"):
        tick_for(kind, 10_000)


def test_negative_price_is_rejected() -> None:
    with pytest.raises(TickRuleError, match="negative"):
        tick_for(EQ, -5)


def test_rules_are_overridable() -> None:
    # the research flags the top two equity bands (1.00 / 5.00 vs 10 / 50 in one article)
    bands = (
        *EQUITY_TICK_BANDS[:4],
        TickBand(Decimal("20000"), Decimal("10")),
        TickBand(None, Decimal("50")),
    )
    rules = TickRules(equity=bands)
    assert tick_for(EQ, p("20000.00"), rules=rules) == p("50.00")
    assert tick_for(EQ, p("12000.00"), rules=rules) == p("10.00")
    assert tick_for(EQ, p("500.00"), rules=rules) == 5
    assert tick_for(EQ, p("20000.00")) == p("5.00")  # the default is untouched


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ((), "empty"),
        ((TickBand(Decimal("10"), Decimal("0.01")),), "last band"),
        ((TickBand(None, Decimal("0.01")), TickBand(None, Decimal("0.05"))), "not the last"),
        (
            (
                TickBand(Decimal("500"), Decimal("0.01")),
                TickBand(Decimal("250"), Decimal("0.05")),
                TickBand(None, Decimal("0.10")),
            ),
            "increase",
        ),
        ((TickBand(None, Decimal("0")),), "must be > 0"),
    ],
)
def test_invalid_tables_are_rejected_with_the_reason(
    bands: tuple[TickBand, ...], message: str
) -> None:
    with pytest.raises(TickRuleError, match=message):
        TickRules(equity=bands)


def test_invalid_flat_ticks_are_rejected() -> None:
    with pytest.raises(TickRuleError, match="index_option"):
        TickRules(index_option=Decimal("0"))


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**7))
def test_equity_tick_is_monotone_in_price(price: int, more: int) -> None:
    low, high = tick_for(EQ, price), tick_for(EQ, price + more)
    assert low <= high
    assert low in {1, 5, 10, 50, 100, 500}


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**9))
def test_index_futures_tick_is_one_of_the_table(level: int) -> None:
    assert tick_for(InstrumentType.FUTIDX, level, rules=NSE_TICK_RULES) in {5, 10, 20}
