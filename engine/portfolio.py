"""Positions, P&L, cash and margin: the portfolio the core updates on every fill and quote.

Accounting (all integers, paise; instruments must be priced in paise, ``price_scale == 100``):

* A position is keyed by ``(token, product)``. It holds its signed net quantity and its signed
  **open cost** ``sum(side.sign * price * qty)`` over the units still open (positive when long,
  negative when short). The average price is ``open_cost / net_qty``, exact as a Fraction, and
  rounded only for display (:attr:`PositionView.avg_price_paise`).
* **Average cost** (what Indian brokers show on the positions page, rather than FIFO): adding to a
  position adds its cost; reducing it releases the proportional share of the open cost,
  ``open_cost * closed / |net_qty|`` rounded half-even to the paisa, and realizes
  ``cash received - cash paid - released cost`` for the closed units. The released and the kept
  cost always add up to the old cost exactly, so ``realized + unrealized`` equals the cash flows
  plus the marked value to the paisa, whatever the rounding: rounding moves under a paisa between
  realized and unrealized, never creates or loses money. Flat means ``open_cost == 0``,
  ``unrealized == 0`` and realized equal to the sum of the cash flows.
* A fill through zero (long 10, sell 15) closes the 10 at their average cost and opens a short 5
  at the fill price.
* Unrealized P&L is ``net_qty * mark - open_cost``, where the mark is the last price given to
  :meth:`Portfolio.mark` or the price of the latest fill in the token, whichever came last (a
  trade is a price too). ``mark`` costs O(1) per token: a token -> positions index and running
  totals updated by differences.
* Charges come with each fill (``Fill.charges``, priced by :mod:`engine.charges`) and are summed
  per position and in total. Gross P&L excludes them, net P&L subtracts them.

Funds (:meth:`Portfolio.funds`): ``available = cash + realized - charges - margin_used - blocked
- mtm_loss``. ``cash`` is the starting cash (fills do not move it: the capital a position ties up
is counted as margin). Margin by position (:class:`MarginRules`):

* equity CNC: full value at cost (``|open_cost|``);
* equity MIS: ``mis_fraction`` of the marked notional (default 20 %);
* futures (MIS or NRML): ``futures_fraction`` of the marked notional (default 12 %);
* long options: the premium paid (``|open_cost|``);
* short options: ``option_sell_fraction`` of the strike notional ``|net_qty| * strike`` (default
  12 %), a stand-in for SPAN + exposure on the underlying, whose price the portfolio does not see.

Percentage margins are rounded up to the paisa. ``mtm_loss`` (a deviation from the plain formula,
on by default, ``MarginRules.deduct_mtm_loss``) is the unrealized loss of leveraged positions (MIS,
futures, short options): brokers debit it from available margin, because it is owed beyond the
margin blocked. Losses on CNC and long options are not deducted: their full cost is already
blocked.

Day figures: :meth:`Portfolio.start_day` (called by the core at session start, and automatically
when a fill of a later IST date arrives) records the day's opening equity; ``day_pnl`` is equity
minus that, ``peak_day_equity`` the highest equity seen since (updated on every fill and mark),
``day_drawdown`` the fall from that peak. Equity = ``cash + realized + unrealized - charges``.
Per position, ``max_loss`` is the largest gross loss (``-(realized + unrealized)``) seen since the
day started. Flat positions are dropped at the next day's start; their realized P&L stays in the
totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from engine.charges import Segment, segment_of
from engine.clock import ist_date
from engine.models import Exchange, Fill, Instrument, InstrumentType, OptionKind, Product

__all__ = [
    "Funds",
    "MarginRules",
    "Portfolio",
    "PortfolioError",
    "PositionView",
]

SNAPSHOT_VERSION = 1


class PortfolioError(ValueError):
    """A fill, mark or request the portfolio refuses, with the reason and the fix."""


def _fraction(value: Any, name: str) -> Fraction:
    """An exact non-negative fraction from a Fraction, int or decimal string (never a float)."""
    if isinstance(value, bool) or not isinstance(value, Fraction | int | str):
        raise PortfolioError(
            f'{name} must be a Fraction, int or decimal string such as "0.12", got {value!r}'
        )
    try:
        result = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise PortfolioError(f'{name}: {value!r} is not a number like "0.12"') from None
    if result < 0:
        raise PortfolioError(f"{name} cannot be negative, got {value!r}")
    return result


@dataclass(frozen=True, slots=True)
class MarginRules:
    """How much margin a position uses (fractions of notional; see the module docstring).

    Fractions are exact :class:`~fractions.Fraction` values (``Fraction(12, 100)`` = 12 %);
    :meth:`from_dict` also takes strings such as ``"0.12"`` or ``"3/25"``. Floats are refused.
    """

    mis_fraction: Fraction = Fraction(20, 100)
    futures_fraction: Fraction = Fraction(12, 100)
    option_sell_fraction: Fraction = Fraction(12, 100)
    deduct_mtm_loss: bool = True

    def __post_init__(self) -> None:
        for name in ("mis_fraction", "futures_fraction", "option_sell_fraction"):
            object.__setattr__(self, name, _fraction(getattr(self, name), name))
        if not isinstance(self.deduct_mtm_loss, bool):
            raise PortfolioError(f"deduct_mtm_loss must be a bool, got {self.deduct_mtm_loss!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (fractions as "num/den" strings)."""
        return {
            "mis_fraction": str(self.mis_fraction),
            "futures_fraction": str(self.futures_fraction),
            "option_sell_fraction": str(self.option_sell_fraction),
            "deduct_mtm_loss": self.deduct_mtm_loss,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarginRules:
        """Rules from :meth:`to_dict` output (missing keys take the defaults)."""
        known = {"mis_fraction", "futures_fraction", "option_sell_fraction", "deduct_mtm_loss"}
        unknown = set(data) - known
        if unknown:
            raise PortfolioError(
                f"unknown margin rule(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class PositionView:
    """Read-only state of one position (money in paise; ``avg_price`` exact)."""

    token: str
    symbol: str
    product: Product
    net_qty: int
    avg_price: Fraction
    open_cost: int
    ltp: int | None
    realized: int
    day_realized: int
    unrealized: int
    charges: int
    day_buy_qty: int
    day_sell_qty: int
    day_buy_value: int
    day_sell_value: int
    margin: int
    max_loss: int

    @property
    def gross_pnl(self) -> int:
        """Realized + unrealized."""
        return self.realized + self.unrealized

    @property
    def net_pnl(self) -> int:
        """Gross P&L minus charges."""
        return self.realized + self.unrealized - self.charges

    @property
    def avg_price_paise(self) -> int:
        """Average price rounded half-even to the paisa, for display."""
        return _round_half_even(self.avg_price.numerator, self.avg_price.denominator)

    @property
    def is_flat(self) -> bool:
        """True when no quantity is open."""
        return self.net_qty == 0


@dataclass(frozen=True, slots=True)
class Funds:
    """Read-only account figures (paise). ``available`` is what new orders may use."""

    cash: int
    realized: int
    unrealized: int
    charges: int
    margin_used: int
    blocked: int
    mtm_loss: int
    available: int
    equity: int
    day_start_equity: int
    day_pnl: int
    peak_day_equity: int
    day_drawdown: int

    @property
    def gross_pnl(self) -> int:
        """Realized + unrealized, before charges."""
        return self.realized + self.unrealized

    @property
    def net_pnl(self) -> int:
        """Realized + unrealized - charges."""
        return self.realized + self.unrealized - self.charges


def _round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) rounded to an int, ties to even."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient


def _ceil_fraction(value: int, fraction: Fraction) -> int:
    """``value * fraction`` rounded up (value >= 0)."""
    return -(-(value * fraction.numerator) // fraction.denominator)


class _Position:
    """Mutable state of one position (internal; the outside sees :class:`PositionView`)."""

    __slots__ = (
        "charges",
        "day_buy_qty",
        "day_buy_value",
        "day_realized",
        "day_sell_qty",
        "day_sell_value",
        "instrument",
        "margin",
        "mark",
        "max_loss",
        "mtm_loss",
        "net_qty",
        "open_cost",
        "product",
        "realized",
        "segment",
        "unrealized",
    )

    def __init__(self, instrument: Instrument, product: Product, segment: Segment) -> None:
        self.instrument = instrument
        self.product = product
        self.segment = segment
        self.net_qty = 0
        self.open_cost = 0
        self.realized = 0
        self.day_realized = 0
        self.charges = 0
        self.day_buy_qty = 0
        self.day_sell_qty = 0
        self.day_buy_value = 0
        self.day_sell_value = 0
        self.mark: int | None = None
        self.unrealized = 0
        self.margin = 0
        self.mtm_loss = 0
        self.max_loss = 0

    def view(self) -> PositionView:
        """A frozen snapshot."""
        net = self.net_qty
        avg = Fraction(self.open_cost, net) if net else Fraction(0)
        return PositionView(
            token=self.instrument.token,
            symbol=self.instrument.symbol,
            product=self.product,
            net_qty=net,
            avg_price=avg,
            open_cost=self.open_cost,
            ltp=self.mark,
            realized=self.realized,
            day_realized=self.day_realized,
            unrealized=self.unrealized,
            charges=self.charges,
            day_buy_qty=self.day_buy_qty,
            day_sell_qty=self.day_sell_qty,
            day_buy_value=self.day_buy_value,
            day_sell_value=self.day_sell_value,
            margin=self.margin,
            max_loss=self.max_loss,
        )

    _STATE = (
        "net_qty",
        "open_cost",
        "realized",
        "day_realized",
        "charges",
        "day_buy_qty",
        "day_sell_qty",
        "day_buy_value",
        "day_sell_value",
        "mark",
        "max_loss",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a snapshot (derived figures are recomputed on restore)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self._STATE}
        data["product"] = self.product.value
        data["instrument"] = _instrument_to_dict(self.instrument)
        return data


def _instrument_to_dict(inst: Instrument) -> dict[str, Any]:
    return {
        "token": inst.token,
        "exchange": inst.exchange.value,
        "symbol": inst.symbol,
        "name": inst.name,
        "instrument_type": inst.instrument_type.value,
        "lot_size": inst.lot_size,
        "tick_size": inst.tick_size,
        "price_scale": inst.price_scale,
        "expiry": inst.expiry.isoformat() if inst.expiry else None,
        "strike": inst.strike,
        "option_kind": inst.option_kind.value if inst.option_kind else None,
        "freeze_qty": inst.freeze_qty,
        "underlying": inst.underlying,
    }


def _instrument_from_dict(data: Mapping[str, Any]) -> Instrument:
    return Instrument(
        token=data["token"],
        exchange=Exchange(data["exchange"]),
        symbol=data["symbol"],
        name=data["name"],
        instrument_type=InstrumentType(data["instrument_type"]),
        lot_size=data["lot_size"],
        tick_size=data["tick_size"],
        price_scale=data["price_scale"],
        expiry=date.fromisoformat(data["expiry"]) if data["expiry"] else None,
        strike=data["strike"],
        option_kind=OptionKind(data["option_kind"]) if data["option_kind"] else None,
        freeze_qty=data["freeze_qty"],
        underlying=data["underlying"],
    )


class Portfolio:
    """Positions, P&L, charges, margin and funds of one account (see the module docstring).

    Not thread-safe: the core owns it on its event loop. Read it through :meth:`positions`,
    :meth:`position` and :meth:`funds`, which return frozen dataclasses.
    """

    __slots__ = (
        "_blocked",
        "_blocks",
        "_by_key",
        "_by_token",
        "_charges",
        "_day",
        "_day_start_equity",
        "_margin",
        "_mtm_loss",
        "_peak",
        "_realized",
        "_seen_trades",
        "_unrealized",
        "cash",
        "rules",
    )

    def __init__(self, starting_cash_paise: int, margin_rules: MarginRules | None = None) -> None:
        if type(starting_cash_paise) is not int:
            raise PortfolioError(
                f"starting cash must be int paise (₹1 = 100), got {starting_cash_paise!r}"
            )
        self.cash = starting_cash_paise
        self.rules = margin_rules if margin_rules is not None else MarginRules()
        self._by_key: dict[tuple[str, Product], _Position] = {}
        self._by_token: dict[str, list[_Position]] = {}
        self._blocks: dict[str, int] = {}
        self._blocked = 0
        self._realized = 0
        self._unrealized = 0
        self._charges = 0
        self._margin = 0
        self._mtm_loss = 0
        self._day: date | None = None
        self._day_start_equity = starting_cash_paise
        self._peak = starting_cash_paise
        self._seen_trades: set[str] = set()

    # -- fills -----------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill, instrument: Instrument) -> bool:
        """Apply one execution; returns False (and changes nothing) for a repeated trade id.

        Trade ids are remembered for the current day (per token). A fill dated on a later IST day
        than the current one starts that day first.
        """
        self._validate_fill(fill, instrument)
        trade_key = f"{fill.token}|{fill.trade_id}"
        if trade_key in self._seen_trades:
            return False
        fill_day = ist_date(fill.ts)
        if self._day is None or fill_day > self._day:
            self.start_day(fill_day)
        self._seen_trades.add(trade_key)

        key = (fill.token, fill.product)
        pos = self._by_key.get(key)
        if pos is None:
            pos = _Position(instrument, fill.product, segment_of(instrument, fill.product))
            self._by_key[key] = pos
            self._by_token.setdefault(fill.token, []).append(pos)

        qty, price, sign = fill.qty, fill.price, fill.side.sign
        value = price * qty
        if sign > 0:
            pos.day_buy_qty += qty
            pos.day_buy_value += value
        else:
            pos.day_sell_qty += qty
            pos.day_sell_value += value

        net = pos.net_qty
        if net == 0 or (net > 0) == (sign > 0):
            pos.open_cost += sign * value
            pos.net_qty = net + sign * qty
        else:
            open_qty = abs(net)
            closing = min(qty, open_qty)
            released = _round_half_even(pos.open_cost * closing, open_qty)
            realized = -sign * price * closing - released
            pos.open_cost -= released
            pos.realized += realized
            pos.day_realized += realized
            self._realized += realized
            rest = qty - closing
            pos.net_qty = net + sign * qty
            pos.open_cost += sign * price * rest

        pos.charges += fill.charges
        self._charges += fill.charges
        for sibling in self._by_token[fill.token]:  # a trade is the latest price of the token
            sibling.mark = price
            self._refresh(sibling)
        self._update_peak()
        return True

    def _validate_fill(self, fill: Fill, instrument: Instrument) -> None:
        """Refuse a fill before anything changes."""
        if fill.token != instrument.token:
            raise PortfolioError(
                f"fill {fill.trade_id} is for token {fill.token} but the instrument given is "
                f"{instrument.key} (token {instrument.token})"
            )
        if type(fill.qty) is not int or fill.qty <= 0:
            raise PortfolioError(
                f"fill {fill.trade_id}: qty must be a positive int, got {fill.qty!r}"
            )
        if type(fill.price) is not int or fill.price < 0:
            raise PortfolioError(
                f"fill {fill.trade_id}: price must be int paise >= 0, got {fill.price!r}"
            )
        if type(fill.charges) is not int or fill.charges < 0:
            raise PortfolioError(
                f"fill {fill.trade_id}: charges must be int paise >= 0, got {fill.charges!r}"
            )
        if instrument.price_scale != 100:
            raise PortfolioError(
                f"{instrument.key} is priced in 1/{instrument.price_scale} rupee; the portfolio "
                "accounts in paise and supports price_scale 100 (NSE/BSE equity and F&O) only"
            )
        segment_of(instrument, fill.product)  # raises for an impossible product
        kind = instrument.instrument_type
        if kind.is_derivative and fill.qty % instrument.lot_size != 0:
            raise PortfolioError(
                f"fill {fill.trade_id}: qty {fill.qty} of {instrument.key} is not a multiple of "
                f"the lot size {instrument.lot_size} (quantities are units, not lots)"
            )
        if kind.is_option and instrument.strike is None:
            raise PortfolioError(
                f"option {instrument.key} has no strike; load it from the instrument master "
                "(short-option margin is a fraction of the strike notional)"
            )

    # -- marks -------------------------------------------------------------------------------------

    def mark(self, token: str, ltp: int) -> None:
        """Mark every position in ``token`` at ``ltp`` (O(1) per token; no-op without one)."""
        positions = self._by_token.get(token)
        if not positions:
            return
        if type(ltp) is not int or ltp < 0:
            raise PortfolioError(f"mark for {token}: ltp must be a non-negative int, got {ltp!r}")
        for pos in positions:
            pos.mark = ltp
            self._refresh(pos)
        self._update_peak()

    def _refresh(self, pos: _Position) -> None:
        """Recompute a position's unrealized P&L, margin and MTM loss; adjust the totals."""
        net = pos.net_qty
        mark = pos.mark if pos.mark is not None else 0
        unrealized = net * mark - pos.open_cost
        margin, leveraged = self._margin_of(pos, net, mark)
        mtm_loss = -unrealized if leveraged and unrealized < 0 and self.rules.deduct_mtm_loss else 0
        self._unrealized += unrealized - pos.unrealized
        self._margin += margin - pos.margin
        self._mtm_loss += mtm_loss - pos.mtm_loss
        pos.unrealized = unrealized
        pos.margin = margin
        pos.mtm_loss = mtm_loss
        loss = -(pos.realized + unrealized)
        if loss > pos.max_loss:
            pos.max_loss = loss

    def _margin_of(self, pos: _Position, net: int, mark: int) -> tuple[int, bool]:
        """(margin in paise, whether the position is leveraged) of a position."""
        if net == 0:
            return 0, False
        segment = pos.segment
        size = net if net > 0 else -net
        if segment is Segment.EQUITY_DELIVERY:
            return abs(pos.open_cost), False
        if segment is Segment.EQUITY_INTRADAY:
            return _ceil_fraction(size * mark, self.rules.mis_fraction), True
        if segment is Segment.FUTURES:
            return _ceil_fraction(size * mark, self.rules.futures_fraction), True
        if net > 0:  # long option: the premium paid
            return abs(pos.open_cost), False
        strike = pos.instrument.strike or 0
        return _ceil_fraction(size * strike, self.rules.option_sell_fraction), True

    def _update_peak(self) -> None:
        equity = self.equity
        if equity > self._peak:
            self._peak = equity

    # -- days ------------------------------------------------------------------------------------

    def start_day(self, day: date) -> None:
        """Begin trading day ``day``: reset day counters, the day's equity baseline and peak.

        Flat positions are dropped (their realized P&L stays in the totals). Calling it again
        for the current day does nothing; an earlier day is refused.
        """
        if self._day is not None:
            if day == self._day:
                return
            if day < self._day:
                raise PortfolioError(
                    f"cannot start {day.isoformat()}: the portfolio is already on "
                    f"{self._day.isoformat()}"
                )
        self._day = day
        self._seen_trades.clear()
        for key, pos in list(self._by_key.items()):
            if pos.net_qty == 0:
                del self._by_key[key]
                siblings = self._by_token[pos.instrument.token]
                siblings.remove(pos)
                if not siblings:
                    del self._by_token[pos.instrument.token]
                continue
            pos.day_buy_qty = pos.day_sell_qty = 0
            pos.day_buy_value = pos.day_sell_value = 0
            pos.day_realized = 0
            pos.max_loss = max(0, -(pos.realized + pos.unrealized))
        equity = self.equity
        self._day_start_equity = equity
        self._peak = equity

    @property
    def day(self) -> date | None:
        """The current trading day (None before the first fill or :meth:`start_day`)."""
        return self._day

    @property
    def equity(self) -> int:
        """Cash + realized + unrealized - charges (paise)."""
        return self.cash + self._realized + self._unrealized - self._charges

    @property
    def day_pnl(self) -> int:
        """Equity now minus equity at the start of the day (net of charges)."""
        return self.equity - self._day_start_equity

    @property
    def peak_day_equity(self) -> int:
        """Highest equity since the day started."""
        return self._peak

    @property
    def day_drawdown(self) -> int:
        """Fall of equity from the day's peak (>= 0)."""
        return self._peak - self.equity

    # -- blocks ----------------------------------------------------------------------------------

    def block(self, order_id: str, amount: int) -> None:
        """Reserve ``amount`` paise for open order ``order_id`` (replaces an earlier block)."""
        if type(amount) is not int or amount < 0:
            raise PortfolioError(
                f"block for {order_id}: amount must be int paise >= 0, got {amount!r}"
            )
        previous = self._blocks.get(order_id, 0)
        self._blocks[order_id] = amount
        self._blocked += amount - previous

    def release(self, order_id: str) -> int:
        """Release the funds blocked for ``order_id``; returns the amount (0 if none)."""
        amount = self._blocks.pop(order_id, 0)
        self._blocked -= amount
        return amount

    def blocked_for(self, order_id: str) -> int:
        """Funds blocked for ``order_id`` (0 if none)."""
        return self._blocks.get(order_id, 0)

    # -- views -----------------------------------------------------------------------------------

    def positions(self) -> tuple[PositionView, ...]:
        """Every position of the day (flat ones included), in the order they were opened."""
        return tuple(pos.view() for pos in self._by_key.values())

    def position(self, token: str, product: Product) -> PositionView | None:
        """The position in ``token`` under ``product``, or None."""
        pos = self._by_key.get((token, product))
        return pos.view() if pos is not None else None

    def funds(self) -> Funds:
        """Cash, P&L, margin, blocks and what is available for new orders."""
        equity = self.equity
        available = (
            self.cash
            + self._realized
            - self._charges
            - self._margin
            - self._blocked
            - self._mtm_loss
        )
        return Funds(
            cash=self.cash,
            realized=self._realized,
            unrealized=self._unrealized,
            charges=self._charges,
            margin_used=self._margin,
            blocked=self._blocked,
            mtm_loss=self._mtm_loss,
            available=available,
            equity=equity,
            day_start_equity=self._day_start_equity,
            day_pnl=equity - self._day_start_equity,
            peak_day_equity=self._peak,
            day_drawdown=self._peak - equity,
        )

    # -- snapshot --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain JSON-able data; :meth:`from_dict` rebuilds it exactly."""
        return {
            "version": SNAPSHOT_VERSION,
            "cash": self.cash,
            "rules": self.rules.to_dict(),
            "day": self._day.isoformat() if self._day else None,
            "day_start_equity": self._day_start_equity,
            "peak": self._peak,
            "realized": self._realized,
            "charges": self._charges,
            "blocks": dict(self._blocks),
            "seen_trades": sorted(self._seen_trades),
            "positions": [pos.to_dict() for pos in self._by_key.values()],
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], margin_rules: MarginRules | None = None
    ) -> Portfolio:
        """Rebuild a portfolio from :meth:`to_dict` output; ``margin_rules`` overrides the saved."""
        version = data.get("version")
        if version != SNAPSHOT_VERSION:
            raise PortfolioError(
                f"portfolio snapshot version {version!r} is not supported (expected "
                f"{SNAPSHOT_VERSION})"
            )
        rules = margin_rules if margin_rules is not None else MarginRules.from_dict(data["rules"])
        portfolio = cls(data["cash"], rules)
        portfolio._day = date.fromisoformat(data["day"]) if data["day"] else None
        portfolio._realized = data["realized"]
        portfolio._charges = data["charges"]
        for order_id, amount in data["blocks"].items():
            portfolio.block(order_id, amount)
        portfolio._seen_trades = set(data["seen_trades"])
        for raw in data["positions"]:
            instrument = _instrument_from_dict(raw["instrument"])
            product = Product(raw["product"])
            pos = _Position(instrument, product, segment_of(instrument, product))
            for name in _Position._STATE:
                setattr(pos, name, raw[name])
            max_loss = pos.max_loss
            portfolio._by_key[(instrument.token, product)] = pos
            portfolio._by_token.setdefault(instrument.token, []).append(pos)
            portfolio._refresh(pos)
            pos.max_loss = max_loss
        portfolio._day_start_equity = data["day_start_equity"]
        portfolio._peak = data["peak"]
        return portfolio
