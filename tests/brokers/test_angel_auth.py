"""Angel One credentials, TOTP login, token refresh, re-login and logout against the fake server."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from brokers.angelone.auth import (
    DAILY_RELOGIN_AT,
    AngelCredentials,
    AngelSession,
    next_daily_relogin,
    session_expiry,
)
from brokers.angelone.errors import (
    AngelAuthError,
    AngelCredentialsError,
    AngelSessionInvalid,
    AngelTotpRejected,
)
from brokers.angelone.ratelimit import DEFAULT_LIMITS, RateLimit
from brokers.angelone.rest import AngelRestClient
from engine.clock import IST
from engine.redaction import forget_secrets, redact
from tests.brokers.fake_angel import (
    FAST_SERVER_LIMITS,
    TEST_TOTP_SECRET,
    FakeAccount,
    FakeAngelServer,
    FakeAngelState,
    MutableClock,
)

ENV = {
    "COCKPIT_ANGEL_API_KEY": "envapikey123",
    "COCKPIT_ANGEL_CLIENT_CODE": "E98765",
    "COCKPIT_ANGEL_PIN": "5820",
    "COCKPIT_ANGEL_TOTP_SECRET": "KRUGS4ZANFZSAYJAORSXG5BAONSWG4TFOQ",
}


def window_start(now: float) -> float:
    """Start of a 30-second TOTP window some way into the future of ``now``."""
    return (int(now) // 30 + 10) * 30.0


@pytest.fixture(autouse=True)
def _forget_test_secrets() -> Iterator[None]:
    """Credentials register their values process-wide; do not mask them in other modules' tests."""
    yield
    forget_secrets()


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def server(clock: MutableClock) -> AsyncIterator[FakeAngelServer]:
    state = FakeAngelState(clock=clock)
    async with FakeAngelServer(state, limits_per_second=FAST_SERVER_LIMITS) as srv:
        yield srv


FAST_LIMITS = {group: RateLimit(per_second=50) for group in DEFAULT_LIMITS}
"""Rate limits are not what these tests are about (test_angel_rest.py covers them)."""


def client_for(server: FakeAngelServer, clock: MutableClock, **kwargs: Any) -> AngelRestClient:
    values = server.credentials_values()
    values.update(kwargs.pop("override", {}))
    kwargs.setdefault("limits", FAST_LIMITS)
    return AngelRestClient(
        AngelCredentials(**values), base_url=server.base_url, clock=clock, **kwargs
    )


# ---- credentials ------------------------------------------------------------------------------


def test_credentials_from_env_are_registered_and_hidden() -> None:
    creds = AngelCredentials.from_env(ENV)
    assert creds.api_key == "envapikey123"
    assert creds.client_code == "E98765"
    shown = repr(creds) + str(creds)
    for value in ENV.values():
        assert value not in shown
        assert redact(f"leaked {value} here") == "leaked *** here"


def test_credentials_missing_names_the_variables_not_values() -> None:
    env = {"COCKPIT_ANGEL_API_KEY": "envapikey123", "COCKPIT_ANGEL_PIN": "5820"}
    with pytest.raises(AngelCredentialsError) as info:
        AngelCredentials.load(env, use_keyring=False)
    text = str(info.value)
    assert "COCKPIT_ANGEL_CLIENT_CODE" in text
    assert "COCKPIT_ANGEL_TOTP_SECRET" in text
    assert "COCKPIT_ANGEL_PIN" not in text
    assert "envapikey123" not in text and "5820" not in text


def test_credentials_fall_back_to_the_keyring() -> None:
    stored = {"client_code": "K55555", "totp_secret": TEST_TOTP_SECRET}
    asked: list[tuple[str, str]] = []

    def get(service: str, name: str) -> str | None:
        asked.append((service, name))
        return stored.get(name)

    env = {"COCKPIT_ANGEL_API_KEY": "envapikey123", "COCKPIT_ANGEL_PIN": "5820"}
    creds = AngelCredentials.load(env, keyring_get=get)
    assert creds.client_code == "K55555"
    assert creds.totp_secret == TEST_TOTP_SECRET
    assert asked == [("cockpit-angelone", "client_code"), ("cockpit-angelone", "totp_secret")]
    assert "K55555" not in repr(creds)
    assert redact("K55555") == "***"


def test_a_broken_keyring_counts_as_missing() -> None:
    def get(service: str, name: str) -> str | None:
        raise RuntimeError("no backend")

    with pytest.raises(AngelCredentialsError, match="COCKPIT_ANGEL_PIN"):
        AngelCredentials.load({"COCKPIT_ANGEL_API_KEY": "envapikey123"}, keyring_get=get)


