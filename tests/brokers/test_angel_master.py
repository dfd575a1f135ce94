"""Tests for the Angel One instrument master: row parsing, exact units, and the daily disk cache."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.angelone.master import (
    LoadedMaster,
    MasterCache,
    MasterDownloadError,
    MasterFormatError,
    MasterRowError,
    RowParser,
    _build_instruments,
    _encode_columns,
    _scaled,
    parse_master,
    parse_rows,
)
from engine.models import Exchange, Instrument, InstrumentType, OptionKind

DAY = date(2024, 3, 4)
NEXT_DAY = date(2024, 3, 5)


@pytest.fixture(autouse=True)
def _unfreeze_after_test() -> Iterator[None]:
    """Loads end with gc.freeze(); give the objects back to the collector after each test."""
    yield
    gc.unfreeze()


def row(
    token: str,
    symbol: str,
    name: str,
    *,
    expiry: str = "",
    strike: str = "-1.000000",
    lotsize: str = "1",
    itype: str = "",
    seg: str = "NSE",
    tick: str = "5.000000",
) -> dict[str, str]:
    """One master row, every field a string as in the live file."""
    return {
        "token": token, "symbol": symbol, "name": name, "expiry": expiry, "strike": strike,
        "lotsize": lotsize, "instrumenttype": itype, "exch_seg": seg, "tick_size": tick,
    }  # fmt: skip


SBIN = row("3045", "SBIN-EQ", "SBIN")
RELIANCE = row("2885", "RELIANCE-EQ", "RELIANCE", tick="10.000000")
NIFTY_50 = row("99926000", "Nifty 50", "NIFTY", strike="0.000000", itype="AMXIDX", tick="0.000000")
NIFTY_BANK = row(
    "99926009", "Nifty Bank", "BANKNIFTY", strike="0.000000", itype="AMXIDX", tick="0.000000"
)
SENSEX = row("99919000", "SENSEX", "SENSEX", strike="0.000000", itype="AMXIDX", seg="BSE",
             tick="0.000000")  # fmt: skip
NIFTY_FUT = row("35001", "NIFTY28MAR24FUT", "NIFTY", expiry="28MAR2024", lotsize="50",
                itype="FUTIDX", seg="NFO")  # fmt: skip
NIFTY_CE = row("43650", "NIFTY07MAR2422500CE", "NIFTY", expiry="07MAR2024",
               strike="2250000.000000", lotsize="50", itype="OPTIDX", seg="NFO")  # fmt: skip
NIFTY_PE = row("43651", "NIFTY07MAR2422500PE", "NIFTY", expiry="07MAR2024",
               strike="2250000.000000", lotsize="50", itype="OPTIDX", seg="NFO")  # fmt: skip
SBIN_FUT = row("57001", "SBIN28MAR24FUT", "SBIN", expiry="28MAR2024", lotsize="1500",
               itype="FUTSTK", seg="NFO")  # fmt: skip
CRUDE = row("234230", "CRUDEOIL19MAR24FUT", "CRUDEOIL", expiry="19MAR2024", lotsize="100",
            itype="FUTCOM", seg="MCX", tick="100.000000")  # fmt: skip
USDINR_CE = row("1200", "USDINR26MAR2483.25CE", "USDINR", expiry="26MAR2024",
                strike="8325.000000", lotsize="1000", itype="OPTCUR", seg="CDS",
                tick="0.250000")  # fmt: skip
GOOD_ROWS = [SBIN, RELIANCE, NIFTY_50, NIFTY_BANK, SENSEX, NIFTY_FUT, NIFTY_CE, NIFTY_PE,
             SBIN_FUT, CRUDE, USDINR_CE]  # fmt: skip


def master_bytes(rows: list[Any]) -> bytes:
    return json.dumps(rows, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------
# Rows


def test_cash_equity_row() -> None:
    assert RowParser().parse(SBIN) == Instrument(
        token="3045", exchange=Exchange.NSE, symbol="SBIN-EQ", name="SBIN",
        instrument_type=InstrumentType.EQUITY, lot_size=1, tick_size=5, price_scale=100,
        underlying="SBIN",
    )  # fmt: skip


def test_index_row_has_no_strike_and_a_one_unit_step() -> None:
    nifty = RowParser().parse(NIFTY_50)
    assert (nifty.instrument_type, nifty.strike, nifty.tick_size, nifty.tradable) == (
        InstrumentType.INDEX, None, 1, False,
    )  # fmt: skip
    assert RowParser().parse(SENSEX).exchange is Exchange.BSE


def test_future_and_option_rows() -> None:
    parser = RowParser()
    fut = parser.parse(NIFTY_FUT)
    assert (fut.instrument_type, fut.expiry, fut.lot_size, fut.strike, fut.option_kind) == (
        InstrumentType.FUTIDX, date(2024, 3, 28), 50, None, None,
    )  # fmt: skip
    ce = parser.parse(NIFTY_CE)
    assert ce == Instrument(
        token="43650", exchange=Exchange.NFO, symbol="NIFTY07MAR2422500CE", name="NIFTY",
        instrument_type=InstrumentType.OPTIDX, lot_size=50, tick_size=5, price_scale=100,
        expiry=date(2024, 3, 7), strike=2_250_000, option_kind=OptionKind.CE, underlying="NIFTY",
    )  # fmt: skip
    assert parser.parse(NIFTY_PE).option_kind is OptionKind.PE


def test_mcx_tick_is_one_rupee() -> None:
    crude = RowParser().parse(CRUDE)
    assert (crude.exchange, crude.instrument_type, crude.tick_size, crude.price_scale) == (
        Exchange.MCX, InstrumentType.FUTCOM, 100, 100,
    )  # fmt: skip


def test_cds_prices_are_on_the_1e7_scale() -> None:
    usdinr = RowParser().parse(USDINR_CE)
    assert usdinr.price_scale == 10**7
    assert usdinr.tick_size == 25_000  # Rs 0.0025
    assert usdinr.strike == 832_500_000  # Rs 83.25


def test_docs_segment_spelling_and_numeric_fields() -> None:
    docs_style = dict(SBIN, exch_seg="nse_cm", lotsize=1, tick_size=5.0)
    parsed = RowParser().parse(docs_style)
    assert (parsed.exchange, parsed.lot_size, parsed.tick_size) == (Exchange.NSE, 1, 5)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (dict(SBIN, exch_seg="NCO"), "unknown exch_seg 'NCO'"),
        (dict(SBIN, instrumenttype="FUTIRC"), "unsupported instrumenttype 'FUTIRC'"),
        (dict(NIFTY_FUT, instrumenttype=""), "blank instrumenttype on NFO"),
        (dict(NIFTY_FUT, expiry="31FEB2024"), "bad expiry"),
        (dict(NIFTY_FUT, expiry="2024-03-28"), "bad expiry"),
        (dict(NIFTY_FUT, expiry="28MAR\uff12\uff10\uff12\uff14"), "bad expiry"),  # wide digits
        (dict(NIFTY_FUT, expiry=""), "derivative without expiry"),
        (dict(NIFTY_CE, symbol="NIFTY07MAR2422500XX"), "option symbol without CE/PE"),
        (dict(NIFTY_CE, strike="0.000000"), "bad strike"),
        (dict(NIFTY_CE, strike="abc"), "bad strike"),
        (dict(NIFTY_CE, strike="2250000.500000"), "bad strike"),  # half a paisa
        (dict(USDINR_CE, strike="8325.0000001"), "bad strike"),  # finer than 1e-7 rupee
        (dict(SBIN, tick_size="-5.000000"), "bad tick_size"),
        (dict(SBIN, tick_size="0.000000"), "bad tick_size"),
        (dict(SBIN, tick_size="5.5"), "bad tick_size"),
        (dict(SBIN, tick_size="1e2"), "bad tick_size"),
        (dict(SBIN, lotsize="0"), "bad lotsize"),
        (dict(SBIN, lotsize="2.5"), "bad lotsize"),
        (dict(SBIN, lotsize="lots"), "bad lotsize"),
        ({k: v for k, v in SBIN.items() if k != "token"}, "missing token"),
        (dict(SBIN, token=""), "bad token"),
        (dict(SBIN, token="30 45"), "bad token"),
        (dict(SBIN, symbol="  "), "missing symbol"),
        (dict(SBIN, symbol=["SBIN"]), "bad symbol"),
        (["3045", "SBIN-EQ"], "not an object"),
    ],
)
def test_bad_rows_are_skipped_and_counted_by_reason(bad: Any, reason: str) -> None:
    with pytest.raises(MasterRowError) as raised:
        RowParser().parse(bad)
    assert raised.value.reason == reason
    instruments, report = parse_rows([SBIN, bad, NIFTY_CE, bad])
    assert [i.symbol for i in instruments] == ["SBIN-EQ", "NIFTY07MAR2422500CE"]
    assert (report.rows, report.parsed, report.skipped_total) == (4, 2, 2)
    assert report.skipped == {reason: 2}
    assert report.examples[reason].startswith(reason)


def test_parse_master_rejects_what_is_not_a_master() -> None:
    with pytest.raises(MasterFormatError, match=r"not JSON.*<html>"):
        parse_master(b"<html><body>503 Service Unavailable</body></html>")
    with pytest.raises(MasterFormatError, match="JSON array"):
        parse_master(b'{"status": false}')
    with pytest.raises(MasterFormatError, match=r"no usable row.*unknown exch_seg"):
        parse_master(master_bytes([dict(SBIN, exch_seg="XXX")]))
    with pytest.raises(MasterFormatError, match="no usable row"):
        parse_master(b"[]")


def test_parse_master_of_known_rows() -> None:
    instruments, report = parse_master(master_bytes(GOOD_ROWS))
    assert report.skipped == {} and report.parsed == len(GOOD_ROWS)
    parser = RowParser()
    assert instruments == [parser.parse(r) for r in GOOD_ROWS]


# ---------------------------------------------------------------------------------------------
# Exact units


@settings(max_examples=300, deadline=None)
@given(
    hundredths=st.integers(0, 10**12),
    decimals=st.integers(0, 8),
    scale=st.sampled_from([100, 10**7]),
    negative=st.booleans(),
)
def test_scaled_is_exact_or_refuses(
    hundredths: int, decimals: int, scale: int, negative: bool
) -> None:
    # a decimal string of rupees x 100 with `decimals` digits after the point
    value = Decimal(hundredths).scaleb(-decimals) * (-1 if negative else 1)
    text = f"{value:.{decimals}f}"
    exact = Decimal(text) * scale / 100
    if exact == exact.to_integral_value():
        assert _scaled(text, scale, "strike") == int(exact)
    else:
        with pytest.raises(MasterRowError, match="finer than price scale"):
            _scaled(text, scale, "strike")


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), st.booleans())
def test_expiry_ddmmmyyyy(day: date, lower: bool) -> None:
    text = f"{day.day:02d}{MONTHS[day.month - 1]}{day.year}"
    parsed = RowParser().parse(dict(NIFTY_FUT, expiry=text.lower() if lower else text))
    assert parsed.expiry == day


INSTRUMENTS = st.builds(
    Instrument,
    token=st.text("0123456789", min_size=1, max_size=8),
    exchange=st.sampled_from(list(Exchange)),
    symbol=st.text(min_size=1, max_size=12),
    name=st.text(max_size=8),
    instrument_type=st.sampled_from(list(InstrumentType)),
    lot_size=st.integers(1, 5000),
    tick_size=st.integers(1, 100_000),
    price_scale=st.sampled_from([100, 10**7]),
    expiry=st.none() | st.dates(),
    strike=st.none() | st.integers(1, 10**12),
    option_kind=st.none() | st.sampled_from(list(OptionKind)),
    freeze_qty=st.none() | st.integers(1, 10**6),
    underlying=st.none() | st.text(max_size=8),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(INSTRUMENTS, max_size=60))
def test_column_build_equals_the_dataclass_constructor(instruments: list[Instrument]) -> None:
    fields = Instrument.__slots__
    columns = [tuple(getattr(i, f) for i in instruments) for f in fields]
    for built in (
        _build_instruments([(c, None) for c in columns]),
        _build_instruments(_encode_columns(columns)),
    ):
        assert built == instruments
        assert all(type(b) is Instrument for b in built)
        assert [hash(b) for b in built] == [hash(i) for i in instruments]


def test_column_build_refuses_mismatched_columns() -> None:
    columns: list[tuple[Any, ...]] = [(1, 2)] * len(Instrument.__slots__)
    with pytest.raises(ValueError, match="columns"):
        _build_instruments([(c, None) for c in columns[:-1]])
    with pytest.raises(ValueError, match="different lengths"):
        _build_instruments([(c, None) for c in columns[:-1]] + [((1,), None)])


# ---------------------------------------------------------------------------------------------
# The cache


class Downloads:
    """A fetch function that serves given bytes (or raises) and counts its calls."""

    def __init__(self, payload: bytes | Exception) -> None:
        self.payload = payload
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        if isinstance(self.payload, Exception):
            raise self.payload
        return self.payload


def big_master() -> list[dict[str, str]]:
    """A few thousand rows: option ladders for two indices plus the known rows."""
    rows = list(GOOD_ROWS)
    token = 100_000
    for name, centre, step in (("NIFTY", 22_500, 50), ("BANKNIFTY", 47_000, 100)):
        for expiry, short in (("14MAR2024", "14MAR24"), ("21MAR2024", "21MAR24")):
            for k in range(-300, 301):
                strike = centre + k * step
                for kind in ("CE", "PE"):
                    token += 1
                    rows.append(
                        row(
                            str(token),
                            f"{name}{short}{strike}{kind}",
                            name,
                            expiry=expiry,
                            strike=f"{strike * 100}.000000",
                            lotsize="50",
                            itype="OPTIDX",
                            seg="NFO",
                        )
                    )
    return rows


def assert_usable(loaded: LoadedMaster) -> None:
    index = loaded.index
    sbin = index.by_token("3045")
    assert sbin is not None and sbin.symbol == "SBIN-EQ"
    assert index.get("NFO", "NIFTY07MAR2422500CE") == RowParser().parse(NIFTY_CE)
    assert index.search("SBIN", limit=20)[0].symbol == "SBIN-EQ"
    assert gc.get_freeze_count() > 0


def test_first_load_downloads_then_the_same_day_loads_the_fast_cache(tmp_path: Path) -> None:
    raw = master_bytes(big_master())
    fetch = Downloads(raw)
    first = MasterCache(tmp_path).load_or_download_sync(fetch, DAY)
    assert (first.source, first.day, first.stale, fetch.calls) == ("download", DAY, False, 1)
    assert first.report.parsed == len(big_master())
    assert_usable(first)
    assert first.index.duplicates == 0
    assert (tmp_path / "OpenAPIScripMaster-2024-03-04.json").read_bytes() == raw
    assert (tmp_path / "instruments-2024-03-04.pickle").is_file()

    again = MasterCache(tmp_path).load_or_download_sync(fetch, DAY)
    assert (again.source, again.day, fetch.calls) == ("cache", DAY, 1)
    assert again.report == first.report
    assert_usable(again)
    assert list(again.index) == list(first.index)
    queries = ("SBIN", "nifty", "banknifty 47000 pe", "NIFTY14MAR", "relinace", "crude", "zz")
    for query in queries:
        assert again.index.search(query, limit=20) == first.index.search(query, limit=20)
    for inst in first.index:
        assert again.index.by_token(inst.token, inst.exchange) == inst
        assert again.index.get(inst.exchange, inst.symbol) == inst


def test_next_day_downloads_again_and_drops_the_old_files(tmp_path: Path) -> None:
    fetch = Downloads(master_bytes(GOOD_ROWS))
    MasterCache(tmp_path).load_or_download_sync(fetch, DAY)
    newer = master_bytes([*GOOD_ROWS, row("1594", "INFY-EQ", "INFY")])
    fetch.payload = newer
    loaded = MasterCache(tmp_path).load_or_download_sync(fetch, NEXT_DAY)
    assert (loaded.source, loaded.day, fetch.calls) == ("download", NEXT_DAY, 2)
    assert loaded.index.get("NSE", "INFY-EQ") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "OpenAPIScripMaster-2024-03-05.json",
        "instruments-2024-03-05.pickle",
    ]
    assert MasterCache(tmp_path).days_on_disk() == [NEXT_DAY]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_day", "delete"])
def test_damaged_fast_cache_is_rebuilt_from_the_raw_json_without_downloading(
    tmp_path: Path, damage: str
) -> None:
    fetch = Downloads(master_bytes(GOOD_ROWS))
    cache = MasterCache(tmp_path)
    cache.load_or_download_sync(fetch, DAY)
    path = cache.cache_path(DAY)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache at all")
    elif damage == "other_day":
        cache.load_or_download_sync(Downloads(master_bytes(GOOD_ROWS)), NEXT_DAY)
        cache.cache_path(NEXT_DAY).rename(path)
        (tmp_path / "OpenAPIScripMaster-2024-03-05.json").rename(cache.raw_path(DAY))
    else:
        path.unlink()
    loaded = MasterCache(tmp_path).load_or_download_sync(fetch, DAY)
    assert (loaded.source, fetch.calls) == ("raw", 1)
    assert_usable(loaded)
    assert MasterCache(tmp_path).load_or_download_sync(fetch, DAY).source == "cache"


def test_failed_download_falls_back_to_the_previous_day_marked_stale(tmp_path: Path) -> None:
    MasterCache(tmp_path).load_or_download_sync(Downloads(master_bytes(GOOD_ROWS)), DAY)
    offline = Downloads(OSError("network is unreachable"))
    loaded = MasterCache(tmp_path).load_or_download_sync(offline, NEXT_DAY)
    assert (loaded.stale, loaded.day, loaded.source, offline.calls) == (True, DAY, "cache", 1)
    assert loaded.download_error is not None and "network is unreachable" in loaded.download_error
    assert_usable(loaded)
    with pytest.raises(MasterDownloadError, match=r"2024-03-05.*network is unreachable"):
        MasterCache(tmp_path).load_or_download_sync(offline, NEXT_DAY, allow_stale=False)


def test_unusable_download_is_not_written_over_a_good_master(tmp_path: Path) -> None:
    MasterCache(tmp_path).load_or_download_sync(Downloads(master_bytes(GOOD_ROWS)), DAY)
    html = Downloads(b"<html>rate limited</html>")
    loaded = MasterCache(tmp_path).load_or_download_sync(html, NEXT_DAY)
    assert loaded.stale and loaded.day == DAY
    assert loaded.download_error is not None and "not JSON" in loaded.download_error
    assert MasterCache(tmp_path).days_on_disk() == [DAY]


def test_no_master_at_all_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MasterDownloadError, match="no earlier master on disk"):
        MasterCache(tmp_path / "empty").load_or_download_sync(Downloads(TimeoutError("slow")), DAY)
    with pytest.raises(MasterDownloadError, match="must return the file's bytes"):
        MasterCache(tmp_path).load_or_download_sync(lambda: 42, DAY)  # type: ignore[arg-type,return-value]


async def test_async_load_with_coroutine_and_plain_fetch(tmp_path: Path) -> None:
    calls = 0

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        return master_bytes(GOOD_ROWS)

    first = await MasterCache(tmp_path).load_or_download(fetch, DAY)
    assert (first.source, calls) == ("download", 1)
    assert_usable(first)
    second = await MasterCache(tmp_path).load_or_download(fetch, DAY)
    assert (second.source, calls) == ("cache", 1)
    plain = Downloads(master_bytes(GOOD_ROWS))
    third = await MasterCache(tmp_path).load_or_download(plain, NEXT_DAY)
    assert (third.source, plain.calls) == ("download", 1)


def test_load_report_keeps_skipped_rows_across_the_cache(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, dict(SBIN, token="9", exch_seg="NCO"), dict(SBIN, token="8", lotsize="x")]
    fetch = Downloads(master_bytes(rows))
    first = MasterCache(tmp_path).load_or_download_sync(fetch, DAY)
    assert first.report.skipped == {"unknown exch_seg 'NCO'": 1, "bad lotsize": 1}
    again = MasterCache(tmp_path).load_or_download_sync(fetch, DAY)
    assert again.source == "cache" and again.report == first.report
