"""Tests of engine.instruments (lookups, ranked and fuzzy search, a 200k-row master) and of the
bundled paper universe (engine.paper_universe)."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import weekday_calendar
from engine.expiry import expiry_code, future_symbol, near_month_expiry
from engine.instruments import InstrumentIndex, _KeyIndex, normalize
from engine.models import Exchange, Instrument, InstrumentType, OptionKind
from engine.paper_universe import (
    PaperUniverse,
    PaperUniverseError,
    build_paper_universe,
    load_universe_data,
)
from engine.ticks import tick_for

EQ, IDX = InstrumentType.EQUITY, InstrumentType.INDEX
TODAY = date(2026, 11, 21)
E1, E2, E3 = date(2026, 11, 23), date(2026, 12, 29), date(2027, 1, 25)


def eq(
    token: str, symbol: str, name: str | None = None, exchange: Exchange = Exchange.NSE
) -> Instrument:
    base = symbol.rsplit("-", 1)[0]
    return Instrument(token, exchange, symbol, name or base, EQ)


def fut(
    token: str, name: str, expiry: date, kind: InstrumentType = InstrumentType.FUTSTK
) -> Instrument:
    return Instrument(token, Exchange.NFO, future_symbol(name, expiry), name, kind, expiry=expiry)


def opt(token: str, name: str, expiry: date, strike: int, kind: str) -> Instrument:
    symbol = f"{name}{expiry_code(expiry)}{strike}{kind}"
    return Instrument(
        token,
        Exchange.NFO,
        symbol,
        name,
        InstrumentType.OPTIDX,
        expiry=expiry,
        strike=strike * 100,
        option_kind=OptionKind(kind),
    )


@pytest.fixture(scope="module")
def small() -> InstrumentIndex:
    rows = [
        opt("900", "NIFTY", E1, 26000, "CE"),
        opt("901", "NIFTY", E1, 26000, "PE"),
        opt("902", "NIFTY", E2, 26000, "CE"),
        fut("800", "NIFTY", E3, InstrumentType.FUTIDX),
        fut("801", "NIFTY", E1, InstrumentType.FUTIDX),
        fut("802", "NIFTY", E2, InstrumentType.FUTIDX),
        fut("803", "SBIN", E2),
        fut("804", "SBIN", E1),
        fut("805", "RELIANCE", E1),
        Instrument("99926000", Exchange.NSE, "Nifty 50", "NIFTY", IDX),
        Instrument("99926009", Exchange.NSE, "Nifty Bank", "BANKNIFTY", IDX),
        eq("500112", "SBIN", exchange=Exchange.BSE),
        eq("3045", "SBIN-EQ"),
        eq("5097", "SBICARD-EQ"),
        eq("21808", "SBILIFE-EQ"),
        eq("2885", "RELIANCE-EQ"),
        eq("1333", "HDFCBANK-EQ"),
        eq("467", "HDFCLIFE-EQ"),
        eq("16669", "BAJAJ-AUTO-EQ"),
        eq("2031", "M&M-EQ"),
        eq("10604", "NIFTYBEES-EQ"),
        eq("3046", "SBIN-BE"),
    ]
    return InstrumentIndex(rows)


def symbols(found: list[Instrument]) -> list[str]:
    return [inst.symbol for inst in found]


# ---------------------------------------------------------------------------------------------
# Lookups


def test_lookups(small: InstrumentIndex) -> None:
    assert len(small) == 22
    sbin = small.by_token("3045")
    assert sbin is not None and sbin.symbol == "SBIN-EQ"
    assert small["3045"] is sbin
    assert "3045" in small and "nope" not in small
    assert small.by_token("nope") is None
    with pytest.raises(KeyError, match="no instrument with token 'nope'"):
        small["nope"]
    assert small.get(Exchange.NSE, "SBIN-EQ") is sbin
    assert small.get("NSE", "SBIN-EQ") is sbin
    assert small.get("nse", "sbin-eq") is sbin
    assert small.get("NSE", "SBIN") is sbin  # cash series suffix is optional
    assert small.get("NSE", "sbin") is sbin
    bse = small.get("BSE", "SBIN")
    assert bse is not None and bse.token == "500112"
    assert small.get("NFO", "SBIN") is None
    assert small.get("NSE", "NOPE") is None
    assert [inst.token for inst in small][:3] == ["900", "901", "902"]  # order given


def test_duplicates_and_token_collisions() -> None:
    a = eq("100", "AAA-EQ")
    index = InstrumentIndex([a, eq("999", "AAA-EQ"), eq("100", "BBB", exchange=Exchange.BSE)])
    assert index.duplicates == 1
    assert index.by_token("100") is a
    other = index.by_token("100", Exchange.BSE)
    assert other is not None and other.symbol == "BBB"
    assert index.by_token("100", "NSE") is a
    assert index.by_token("100", Exchange.MCX) is None
    assert index.by_token("999") is None


def test_same_symbol_on_two_exchanges() -> None:
    nse, bse = eq("1", "ABC"), eq("2", "ABC", exchange=Exchange.BSE)
    index = InstrumentIndex([nse, bse, eq("3", "ABC", exchange=Exchange.BSE)])
    assert index.duplicates == 1
    assert index.get("NSE", "ABC") is nse
    assert index.get("BSE", "abc") is bse
    assert index.get("MCX", "ABC") is None
    assert index.search("abc") == [nse, bse]


def test_empty_index() -> None:
    index = InstrumentIndex([])
    assert len(index) == 0
    assert index.search("sbin") == []
    assert index.by_token("1") is None


# ---------------------------------------------------------------------------------------------
# Ranking


def test_exact_symbol_first_then_cash_then_nearest_expiry(small: InstrumentIndex) -> None:
    assert symbols(small.search("sbin", 6)) == [
        "SBIN-EQ",  # exact cash symbol without its series, EQ series first
        "SBIN-BE",
        "SBIN",  # BSE after NSE
        "SBIN23NOV26FUT",  # exact underlying name: nearest expiry first
        "SBIN29DEC26FUT",
        "SBICARD-EQ",  # then fuzzy (SBIN -> SBIC..., one edit)
    ]


def test_prefix_ranks_cash_before_derivatives(small: InstrumentIndex) -> None:
    assert symbols(small.search("SBI", 5)) == [
        "SBICARD-EQ",
        "SBILIFE-EQ",
        "SBIN-EQ",
        "SBIN-BE",
        "SBIN",
    ]


def test_underlying_name_query(small: InstrumentIndex) -> None:
    assert symbols(small.search("nifty", 8)) == [
        "Nifty 50",  # index (exact name) before its derivatives
        "NIFTY23NOV26FUT",
        "NIFTY29DEC26FUT",
        "NIFTY25JAN27FUT",
        "NIFTY23NOV2626000CE",
        "NIFTY23NOV2626000PE",
        "NIFTY29DEC2626000CE",
        "NIFTYBEES-EQ",  # prefix match after the exact-name matches
    ]


def test_symbol_forms_are_interchangeable(small: InstrumentIndex) -> None:
    for query in ("SBIN-EQ", "sbin eq", "sbineq", "Sbin-Eq"):
        assert small.search(query, 1)[0].symbol == "SBIN-EQ"
    assert small.search("bajaj-auto", 1)[0].symbol == "BAJAJ-AUTO-EQ"
    assert small.search("bajaj auto", 1)[0].symbol == "BAJAJ-AUTO-EQ"
    assert small.search("m&m", 1)[0].symbol == "M&M-EQ"
    assert small.search("nifty 50", 1)[0].symbol == "Nifty 50"
    assert small.search("NIFTY23NOV26FUT", 1)[0].token == "801"


def test_words_mode_kinds_and_filters(small: InstrumentIndex) -> None:
    futures = small.search("NIFTY FUT")
    assert symbols(futures[:3]) == ["NIFTY23NOV26FUT", "NIFTY29DEC26FUT", "NIFTY25JAN27FUT"]
    assert all(inst.instrument_type is InstrumentType.FUTIDX for inst in futures[:3])
    assert all(not inst.instrument_type.is_option for inst in futures)  # fuzzy tail: no options
    assert symbols(small.search("nifty dec fut", 1)) == ["NIFTY29DEC26FUT"]
    assert symbols(small.search("fut sbin", 2)) == ["SBIN23NOV26FUT", "SBIN29DEC26FUT"]
    assert symbols(small.search("nifty 26000 pe", 1)) == ["NIFTY23NOV2626000PE"]
    assert symbols(small.search("nifty 26000 ce", 2)) == [
        "NIFTY23NOV2626000CE",
        "NIFTY29DEC2626000CE",
    ]
    assert symbols(small.search("reliance fut", 1)) == ["RELIANCE23NOV26FUT"]


def test_fuzzy_fallback(small: InstrumentIndex) -> None:
    assert small.search("relinace", 1)[0].symbol == "RELIANCE-EQ"
    assert symbols(small.search("relinace", 2)) == ["RELIANCE-EQ", "RELIANCE23NOV26FUT"]
    assert small.search("hdfc bnk", 1)[0].symbol == "HDFCBANK-EQ"
    assert small.search("hdfcbank", 1)[0].symbol == "HDFCBANK-EQ"
    assert small.search("rleiance", 1)[0].symbol == "RELIANCE-EQ"  # transposition
    assert small.search("reliamce", 1)[0].symbol == "RELIANCE-EQ"  # substitution
    assert small.search("niffty", 1)[0].symbol == "Nifty 50"
    assert small.search("xqzw") == []


def test_fuzzy_only_fills_what_prefix_left(small: InstrumentIndex) -> None:
    found = symbols(small.search("hdfc", 20))
    assert found[:2] == ["HDFCBANK-EQ", "HDFCLIFE-EQ"]
    assert len(found) == len(set(found))


def test_limits_and_empty_queries(small: InstrumentIndex) -> None:
    assert small.search("", 5) == []
    assert small.search("  - ", 5) == []
    assert small.search("sbin", 0) == []
    assert len(small.search("s", 3)) == 3
    # a limit above the per-block cache takes the exact slow path and agrees with the fast one
    assert symbols(small.search("n", 100))[:5] == symbols(small.search("n", 5))


def test_normalize() -> None:
    assert normalize("SBIN-EQ") == "SBINEQ"
    assert normalize("Nifty 50") == "NIFTY50"
    assert normalize("m&m") == "MM"
    assert normalize("NIFTY24NOV26FUT") == "NIFTY24NOV26FUT"
    assert normalize("Nestlé") == "NESTL"


# ---------------------------------------------------------------------------------------------
# The block index against brute force


def brute_best(postings: dict[str, list[int]], prefix: str, k: int) -> list[int]:
    ranks = {r for key, ranks in postings.items() if key.startswith(prefix) for r in ranks}
    return sorted(ranks)[:k]


def random_postings(rnd: random.Random, keys: int, alphabet: str) -> dict[str, list[int]]:
    postings: dict[str, list[int]] = {}
    for _ in range(keys):
        key = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 6)))
        size = rnd.choice([1, 1, 1, 2, 3, 80])
        postings[key] = sorted(set(postings.get(key, []) + rnd.sample(range(20_000), size)))
    return postings


def test_block_index_matches_brute_force() -> None:
    rnd = random.Random(20261121)
    for keys in (0, 1, 15, 17, 300, 5_000):
        postings = random_postings(rnd, keys, "ABCDE12")
        index = _KeyIndex(postings)
        for _ in range(60):
            prefix = "".join(rnd.choice("ABCDE12") for _ in range(rnd.randint(1, 3)))
            k = rnd.choice([1, 5, 20, 64, 100])
            assert index.best(prefix, k) == brute_best(postings, prefix, k), (keys, prefix, k)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text("ABC", min_size=1, max_size=4),
        st.lists(st.integers(0, 500), min_size=1, max_size=5, unique=True).map(sorted),
        max_size=400,
    ),
    st.text("ABC", min_size=1, max_size=3),
    st.integers(1, 70),
)
def test_block_index_property(postings: dict[str, list[int]], prefix: str, k: int) -> None:
    assert _KeyIndex(postings).best(prefix, k) == brute_best(postings, prefix, k)


# ---------------------------------------------------------------------------------------------
# A 200,000-row master


def generate_master(rows: int = 200_000, seed: int = 7) -> list[Instrument]:
    """A synthetic scrip master shaped like Angel One's (NSE/BSE cash, NFO ladders, MCX)."""
    rnd = random.Random(seed)
    bases: set[str] = set()
    while len(bases) < 11_600:
        bases.add("".join(rnd.choice(string.ascii_uppercase) for _ in range(rnd.randint(4, 10))))
    real = ["SBIN", "RELIANCE", "HDFCBANK", "INFY", "TCS", "ICICIBANK"]
    names = real + sorted(bases - set(real))
    out: list[Instrument] = []
    for n, base in enumerate(names[:5_700]):
        out.append(Instrument(str(100_000 + n), Exchange.NSE, f"{base}-EQ", base, EQ))
    for n, base in enumerate(names[:11_600]):
        out.append(Instrument(str(500_000 + n), Exchange.BSE, base, base, EQ))
    out.append(Instrument("99926000", Exchange.NSE, "Nifty 50", "NIFTY", IDX))
    underlyings = ["NIFTY", "BANKNIFTY", *names[:198]]
    expiries = [E1 + timedelta(days=7 * i) for i in range(8)]
    token = 1_000_000
    for name in underlyings:
        kind = InstrumentType.FUTIDX if "NIFTY" in name else InstrumentType.FUTSTK
        for expiry in expiries[:3]:
            out.append(fut(str(token), name, expiry, kind))
            token += 1
    target = rows - 14_000
    strike = 20_000
    while len(out) < target:
        for name in underlyings:
            for expiry in expiries:
                for side in ("CE", "PE"):
                    if len(out) < target:
                        out.append(opt(str(token), name, expiry, strike, side))
                        token += 1
        strike += 50
    while len(out) < rows:
        n = len(out)
        expiry = expiries[n % 8]
        out.append(
            Instrument(
                str(token),
                Exchange.MCX,
                f"COM{n % 300}{expiry_code(expiry)}X{n}FUT",
                f"COM{n % 300}",
                InstrumentType.FUTCOM,
                expiry=expiry,
            )
        )
        token += 1
    return out


