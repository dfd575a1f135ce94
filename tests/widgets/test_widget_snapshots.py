"""Snapshot tests of the depth ladder, the tape and the candle chart in the cockpit-dark theme.

Every widget gets fixed data (fixed timestamps, a seeded random walk), so the SVGs are stable.
Regenerate with ``pytest tests/widgets/test_widget_snapshots.py --snapshot-update`` and look at
the SVGs in ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.widget import Widget

from engine.models import Interval
from themes import THEMES
from widgets.candle_chart import CandleChart, LowerPane, Overlay, OverlayKind
from widgets.depth_ladder import DepthLadder
from widgets.tape import Tape

from .test_candle_chart import RELIANCE, make_bars
from .test_depth_ladder import make_quote
from .test_tape import trade

SnapCompare = Callable[..., bool]


class SnapshotApp(App[None]):
    """Mounts one widget in the cockpit-dark theme and feeds it fixed data on mount."""

    def __init__(self, widget: Widget, feed: Callable[[Any], object]) -> None:
        super().__init__()
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"
        self._widget = widget
        self._feed = feed

    def compose(self) -> ComposeResult:
        yield self._widget

    def on_mount(self) -> None:
        self._feed(self._widget)


def test_depth_ladder_snapshot(snap_compare: SnapCompare) -> None:
    app = SnapshotApp(DepthLadder(RELIANCE), lambda ladder: ladder.apply_quote(make_quote()))
    assert snap_compare(app, terminal_size=(60, 16), press=["up"])


def test_tape_snapshot(snap_compare: SnapCompare) -> None:
    app = SnapshotApp(Tape(RELIANCE), lambda tape: tape.add_trades([trade(i) for i in range(20)]))
    assert snap_compare(app, terminal_size=(40, 12))


def test_candle_chart_snapshot_80x24(snap_compare: SnapCompare) -> None:
    overlays = [Overlay(OverlayKind.EMA, 20), Overlay(OverlayKind.BOLLINGER, 20)]
    app = SnapshotApp(
        CandleChart(RELIANCE),
        lambda chart: chart.set_bars(make_bars(120), interval=Interval.M5, overlays=overlays),
    )
    assert snap_compare(app, terminal_size=(80, 24))


def test_candle_chart_snapshot_160x48_macd(snap_compare: SnapCompare) -> None:
    overlays = [Overlay(OverlayKind.EMA, 9), Overlay(OverlayKind.SMA, 30)]
    app = SnapshotApp(
        CandleChart(RELIANCE, lower_pane=LowerPane.MACD),
        lambda chart: chart.set_bars(make_bars(120), interval=Interval.M5, overlays=overlays),
    )
    assert snap_compare(app, terminal_size=(160, 48))
