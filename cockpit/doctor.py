"""``cockpit doctor``: check the live Angel One setup end to end and say how to fix what fails.

The checks run in this order, and each prints one line ``STATUS  check  figure``; a failure (and
a warning) is followed by an indented ``fix:`` line that says exactly what to do:

1. **config**: ``config.toml`` parses (the error names the key and the line);
2. **credentials**: API key, client code, PIN and TOTP secret are present (environment variables
   ``COCKPIT_ANGEL_*`` or the system keyring filled by ``cockpit login``) and well formed. Which
   ones are missing is said by name; no value is ever printed, not even partially;
3. **instrument master**: loaded from today's cache or downloaded (rows, day, age, stale);
4. **REST host** and **clock**: the configured REST origin answers; its HTTP ``Date`` header gives
   this machine's clock offset (TOTP codes fail beyond ~15 s). When the host sends no ``Date``,
   ``timedatectl`` (if present) says whether NTP keeps the clock in sync. No other host is asked;
5. **login**: client code, PIN and a TOTP from the secret; Angel's refusals are mapped to fixes
   (wrong TOTP secret or clock skew, wrong PIN, wrong API key, blocked client...);
6. **market feed** and **feed lag**: subscribes a few tokens (default NIFTY 50 ``99926000`` and
   SBIN ``3045``, or ``symbols``) for ``seconds`` and reports ticks, tick rate and the feed lag
   (receive time minus the exchange's timestamp) p50/p99. Outside NSE hours (09:00-16:00 IST,
   Monday-Friday) no ticks is a warning, not a failure, and the lag is not judged;
7. **order updates**: the order-update socket connects (and Angel's ``AB00`` greeting arrives);
8. **logout**.

``OK`` passed; ``WARN`` passed but deserves a look; ``FAIL`` failed; ``SKIP`` could not run because
an earlier check failed. The exit code is 0 only when nothing failed or was skipped. The doctor
places no order and changes nothing at the broker.

The helpers the record command shares (master download, symbol resolution) live here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal, TextIO

import httpx

from brokers.angelone.auth import ENV_VARS, KEYRING_SERVICE, AngelCredentials, AngelSession
from brokers.angelone.decoder import EXCHANGE_TYPES, FeedDecoder
from brokers.angelone.errors import (
    AngelApiError,
    AngelError,
    AngelProtocolError,
    AngelRateLimitError,
    AngelServerError,
    AngelTotpRejected,
    AngelTransportError,
)
from brokers.angelone.feed import AngelMarketFeed, FeedIssue, FeedMode, FeedStatus, WsCredentials
from brokers.angelone.master import LoadedMaster, MasterCache, MasterDownloadError
from brokers.angelone.order_stream import AngelOrderStream
from brokers.angelone.rest import AngelRestClient
from cockpit.config import CockpitConfig, ConfigError, load_config
from cockpit.login import FIELDS, KeyringBackend, system_keyring, validate_field
from cockpit.paths import AppPaths
from engine.clock import IST, NS_PER_MS, NS_PER_SECOND, WallClock, ist_date
from engine.instruments import InstrumentIndex
from engine.models import Exchange, Instrument, Quote
from engine.redaction import redact, register_secret

__all__ = [
    "DEFAULT_SYMBOLS",
    "MASTER_SUBDIR",
    "CheckResult",
    "CheckStatus",
    "CredentialScan",
    "FeedTarget",
    "doctor",
    "exchange_type_of",
    "load_master",
    "market_hours",
    "master_cache",
    "master_fetcher",
    "percentile",
    "resolve_symbols",
    "run_doctor",
    "scan_credentials",
    "ws_credentials",
]

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS: Final = ("99926000", "3045")
"""NIFTY 50 (index) and SBIN-EQ on NSE: what the doctor subscribes when no symbols are given."""

MASTER_SUBDIR: Final = "angelone"
"""Subdirectory of the user cache dir that holds the Angel One instrument master."""

CLOCK_WARN_S: Final = 5.0
CLOCK_FAIL_S: Final = 15.0
LAG_WARN_NS: Final = 2 * NS_PER_SECOND
_EXCHANGE_TYPE_OF: Final[Mapping[Exchange, int]] = {ex: code for code, ex in EXCHANGE_TYPES.items()}
_AUTH_LOGGER: Final = "brokers.angelone.auth"


# ---------------------------------------------------------------------------------------------
# Results


class CheckStatus(StrEnum):
    """The outcome of one check."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One printed line: status, what was checked, the figure, and the fix for a problem."""

    status: CheckStatus
    name: str
    detail: str
    fix: str = ""


