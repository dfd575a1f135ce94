"""Core events and fired alerts -> :class:`~engine.alerts.Notification` values for the toasts,
the history screen and the outbound notifier.

A fill, a rejected order (risk or broker), a GTT that triggered (or whose order was refused), a
risk event and every kill-switch change become one notification each. The core announces an
order on every change, so rejections and GTT triggers are remembered by id and reported once.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.alerts import AlertFired, Notification, NotificationKind, Severity
from engine.core import CoreEvent, TradingCore
from engine.gtt import GttStatus
from engine.models import Instrument, OrderStatus
from engine.money import format_price
from widgets.watchlist import display_symbol

InstrumentOf = Callable[[str], Instrument | None]


class EventNotifications:
    """Turns the core's events into notifications, each reported once."""

    def __init__(self, core: TradingCore, instrument_of: InstrumentOf) -> None:
        self.core = core
        self.instrument_of = instrument_of
        self._rejected: set[str] = set()
        self._gtt_done: set[str] = set()

    def _name(self, token: str) -> tuple[str, int]:
        instrument = self.instrument_of(token)
        if instrument is None:
            return token, 100
        return display_symbol(instrument), instrument.price_scale

    def from_event(self, event: CoreEvent) -> list[Notification]:
        """The notifications one core event makes (often none)."""
        now = self.core.clock.now_ns()
        if event.kind == "fill" and event.fill is not None:
            fill = event.fill
            name, scale = self._name(fill.token)
            return [Notification(
                NotificationKind.FILL,
                f"Filled {fill.side.value} {fill.qty:,} {name}",
                f"{fill.side.value} {fill.qty:,} {name} @ {format_price(fill.price, scale)} "
                f"({fill.product.value}, order {fill.client_order_id})",
                fill.ts,
            )]
        if event.kind == "order" and event.order is not None:
            order = event.order
            coid = str(order.client_order_id)
            if order.status is OrderStatus.REJECTED and coid not in self._rejected:
                self._rejected.add(coid)
                name, _ = self._name(order.token)
                return [Notification(
                    NotificationKind.REJECTION,
                    f"Rejected {order.side.value} {order.qty:,} {name}",
                    order.reason or event.message or "rejected",
                    now,
                    Severity.WARNING,
                )]
            return []
        if event.kind == "gtt" and event.message:
            return self._gtt(event.message, now)
        if event.kind == "kill_switch":
            return [Notification(NotificationKind.KILL_SWITCH, "Kill switch", event.message, now,
                                 Severity.CRITICAL)]
        if event.kind == "risk":
            return [Notification(NotificationKind.RISK, "Risk", event.message, now,
                                 Severity.WARNING)]
        return []

    def _gtt(self, rule_id: str, now: int) -> list[Notification]:
        rules = {r.id: r for r in self.core.gtts()}
        rule = rules.get(rule_id)
        if rule is None or rule_id in self._gtt_done:
            return []
        name, scale = self._name(rule.token)
        if rule.status is GttStatus.TRIGGERED and rule.fired_leg is not None:
            self._gtt_done.add(rule_id)
            leg = rule.legs[rule.fired_leg]
            ltp = format_price(rule.fired_ltp or 0, scale)
            return [Notification(
                NotificationKind.GTT_TRIGGER,
                f"GTT {rule_id} triggered: {name}",
                f"LTP {ltp} reached the trigger {format_price(leg.trigger, scale)}: "
                f"{leg.side.value} {leg.qty:,} LIMIT {format_price(leg.limit, scale)} sent "
                f"(order {rule.client_order_id or 'pending'})",
                rule.fired_ts or now,
                Severity.WARNING,
            )]
        if rule.status is GttStatus.REJECTED:
            self._gtt_done.add(rule_id)
            return [Notification(
                NotificationKind.REJECTION,
                f"GTT {rule_id} order refused: {name}",
                rule.reject_reason or "the GTT's order was refused",
                now,
                Severity.WARNING,
            )]
        return []


def alert_notification(fired: AlertFired) -> Notification:
    """A fired price alert as a notification."""
    return fired.to_notification()
