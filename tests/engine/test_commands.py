"""The command bar language: every command form, defaults, lots, errors, resolution, autocomplete,
and a round trip (random valid order -> text -> parse -> the same fields)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.alerts import AlertBook, AlertKind
from engine.brackets import BracketSpec, ExitKind, ExitLevel
from engine.commands import (
    AlertCommand,
    BracketCommand,
    CancelCommand,
    ChartCommand,
    Command,
    CommandError,
    CommandParser,
    ExitCommand,
    GttCommand,
    HelpCommand,
    KillCommand,
    OrderCommand,
    command_symbol,
    complete,
    help_lines,
    parse_command,
)
from engine.gtt import GttBook, GttKind, GttLeg
from engine.instruments import InstrumentIndex
from engine.intent import OrderIntent
from engine.models import (
    Exchange,
    Instrument,
    InstrumentType,
    Interval,
    OptionKind,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.money import format_price
from engine.paper_universe import build_paper_universe

TODAY = date(2026, 3, 10)
UNIVERSE = build_paper_universe(TODAY)
NEAR = UNIVERSE.near_expiry  # 2026-03-30


def _extra() -> list[Instrument]:
    def fut(token: str, name: str, expiry: date, lot: int = 65) -> Instrument:
        symbol = f"{name}{expiry.strftime('%d%b%y').upper()}FUT"
        return Instrument(
            token, Exchange.NFO, symbol, name, InstrumentType.FUTIDX, lot, 10, 100, expiry
        )

    def opt(token: str, strike: int, kind: OptionKind, expiry: date) -> Instrument:
        symbol = f"NIFTY{expiry.strftime('%d%b%y').upper()}{strike}{kind.value}"
        return Instrument(
            token, Exchange.NFO, symbol, "NIFTY", InstrumentType.OPTIDX, 65, 5, 100, expiry,
            strike=strike * 100, option_kind=kind,
        )

    apr, may = date(2026, 4, 28), date(2026, 5, 26)
    return [
        Instrument("1624", Exchange.NSE, "IOC-EQ", "INDIAN OIL CORP LTD", InstrumentType.EQUITY,
                   tick_size=1),
        Instrument("500112", Exchange.BSE, "SBIN", "STATE BANK OF INDIA", InstrumentType.EQUITY),
        fut("70001", "NIFTY", may),
        fut("70002", "NIFTY", apr),
        fut("70003", "NIFTYNXT50", NEAR, 25),
        opt("71001", 24500, OptionKind.CE, NEAR),
        opt("71002", 24500, OptionKind.PE, NEAR),
        opt("71003", 24500, OptionKind.CE, apr),
        opt("71004", 24600, OptionKind.CE, NEAR),
    ]


EXTRA = _extra()
INDEX = InstrumentIndex([*UNIVERSE.instruments, *EXTRA])
LTP = {
    **UNIVERSE.start_prices,
    "3045": 81200,  # SBIN 812.00
    "1624": 13000,
    "500112": 81200,
    "70001": 2_460_000,
    "70002": 2_455_000,
    "70003": 6_500_000,
    "71001": 20_000,
    "71002": 18_000,
    "71003": 30_000,
    "71004": 15_000,
}


def ltp_of(token: str) -> int:
    return LTP[token]


def no_ltp(token: str) -> int:
    raise KeyError(token)


def parse(text: str, ltp: object = ltp_of) -> Command | CommandError:
    return parse_command(text, INDEX, ltp_of=ltp)  # type: ignore[arg-type]


def ok(text: str) -> Command:
    result = parse(text)
    assert not isinstance(result, CommandError), f"{text!r}: {result}"
    return result


def order(text: str) -> OrderCommand:
    result = ok(text)
    assert isinstance(result, OrderCommand)
    OrderIntent(**result.intent_fields)  # always a valid intent
    return result


def err(text: str, ltp: object = ltp_of) -> CommandError:
    result = parse(text, ltp)
    assert isinstance(result, CommandError), f"{text!r} parsed: {result}"
    assert result.message and result.example
    return result


def inst(exchange: str, symbol: str) -> Instrument:
    found = INDEX.get(exchange, symbol)
    assert found is not None
    return found


SBIN = inst("NSE", "SBIN-EQ")
NIFTY_FUT = next(i for i in UNIVERSE.instruments if i.symbol == "NIFTY30MAR26FUT")
BANKNIFTY_FUT = next(i for i in UNIVERSE.instruments if i.symbol == "BANKNIFTY30MAR26FUT")


# ------------------------------------------------------------------------------- orders


def test_buy_limit_mis() -> None:
    cmd = order("buy SBIN 10 limit 812.50 mis")
    assert cmd.instrument == SBIN
    assert cmd.intent_fields == {
        "token": "3045",
        "side": Side.BUY,
        "qty": 10,
        "order_type": OrderType.LIMIT,
        "product": Product.MIS,
        "validity": Validity.DAY,
        "price": 81250,
        "trigger_price": 0,
        "disclosed_qty": 0,
    }
    assert cmd.lots is None and not cmd.price_from_ltp
    assert cmd.summary == "BUY 10 SBIN, LIMIT 812.50, MIS DAY, value ~ Rs 8,125.00"
    intent = cmd.intent(client_order_id="abc123")
    assert intent.client_order_id == "abc123" and intent.price == 81250


def test_sell_future_in_lots_at_market_defaults_to_nrml() -> None:
    cmd = order("sell NIFTY FUT 1 lot market")
    assert cmd.instrument == NIFTY_FUT  # the near month among three NIFTY futures
    fields = cmd.intent_fields
    assert (fields["side"], fields["qty"], fields["order_type"]) == (
        Side.SELL, 65, OrderType.MARKET,
    )
    assert fields["product"] is Product.NRML
    assert (fields["price"], fields["trigger_price"]) == (0, 0)
    assert cmd.lots == 1
    assert cmd.summary == "SELL 1 lot (65) NIFTY30MAR26FUT, MARKET, NRML DAY"


def test_short_verbs_at_sign_and_cnc() -> None:
    cmd = order("b RELIANCE 5 @ 2900 cnc")
    assert cmd.instrument.symbol == "RELIANCE-EQ"
    assert cmd.intent_fields["side"] is Side.BUY
    assert cmd.intent_fields["price"] == 290000
    assert cmd.intent_fields["product"] is Product.CNC
    assert order("b RELIANCE 5 @2900").intent_fields["price"] == 290000


def test_stop_limit_and_stop_market() -> None:
    sl = order("s INFY 10 sl 1490 trigger 1495").intent_fields
    assert (sl["side"], sl["order_type"], sl["price"], sl["trigger_price"]) == (
        Side.SELL, OrderType.SL, 149000, 149500,
    )
    slm = order("buy TCS 1 slm trigger 4100").intent_fields
    assert (slm["order_type"], slm["price"], slm["trigger_price"]) == (OrderType.SL_M, 0, 410000)
    assert order("buy TCS 1 sl-m 4100").intent_fields == slm
    # a trigger with a price is an SL, a trigger alone an SL-M
    assert order("s INFY 10 limit 1490 trigger 1495").intent_fields == sl
    assert order("buy TCS 1 trigger 4100").intent_fields == slm


def test_validity_disclosed_and_flexible_order() -> None:
    a = order("buy SBIN 10 limit 812.50 ioc disclosed 5 mis").intent_fields
    b = order("BUY sbin MIS Disclosed 5 IOC 10 Limit 812.5").intent_fields
    c = order("buy 10 SBIN @ 812.50 dq 5 intraday ioc").intent_fields
    assert a == b == c
    assert (a["validity"], a["disclosed_qty"]) == (Validity.IOC, 5)
    assert order("buy SBIN 10 812.50 day").intent_fields["price"] == 81250  # bare second number


def test_defaults_cnc_for_equity_limit_at_ltp() -> None:
    cmd = order("buy SBIN 10")
    assert cmd.intent_fields["product"] is Product.CNC
    assert cmd.intent_fields["order_type"] is OrderType.LIMIT
    assert cmd.intent_fields["price"] == 81200
    assert cmd.intent_fields["validity"] is Validity.DAY
    assert cmd.price_from_ltp
    assert "LIMIT 812.00 (the LTP)" in cmd.summary
    assert order("buy SBIN 10 limit").intent_fields["price"] == 81200


def test_ltp_default_snaps_to_the_tick() -> None:
    odd = dict(LTP, **{"3045": 81203})
    cmd = parse_command("buy SBIN 10", INDEX, ltp_of=odd.__getitem__)
    assert isinstance(cmd, OrderCommand)
    assert cmd.intent_fields["price"] == 81205


def test_lots_and_units() -> None:
    assert order("buy NIFTY FUT 2 lots market").intent_fields["qty"] == 130
    assert order("buy NIFTY FUT 2lots market").intent_fields["qty"] == 130
    assert order("buy NIFTY FUT 130 market").intent_fields["qty"] == 130
    assert order("buy NIFTY FUT 130 market").lots is None
    assert order("buy BANKNIFTY FUT 1 lot market").intent_fields["qty"] == 30
    assert order("buy SBIN 3 lots").intent_fields["qty"] == 3  # equity: a lot is one share
    assert order("buy SBIN 3 lots").lots is None
    assert order("buy NIFTY FUT qty 65 market").intent_fields["qty"] == 65


def test_mis_for_futures() -> None:
    assert order("buy NIFTY FUT 1 lot market mis").intent_fields["product"] is Product.MIS
    assert order("buy NIFTY FUT 1 lot market nrml").intent_fields["product"] is Product.NRML


def test_price_scale_and_tick_of_the_instrument() -> None:
    assert order("buy NIFTY FUT 1 lot limit 24100.10").intent_fields["price"] == 2410010
    e = err("buy NIFTY FUT 1 lot limit 24100.05")
    assert e.message == (
        "24100.05 is not a multiple of the tick 0.10 for NIFTY30MAR26FUT; try 24100.00 or 24100.10"
    )


# ------------------------------------------------------------------------------- instruments


def test_exact_symbol_first() -> None:
    assert order("buy SBIN 1").instrument == SBIN
    assert order("buy SBIN-EQ 1").instrument == SBIN
    assert order("buy sbin 1").instrument == SBIN
    assert order("buy BSE:SBIN 1").instrument.exchange is Exchange.BSE
    assert order("buy NSE:SBIN 1").instrument == SBIN
    assert order("buy NIFTY30MAR26FUT 1 lot market").instrument == NIFTY_FUT
    assert order("buy M&M 1").instrument.symbol == "M&M-EQ"
    assert order("buy BAJAJ-AUTO 1").instrument.symbol == "BAJAJ-AUTO-EQ"


def test_symbol_that_is_also_a_keyword() -> None:
    cmd = order("buy IOC 10 limit 130 ioc")
    assert cmd.instrument.symbol == "IOC-EQ"
    assert cmd.intent_fields["validity"] is Validity.IOC


def test_near_month_futures_and_other_months() -> None:
    assert order("buy BANKNIFTY FUT 1 lot market").instrument == BANKNIFTY_FUT
    assert order("buy nifty futures 1 lot market").instrument == NIFTY_FUT
    assert order("buy NIFTY APR FUT 1 lot market").instrument.symbol == "NIFTY28APR26FUT"
    assert order("buy NIFTYNXT50 FUT 1 lot market").instrument.token == "70003"


def test_options_by_strike_and_side() -> None:
    cmd = order("buy NIFTY 24500 CE 1 lot limit 200")
    assert cmd.instrument.token == "71001"  # the nearest expiry of that strike
    assert order("buy NIFTY 24500 PE 1 lot market").instrument.token == "71002"
    assert order("buy NIFTY30MAR2624600CE 1 lot market").instrument.token == "71004"
    e = err("buy NIFTY CE 1 lot market")
    assert "names several options; add the strike" in e.message
    assert {i.token for i in e.candidates} >= {"71001", "71004"}


def test_fuzzy_fallback_names_what_it_matched() -> None:
    cmd = order("buy relinace 10 limit 1400")
    assert cmd.instrument.symbol == "RELIANCE-EQ"
    assert cmd.summary.endswith("(relinace matched RELIANCE)")


def test_index_for_charts_and_alerts_but_not_for_orders() -> None:
    chart = ok("chart NIFTY")
    assert isinstance(chart, ChartCommand)
    assert chart.instrument.instrument_type is InstrumentType.INDEX
    assert chart.interval is None
    bank = ok("chart nifty bank 15m")
    assert isinstance(bank, ChartCommand)
    assert bank.instrument.name == "BANKNIFTY" and bank.interval is Interval.M15
    e = err("buy NIFTY 1 lot")
    assert e.message == "NIFTY is an index and cannot be traded; trade its future instead"
    assert e.example == "buy NIFTY FUT 1 lot"


def test_ambiguity_lists_candidates() -> None:
    e = err("buy HDF 10")
    assert e.message.startswith("'HDF' could mean HDFCBANK, HDFCLIFE")
    assert e.message.endswith("; write the one you mean")
    assert [i.symbol for i in e.candidates[:2]] == ["HDFCBANK-EQ", "HDFCLIFE-EQ"]
    assert e.example == "buy HDFCBANK 10"
    assert "Example: buy HDFCBANK 10" in e.text and str(e) == e.text


@pytest.mark.parametrize("instrument", [*UNIVERSE.instruments, *EXTRA], ids=lambda i: i.symbol)
def test_command_symbol_resolves_back(instrument: Instrument) -> None:
    result = ok(f"chart {command_symbol(instrument)}")
    assert isinstance(result, ChartCommand)
    assert result.instrument == instrument


# ------------------------------------------------------------------------------- gtt


def test_gtt_single() -> None:
    cmd = ok("gtt SBIN sell 10 trigger 850 limit 849")
    assert isinstance(cmd, GttCommand)
    assert cmd.kind is GttKind.SINGLE
    assert cmd.legs == (GttLeg(85000, 84900, Side.SELL, 10, Product.CNC),)
    assert cmd.ltp == 81200
    assert cmd.summary == (
        "GTT SINGLE SBIN CNC, LTP 812.00; when LTP rises to 850.00: SELL 10 LIMIT 849.00"
    )
    rule = GttBook().create(cmd.instrument.token, cmd.kind, cmd.legs, cmd.ltp, 1, SBIN.tick_size)
    assert rule.fires_on_rise(0)
    assert ok("gtt sell SBIN 10 trigger 850 @ 849") == cmd


def test_gtt_oco_legs_in_price_order() -> None:
    cmd = ok("gtt SBIN sell 10 oco trigger 850 limit 849 trigger 780 limit 779")
    assert isinstance(cmd, GttCommand)
    assert cmd.kind is GttKind.OCO
    assert [(leg.trigger, leg.limit) for leg in cmd.legs] == [(78000, 77900), (85000, 84900)]
    assert "falls to 780.00" in cmd.summary and "rises to 850.00" in cmd.summary
    assert ok("gtt SBIN sell 10 trigger 780 limit 779 trigger 850 limit 849") == cmd
    GttBook().create(SBIN.token, cmd.kind, cmd.legs, cmd.ltp, 1, SBIN.tick_size)


def test_gtt_futures_use_nrml_and_lots() -> None:
    cmd = ok("gtt NIFTY FUT buy 1 lot trigger 24000 limit 24010")
    assert isinstance(cmd, GttCommand)
    assert cmd.legs[0].product is Product.NRML and cmd.legs[0].qty == 65
    assert "(1 lot)" in cmd.summary


# ------------------------------------------------------------------------------- bracket


def test_bracket_prices_and_trail() -> None:
    cmd = ok("bracket SBIN buy 10 limit 812 sl 805 target 830 trail 2")
    assert isinstance(cmd, BracketCommand)
    spec = cmd.spec()
    assert spec == BracketSpec(
        token="3045",
        side=Side.BUY,
        qty=10,
        tick=5,
        stop=ExitLevel.price(80500),
        target=ExitLevel.price(83000),
        entry_type=OrderType.LIMIT,
        entry_price=81200,
        product=Product.MIS,
        trail_step=200,
    )
    assert cmd.summary == (
        "Bracket BUY 10 SBIN LIMIT 812.00, sl 805.00, target 830.00, trail 2.00, MIS"
    )


def test_bracket_level_forms_market_entry_and_time_exit() -> None:
    cmd = ok("bracket SBIN buy 10 market sl 1% target 5pts exit 30m cnc")
    assert isinstance(cmd, BracketCommand)
    spec = cmd.spec()
    assert spec.entry_type is OrderType.MARKET and spec.entry_price is None
    assert spec.stop == ExitLevel.percent("1")
    assert spec.target == ExitLevel.points(500)
    assert spec.time_exit_minutes == 30
    assert spec.product is Product.CNC
    spaced = ok("bracket buy SBIN 10 market sl 1 % target 5 pts exit 30 cnc")
    assert isinstance(spaced, BracketCommand) and spaced.spec() == spec
    atr = ok("bracket SBIN sell 10 @ 812 sl 1.5atr tgt 2 atr time 1h")
    assert isinstance(atr, BracketCommand)
    assert atr.spec().stop == ExitLevel(ExitKind.ATR, Decimal("1.5"))
    assert atr.spec().target == ExitLevel.atr(2)
    assert atr.spec().time_exit_minutes == 60
    assert ok("bracket SBIN buy 10 812 sl 805").spec().entry_price == 81200  # type: ignore[union-attr]
    for trail in ("trail 2pts", "trail 2 pts", "trail 2.00 points"):
        cmd = ok(f"bracket SBIN buy 10 limit 812 sl 805 {trail}")
        assert isinstance(cmd, BracketCommand) and cmd.spec().trail_step == 200, trail


def test_bracket_defaults_to_ltp_entry_and_lots_for_futures() -> None:
    cmd = ok("bracket NIFTY FUT buy 1 lot sl 50pts target 100pts")
    assert isinstance(cmd, BracketCommand)
    spec = cmd.spec()
    assert spec.entry_price == LTP[NIFTY_FUT.token] and spec.qty == 65
    assert spec.product is Product.MIS
    assert "(the LTP)" in cmd.summary


# ------------------------------------------------------------------------------- the rest


def test_cancel_forms() -> None:
    assert ok("cancel all") == CancelCommand(summary="Cancel every open order")
    some = ok("cancel all SBIN")
    assert isinstance(some, CancelCommand) and some.instrument == SBIN and not some.is_all
    one = ok("cancel P0177000000000000001")
    assert isinstance(one, CancelCommand)
    assert one.order_id == "P0177000000000000001" and one.instrument is None
    assert isinstance(ok("cancel all"), CancelCommand) and ok("cancel all").is_all  # type: ignore[union-attr]


def test_exit_chart_kill_help() -> None:
    assert ok("exit all") == ExitCommand(
        None, "Square off every open position at market (after review)"
    )
    one = ok("exit SBIN")
    assert isinstance(one, ExitCommand) and one.instrument == SBIN
    assert ok("cancel all NIFTY FUT") == CancelCommand(
        NIFTY_FUT, None, "Cancel every open order of NIFTY30MAR26FUT"
    )
    fut = ok("exit NIFTY FUT")
    assert isinstance(fut, ExitCommand) and fut.instrument == NIFTY_FUT
    chart = ok("chart RELIANCE 5m")
    assert isinstance(chart, ChartCommand) and chart.interval is Interval.M5
    assert chart.instrument.symbol == "RELIANCE-EQ"
    assert ok("chart SBIN 1d").interval is Interval.D1  # type: ignore[union-attr]
    assert ok("chart SBIN 60m").interval is Interval.H1  # type: ignore[union-attr]
    assert isinstance(ok("kill"), KillCommand)
    assert isinstance(ok("KILL switch"), KillCommand)
    h = ok("help")
    assert isinstance(h, HelpCommand) and h.topic is None and h.lines == tuple(help_lines())
    assert ok("?") == h
    g = ok("help gtt")
    assert isinstance(g, HelpCommand) and g.topic == "gtt" and any("oco" in x for x in g.lines)
    assert ok("help b") == HelpCommand("buy", tuple(help_lines("buy")))


def test_alert_forms() -> None:
    above = ok("alert SBIN above 820")
    assert isinstance(above, AlertCommand)
    assert (above.kind, above.level, above.pct, above.repeat, above.ltp) == (
        AlertKind.ABOVE, 82000, None, False, 81200,
    )
    assert above.summary == "Alert when SBIN rises to 820.00, once"
    below = ok("alert SBIN below 790")
    assert isinstance(below, AlertCommand) and below.kind is AlertKind.BELOW
    cross = ok("alert SBIN cross 800 repeat")
    assert isinstance(cross, AlertCommand) and cross.kind is AlertKind.CROSS and cross.repeat
    move = ok("alert NIFTY move 1% note Budget Day: watch")
    assert isinstance(move, AlertCommand)
    assert move.kind is AlertKind.MOVE_PCT and move.pct == Decimal("1")
    assert move.note == "Budget Day: watch"
    assert move.instrument.instrument_type is InstrumentType.INDEX
    assert ok("alert SBIN > 820.03") == replace(  # a level need not be on the tick
        above, level=82003, summary="Alert when SBIN rises to 820.03, once"
    )
    # the command makes a rule the book accepts
    book = AlertBook()
    book.add(above.rule("al-1"), above.ltp)
    assert [f.rule.id for f in book.on_quote(SBIN.token, 82000, 0, 1)] == ["al-1"]
    assert ok("alert NIFTY change 0.5 %").pct == Decimal("0.5")  # type: ignore[union-attr]


# ------------------------------------------------------------------------------- errors

# (command, expected message (or its start))
ERRORS: list[tuple[str, str]] = [
    ("", "the command is empty"),
    ("foo SBIN", "unknown command 'foo'; start with one of: buy, sell, gtt"),
    ("buy", "which instrument? 'buy' needs a symbol"),
    ("buy 10", "which instrument? 'buy' needs a symbol"),
    ("buy SBIN", "how many? give a quantity after SBIN"),
    ("buy SBIN 10 limit 812.53",
     "812.53 is not a multiple of the tick 0.05 for SBIN; try 812.50 or 812.55"),
    ("buy SBIN 10 limit abc", "limit price: write 'abc' as digits, such as 812.50"),
    ("buy SBIN 10 limit 81O", "limit price: write '81O' as digits"),
    ("buy SBIN 10 @ 812.123", "'@': '812.123' has more than 2 decimals"),
    ("buy SBIN 10 limit 0", "limit price must be above zero"),
    ("buy SBIN 10 limit 1e3", "limit price: write '1e3' as digits, such as 812.50"),
    ("buy SBIN 10 limit -5", "limit price: write '-5' as digits, such as 812.50"),
    ("buy SBIN 10 @", "'@' needs a price after it"),
    ("buy NIFTY 1 lot", "NIFTY is an index and cannot be traded"),
    ("buy HDF 10", "'HDF' could mean HDFCBANK"),
    ("buy QQQQQQ 10", "no instrument matches 'QQQQQQ'"),
    ("buy SBIN foo 10", "did not understand 'foo' after SBIN"),
    ("buy SBIN 10 foo", "did not understand 'foo'"),
    ("buy SBIN 10 20 30", "did not understand the number '30' here"),
    ("buy SBIN 10.5", "quantity '10.5' must be a whole number"),
    ("buy SBIN 1,000", "quantity '1,000' must be a whole number (digits only)"),
    ("buy SBIN 0", "quantity must be at least 1"),
    ("buy SBIN 10 lots lots", "'lots' needs a number before it"),
    ("buy SBIN 10 qty 5", "the quantity is given twice (10 and 5)"),
    ("buy NIFTY FUT 70 market",
     "70 is not a whole number of lots for NIFTY30MAR26FUT (lot size 65); use 65 or 130"),
    ("buy NIFTY FUT 20 market", "20 is not a whole number of lots"),
    ("buy SBIN 10 cnc mis", "product is given twice"),
    ("buy SBIN 10 day ioc", "validity is given twice"),
    ("buy SBIN 10 fok", "FOK is not offered by Indian brokers"),
    ("buy SBIN 10 @ 812 market", "two order types: LIMIT and MARKET"),
    ("buy SBIN 10 market 812", "did not understand the number '812' here"),
    ("buy SBIN 10 market trigger 800", "a MARKET order takes no trigger"),
    ("buy SBIN 10 limit 812 limit 813", "the price is given twice"),
    ("buy SBIN 10 trigger 800 trigger 801", "the trigger is given twice"),
    ("sell INFY 10 sl 1490", "an SL (stop-limit) order needs a limit price and a trigger"),
    ("buy TCS 1 slm", "an SL-M order needs a trigger"),
    ("buy TCS 1 slm trigger 4100 limit 4101", "an SL-M order has no limit price"),
    ("buy TCS 1 limit 4101 slm trigger 4100", "two order types: LIMIT and SL-M"),
    ("buy SBIN 10 sl 800 trigger 805",
     "a buy SL needs the trigger at or below the limit (trigger 805.00 > limit 800.00)"),
    ("sell SBIN 10 sl 805 trigger 800",
     "a sell SL needs the trigger at or above the limit (trigger 800.00 < limit 805.00)"),
    ("buy NIFTY FUT 1 lot market cnc", "CNC is for equity delivery"),
    ("buy SBIN 10 market nrml", "NRML is for F&O; SBIN is equity"),
    ("buy SBIN 10 disclosed 20", "the disclosed quantity 20 is more than the order quantity 10"),
    ("buy SBIN 10 disclosed x", "disclosed qty must be a whole number (got 'x')"),
    ("buy SBIN 10 sell", "the command is a buy but also says 'sell'"),
    ("buy XYZ:SBIN 10", "unknown exchange 'XYZ'"),
    ("buy BSE:NOPE 10", "no instrument 'NOPE' on BSE"),
    ("buy QQQQQ FUT 1 lot", "no future matches 'QQQQQ FUT'"),
    ("buy NIFTY CE 1 lot market", "'NIFTY CE' names several options; add the strike"),
    ("gtt SBIN 10 trigger 850 limit 849", "a GTT needs a side: buy or sell"),
    ("gtt SBIN sell 10 trigger 850", "a GTT needs one trigger and one limit price (got 1 and 0)"),
    ("gtt SBIN sell 10 oco trigger 780 limit 779",
     "an OCO GTT needs two triggers and two limit prices (got 1 and 1)"),
    ("gtt SBIN sell 10 trigger 812 limit 811", "trigger 812.00 equals the LTP"),
    ("gtt SBIN sell 10 oco trigger 780 limit 779 trigger 800 limit 799",
     "an OCO GTT needs one trigger below the LTP 812.00 and one above it (got 780.00 and 800.00)"),
    ("gtt SBIN sell 10 trigger 850 limit 849 mis", "a GTT places CNC (equity) or NRML (F&O)"),
    ("gtt SBIN sell 10 market", "a GTT always places a LIMIT order"),
    ("gtt SBIN sell buy 10", "a GTT has one side"),
    ("gtt SBIN sell 10 trigger 850 limit 849 xyz", "did not understand 'xyz' in a GTT"),
    ("gtt SBIN sell 10 trigger 850.01 limit 849", "850.01 is not a multiple of the tick 0.05"),
    ("gtt SBIN sell 10 trigger 850 limit 849 nrml", "NRML is for F&O"),
    ("gtt SBIN sell 10 trigger 850 limit 849 cnc nrml", "the product is given twice"),
    ("bracket SBIN 10 limit 812 sl 805", "a bracket needs a side: buy or sell"),
    ("bracket SBIN buy 10 limit 812", "a bracket needs a stop-loss (sl), a target, or both"),
    ("bracket SBIN buy 10 limit 812 target 830 trail 2", "a trailing stop needs an sl"),
    ("bracket SBIN buy 10 limit 812 sl 815",
     "the sl 815.00 must be below the entry 812.00 for a buy bracket"),
    ("bracket SBIN sell 10 limit 812 sl 805",
     "the sl 805.00 must be above the entry 812.00 for a sell bracket"),
    ("bracket SBIN buy 10 limit 812 target 800",
     "the target 800.00 must be above the entry 812.00 for a buy bracket"),
    ("bracket SBIN buy 10 limit 812 sl abc", "sl 'abc' is not a level"),
    ("bracket SBIN buy 10 limit 812 sl", "sl needs a level"),
    ("bracket SBIN buy 10 limit 812 sl 150%", "sl 150%: a percent must be between 0 and 100"),
    ("bracket SBIN buy 10 limit 812 sl 0atr", "sl 0atr: an ATR multiple must be above 0"),
    ("bracket SBIN buy 10 limit 812 sl 805 exit soon", "a time exit is minutes or hours"),
    ("bracket SBIN buy 10 limit 812 sl 805 exit 0m", "a time exit must be at least 1 minute"),
    ("bracket SBIN buy 10 limit 812 sl 805 sl 806", "the stop-loss is given twice"),
    ("bracket SBIN buy 10 limit 812 target 830 target 831", "the target is given twice"),
    ("bracket SBIN buy 10 limit 812 market sl 805", "the entry is given twice"),
    ("bracket SBIN buy 10 limit 812 sl 0.03pts", "0.03 is not a multiple of the tick 0.05"),
    ("bracket SBIN buy 10 limit 812 sl 805 trail 0.03",
     "0.03 is not a multiple of the tick 0.05"),
    ("bracket SBIN buy 10 limit 812 sl 805 trail 2 trail 3", "the trail is given twice"),
    ("bracket SBIN buy 10 limit 812 sl 805 mis cnc", "the product is given twice"),
    ("bracket SBIN buy 10 limit 812 sl 805 ioc", "did not understand 'ioc' in a bracket"),
    ("bracket SBIN buy 10 20 30 sl 805", "did not understand the number '30' here"),
    ("bracket SBIN buy sell 10 sl 805", "a bracket has one side"),
    ("cancel", "cancel what? all, all SYMBOL, or an order id"),
    ("cancel SBIN", "'SBIN' is a symbol, not an order id"),
    ("cancel 123 456", "cancel takes one order id"),
    ("cancel a$b", "'a$b' is not an order id"),
    ("cancel all NIFTY", "NIFTY is an index and cannot be traded"),
    ("exit", "exit what? a symbol, or all"),
    ("exit SBIN 10", "did not understand '10' after the symbol"),
    ("exit all SBIN", "'exit all' takes nothing more (got 'SBIN')"),
    ("cancel all SBIN 10", "did not understand '10' after the symbol"),
    ("chart SBIN 7m", "'7m' is not a chart interval; use one of 1m, 3m, 5m, 15m, 1h, 1d"),
    ("chart SBIN 5m 1h", "the interval is given twice"),
    ("chart", "which instrument? 'chart' needs a symbol"),
    ("alert SBIN", "an alert needs a condition"),
    ("alert SBIN above 820 below 790", "an alert has one condition"),
    ("alert SBIN above 800",
     "SBIN is at 812.00, already at or above 800.00: an 'above' alert fires when the price "
     "rises to the level"),
    ("alert SBIN below 820", "SBIN is at 812.00, already at or below 820.00"),
    ("alert SBIN move 0%", "a move alert needs a percentage between 0 and 100"),
    ("alert SBIN move 150", "a move alert needs a percentage between 0 and 100"),
    ("alert SBIN move abc", "'abc' is not a percentage"),
    ("alert SBIN move", "move needs a percentage"),
    ("alert SBIN above", "'above' needs a price after it"),
    ("alert SBIN wobble 5", "did not understand 'wobble' after SBIN"),
    ("alert SBIN above 820 wobble", "did not understand 'wobble' in an alert"),
    ("buy SBIN 10 limit 812 sl trigger 811 x", "did not understand 'x'"),
    ("buy SBIN 10 sl abc trigger 811", "SL limit price: write 'abc' as digits"),
    ("buy SBIN 10 limit 8.1.2", "limit price: '8.1.2' is not a price"),
    ("kill now", "'kill' takes nothing more (got 'now')"),
    ("help foo", "no help on 'foo'"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[t or "<empty>" for t, _ in ERRORS])
def test_error_messages_and_their_examples_work(text: str, message: str) -> None:
    e = err(text)
    assert e.message.startswith(message), e.message
    assert e.text == f"{e.message}. Example: {e.example}"
    if "<" not in e.example:  # a template only where a price must come from the trader
        assert not isinstance(parse(e.example), CommandError), (e.example, parse(e.example))


def test_tick_error_example_is_the_command_fixed() -> None:
    e = err("buy SBIN 10 limit 812.53 mis")
    assert e.message == "812.53 is not a multiple of the tick 0.05 for SBIN; try 812.50 or 812.55"
    assert e.example == "buy SBIN 10 limit 812.50 mis"


def test_errors_without_an_ltp() -> None:
    e = err("buy SBIN 10", no_ltp)
    assert e.message == "no price for SBIN yet; give a limit price or say market"
    assert e.example == "buy SBIN 10 limit <price>"
    assert "a GTT needs the LTP" in err("gtt SBIN sell 10 trigger 850 limit 849", no_ltp).message
    assert "give the entry" in err("bracket SBIN buy 10 sl 805", no_ltp).message
    # with a price given nothing needs the LTP
    assert isinstance(parse("buy SBIN 10 limit 812", no_ltp), OrderCommand)
    assert isinstance(parse("bracket SBIN buy 10 market sl 1%", no_ltp), BracketCommand)
    alert = parse("alert SBIN above 800", no_ltp)
    assert isinstance(alert, AlertCommand) and alert.ltp is None
    zero = parse_command("buy SBIN 10", INDEX, ltp_of=lambda token: 0)
    assert isinstance(zero, CommandError) and "no price for SBIN" in zero.message


def test_parser_never_raises_on_junk() -> None:
    for text in ["@@@", "buy @", "buy SBIN @ @", "gtt", "bracket", "alert", "b b b", "? ? ?",
                 "buy SBIN 10 limit -5", "buy SBIN 10 limit 1e3", "buy SBIN 99999999999999999999",
                 "cancel all all", "chart :", "buy :SBIN 1", "buy NSE: 1", "alert SBIN note"]:
        result = parse(text)
        assert isinstance(result, (CommandError, Command))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parser_never_raises_on_random_text(text: str) -> None:
    result = parse(text)
    if isinstance(result, CommandError):
        assert result.message and result.example


# ------------------------------------------------------------------------------- autocomplete


def test_complete_verbs_symbols_and_keywords() -> None:
    assert complete("", INDEX) == [
        "buy", "sell", "gtt", "bracket", "alert", "chart", "cancel", "exit", "kill", "help",
    ]
    assert complete("b", INDEX) == ["buy", "bracket"]
    assert complete("buy SB", INDEX)[:2] == ["SBILIFE", "SBIN"]
    assert "SBIN30MAR26FUT" in complete("buy SB", INDEX)
    assert complete("buy relin", INDEX) == ["RELIANCE", "RELIANCE30MAR26FUT"]
    assert complete("buy relinace", INDEX)[0] == "RELIANCE"  # fuzzy when nothing starts so
    assert complete("buy SBIN ", INDEX)[:3] == ["limit", "@", "market"]
    assert complete("buy SBIN 10 ", INDEX)[:2] == ["lot", "lots"]
    assert complete("buy SBIN 10 m", INDEX) == ["market", "mis"]
    assert complete("buy NIFTY f", INDEX) == ["FUT"]
    assert complete("buy SBIN m", INDEX) == ["market", "mis"]
    assert complete("buy SBIN 10 mis l", INDEX) == ["limit"]  # lot needs a number before it
    assert "cnc" not in complete("buy SBIN 10 mis ", INDEX)  # one product only
    assert complete("buy SBIN 10 limit ", INDEX) == []  # a price comes next
    assert complete("gtt ", INDEX) == ["buy", "sell"]
    assert complete("gtt SBIN s", INDEX)[0] == "sell"
    assert complete("gtt SBIN sell 10 trigger 850 ", INDEX)[-2:] == ["trigger", "limit"]
    assert complete("bracket SBIN buy 10 t", INDEX) == ["target", "trail"]
    assert complete("chart SBIN ", INDEX) == ["1m", "3m", "5m", "15m", "1h", "1d"]
    assert complete("alert SBIN ", INDEX)[:4] == ["above", "below", "cross", "move"]
    assert complete("alert SBIN above 820 ", INDEX) == ["repeat", "note"]
    assert complete("exit ", INDEX) == ["all"]
    assert "SBIN" in complete("exit SB", INDEX)
    assert complete("cancel ", INDEX) == ["all"]
    assert "SBIN" in complete("cancel all SB", INDEX)
    assert complete("help g", INDEX) == ["gtt"]
    assert complete("kill ", INDEX) == []
    assert complete("zzz ", INDEX) == []
    parser = CommandParser(INDEX, ltp_of)
    assert parser.complete("cha") == ["chart"]


def test_completed_symbols_parse() -> None:
    for symbol in complete("chart N", INDEX):
        result = parse(f"chart {symbol}")
        assert isinstance(result, ChartCommand), symbol


# ------------------------------------------------------------------------------- round trip

TRADABLE = [i for i in UNIVERSE.instruments if i.tradable] + [EXTRA[0]]


@st.composite
def orders_as_text(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A random valid order, the text that asks for it, and the fields it must parse to."""
    inst = draw(st.sampled_from(TRADABLE))
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    derivative = inst.instrument_type.is_derivative
    lots = draw(st.integers(1, 20))
    in_lots = draw(st.booleans())
    qty = lots * inst.lot_size
    kind = draw(st.sampled_from(list(OrderType)))
    tick, scale = inst.tick_size, inst.price_scale
    base = LTP[inst.token] // tick
    price = trigger = 0
    if kind in (OrderType.LIMIT, OrderType.SL):
        price = draw(st.integers(max(1, base - 200), base + 200)) * tick
    if kind is OrderType.SL:
        gap = draw(st.integers(0, 20)) * tick
        trigger = price - gap if side is Side.BUY else price + gap
        if trigger <= 0:
            trigger = price
    if kind is OrderType.SL_M:
        trigger = draw(st.integers(max(1, base - 200), base + 200)) * tick
    product_word = draw(
        st.sampled_from(
            [None, "mis", "intraday"]
            + (["nrml", "normal"] if derivative else ["cnc", "delivery"])
        )
    )
    validity_word = draw(st.sampled_from([None, "day", "ioc"]))
    disclosed = draw(st.one_of(st.none(), st.integers(1, qty)))

    def p(units: int) -> str:
        text = format_price(units, scale)
        return draw(st.sampled_from([text, text.rstrip("0").rstrip(".") or "0"]))

    qty_text = (
        draw(st.sampled_from([f"{lots} lot" if lots == 1 else f"{lots} lots", f"{lots}lots"]))
        if in_lots
        else str(qty)
    )
    clauses: list[str] = []
    lead = qty_text
    if kind is OrderType.LIMIT:
        form = draw(st.sampled_from(["limit", "@", "lmt", "bare"]))
        if form == "bare":
            lead = f"{qty_text} {p(price)}"
        else:
            clauses.append(f"{form} {p(price)}")
    elif kind is OrderType.MARKET:
        clauses.append(draw(st.sampled_from(["market", "mkt"])))
    elif kind is OrderType.SL:
        sl_form = draw(st.integers(0, 2))
        if sl_form == 0:
            clauses.append(f"sl {p(price)} trigger {p(trigger)}")
        elif sl_form == 1:
            clauses += [f"trigger {p(trigger)}", f"limit {p(price)}"]
        else:
            clauses += [f"sl trig {p(trigger)}", f"@ {p(price)}"]
    else:
        slm_form = draw(st.integers(0, 2))
        clauses.append(
            [f"slm trigger {p(trigger)}", f"sl-m {p(trigger)}", f"trigger {p(trigger)}"][slm_form]
        )
    if product_word:
        clauses.append(product_word)
    if validity_word:
        clauses.append(validity_word)
    if disclosed is not None:
        clauses.append(f"{draw(st.sampled_from(['disclosed', 'dq']))} {disclosed}")
    order_of = draw(st.permutations(range(len(clauses) + 1)))
    everything = [lead, *clauses]
    pieces = [everything[i] for i in order_of]
    verb = draw(st.sampled_from(["buy", "b"] if side is Side.BUY else ["sell", "s"]))
    if derivative and inst.name in ("NIFTY", "BANKNIFTY") and draw(st.booleans()):
        symbol = f"{inst.name} FUT"
    else:
        symbol = command_symbol(inst)
    text = " ".join([verb, symbol, *pieces])
    if draw(st.booleans()):
        text = text.upper()
    default_product = Product.NRML if derivative else Product.CNC
    products = {"mis": Product.MIS, "intraday": Product.MIS, "nrml": Product.NRML,
                "normal": Product.NRML, "cnc": Product.CNC, "delivery": Product.CNC}
    expected: dict[str, object] = {
        "token": inst.token,
        "side": side,
        "qty": qty,
        "order_type": kind,
        "product": products[product_word] if product_word else default_product,
        "validity": Validity.IOC if validity_word == "ioc" else Validity.DAY,
        "price": price,
        "trigger_price": trigger,
        "disclosed_qty": disclosed or 0,
    }
    return text, expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders_as_text())
def test_round_trip_random_orders(case: tuple[str, dict[str, object]]) -> None:
    text, expected = case
    result = parse(text)
    assert isinstance(result, OrderCommand), (text, result)
    assert result.intent_fields == expected, text
    OrderIntent(**result.intent_fields)