class _Report:
    """Prints (and logs) results as they come; counts them for the exit code."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.results: list[CheckResult] = []

    def add(self, status: CheckStatus, name: str, detail: str, fix: str = "") -> CheckResult:
        result = CheckResult(status, name, redact(detail), redact(fix))
        self.results.append(result)
        print(f"{result.status.value:<4}  {result.name:<17} {result.detail}", file=self.out)
        if result.fix:
            print(f"{'':<6}{'fix:':<17} {result.fix}", file=self.out)
        self.out.flush()
        level = logging.WARNING if status in (CheckStatus.FAIL, CheckStatus.WARN) else logging.INFO
        log.log(
            level,
            "doctor %s %s: %s%s",
            status.value,
            name,
            result.detail,
            f" (fix: {result.fix})" if result.fix else "",
        )
        return result

    def skip(self, name: str, why: str) -> None:
        self.add(CheckStatus.SKIP, name, f"not run: {why}")

    @property
    def exit_code(self) -> int:
        bad = (CheckStatus.FAIL, CheckStatus.SKIP)
        return 1 if any(r.status in bad for r in self.results) else 0


# ---------------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True, slots=True)
class CredentialScan:
    """Where each credential was found. ``values`` holds the values (secrets: never print them);
    ``sources`` says, per field, ``env`` or ``keyring``; ``missing`` lists the fields not found;
    ``keyring_note`` says why the keyring could not be used (empty when it could)."""

    values: Mapping[str, str]
    sources: Mapping[str, str]
    missing: tuple[str, ...]
    keyring_note: str

    def where(self, name: str) -> str:
        """Where a field comes from, for messages: the variable name or the keyring entry."""
        if self.sources.get(name) == "keyring":
            return f"keyring entry {name!r} of service {KEYRING_SERVICE!r}"
        return ENV_VARS[name]


def scan_credentials(
    env: Mapping[str, str], keyring: KeyringBackend | None, keyring_note: str = ""
) -> CredentialScan:
    """Look up each credential in ``env`` first, then in ``keyring``; registers every value found
    as a secret. Never raises for a failing keyring: the failure goes to ``keyring_note``."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    missing: list[str] = []
    note = keyring_note
    for name, variable in ENV_VARS.items():
        value = env.get(variable, "")
        register_secret(value)
        register_secret(value.strip())
        if value.strip():
            values[name], sources[name] = value.strip(), "env"
            continue
        if keyring is not None and not note:
            try:
                stored = keyring.get_password(KEYRING_SERVICE, name)
            except Exception as exc:  # keyring backends raise many kinds of errors
                note = f"the system keyring could not be read ({type(exc).__name__})"
                stored = None
            if stored and stored.strip():
                register_secret(stored)
                register_secret(stored.strip())
                values[name], sources[name] = stored.strip(), "keyring"
                continue
        missing.append(name)
    return CredentialScan(values, sources, tuple(missing), note)


def _check_credentials(report: _Report, scan: CredentialScan) -> AngelCredentials | None:
    name = "credentials"
    if scan.missing:
        variables = ", ".join(ENV_VARS[m] for m in scan.missing)
        looked = "the environment" + (
            f" and the system keyring (service {KEYRING_SERVICE!r})"
            if not scan.keyring_note
            else f" ({scan.keyring_note})"
        )
        fix = (
            f"set {variables} in the environment (export NAME=...), or run `cockpit login` to "
            "store all four in the system keyring"
        )
        if scan.keyring_note:
            fix = (
                f"set {variables} in the environment (export NAME=...); `cockpit login` would "
                f"keep them in the system keyring, but {scan.keyring_note}"
            )
        found = len(ENV_VARS) - len(scan.missing)
        report.add(
            CheckStatus.FAIL,
            name,
            f"missing {variables} ({found} of {len(ENV_VARS)} found; looked in {looked})",
            fix,
        )
        return None
    problems = []
    for login_field in FIELDS:
        problem = validate_field(login_field.name, scan.values[login_field.name])
        if problem is not None:
            problems.append(f"{problem} (from {scan.where(login_field.name)})")
    if problems:
        report.add(
            CheckStatus.FAIL,
            name,
            "; ".join(problems),
            "correct the value(s) named above (`cockpit login` asks and checks them "
            "again), or the environment variable(s)",
        )
        return None
    try:
        credentials = AngelCredentials(**scan.values)
    except AngelError as exc:
        report.add(CheckStatus.FAIL, name, str(exc), "correct the value named above")
        return None
    from_env = sum(1 for s in scan.sources.values() if s == "env")
    from_keyring = len(scan.sources) - from_env
    parts = []
    if from_env:
        parts.append(f"{from_env} from the environment")
    if from_keyring:
        parts.append(f"{from_keyring} from the keyring")
    report.add(
        CheckStatus.OK,
        name,
        f"API key, client code, PIN and TOTP secret present and well formed ({', '.join(parts)})",
    )
    return credentials


