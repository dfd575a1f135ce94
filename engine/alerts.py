"""Price alerts and the notifications the app shows (and may send out): pure state, no I/O.

Alerts are first-class (research/anchors-ui.md §A4): several per instrument, on a price level or
on the percentage change from the previous close, one-shot unless asked to repeat.

How each kind fires, in terms of the *side* of an LTP against the level (below, at, above):

* ``ABOVE`` fires when the LTP reaches the level (``ltp >= level``) after having been below it.
* ``BELOW`` fires when the LTP reaches the level (``ltp <= level``) after having been above it.
* ``CROSS`` fires when the LTP leaves a strict side: it was below and is now at or above, or it was
  above and is now at or below. A touch counts (795 -> 800 fires a cross of 800); coming back from
  the level to where it was does not (795 -> 800 -> 795 fires once).
* ``MOVE_PCT`` fires when ``|ltp - prev_close| / prev_close >= pct / 100`` (exact arithmetic) after
  having been below that move. A quote without a previous close (``prev_close <= 0``) is ignored.

Where the price was before the first quote: :meth:`AlertBook.add` takes the LTP at creation. With
it, an ``ABOVE`` alert whose level is already reached is refused (it could not fire until the price
fell back below; the message says so), likewise ``BELOW``. Without it (no quote yet), ``ABOVE`` and
``BELOW`` are armed, so the first quote at or beyond the level fires; ``CROSS`` learns its side from
the first quote and fires from the next crossing; ``MOVE_PCT`` is always armed at creation.

One-shot alerts (the default) fire once and become FIRED (they stay listed until removed and can be
re-armed). A repeating alert re-arms when the price goes back: to the strict other side for the
level kinds, below the move for ``MOVE_PCT``.

The book keeps a dict per token of that token's ACTIVE alerts, so a quote for an instrument without
alerts costs one dict lookup and a quote with ``k`` alerts costs O(k).

:class:`Notification` is what the app creates from core events (fills, rejections, GTT triggers,
risk breaches, alerts, the kill switch) for the toast, the history screen
(:class:`NotificationHistory`) and the optional outbound channels (``cockpit.notify``).
"""

from __future__ import annotations

import builtins
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from engine.money import format_price

__all__ = [
    "AlertBook",
    "AlertError",
    "AlertFired",
    "AlertKind",
    "AlertRule",
    "AlertStatus",
    "Notification",
    "NotificationHistory",
    "NotificationKind",
    "Severity",
]

_FORMAT_VERSION = 1


class AlertError(ValueError):
    """An alert that cannot be set; the message says what was wrong and what would work."""


class AlertKind(StrEnum):
    """What an alert watches."""

    ABOVE = "ABOVE"
    BELOW = "BELOW"
    CROSS = "CROSS"
    MOVE_PCT = "MOVE_PCT"

    @property
    def is_level(self) -> bool:
        """True for the kinds that watch a price level (all but MOVE_PCT)."""
        return self is not AlertKind.MOVE_PCT


class AlertStatus(StrEnum):
    """ACTIVE alerts are watched; FIRED one-shot alerts wait to be re-armed or removed."""

    ACTIVE = "ACTIVE"
    FIRED = "FIRED"


