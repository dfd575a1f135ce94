"""A market-depth ladder for one instrument, drawn with Textual's Line API.

Asks sit above the middle line (best ask nearest it), bids below (best bid nearest it), each level
with price, quantity, order count and a bar proportional to the cumulative quantity from the touch.
The title carries the LTP and last trade quantity, the middle line the spread, the footer the total
buy and sell quantities. The ladder shows the best five levels a side, or more when the quote has
more and the widget is tall enough (it keeps the touch in view and drops the deepest levels first).

Quotes arrive through :meth:`DepthLadder.apply_quote` from the app's frame timer, never per tick.
Every line's content is kept as a small tuple of ``(text, component class)`` runs; only lines whose
content changed are repainted, and rendered :class:`Strip` objects are cached until the content,
the width or the theme changes.

Up/down move a cursor over the levels; Enter posts :class:`DepthLadder.LevelSelected` with the side
a trader would take against that level (an ask level means BUY at that price, a bid level SELL),
which the app turns into a prefilled LIMIT ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from engine.models import DepthLevel, Instrument, Quote, Side
from engine.money import format_price
from keymaps import default_bindings
from widgets.strips import fit_strip

DEFAULT_LEVELS = 5
"""Levels shown per side when the quote carries five or fewer."""

FIXED_LINES = 4
"""Title, column header, middle (spread) line and footer."""

LevelSide = Literal["ask", "bid"]

Run = tuple[str, str]
"""A run of text and the component class that styles it (``""`` for the widget's own style)."""

Line = tuple[Run, ...]

_EIGHTHS = " ▏▎▍▌▋▊▉"
_CLS = "depth-ladder--"


def cumulative_bar(cum_qty: int, max_qty: int, width: int) -> str:
    """A bar of ``width`` cells at most, ``cum_qty / max_qty`` of it filled, in eighth blocks.

    A non-zero quantity always shows at least one eighth so thin levels stay visible.
    """
    if width <= 0 or max_qty <= 0 or cum_qty <= 0:
        return ""
    eighths = max(1, round(min(cum_qty, max_qty) * width * 8 / max_qty))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def _qty(value: int) -> str:
    return f"{value:,}"


@dataclass(frozen=True, slots=True)
class _Cursor:
    side: LevelSide
    depth: int  # 0 = best level of that side


class DepthLadder(Widget, can_focus=True):
    """Line-API depth ladder; up/down move the cursor, Enter selects a level."""

    DEFAULT_CSS = """
    DepthLadder { height: 1fr; background: $surface; }
    DepthLadder > .depth-ladder--title { text-style: bold; }
    DepthLadder > .depth-ladder--header { color: $muted; }
    DepthLadder > .depth-ladder--muted { color: $muted; }
    DepthLadder > .depth-ladder--bid { color: $bid; }
    DepthLadder > .depth-ladder--ask { color: $ask; }
    DepthLadder > .depth-ladder--bid-bar { color: $bid 55%; }
    DepthLadder > .depth-ladder--ask-bar { color: $ask 55%; }
    DepthLadder > .depth-ladder--up { color: $up; text-style: bold; }
    DepthLadder > .depth-ladder--down { color: $down; text-style: bold; }
    DepthLadder > .depth-ladder--flat { color: $foreground; text-style: bold; }
    DepthLadder > .depth-ladder--spread { color: $foreground; }
    DepthLadder > .depth-ladder--cursor { background: $primary 30%; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "depth-ladder--title",
        "depth-ladder--header",
        "depth-ladder--muted",
        "depth-ladder--bid",
        "depth-ladder--ask",
        "depth-ladder--bid-bar",
        "depth-ladder--ask-bar",
        "depth-ladder--up",
        "depth-ladder--down",
        "depth-ladder--flat",
        "depth-ladder--spread",
        "depth-ladder--cursor",
    }

    # The registry's Ladder group (ladder.up, ladder.down, ladder.select), so a user keymap
    # that remaps them by id reaches this widget.
    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Ladder"))

    class LevelSelected(Message):
        """Enter on a level: trade against it (ask level -> BUY, bid level -> SELL) at its price."""

        def __init__(
            self, instrument: Instrument, side_to_trade: Side, price: int, qty: int
        ) -> None:
            super().__init__()
            self.instrument = instrument
            self.side_to_trade = side_to_trade
            self.price = price
            self.qty = qty

        def __repr__(self) -> str:
            return (
                f"LevelSelected({self.instrument.key}, {self.side_to_trade}, "
                f"price={self.price}, qty={self.qty})"
            )

    def __init__(
        self,
        instrument: Instrument | None = None,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._instrument = instrument
        self._quote: Quote | None = None
        self._cursor = _Cursor("ask", 0)
        self._shown = DEFAULT_LEVELS
        self._lines: list[Line] = []
        self._strips: list[Strip | None] = []
        self._styles: dict[str, Style] = {}

    # -- data ---------------------------------------------------------------------------------
    @property
    def instrument(self) -> Instrument | None:
        """The instrument shown."""
        return self._instrument

    @property
    def quote(self) -> Quote | None:
        """The latest quote shown."""
        return self._quote

    @property
    def levels_shown(self) -> int:
        """How many levels per side fit and are drawn."""
        return self._shown

    @property
    def cursor_level(self) -> tuple[LevelSide, int]:
        """The level under the cursor as (``"ask"`` or ``"bid"``, depth), depth 0 being the best."""
        return self._cursor.side, self._cursor.depth

    def set_instrument(self, instrument: Instrument | None) -> None:
        """Show another instrument (its depth appears with the next quote); the cursor resets."""
        if instrument == self._instrument:
            return
        self._instrument = instrument
        self._quote = None
        self._cursor = _Cursor("ask", 0)
        self._rebuild(force=True)

    def apply_quote(self, quote: Quote) -> int:
        """Show a new quote of the instrument; returns how many lines were repainted.

        A quote of another instrument is ignored (returns 0); a quote that changes nothing visible
        (only its time or sequence number moved) repaints nothing.
        """
        if self._instrument is None or quote.token != self._instrument.token:
            return 0
        self._quote = quote
        return self._rebuild()

    # -- layout -------------------------------------------------------------------------------
    def _depth_levels(self) -> int:
        quote = self._quote
        if quote is None:
            return DEFAULT_LEVELS
        return max(DEFAULT_LEVELS, len(quote.bids), len(quote.asks))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Natural height (for ``height: auto``): every level of both sides plus four lines."""
        return 2 * self._depth_levels() + FIXED_LINES

    def _fit_levels(self, height: int) -> int:
        wanted = self._depth_levels()
        if height <= 0:
            return wanted
        return max(1, min(wanted, (height - FIXED_LINES) // 2))

    def _cursor_y(self) -> int:
        side, depth = self._cursor.side, self._cursor.depth
        return 2 + (self._shown - 1 - depth if side == "ask" else self._shown + 1 + depth)

    def _rebuild(self, *, force: bool = False) -> int:
        """Recompute every line's content; repaint those that changed. Returns lines repainted."""
        width, height = self.size.width, self.size.height
        self._shown = self._fit_levels(height)
        if self._cursor.depth >= self._shown:
            self._cursor = _Cursor(self._cursor.side, self._shown - 1)
        lines = self._build_lines(width, max(height, 2 * self._shown + FIXED_LINES))
        old = self._lines
        self._lines = lines
        if force or len(old) != len(lines):
            self._strips = [None] * len(lines)
            self.refresh()
            return len(lines)
        repainted = 0
        for y, line in enumerate(lines):
            if line != old[y]:
                self._strips[y] = None
                self.refresh(Region(0, y, width, 1))
                repainted += 1
        return repainted

    def _build_lines(self, width: int, height: int) -> list[Line]:
        instrument, quote, shown = self._instrument, self._quote, self._shown
        blank: Line = ()
        if instrument is None:
            return [((" no instrument", _CLS + "muted"),)] + [blank] * (height - 1)
        scale = instrument.price_scale
        asks = quote.asks[:shown] if quote else ()
        bids = quote.bids[:shown] if quote else ()

        price_w = max([8] + [len(format_price(lv.price, scale)) for lv in (*asks, *bids)])
        qty_w = max([8] + [len(_qty(lv.qty)) for lv in (*asks, *bids)])
        orders_w = 6
        bar_w = max(0, width - (1 + price_w + 1 + qty_w + 1 + orders_w + 2) - 1)

        cum_asks = _cumulative(asks)
        cum_bids = _cumulative(bids)
        max_cum = max(cum_asks[-1] if cum_asks else 0, cum_bids[-1] if cum_bids else 0)

        def level_line(level: DepthLevel | None, cum: int, side: LevelSide) -> Line:
            if level is None:
                return blank
            return (
                (" " + format_price(level.price, scale).rjust(price_w), _CLS + side),
                (" " + _qty(level.qty).rjust(qty_w) + " " + str(level.orders).rjust(orders_w)
                 + "  ", ""),
                (cumulative_bar(cum, max_cum, bar_w), f"{_CLS}{side}-bar"),
            )

        lines: list[Line] = [self._title_line(instrument, quote, width)]
        lines.append(((
            " " + "Price".rjust(price_w) + " " + "Qty".rjust(qty_w) + " "
            + "Orders".rjust(orders_w) + "  " + ("Cum qty" if bar_w >= 7 else ""),
            _CLS + "header",
        ),))
        for depth in range(shown - 1, -1, -1):
            has = depth < len(asks)
            lines.append(level_line(asks[depth] if has else None,
                                    cum_asks[depth] if has else 0, "ask"))
        lines.append(self._middle_line(instrument, quote, width))
        for depth in range(shown):
            has = depth < len(bids)
            lines.append(level_line(bids[depth] if has else None,
                                    cum_bids[depth] if has else 0, "bid"))
        lines.append(self._footer_line(quote))
        lines.extend([blank] * (height - len(lines)))
        return lines

    @staticmethod
    def _title_line(instrument: Instrument, quote: Quote | None, width: int) -> Line:
        symbol = instrument.symbol
        left = f" {symbol[:-3] if symbol.endswith('-EQ') else symbol}  {instrument.exchange}"
        if quote is None or quote.ltp == 0:
            return ((left, _CLS + "title"),)
        ltp = format_price(quote.ltp, instrument.price_scale)
        last = f" × {_qty(quote.last_qty)}" if quote.last_qty else ""
        change = quote.ltp - quote.close if quote.close else 0
        colour = "up" if change > 0 else "down" if change < 0 else "flat"
        right = f"LTP {ltp}{last} "
        gap = max(2, width - len(left) - len(right))
        return ((left, _CLS + "title"), (" " * gap, ""), (right, _CLS + colour))

    @staticmethod
    def _middle_line(instrument: Instrument, quote: Quote | None, width: int) -> Line:
        if quote is None:
            text = " no quote yet "
        elif not quote.bids and not quote.asks:
            text = " no depth in this feed mode "
        elif not quote.bids or not quote.asks:
            text = " one-sided book "
        else:
            spread = quote.best_ask - quote.best_bid
            tick = instrument.tick_size
            note = ""
            if spread < 0:
                note = " (crossed)"
            elif spread == 0:
                note = " (locked)"
            elif tick > 0 and spread % tick == 0:
                ticks = spread // tick
                note = f" ({ticks} tick{'s' if ticks != 1 else ''})"
            text = f" spread {format_price(spread, instrument.price_scale)}{note} "
        left = 3
        right = max(0, width - left - len(text))
        return (("─" * left, _CLS + "muted"), (text, _CLS + "spread"),
                ("─" * right, _CLS + "muted"))

    @staticmethod
    def _footer_line(quote: Quote | None) -> Line:
        if quote is None or (quote.total_buy_qty == 0 and quote.total_sell_qty == 0):
            return ()
        buy, sell = quote.total_buy_qty, quote.total_sell_qty
        share = f"  ({buy * 100 // (buy + sell)}% buy)"
        return (
            (f" Total buy {_qty(buy)}", _CLS + "bid"),
            ("   ", ""),
            (f"Total sell {_qty(sell)}", _CLS + "ask"),
            (share, _CLS + "muted"),
        )

    # -- rendering ----------------------------------------------------------------------------
    def on_resize(self) -> None:
        """Width or height changed: rebuild every line."""
        self._rebuild(force=True)

    def notify_style_update(self) -> None:
        """Theme or CSS changed: drop the cached styles and strips."""
        super().notify_style_update()
        self._styles.clear()
        self._strips = [None] * len(self._lines)
        self.refresh()

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style
            if component:
                style = style + self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def render_line(self, y: int) -> Strip:
        """Line API: the cached strip of line ``y`` (with the cursor style when focused)."""
        width = self.size.width
        if y >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        strip = self._strips[y]
        if strip is None or strip.cell_length != width:
            segments = [Segment(text, self._style(cls)) for text, cls in self._lines[y] if text]
            strip = fit_strip(segments, width, self.rich_style)
            self._strips[y] = strip
        if self.has_focus and y == self._cursor_y():
            # post_style: the cursor background must win over each run's own background.
            cursor = Style(bgcolor=self.get_component_rich_style(_CLS + "cursor").bgcolor)
            return Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip

    # -- keys ---------------------------------------------------------------------------------
    def _refresh_cursor_line(self) -> None:
        self.refresh(Region(0, self._cursor_y(), self.size.width, 1))

    def action_cursor(self, delta: int) -> None:
        """Move the cursor ``delta`` levels down the screen (negative: up, towards deeper asks)."""
        shown = self._shown
        position = (shown - 1 - self._cursor.depth if self._cursor.side == "ask"
                    else shown + self._cursor.depth)
        position = max(0, min(2 * shown - 1, position + delta))
        self._refresh_cursor_line()
        if position < shown:
            self._cursor = _Cursor("ask", shown - 1 - position)
        else:
            self._cursor = _Cursor("bid", position - shown)
        self._refresh_cursor_line()

    def action_select_level(self) -> None:
        """Post :class:`LevelSelected` for the level under the cursor (bell if it is empty)."""
        instrument, quote = self._instrument, self._quote
        levels = () if quote is None else (quote.asks if self._cursor.side == "ask"
                                           else quote.bids)
        if instrument is None or self._cursor.depth >= len(levels):
            self.app.bell()
            return
        level = levels[self._cursor.depth]
        side = Side.BUY if self._cursor.side == "ask" else Side.SELL
        self.post_message(self.LevelSelected(instrument, side, level.price, level.qty))

    def on_focus(self) -> None:
        """Show the cursor."""
        self._refresh_cursor_line()

    def on_blur(self) -> None:
        """Hide the cursor."""
        self._refresh_cursor_line()


def _cumulative(levels: tuple[DepthLevel, ...]) -> list[int]:
    total = 0
    out: list[int] = []
    for level in levels:
        total += level.qty
        out.append(total)
    return out
