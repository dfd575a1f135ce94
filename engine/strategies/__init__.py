"""Sample strategies, each documented in its module: EMA crossover, RSI breakout, Bollinger
bounce and a pairs trade. :data:`STRATEGIES` maps each ``kind`` to its class."""

from __future__ import annotations

from typing import Any

from engine.strategies.bollinger_bounce import BollingerBounce, BollingerBounceParams
from engine.strategies.ema_cross import EmaCross, EmaCrossParams
from engine.strategies.pairs import PairsParams, PairsTrade
from engine.strategies.rsi_breakout import RsiBreakout, RsiBreakoutParams
from engine.strategy import Strategy, StrategyError

STRATEGIES: dict[str, type[Strategy[Any]]] = {
    EmaCross.kind: EmaCross,
    RsiBreakout.kind: RsiBreakout,
    BollingerBounce.kind: BollingerBounce,
    PairsTrade.kind: PairsTrade,
}
"""Every sample strategy by its ``kind``."""


def strategy_class(kind: str) -> type[Strategy[Any]]:
    """The strategy class named ``kind`` (StrategyError listing the known kinds otherwise)."""
    try:
        return STRATEGIES[kind]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise StrategyError(f"unknown strategy {kind!r}; known: {known}") from None


__all__ = [
    "STRATEGIES",
    "BollingerBounce",
    "BollingerBounceParams",
    "EmaCross",
    "EmaCrossParams",
    "PairsParams",
    "PairsTrade",
    "RsiBreakout",
    "RsiBreakoutParams",
    "strategy_class",
]
