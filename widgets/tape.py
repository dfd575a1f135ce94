"""Time and sales (the tape) for one instrument, drawn with Textual's Line API.

Newest trade on top: IST time HH:MM:SS, price, quantity and the aggressor side (``B`` when a buyer
crossed the spread, ``S`` when a seller did), coloured ``$bid``/``$ask``. Trades arrive in batches
through :meth:`Tape.add_trades` from the app's frame timer; the history is bounded (500 trades by
default, the oldest fall off). Each trade's rendered :class:`Strip` is cached until the width or
the theme changes.

The header line stays put while the trades scroll under it. When the view is at the top it follows
the newest trades; once the user has scrolled down it stays on the trades they are reading.

Cost per frame: new trades repaint the trade lines only (not the header, not the scrollbar's
gutter). The vertical scrollbar is always shown, so a growing or refilled history only moves its
thumb: the tape never asks Textual for a layout of the screen (which would repaint every pane).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.clock import seconds_since_midnight_ist
from engine.models import Instrument, Side, TradePrint
from engine.money import format_price
from widgets.strips import fit_strip

DEFAULT_HISTORY = 500
"""Trades kept per instrument when no other bound is given."""

_CLS = "tape--"


class _TapeRow:
    """One trade and its cached strip."""

    __slots__ = ("strip", "trade")

    def __init__(self, trade: TradePrint) -> None:
        self.trade = trade
        self.strip: Strip | None = None


def format_ist_time(ts_ns: int) -> str:
    """HH:MM:SS in IST of a timestamp in ns since the epoch (truncated, never rounded up)."""
    minutes, seconds = divmod(seconds_since_midnight_ist(ts_ns), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


class Tape(ScrollView, can_focus=True):
    """Line-API time and sales; scroll with the arrow keys, page keys or the mouse."""

    DEFAULT_CSS = """
    Tape { height: 1fr; background: $surface; overflow-x: hidden; overflow-y: scroll; }
    Tape > .tape--header { color: $muted; text-style: bold; }
    Tape > .tape--time { color: $muted; }
    Tape > .tape--buy { color: $bid; }
    Tape > .tape--sell { color: $ask; }
    Tape > .tape--side-buy { color: $bid; text-style: bold; }
    Tape > .tape--side-sell { color: $ask; text-style: bold; }
    Tape > .tape--muted { color: $muted; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tape--header",
        "tape--time",
        "tape--buy",
        "tape--sell",
        "tape--side-buy",
        "tape--side-sell",
        "tape--muted",
    }

    def __init__(
        self,
        instrument: Instrument | None = None,
        *,
        max_trades: int = DEFAULT_HISTORY,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        if max_trades < 1:
            raise ValueError(f"max_trades must be at least 1, got {max_trades}")
        super().__init__(name=name, id=id, classes=classes)
        self._instrument = instrument
        self._rows: deque[_TapeRow] = deque(maxlen=max_trades)
        self._styles: dict[str, Style] = {}

    # -- data ---------------------------------------------------------------------------------
    @property
    def instrument(self) -> Instrument | None:
        """The instrument whose trades are shown."""
        return self._instrument

    @property
    def max_trades(self) -> int:
        """How many trades are kept."""
        maxlen = self._rows.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def trades(self) -> list[TradePrint]:
        """The trades held, newest first."""
        return [row.trade for row in self._rows]

    def set_instrument(self, instrument: Instrument | None) -> None:
        """Show another instrument's tape: the history is cleared and the view goes to the top."""
        if instrument == self._instrument:
            return
        self._instrument = instrument
        self._rows.clear()
        self._update_virtual_size()
        if self.is_mounted:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def add_trades(self, trades: Iterable[TradePrint]) -> int:
        """Add trades (oldest first, as they happened); returns how many were of this instrument.

        Trades of other instruments are skipped. The view stays on the newest trades when it is at
        the top, and on the same trades when the user has scrolled down.
        """
        instrument = self._instrument
        if instrument is None:
            return 0
        token = instrument.token
        added = 0
        for trade in trades:
            if trade.token == token:
                self._rows.appendleft(_TapeRow(trade))
                added += 1
        if not added:
            return 0
        scrolled = round(self.scroll_y)
        self._update_virtual_size()
        if scrolled > 0 and self.is_mounted:
            # Keep the trades being read in place (the scroll repaints the view).
            target = min(scrolled + added, max(0, len(self._rows) + 1 - self.size.height))
            self.scroll_to(y=target, animate=False, immediate=True)
        else:
            # Every trade line moved down; the header and the scrollbar's gutter did not.
            size = self.scrollable_content_region.size
            self.refresh(Region(0, 1, size.width, max(0, size.height - 1)))
        return added

    def _update_virtual_size(self) -> None:
        # One header line plus one line per trade.
        size = Size(0, len(self._rows) + 1)
        if size == self.virtual_size:
            return
        if self.is_mounted and self.container_size:
            overflow = self.styles.overflow_y
            wanted = overflow == "scroll" or (
                overflow == "auto" and size.height > self.container_size.height
            )
            if wanted == self.show_vertical_scrollbar:
                # The widget's box and its scrollbar's presence stay as they are, so only the
                # thumb changes. Setting ``virtual_size`` the usual way asks for a layout of the
                # whole screen (and a repaint of every pane) on each batch of trades.
                self.set_reactive(Tape.virtual_size, size)
                if wanted:
                    self.vertical_scrollbar.window_virtual_size = size.height
                if self.scroll_y > self.max_scroll_y:
                    self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
                return
        self.virtual_size = size

    # -- rendering ----------------------------------------------------------------------------
    def on_resize(self) -> None:
        """Width changed: drop the cached strips."""
        self._drop_strips()
        self.refresh()

    def notify_style_update(self) -> None:
        """Theme or CSS changed: drop the cached styles and strips."""
        super().notify_style_update()
        self._styles.clear()
        self._drop_strips()
        self.refresh()

    def _drop_strips(self) -> None:
        for row in self._rows:
            row.strip = None

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style
            if component:
                style = style + self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def _strip(self, runs: Iterable[tuple[str, str]], width: int) -> Strip:
        segments = [Segment(text, self._style(cls)) for text, cls in runs if text]
        return fit_strip(segments, width, self.rich_style)

    def render_line(self, y: int) -> Strip:
        """Line API: the header at y=0, then trades from the scroll position, newest first."""
        width = self.scrollable_content_region.width
        if y == 0:
            header = "  Time".ljust(12) + "Price".rjust(10) + "Qty".rjust(9)
            if self._instrument is None:
                return self._strip([(" no instrument", _CLS + "muted")], width)
            return self._strip([(header, _CLS + "header")], width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            if index == 0 and self._instrument is not None:
                return self._strip([(" no trades yet", _CLS + "muted")], width)
            return Strip.blank(width, self.rich_style)
        row = self._rows[index]
        if row.strip is None or row.strip.cell_length != width:
            row.strip = self._strip(self._runs(row.trade), width)
        return row.strip

    def _runs(self, trade: TradePrint) -> list[tuple[str, str]]:
        scale = self._instrument.price_scale if self._instrument else 100
        buy = trade.aggressor is Side.BUY
        return [
            ("  " + format_ist_time(trade.ts) + "  ", _CLS + "time"),
            (format_price(trade.price, scale).rjust(10), _CLS + ("buy" if buy else "sell")),
            (f"{trade.qty:,}".rjust(9), ""),
            ("  " + ("B" if buy else "S"), _CLS + ("side-buy" if buy else "side-sell")),
        ]