def _pct_of(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise AlertError(f"pass the percentage as a str or Decimal, not a float ({value!r})")
    try:
        pct = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise AlertError(f"{value!r} is not a percentage; write a number such as 1.5") from None
    if not pct.is_finite() or pct <= 0:
        raise AlertError(f"a move alert needs a percentage above 0, got {value}")
    return pct


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert. ``level`` is in price units (ABOVE, BELOW, CROSS); ``pct`` a Decimal percent
    (MOVE_PCT: ``Decimal("1.5")`` is 1.5 %).

    ``symbol`` and ``price_scale`` are for messages only (``price_scale`` price units per rupee).
    """

    id: str
    token: str
    kind: AlertKind
    level: int | None = None
    pct: Decimal | None = None
    repeat: bool = False
    note: str = ""
    symbol: str = ""
    price_scale: int = 100
    created_ts: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise AlertError("an alert needs a non-empty id")
        if not self.token:
            raise AlertError("an alert needs the instrument token; got an empty token")
        kind = AlertKind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind.is_level:
            if self.pct is not None:
                raise AlertError(f"a {kind.value} alert takes a price level, not a percentage")
            if self.level is None or isinstance(self.level, bool) or self.level <= 0:
                raise AlertError(
                    f"a {kind.value} alert needs a positive price level, got {self.level!r}"
                )
        else:
            if self.level is not None:
                raise AlertError("a MOVE_PCT alert takes a percentage, not a price level")
            if self.pct is None:
                raise AlertError("a MOVE_PCT alert needs a percentage, e.g. Decimal('1')")
            object.__setattr__(self, "pct", _pct_of(self.pct))

    @property
    def name(self) -> str:
        """The instrument as shown to the trader (the symbol, else the token)."""
        return self.symbol or self.token

    def price_text(self, units: int) -> str:
        """A price of this instrument as a rupee string."""
        return format_price(units, self.price_scale)

    def describe(self) -> str:
        """``SBIN above 820.00``, ``NIFTY move 1%``, with `` (repeat)`` when it repeats."""
        if self.kind is AlertKind.MOVE_PCT:
            what = f"move {self.pct}%"
        else:
            assert self.level is not None
            what = f"{self.kind.value.lower()} {self.price_text(self.level)}"
        return f"{self.name} {what}" + (" (repeat)" if self.repeat else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "id": self.id,
            "token": self.token,
            "kind": self.kind.value,
            "level": self.level,
            "pct": None if self.pct is None else str(self.pct),
            "repeat": self.repeat,
            "note": self.note,
            "symbol": self.symbol,
            "price_scale": self.price_scale,
            "created_ts": self.created_ts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertRule:
        """Inverse of :meth:`to_dict`."""
        level = data.get("level")
        pct = data.get("pct")
        return cls(
            id=str(data["id"]),
            token=str(data["token"]),
            kind=AlertKind(data["kind"]),
            level=None if level is None else int(level),
            pct=None if pct is None else Decimal(str(pct)),
            repeat=bool(data.get("repeat", False)),
            note=str(data.get("note", "")),
            symbol=str(data.get("symbol", "")),
            price_scale=int(data.get("price_scale", 100)),
            created_ts=int(data.get("created_ts", 0)),
        )


@dataclass(frozen=True, slots=True)
class AlertFired:
    """An alert fired on one quote. ``direction`` is ``"up"`` or ``"down"``; ``change_pct`` is
    the exact move from the previous close (MOVE_PCT only)."""

    rule: AlertRule
    ltp: int
    prev_close: int
    ts: int
    direction: str
    change_pct: Fraction | None = None

    @property
    def message(self) -> str:
        """One line for the trader: what happened, at what price, and the note."""
        rule = self.rule
        price = rule.price_text(self.ltp)
        if rule.kind is AlertKind.MOVE_PCT:
            assert self.change_pct is not None
            change = Decimal(self.change_pct.numerator) / Decimal(self.change_pct.denominator)
            text = (
                f"{rule.name} moved {change.quantize(Decimal('0.01')):+}% from the previous close "
                f"(alert at {rule.pct}%): {price}"
            )
        else:
            assert rule.level is not None
            verb = "rose to" if self.direction == "up" else "fell to"
            what = "crossed" if rule.kind is AlertKind.CROSS else rule.kind.value.lower()
            text = f"{rule.name} {verb} {price} ({what} {rule.price_text(rule.level)})"
        return f"{text} - {rule.note}" if rule.note else text

    def to_notification(self) -> Notification:
        """The :class:`Notification` the app shows and may send for this alert."""
        return Notification(
            kind=NotificationKind.ALERT,
            title=f"Alert: {self.rule.describe()}",
            body=self.message,
            ts=self.ts,
            severity=Severity.WARNING,
        )


@dataclass(slots=True)
class _Watch:
    """A rule and what the book knows of the price relative to it."""

    rule: AlertRule
    status: AlertStatus = AlertStatus.ACTIVE
    last_side: int | None = None  # level kinds: -1 below, 0 at, +1 above; None unknown
    last_hit: bool | None = None  # MOVE_PCT: the last quote's move was >= pct; None unknown
    fired_count: int = 0
    last_fired_ts: int | None = None
    pct_ratio: tuple[int, int] = (0, 1)  # MOVE_PCT: pct as numerator/denominator (exact)

    def __post_init__(self) -> None:
        if self.rule.pct is not None:
            ratio = Fraction(self.rule.pct)
            self.pct_ratio = (ratio.numerator, ratio.denominator)


def _side(ltp: int, level: int) -> int:
    return (ltp > level) - (ltp < level)


def _initial_side(kind: AlertKind, level: int, ltp: int | None) -> int | None:
    if ltp is not None:
        return _side(ltp, level)
    if kind is AlertKind.ABOVE:
        return -1  # armed: the first quote at or above the level fires
    if kind is AlertKind.BELOW:
        return 1
    return None


class AlertBook:
    """All alerts: add, remove, list, re-arm, and :meth:`on_quote` which says which fired."""

    def __init__(self, id_factory: Callable[[], str] | None = None) -> None:
        self._watches: dict[str, _Watch] = {}
        self._by_token: dict[str, dict[str, _Watch]] = {}
        self._counter = itertools.count(1)
        self._id_factory = id_factory

    # -- commands --------------------------------------------------------------------------

    def next_id(self) -> str:
        """A fresh alert id (``al-1``, ``al-2``... or from the factory given)."""
        while True:
            new_id = self._id_factory() if self._id_factory else f"al-{next(self._counter)}"
            if new_id not in self._watches:
                return new_id

    def add(self, rule: AlertRule, ltp: int | None = None) -> AlertRule:
        """Add an ACTIVE alert. ``ltp`` is the price at creation (``None``: no quote yet).

        Raises :class:`AlertError` for a duplicate id, or an ABOVE/BELOW level that the price
        has already reached.
        """
        if rule.id in self._watches:
            raise AlertError(f"an alert with id {rule.id!r} already exists")
        watch = _Watch(rule)
        if rule.kind.is_level:
            assert rule.level is not None
            if ltp is not None and ltp > 0:
                if rule.kind is AlertKind.ABOVE and ltp >= rule.level:
                    raise AlertError(
                        f"{rule.name} is at {rule.price_text(ltp)}, already at or above "
                        f"{rule.price_text(rule.level)}: an 'above' alert fires when the price "
                        f"rises to the level; set a level above {rule.price_text(ltp)}, or a "
                        "'below' alert"
                    )
                if rule.kind is AlertKind.BELOW and ltp <= rule.level:
                    raise AlertError(
                        f"{rule.name} is at {rule.price_text(ltp)}, already at or below "
                        f"{rule.price_text(rule.level)}: a 'below' alert fires when the price "
                        f"falls to the level; set a level below {rule.price_text(ltp)}, or an "
                        "'above' alert"
                    )
            watch.last_side = _initial_side(
                rule.kind, rule.level, ltp if ltp is not None and ltp > 0 else None
            )
        self._watches[rule.id] = watch
        self._by_token.setdefault(rule.token, {})[rule.id] = watch
        return rule

    def remove(self, alert_id: str) -> AlertRule:
        """Delete an alert (active or fired); raises :class:`AlertError` for an unknown id."""
        watch = self._watches.pop(alert_id, None)
        if watch is None:
            raise AlertError(f"no alert with id {alert_id!r}; see the alerts list for the ids")
        self._unindex(watch)
        return watch.rule

    def remove_for(self, token: str) -> list[AlertRule]:
        """Delete every alert of one instrument; returns what was removed."""
        gone = [w.rule for w in self._watches.values() if w.rule.token == token]
        for rule in gone:
            self.remove(rule.id)
        return gone

    def rearm(self, alert_id: str, ltp: int | None = None) -> AlertRule:
        """Make a FIRED alert ACTIVE again, as if just added at ``ltp``."""
        watch = self._get(alert_id)
        if watch.status is AlertStatus.ACTIVE:
            return watch.rule
        del self._watches[alert_id]
        try:
            self.add(watch.rule, ltp)
        except AlertError:
            self._watches[alert_id] = watch
            raise
        fresh = self._watches[alert_id]
        fresh.fired_count, fresh.last_fired_ts = watch.fired_count, watch.last_fired_ts
        return fresh.rule

    def update_note(self, alert_id: str, note: str) -> AlertRule:
        """Change an alert's note."""
        watch = self._get(alert_id)
        watch.rule = replace(watch.rule, note=note)
        return watch.rule

    # -- queries ---------------------------------------------------------------------------

    def get(self, alert_id: str) -> AlertRule:
        """The rule with this id; :class:`AlertError` when there is none."""
        return self._get(alert_id).rule

    def status(self, alert_id: str) -> AlertStatus:
        """ACTIVE or FIRED."""
        return self._get(alert_id).status

    def fired_count(self, alert_id: str) -> int:
        """How many times the alert has fired."""
        return self._get(alert_id).fired_count

    def list(self, token: str | None = None) -> list[AlertRule]:
        """Every alert (of one token when given), in the order added."""
        return [w.rule for w in self._watches.values() if token is None or w.rule.token == token]

    def active(self, token: str | None = None) -> builtins.list[AlertRule]:
        """The ACTIVE alerts (of one token when given)."""
        return [
            w.rule
            for w in self._watches.values()
            if w.status is AlertStatus.ACTIVE and (token is None or w.rule.token == token)
        ]

    def tokens(self) -> set[str]:
        """Tokens with at least one ACTIVE alert (the feed must be subscribed to them)."""
        return set(self._by_token)

    def __len__(self) -> int:
        """Number of alerts, active or fired."""
        return len(self._watches)

    def __iter__(self) -> Iterator[AlertRule]:
        """The alerts in the order added."""
        return iter(self.list())

    # -- evaluation ------------------------------------------------------------------------

    def on_quote(self, token: str, ltp: int, prev_close: int, ts: int) -> builtins.list[AlertFired]:
        """Evaluate the token's ACTIVE alerts against a new LTP; returns those that fired."""
        watches = self._by_token.get(token)
        if not watches or ltp <= 0:
            return []
        fired: list[AlertFired] = []
        for watch in list(watches.values()):
            event = self._evaluate(watch, ltp, prev_close, ts)
            if event is not None:
                fired.append(event)
                watch.fired_count += 1
                watch.last_fired_ts = ts
                if not watch.rule.repeat:
                    watch.status = AlertStatus.FIRED
                    self._unindex(watch)
        return fired

    @staticmethod
    def _evaluate(watch: _Watch, ltp: int, prev_close: int, ts: int) -> AlertFired | None:
        rule = watch.rule
        if rule.kind is AlertKind.MOVE_PCT:
            if prev_close <= 0:
                return None
            num, den = watch.pct_ratio
            move = ltp - prev_close
            hit = abs(move) * 100 * den >= num * prev_close  # |move| / close >= pct / 100
            was = watch.last_hit
            watch.last_hit = hit
            if hit and was is not True:
                direction = "up" if move >= 0 else "down"
                change = Fraction(move * 100, prev_close)
                return AlertFired(rule, ltp, prev_close, ts, direction, change)
            return None
        assert rule.level is not None
        side = _side(ltp, rule.level)
        last = watch.last_side
        watch.last_side = side
        if last is None or last == 0 or side == last:
            return None
        # last is a strict side and the price has left it
        if rule.kind is AlertKind.ABOVE and last < 0:
            return AlertFired(rule, ltp, prev_close, ts, "up")
        if rule.kind is AlertKind.BELOW and last > 0:
            return AlertFired(rule, ltp, prev_close, ts, "down")
        if rule.kind is AlertKind.CROSS:
            return AlertFired(rule, ltp, prev_close, ts, "up" if last < 0 else "down")
        return None

    # -- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, including what each alert knows of the price."""
        return {
            "version": _FORMAT_VERSION,
            "alerts": [
                {
                    "rule": w.rule.to_dict(),
                    "status": w.status.value,
                    "last_side": w.last_side,
                    "last_hit": w.last_hit,
                    "fired_count": w.fired_count,
                    "last_fired_ts": w.last_fired_ts,
                }
                for w in self._watches.values()
            ],
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], id_factory: Callable[[], str] | None = None
    ) -> AlertBook:
        """Inverse of :meth:`to_dict`."""
        if data.get("version") != _FORMAT_VERSION:
            raise AlertError(
                f"unknown alert data version {data.get('version')!r}; expected {_FORMAT_VERSION}"
            )
        book = cls(id_factory)
        highest = 0
        for item in data.get("alerts", []):
            rule = AlertRule.from_dict(item["rule"])
            if rule.id in book._watches:
                raise AlertError(f"alert id {rule.id!r} appears twice in the saved alerts")
            side = item.get("last_side")
            hit = item.get("last_hit")
            last_fired = item.get("last_fired_ts")
            watch = _Watch(
                rule=rule,
                status=AlertStatus(item.get("status", AlertStatus.ACTIVE.value)),
                last_side=None if side is None else int(side),
                last_hit=None if hit is None else bool(hit),
                fired_count=int(item.get("fired_count", 0)),
                last_fired_ts=None if last_fired is None else int(last_fired),
            )
            book._watches[rule.id] = watch
            if watch.status is AlertStatus.ACTIVE:
                book._by_token.setdefault(rule.token, {})[rule.id] = watch
            if rule.id.startswith("al-") and rule.id[3:].isdigit():
                highest = max(highest, int(rule.id[3:]))
        book._counter = itertools.count(highest + 1)
        return book

    # -- internals -------------------------------------------------------------------------

    def _get(self, alert_id: str) -> _Watch:
        watch = self._watches.get(alert_id)
        if watch is None:
            raise AlertError(f"no alert with id {alert_id!r}; see the alerts list for the ids")
        return watch

    def _unindex(self, watch: _Watch) -> None:
        token = watch.rule.token
        watches = self._by_token.get(token)
        if watches is not None:
            watches.pop(watch.rule.id, None)
            if not watches:
                del self._by_token[token]