def test_a_bad_totp_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(AngelCredentialsError) as info:
        AngelCredentials("envapikey123", "E98765", "5820", "not-base32-at-all!!")
    assert "not-base32-at-all" not in str(info.value)
    assert "COCKPIT_ANGEL_TOTP_SECRET" in str(info.value)


def test_totp_secret_spaces_and_case_are_ignored() -> None:
    spaced = " ".join(TEST_TOTP_SECRET.lower()[i : i + 4] for i in range(0, 32, 4))
    creds = AngelCredentials("envapikey123", "E98765", "5820", spaced)
    assert creds.totp_at(1_700_000_000) == pyotp.TOTP(TEST_TOTP_SECRET).at(1_700_000_000)


def test_empty_credential_is_refused() -> None:
    with pytest.raises(AngelCredentialsError, match="COCKPIT_ANGEL_PIN"):
        AngelCredentials("envapikey123", "E98765", "  ", TEST_TOTP_SECRET)


# ---- expiry rules -----------------------------------------------------------------------------


def test_session_expires_at_the_next_ist_midnight_by_default() -> None:
    issued = datetime(2024, 3, 4, 23, 10, tzinfo=IST).timestamp()
    assert session_expiry(issued, None) == datetime(2024, 3, 5, 0, 0, tzinfo=IST).timestamp()
    assert session_expiry(issued, timedelta(hours=2)) == issued + 7200


def test_next_daily_relogin_is_the_next_0830_ist() -> None:
    before = datetime(2024, 3, 4, 7, 0, tzinfo=IST).timestamp()
    after = datetime(2024, 3, 4, 9, 0, tzinfo=IST).timestamp()
    assert dtime(8, 30) == DAILY_RELOGIN_AT
    assert next_daily_relogin(before) == datetime(2024, 3, 4, 8, 30, tzinfo=IST).timestamp()
    assert next_daily_relogin(after) == datetime(2024, 3, 5, 8, 30, tzinfo=IST).timestamp()


def test_session_repr_hides_tokens() -> None:
    session = AngelSession("jwt-abcdef-123456", "refresh-abcdef", "feed-abcdef", 0.0, 60.0)
    assert "abcdef" not in repr(session)
    assert "abcdef" not in str(session)


# ---- login ------------------------------------------------------------------------------------


