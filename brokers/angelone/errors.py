"""Exceptions of the Angel One REST layer, and the mapping from Angel's error envelopes to them.

Angel answers errors in two dialects (research/smartapi.md §3):

* business errors ``{"status": false, "errorcode": "AB1050", "message": "Invalid totp", ...}``;
* gateway errors ``{"success": false, "errorCode": "AG8001", "message": "Invalid Token", ...}``;

plus a plain-text HTTP 403 ``Access denied because of exceeding access rate`` when a rate limit is
exceeded. :func:`error_from_envelope` turns either dialect into one exception class per kind of
failure, and every message says what happened and what to do about it.

No exception built here ever contains a request body, a header, a token or a credential: messages
are made from the operation name, Angel's error code and Angel's own message (itself passed through
:func:`engine.redaction.redact`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.redaction import redact

__all__ = [
    "ERROR_MEANINGS",
    "SESSION_INVALID_CODES",
    "AngelApiError",
    "AngelAuthError",
    "AngelCredentialsError",
    "AngelError",
    "AngelNotFound",
    "AngelOrderRejected",
    "AngelProtocolError",
    "AngelRateLimitError",
    "AngelRefreshTokenInvalid",
    "AngelServerError",
    "AngelSessionInvalid",
    "AngelSessionUnavailable",
    "AngelTotpRejected",
    "AngelTransportError",
    "OrderOutcomeUnknown",
    "WireError",
    "envelope_code",
    "error_from_envelope",
]


class AngelError(Exception):
    """Base of every Angel One REST-layer error. ``str()`` is a complete, secret-free sentence."""


class WireError(AngelError, ValueError):
    """A value that cannot be expressed in (or read from) Angel's wire format, with the reason."""


class AngelTransportError(AngelError):
    """The request could not be completed at the HTTP level (connect failure, timeout, reset).

    ``sent`` is False when the request certainly never left this machine (connection refused,
    no free connection in the pool), True when it may have reached Angel.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class AngelServerError(AngelError):
    """Angel answered with an HTTP 5xx status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class AngelProtocolError(AngelError):
    """Angel answered with something that is not one of its envelopes (not JSON, wrong shape)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class AngelRateLimitError(AngelError):
    """Angel refused the request because a rate limit was exceeded (HTTP 403 or AB1021)."""


class AngelApiError(AngelError):
    """Angel answered with an error envelope: ``code`` (``AB1009``...) and Angel's ``message``."""

    def __init__(self, code: str, message: str, *, operation: str = "request") -> None:
        self.code = code
        self.message = redact(message)
        self.operation = operation
        super().__init__(_describe(operation, code, self.message))


class AngelAuthError(AngelApiError):
    """Logging in, or using the session, failed (bad credentials, bad API key, blocked client)."""


class AngelCredentialsError(AngelAuthError):
    """Credentials are missing or malformed; the message names the variables, never values."""

    def __init__(self, message: str) -> None:
        self.code = ""
        self.message = message
        self.operation = "load credentials"
        AngelError.__init__(self, message)


class AngelTotpRejected(AngelAuthError):
    """Angel said the TOTP was invalid (AB1050)."""


class AngelSessionInvalid(AngelAuthError):
    """The jwt was refused (invalid, expired, missing, logged out): refresh or log in again."""


class AngelSessionUnavailable(AngelError):
    """No session could be had for a request (the login or refresh failed at the HTTP level, or
    Angel's answer to it was unusable). The request itself was not sent."""


class AngelRefreshTokenInvalid(AngelAuthError):
    """The refresh token was refused (AB8050/AB8051): only a fresh login helps."""


class AngelNotFound(AngelApiError):
    """The order, trade, holding, position or GTT rule asked for does not exist."""


class AngelOrderRejected(AngelApiError):
    """Angel refused an order request (place, modify, cancel, GTT write). Nothing was changed."""