# ---------------------------------------------------------------------------------------------
# Instrument master and symbols


def master_cache(paths: AppPaths) -> MasterCache:
    """The Angel One instrument master cache in the user cache dir."""
    return MasterCache(paths.cache_dir / MASTER_SUBDIR)


def master_fetcher(url: str, timeout_s: float = 120.0) -> Callable[[], Awaitable[bytes]]:
    """A coroutine function that downloads the master from ``url`` (raises with the HTTP status
    when the answer is not a 200)."""

    async def fetch() -> bytes:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=True
        ) as client:
            response = await client.get(url)
        if response.status_code != 200:
            raise MasterDownloadError(f"{url} answered HTTP {response.status_code}")
        return response.content

    return fetch


async def load_master(
    config: CockpitConfig, paths: AppPaths, *, today: date | None = None
) -> LoadedMaster:
    """Today's instrument master: from the cache, else downloaded from ``[angelone] master_url``.

    Raises :class:`~brokers.angelone.master.MasterDownloadError` when neither works.
    """
    day = today if today is not None else ist_date(time.time_ns())
    cache = master_cache(paths)
    return await cache.load_or_download(master_fetcher(config.angelone.master_url), day)


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """A token to subscribe: the feed's exchange type, a label for messages, the instrument."""

    token: str
    exchange_type: int
    label: str
    instrument: Instrument | None = None


def exchange_type_of(exchange: Exchange) -> int:
    """The SmartWebSocketV2 exchange type of an exchange (``NSE`` -> 1)."""
    return _EXCHANGE_TYPE_OF[exchange]


def resolve_symbols(
    symbols: Sequence[str], index: InstrumentIndex | None
) -> tuple[list[FeedTarget], list[str]]:
    """Turn ``symbols`` into feed targets; returns ``(targets, problems)``.

    Each entry is a token (``3045``), ``EXCHANGE:SYMBOL`` (``NSE:SBIN-EQ``, ``NFO:NIFTY...FUT``) or
    a bare symbol or name (``SBIN``, ``RELIANCE``: NSE first, then the best search match). Without
    an ``index`` only tokens can be used, and they are taken as NSE cash/index tokens.
    """
    targets: list[FeedTarget] = []
    problems: list[str] = []
    seen: set[tuple[int, str]] = set()
    for raw in symbols:
        text = raw.strip()
        if not text:
            continue
        instrument: Instrument | None = None
        if index is None:
            if text.isdigit():
                target = FeedTarget(text, 1, f"NSE token {text}")
            else:
                problems.append(
                    f"{text!r} cannot be looked up without the instrument master; give its "
                    "token instead"
                )
                continue
        else:
            exchange_part, colon, symbol = text.partition(":")
            if colon:
                if exchange_part.upper() not in Exchange.__members__:
                    known = ", ".join(Exchange.__members__)
                    problems.append(f"{text!r}: unknown exchange {exchange_part!r} (use {known})")
                    continue
                instrument = index.get(exchange_part.upper(), symbol.strip())
                if instrument is None and symbol.strip().isdigit():
                    instrument = index.by_token(symbol.strip(), exchange_part.upper())
            elif text.isdigit():
                instrument = index.by_token(text)
            else:
                instrument = index.get("NSE", text)
                if instrument is None:
                    found = index.search(text, limit=1)
                    instrument = found[0] if found else None
            if instrument is None:
                problems.append(
                    f"{text!r} is not in the instrument master (use a token, EXCHANGE:SYMBOL "
                    "such as NSE:SBIN-EQ, or a symbol)"
                )
                continue
            if instrument.exchange not in _EXCHANGE_TYPE_OF:
                problems.append(f"{text!r} ({instrument.key}) is on an exchange the feed lacks")
                continue
            target = FeedTarget(
                instrument.token,
                exchange_type_of(instrument.exchange),
                f"{instrument.key} ({instrument.token})",
                instrument,
            )
        key = (target.exchange_type, target.token)
        if key not in seen:
            seen.add(key)
            targets.append(target)
    return targets, problems


