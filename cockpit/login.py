"""``cockpit login``: ask for the Angel One credentials and keep them in the system keyring.

The four values (API key, client code, PIN, TOTP secret) are asked with :func:`getpass.getpass`
(nothing is echoed), checked for format, optionally tried with one login against the configured
REST URL (``[angelone] rest_url`` / ``COCKPIT_ANGEL_REST_URL``), and stored in the system keyring
under service ``cockpit-angelone`` with the field name as the username (``api_key``,
``client_code``, ``pin``, ``totp_secret``): exactly where
:meth:`brokers.angelone.auth.AngelCredentials.load` looks for them. ``cockpit login --forget``
deletes the four entries.

The values are never written to a file this program owns, never printed (not even partially) and
never logged: every value is registered with :func:`engine.redaction.register_secret` the moment it
is typed. Environment variables (``COCKPIT_ANGEL_*``) win over the keyring when both are set.

The ``keyring`` package is optional. Without it (or without a usable keyring backend, as on a
headless server) the command says so and shows the environment-variable alternative.
"""

from __future__ import annotations

import asyncio
import binascii
import getpass
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol, TextIO

import pyotp

from brokers.angelone.auth import ENV_VARS, KEYRING_SERVICE, AngelCredentials
from brokers.angelone.errors import AngelError
from brokers.angelone.rest import AngelRestClient
from cockpit.config import CockpitConfig
from engine.redaction import redact, register_secret

__all__ = [
    "FIELDS",
    "KeyringBackend",
    "LoginField",
    "env_alternative",
    "login_command",
    "run_login",
    "system_keyring",
    "validate_field",
]


class KeyringBackend(Protocol):
    """The three calls of the ``keyring`` package that ``cockpit login`` uses.

    The ``keyring`` module itself satisfies this protocol; tests pass an in-memory object.
    """

    def get_password(self, service: str, username: str) -> str | None:
        """The stored value, or ``None``."""
        ...

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store (or replace) a value."""
        ...

    def delete_password(self, service: str, username: str) -> None:
        """Delete a value; raises when there is none."""
        ...


@dataclass(frozen=True, slots=True)
class LoginField:
    """One credential: its keyring username, what the prompt calls it, and what a valid value is."""

    name: str
    label: str
    rule: str


FIELDS: Final = (
    LoginField("api_key", "SmartAPI API key", "the API key of your SmartAPI app (no spaces)"),
    LoginField("client_code", "Angel One client code", "letters and digits, e.g. A123456"),
    LoginField("pin", "PIN (MPIN)", "4 to 6 digits"),
    LoginField(
        "totp_secret",
        "TOTP secret",
        "the base32 text (letters A-Z, digits 2-7) shown when you enabled TOTP on the account",
    ),
)
"""The credentials, in the order they are asked."""

_API_KEY_RE: Final = re.compile(r"[A-Za-z0-9_\-]{4,128}")
_CLIENT_CODE_RE: Final = re.compile(r"[A-Za-z0-9]{3,32}")
_PIN_RE: Final = re.compile(r"[0-9]{4,6}")
_ATTEMPTS: Final = 3
_TOTP_MIN: Final = 23


def system_keyring() -> KeyringBackend | None:
    """The ``keyring`` module when the optional package is installed, else ``None``."""
    try:
        module = importlib.import_module("keyring")
    except ImportError:
        return None
    needed = ("get_password", "set_password", "delete_password")
    if not all(callable(getattr(module, name, None)) for name in needed):
        return None
    backend: KeyringBackend = module
    return backend


def env_alternative() -> str:
    """How to provide the credentials without a keyring (names only, never values)."""
    names = " ".join(f"{variable}=..." for variable in ENV_VARS.values())
    return (
        "Set the credentials as environment variables instead, e.g. in a file only you can read "
        f"(chmod 600) that your shell sources: export {names}"
    )


def validate_field(name: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``name`` (a message without the value), or ``None``."""
    text = value.strip()
    field = next((f for f in FIELDS if f.name == name), None)
    if field is None:
        raise ValueError(
            f"unknown credential field {name!r}; use one of {', '.join(f.name for f in FIELDS)}"
        )
    if not text:
        return f"{field.label} is empty; it must be {field.rule}"
    if name == "api_key" and not _API_KEY_RE.fullmatch(text):
        return f"{field.label} has characters an API key does not have; it must be {field.rule}"
    if name == "client_code" and not _CLIENT_CODE_RE.fullmatch(text):
        return f"{field.label} is not a client code; it must be {field.rule}"
    if name == "pin" and not _PIN_RE.fullmatch(text):
        return f"{field.label} is not a PIN; it must be {field.rule}"
    if name == "totp_secret":
        seed = "".join(text.split()).upper()
        try:
            usable = len(seed) >= _TOTP_MIN and bool(pyotp.TOTP(seed).byte_secret())
        except (ValueError, binascii.Error):
            usable = False
        if not usable:
            return (
                f"{field.label} is not a usable TOTP seed; it must be {field.rule} "
                f"(at least {_TOTP_MIN} characters; spaces are ignored)"
            )
    return None


