"""Configuration, session modes and id ranges of the simulated paper market.

The simulator (:mod:`engine.simulator`) trades synthetic agents through the real matching books
(:mod:`engine.book`). Callers (the paper broker) trade in the same books, so ids and accounts are
split into ranges that never collide:

* order ids ``>= SYNTHETIC_ORDER_ID_BASE`` (2**60) belong to the simulator's agents; a caller's
  order ids must be in ``1 .. SYNTHETIC_ORDER_ID_BASE - 1`` (they fit a signed 64-bit column);
* accounts ``>= SYNTHETIC_ACCOUNT_BASE`` (1000) belong to the agents; account 1 is the user's
  (the paper broker's), and a caller may use any account in ``0 .. 999`` (0 disables the book's
  self-trade prevention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from engine.book import BookConfig

SYNTHETIC_ORDER_ID_BASE = 1 << 60
"""First order id of the simulator's own agents; callers use ids below it."""

SYNTHETIC_ACCOUNT_BASE = 1000
"""First account of the simulator's own agents; callers use accounts below it."""

USER_ACCOUNT = 1
"""The account the paper broker trades as."""

MAKER_ACCOUNT = 1000
"""Market makers quoting layered bids and asks."""

NOISE_ACCOUNT = 1001
"""Noise takers sending random marketable orders."""

MOMENTUM_ACCOUNT = 1002
"""Momentum takers trading in the direction of recent returns."""

AUCTION_BUY_ACCOUNT = 1003
"""Buyers in the pre-open call auction."""

AUCTION_SELL_ACCOUNT = 1004
"""Sellers in the pre-open call auction (a separate account so the auction never self-trades)."""


