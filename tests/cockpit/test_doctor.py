"""``cockpit doctor`` against the fake Angel One servers (REST, both websockets, master) on
127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pyotp
import pytest

from brokers.angelone.auth import ENV_VARS, KEYRING_SERVICE
from cockpit.doctor import (
    CheckStatus,
    doctor,
    market_hours,
    master_cache,
    percentile,
    resolve_symbols,
    run_doctor,
)
from cockpit.logging_setup import setup_logging
from cockpit.paths import AppPaths
from engine.clock import IST
from engine.instruments import InstrumentIndex
from engine.models import Exchange
from tests.brokers.fake_angel import (
    FAST_SERVER_LIMITS,
    FakeAccount,
    FakeAngelServer,
    FakeAngelState,
)
from tests.brokers.fake_angel_ws import FakeAngelWs

SATURDAY_NOON = datetime(2025, 3, 8, 12, 0, tzinfo=IST).timestamp()
MONDAY_MORNING = datetime(2025, 3, 10, 10, 30, tzinfo=IST).timestamp()

MASTER_ROWS = [
    {
        "token": "99926000",
        "symbol": "Nifty 50",
        "name": "NIFTY",
        "expiry": "",
        "strike": "0.000000",
        "lotsize": "1",
        "instrumenttype": "AMXIDX",
        "exch_seg": "NSE",
        "tick_size": "0.000000",
    },
    {
        "token": "3045",
        "symbol": "SBIN-EQ",
        "name": "SBIN",
        "expiry": "",
        "strike": "-1.000000",
        "lotsize": "1",
        "instrumenttype": "",
        "exch_seg": "NSE",
        "tick_size": "5.000000",
    },
    {
        "token": "2885",
        "symbol": "RELIANCE-EQ",
        "name": "RELIANCE",
        "expiry": "",
        "strike": "-1.000000",
        "lotsize": "1",
        "instrumenttype": "",
        "exch_seg": "NSE",
        "tick_size": "5.000000",
    },
]


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    """Master loads end with gc.freeze(); give the objects back after each test."""
    yield
    gc.unfreeze()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MasterServer:
    """Serves the instrument master JSON on 127.0.0.1 (any path), counting requests."""

    def __init__(self, rows: list[dict[str, str]], *, date_offset_s: float | None = None) -> None:
        self.body = json.dumps(rows).encode()
        self.date_offset_s = date_offset_s
        self.requests = 0
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The master's URL."""
        return f"http://127.0.0.1:{self.port}/OpenAPIScripMaster.json"

    async def __aenter__(self) -> MasterServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        self.requests += 1
        date = b""
        if self.date_offset_s is not None:
            stamp = formatdate(time.time() + self.date_offset_s, usegmt=True)
            date = f"Date: {stamp}\r\n".encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + date
            + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
            + self.body
        )
        await writer.drain()
        writer.close()


def make_account() -> FakeAccount:
    """An account whose secrets are distinctive enough to search for in the output."""
    return FakeAccount(
        client_code="ZQ7731",
        pin="9517",
        api_key="kq8ZxPrivKey77",
        totp_secret=pyotp.random_base32(),
    )


def credential_env(account: FakeAccount) -> dict[str, str]:
    """The account's credentials as COCKPIT_ANGEL_* variables."""
    values = {
        "api_key": account.api_key,
        "client_code": account.client_code,
        "pin": account.pin,
        "totp_secret": account.totp_secret,
    }
    return {ENV_VARS[name]: value for name, value in values.items()}


def make_paths(root: Path) -> AppPaths:
    """Every directory under ``root``."""
    return AppPaths(root / "config", root / "data", root / "logs", root / "cache")


@dataclass
class Env:
    """The running fakes and the environment that points the doctor at them."""

    server: FakeAngelServer
    ws: FakeAngelWs
    master: MasterServer
    account: FakeAccount
    env: dict[str, str]
    paths: AppPaths

    def secrets(self) -> list[str]:
        """Every secret the run handled: credentials and every token the fake issued."""
        state = self.server.state
        return [
            self.account.api_key,
            self.account.client_code,
            self.account.totp_secret,
            *state.jwts,
            *state.refresh_tokens,
            *state.feed_tokens,
        ]


