"""The chart pane: the candle chart made focusable, with the interval and overlay keys.

The keys (binding ids of the ``Chart`` group) only post messages; the screen owns the bars (from
the session's :class:`~engine.bars.BarAggregator`) and calls :meth:`CandleChart.set_bars`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType
from textual.message import Message

from engine.models import Interval
from keymaps import default_bindings
from widgets.candle_chart import CandleChart, Overlay, OverlayKind

INTERVALS: tuple[Interval, ...] = (
    Interval.M1, Interval.M3, Interval.M5, Interval.M15, Interval.H1, Interval.D1,
)
"""The intervals the chart steps through, shortest first."""

OVERLAY_SETS: tuple[tuple[Overlay, ...], ...] = (
    (),
    (Overlay(OverlayKind.EMA, 20),),
    (Overlay(OverlayKind.EMA, 9), Overlay(OverlayKind.SMA, 50)),
    (Overlay(OverlayKind.BOLLINGER, 20),),
)
"""What ``i`` cycles through: none, EMA20, EMA9 + SMA50, Bollinger(20, 2)."""


class ChartPane(CandleChart, can_focus=True):
    """A focusable :class:`CandleChart` whose keys change interval and overlays."""

    DEFAULT_CSS = """
    ChartPane:focus { background-tint: $primary 6%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Chart"))

    class IntervalRequested(Message):
        """Show bars of another interval."""

        def __init__(self, interval: Interval) -> None:
            super().__init__()
            self.interval = interval

    class OverlaysRequested(Message):
        """Draw another set of overlays."""

        def __init__(self, overlays: tuple[Overlay, ...]) -> None:
            super().__init__()
            self.overlays = overlays

    def _step_interval(self, delta: int) -> None:
        index = INTERVALS.index(self.interval) if self.interval in INTERVALS else 0
        new = INTERVALS[max(0, min(len(INTERVALS) - 1, index + delta))]
        if new != self.interval:
            self.post_message(self.IntervalRequested(new))

    def action_interval_next(self) -> None:
        """A longer interval."""
        self._step_interval(1)

    def action_interval_prev(self) -> None:
        """A shorter interval."""
        self._step_interval(-1)

    def action_overlay_cycle(self) -> None:
        """The next set of overlays."""
        try:
            index = OVERLAY_SETS.index(self.overlays)
        except ValueError:
            index = -1
        self.post_message(self.OverlaysRequested(OVERLAY_SETS[(index + 1) % len(OVERLAY_SETS)]))