# ---------------------------------------------------------------------------------------------
# Small helpers


def percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (``q`` in 0-100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


def _duration(ns: int) -> str:
    """A duration for people: ms below 10 s, then s, min, h, d."""
    sign = "-" if ns < 0 else ""
    value = abs(ns)
    if value < 10 * NS_PER_SECOND:
        return f"{sign}{value / NS_PER_MS:.0f} ms"
    seconds = value / NS_PER_SECOND
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f} {unit}"
    return f"{sign}{seconds:.1f} s"


def market_hours(now: float) -> bool:
    """True on Monday-Friday between 09:00 and 16:00 IST, when NSE sends ticks (exchange holidays
    are not known here)."""
    moment = datetime.fromtimestamp(now, IST)
    return moment.weekday() < 5 and 9 <= moment.hour < 16


def ws_credentials(session: AngelSession, credentials: AngelCredentials) -> WsCredentials:
    """What the websockets need, from a logged-in session."""
    return WsCredentials(
        session.jwt_token, session.feed_token, credentials.api_key, credentials.client_code
    )


@contextlib.contextmanager
def _auth_warnings() -> Iterator[list[logging.LogRecord]]:
    """Collects WARNING records of the session manager (its logout reports failures that way)."""
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Collect(logging.WARNING)
    logger = logging.getLogger(_AUTH_LOGGER)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _ntp_synchronized() -> bool | None:
    """``timedatectl``'s NTPSynchronized (``None`` when it cannot be asked)."""
    program = shutil.which("timedatectl")
    if program is None:
        return None
    try:
        done = subprocess.run(
            [program, "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    answer = done.stdout.strip().lower()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None
    return answer == "yes"


# ---------------------------------------------------------------------------------------------
# The checks


def _check_config(report: _Report, path: Path, env: Mapping[str, str]) -> CockpitConfig | None:
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        report.add(
            CheckStatus.FAIL,
            "config",
            str(exc).replace("\n", "; "),
            f"edit {path} at the key and line named above (README: Configuration)",
        )
        return None
    where = f"{path} parsed" if path.exists() else f"no {path}; defaults in use"
    defaults = CockpitConfig().angelone
    overridden = [
        f"{name}={getattr(config.angelone, name)}"
        for name in ("rest_url", "feed_url", "order_feed_url", "master_url")
        if getattr(config.angelone, name) != getattr(defaults, name)
    ]
    endpoints = (
        "Angel One endpoints: " + ", ".join(overridden)
        if overridden
        else "default Angel One endpoints"
    )
    report.add(CheckStatus.OK, "config", f"{where}; {endpoints}")
    return config


async def _check_master(
    report: _Report, config: CockpitConfig, paths: AppPaths, today: date
) -> LoadedMaster | None:
    name = "instrument master"
    try:
        loaded = await load_master(config, paths, today=today)
    except MasterDownloadError as exc:
        report.add(
            CheckStatus.FAIL,
            name,
            str(exc),
            f"check the network and [angelone] master_url / COCKPIT_ANGEL_MASTER_URL "
            f"({config.angelone.master_url}); the master is cached in "
            f"{master_cache(paths).directory} once downloaded",
        )
        return None
    age = (today - loaded.day).days
    source = {
        "cache": "from today's cache",
        "raw": "from today's download on disk",
        "download": "downloaded now",
    }[loaded.source]
    skipped = loaded.report.skipped_total
    detail = (
        f"{len(loaded.index):,} instruments {source} (master of {loaded.day.isoformat()}, "
        f"age {age} d; {skipped:,} rows skipped)"
    )
    if loaded.stale:
        report.add(
            CheckStatus.WARN,
            name,
            f"{detail}; today's download failed: {loaded.download_error}",
            "check the network and COCKPIT_ANGEL_MASTER_URL; new listings (e.g. this "
            "week's option strikes) are missing from an old master",
        )
    else:
        report.add(CheckStatus.OK, name, detail)
    return loaded


async def _check_rest_host(report: _Report, url: str) -> bool:
    """REST origin reachable? Then the clock offset from its ``Date`` header."""
    started = time.time()
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            response = await client.get(url.rstrip("/") + "/")
    except httpx.HTTPError as exc:
        report.add(
            CheckStatus.FAIL,
            "REST host",
            f"cannot reach {url} ({type(exc).__name__})",
            "check the network, DNS and firewall (outbound HTTPS), and [angelone] "
            "rest_url / COCKPIT_ANGEL_REST_URL",
        )
        report.skip("clock", "the REST host is unreachable")
        return False
    ended = time.time()
    rtt_ms = (ended - started) * 1000
    report.add(
        CheckStatus.OK,
        "REST host",
        f"{url} answered HTTP {response.status_code} in {rtt_ms:.0f} ms",
    )
    stamp = response.headers.get("date")
    server: float | None = None
    if stamp:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            server = parsedate_to_datetime(stamp).timestamp() + 0.5  # Date has 1 s resolution
    if server is not None:
        offset = (started + ended) / 2 - server
        detail = f"this machine is {offset:+.1f} s (±1 s) off {url} (HTTP Date header)"
        fix = "turn on time sync: sudo timedatectl set-ntp true (or install chrony)"
        if abs(offset) > CLOCK_FAIL_S:
            report.add(CheckStatus.FAIL, "clock", detail + "; TOTP logins will be refused", fix)
        elif abs(offset) > CLOCK_WARN_S:
            report.add(CheckStatus.WARN, "clock", detail + "; TOTP codes may be refused", fix)
        else:
            report.add(CheckStatus.OK, "clock", detail)
        return True
    synced = await asyncio.to_thread(_ntp_synchronized)
    if synced:
        report.add(
            CheckStatus.OK,
            "clock",
            f"NTP-synchronised (timedatectl); {url} sent no Date header to compare",
        )
    else:
        what = "NOT synchronised" if synced is False else "not known to be synchronised"
        report.add(
            CheckStatus.WARN,
            "clock",
            f"offset not measured ({url} sent no Date header); the clock is {what}",
            "make sure NTP keeps the clock right (sudo timedatectl set-ntp true): TOTP "
            "codes are refused when it is off by more than ~15 s",
        )
    return True


def _login_failure(exc: AngelError, scan: CredentialScan, url: str) -> tuple[str, str]:
    """(detail, fix) for a failed login."""
    detail = str(exc)
    if isinstance(exc, AngelTotpRejected):
        return detail, (
            f"check the TOTP secret ({scan.where('totp_secret')}): it must be the base32 seed "
            "shown when TOTP was enabled for this client code (smartapi.angelone.in/enable-totp),"
            " not a 6-digit code; and check the clock line above (this machine's clock must be "
            "within ~15 s: sudo timedatectl set-ntp true)"
        )
    if isinstance(exc, AngelApiError):
        code = exc.code
        if code == "AG8004":
            return detail, (
                f"check the API key ({scan.where('api_key')}): it must be the key of a SmartAPI "
                "app created for this client code at smartapi.angelone.in (My Apps)"
            )
        if code in ("AB1000", "AB1002"):
            return detail, (
                f"check the PIN ({scan.where('pin')}, the 4-digit MPIN you log in to the Angel "
                f"One app with) and the client code ({scan.where('client_code')}); repeated "
                "wrong PINs lock the account (reset the MPIN in the Angel One app)"
            )
        if code == "AB1001":
            return detail, f"check the client code ({scan.where('client_code')})"
        if code == "AB1006":
            return detail, "Angel One has blocked this client for trading; contact Angel One"
        if code == "AB1005":
            return detail, "the REST host expects user type USER; check COCKPIT_ANGEL_REST_URL"
        return detail, "see Angel One's message above; run the doctor again in a minute"
    if isinstance(exc, AngelTransportError):
        return detail, (
            f"check the network and [angelone] rest_url / COCKPIT_ANGEL_REST_URL ({url})"
        )
    if isinstance(exc, AngelRateLimitError):
        return detail, "wait a minute (another program may be logging in) and run again"
    if isinstance(exc, AngelServerError):
        return detail, "Angel One's server failed; try again in a few minutes"
    if isinstance(exc, AngelProtocolError):
        return detail, (
            f"{url} does not speak SmartAPI; check [angelone] rest_url / COCKPIT_ANGEL_REST_URL"
        )
    return detail, "see the message above"


def _socket_failure(issue: FeedIssue | None, url: str, variable: str, what: str) -> str:
    """The fix for a websocket that did not connect."""
    if issue is None:
        return (
            f"no answer from {url}; check the network/firewall (outbound HTTPS/WSS) and {variable}"
        )
    if issue.kind == "auth":
        return (
            f"{what} refused the session: check that the API key belongs to this client code, "
            "then run the doctor again (a fresh login gives new tokens)"
        )
    if issue.kind == "handshake" and issue.code == "429":
        return (
            "Angel allows 3 connections per client code: close other cockpit / SmartAPI "
            "programs using this account"
        )
    return f"check the network/firewall (outbound WSS) and {variable} ({url})"


async def _wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``predicate`` every 20 ms until it holds (True) or ``timeout_s`` passes (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@dataclass(slots=True)
class _Ticks:
    quotes: list[Quote] = field(default_factory=list)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)


async def _check_feed(
    report: _Report,
    config: CockpitConfig,
    provider: Callable[[], WsCredentials],
    targets: Sequence[FeedTarget],
    *,
    seconds: float,
    connect_timeout_s: float,
    now: Callable[[], float],
) -> None:
    name = "market feed"
    url = config.angelone.feed_url
    ticks = _Ticks()
    feed = AngelMarketFeed(
        url,
        provider,
        FeedDecoder(clock=WallClock()),
        on_quote=ticks.on_quote,
        clock=WallClock(),
        open_timeout_s=connect_timeout_s,
        heartbeat_s=10.0,
    )
    for target in targets:
        feed.subscribe(target.exchange_type, target.token, FeedMode.QUOTE)
    task = asyncio.create_task(feed.run())
    started = time.monotonic()
    try:
        live = await _wait_for(
            lambda: (
                feed.status is FeedStatus.LIVE or feed.state().last_error is not None or task.done()
            ),
            connect_timeout_s,
        )
        if not live or feed.status is not FeedStatus.LIVE:
            issue = feed.state().last_error
            detail = (
                issue.message
                if issue is not None
                else (f"no connection to {url} within {connect_timeout_s:g} s")
            )
            report.add(
                CheckStatus.FAIL,
                name,
                detail,
                _socket_failure(issue, url, "COCKPIT_ANGEL_FEED_URL", "the market feed"),
            )
            report.skip("feed lag", "the market feed did not connect")
            return
        connect_ms = (time.monotonic() - started) * 1000
        await asyncio.sleep(seconds)
        stats = feed.stats()
        state = feed.state()
    finally:
        await feed.stop()
        with contextlib.suppress(Exception):
            await task
    quotes = ticks.quotes
    per_token: dict[str, int] = {}
    for quote in quotes:
        per_token[quote.token] = per_token.get(quote.token, 0) + 1
    counts = ", ".join(f"{t.label}: {per_token.get(t.token, 0)}" for t in targets)
    rate = len(quotes) / seconds if seconds > 0 else 0.0
    open_now = market_hours(now())
    detail = (
        f"connected in {connect_ms:.0f} ms; {len(quotes)} ticks in {seconds:g} s "
        f"({rate:.1f}/s) [{counts}]"
    )
    problems = []
    dropped = sum(stats.dropped.values())
    if dropped:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.dropped.items()))
        problems.append(f"{dropped} malformed packets skipped ({reasons})")
    if stats.error_frames and state.last_error is not None:
        problems.append(f"{stats.error_frames} error frames, last: {state.last_error.message}")
    if stats.reconnects:
        problems.append(f"the connection dropped {stats.reconnects} time(s)")
    if not quotes:
        if open_now:
            report.add(
                CheckStatus.FAIL,
                name,
                detail + "; " + "; ".join(problems or ["no ticks during market hours"]),
                "check the symbols (use `--symbols` with tokens from the instrument master) and "
                "the error frames above; on an exchange holiday no ticks is normal",
            )
        else:
            report.add(
                CheckStatus.WARN,
                name,
                detail + "; the market is closed now, so no "
                "ticks is expected" + ("; " + "; ".join(problems) if problems else ""),
                "run `cockpit doctor` again on a trading day between 09:15 and 15:30 "
                "IST to measure the tick rate and the feed lag",
            )
        return
    missing = [t.label for t in targets if not per_token.get(t.token)]
    if missing and open_now:
        problems.append(f"no ticks for {', '.join(missing)}")
    if problems:
        report.add(
            CheckStatus.WARN,
            name,
            detail + "; " + "; ".join(problems),
            "see the problems named above; the log file has the details",
        )
    else:
        report.add(CheckStatus.OK, name, detail)
    lags = [q.ts - q.exchange_ts for q in quotes if q.exchange_ts > 0 and q.ts > 0]
    if not lags:
        report.add(
            CheckStatus.WARN,
            "feed lag",
            "no tick carried an exchange timestamp",
            "nothing to fix if the market is closed; otherwise report it",
        )
        return
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    lag_text = f"p50 {_duration(p50)}, p99 {_duration(p99)} over {len(lags)} ticks"
    if not open_now:
        report.add(
            CheckStatus.OK,
            "feed lag",
            f"{lag_text} (market closed: the exchange "
            "stamps are of the last trade, so this is not a delay)",
        )
    elif p50 > LAG_WARN_NS:
        report.add(
            CheckStatus.WARN,
            "feed lag",
            f"{lag_text}; ticks arrive late",
            "compare the clock line above (a wrong clock shows as lag); otherwise a slow "
            "network or an overloaded machine delays ticks (try a VPS in Mumbai)",
        )
    else:
        report.add(CheckStatus.OK, "feed lag", lag_text)


