"""``cockpit login``: ask, validate, optionally verify against the fake REST server, store in an
in-memory keyring; ``--forget``."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from brokers.angelone.auth import KEYRING_SERVICE, AngelCredentials
from cockpit.config import CockpitConfig, load_config
from cockpit.login import FIELDS, login_command, run_login, validate_field
from tests.brokers.fake_angel import (
    FAST_SERVER_LIMITS,
    FakeAccount,
    FakeAngelServer,
    FakeAngelState,
)
from tests.cockpit.test_doctor import MemoryKeyring, free_port


class Answers:
    """Answers the prompts in order, remembering the prompts."""

    def __init__(self, *answers: str) -> None:
        self._answers: Iterator[str] = iter(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        try:
            return next(self._answers)
        except StopIteration:
            raise EOFError from None


ACCOUNT = FakeAccount(
    client_code="LQ4417", pin="8264", api_key="lgnApiKey55", totp_secret=pyotp.random_base32()
)
GOOD = (ACCOUNT.api_key, ACCOUNT.client_code, ACCOUNT.pin, ACCOUNT.totp_secret)


def offline_config() -> CockpitConfig:
    """A config whose REST URL is a closed port on 127.0.0.1."""
    return load_config(None, {"COCKPIT_ANGEL_REST_URL": f"http://127.0.0.1:{free_port()}"})


def assert_silent(text: str) -> None:
    """No value typed appears in the output (the 4-digit PIN as a number of its own: inside a
    port number it is not a leak)."""
    for value in GOOD:
        if value.isdigit():
            assert not re.search(rf"(?<!\d){value}(?!\d)", text)
        else:
            assert value not in text


async def test_stores_all_four_after_a_verified_login(tmp_path: Path) -> None:
    async with FakeAngelServer(
        FakeAngelState([ACCOUNT]), limits_per_second=FAST_SERVER_LIMITS
    ) as server:
        keyring = MemoryKeyring()
        out = io.StringIO()
        ask = Answers(*GOOD)
        code = await login_command(
            load_config(None, {"COCKPIT_ANGEL_REST_URL": server.base_url}),
            out=out,
            ask=ask,
            keyring=keyring,
        )
        assert server.route_names() == ["login", "logout"]
    assert code == 0, out.getvalue()
    assert keyring.entries == {
        (KEYRING_SERVICE, "api_key"): ACCOUNT.api_key,
        (KEYRING_SERVICE, "client_code"): ACCOUNT.client_code,
        (KEYRING_SERVICE, "pin"): ACCOUNT.pin,
        (KEYRING_SERVICE, "totp_secret"): ACCOUNT.totp_secret,
    }
    assert ask.prompts == [f"{f.label}: " for f in FIELDS]
    assert "Login OK" in out.getvalue() and "Stored" in out.getvalue()
    assert_silent(out.getvalue())
    # What was stored is exactly what the broker's credential loader reads.
    loaded = AngelCredentials.load({}, keyring_get=keyring.get_password)
    assert (loaded.api_key, loaded.client_code, loaded.pin) == GOOD[:3]
    assert list(tmp_path.iterdir()) == []  # nothing written to any file


async def test_a_refused_login_stores_nothing(tmp_path: Path) -> None:
    async with FakeAngelServer(
        FakeAngelState([ACCOUNT]), limits_per_second=FAST_SERVER_LIMITS
    ) as server:
        keyring = MemoryKeyring()
        out = io.StringIO()
        wrong_pin = (ACCOUNT.api_key, ACCOUNT.client_code, "1357", ACCOUNT.totp_secret)
        code = await login_command(
            load_config(None, {"COCKPIT_ANGEL_REST_URL": server.base_url}),
            out=out,
            ask=Answers(*wrong_pin),
            keyring=keyring,
        )
    assert code == 1
    assert keyring.entries == {}
    assert "AB1000" in out.getvalue() and "--no-verify" in out.getvalue()
    assert not re.search(r"(?<!\d)1357(?!\d)", out.getvalue())
    assert_silent(out.getvalue())


async def test_bad_formats_are_asked_again_without_echo() -> None:
    keyring = MemoryKeyring()
    out = io.StringIO()
    ask = Answers(
        ACCOUNT.api_key,
        "LQ 44!",
        ACCOUNT.client_code,
        "12ab",
        ACCOUNT.pin,
        "not-base32-1890!!",
        ACCOUNT.totp_secret,
    )
    code = await login_command(offline_config(), out=out, ask=ask, keyring=keyring, verify=False)
    text = out.getvalue()
    assert code == 0, text
    assert len(ask.prompts) == 7
    assert "client code is not a client code" in text
    assert "PIN (MPIN) is not a PIN; it must be 4 to 6 digits" in text
    assert "TOTP secret is not a usable TOTP seed" in text
    for bad in ("LQ 44!", "12ab", "not-base32-1890!!"):
        assert bad not in text
    assert keyring.entries[(KEYRING_SERVICE, "pin")] == ACCOUNT.pin


async def test_three_bad_answers_give_up_and_store_nothing() -> None:
    keyring = MemoryKeyring()
    out = io.StringIO()
    ask = Answers(ACCOUNT.api_key, ACCOUNT.client_code, "1", "22", "333")
    code = await login_command(offline_config(), out=out, ask=ask, keyring=keyring, verify=False)
    assert code == 2
    assert keyring.entries == {}
    assert "No valid PIN (MPIN) given; nothing was stored." in out.getvalue()


async def test_unreachable_rest_url_stores_nothing_when_verifying() -> None:
    keyring = MemoryKeyring()
    out = io.StringIO()
    code = await login_command(offline_config(), out=out, ask=Answers(*GOOD), keyring=keyring)
    assert code == 1
    assert keyring.entries == {}
    assert "could not reach Angel One" in out.getvalue()


def test_without_the_keyring_package_the_env_vars_are_shown() -> None:
    out = io.StringIO()
    ask = Answers(*GOOD)
    code = run_login(offline_config(), out=out, ask=ask, keyring=None)
    text = out.getvalue()
    assert code == 2
    assert ask.prompts == []  # nothing is asked when it cannot be stored
    assert "'keyring' package is not installed" in text
    for variable in (
        "COCKPIT_ANGEL_API_KEY",
        "COCKPIT_ANGEL_CLIENT_CODE",
        "COCKPIT_ANGEL_PIN",
        "COCKPIT_ANGEL_TOTP_SECRET",
    ):
        assert variable in text


def test_forget_deletes_the_entries() -> None:
    keyring = MemoryKeyring()
    for name, value in zip(("api_key", "client_code", "pin", "totp_secret"), GOOD, strict=True):
        keyring.set_password(KEYRING_SERVICE, name, value)
    keyring.set_password("other-service", "pin", "0000")
    out = io.StringIO()
    assert run_login(offline_config(), out=out, keyring=keyring, forget=True) == 0
    assert keyring.entries == {("other-service", "pin"): "0000"}
    assert "Removed" in out.getvalue()
    again = io.StringIO()
    assert run_login(offline_config(), out=again, keyring=keyring, forget=True) == 0
    assert "No Angel One credentials were stored" in again.getvalue()


class BrokenKeyring(MemoryKeyring):
    """A keyring whose backend refuses to store (a headless server without a secret service)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("No recommended backend was available")


async def test_a_keyring_that_refuses_shows_the_env_alternative() -> None:
    out = io.StringIO()
    code = await login_command(
        offline_config(), out=out, ask=Answers(*GOOD), keyring=BrokenKeyring(), verify=False
    )
    assert code == 1
    assert "The keyring refused to store" in out.getvalue()
    assert "COCKPIT_ANGEL_TOTP_SECRET=..." in out.getvalue()
    assert_silent(out.getvalue())


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("api_key", "abcd1234", True),
        ("api_key", "has space", False),
        ("api_key", "", False),
        ("client_code", "A123456", True),
        ("client_code", "A-12", False),
        ("pin", "1234", True),
        ("pin", "123456", True),
        ("pin", "123", False),
        ("pin", "12a4", False),
        ("totp_secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", True),
        ("totp_secret", "jbsw y3dp ehpk 3pxp jbsw y3dp", True),
        ("totp_secret", "JBSWY3DP", False),
        ("totp_secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX1", False),
    ],
)
def test_validate_field(name: str, value: str, ok: bool) -> None:
    problem = validate_field(name, value)
    assert (problem is None) is ok
    if problem is not None and value:
        assert value not in problem
