"""Angel One credentials, TOTP login and the session's tokens.

Credentials (API key, client code, PIN, TOTP secret) come from the environment
(``COCKPIT_ANGEL_API_KEY``, ``COCKPIT_ANGEL_CLIENT_CODE``, ``COCKPIT_ANGEL_PIN``,
``COCKPIT_ANGEL_TOTP_SECRET``) or, for any that is not set there, from the system keyring (service
``cockpit-angelone``, one entry per field name) when the optional ``keyring`` package is installed.
Every value is registered with :func:`engine.redaction.register_secret` the moment it is loaded,
and so is every token the session receives; ``repr()``/``str()`` of credentials and sessions show
no secret.

Session life (research/smartapi.md §4): a login (``loginByPassword`` with client code, PIN and the
current TOTP) yields a jwt, a refresh token and a feed token. Angel says a session "remains active
till 12 midnight", so by default a session expires at the next IST midnight; ``lifetime`` makes it a
fixed duration instead. :class:`AngelSessionManager`

* refreshes the tokens with ``generateTokens`` shortly before they expire (``refresh_margin``) and
  whenever Angel refuses the jwt (the REST client then retries the refused request once);
* logs in again when the refresh token itself is refused;
* retries a login once when Angel says the TOTP is invalid and this machine's clock was within
  ``totp_edge`` seconds of a 30-second window edge (the code for the neighbouring window is sent);
* offers :meth:`AngelSessionManager.daily_relogin`, which the app schedules once a day after the
  midnight expiry and before the 09:00 IST pre-open: :data:`DAILY_RELOGIN_AT` (08:30 IST) and
  :func:`next_daily_relogin` give the time.
"""

from __future__ import annotations

import asyncio
import binascii
import importlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any, Final, Protocol

import pyotp

from brokers.angelone.errors import (
    AngelCredentialsError,
    AngelError,
    AngelProtocolError,
    AngelRefreshTokenInvalid,
    AngelSessionInvalid,
    AngelTotpRejected,
)
from engine.clock import IST
from engine.redaction import register_secret

__all__ = [
    "DAILY_RELOGIN_AT",
    "ENV_VARS",
    "KEYRING_SERVICE",
    "TOTP_STEP_S",
    "AngelCredentials",
    "AngelSession",
    "AngelSessionManager",
    "AuthCall",
    "KeyringGetter",
    "next_daily_relogin",
    "session_expiry",
]

log = logging.getLogger(__name__)

ENV_VARS: Final[Mapping[str, str]] = {
    "api_key": "COCKPIT_ANGEL_API_KEY",
    "client_code": "COCKPIT_ANGEL_CLIENT_CODE",
    "pin": "COCKPIT_ANGEL_PIN",
    "totp_secret": "COCKPIT_ANGEL_TOTP_SECRET",
}
"""Credential field -> environment variable."""

KEYRING_SERVICE: Final = "cockpit-angelone"
"""Keyring service name; the usernames are the field names (``api_key``, ``pin``...)."""

TOTP_STEP_S: Final = 30
"""RFC 6238 time step Angel uses."""

DAILY_RELOGIN_AT: Final = dtime(8, 30)
"""When (IST) the app should call :meth:`AngelSessionManager.daily_relogin` each day: after the
midnight expiry of yesterday's tokens, before the 09:00 pre-open."""

KeyringGetter = Callable[[str, str], str | None]
"""``get_password(service, username)`` as the keyring package offers it."""

_MASK = "***"


def _keyring_getter() -> KeyringGetter | None:
    """``keyring.get_password`` when the optional keyring package is installed."""
    try:
        module = importlib.import_module("keyring")
    except ImportError:
        return None
    getter = getattr(module, "get_password", None)
    return getter if callable(getter) else None


