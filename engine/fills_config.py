"""Settings of the live-feed fill model (:mod:`engine.fills`) and the constants its events use."""

from __future__ import annotations

from dataclasses import dataclass

from engine.book_events import MarketRemainder

__all__ = [
    "MARKET_ACCOUNT",
    "MARKET_ORDER_ID",
    "FillModelConfig",
]

MARKET_ORDER_ID = 0
"""The order id that stands for the live market's side of every :class:`~engine.book_events.Fill`
the fill model reports (our order is the other side). Our orders therefore need ids >= 1."""

MARKET_ACCOUNT = 0
"""The account of the live market's side of a fill (0 = no account, as in the book)."""


@dataclass(slots=True)
class FillModelConfig:
    """How paper orders are filled against an external live feed.

    * ``market_protection_bps``: a MARKET (or triggered SL-M) order becomes a limit at the
      reference price (LTP, else the previous close, else the best opposite price) plus (buy) or
      minus (sell) that many basis points (200 = 2 %), snapped inward to the tick and clamped to
      the circuit band, exactly as :class:`engine.book.OrderBook` does.
    * ``market_remainder``: what a MARKET order does with the quantity it cannot fill within its
      protection price: REST as a LIMIT at that price (the NSE/Zerodha rule) or CANCEL it.
    * ``prob_slippage``: the probability (drawn from the model's seeded RNG, once per taker fill)
      that a taker fill is ``slippage_ticks`` ticks worse than the depth level it took; never
      beyond the order's limit or protection price. 0 (the default) never slips and never draws.
    * ``account``: the account number our side of a fill carries (``maker_account`` or
      ``taker_account``); the market's side carries :data:`MARKET_ACCOUNT`.
    """

    market_protection_bps: int = 200
    market_remainder: MarketRemainder = MarketRemainder.REST
    prob_slippage: float = 0.0
    slippage_ticks: int = 1
    account: int = 1

    def __post_init__(self) -> None:
        """Refuse settings that make no sense, naming the setting and the allowed range."""
        if self.market_protection_bps < 0:
            raise ValueError(
                f"market_protection_bps must be >= 0 (200 = 2 %), got {self.market_protection_bps}"
            )
        if not isinstance(self.market_remainder, MarketRemainder):
            raise ValueError(
                f"market_remainder must be MarketRemainder.REST or .CANCEL, "
                f"got {self.market_remainder!r}"
            )
        if not 0.0 <= self.prob_slippage <= 1.0:
            raise ValueError(
                f"prob_slippage is a probability and must be within 0..1, got {self.prob_slippage}"
            )
        if self.slippage_ticks < 0:
            raise ValueError(f"slippage_ticks must be >= 0, got {self.slippage_ticks}")
        if self.account == MARKET_ACCOUNT:
            raise ValueError(
                f"account {MARKET_ACCOUNT} stands for the live market; use 1 or more for ours"
            )
