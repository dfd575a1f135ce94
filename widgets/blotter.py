"""The blotter: positions, orders, trades, GTTs and brackets as tabs of one Line-API table.

Line 0 is the tab strip, line 1 the column header of the tab shown, then one row per item. The
screen hands each tab its rows with :meth:`Blotter.set_rows` (positions every frame, since their
LTP and P&L tick; the other tabs when the core announces a change). A row is a key (order id,
position key, rule id...) and its cells, each a text and a style name; only rows whose cells
changed are repainted and every row's :class:`Strip` is cached, so a ticking P&L costs one line.

Keys (binding ids of the ``Blotter`` group): up/down move the cursor; on the orders tab ``m``
modifies and ``x`` cancels the order under the cursor, ``X`` cancels every open order; on the
positions tab ``e`` exits the position; ``x`` on the GTT and brackets tabs cancels that rule or
bracket. The blotter only posts messages; the screen asks the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from keymaps import default_bindings
from widgets.strips import fit_strip

_CLS = "blotter--"

TABS: tuple[str, ...] = ("positions", "orders", "trades", "gtt", "brackets")
"""Tab ids, in order (the ``tabs.*`` keys 1-5 choose them)."""

TAB_TITLES = {
    "positions": "Positions",
    "orders": "Orders",
    "trades": "Trades",
    "gtt": "GTT",
    "brackets": "Brackets",
}

Cell = tuple[str, str]
"""Text and a style name (``""``, ``up``, ``down``, ``buy``, ``sell``, ``muted``, ``warn``)."""


@dataclass(frozen=True, slots=True)
class Column:
    """A column: title, width in cells, and whether it is left-aligned."""

    title: str
    width: int
    left: bool = False


COLUMNS: dict[str, tuple[Column, ...]] = {
    "positions": (
        Column("Symbol", 14, True), Column("Prod", 4, True), Column("Qty", 7),
        Column("Avg", 10), Column("LTP", 10), Column("P&L", 11), Column("Net", 11),
        Column("Charges", 9),
    ),
    "orders": (
        Column("Time", 8, True), Column("Symbol", 14, True), Column("Side", 4, True),
        Column("Type", 5, True), Column("Qty", 9), Column("Price", 10), Column("Trig", 9),
        Column("Prod", 4, True), Column("Status", 10, True), Column("Id", 18, True),
        Column("Reason", 40, True),
    ),
    "trades": (
        Column("Time", 8, True), Column("Symbol", 14, True), Column("Side", 4, True),
        Column("Qty", 7), Column("Price", 10), Column("Prod", 4, True), Column("Charges", 9),
        Column("Order", 18, True),
    ),
    "gtt": (
        Column("Id", 8, True), Column("Symbol", 14, True), Column("Kind", 6, True),
        Column("Legs", 40, True), Column("Status", 10, True), Column("Order", 18, True),
    ),
    "brackets": (
        Column("Id", 6, True), Column("Symbol", 14, True), Column("Side", 4, True),
        Column("Qty", 6), Column("State", 13, True), Column("Entry", 10), Column("Stop", 10),
        Column("Target", 10), Column("Open", 6), Column("Exit", 10, True),
    ),
}
"""The columns of every tab."""


@dataclass(frozen=True, slots=True)
class BlotterRow:
    """One row: a key the actions refer to, and its cells (one per column)."""

    key: str
    cells: tuple[Cell, ...]


class Blotter(Widget, can_focus=True):
    """Tabs of positions, orders, trades, GTTs and brackets; one Line-API table."""

    DEFAULT_CSS = """
    Blotter { height: 1fr; background: $surface; }
    Blotter > .blotter--tab { color: $muted; }
    Blotter > .blotter--tab-active { color: $text-accent; text-style: bold reverse; }
    Blotter > .blotter--header { color: $muted; text-style: bold; }
    Blotter > .blotter--up { color: $up; }
    Blotter > .blotter--down { color: $down; }
    Blotter > .blotter--buy { color: $bid; }
    Blotter > .blotter--sell { color: $ask; }
    Blotter > .blotter--muted { color: $muted; }
    Blotter > .blotter--warn { color: $warning; }
    Blotter > .blotter--cursor { background: $primary 35%; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        _CLS + name
        for name in ("tab", "tab-active", "header", "up", "down", "buy", "sell", "muted", "warn",
                     "cursor")
    }

    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Blotter"))

    class ModifyRequested(Message):
        """``m`` on an order row."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class CancelRequested(Message):
        """``x`` on an order, GTT or bracket row (``tab`` says which)."""

        def __init__(self, tab: str, key: str) -> None:
            super().__init__()
            self.tab = tab
            self.key = key

    class CancelAllRequested(Message):
        """``X`` on the orders tab."""

    class ExitRequested(Message):
        """``e`` on a position row."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class TabChanged(Message):
        """Another tab is shown."""

        def __init__(self, tab: str) -> None:
            super().__init__()
            self.tab = tab

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._tab = TABS[0]
        self._rows: dict[str, list[BlotterRow]] = {tab: [] for tab in TABS}
        self._strips: dict[str, list[Strip | None]] = {tab: [] for tab in TABS}
        self._cursor: dict[str, int] = dict.fromkeys(TABS, 0)
        self._top = 0
        self._chrome: tuple[Strip, Strip] | None = None
        self._styles: dict[str, Style] = {}

    # -- data ---------------------------------------------------------------------------------
    @property
    def tab(self) -> str:
        """The tab shown."""
        return self._tab

    def rows(self, tab: str | None = None) -> list[BlotterRow]:
        """The rows of a tab (the shown one by default)."""
        return list(self._rows[tab or self._tab])

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor on the shown tab."""
        rows = self._rows[self._tab]
        if not rows:
            return None
        return rows[min(self._cursor[self._tab], len(rows) - 1)].key

    def show_tab(self, tab: str) -> None:
        """Show a tab (one of :data:`TABS`)."""
        if tab not in TABS:
            raise ValueError(f"unknown blotter tab {tab!r}; the tabs are {', '.join(TABS)}")
        if tab == self._tab:
            return
        self._tab = tab
        self._top = 0
        self._chrome = None
        self._scroll_to_cursor()
        self.refresh()
        self.refresh_bindings()
        self.post_message(self.TabChanged(tab))

    def set_rows(self, tab: str, rows: Sequence[BlotterRow]) -> int:
        """Replace a tab's rows; repaints only rows that changed if it is shown. Returns lines
        repainted."""
        old = self._rows[tab]
        new = list(rows)
        self._rows[tab] = new
        strips = self._strips[tab]
        if len(old) != len(new):
            self._strips[tab] = [None] * len(new)
            if tab == self._tab:
                self._cursor[tab] = min(self._cursor[tab], max(0, len(new) - 1))
                self.refresh()
            else:
                self.refresh(Region(0, 0, self.size.width, 1))  # the count in the tab strip
            return len(new)
        repainted = 0
        for n, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                strips[n] = None
                repainted += 1
                if tab == self._tab:
                    self._refresh_index(n)
        return repainted

    # -- rendering ----------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style
            if name:
                style = style + self.get_component_rich_style(_CLS + name)
            self._styles[name] = style
        return style

    def on_resize(self) -> None:
        """New width: drop the cached strips."""
        self._drop_cache()

    def notify_style_update(self) -> None:
        """Theme changed: drop cached styles and strips."""
        super().notify_style_update()
        self._styles.clear()
        self._drop_cache()

    def _drop_cache(self) -> None:
        self._chrome = None
        for tab in TABS:
            self._strips[tab] = [None] * len(self._rows[tab])
        self.refresh()

    def _chrome_lines(self, width: int) -> tuple[Strip, Strip]:
        if self._chrome is None or self._chrome[0].cell_length != width:
            segments: list[Segment] = []
            for n, tab in enumerate(TABS):
                count = len(self._rows[tab])
                label = f" {n + 1} {TAB_TITLES[tab]}" + (f" {count}" if count else "") + " "
                segments.append(Segment(label, self._style("tab-active" if tab == self._tab
                                                           else "tab")))
                segments.append(Segment(" ", self.rich_style))
            tabs = Strip(segments).crop_extend(0, width, self.rich_style)
            text = "".join(_fit(c.title, c.width, c.left) + " " for c in COLUMNS[self._tab])
            header = Strip([Segment(text, self._style("header"))]).crop_extend(
                0, width, self.rich_style
            )
            self._chrome = (tabs, header)
        return self._chrome

    def _refresh_index(self, index: int) -> None:
        y = index - self._top + 2
        if 2 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def render_line(self, y: int) -> Strip:
        """Line API: tab strip, header, rows."""
        width = self.size.width
        if y < 2:
            if y == 0:
                # counts in the tab strip change with the rows: rebuild cheaply each paint
                self._chrome = None
            return self._chrome_lines(width)[y]
        index = self._top + y - 2
        rows = self._rows[self._tab]
        if index >= len(rows):
            if index == 0:
                empty = f" no {TAB_TITLES[self._tab].lower()} yet"
                return Strip([Segment(empty, self._style("muted"))]).crop_extend(
                    0, width, self.rich_style
                )
            return Strip.blank(width, self.rich_style)
        strips = self._strips[self._tab]
        strip = strips[index]
        if strip is None or strip.cell_length != width:
            strip = self._render_row(rows[index], width)
            strips[index] = strip
        if self.has_focus and index == self._cursor[self._tab]:
            cursor = Style(bgcolor=self.get_component_rich_style(_CLS + "cursor").bgcolor)
            return Strip(Segment.apply_style(list(strip), post_style=cursor), width)
        return strip

    def _render_row(self, row: BlotterRow, width: int) -> Strip:
        segments: list[Segment] = []
        for column, (text, style) in zip(COLUMNS[self._tab], row.cells, strict=False):
            segments.append(Segment(_fit(text, column.width, column.left), self._style(style)))
            segments.append(Segment(" ", self.rich_style))
        return fit_strip(segments, width, self.rich_style)

    # -- keys ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Order keys live on the orders tab (cancel also on GTT/brackets), exit on positions."""
        tab = self._tab
        if action in ("modify_order", "cancel_all_orders"):
            return tab == "orders"
        if action == "cancel_order":
            return tab in ("orders", "gtt", "brackets")
        if action == "exit_position":
            return tab == "positions"
        return True

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 2)
        cursor = self._cursor[self._tab]
        if cursor < self._top:
            self._top = cursor
        elif cursor >= self._top + visible:
            self._top = cursor - visible + 1

    def action_cursor(self, delta: int) -> None:
        """Move the cursor on the shown tab."""
        rows = self._rows[self._tab]
        if not rows:
            return
        old = self._cursor[self._tab]
        new = max(0, min(len(rows) - 1, old + delta))
        self._cursor[self._tab] = new
        top = self._top
        self._scroll_to_cursor()
        if top != self._top:
            self.refresh()
        else:
            self._refresh_index(old)
            self._refresh_index(new)

    def action_modify_order(self) -> None:
        """Ask to modify the order under the cursor."""
        key = self.cursor_key
        if key is not None:
            self.post_message(self.ModifyRequested(key))

    def action_cancel_order(self) -> None:
        """Ask to cancel the order / GTT / bracket under the cursor."""
        key = self.cursor_key
        if key is not None:
            self.post_message(self.CancelRequested(self._tab, key))

    def action_cancel_all_orders(self) -> None:
        """Ask to cancel every open order."""
        self.post_message(self.CancelAllRequested())

    def action_exit_position(self) -> None:
        """Ask to exit the position under the cursor."""
        key = self.cursor_key
        if key is not None:
            self.post_message(self.ExitRequested(key))

    def on_focus(self) -> None:
        """Show the cursor."""
        self._refresh_index(self._cursor[self._tab])

    def on_blur(self) -> None:
        """Hide the cursor."""
        self._refresh_index(self._cursor[self._tab])


def _fit(text: str, width: int, left: bool) -> str:
    text = text[:width]
    return text.ljust(width) if left else text.rjust(width)