@dataclass(frozen=True, slots=True, repr=False)
class AngelCredentials:
    """What logging in to Angel One needs. Values are registered as secrets on creation.

    ``totp_secret`` is the base32 seed shown when TOTP was enabled on the Angel account (spaces
    are ignored, case does not matter).
    """

    api_key: str
    client_code: str
    pin: str
    totp_secret: str

    def __post_init__(self) -> None:
        for name in ENV_VARS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise AngelCredentialsError(
                    f"Angel One credential {name} is empty; set {ENV_VARS[name]} or store it in "
                    f"the keyring (service {KEYRING_SERVICE!r}, username {name!r})"
                )
            register_secret(value)
            register_secret(value.strip())
        seed = "".join(self.totp_secret.split()).upper()
        register_secret(seed)
        object.__setattr__(self, "totp_secret", seed)
        object.__setattr__(self, "api_key", self.api_key.strip())
        object.__setattr__(self, "client_code", self.client_code.strip())
        object.__setattr__(self, "pin", self.pin.strip())
        try:
            pyotp.TOTP(seed).byte_secret()
        except (ValueError, binascii.Error):
            raise AngelCredentialsError(
                f"{ENV_VARS['totp_secret']} is not a usable TOTP seed: it must be the base32 text "
                "(letters A-Z and digits 2-7, at least 23 characters) shown when TOTP was enabled "
                "on the Angel One account"
            ) from None

    def __repr__(self) -> str:
        return f"AngelCredentials(api_key={_MASK}, client_code={_MASK}, pin={_MASK}, totp={_MASK})"

    __str__ = __repr__

    def totp_at(self, when: float) -> str:
        """The 6-digit TOTP for the window containing ``when`` (Unix seconds)."""
        return pyotp.TOTP(self.totp_secret).at(when)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AngelCredentials:
        """Read all four values from the environment; raises naming the variables missing."""
        return cls.load(env, use_keyring=False)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        use_keyring: bool = True,
        keyring_get: KeyringGetter | None = None,
    ) -> AngelCredentials:
        """Each value from the environment, else from the keyring (when available).

        ``keyring_get`` replaces the keyring package's ``get_password`` (tests, other stores).
        Raises :class:`AngelCredentialsError` naming every variable that is missing.
        """
        environ = os.environ if env is None else env
        getter = (
            keyring_get if keyring_get is not None else (_keyring_getter() if use_keyring else None)
        )
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, variable in ENV_VARS.items():
            value = environ.get(variable, "").strip()
            if value:
                register_secret(value)
            elif getter is not None:
                value = _from_keyring(getter, name)
            if value:
                values[name] = value
            else:
                missing.append(variable)
        if missing:
            where = (
                f"or store them in the system keyring (service {KEYRING_SERVICE!r})"
                if getter is not None
                else "(or install the 'keyring' package and store them there)"
            )
            raise AngelCredentialsError(
                f"Angel One credentials missing: set {', '.join(missing)} {where}"
            )
        return cls(**values)


def _from_keyring(getter: KeyringGetter, name: str) -> str:
    try:
        value = getter(KEYRING_SERVICE, name)
    except Exception as exc:  # keyring backends raise many kinds of errors
        log.warning("keyring lookup of %s failed: %s", name, type(exc).__name__)
        return ""
    if not value or not value.strip():
        return ""
    register_secret(value)
    register_secret(value.strip())
    return value.strip()


def session_expiry(issued_at: float, lifetime: timedelta | None) -> float:
    """When a session issued at ``issued_at`` expires: ``lifetime`` later, or the next IST midnight
    when ``lifetime`` is ``None`` (Angel: "remains active till 12 midnight")."""
    if lifetime is not None:
        return issued_at + lifetime.total_seconds()
    issued = datetime.fromtimestamp(issued_at, IST)
    midnight = datetime.combine(issued.date() + timedelta(days=1), dtime(0), tzinfo=IST)
    return midnight.timestamp()


def next_daily_relogin(now: float, at: dtime = DAILY_RELOGIN_AT) -> float:
    """Unix time of the next daily re-login at ``at`` IST strictly after ``now``."""
    moment = datetime.fromtimestamp(now, IST)
    target = datetime.combine(moment.date(), at, tzinfo=IST)
    if target.timestamp() <= now:
        target = datetime.combine(moment.date() + timedelta(days=1), at, tzinfo=IST)
    return target.timestamp()