# ---------------------------------------------------------------------------------------------
# Notifications


class NotificationKind(StrEnum):
    """What a notification is about."""

    FILL = "fill"
    REJECTION = "rejection"
    GTT_TRIGGER = "gtt_trigger"
    RISK = "risk"
    ALERT = "alert"
    KILL_SWITCH = "kill_switch"


class Severity(StrEnum):
    """How urgent a notification is; ordered INFO < WARNING < CRITICAL (see :attr:`rank`)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0, 1, 2 for INFO, WARNING, CRITICAL."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or more urgent."""
        return self.rank >= other.rank


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing the trader should know now: a fill, a rejection, a GTT trigger, a risk breach,
    an alert, the kill switch. ``ts`` is ns since the epoch."""

    kind: NotificationKind
    title: str
    body: str
    ts: int
    severity: Severity = Severity.INFO

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", NotificationKind(self.kind))
        object.__setattr__(self, "severity", Severity(self.severity))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (also the webhook payload)."""
        return {
            "kind": self.kind.value,
            "title": self.title,
            "body": self.body,
            "ts": self.ts,
            "severity": self.severity.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=NotificationKind(data["kind"]),
            title=str(data["title"]),
            body=str(data["body"]),
            ts=int(data["ts"]),
            severity=Severity(data.get("severity", Severity.INFO.value)),
        )


