"""The blotter's rows from the core's read-only views: positions, orders, trades, GTTs, brackets.

Pure functions (no Textual), so the text of every row can be tested against the core's figures.
Money is formatted here, at the edge, from exact integers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.brackets import Bracket, BracketState
from engine.clock import to_ist
from engine.gtt import GttRule, GttStatus
from engine.models import Fill, Instrument, OrderStatus, Side
from engine.money import format_money, format_price
from engine.orders import Order
from engine.portfolio import PositionView
from widgets.blotter import BlotterRow, Cell
from widgets.watchlist import display_symbol

InstrumentOf = Callable[[str], Instrument | None]


def _symbol(instrument_of: InstrumentOf, token: str) -> str:
    instrument = instrument_of(token)
    return display_symbol(instrument) if instrument is not None else token


def _scale(instrument_of: InstrumentOf, token: str) -> int:
    instrument = instrument_of(token)
    return instrument.price_scale if instrument is not None else 100


def _time(ts: int) -> str:
    return to_ist(ts).strftime("%H:%M:%S") if ts else ""


def _side(side: Side) -> Cell:
    return (side.value, "buy" if side is Side.BUY else "sell")


def _pnl(paise: int) -> Cell:
    text = ("+" if paise > 0 else "") + format_money(paise)
    return (text, "up" if paise > 0 else "down" if paise < 0 else "")


def position_key(token: str, product: str) -> str:
    """The blotter key of a position."""
    return f"{token}|{product}"


def position_rows(positions: Iterable[PositionView], instrument_of: InstrumentOf
                  ) -> list[BlotterRow]:
    """Open positions first, then those closed today; P&L gross and net of charges."""
    ordered = sorted(positions, key=lambda p: (p.net_qty == 0, p.symbol))
    rows = []
    for p in ordered:
        scale = _scale(instrument_of, p.token)
        rows.append(BlotterRow(
            key=position_key(p.token, p.product.value),
            cells=(
                (_symbol(instrument_of, p.token), "" if p.net_qty else "muted"),
                (p.product.value, "muted"),
                (f"{p.net_qty:+,}" if p.net_qty else "0", "buy" if p.net_qty > 0
                 else "sell" if p.net_qty < 0 else "muted"),
                (format_price(p.avg_price_paise, scale) if p.net_qty else "", ""),
                (format_price(p.ltp, scale) if p.ltp else "-", ""),
                _pnl(p.gross_pnl),
                _pnl(p.net_pnl),
                (format_money(p.charges), "muted"),
            ),
        ))
    return rows


_STATUS_STYLE = {
    OrderStatus.FILLED: "up",
    OrderStatus.REJECTED: "down",
    OrderStatus.CANCELLED: "muted",
    OrderStatus.EXPIRED: "muted",
}


def order_rows(orders: Iterable[Order], instrument_of: InstrumentOf) -> list[BlotterRow]:
    """Working orders first, then done ones; newest first within each."""
    ordered = sorted(orders, key=lambda o: (not o.is_open, -o.created_ts))
    rows = []
    for o in ordered:
        scale = _scale(instrument_of, o.token)
        qty = f"{o.filled_qty:,}/{o.qty:,}" if o.filled_qty else f"{o.qty:,}"
        status = o.status.value
        if o.pending_action is not None:
            status = f"{status}*"
        rows.append(BlotterRow(
            key=str(o.client_order_id),
            cells=(
                (_time(o.created_ts), "muted"),
                (_symbol(instrument_of, o.token), ""),
                _side(o.side),
                (o.order_type.value, ""),
                (qty, ""),
                (format_price(o.price, scale) if o.price else "MKT" if not o.trigger_price
                 else "", ""),
                (format_price(o.trigger_price, scale) if o.trigger_price else "", ""),
                (o.product.value, "muted"),
                (status, _STATUS_STYLE.get(o.status, "warn" if o.is_open else "")),
                (str(o.client_order_id), "muted"),
                (o.reason, "down" if o.status is OrderStatus.REJECTED else "muted"),
            ),
        ))
    return rows


def trade_rows(fills: Iterable[Fill], instrument_of: InstrumentOf) -> list[BlotterRow]:
    """Fills, newest first."""
    rows = []
    for f in sorted(fills, key=lambda f: -f.ts):
        scale = _scale(instrument_of, f.token)
        rows.append(BlotterRow(
            key=str(f.trade_id),
            cells=(
                (_time(f.ts), "muted"),
                (_symbol(instrument_of, f.token), ""),
                _side(f.side),
                (f"{f.qty:,}", ""),
                (format_price(f.price, scale), ""),
                (f.product.value, "muted"),
                (format_money(f.charges), "muted"),
                (str(f.client_order_id), "muted"),
            ),
        ))
    return rows


def gtt_legs_text(rule: GttRule, scale: int) -> str:
    """``SELL 10 @849.00 if ≥850.00`` per leg, joined by `` | ``."""
    parts = []
    for n, leg in enumerate(rule.legs):
        arrow = "≥" if rule.fires_on_rise(n) else "≤"
        parts.append(f"{leg.side.value} {leg.qty} @{format_price(leg.limit, scale)} if "
                     f"{arrow}{format_price(leg.trigger, scale)}")
    return " | ".join(parts)


def gtt_rows(rules: Iterable[GttRule], instrument_of: InstrumentOf) -> list[BlotterRow]:
    """Active rules first, newest first."""
    ordered = sorted(rules, key=lambda r: (r.status is not GttStatus.ACTIVE, -r.created_ts))
    rows = []
    for r in ordered:
        scale = _scale(instrument_of, r.token)
        style = "warn" if r.status is GttStatus.ACTIVE else (
            "up" if r.status is GttStatus.TRIGGERED else "muted")
        rows.append(BlotterRow(
            key=r.id,
            cells=(
                (r.id, "muted"),
                (_symbol(instrument_of, r.token), ""),
                (r.kind.value, ""),
                (gtt_legs_text(r, scale), ""),
                (r.status.value, style),
                (str(r.client_order_id or r.reject_reason), "muted"),
            ),
        ))
    return rows


def bracket_rows(brackets: Iterable[Bracket], instrument_of: InstrumentOf) -> list[BlotterRow]:
    """Live brackets first, newest first."""
    ordered = sorted(brackets, key=lambda b: (b.state.is_terminal, -b.created_ts))
    rows = []
    for b in ordered:
        spec = b.spec
        scale = _scale(instrument_of, spec.token)

        def price(units: int | None, scale: int = scale) -> str:
            return format_price(units, scale) if units else ""

        entry = b.ref_price or spec.entry_price
        state_style = "warn" if not b.state.is_terminal else (
            "up" if b.state is BracketState.CLOSED else "muted")
        rows.append(BlotterRow(
            key=b.id,
            cells=(
                (b.id, "muted"),
                (_symbol(instrument_of, spec.token), ""),
                _side(spec.side),
                (f"{spec.qty:,}", ""),
                (b.state.value, state_style),
                (price(entry) or "MKT", ""),
                (price(b.stop_price), "sell" if spec.side is Side.BUY else "buy"),
                (price(b.target_price), "buy" if spec.side is Side.BUY else "sell"),
                (f"{b.position:,}", ""),
                (b.exit_reason.value if b.exit_reason else "", "muted"),
            ),
        ))
    return rows