async def _check_order_socket(
    report: _Report,
    config: CockpitConfig,
    provider: Callable[[], WsCredentials],
    *,
    connect_timeout_s: float,
) -> None:
    name = "order updates"
    url = config.angelone.order_feed_url
    stream = AngelOrderStream(
        url,
        provider,
        on_update=lambda _update: None,
        clock=WallClock(),
        open_timeout_s=connect_timeout_s,
    )
    task = asyncio.create_task(stream.run())
    started = time.monotonic()
    try:
        await _wait_for(
            lambda: (
                stream.status is FeedStatus.LIVE
                or stream.state().last_error is not None
                or task.done()
            ),
            connect_timeout_s,
        )
        if stream.status is not FeedStatus.LIVE:
            issue = stream.state().last_error
            detail = (
                issue.message
                if issue is not None
                else (f"no connection to {url} within {connect_timeout_s:g} s")
            )
            report.add(
                CheckStatus.FAIL,
                name,
                detail,
                _socket_failure(
                    issue, url, "COCKPIT_ANGEL_ORDER_FEED_URL", "the order-update socket"
                ),
            )
            return
        connect_ms = (time.monotonic() - started) * 1000
        greeted = await _wait_for(lambda: stream.stats().acks > 0, 2.0)
    finally:
        await stream.stop()
        with contextlib.suppress(Exception):
            await task
    greeting = "Angel's AB00 greeting received" if greeted else "no AB00 greeting within 2 s"
    report.add(CheckStatus.OK, name, f"{url} connected in {connect_ms:.0f} ms; {greeting}")