@pytest.fixture(scope="module")
def big() -> tuple[list[Instrument], InstrumentIndex]:
    rows = generate_master()
    return rows, InstrumentIndex(rows)


@pytest.fixture(scope="module")
def big_keys(big: tuple[list[Instrument], InstrumentIndex]) -> list[tuple[Instrument, set[str]]]:
    return [(inst, keys_of(inst)) for inst in big[0]]


def test_big_master_lookups(big: tuple[list[Instrument], InstrumentIndex]) -> None:
    rows, index = big
    assert len(index) == 200_000
    assert index.duplicates == 0
    for inst in random.Random(1).sample(rows, 200):
        assert index.by_token(inst.token) is inst
        assert index.get(inst.exchange, inst.symbol) is inst


def documented_order(inst: Instrument) -> tuple[int, int, int, str, int, str]:
    """The order the search promises: cash, index, futures, options; nearest expiry; NSE first."""
    category = {EQ: 0, IDX: 1}.get(inst.instrument_type, 3 if inst.instrument_type.is_option else 2)
    exchange = [Exchange.NSE, Exchange.NFO, Exchange.BSE, Exchange.BFO, Exchange.MCX].index(
        inst.exchange
    )
    expiry = inst.expiry.toordinal() if inst.expiry else 0
    first = inst.symbol if category < 2 else inst.name
    first = first.removesuffix("-EQ") if category == 0 else first
    return (category, expiry, exchange, first, inst.strike or 0, inst.symbol)