async def test_login_success_stores_tokens_and_sends_documented_headers(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(server, clock, local_ip="192.168.1.20", mac="02:11:22:33:44:55") as c:
        session = await c.login()
        assert server.state.jwt_client(session.jwt_token) == "T12345"
        assert session.feed_token in server.state.feed_tokens
        assert session.refresh_token in server.state.refresh_tokens
        assert "eyJ" not in repr(c)
    login = server.calls("login")[0]
    assert login.body == {
        "clientcode": "T12345",
        "password": "4321",
        "totp": pyotp.TOTP(TEST_TOTP_SECRET).at(clock()),
    }
    assert "authorization" not in login.headers
    assert login.headers["x-privatekey"] == "testapikey01"
    assert login.headers["x-clientlocalip"] == "192.168.1.20"
    assert login.headers["x-clientpublicip"] == "192.168.1.20"
    assert login.headers["x-macaddress"] == "02:11:22:33:44:55"
    assert server.header_errors == []
    assert server.route_names() == ["login", "logout"]


async def test_login_retries_once_with_the_next_window_near_the_edge(
    server: FakeAngelServer,
) -> None:
    start = window_start(datetime.now().timestamp())
    client_clock = MutableClock(start + 28)  # 2 s before the window ends
    server.state.clock = MutableClock(start + 31)  # the server is already in the next window
    async with client_for(server, client_clock, logout_on_close=False) as c:
        await c.login()
    totp = pyotp.TOTP(TEST_TOTP_SECRET)
    assert server.state.login_attempts == [totp.at(start + 28), totp.at(start + 30)]


async def test_login_retries_once_with_the_previous_window_near_the_start(
    server: FakeAngelServer,
) -> None:
    start = window_start(datetime.now().timestamp())
    client_clock = MutableClock(start + 1)  # 1 s into a window
    server.state.clock = MutableClock(start - 3)  # the server is still in the previous one
    async with client_for(server, client_clock, logout_on_close=False) as c:
        await c.login()
    totp = pyotp.TOTP(TEST_TOTP_SECRET)
    assert server.state.login_attempts == [totp.at(start + 1), totp.at(start - 30)]


async def test_login_with_a_wrong_totp_mid_window_is_not_retried(server: FakeAngelServer) -> None:
    start = window_start(datetime.now().timestamp())
    client_clock = MutableClock(start + 15)
    server.state.clock = MutableClock(start + 75)
    async with client_for(server, client_clock) as c:
        with pytest.raises(AngelTotpRejected) as info:
            await c.login()
    assert info.value.code == "AB1050"
    assert "COCKPIT_ANGEL_TOTP_SECRET" in str(info.value)
    assert "clock" in str(info.value)
    assert len(server.calls("login")) == 1


async def test_login_with_a_wrong_api_key_reads_the_gateway_dialect(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(server, clock, override={"api_key": "wrongkey9999"}) as c:
        with pytest.raises(AngelAuthError) as info:
            await c.login()
    assert info.value.code == "AG8004"
    assert "COCKPIT_ANGEL_API_KEY" in str(info.value)
    assert "wrongkey9999" not in str(info.value)


@pytest.fixture
def raw_log(tmp_path: Path) -> Iterator[Path]:
    """Every log record of every logger, unfiltered (no redaction), into a file."""
    path = tmp_path / "raw.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def _leaks(text: str, secrets: list[str]) -> list[str]:
    found = []
    for secret in secrets:
        pattern = re.escape(secret)
        if secret.isdigit():
            pattern = rf"(?<!\d){pattern}(?!\d)"
        if re.search(pattern, text, re.IGNORECASE):
            found.append(secret)
    return found


async def test_a_failed_login_leaks_no_secret(
    server: FakeAngelServer, clock: MutableClock, raw_log: Path
) -> None:
    creds = AngelCredentials("testapikey01", "T12345", "7391", TEST_TOTP_SECRET)
    client = AngelRestClient(creds, base_url=server.base_url, clock=clock, limits=FAST_LIMITS)
    with pytest.raises(AngelAuthError) as info:
        await client.login()
    await client.close()
    exc = info.value
    assert exc.code == "AB1000"
    secrets = ["testapikey01", "T12345", "7391", TEST_TOTP_SECRET, *server.state.login_attempts]
    texts = {
        "str": str(exc),
        "repr": repr(exc),
        "args": repr(exc.args),
        "traceback": "".join(traceback.format_exception(exc)),
        "log": raw_log.read_text(encoding="utf-8"),
        "client": repr(client),
        "credentials": repr(creds) + str(creds),
        "auth": repr(client.auth),
    }
    assert "client code and the PIN" in texts["str"]
    assert "loginByPassword" in texts["log"]  # the log did capture the exchange
    for where, text in texts.items():
        assert _leaks(text, secrets) == [], where


async def test_a_successful_session_leaks_no_token_into_the_log(
    server: FakeAngelServer, clock: MutableClock, raw_log: Path
) -> None:
    async with client_for(server, clock) as c:
        session = await c.login()
        await c.funds()
        server.state.expire_jwts()
        await c.positions()
        fresh = c.session
    assert fresh is not None and fresh.jwt_token != session.jwt_token
    text = raw_log.read_text(encoding="utf-8")
    tokens = [
        session.jwt_token,
        session.refresh_token,
        session.feed_token,
        fresh.jwt_token,
        fresh.refresh_token,
        fresh.feed_token,
        "testapikey01",
        TEST_TOTP_SECRET,
    ]
    assert _leaks(text, tokens) == []


# ---- refresh and re-login ---------------------------------------------------------------------


def bearer(server: FakeAngelServer, route: str, index: int = -1) -> str:
    return server.calls(route)[index].headers["authorization"].removeprefix("Bearer ")


async def test_tokens_are_refreshed_shortly_before_they_expire(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(
        server, clock, lifetime=timedelta(minutes=30), refresh_margin=timedelta(minutes=5)
    ) as c:
        first = await c.login()
        await c.funds()
        clock.advance(24 * 60)
        await c.funds()  # 6 minutes left: no refresh yet
        clock.advance(2 * 60)
        await c.funds()  # 4 minutes left: refresh first
        second = c.session
        assert second is not None and second.jwt_token != first.jwt_token
        assert second.expires_at == pytest.approx(clock() + 30 * 60)
    assert server.route_names() == [
        "login",
        "funds",
        "funds",
        "generate_tokens",
        "funds",
        "logout",
    ]
    refresh = server.calls("generate_tokens")[0]
    assert refresh.body == {"refreshToken": first.refresh_token}
    assert bearer(server, "generate_tokens") == first.jwt_token
    assert bearer(server, "funds") == second.jwt_token


async def test_a_refused_token_is_refreshed_and_the_request_retried_once(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(server, clock) as c:
        first = await c.login()
        server.state.expire_jwts()
        assert await c.order_book() == []
        assert c.session is not None and c.session.jwt_token != first.jwt_token
    assert server.route_names() == [
        "login",
        "order_book",
        "generate_tokens",
        "order_book",
        "logout",
    ]
    assert [r.status for r in server.calls("order_book")] == [200, 200]
    assert bearer(server, "order_book", 0) == first.jwt_token


async def test_a_refused_refresh_token_leads_to_a_fresh_login(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(server, clock, logout_on_close=False) as c:
        await c.login()
        server.state.expire_jwts()
        server.state.expire_refresh_tokens()
        clock.advance(1.0)
        funds = await c.funds()
    assert funds.available_cash == 10_000_000
    assert server.route_names() == ["login", "funds", "generate_tokens", "login", "funds"]


async def test_a_token_refused_again_after_refresh_is_raised(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    server.fail("funds", "invalid_token", times=2)
    async with client_for(server, clock, logout_on_close=False) as c:
        with pytest.raises(AngelSessionInvalid) as info:
            await c.funds()
    assert info.value.code == "AG8001"
    assert server.route_names() == ["login", "funds", "generate_tokens", "funds"]


async def test_concurrent_refusals_refresh_only_once(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(server, clock, logout_on_close=False) as c:
        await c.login()
        server.state.expire_jwts()
        await asyncio.gather(c.funds(), c.positions(), c.holdings(), c.trade_book())
    assert server.route_names().count("generate_tokens") == 1
    assert server.route_names().count("login") == 1


async def test_near_midnight_the_refresh_does_not_loop(
    server: FakeAngelServer,
) -> None:
    clock = MutableClock(datetime(2024, 3, 4, 23, 57, tzinfo=IST).timestamp())
    server.state.clock = clock
    async with client_for(server, clock, logout_on_close=False) as c:
        await c.login()
        await c.funds()  # 3 minutes to midnight: refreshed once ...
        await c.funds()  # ... and not again, although the expiry did not move
        clock.advance(4 * 60)  # past midnight: the old session is dead
        await c.funds()
        session = c.session
    assert server.route_names() == [
        "login",
        "generate_tokens",
        "funds",
        "funds",
        "generate_tokens",
        "funds",
    ]
    assert session is not None
    assert session.expires_at == datetime(2024, 3, 6, 0, 0, tzinfo=IST).timestamp()


async def test_close_logs_out_and_revokes_the_session(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    c = client_for(server, clock)
    session = await c.login()
    await c.close()
    assert c.session is None
    assert server.state.jwt_client(session.jwt_token) is None
    assert server.calls("logout")[0].body == {"clientcode": "T12345"}


async def test_daily_relogin_replaces_the_session(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    async with client_for(server, clock) as c:
        first = await c.login()
        clock.advance(31)  # a new TOTP window, as on the next morning
        second = await c.daily_relogin()
        assert second.jwt_token != first.jwt_token
        assert server.state.jwt_client(first.jwt_token) is None
        assert server.state.jwt_client(second.jwt_token) == "T12345"
    assert server.route_names() == ["login", "logout", "login", "logout"]


async def test_a_failed_logout_does_not_break_close(
    server: FakeAngelServer, clock: MutableClock
) -> None:
    c = client_for(server, clock)
    await c.login()
    server.fail("logout", "http_500")
    await c.close()
    assert c.session is None


async def test_two_accounts_keep_separate_sessions(clock: MutableClock) -> None:
    other = FakeAccount(client_code="T99999", pin="1357", api_key="otherapikey2")
    state = FakeAngelState([FakeAccount(), other], clock=clock)
    async with FakeAngelServer(state) as server:
        a = client_for(server, clock, limits=None)
        b = AngelRestClient(
            AngelCredentials("otherapikey2", "T99999", "1357", TEST_TOTP_SECRET),
            base_url=server.base_url,
            clock=clock,
        )
        sa, sb = await a.login(), await b.login()
        assert state.jwt_client(sa.jwt_token) == "T12345"
        assert state.jwt_client(sb.jwt_token) == "T99999"
        await a.close()
        await b.close()
