"""What the journal stores: records, snapshots, exact JSON encoding and the hash chain.

Each event row is hash-chained: ``hash = sha256(prev_hash + canonical row content)``, hex encoded,
and the first row's ``prev_hash`` is :data:`GENESIS_HASH` (64 zeros). The canonical content is
the row's fields joined by newlines, with every string but the last length-prefixed, so no two
different rows share a content string::

    prev_hash NL seq NL ts NL len:kind NL len:account NL len:coid (or -) NL payload

(``NL`` is a newline; ``coid`` is the client order id, ``-`` when there is none.)

``payload`` is the stored JSON text itself (never re-encoded), so verifying the chain needs no
JSON work. Payloads are encoded canonically (sorted keys, no spaces, ASCII only) and checked to
round-trip exactly: a payload that JSON would silently change (tuple -> list, int key -> str key,
NaN) is refused with a message naming the offending element.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Final

from engine.journal_errors import JournalPayloadError

__all__ = [
    "GENESIS_HASH",
    "MAX_NAME_LENGTH",
    "JournalRecord",
    "Snapshot",
    "check_name",
    "encode_exact_json",
    "event_hash",
]

GENESIS_HASH: Final = "0" * 64
"""``prev_hash`` of the first event (seq 1)."""

MAX_NAME_LENGTH: Final = 200
"""Longest accepted ``kind``, ``account`` or ``client_order_id``."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, sort_keys=True, separators=(",", ":")
)
_RAW_DECODE: Final = json.JSONDecoder().raw_decode


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One journalled event, exactly as stored.

    ``seq`` starts at 1 and has no gaps. ``ts`` is ns since the epoch (from the journal's clock
    unless the caller gave one). ``payload`` is the decoded JSON; for a record returned by an
    append it is a fresh decoded copy, equal to what was passed in and independent of it.
    """

    seq: int
    ts: int
    kind: str
    account: str
    client_order_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A checkpoint of the core's state covering events ``1..seq``.

    Recover by loading ``state`` and replaying ``journal.replay(from_seq=snapshot.seq + 1)``.
    ``event_hash`` is the hash of event ``seq`` (or :data:`GENESIS_HASH` for ``seq == 0``), which
    ties the snapshot to the chain.
    """

    seq: int
    ts: int
    state: dict[str, Any]
    event_hash: str


def event_hash(
    prev_hash: str,
    seq: int,
    ts: int,
    kind: str,
    account: str,
    client_order_id: str | None,
    payload_json: str,
) -> str:
    """Hex sha256 of ``prev_hash`` plus the canonical content of one event row."""
    coid = "-" if client_order_id is None else f"{len(client_order_id)}:{client_order_id}"
    text = (
        f"{prev_hash}\n{seq}\n{ts}\n{len(kind)}:{kind}\n{len(account)}:{account}\n{coid}\n"
        f"{payload_json}"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_name(value: object, what: str, *, optional: bool = False) -> None:
    """Refuse a ``kind``, ``account`` or ``client_order_id`` the journal cannot store exactly.

    A name is a non-empty ``str`` of printable characters (no control characters, newlines or
    lone surrogates), at most :data:`MAX_NAME_LENGTH` long. ``None`` passes if ``optional``.
    """
    if value is None and optional:
        return
    if not isinstance(value, str):
        expected = "a str or None" if optional else "a str"
        raise JournalPayloadError(f"{what} must be {expected}, got {type(value).__name__}")
    if not value or len(value) > MAX_NAME_LENGTH or not value.isprintable():
        raise JournalPayloadError(
            f"{what} must be 1..{MAX_NAME_LENGTH} printable characters (no control characters "
            f"or newlines), got {value!r}"
        )


def check_int64(value: object, what: str) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) that fits SQLite's INTEGER."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise JournalPayloadError(f"{what} must be an int, got {type(value).__name__}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise JournalPayloadError(f"{what} must fit in a signed 64-bit integer, got {value}")
    return value


def encode_exact_json(value: object, what: str) -> tuple[str, dict[str, Any]]:
    """Encode a dict as canonical JSON and return ``(text, decoded copy)``.

    Raises :class:`JournalPayloadError` unless ``value`` is a ``dict`` whose JSON decodes back to
    an equal value: only dicts with ``str`` keys, lists, ``str``, ``int``, finite ``float``,
    ``bool`` and ``None`` qualify (``str``/``int`` subclasses such as enums compare equal and are
    stored as their plain values).
    """
    if not isinstance(value, dict):
        raise JournalPayloadError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise JournalPayloadError(_explain(value, what) or f"{what}: {exc}") from None
    decoded: dict[str, Any] = _RAW_DECODE(text)[0]  # our own output: no whitespace to skip
    if decoded != value:
        raise JournalPayloadError(
            _explain(value, what) or f"{what} does not survive a JSON round trip"
        )
    return text, decoded


def _explain(value: object, what: str) -> str | None:
    """Describe why ``value`` cannot be stored exactly (None if no single element is to blame)."""
    try:
        return _describe_inexact(value, what)
    except RecursionError:
        return f"{what} is nested too deeply or contains itself (a circular reference)"


def _describe_inexact(value: object, path: str) -> str | None:
    """Name the first element of ``value`` that JSON cannot store exactly, or None."""
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"{path} is {value!r}; JSON has no NaN or infinity, store None or a string"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (
                    f"{path} has key {key!r} of type {type(key).__name__}; JSON object keys are "
                    f"strings, so use str keys (e.g. {str(key)!r})"
                )
            problem = _describe_inexact(item, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _describe_inexact(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, tuple):
        return f"{path} is a tuple; JSON would return a list, so pass a list"
    return (
        f"{path} is a {type(value).__name__}, which JSON cannot store; use dict, list, str, "
        f"int, float, bool or None (money as int paise, enums as their .value)"
    )