@asynccontextmanager
async def live(tmp_path: Path) -> AsyncIterator[Env]:
    """Fake REST + websockets + master on 127.0.0.1 and an environment pointing at them."""
    account = make_account()
    state = FakeAngelState([account])
    async with (
        FakeAngelServer(state, limits_per_second=FAST_SERVER_LIMITS) as server,
        FakeAngelWs(state=state, tick_interval_s=0.02) as ws,
        MasterServer(MASTER_ROWS) as master,
    ):
        env = {
            "COCKPIT_ANGEL_REST_URL": server.base_url,
            "COCKPIT_ANGEL_FEED_URL": ws.feed_url,
            "COCKPIT_ANGEL_ORDER_FEED_URL": ws.order_url,
            "COCKPIT_ANGEL_MASTER_URL": master.url,
            **credential_env(account),
        }
        yield Env(server, ws, master, account, env, make_paths(tmp_path))


async def run(env: Env, **options: Any) -> tuple[int, str]:
    """Run the doctor against ``env``; returns (exit code, output)."""
    out = io.StringIO()
    settings: dict[str, Any] = {
        "seconds": 0.5,
        "keyring": None,
        "now": lambda: SATURDAY_NOON,
        "connect_timeout_s": 3.0,
    }
    settings.update(options)
    code = await doctor(None, env.paths, out=out, env=env.env, **settings)
    return code, out.getvalue()


def line(output: str, check: str) -> str:
    """The status line of one check."""
    for text in output.splitlines():
        if re.match(rf"^(OK|WARN|FAIL|SKIP)\s+{re.escape(check)}\s", text):
            return text
    raise AssertionError(f"no line for {check!r} in:\n{output}")


def fix_of(output: str, check: str) -> str:
    """The fix line that follows a check's line ('' when there is none)."""
    lines = output.splitlines()
    index = lines.index(line(output, check))
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return following.strip() if following.strip().startswith("fix:") else ""


def status(output: str, check: str) -> CheckStatus:
    """The status of one check."""
    return CheckStatus(line(output, check).split()[0])


# ---------------------------------------------------------------------------------------------


