"""The watchlist: several named lists of instruments with live quotes, drawn with the Line API.

Line 0 names the lists (the shown one highlighted), line 1 is the column header, then one row per
instrument: symbol, LTP, change, change %, volume, and best bid / ask when the pane is wide enough
(columns are dropped from the right on a narrow pane, never the symbol or the LTP). A row flashes
in the up/down colour for a moment when its LTP moves.

Quotes arrive through :meth:`Watchlist.apply_quotes` from the app's frame timer with the latest
quote per instrument; only rows whose quote changed are repainted, and each row's :class:`Strip`
is cached until its quote, the width or the theme changes.

Keys (binding ids of the ``Watchlist`` group in :mod:`keymaps.actions`): arrows move, left/right
switch lists, ``d`` asks for the row's depth, ``+`` asks to add an instrument, ``-`` removes the
row. The buy/sell keys are screen-level (``order.buy``/``order.sell``) and act on
:attr:`Watchlist.cursor_instrument`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from engine.models import Instrument, Quote
from engine.money import format_price
from keymaps import default_bindings
from widgets.formatting import format_volume
from widgets.strips import fit_strip

FLASH_SECONDS = 0.35
HEADER_LINES = 2

_CLS = "watchlist--"


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    width: int
    left: bool = False


_SYMBOL = _Column("Symbol", 12, left=True)
_LTP = _Column("LTP", 10)
_CHG = _Column("Chg", 8)
_PCT = _Column("Chg%", 7)
_VOL = _Column("Volume", 8)
_BID = _Column("Bid", 10)
_ASK = _Column("Ask", 10)
_ORDER = (_SYMBOL, _LTP, _CHG, _PCT, _VOL, _BID, _ASK)
_PRIORITY = (_SYMBOL, _LTP, _PCT, _CHG, _VOL, _BID, _ASK)


def columns_for(width: int) -> tuple[_Column, ...]:
    """The columns that fit ``width`` cells, in display order (symbol and LTP always)."""
    chosen: set[str] = set()
    used = 0
    for column in _PRIORITY:
        need = column.width + 1
        if column.title in ("Symbol", "LTP") or used + need <= width:
            chosen.add(column.title)
            used += need
    return tuple(c for c in _ORDER if c.title in chosen)


def display_symbol(instrument: Instrument) -> str:
    """The symbol as a trader writes it (``SBIN`` for ``SBIN-EQ``, ``NIFTY`` for the index)."""
    symbol = instrument.symbol
    if symbol.endswith("-EQ"):
        return symbol[:-3]
    if not instrument.tradable:
        return instrument.name
    return symbol


@dataclass(slots=True)
class _Row:
    instrument: Instrument
    quote: Quote | None = None
    direction: int = 0
    flash_until: float = 0.0
    strip: Strip | None = None


class Watchlist(Widget, can_focus=True):
    """Named lists of instruments with live quotes; the cursor row is the one B/S trade."""

    DEFAULT_CSS = """
    Watchlist { height: 1fr; background: $surface; }
    Watchlist > .watchlist--tabs { color: $muted; }
    Watchlist > .watchlist--tab-active { color: $text-accent; text-style: bold; }
    Watchlist > .watchlist--header { text-style: bold; color: $muted; }
    Watchlist > .watchlist--up { color: $up; }
    Watchlist > .watchlist--down { color: $down; }
    Watchlist > .watchlist--flat { color: $foreground; }
    Watchlist > .watchlist--flash-up { background: $flash-up; }
    Watchlist > .watchlist--flash-down { background: $flash-down; }
    Watchlist > .watchlist--cursor { background: $primary 35%; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        _CLS + name
        for name in ("tabs", "tab-active", "header", "up", "down", "flat", "flash-up",
                     "flash-down", "cursor")
    }

    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Watchlist"))

    class Highlighted(Message):
        """The cursor moved to another instrument (or another list was shown)."""

        def __init__(self, instrument: Instrument | None) -> None:
            super().__init__()
            self.instrument = instrument

    class DepthRequested(Message):
        """``d`` on a row: show and focus this instrument's depth."""

        def __init__(self, instrument: Instrument) -> None:
            super().__init__()
            self.instrument = instrument

    class AddRequested(Message):
        """``+``: the trader wants to add an instrument to the shown list."""

    class ListsChanged(Message):
        """A list's content changed (persist it)."""

        def __init__(self, lists: dict[str, list[str]]) -> None:
            super().__init__()
            self.lists = lists

    def __init__(
        self,
        lists: Mapping[str, Sequence[Instrument]],
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lists: dict[str, list[Instrument]] = {k: list(v) for k, v in lists.items()}
        if not self._lists:
            self._lists = {"default": []}
        self._names = list(self._lists)
        self._current = 0
        self._quotes: dict[str, Quote] = {}
        self._rows: list[_Row] = []
        self._index: dict[str, int] = {}
        self._cursor = 0
        self._top = 0
        self._flashing: set[int] = set()
        self._header: tuple[Strip, Strip] | None = None
        self._load_rows()

    # -- data ---------------------------------------------------------------------------------
    @property
    def list_name(self) -> str:
        """The name of the list shown."""
        return self._names[self._current]

    @property
    def list_names(self) -> list[str]:
        """Every list's name, in order."""
        return list(self._names)

    @property
    def instruments(self) -> list[Instrument]:
        """The instruments of the list shown."""
        return [row.instrument for row in self._rows]

    @property
    def cursor_instrument(self) -> Instrument | None:
        """The instrument under the cursor."""
        return self._rows[self._cursor].instrument if self._rows else None

    @property
    def cursor(self) -> int:
        """Row index of the cursor."""
        return self._cursor

    def tokens(self) -> set[str]:
        """Tokens of every list (the instruments the watchlist wants quotes for)."""
        return {i.token for items in self._lists.values() for i in items}

    def lists(self) -> dict[str, list[str]]:
        """Every list as tokens (what is persisted)."""
        return {name: [i.token for i in items] for name, items in self._lists.items()}

    def _load_rows(self) -> None:
        items = self._lists[self.list_name]
        self._rows = [_Row(i, self._quotes.get(i.token)) for i in items]
        self._index = {row.instrument.token: n for n, row in enumerate(self._rows)}
        self._cursor = min(self._cursor, max(0, len(self._rows) - 1))
        self._top = 0
        self._flashing.clear()
        self._header = None

    def show_list(self, index: int) -> None:
        """Show list number ``index`` (wraps around)."""
        self._current = index % len(self._names)
        self._cursor = 0
        self._load_rows()
        self.refresh()
        self.post_message(self.Highlighted(self.cursor_instrument))

    def add(self, instrument: Instrument) -> bool:
        """Add an instrument to the shown list (False if it is there already)."""
        items = self._lists[self.list_name]
        if any(i.token == instrument.token for i in items):
            self.move_to(instrument.token)
            return False
        items.append(instrument)
        self._load_rows()
        self.move_to(instrument.token)
        self.refresh()
        self.post_message(self.ListsChanged(self.lists()))
        return True

    def move_to(self, token: str) -> bool:
        """Put the cursor on ``token`` if the shown list has it."""
        index = self._index.get(token)
        if index is None:
            return False
        self.action_cursor(index - self._cursor)
        return True

    def apply_quotes(self, quotes: Mapping[str, Quote]) -> int:
        """Take the latest quotes; repaint only the rows that changed. Returns rows repainted."""
        now = time.monotonic()
        changed: list[int] = []
        for token, quote in quotes.items():
            self._quotes[token] = quote
            index = self._index.get(token)
            if index is None:
                continue
            row = self._rows[index]
            previous = row.quote
            if previous is not None and quote.ltp != previous.ltp:
                row.direction = 1 if quote.ltp > previous.ltp else -1
                row.flash_until = now + FLASH_SECONDS
                self._flashing.add(index)
            row.quote = quote
            row.strip = None
            changed.append(index)
        for index in list(self._flashing):
            row = self._rows[index]
            if row.flash_until <= now:
                self._flashing.discard(index)
                row.strip = None
                changed.append(index)
        for index in changed:
            self._refresh_row(index)
        return len(changed)

    def stop_flashing(self) -> None:
        """End every flash now (snapshots and tests want a still picture)."""
        for index in self._flashing:
            self._rows[index].flash_until = 0.0
            self._rows[index].strip = None
            self._refresh_row(index)
        self._flashing.clear()

    # -- rendering ----------------------------------------------------------------------------
    def _refresh_row(self, index: int) -> None:
        y = index - self._top + HEADER_LINES
        if HEADER_LINES <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def on_resize(self) -> None:
        """Widths changed: drop the cached strips."""
        self._invalidate()

    def notify_style_update(self) -> None:
        """Theme or CSS changed: drop the cached strips."""
        super().notify_style_update()
        self._invalidate()

    def _invalidate(self) -> None:
        for row in self._rows:
            row.strip = None
        self._header = None
        self.refresh()

    def _style(self, component: str) -> Style:
        return self.rich_style + self.get_component_rich_style(_CLS + component)

    def _headers(self, width: int) -> tuple[Strip, Strip]:
        if self._header is None or self._header[0].cell_length != width:
            segments: list[Segment] = []
            for n, name in enumerate(self._names):
                active = n == self._current
                label = f" {n + 1}:{name} " if len(self._names) > 1 else f" {name} "
                segments.append(Segment(label, self._style("tab-active" if active else "tabs")))
            tabs = Strip(segments).crop_extend(0, width, self.rich_style)
            text = "".join(_fit(c.title, c.width, c.left) + " " for c in columns_for(width))
            header = Strip([Segment(text, self._style("header"))]).crop_extend(
                0, width, self.rich_style
            )
            self._header = (tabs, header)
        return self._header

    def render_line(self, y: int) -> Strip:
        """Line API: list names, the column header, then one instrument per line."""
        width = self.size.width
        if y < HEADER_LINES:
            return self._headers(width)[y]
        index = self._top + y - HEADER_LINES
        if index >= len(self._rows):
            if index == 0:
                return Strip([Segment(" empty list: + adds an instrument",
                                      self._style("header"))]).crop_extend(0, width,
                                                                          self.rich_style)
            return Strip.blank(width, self.rich_style)
        row = self._rows[index]
        if row.strip is None or row.strip.cell_length != width:
            row.strip = self._render_row(row, width)
        if index == self._cursor and self.has_focus:
            cursor = Style(bgcolor=self.get_component_rich_style(_CLS + "cursor").bgcolor)
            return Strip(Segment.apply_style(list(row.strip), post_style=cursor), width)
        return row.strip

    def _render_row(self, row: _Row, width: int) -> Strip:
        instrument, quote = row.instrument, row.quote
        scale = instrument.price_scale
        values: dict[str, str] = {"Symbol": display_symbol(instrument)}
        colour = "flat"
        if quote is None or quote.ltp == 0:
            values["LTP"] = "-"
        else:
            change = quote.ltp - quote.close if quote.close else 0
            values["LTP"] = format_price(quote.ltp, scale)
            if quote.close:
                values["Chg"] = ("+" if change > 0 else "") + format_price(change, scale)
                values["Chg%"] = f"{change * 100 / quote.close:+.2f}%"
            values["Volume"] = format_volume(quote.volume) if quote.volume else ""
            values["Bid"] = format_price(quote.best_bid, scale) if quote.bids else ""
            values["Ask"] = format_price(quote.best_ask, scale) if quote.asks else ""
            colour = "up" if change > 0 else "down" if change < 0 else "flat"
        style = self._style(colour)
        if row.flash_until > time.monotonic():
            flash = "flash-up" if row.direction > 0 else "flash-down"
            style = style + self.get_component_rich_style(_CLS + flash)
        text = "".join(
            _fit(values.get(c.title, ""), c.width, c.left) + " " for c in columns_for(width)
        )
        return fit_strip([Segment(text, style)], width, self.rich_style)

    # -- keys ---------------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows, scrolling to keep it visible."""
        if not self._rows:
            return
        old = self._cursor
        self._cursor = max(0, min(len(self._rows) - 1, self._cursor + delta))
        visible = max(1, self.size.height - HEADER_LINES)
        if self._cursor < self._top:
            self._top = self._cursor
            self.refresh()
        elif self._cursor >= self._top + visible:
            self._top = self._cursor - visible + 1
            self.refresh()
        else:
            self._refresh_row(old)
            self._refresh_row(self._cursor)
        if old != self._cursor:
            self.post_message(self.Highlighted(self._rows[self._cursor].instrument))

    def action_depth(self) -> None:
        """Ask the screen to show and focus the row's depth."""
        instrument = self.cursor_instrument
        if instrument is not None:
            self.post_message(self.DepthRequested(instrument))

    def action_next_list(self) -> None:
        """Show the next list."""
        self.show_list(self._current + 1)

    def action_prev_list(self) -> None:
        """Show the previous list."""
        self.show_list(self._current - 1)

    def action_add_instrument(self) -> None:
        """Ask the screen for an instrument to add (instrument search)."""
        self.post_message(self.AddRequested())

    def action_remove_instrument(self) -> None:
        """Remove the row under the cursor from the shown list."""
        instrument = self.cursor_instrument
        if instrument is None:
            return
        items = self._lists[self.list_name]
        items[:] = [i for i in items if i.token != instrument.token]
        self._load_rows()
        self.refresh()
        self.post_message(self.ListsChanged(self.lists()))
        self.post_message(self.Highlighted(self.cursor_instrument))

    def on_focus(self) -> None:
        """Show the cursor."""
        self._refresh_row(self._cursor)

    def on_blur(self) -> None:
        """Hide the cursor."""
        self._refresh_row(self._cursor)


def _fit(text: str, width: int, left: bool) -> str:
    text = text[:width]
    return text.ljust(width) if left else text.rjust(width)
