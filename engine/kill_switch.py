"""The kill switch: a three-state machine that stops trading and flattens the account.

States::

    ARMED --trigger--> TRIGGERED --mark_flat (no order, no position open)--> LOCKED
    LOCKED --rearm("REARM")--> ARMED
    TRIGGERED --trigger--> TRIGGERED (repeat: the plan is issued again)
    LOCKED --trigger--> TRIGGERED

* **ARMED**: normal trading.
* **TRIGGERED**: flattening in progress. Every new order is blocked except exits that reduce a
  position (the flattening orders themselves). :meth:`KillSwitch.trigger` returns a
  :class:`KillSwitchPlan` that the core executes: cancel every open order and every GTT, then
  flatten every position with protected market orders.
* **LOCKED** (tripped): flat. Every new order is blocked until an explicit re-arm with the
  confirmation phrase ``REARM``. Re-arming is refused while the switch is still TRIGGERED (positions
  are still being flattened).

Triggers come from the trader (``manual``) or from the risk monitor (``daily_loss``,
``drawdown``). Every transition returns an event dict for the journal. :meth:`KillSwitch.to_dict`
and :meth:`KillSwitch.from_dict` carry the state across restarts: a switch that was TRIGGERED is
still TRIGGERED after a restart, and :meth:`KillSwitch.pending_plan` gives the core the plan to
execute again. The switch also remembers the IST day of each automatic trigger per source, so that
after a re-arm the same breach does not trip it again on the same day (the loss limits keep
refusing new orders anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from engine.clock import ist_date, to_ist

__all__ = [
    "REARM_PHRASE",
    "KillSwitch",
    "KillSwitchError",
    "KillSwitchPlan",
    "KillSwitchSource",
    "KillSwitchState",
]

REARM_PHRASE = "REARM"
"""The word the trader must type to re-arm a locked kill switch."""

SNAPSHOT_VERSION = 1


class KillSwitchState(StrEnum):
    """ARMED (normal), TRIGGERED (flattening), LOCKED (flat, tripped until re-armed)."""

    ARMED = "ARMED"
    TRIGGERED = "TRIGGERED"
    LOCKED = "LOCKED"


class KillSwitchSource(StrEnum):
    """Who pulled the switch."""

    MANUAL = "manual"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"


class KillSwitchError(ValueError):
    """A refused kill-switch request (wrong phrase, not flat yet, bad snapshot), with the reason."""


@dataclass(frozen=True, slots=True)
class KillSwitchPlan:
    """What the core must do when the switch triggers, in this order.

    1. cancel every open order (``cancel_open_orders``) and every GTT rule (``cancel_gtts``);
    2. flatten every open position (``flatten_positions``) with market orders protected by
       ``market_protection_pct`` (a marketable limit; the unfilled rest rests at the protection
       price), marked as exits so that the TRIGGERED switch lets them through;
    3. call :meth:`KillSwitch.mark_flat` once no order and no position is open.

    ``event`` is the journal record of the transition that produced the plan.
    """

    reason: str
    source: KillSwitchSource
    ts: int
    market_protection_pct: Decimal
    event: dict[str, Any] = field(compare=False)
    cancel_open_orders: bool = True
    cancel_gtts: bool = True
    flatten_positions: bool = True


def _when(ts: int) -> str:
    """IST wall time of ``ts`` for messages."""
    return to_ist(ts).strftime("%Y-%m-%d %H:%M:%S IST")


class KillSwitch:
    """The kill-switch state machine (see the module docstring)."""

    __slots__ = (
        "_auto_days",
        "_locked_at",
        "_protection",
        "_reason",
        "_source",
        "_state",
        "_triggered_at",
    )

    def __init__(self, market_protection_pct: Decimal = Decimal(5)) -> None:
        if not isinstance(market_protection_pct, Decimal) or not (
            market_protection_pct.is_finite() and 0 < market_protection_pct <= 100
        ):
            raise KillSwitchError(
                "market_protection_pct must be a Decimal percent in (0, 100], "
                f"got {market_protection_pct!r}"
            )
        self._protection = market_protection_pct
        self._state = KillSwitchState.ARMED
        self._reason = ""
        self._source: KillSwitchSource | None = None
        self._triggered_at: int | None = None
        self._locked_at: int | None = None
        self._auto_days: dict[KillSwitchSource, date] = {}

    # -- read ------------------------------------------------------------------------------------

    @property
    def state(self) -> KillSwitchState:
        """Current state."""
        return self._state

    @property
    def reason(self) -> str:
        """Reason of the last trigger ("" while it has never been triggered since arming)."""
        return self._reason

    @property
    def source(self) -> KillSwitchSource | None:
        """Source of the last trigger."""
        return self._source

    @property
    def triggered_at(self) -> int | None:
        """Time (ns) of the last trigger."""
        return self._triggered_at

    @property
    def market_protection_pct(self) -> Decimal:
        """Market protection of the flattening orders, percent."""
        return self._protection

    def blocks(self, order_is_exit: bool) -> str | None:
        """Why a new order is blocked, or None when the switch lets it through.

        ARMED lets everything through; TRIGGERED lets only exits through (the caller must have
        verified that the exit reduces a position, as :class:`engine.risk.PreTradeRisk` does);
        LOCKED blocks everything.
        """
        if self._state is KillSwitchState.ARMED:
            return None
        when = _when(self._triggered_at) if self._triggered_at is not None else "unknown time"
        cause = f"{self._source or 'unknown'}: {self._reason}"
        if self._state is KillSwitchState.TRIGGERED:
            if order_is_exit:
                return None
            return (
                f"kill switch TRIGGERED at {when} ({cause}); flattening in progress, only exits "
                "that reduce a position are accepted"
            )
        return (
            f"kill switch LOCKED after the trigger at {when} ({cause}); every new order is "
            f"blocked until it is re-armed with the phrase {REARM_PHRASE}"
        )

    def auto_triggered_on(self, source: KillSwitchSource, day: date) -> bool:
        """True when ``source`` already triggered the switch automatically on IST ``day``."""
        return self._auto_days.get(source) == day

    def pending_plan(self) -> KillSwitchPlan | None:
        """The plan to (re-)execute while TRIGGERED, e.g. after a restart; None otherwise."""
        if self._state is not KillSwitchState.TRIGGERED or self._source is None:
            return None
        ts = self._triggered_at if self._triggered_at is not None else 0
        event = self._event("kill_switch.pending", self._state, self._state, ts)
        return self._plan(ts, event)

    # -- transitions -----------------------------------------------------------------------------

    def trigger(self, reason: str, source: KillSwitchSource | str, ts: int) -> KillSwitchPlan:
        """Trigger the switch; returns the plan the core must execute.

        From ARMED or LOCKED the switch becomes TRIGGERED. While already TRIGGERED the first
        reason is kept and the plan is issued again (``kill_switch.retriggered`` event), so a
        repeated press retries the flattening.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise KillSwitchError("a kill-switch trigger needs a reason (a non-empty text)")
        try:
            src = KillSwitchSource(source)
        except ValueError:
            known = ", ".join(s.value for s in KillSwitchSource)
            raise KillSwitchError(
                f"unknown kill-switch source {source!r}; use one of {known}"
            ) from None
        if type(ts) is not int:
            raise KillSwitchError(f"ts must be int nanoseconds, got {ts!r}")
        before = self._state
        if src is not KillSwitchSource.MANUAL:
            self._auto_days[src] = ist_date(ts)
        if before is KillSwitchState.TRIGGERED:
            event = self._event("kill_switch.retriggered", before, before, ts)
            event["new_reason"] = reason.strip()
            event["new_source"] = src.value
            return self._plan(ts, event)
        self._state = KillSwitchState.TRIGGERED
        self._reason = reason.strip()
        self._source = src
        self._triggered_at = ts
        self._locked_at = None
        return self._plan(ts, self._event("kill_switch.triggered", before, self._state, ts))

    def mark_flat(self, open_orders: int, open_positions: int, ts: int) -> dict[str, Any]:
        """TRIGGERED -> LOCKED once nothing is open; returns the journal event.

        Refused (:class:`KillSwitchError`) when the switch is not TRIGGERED or when any order or
        position is still open.
        """
        if self._state is not KillSwitchState.TRIGGERED:
            raise KillSwitchError(
                f"mark_flat is only valid while TRIGGERED; the kill switch is {self._state}"
            )
        if open_orders < 0 or open_positions < 0:
            raise KillSwitchError(
                f"open counts cannot be negative (orders {open_orders}, positions {open_positions})"
            )
        if open_orders or open_positions:
            raise KillSwitchError(
                f"not flat yet: {open_orders} open order(s) and {open_positions} open "
                "position(s) remain; the kill switch stays TRIGGERED"
            )
        before = self._state
        self._state = KillSwitchState.LOCKED
        self._locked_at = ts
        return self._event("kill_switch.locked", before, self._state, ts)

    def rearm(self, confirmation: str, ts: int) -> dict[str, Any]:
        """LOCKED -> ARMED with the confirmation phrase; returns the journal event.

        Refused (:class:`KillSwitchError`) with the wrong phrase, while TRIGGERED (positions are
        still being flattened) and when already ARMED.
        """
        if self._state is KillSwitchState.ARMED:
            raise KillSwitchError("the kill switch is already ARMED; nothing to re-arm")
        if self._state is KillSwitchState.TRIGGERED:
            raise KillSwitchError(
                "cannot re-arm while the kill switch is TRIGGERED: positions are still being "
                "flattened; re-arming is possible once it is LOCKED (flat)"
            )
        if not isinstance(confirmation, str) or confirmation.strip() != REARM_PHRASE:
            raise KillSwitchError(
                f"re-arming needs the confirmation phrase {REARM_PHRASE} exactly "
                f"(got {confirmation!r})"
            )
        before = self._state
        event = self._event("kill_switch.rearmed", before, KillSwitchState.ARMED, ts)
        self._state = KillSwitchState.ARMED
        return event

    # -- helpers ---------------------------------------------------------------------------------

    def _plan(self, ts: int, event: dict[str, Any]) -> KillSwitchPlan:
        assert self._source is not None
        return KillSwitchPlan(
            reason=self._reason,
            source=self._source,
            ts=ts,
            market_protection_pct=self._protection,
            event=event,
        )

    def _event(
        self, kind: str, before: KillSwitchState, after: KillSwitchState, ts: int
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "from": before.value,
            "to": after.value,
            "source": self._source.value if self._source else None,
            "reason": self._reason,
            "triggered_at": self._triggered_at,
            "ts": ts,
        }

    # -- persistence -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain JSON-able data."""
        return {
            "version": SNAPSHOT_VERSION,
            "state": self._state.value,
            "reason": self._reason,
            "source": self._source.value if self._source else None,
            "triggered_at": self._triggered_at,
            "locked_at": self._locked_at,
            "market_protection_pct": str(self._protection),
            "auto_days": {src.value: day.isoformat() for src, day in self._auto_days.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KillSwitch:
        """Rebuild a kill switch from :meth:`to_dict` output (refuses anything inconsistent)."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise KillSwitchError(
                f"kill-switch snapshot version {data.get('version')!r} is not supported "
                f"(expected {SNAPSHOT_VERSION})"
            )
        try:
            state = KillSwitchState(data["state"])
            source = KillSwitchSource(data["source"]) if data["source"] is not None else None
            protection = Decimal(str(data["market_protection_pct"]))
            auto_days = {
                KillSwitchSource(src): date.fromisoformat(day)
                for src, day in dict(data["auto_days"]).items()
            }
            reason = data["reason"]
            triggered_at = data["triggered_at"]
            locked_at = data["locked_at"]
        except (KeyError, ValueError, TypeError, InvalidOperation) as exc:
            raise KillSwitchError(f"kill-switch snapshot is malformed: {exc!r}") from None
        if state is not KillSwitchState.ARMED and (source is None or triggered_at is None):
            raise KillSwitchError(
                f"kill-switch snapshot in state {state} has no trigger source/time; refusing to "
                "guess (a triggered switch must stay triggered)"
            )
        switch = cls(protection)
        switch._state = state
        switch._reason = str(reason)
        switch._source = source
        switch._triggered_at = triggered_at
        switch._locked_at = locked_at
        switch._auto_days = auto_days
        return switch