def keys_of(inst: Instrument) -> set[str]:
    keys = {normalize(inst.symbol), normalize(inst.name)}
    if inst.instrument_type is EQ:
        keys.add(normalize(inst.symbol.rsplit("-", 1)[0]))
    return keys


@pytest.mark.parametrize("query", ["Q", "ZY", "SBI", "NIFTY2", "COM1", "BANKNIFTY23NOV26"])
def test_big_master_prefix_search_matches_brute_force(
    big: tuple[list[Instrument], InstrumentIndex],
    big_keys: list[tuple[Instrument, set[str]]],
    query: str,
) -> None:
    index = big[1]
    needle = normalize(query)
    exact = sorted((i for i, keys in big_keys if needle in keys), key=documented_order)
    prefix = sorted(
        (i for i, keys in big_keys if any(k.startswith(needle) for k in keys)),
        key=documented_order,
    )
    expected = list(dict.fromkeys(exact + prefix))[:20]
    assert len(expected) >= 10
    # when fewer than 20 match by prefix, fuzzy matches follow the prefix ones
    assert index.search(query)[: len(expected)] == expected


def test_big_master_searches(big: tuple[list[Instrument], InstrumentIndex]) -> None:
    _, index = big
    assert index.search("sbin")[:2] == [index.get("NSE", "SBIN-EQ"), index.get("BSE", "SBIN")]
    assert index.search("relinace")[0].symbol == "RELIANCE-EQ"
    assert index.search("hdfc bnk")[0].symbol == "HDFCBANK-EQ"
    futures = index.search("NIFTY FUT")
    assert [f.symbol for f in futures[:3]] == [
        "NIFTY23NOV26FUT",
        "NIFTY30NOV26FUT",
        "NIFTY07DEC26FUT",
    ]
    assert all(f.instrument_type is InstrumentType.FUTIDX for f in futures)
    nifty = index.search("nifty")
    assert nifty[0].symbol == "Nifty 50"
    assert nifty[1].symbol == "NIFTY23NOV26FUT"
    calls = index.search("banknifty 20500 ce", 5)
    assert [c.symbol for c in calls] == [
        f"BANKNIFTY{expiry_code(E1 + timedelta(days=7 * i))}20500CE" for i in range(5)
    ]