Ask = Callable[[str], str]


def _ask_field(field: LoginField, ask: Ask, out: TextIO) -> str | None:
    """Ask until the value is valid (at most three times); ``None`` after three bad answers."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            value = ask(f"{field.label}: ")
        except EOFError:
            return None
        register_secret(value)
        register_secret(value.strip())
        problem = validate_field(field.name, value)
        if problem is None:
            return value.strip()
        left = _ATTEMPTS - attempt
        print(f"  {problem}." + (f" Try again ({left} left)." if left else ""), file=out)
    return None


async def _verify(values: Mapping[str, str], config: CockpitConfig, out: TextIO) -> bool:
    """One login (and logout) against the configured REST URL; prints what happened."""
    url = config.angelone.rest_url
    print(f"Trying a login at {url} ...", file=out)
    try:
        credentials = AngelCredentials(**values)
        async with AngelRestClient(credentials, base_url=url, timeout=15.0) as client:
            await client.login()
    except AngelError as exc:
        print(f"  The login failed: {redact(str(exc))}", file=out)
        print(
            "  Nothing was stored. Check the values and run `cockpit login` again, or run "
            "`cockpit login --no-verify` to store them without trying a login.",
            file=out,
        )
        return False
    print("  Login OK (logged out again).", file=out)
    return True


async def login_command(
    config: CockpitConfig,
    *,
    out: TextIO,
    ask: Ask = getpass.getpass,
    keyring: KeyringBackend | Literal["system"] | None = "system",
    forget: bool = False,
    verify: bool = True,
) -> int:
    """``cockpit login`` (or ``--forget``). Returns the exit code: 0 done, 1 failed, 2 unusable.

    ``ask`` reads one answer without echo (default :func:`getpass.getpass`); ``keyring`` is the
    store (default: the system keyring, ``None``: none available); ``verify`` tries one login
    with the new values before storing them.
    """
    backend = system_keyring() if keyring == "system" else keyring
    if backend is None:
        print(
            "The optional 'keyring' package is not installed, so cockpit cannot keep the "
            "credentials in the system keyring (install it with `pip install keyring`).",
            file=out,
        )
        print(env_alternative(), file=out)
        return 2
    if forget:
        return _forget(backend, out)
    print(
        "Angel One credentials for cockpit. Nothing you type is shown; the values go to the "
        f"system keyring (service {KEYRING_SERVICE!r}), never to a file.",
        file=out,
    )
    values: dict[str, str] = {}
    for field in FIELDS:
        value = _ask_field(field, ask, out)
        if value is None:
            print(f"No valid {field.label} given; nothing was stored.", file=out)
            return 2
        values[field.name] = value
    if verify and not await _verify(values, config, out):
        return 1
    failed: list[str] = []
    for field in FIELDS:
        try:
            backend.set_password(KEYRING_SERVICE, field.name, values[field.name])
        except Exception as exc:  # keyring backends raise many kinds of errors
            failed.append(f"{field.label} ({type(exc).__name__})")
    if failed:
        print(f"The keyring refused to store: {', '.join(failed)}.", file=out)
        print(env_alternative(), file=out)
        return 1
    print(
        f"Stored the API key, client code, PIN and TOTP secret in the system keyring (service "
        f"{KEYRING_SERVICE!r}). Environment variables COCKPIT_ANGEL_* still win when set. "
        "Run `cockpit doctor` to check the whole live setup.",
        file=out,
    )
    return 0


def _forget(backend: KeyringBackend, out: TextIO) -> int:
    removed: list[str] = []
    failed: list[str] = []
    for field in FIELDS:
        try:
            present = backend.get_password(KEYRING_SERVICE, field.name) is not None
            if present:
                backend.delete_password(KEYRING_SERVICE, field.name)
                removed.append(field.label)
        except Exception as exc:  # keyring backends raise many kinds of errors
            failed.append(f"{field.label} ({type(exc).__name__})")
    if removed:
        print(
            f"Removed from the keyring (service {KEYRING_SERVICE!r}): {', '.join(removed)}.",
            file=out,
        )
    else:
        print(
            f"No Angel One credentials were stored in the keyring (service {KEYRING_SERVICE!r}).",
            file=out,
        )
    if failed:
        print(f"Could not remove: {', '.join(failed)}.", file=out)
        return 1
    return 0


def run_login(
    config: CockpitConfig,
    *,
    out: TextIO,
    ask: Ask = getpass.getpass,
    keyring: KeyringBackend | Literal["system"] | None = "system",
    forget: bool = False,
    verify: bool = True,
) -> int:
    """:func:`login_command` on a fresh event loop (for the CLI)."""
    return asyncio.run(
        login_command(config, out=out, ask=ask, keyring=keyring, forget=forget, verify=verify)
    )