@dataclass(frozen=True, slots=True, repr=False)
class AngelSession:
    """The tokens of one logged-in session (registered as secrets) and its expiry (Unix s)."""

    jwt_token: str
    refresh_token: str
    feed_token: str
    issued_at: float
    expires_at: float

    def __post_init__(self) -> None:
        for token in (self.jwt_token, self.refresh_token, self.feed_token):
            register_secret(token)

    def __repr__(self) -> str:
        issued = datetime.fromtimestamp(self.issued_at, IST).isoformat(timespec="seconds")
        expires = datetime.fromtimestamp(self.expires_at, IST).isoformat(timespec="seconds")
        return f"AngelSession(tokens={_MASK}, issued={issued}, expires={expires})"

    __str__ = __repr__


class AuthCall(Protocol):
    """Sends one auth request (``login``, ``generate_tokens``, ``logout``) and returns ``data``.

    ``jwt`` is the bearer token to send (``None``: no Authorization header). Error envelopes are
    raised as :mod:`brokers.angelone.errors` exceptions; the session is never refreshed here.
    """

    def __call__(self, route: str, body: Mapping[str, Any], *, jwt: str | None) -> Awaitable[Any]:
        """Send the request."""
        ...


def _bare(token: object) -> str:
    """A token without a ``Bearer `` prefix (some generateTokens answers carry one)."""
    text = token.strip() if isinstance(token, str) else ""
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    return text


