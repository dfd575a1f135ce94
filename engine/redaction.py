"""Redaction of secrets from anything that may be written or shown.

Two layers:

* exact values: whoever handles a secret (the login code, the keyring loader) registers the value
  with :func:`register_secret`; every occurrence is then replaced, wherever it appears;
* patterns: JWTs, ``Bearer`` tokens, base32 TOTP seeds, and ``key=value`` / ``"key": "value"``
  pairs whose key names a secret (password, pin, totp, secret, token, api key, authorization ...).

:func:`redact` is used by the log filter (cockpit/logging_setup.py), by exception formatting in the
app, and by the journal writer for free-text fields.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

_SECRET_KEY = (
    r"(?:api[_-]?key|x-api-key|apikey|client[_-]?code|clientcode|x-client-code|password|passwd|"
    r"pin|mpin|totp(?:[_-]?secret)?|secret|private[_-]?key|"
    r"(?:jwt|access|refresh|feed|auth|session|request)[_-]?token|"
    r"x-feed-token|authorization)"
)
# "key": "value" (JSON), key='value', key=value, key: value (headers)
_KV_RE = re.compile(
    r"(?P<key>[\"']?\b" + _SECRET_KEY + r"\b[\"']?\s*[:=]\s*)"
    r"(?P<q>[\"']?)(?P<val>(?:Bearer\s+)?[^\s\"',;&}]+)(?P=q)",
    re.IGNORECASE,
)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")
_BEARER_RE = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# A base32 TOTP seed standing alone: 26-64 chars of A-Z2-7 with a digit and a letter. Shorter
# base32-looking words are common in symbols (BANKNIFTY25NOV26FUT), so they are left alone; real
# seeds are caught exactly by register_secret() and by the key/value pattern.
_TOTP_RE = re.compile(r"\b(?=[A-Z2-7]*[2-7])(?=[A-Z2-7]*[A-Z])[A-Z2-7]{26,64}\b")

_lock = threading.Lock()
_values: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that every later :func:`redact` masks it.

    Values shorter than 4 characters are not registered on their own (a 4-digit PIN is; a 1-char
    value would mask half the log), but key/value patterns still catch them.
    """
    global _values
    if not value or len(value) < 4:
        return
    with _lock:
        if value not in _values:
            # Longest first so that a secret containing another is masked whole.
            _values = tuple(sorted((*_values, value), key=len, reverse=True))


def forget_secrets() -> None:
    """Forget every registered value (tests; logout)."""
    global _values
    with _lock:
        _values = ()


def registered_count() -> int:
    """How many exact secret values are registered."""
    return len(_values)


def redact(text: str) -> str:
    """Return ``text`` with every known or recognisable secret replaced by ``***``."""
    for value in _values:
        if value in text:
            text = text.replace(value, MASK)
    text = _JWT_RE.sub(MASK, text)
    text = _BEARER_RE.sub("Bearer " + MASK, text)
    text = _KV_RE.sub(_mask_kv, text)
    return _TOTP_RE.sub(MASK, text)


def _mask_kv(match: re.Match[str]) -> str:
    quote = match.group("q")
    return f"{match.group('key')}{quote}{MASK}{quote}"


_KEY_ONLY_RE = re.compile(r"^" + _SECRET_KEY + r"$", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (``api_key``, ``totp_secret``, ``jwtToken``...)."""
    return bool(_KEY_ONLY_RE.match(key.strip().replace(" ", "_")))


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts/lists/tuples; mask whole values under secret keys."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        items: Iterable[Any] = (redact_value(v) for v in value)
        return list(items) if isinstance(value, list) else tuple(items)
    return value
