"""Risk limits as the user writes them (``RiskConfig``) and as the checks use them (``RiskLimits``).

:class:`RiskConfig` is a pydantic v2 model (``extra="forbid"``, frozen). Rupee amounts are exact
``Decimal`` rupees with at most two decimals; percentages are ``Decimal`` percent (``5`` = 5 %).
Every limit is optional: ``None`` switches it off. Some checks are always on and have no setting:
tick size, lot size, freeze quantity, circuit limits (when the caller knows them), the reduce-only
rule for exits and the kill switch.

:meth:`RiskConfig.limits` converts the model into :class:`RiskLimits`, the same limits in paise,
nanoseconds and exact fractions, which is what :class:`engine.risk.PreTradeRisk` reads.

Defaults are the safe ones: a 5 % fat-finger band, 10 orders per second per exchange segment (the
SEBI threshold; config may lower it, never raise it), modifies and cancels counted as orders, a
3-second duplicate window, OTR warning at 250 and block at 500 messages per trade (below the
exchanges' first penalty slab), no AMO, and the kill switch auto-triggered on a daily-loss or
drawdown breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time as dtime
from decimal import Decimal
from fractions import Fraction

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.money import PAISE_PER_RUPEE

__all__ = ["SEBI_MAX_ORDERS_PER_SECOND", "RiskConfig", "RiskLimits"]

SEBI_MAX_ORDERS_PER_SECOND = 10
"""SEBI retail-algo threshold: orders per second per exchange segment (new + modify + cancel)."""

_NS_PER_SECOND = 1_000_000_000

_RUPEE_FIELDS = (
    "max_order_value",
    "max_position_value_per_instrument",
    "max_gross_exposure",
    "daily_loss_limit",
    "max_drawdown_from_peak",
    "max_loss_per_position",
)
_PCT_FIELDS = (
    "risk_per_trade_pct",
    "max_drawdown_from_peak_pct",
    "price_band_pct",
    "flatten_protection_pct",
)


class RiskConfig(BaseModel):
    """User-facing risk limits (rupees and percent; ``None`` disables a limit).

    Unknown keys are refused, so a misspelt limit is an error rather than a limit silently off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_value: Decimal | None = Field(
        default=None, description="Largest value of one order, rupees."
    )
    max_order_qty: int | None = Field(
        default=None, description="Largest quantity of one order, in units (not lots)."
    )
    max_open_positions: int | None = Field(
        default=None, description="Most instruments with an open position at once."
    )
    max_position_qty_per_instrument: int | None = Field(
        default=None, description="Largest absolute net quantity in one instrument, units."
    )
    max_position_value_per_instrument: Decimal | None = Field(
        default=None, description="Largest value of the net position in one instrument, rupees."
    )
    max_gross_exposure: Decimal | None = Field(
        default=None, description="Largest sum of absolute position values, rupees."
    )
    risk_per_trade_pct: Decimal | None = Field(
        default=None,
        description="Largest loss to the stop-loss, percent of the capital base; needs a stop.",
    )
    daily_loss_limit: Decimal | None = Field(
        default=None, description="Day P&L (realized + unrealized, net) may not fall to -this."
    )
    max_drawdown_from_peak: Decimal | None = Field(
        default=None, description="Largest fall of equity from the day's peak, rupees."
    )
    max_drawdown_from_peak_pct: Decimal | None = Field(
        default=None, description="Largest fall of equity from the day's peak, percent of peak."
    )
    max_loss_per_position: Decimal | None = Field(
        default=None, description="A position losing this much (gross) is exited, rupees."
    )
    price_band_pct: Decimal | None = Field(
        default=Decimal(5),
        description="Fat-finger band: LIMIT price vs LTP, SL limit vs trigger, percent.",
    )
    orders_per_second: int = Field(
        default=SEBI_MAX_ORDERS_PER_SECOND,
        description="Orders per second per exchange segment, 1..10 (SEBI threshold is 10).",
    )
    rate_limit_counts_modify_cancel: bool = Field(
        default=True,
        description="Count modifications and cancellations as orders (SEBI counts all three).",
    )
    duplicate_window_s: Decimal = Field(
        default=Decimal(3),
        description="Same token/side/qty/price/type within this many seconds is refused unless "
        "confirmed; 0 switches the check off.",
    )
    otr_warn: int | None = Field(
        default=250, description="Warn at this many orders+modifies+cancels per trade (day)."
    )
    otr_block: int | None = Field(
        default=500, description="Refuse new orders beyond this order-to-trade ratio (day)."
    )
    mis_entry_cutoff: dtime | None = Field(
        default=None,
        description=(
            "IST time of day from which intraday (MIS) orders that would open or grow a position "
            "are refused (the broker squares MIS off soon after); None = no cutoff."
        ),
    )
    allow_amo: bool = Field(
        default=False,
        description="Accept orders while the segment is CLOSED, as after-market orders.",
    )
    min_reward_risk: Decimal | None = Field(
        default=None, description="Smallest reward/risk (target vs stop); needs both."
    )
    kill_switch_on_daily_loss: bool = Field(
        default=True, description="Trigger the kill switch when daily_loss_limit is breached."
    )
    kill_switch_on_drawdown: bool = Field(
        default=True, description="Trigger the kill switch when a drawdown limit is breached."
    )
    flatten_protection_pct: Decimal = Field(
        default=Decimal(5),
        description="Market protection of the kill switch's flattening orders, percent.",
    )

    @field_validator(*_RUPEE_FIELDS)
    @classmethod
    def _rupees(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        """Positive, finite, at most two decimals (exact paise)."""
        name = info.field_name or "amount"
        if value is None:
            return None
        if not value.is_finite():
            raise ValueError(f"{name} must be a finite rupee amount such as 100000, got {value}")
        if value <= 0:
            raise ValueError(
                f"{name} must be a positive rupee amount such as 100000 (or omitted to switch "
                f"the limit off), got {value}"
            )
        if (value * PAISE_PER_RUPEE) != (value * PAISE_PER_RUPEE).to_integral_value():
            raise ValueError(
                f"{name} must be whole paise (at most 2 decimals, e.g. 1250.50), got {value}"
            )
        return value

    @field_validator(*_PCT_FIELDS)
    @classmethod
    def _percent(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        """A percentage in (0, 100]."""
        name = info.field_name or "percent"
        if value is None:
            return None
        if not value.is_finite() or value <= 0 or value > 100:
            raise ValueError(
                f"{name} is a percentage and must be more than 0 and at most 100 (5 means 5 %), "
                f"got {value}"
            )
        return value

    @field_validator(
        "max_order_qty",
        "max_open_positions",
        "max_position_qty_per_instrument",
        "otr_warn",
        "otr_block",
        "orders_per_second",
        mode="before",
    )
    @classmethod
    def _not_bool(cls, value: object, info: ValidationInfo) -> object:
        """``true`` is not a count (pydantic would read it as 1)."""
        if isinstance(value, bool):
            raise ValueError(f"{info.field_name} must be a whole number, not {value}")
        return value

    @field_validator(
        "max_order_qty",
        "max_open_positions",
        "max_position_qty_per_instrument",
        "otr_warn",
        "otr_block",
    )
    @classmethod
    def _positive_int(cls, value: int | None, info: ValidationInfo) -> int | None:
        """A positive count."""
        name = info.field_name or "count"
        if value is not None and value <= 0:
            raise ValueError(
                f"{name} must be a positive whole number (or omitted to switch it off), got {value}"
            )
        return value

    @field_validator("orders_per_second")
    @classmethod
    def _ops(cls, value: int) -> int:
        """1..10: config may lower the SEBI threshold, never raise it."""
        if value < 1 or value > SEBI_MAX_ORDERS_PER_SECOND:
            raise ValueError(
                f"orders_per_second must be between 1 and {SEBI_MAX_ORDERS_PER_SECOND} (the "
                f"SEBI threshold per exchange segment; it may be lowered, not raised), got {value}"
            )
        return value

    @field_validator("duplicate_window_s")
    @classmethod
    def _window(cls, value: Decimal) -> Decimal:
        """Zero (off) to one hour."""
        if not value.is_finite() or value < 0 or value > 3600:
            raise ValueError(
                f"duplicate_window_s must be between 0 (off) and 3600 seconds, got {value}"
            )
        return value

    @field_validator("min_reward_risk")
    @classmethod
    def _reward_risk(cls, value: Decimal | None) -> Decimal | None:
        """A positive ratio."""
        if value is not None and (not value.is_finite() or value <= 0):
            raise ValueError(
                f"min_reward_risk must be a positive ratio such as 1.5 (reward / risk), got {value}"
            )
        return value

    @model_validator(mode="after")
    def _otr_order(self) -> RiskConfig:
        """The warning must come before the block."""
        if (
            self.otr_warn is not None
            and self.otr_block is not None
            and self.otr_warn >= self.otr_block
        ):
            raise ValueError(
                f"otr_warn ({self.otr_warn}) must be below otr_block ({self.otr_block}) so the "
                "warning comes first"
            )
        return self

    def limits(self) -> RiskLimits:
        """The same limits in paise, nanoseconds and exact fractions."""

        def paise(value: Decimal | None) -> int | None:
            return None if value is None else int(value * PAISE_PER_RUPEE)

        def frac(value: Decimal | None) -> Fraction | None:
            return None if value is None else Fraction(value)

        return RiskLimits(
            max_order_value=paise(self.max_order_value),
            max_order_qty=self.max_order_qty,
            max_open_positions=self.max_open_positions,
            max_position_qty=self.max_position_qty_per_instrument,
            max_position_value=paise(self.max_position_value_per_instrument),
            max_gross_exposure=paise(self.max_gross_exposure),
            risk_per_trade_pct=frac(self.risk_per_trade_pct),
            daily_loss_limit=paise(self.daily_loss_limit),
            max_drawdown=paise(self.max_drawdown_from_peak),
            max_drawdown_pct=frac(self.max_drawdown_from_peak_pct),
            max_loss_per_position=paise(self.max_loss_per_position),
            price_band_pct=frac(self.price_band_pct),
            orders_per_second=self.orders_per_second,
            count_modify_cancel=self.rate_limit_counts_modify_cancel,
            duplicate_window_ns=int(self.duplicate_window_s * _NS_PER_SECOND),
            otr_warn=self.otr_warn,
            otr_block=self.otr_block,
            allow_amo=self.allow_amo,
            mis_entry_cutoff=self.mis_entry_cutoff,
            min_reward_risk=frac(self.min_reward_risk),
            kill_on_daily_loss=self.kill_switch_on_daily_loss,
            kill_on_drawdown=self.kill_switch_on_drawdown,
            flatten_protection_pct=self.flatten_protection_pct,
        )


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits in the checker's units: paise, nanoseconds, exact fractions (percent stays percent).

    ``None`` means the limit is off. Build it with :meth:`RiskConfig.limits`.
    """

    max_order_value: int | None
    max_order_qty: int | None
    max_open_positions: int | None
    max_position_qty: int | None
    max_position_value: int | None
    max_gross_exposure: int | None
    risk_per_trade_pct: Fraction | None
    daily_loss_limit: int | None
    max_drawdown: int | None
    max_drawdown_pct: Fraction | None
    max_loss_per_position: int | None
    price_band_pct: Fraction | None
    orders_per_second: int
    count_modify_cancel: bool
    duplicate_window_ns: int
    otr_warn: int | None
    otr_block: int | None
    allow_amo: bool
    mis_entry_cutoff: dtime | None
    min_reward_risk: Fraction | None
    kill_on_daily_loss: bool
    kill_on_drawdown: bool
    flatten_protection_pct: Decimal