class AngelSessionManager:
    """Owns the session: login, refresh, re-login, logout. Safe for concurrent callers.

    ``clock`` is the wall clock in Unix seconds (TOTP codes and expiry use it).
    """

    def __init__(
        self,
        credentials: AngelCredentials,
        call: AuthCall,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: timedelta | None = None,
        refresh_margin: timedelta = timedelta(minutes=5),
        totp_edge: float = 5.0,
    ) -> None:
        if lifetime is not None and lifetime <= refresh_margin:
            raise ValueError(
                f"session lifetime {lifetime} must be longer than the refresh margin "
                f"{refresh_margin}"
            )
        if not 0 <= totp_edge < TOTP_STEP_S / 2:
            raise ValueError(f"totp_edge must be between 0 and 15 seconds, got {totp_edge}")
        self._credentials = credentials
        self._call = call
        self._clock = clock
        self._lifetime = lifetime
        self._margin = refresh_margin.total_seconds()
        self._totp_edge = totp_edge
        self._session: AngelSession | None = None
        self._lock = asyncio.Lock()
        # Set when a refresh did not push the expiry out (the midnight rule): no proactive refresh
        # again before that expiry, or every request near midnight would refresh.
        self._stuck_expiry: float | None = None

    def __repr__(self) -> str:
        return f"AngelSessionManager(session={self._session!r})"

    @property
    def session(self) -> AngelSession | None:
        """The current session, or ``None`` before login / after logout."""
        return self._session

    @property
    def client_code(self) -> str:
        """The account's client code (a secret: never log it)."""
        return self._credentials.client_code

    def refresh_due(self, now: float | None = None) -> bool:
        """True when the session should be refreshed before the next request."""
        session = self._session
        if session is None:
            return False
        now = self._clock() if now is None else now
        if now >= session.expires_at:
            return True
        if now < session.expires_at - self._margin:
            return False
        return self._stuck_expiry != session.expires_at

    async def ensure_session(self) -> AngelSession:
        """The session to use now: logs in when there is none, refreshes when one is due."""
        session = self._session
        if session is not None and not self.refresh_due():
            return session
        async with self._lock:
            session = self._session
            if session is None:
                return await self._login_locked()
            if self.refresh_due():
                return await self._refresh_locked(session)
            return session

    async def login(self) -> AngelSession:
        """Log in with client code, PIN and TOTP; replaces any current session."""
        async with self._lock:
            return await self._login_locked()

    async def refresh(self) -> AngelSession:
        """Refresh the tokens now (logs in again if the refresh token is refused)."""
        async with self._lock:
            if self._session is None:
                return await self._login_locked()
            return await self._refresh_locked(self._session)

    async def recover(self, refused_jwt: str) -> AngelSession:
        """A new session after Angel refused ``refused_jwt``; concurrent callers refresh once."""
        async with self._lock:
            session = self._session
            if session is None:
                return await self._login_locked()
            if session.jwt_token != refused_jwt:
                return session  # someone else refreshed while we waited
            return await self._refresh_locked(session)

    async def daily_relogin(self) -> AngelSession:
        """Log out (best effort) and log in afresh. Schedule at :data:`DAILY_RELOGIN_AT` daily."""
        async with self._lock:
            await self._logout_locked()
            return await self._login_locked()

    async def logout(self) -> None:
        """End the session at Angel (best effort: failures are logged, not raised)."""
        async with self._lock:
            await self._logout_locked()

    # ---- internals (called with the lock held) ----------------------------------------------

    async def _login_locked(self) -> AngelSession:
        creds = self._credentials
        now = self._clock()
        body = {"clientcode": creds.client_code, "password": creds.pin, "totp": creds.totp_at(now)}
        try:
            data = await self._call("login", body, jwt=None)
        except AngelTotpRejected:
            into_window = now % TOTP_STEP_S
            if TOTP_STEP_S - into_window <= self._totp_edge:
                neighbour, which = now + TOTP_STEP_S, "next"
            elif into_window < self._totp_edge:
                neighbour, which = now - TOTP_STEP_S, "previous"
            else:
                raise
            log.info(
                "Angel One refused the TOTP %.1f s from a window edge; retrying once with the "
                "%s window's code",
                min(into_window, TOTP_STEP_S - into_window),
                which,
            )
            body["totp"] = creds.totp_at(neighbour)
            data = await self._call("login", body, jwt=None)
        self._stuck_expiry = None
        session = self._session_from(data, previous=None)
        log.info("logged in to Angel One; session expires %s", _ist(session.expires_at))
        return session

    async def _refresh_locked(self, session: AngelSession) -> AngelSession:
        try:
            data = await self._call(
                "generate_tokens", {"refreshToken": session.refresh_token}, jwt=session.jwt_token
            )
        except (AngelRefreshTokenInvalid, AngelSessionInvalid) as exc:
            log.info("Angel One refused the token refresh (%s); logging in again", exc.code)
            return await self._login_locked()
        fresh = self._session_from(data, previous=session)
        if fresh.expires_at <= session.expires_at:
            self._stuck_expiry = fresh.expires_at
        log.info("refreshed the Angel One session; expires %s", _ist(fresh.expires_at))
        return fresh

    async def _logout_locked(self) -> None:
        session = self._session
        self._session = None
        if session is None:
            return
        try:
            await self._call(
                "logout", {"clientcode": self._credentials.client_code}, jwt=session.jwt_token
            )
        except AngelError as exc:
            log.warning(
                "Angel One logout failed (%s); the session ends at expiry anyway",
                type(exc).__name__,
            )
        else:
            log.info("logged out of Angel One")

    def _session_from(self, data: object, *, previous: AngelSession | None) -> AngelSession:
        if not isinstance(data, Mapping):
            raise AngelProtocolError(
                "Angel One's login/refresh answer carried no token object; try again later",
                status=200,
            )
        jwt = _bare(data.get("jwtToken"))
        refresh = _bare(data.get("refreshToken"))
        feed = _bare(data.get("feedToken"))
        if previous is not None:
            refresh = refresh or previous.refresh_token
            feed = feed or previous.feed_token
        for token in (jwt, refresh, feed):
            register_secret(token)
        missing = [
            name
            for name, value in (("jwtToken", jwt), ("refreshToken", refresh), ("feedToken", feed))
            if not value
        ]
        if missing:
            raise AngelProtocolError(
                f"Angel One's login/refresh answer lacks {', '.join(missing)}; try again later",
                status=200,
            )
        now = self._clock()
        session = AngelSession(jwt, refresh, feed, now, session_expiry(now, self._lifetime))
        self._session = session
        return session


def _ist(when: float) -> str:
    return datetime.fromtimestamp(when, IST).strftime("%Y-%m-%d %H:%M:%S IST")