class SessionMode(StrEnum):
    """How the simulated market keeps its hours."""

    REAL = "real"
    """Follow the NSE IST schedule: pre-open call auction 09:00-09:08 (uncross at 09:08),
    continuous 09:15-15:30, DAY orders expire at 15:30; closed on Saturdays and Sundays."""

    ALWAYS_OPEN = "always_open"
    """One continuous simulated session that runs whenever the app runs (no auction, no expiry)."""


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"SimulatorConfig.{name} must be > 0, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"SimulatorConfig.{name} must be >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything that shapes the synthetic market; the same config and seed replay identically.

    Rates are per instrument per *simulated* second. Volatilities are fractions per trading day
    (0.015 = 1.5 %), spread across the 6 h 15 min continuous session with a U-shaped intraday
    profile. Notionals are in paise. Fair values are a statistical model (floats); every price the
    agents send to a book is an integer on the instrument's tick grid.
    """

    mode: SessionMode = SessionMode.ALWAYS_OPEN
    holidays: frozenset[date] = frozenset()
    """Exchange holidays (IST dates) on which ``real`` mode stays closed, e.g. the dates of
    ``engine.calendar.default_calendar().holidays``; weekends are always closed."""
    speed: float = 1.0
    """Simulated seconds per wall second in ``SimulatedMarket.run`` (60.0 = a minute a second)."""
    tick_ms: int = 20
    """Wall-clock period of the async driver."""
    events_per_s: float = 10.0
    """Agent events (maker refresh or taker order) per instrument per simulated second."""
    events_per_s_by_token: Mapping[str, float] = field(default_factory=dict)
    """Per-token overrides of ``events_per_s`` (busy names trade more often)."""
    auction_events_per_s: float = 1.0
    """Orders per instrument per simulated second during pre-open order entry (real mode)."""
    maker_share: float = 0.5
    """Share of agent events that are market-maker refreshes."""
    noise_share: float = 0.35
    """Share of agent events that are noise takers; the rest are momentum takers."""
    noise_market_share: float = 0.3
    """Share of noise-taker orders sent as MARKET (IOC); the rest are marketable IOC limits."""
    volatility: float = 0.015
    """Idiosyncratic daily volatility of an instrument's fair value."""
    market_volatility: float = 0.01
    """Daily volatility of the market factor every instrument loads on (through its beta)."""
    betas: Mapping[str, float] = field(default_factory=dict)
    """Loading on the market factor per token (default 1.0)."""
    intraday_u_shape: float = 2.0
    """Curvature of the intraday volatility profile: open/close volatility is (1 + k) times the
    midday volatility (0 gives a flat profile)."""
    jumps_per_day: float = 2.0
    """Mean number of jumps in an instrument's fair value per session (Poisson)."""
    jump_size: float = 0.004
    """Standard deviation of a jump in the fair value (fraction)."""
    overnight_gap: float = 0.005
    """Standard deviation of the overnight move (real mode), drawn for the market factor and for
    each instrument's own walk."""
    futures_basis_bps: int = 20
    """Futures fair value = underlying fair value x (1 + basis)."""
    basis_noise_bps: float = 5.0
    """Standard deviation of the mean-reverting noise around a future's basis."""
    band_pct: int = 20
    """Circuit band as a percentage of the session's reference (previous close)."""
    band_pct_by_token: Mapping[str, int] = field(default_factory=dict)
    """Per-token circuit bands (2, 5, 10 or 20 % on NSE), overriding ``band_pct``."""
    spread_ticks: int = 2
    """Makers place new quotes ``spread_ticks / 2`` ticks either side of their (smoothed) fair
    value and keep a quote until the fair value crosses it: the spread is 1 to spread_ticks + 1
    ticks (wider for a moment after a taker clears a level)."""
    maker_levels: int = 8
    """Price levels the makers keep on each side (more than the best-5 a feed shows)."""
    maker_smoothing_s: float = 5.0
    """Makers quote around the fair value smoothed over this many simulated seconds (0 = none):
    the price keeps the configured volatility over minutes without chasing every tick of noise."""
    maker_orders_per_level: int = 3
    """Orders the makers keep at each price level of their ladder."""
    maker_orders_per_refresh: int = 4
    """At most this many new maker orders per side per refresh (the opening ladder is unlimited)."""
    maker_notional: int = 1_50_000_00
    """Typical size of one maker order in paise (at least one lot)."""
    taker_notional: int = 1_00_000_00
    """Mean size of one taker order in paise (at least one lot)."""
    taker_max_ticks_through: int = 2
    """A taker's IOC limit is up to this many ticks through the best opposite price."""
    momentum_window_s: float = 30.0
    """Time constant of the moving average momentum takers compare the last price with."""
    momentum_threshold_bps: float = 3.0
    """Momentum takers trade only when the last price is this far from its moving average."""
    impact: float = 0.05
    """Fraction of a taker's price distance from fair value that becomes permanent."""
    auction_dispersion: float = 0.003
    """Standard deviation of pre-open limit prices around the fair value (fraction)."""
    factor_interval_ms: int = 500
    """Simulated period at which the market factor and index walks move."""
    index_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Index token -> {constituent token: weight}; such an index is the weighted price relative of
    its constituents' last prices. Indices without weights follow their own walk on the factor."""
    max_step_ms: int = 1000
    """The driver advances at most this much simulated time per step() call when catching up."""
    max_lag_ms: int = 5000
    """If the driver falls further behind the wall clock than this (simulated ms), the flow of the
    excess interval is skipped (session transitions still happen) and counted in skipped_ns."""
    book_config: BookConfig | None = None

    def __post_init__(self) -> None:
        """Reject values that cannot make a market, naming the field and the accepted range."""
        for name in ("speed", "events_per_s", "auction_events_per_s", "momentum_window_s"):
            _positive(name, getattr(self, name))
        for name in (
            "volatility",
            "market_volatility",
            "intraday_u_shape",
            "jumps_per_day",
            "jump_size",
            "overnight_gap",
            "maker_smoothing_s",
            "basis_noise_bps",
            "momentum_threshold_bps",
            "impact",
            "auction_dispersion",
        ):
            _non_negative(name, getattr(self, name))
        for name in (
            "tick_ms",
            "spread_ticks",
            "maker_levels",
            "maker_orders_per_level",
            "maker_orders_per_refresh",
            "maker_notional",
            "taker_notional",
            "factor_interval_ms",
            "max_step_ms",
            "max_lag_ms",
        ):
            _positive(name, getattr(self, name))
        _non_negative("taker_max_ticks_through", self.taker_max_ticks_through)
        for name in ("maker_share", "noise_share", "noise_market_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SimulatorConfig.{name} must be within 0..1, got {value!r}")
        if self.maker_share + self.noise_share > 1.0:
            raise ValueError(
                "SimulatorConfig.maker_share + noise_share must be <= 1 (the rest are momentum "
                f"takers), got {self.maker_share} + {self.noise_share}"
            )
        if self.impact > 1.0:
            raise ValueError(f"SimulatorConfig.impact must be within 0..1, got {self.impact}")
        for token, pct in {"(default)": self.band_pct, **self.band_pct_by_token}.items():
            if not 0 < pct < 100:
                raise ValueError(
                    f"circuit band for {token} must be a percentage within 1..99, got {pct}"
                )
        for token, rate in self.events_per_s_by_token.items():
            if not rate > 0:
                raise ValueError(f"events_per_s_by_token[{token!r}] must be > 0, got {rate!r}")
        if self.max_lag_ms < self.max_step_ms:
            raise ValueError(
                f"SimulatorConfig.max_lag_ms ({self.max_lag_ms}) must be >= max_step_ms "
                f"({self.max_step_ms})"
            )
        for index, weights in self.index_weights.items():
            if not weights or any(not w > 0 for w in weights.values()):
                raise ValueError(
                    f"index_weights[{index!r}] must map constituent tokens to positive weights, "
                    f"got {dict(weights)!r}"
                )