# ---------------------------------------------------------------------------------------------
# The bundled paper universe


@pytest.fixture(scope="module")
def universe() -> PaperUniverse:
    return build_paper_universe(TODAY)


def by_symbol(universe: PaperUniverse) -> dict[str, Instrument]:
    return {inst.symbol: inst for inst in universe.instruments}


def test_universe_holds_the_nifty_50_and_the_bank_index(universe: PaperUniverse) -> None:
    table = by_symbol(universe)
    nifty_weights = universe.index_weights["99926000"]
    bank_weights = universe.index_weights["99926009"]
    assert len(nifty_weights) == 50
    assert len(bank_weights) == 12
    assert sum(nifty_weights.values()) == 10_000
    assert sum(bank_weights.values()) == 10_000
    for symbol, token in {
        "SBIN-EQ": "3045",
        "RELIANCE-EQ": "2885",
        "HDFCBANK-EQ": "1333",
        "INFY-EQ": "1594",
        "TCS-EQ": "11536",
        "ICICIBANK-EQ": "4963",
    }.items():
        assert table[symbol].token == token
        assert token in nifty_weights
    assert table["Nifty 50"].token == "99926000"
    assert table["Nifty Bank"].token == "99926009"
    assert nifty_weights["1333"] > nifty_weights["3045"] > nifty_weights["3787"]
    tokens = [inst.token for inst in universe.instruments]
    assert len(tokens) == len(set(tokens))
    assert len(table) == len(universe.instruments)