class OrderOutcomeUnknown(AngelError):
    """An order request may or may not have reached Angel; it was NOT resent.

    Raised after a timeout (or a broken/garbled answer) on place, modify, cancel or a GTT write,
    when looking the order up by its tag did not settle the question. The caller must keep the
    order in flight and reconcile it from the order book or the order-update stream; resending
    could create a duplicate order.
    """

    def __init__(self, message: str, *, operation: str, tag: str = "", order_id: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.tag = tag
        self.order_id = order_id


ERROR_MEANINGS: Final[Mapping[str, str]] = {
    "AG8001": "invalid token (expired, logged out or malformed)",
    "AG8002": "token expired",
    "AG8003": "token missing",
    "AG8004": "invalid API key",
    "AB8050": "invalid refresh token",
    "AB8051": "refresh token expired",
    "AB1000": "invalid client code or PIN",
    "AB1001": "invalid client code",
    "AB1002": "invalid PIN length",
    "AB1004": "something went wrong (also returned for a bad candle date range)",
    "AB1005": "user type must be USER",
    "AB1006": "client is blocked for trading",
    "AB1007": "AMX error / invalid parameters",
    "AB1008": "invalid order variety",
    "AB1009": "symbol not found",
    "AB1010": "AMX session expired",
    "AB1011": "client not logged in",
    "AB1012": "invalid product type",
    "AB1013": "order not found",
    "AB1014": "trade not found",
    "AB1015": "holding not found",
    "AB1016": "position not found",
    "AB1017": "position conversion failed",
    "AB1018": "failed to get symbol details",
    "AB1021": "too many requests",
    "AB1050": "invalid TOTP",
    "AB2000": "error not specified",
    "AB2001": "internal error",
    "AB2002": "ROBO orders are blocked",
    "AB4006": "invalid symbol token",
    "AB4008": "ordertag longer than allowed",
    "AB4018": "symbol token cannot be empty",
    "AB4036": "token is under the exchange's cautionary listing (send scripconsent)",
    "AB9000": "GTT internal error",
    "AB9001": "GTT invalid parameters",
    "AB9006": "GTT invalid order quantity",
    "AB9008": "GTT invalid price",
    "AB9009": "GTT invalid trigger price",
    "AB9011": "GTT invalid symbol token",
    "AB9013": "GTT invalid rule id",
    "AB9019": "no data available",
}
"""Angel's error codes (research/smartapi.md §3) with a short meaning for messages."""

SESSION_INVALID_CODES: Final = frozenset({"AG8001", "AG8002", "AG8003", "AB1010", "AB1011"})
"""Codes that mean "this jwt is no good": the client refreshes the session and retries once."""

_REFRESH_INVALID: Final = frozenset({"AB8050", "AB8051"})
_AUTH_CODES: Final = frozenset({"AG8004", "AB1000", "AB1001", "AB1002", "AB1005", "AB1006"})
_NOT_FOUND: Final = frozenset({"AB1013", "AB1014", "AB1015", "AB1016", "AB9013"})
_RATE_LIMIT_CODES: Final = frozenset({"AB1021"})

_HINTS: Final[Mapping[str, str]] = {
    "AG8001": "The session will be refreshed; if this persists, log in again.",
    "AG8002": "The session will be refreshed; if this persists, log in again.",
    "AG8003": "The session will be refreshed; if this persists, log in again.",
    "AG8004": "Check COCKPIT_ANGEL_API_KEY (or the keyring entry): it must be the SmartAPI key "
    "of an app registered for this client code.",
    "AB8050": "Log in again (cockpit re-logs in automatically when credentials are available).",
    "AB8051": "Log in again (cockpit re-logs in automatically when credentials are available).",
    "AB1000": "Check the client code and the PIN (MPIN) configured for Angel One.",
    "AB1001": "Check the client code configured for Angel One.",
    "AB1002": "The PIN (MPIN) must be 4 digits.",
    "AB1006": "Angel One has blocked this client for trading; contact Angel One.",
    "AB1050": "Check COCKPIT_ANGEL_TOTP_SECRET (the base32 seed from the Angel One TOTP setup) "
    "and that this machine's clock is synchronised (NTP).",
    "AB1004": "Check the request parameters (for candles: from <= to and within the "
    "interval's span limit).",
    "AB1008": "Use variety NORMAL, STOPLOSS or ROBO.",
    "AB1012": "Use a product the exchange allows for this instrument.",
    "AB4008": "Use an order tag of at most 20 letters or digits.",
    "AB4036": "The scrip is under surveillance; the order needs scripconsent.",
    "AB1021": "Requests are being sent too fast; wait a second and try again.",
}


def _describe(operation: str, code: str, message: str) -> str:
    meaning = ERROR_MEANINGS.get(code, "")
    head = f"Angel One refused {operation}"
    if code:
        head += f": {code}"
        if meaning:
            head += f" ({meaning})"
    if message and message.lower() != meaning.lower():
        head += f": {message!r}"
    hint = _HINTS.get(code, "")
    return f"{head}. {hint}".rstrip()


def envelope_code(body: Mapping[str, Any]) -> str:
    """The error code of an envelope in either dialect (``errorcode`` or ``errorCode``)."""
    code = body.get("errorcode") or body.get("errorCode") or ""
    return str(code).strip()


def error_from_envelope(
    body: Mapping[str, Any], *, operation: str, order_write: bool = False
) -> AngelError:
    """The exception for an error envelope in either dialect.

    ``order_write`` marks place/modify/cancel and GTT writes: a business error there becomes
    :class:`AngelOrderRejected` (a definitive "not done").
    """
    code = envelope_code(body)
    raw_message = body.get("message")
    message = raw_message if isinstance(raw_message, str) else ""
    if code in _RATE_LIMIT_CODES:
        return AngelRateLimitError(_describe(operation, code, redact(message)))
    if code in SESSION_INVALID_CODES:
        return AngelSessionInvalid(code, message, operation=operation)
    if code in _REFRESH_INVALID:
        return AngelRefreshTokenInvalid(code, message, operation=operation)
    if code == "AB1050":
        return AngelTotpRejected(code, message, operation=operation)
    if code in _AUTH_CODES:
        return AngelAuthError(code, message, operation=operation)
    if code in _NOT_FOUND:
        return AngelNotFound(code, message, operation=operation)
    if order_write:
        return AngelOrderRejected(code, message, operation=operation)
    return AngelApiError(code, message, operation=operation)
