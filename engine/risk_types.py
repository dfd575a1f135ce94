"""Inputs and outputs of the pre-trade risk checks (see :mod:`engine.risk`).

The core fills an :class:`OrderCheck` (the order and the market around it) and a
:class:`RiskState` (a snapshot of the account: funds, positions, P&L, session phase) from its
portfolio, OMS and market views; :class:`engine.risk.PreTradeRisk` answers with a
:class:`RiskDecision`. Constructors check types (a wrong type is a caller bug and raises
:class:`RiskInputError`); wrong *values* (a zero quantity, a price off the tick) are what the checks
report as rejections.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from engine.clock import SessionPhase
from engine.kill_switch import KillSwitchPlan
from engine.models import (
    ClientOrderId,
    Instrument,
    OrderType,
    Product,
    Side,
    StrategyId,
    Validity,
)

__all__ = [
    "CHECKS",
    "OrderCheck",
    "PositionExit",
    "PositionLike",
    "RiskDecision",
    "RiskInputError",
    "RiskRejection",
    "RiskState",
    "RiskWarning",
]

CHECKS: tuple[str, ...] = (
    "instrument",
    "quantity",
    "order_fields",
    "kill_switch",
    "market_hours",
    "reduce_only",
    "lot_size",
    "tick_size",
    "freeze_qty",
    "trigger",
    "circuit",
    "price_band",
    "daily_loss",
    "drawdown",
    "mis_cutoff",
    "max_order_qty",
    "max_order_value",
    "max_position_qty",
    "max_position_value",
    "max_open_positions",
    "max_gross_exposure",
    "funds",
    "risk_per_trade",
    "min_reward_risk",
    "otr",
    "duplicate",
    "rate_limit",
)
"""Stable names of the checks, in the order :meth:`PreTradeRisk.check` runs them."""

_NO_ORDER_ID = ClientOrderId("")
_MANUAL = StrategyId("manual")


class RiskInputError(TypeError):
    """An :class:`OrderCheck` or :class:`RiskState` built with wrong types (a caller bug)."""


def _require_ints(obj: object, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(obj, name)
        if type(value) is not int:
            raise RiskInputError(
                f"{type(obj).__name__}.{name} must be an int (paise / price units / count), "
                f"got {value!r}"
            )


# ---------------------------------------------------------------------------------------------
# Inputs and outputs


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """An order as the risk checks see it (prices in the instrument's price units, 0 = none).

    ``price`` is the limit price (LIMIT, SL; 0 for MARKET and SL-M), ``trigger`` the stop trigger
    (SL, SL-M). ``ltp`` and ``reference`` (previous close) and the circuit limits are 0 when
    unknown. ``stop_loss`` and ``target`` are the trade's planned exits, used by
    ``risk_per_trade_pct`` and ``min_reward_risk``. ``is_exit`` asks for the exit treatment (see the
    module docstring); ``confirmed`` sends an order again inside the duplicate window on purpose.
    ``ts`` is when the intent was made (journal only).
    """

    token: str
    instrument: Instrument
    side: Side
    order_type: OrderType
    product: Product
    validity: Validity
    qty: int
    price: int = 0
    trigger: int = 0
    ltp: int = 0
    reference: int = 0
    upper_circuit: int = 0
    lower_circuit: int = 0
    stop_loss: int = 0
    target: int = 0
    is_exit: bool = False
    client_order_id: ClientOrderId = _NO_ORDER_ID
    strategy_id: StrategyId = _MANUAL
    ts: int = 0
    confirmed: bool = False

    def __post_init__(self) -> None:
        _require_ints(
            self,
            (
                "qty",
                "price",
                "trigger",
                "ltp",
                "reference",
                "upper_circuit",
                "lower_circuit",
                "stop_loss",
                "target",
                "ts",
            ),
        )
        for name, kind in (
            ("side", Side),
            ("order_type", OrderType),
            ("product", Product),
            ("validity", Validity),
            ("instrument", Instrument),
        ):
            if not isinstance(getattr(self, name), kind):
                raise RiskInputError(
                    f"OrderCheck.{name} must be a {kind.__name__}, got {getattr(self, name)!r}"
                )
        if not isinstance(self.is_exit, bool) or not isinstance(self.confirmed, bool):
            raise RiskInputError("OrderCheck.is_exit and .confirmed must be bools")

    @property
    def segment(self) -> str:
        """The exchange segment whose rate limit the order uses (``"NSE"``, ``"NFO"``, ...)."""
        return self.instrument.exchange.value


@dataclass(frozen=True, slots=True)
class RiskState:
    """Account snapshot for one check (money in paise).

    ``required_margin`` is what this order needs (computed by the caller; for a modification, the
    extra margin). ``position_qty`` is the signed net position in this token under the order's
    product; ``open_exit_qty`` the quantity already working in exit orders against it.
    ``gross_exposure`` is the sum of absolute position values. ``day_pnl`` is realized +
    unrealized, net of charges. ``phase`` is the session phase of the order's exchange segment.
    """

    funds_available: int
    required_margin: int
    open_positions: int
    position_qty: int
    gross_exposure: int
    day_pnl: int
    peak_equity: int
    equity: int
    capital_base: int
    open_orders: int
    phase: SessionPhase
    open_exit_qty: int = 0

    def __post_init__(self) -> None:
        _require_ints(
            self,
            (
                "funds_available",
                "required_margin",
                "open_positions",
                "position_qty",
                "gross_exposure",
                "day_pnl",
                "peak_equity",
                "equity",
                "capital_base",
                "open_orders",
                "open_exit_qty",
            ),
        )
        if not isinstance(self.phase, SessionPhase):
            raise RiskInputError(f"RiskState.phase must be a SessionPhase, got {self.phase!r}")
        for name in (
            "required_margin",
            "open_positions",
            "gross_exposure",
            "open_orders",
            "open_exit_qty",
        ):
            if getattr(self, name) < 0:
                raise RiskInputError(f"RiskState.{name} cannot be negative: {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class RiskRejection:
    """A failed check: its stable name (see :data:`CHECKS`) and a message with the numbers."""

    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass(frozen=True, slots=True)
class RiskWarning:
    """Something the trader should know about an accepted order."""

    check: str
    message: str


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The answer to :meth:`PreTradeRisk.check`.

    ``slices`` are the quantities to send (one order per slice) when accepted, empty when rejected.
    ``kill_switch`` is the plan to execute when this check tripped the kill switch.
    """

    rejection: RiskRejection | None
    warnings: tuple[RiskWarning, ...] = ()
    slices: tuple[int, ...] = ()
    kill_switch: KillSwitchPlan | None = None

    @property
    def accepted(self) -> bool:
        """True when every check passed."""
        return self.rejection is None


class PositionLike(Protocol):
    """What :meth:`PreTradeRisk.positions_to_exit` reads; ``engine.portfolio.PositionView`` fits."""

    @property
    def token(self) -> str:
        """Instrument token."""
        ...

    @property
    def product(self) -> Product:
        """Product of the position."""
        ...

    @property
    def net_qty(self) -> int:
        """Signed net quantity."""
        ...

    @property
    def realized(self) -> int:
        """Realized P&L, paise."""
        ...

    @property
    def unrealized(self) -> int:
        """Unrealized P&L, paise."""
        ...


@dataclass(frozen=True, slots=True)
class PositionExit:
    """A position that breached ``max_loss_per_position`` and the order that closes it."""

    token: str
    product: Product
    side: Side
    qty: int
    loss: int
    message: str