async def test_all_green_exits_zero_and_reports_ticks(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        code, output = await run(env)
        assert env.server.state.orders == {}  # the doctor places no order
        assert env.server.calls("place_order") == []
        assert [c.route for c in env.server.requests if c.route == "logout"] == ["logout"]
    assert code == 0, output
    for check in (
        "config",
        "credentials",
        "instrument master",
        "REST host",
        "login",
        "market feed",
        "feed lag",
        "order updates",
        "logout",
    ):
        assert status(output, check) is CheckStatus.OK, output
    assert status(output, "clock") in (CheckStatus.OK, CheckStatus.WARN)
    assert "3 instruments downloaded now" in line(output, "instrument master")
    feed = line(output, "market feed")
    ticks = int(re.search(r"; (\d+) ticks in 0.5 s", feed).group(1))  # type: ignore[union-attr]
    assert ticks > 0
    assert "NSE:Nifty 50 (99926000): " in feed and "NSE:SBIN-EQ (3045): " in feed
    assert "p50" in line(output, "feed lag") and "market closed" in line(output, "feed lag")
    assert "AB00 greeting received" in line(output, "order updates")
    assert output.rstrip().endswith("ready for live trading")


async def test_feed_lag_is_judged_in_market_hours(tmp_path: Path) -> None:
    """The fake stamps its ticks in December 2024: in market hours that is a late feed."""
    async with live(tmp_path) as env:
        code, output = await run(env, now=lambda: MONDAY_MORNING, symbols=["SBIN", "NSE:2885"])
    assert code == 0, output  # a warning is not a failure
    assert status(output, "feed lag") is CheckStatus.WARN
    assert "ticks arrive late" in line(output, "feed lag")
    assert "clock" in fix_of(output, "feed lag")
    feed = line(output, "market feed")
    assert "NSE:SBIN-EQ (3045)" in feed and "NSE:RELIANCE-EQ (2885)" in feed


async def test_missing_credentials_are_named_without_values(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        for variable in (ENV_VARS["pin"], ENV_VARS["totp_secret"]):
            del env.env[variable]
        code, output = await run(env)
        secrets = env.secrets()
    assert code == 1
    text = line(output, "credentials")
    assert status(output, "credentials") is CheckStatus.FAIL
    assert "COCKPIT_ANGEL_PIN" in text and "COCKPIT_ANGEL_TOTP_SECRET" in text
    assert "COCKPIT_ANGEL_API_KEY" not in text  # present ones are not called missing
    assert "cockpit login" in fix_of(output, "credentials")
    for check in ("login", "market feed", "order updates", "logout"):
        assert status(output, check) is CheckStatus.SKIP
    assert_no_secret(output, secrets, pin="9517")


async def test_credentials_from_the_keyring(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        keyring = MemoryKeyring()
        for name in ("pin", "totp_secret"):
            keyring.set_password(KEYRING_SERVICE, name, env.env.pop(ENV_VARS[name]))
        code, output = await run(env, keyring=keyring)
    assert code == 0, output
    assert "2 from the environment, 2 from the keyring" in line(output, "credentials")


def test_run_doctor_without_keyring_and_nothing_reachable(tmp_path: Path) -> None:
    """The synchronous entry point; nothing listens at the configured hosts."""
    port = free_port()
    env = {
        "COCKPIT_ANGEL_REST_URL": f"http://127.0.0.1:{port}",
        "COCKPIT_ANGEL_MASTER_URL": f"http://127.0.0.1:{port}/master.json",
        ENV_VARS["api_key"]: "kq8ZxPrivKey77",
    }
    out = io.StringIO()
    code = run_doctor(None, make_paths(tmp_path), out=out, env=env, keyring=None, seconds=0.1)
    output = out.getvalue()
    assert code == 1
    assert status(output, "credentials") is CheckStatus.FAIL
    text = line(output, "credentials")
    for name in ("client_code", "pin", "totp_secret"):
        assert ENV_VARS[name] in text
    assert "no keyring is in use" in text
    # Without the user's own credentials no Angel One host is contacted at all.
    for check in ("instrument master", "REST host", "login"):
        assert status(output, check) is CheckStatus.SKIP
        assert "nothing was contacted" in line(output, check)
    assert "kq8ZxPrivKey77" not in output


@pytest.mark.parametrize(
    ("field", "wrong", "code_text", "fix_words"),
    [
        (
            "totp_secret",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "AB1050",
            ("COCKPIT_ANGEL_TOTP_SECRET", "base32 seed", "clock", "timedatectl"),
        ),
        ("pin", "2468", "AB1000", ("COCKPIT_ANGEL_PIN", "MPIN")),
        ("api_key", "wrongApiKey99", "AG8004", ("COCKPIT_ANGEL_API_KEY", "SmartAPI app")),
    ],
)
async def test_login_refusals_are_mapped_to_fixes(
    tmp_path: Path, field: str, wrong: str, code_text: str, fix_words: tuple[str, ...]
) -> None:
    async with live(tmp_path) as env:
        env.env[ENV_VARS[field]] = wrong
        code, output = await run(env)
    assert code == 1
    assert status(output, "login") is CheckStatus.FAIL
    assert code_text in line(output, "login")
    fix = fix_of(output, "login")
    for word in fix_words:
        assert word in fix, fix
    assert status(output, "market feed") is CheckStatus.SKIP
    assert wrong not in output


async def test_feed_unreachable_names_the_fix(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        env.env["COCKPIT_ANGEL_FEED_URL"] = f"ws://127.0.0.1:{free_port()}/smart-stream"
        code, output = await run(env)
    assert code == 1
    assert status(output, "market feed") is CheckStatus.FAIL
    assert "cannot connect" in line(output, "market feed")
    assert "COCKPIT_ANGEL_FEED_URL" in fix_of(output, "market feed")
    assert status(output, "feed lag") is CheckStatus.SKIP
    assert status(output, "order updates") is CheckStatus.OK  # the other socket still checked
    assert status(output, "logout") is CheckStatus.OK


async def test_clock_offset_from_the_date_header_and_a_host_that_is_not_smartapi(
    tmp_path: Path,
) -> None:
    """The REST URL points at a plain web server whose clock is 60 s ahead of ours."""
    async with live(tmp_path) as env, MasterServer([], date_offset_s=60.0) as other:
        env.env["COCKPIT_ANGEL_REST_URL"] = f"http://127.0.0.1:{other.port}"
        code, output = await run(env)
    assert code == 1
    assert status(output, "clock") is CheckStatus.FAIL
    offset = float(re.search(r"this machine is ([-+][0-9.]+) s", line(output, "clock")).group(1))  # type: ignore[union-attr]
    assert -62 <= offset <= -58
    assert "timedatectl set-ntp true" in fix_of(output, "clock")
    assert status(output, "login") is CheckStatus.FAIL
    assert "does not speak SmartAPI" in fix_of(output, "login")


async def test_unknown_symbol_is_a_failure_naming_it(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        code, output = await run(env, symbols=["NSE:NOSUCHSTOCK"])
    assert code == 1
    assert "'NSE:NOSUCHSTOCK' is not in the instrument master" in line(output, "market feed")


async def test_config_error_names_key_and_line(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        env.paths.config_dir.mkdir(parents=True)
        env.paths.config_file.write_text('[paper]\nseed = 1\n[angelone]\nrest_ur = "x"\n')
        code, output = await run(env)
    assert code == 1
    text = line(output, "config")
    assert "angelone.rest_ur" in text and "line 4" in text
    assert status(output, "login") is CheckStatus.SKIP


async def test_no_secret_in_output_or_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "cockpit.log"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = setup_logging(log_file, "DEBUG")
    try:
        async with live(tmp_path) as env:
            code, output = await run(env)
            # A second run with a wrong TOTP: failure paths must not leak either.
            env.env[ENV_VARS["totp_secret"]] = pyotp.random_base32()
            _, failed_output = await run(env)
            secrets = env.secrets()
    finally:
        handler.flush()
        root.removeHandler(handler)
        handler.close()
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])
    assert code == 0, output
    logged = log_file.read_text(encoding="utf-8")
    assert "doctor OK login" in logged  # the log did record the run
    assert len(secrets) >= 6
    for text in (output, failed_output, logged):
        assert_no_secret(text, secrets, pin="9517")


def assert_no_secret(text: str, secrets: list[str], *, pin: str) -> None:
    """No secret appears in ``text``; the PIN is searched as a number of its own (it is 4 digits:
    inside a port or a tick count it is not a leak)."""
    for secret in secrets:
        assert secret not in text, f"a secret leaked: {secret[:3]}..."
    assert not re.search(rf"(?<!\d){pin}(?!\d)", text), "the PIN leaked"


# ---------------------------------------------------------------------------------------------
# Pieces


class MemoryKeyring:
    """An in-memory keyring backend."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


def test_percentile_nearest_rank() -> None:
    assert percentile([5], 50) == 5
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile(list(range(1, 101)), 100) == 100
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_market_hours() -> None:
    assert market_hours(MONDAY_MORNING)
    assert not market_hours(SATURDAY_NOON)
    assert not market_hours(datetime(2025, 3, 10, 8, 59, tzinfo=IST).timestamp())
    assert not market_hours(datetime(2025, 3, 10, 16, 0, tzinfo=IST).timestamp())


def test_resolve_symbols_with_and_without_master() -> None:
    from brokers.angelone.master import parse_rows

    instruments, _ = parse_rows(MASTER_ROWS)
    index = InstrumentIndex(instruments)
    targets, problems = resolve_symbols(["SBIN", "NSE:RELIANCE-EQ", "99926000", "3045"], index)
    assert problems == []
    assert [(t.token, t.exchange_type) for t in targets] == [
        ("3045", 1),
        ("2885", 1),
        ("99926000", 1),
    ]  # the repeated 3045 is subscribed once
    assert targets[0].instrument is not None and targets[0].instrument.exchange is Exchange.NSE
    targets, problems = resolve_symbols(["XX:SBIN", "NOPE123"], index)
    assert targets == [] and "unknown exchange 'XX'" in problems[0]
    targets, problems = resolve_symbols(["3045", "SBIN"], None)
    assert [t.token for t in targets] == ["3045"]
    assert "without the instrument master" in problems[0]


async def test_stale_master_is_a_warning_with_the_reason(tmp_path: Path) -> None:
    async with live(tmp_path) as env:
        today = date(2025, 3, 10)
        body = json.dumps(MASTER_ROWS).encode()
        await master_cache(env.paths).load_or_download(lambda: body, today - timedelta(days=1))
        env.env["COCKPIT_ANGEL_MASTER_URL"] = f"http://127.0.0.1:{free_port()}/master.json"
        code, output = await run(env, today=today)
    assert code == 0, output
    assert status(output, "instrument master") is CheckStatus.WARN
    text = line(output, "instrument master")
    assert "master of 2025-03-09, age 1 d" in text and "today's download failed" in text
    assert "COCKPIT_ANGEL_MASTER_URL" in fix_of(output, "instrument master")