def test_universe_equities_follow_the_tick_rule(universe: PaperUniverse) -> None:
    equities = [i for i in universe.instruments if i.instrument_type is EQ]
    assert len(equities) == 57
    ticks = set()
    for inst in equities:
        price = universe.start_prices[inst.token]
        assert inst.tick_size == tick_for(EQ, price)
        assert price % inst.tick_size == 0
        assert inst.lot_size == 1 and inst.exchange is Exchange.NSE
        assert inst.symbol.endswith("-EQ")
        ticks.add(inst.tick_size)
    assert ticks == {1, 5, 10, 50, 100}  # every band but the top one is exercised


def test_universe_futures(universe: PaperUniverse) -> None:
    table = by_symbol(universe)
    assert universe.near_expiry == E1
    nifty, bank = table["NIFTY23NOV26FUT"], table["BANKNIFTY23NOV26FUT"]
    assert (nifty.lot_size, nifty.freeze_qty, nifty.tick_size) == (65, 1800, 10)
    assert (bank.lot_size, bank.freeze_qty, bank.tick_size) == (30, 600, 20)
    assert nifty.instrument_type is InstrumentType.FUTIDX and nifty.exchange is Exchange.NFO
    assert universe.underlying_of[nifty.token] == "99926000"
    assert universe.underlying_of[bank.token] == "99926009"
    assert nifty.underlying == "99926000"
    futures = [i for i in universe.instruments if i.instrument_type.is_derivative]
    assert len(futures) == len(universe.underlying_of) == 8
    for inst in futures:
        assert inst.expiry == E1
        spot = universe.start_prices[universe.underlying_of[inst.token]]
        price = universe.start_prices[inst.token]
        assert price % inst.tick_size == 0
        carry = spot * universe.carry_rate * 2 / 365
        assert abs(price - spot - carry) <= inst.tick_size  # two days of carry, snapped
    sbin = table["SBIN23NOV26FUT"]
    assert sbin.instrument_type is InstrumentType.FUTSTK and sbin.tick_size == 5


