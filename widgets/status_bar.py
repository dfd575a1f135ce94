"""The status bar: PAPER or LIVE as a word, feed state and rate, lag, day P&L, margin, risk used,
kill-switch state, the IST clock and the session phase.

One line. It repaints only when a figure it shows changed (the frame timer hands it a new
:class:`StatusBarInfo` every frame; equal infos cost one comparison). On a narrow terminal the less
urgent fields are dropped first (session label, margin, lag), never the mode, the kill switch, the
P&L or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from engine.money import format_money


@dataclass(frozen=True, slots=True)
class StatusBarInfo:
    """What the status bar shows; built by the session once per frame. Money in paise."""

    mode: str
    feed: str
    ticks_per_s: float
    lag_ms: float
    day_pnl: int
    margin_used: int
    risk_used_pct: float | None
    kill_switch: str
    clock: str
    phase: str
    session_label: str = ""
    open_orders: int = 0
    unread: int = 0


def _rupees(paise: int, *, signed: bool = False) -> str:
    text = format_money(paise)
    if signed and paise > 0:
        return "+" + text
    return text


class StatusBar(Widget):
    """One line at the bottom of the main screen."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; }
    StatusBar > .status-bar--paper { background: $paper-badge; color: $background;
        text-style: bold; }
    StatusBar > .status-bar--live { background: $live-badge; color: $background;
        text-style: bold; }
    StatusBar > .status-bar--up { color: $up; }
    StatusBar > .status-bar--down { color: $down; }
    StatusBar > .status-bar--muted { color: $muted; }
    StatusBar > .status-bar--alarm { background: $error; color: $background; text-style: bold; }
    StatusBar > .status-bar--warn { color: $warning; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-bar--paper",
        "status-bar--live",
        "status-bar--up",
        "status-bar--down",
        "status-bar--muted",
        "status-bar--alarm",
        "status-bar--warn",
    }

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._info: StatusBarInfo | None = None

    @property
    def info(self) -> StatusBarInfo | None:
        """The figures shown."""
        return self._info

    def show(self, info: StatusBarInfo) -> None:
        """Show new figures (repaints only when something visible changed)."""
        if info != self._info:
            self._info = info
            self.refresh()

    def text(self) -> Text:
        """The line as rich text (also what :meth:`render` returns)."""
        info = self._info
        if info is None:
            return Text(" starting…")
        style = self.get_component_rich_style
        width = self.size.width or 160
        out = Text(no_wrap=True, overflow="ellipsis")
        # Paper fills in any form (PAPER, LIVE DATA / PAPER FILLS, REPLAY / PAPER FILLS) look
        # like paper; only a session whose orders reach the broker gets the live badge.
        badge = "status-bar--paper" if "PAPER" in info.mode else "status-bar--live"
        out.append(f" {info.mode} ", style=style(badge))
        feed_style = (
            style("status-bar--muted") if info.feed == "LIVE" else style("status-bar--warn")
        )
        out.append(" feed ")
        out.append(info.feed, style=feed_style)
        out.append(f" {info.ticks_per_s:,.0f}/s")
        if width >= 100:
            out.append(f" lag {info.lag_ms:.1f}ms", style=style("status-bar--muted"))
        out.append("  P&L ")
        pnl_style = (
            style("status-bar--up") if info.day_pnl > 0
            else style("status-bar--down") if info.day_pnl < 0 else None
        )
        out.append(_rupees(info.day_pnl, signed=True), style=pnl_style)
        if width >= 100:
            out.append(f"  margin {_rupees(info.margin_used)}")
        if info.risk_used_pct is not None:
            out.append(f"  risk {info.risk_used_pct:.0f}%")
        if width >= 120 and info.open_orders:
            out.append(f"  open {info.open_orders}")
        out.append("  ")
        if info.kill_switch == "ARMED":
            out.append("KILL armed" if width >= 100 else "armed", style=style("status-bar--muted"))
        else:
            out.append(f" KILL {info.kill_switch} ", style=style("status-bar--alarm"))
        if info.unread:
            out.append(f"  ✉{info.unread}", style=style("status-bar--warn"))
        if width >= 140 and info.session_label:
            out.append(f"  {info.session_label}", style=style("status-bar--muted"))
        out.append(f"  {info.phase}  IST {info.clock}")
        return out

    def render(self) -> Text:
        """Render the line."""
        return self.text()