async def doctor(
    config_file: Path | None,
    paths: AppPaths,
    *,
    out: TextIO,
    seconds: float = 5.0,
    symbols: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    keyring: KeyringBackend | Literal["system"] | None = "system",
    now: Callable[[], float] = time.time,
    connect_timeout_s: float = 10.0,
    today: date | None = None,
) -> int:
    """Run every check (see the module docstring) and return the exit code (0: all passed).

    ``config_file`` defaults to the user's ``config.toml``; ``env`` to ``os.environ``;
    ``keyring`` to the system keyring (``None``: do not use one). ``now`` (Unix seconds) decides
    whether NSE is in market hours; ``today`` is the IST day of the instrument master.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    environ = os.environ if env is None else env
    report = _Report(out)
    print("cockpit doctor: checking the live Angel One setup (no order is placed)", file=out)
    path = config_file if config_file is not None else paths.config_file

    config = _check_config(report, path, environ)
    if keyring == "system":
        backend = system_keyring()
        note = "" if backend is not None else "the optional 'keyring' package is not installed"
    else:
        backend, note = keyring, ("" if keyring is not None else "no keyring is in use")
    scan = scan_credentials(environ, backend, note)
    credentials = _check_credentials(report, scan)
    if config is None:
        for check in (
            "instrument master",
            "REST host",
            "login",
            "market feed",
            "order updates",
            "logout",
        ):
            report.skip(check, "the config file has an error")
        return _finish(report)
    if credentials is None:
        # Without the user's own credentials the cockpit never contacts Angel One's hosts.
        for check in ("instrument master", "REST host", "login", "market feed",
                      "order updates", "logout"):
            report.skip(check, "credentials are missing or malformed; nothing was contacted")
        return _finish(report)
    day = today if today is not None else ist_date(time.time_ns())
    loaded = await _check_master(report, config, paths, day)
    reachable = await _check_rest_host(report, config.angelone.rest_url)
    if credentials is None or not reachable:
        why = (
            "credentials are missing or malformed"
            if credentials is None
            else ("the REST host is unreachable")
        )
        for check in ("login", "market feed", "order updates", "logout"):
            report.skip(check, why)
        return _finish(report)

    rest = AngelRestClient(
        credentials, base_url=config.angelone.rest_url, timeout=10.0, logout_on_close=False
    )
    try:
        try:
            session = await rest.login()
        except AngelError as exc:
            detail, fix = _login_failure(exc, scan, config.angelone.rest_url)
            report.add(CheckStatus.FAIL, "login", detail, fix)
            for check in ("market feed", "order updates", "logout"):
                report.skip(check, "the login failed")
            return _finish(report)
        hours = (session.expires_at - time.time()) / 3600
        report.add(
            CheckStatus.OK, "login", f"logged in with a TOTP; session valid for {hours:.1f} h"
        )

        def provider() -> WsCredentials:
            current = rest.session if rest.session is not None else session
            return ws_credentials(current, credentials)

        targets, problems = resolve_symbols(
            list(symbols) if symbols else list(DEFAULT_SYMBOLS),
            loaded.index if loaded is not None else None,
        )
        if problems or not targets:
            report.add(
                CheckStatus.FAIL,
                "market feed",
                "; ".join(problems) or "no symbols to subscribe",
                "give --symbols as tokens (3045), EXCHANGE:SYMBOL (NSE:SBIN-EQ) or "
                "symbols found in the instrument master",
            )
        else:
            await _check_feed(
                report,
                config,
                provider,
                targets,
                seconds=seconds,
                connect_timeout_s=connect_timeout_s,
                now=now,
            )
        await _check_order_socket(report, config, provider, connect_timeout_s=connect_timeout_s)
        with _auth_warnings() as warnings:
            await rest.auth.logout()
        if warnings:
            report.add(
                CheckStatus.WARN,
                "logout",
                redact(warnings[-1].getMessage()),
                "nothing to do: the session ends at midnight IST anyway",
            )
        else:
            report.add(CheckStatus.OK, "logout", "logged out; the session is closed")
    finally:
        await rest.close()
    return _finish(report)


def _finish(report: _Report) -> int:
    counts = {status: 0 for status in CheckStatus}
    for result in report.results:
        counts[result.status] += 1
    code = report.exit_code
    verdict = "ready for live trading" if code == 0 else "not ready: fix the FAIL lines above"
    print(
        f"doctor: {counts[CheckStatus.OK]} ok, {counts[CheckStatus.WARN]} warnings, "
        f"{counts[CheckStatus.FAIL]} failed, {counts[CheckStatus.SKIP]} skipped: {verdict}",
        file=report.out,
    )
    log.info("doctor finished with exit code %d", code)
    return code


def run_doctor(
    config_file: Path | None,
    paths: AppPaths,
    *,
    out: TextIO,
    seconds: float = 5.0,
    symbols: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    keyring: KeyringBackend | Literal["system"] | None = "system",
    connect_timeout_s: float = 10.0,
) -> int:
    """:func:`doctor` on a fresh event loop (for the CLI); returns the exit code."""
    return asyncio.run(
        doctor(
            config_file,
            paths,
            out=out,
            seconds=seconds,
            symbols=symbols,
            env=env,
            keyring=keyring,
            connect_timeout_s=connect_timeout_s,
        )
    )