def test_universe_futures_are_derived_from_today() -> None:
    later = build_paper_universe(date(2026, 11, 24))
    assert later.near_expiry == date(2026, 12, 29)
    symbols_later = {i.symbol for i in later.instruments}
    assert "NIFTY29DEC26FUT" in symbols_later and "NIFTY23NOV26FUT" not in symbols_later
    again = build_paper_universe(date(2026, 11, 24))
    assert [i.token for i in again.instruments] == [i.token for i in later.instruments]
    nov = build_paper_universe(TODAY)
    nov_tokens = {i.token for i in nov.instruments if i.expiry}
    dec_tokens = {i.token for i in later.instruments if i.expiry}
    assert not nov_tokens & dec_tokens
    far = build_paper_universe(date(2031, 6, 2), calendar=weekday_calendar())
    assert far.near_expiry == near_month_expiry(date(2031, 6, 2), calendar=weekday_calendar())
    assert far.near_expiry == date(2031, 6, 24)


def test_universe_search(universe: PaperUniverse) -> None:
    index = universe.index()
    assert index.search("tata vehicles", 1)[0].symbol == "TMPV-EQ"  # words of the name
    assert index.search("bank baroda", 1)[0].symbol == "BANKBARODA-EQ"
    assert index.search("sbin", 1)[0].token == "3045"
    assert index.search("state bank", 1)[0].token == "3045"
    assert index.search("relinace", 1)[0].token == "2885"
    assert index.search("hdfc bnk", 1)[0].token == "1333"
    assert index.search("nifty fut", 1)[0].symbol == "NIFTY23NOV26FUT"
    assert index.search("banknifty", 2)[1].symbol == "BANKNIFTY23NOV26FUT"


def edited(change: Callable[[dict[str, object]], None]) -> dict[str, object]:
    data = load_universe_data()
    change(data)
    return data


def first_equity(data: dict[str, object]) -> dict[str, object]:
    equities = data["equities"]
    assert isinstance(equities, list)
    entry = equities[0]
    assert isinstance(entry, dict)
    return entry


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: first_equity(d).update(price="2410.53"),
            r"equities\[0\].*not a multiple.*0\.10",
        ),
        (lambda d: first_equity(d).update(price="abc"), r"equities\[0\]: price"),
        (lambda d: first_equity(d).update(token="3045"), r"token 3045 is used twice"),
        (lambda d: first_equity(d).pop("name"), r"equities\[0\]: 'name' must be"),
        (lambda d: d.update(format=9), "format must be 1"),
        (lambda d: d.update(equities={}), "'equities' must be a list"),
        (lambda d: d.update(carry_rate_pct=6.5), "carry_rate_pct"),
    ],
)
def test_universe_file_errors_name_the_entry(
    change: Callable[[dict[str, object]], None], message: str
) -> None:
    with pytest.raises(PaperUniverseError, match=message):
        build_paper_universe(TODAY, data=edited(change))


def test_weights_are_normalised_exactly() -> None:
    def halve(data: dict[str, object]) -> None:
        indices = data["indices"]
        assert isinstance(indices, list)
        indices[1]["weights"] = {"SBIN-EQ": "1", "HDFCBANK-EQ": "1", "ICICIBANK-EQ": "1"}

    built = build_paper_universe(TODAY, data=edited(halve))
    assert sorted(built.index_weights["99926009"].values()) == [3333, 3333, 3334]
    assert built.carry_rate == Fraction(13, 200)