@dataclass(slots=True)
class NotificationHistory:
    """The last ``capacity`` notifications, newest first; counts the ones not yet seen."""

    capacity: int = 500
    _items: deque[Notification] = field(init=False, repr=False)
    _unread: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.capacity <= 0:
            raise ValueError(f"capacity must be a positive number, got {self.capacity}")
        self._items = deque(maxlen=self.capacity)

    def add(self, notification: Notification) -> None:
        """Record a notification (the oldest is dropped when full)."""
        self._items.appendleft(notification)
        self._unread = min(self._unread + 1, len(self._items))

    def __iter__(self) -> Iterator[Notification]:
        """Newest first."""
        return iter(self._items)

    def __len__(self) -> int:
        """How many are held."""
        return len(self._items)

    def latest(self, count: int | None = None) -> list[Notification]:
        """The newest ``count`` (all when ``None``), newest first."""
        items = list(self._items)
        return items if count is None else items[: max(count, 0)]

    def of_kind(self, kind: NotificationKind) -> list[Notification]:
        """Those of one kind, newest first."""
        return [n for n in self._items if n.kind is kind]

    @property
    def unread(self) -> int:
        """Added since the last :meth:`mark_read`."""
        return self._unread

    def mark_read(self) -> None:
        """The trader has seen the history."""
        self._unread = 0

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
        self._unread = 0
