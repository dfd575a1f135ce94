"""Call-auction equilibrium price, as NSE's pre-open session determines the opening price.

Given the collected buy and sell orders, the equilibrium price is the price at which the most
quantity can trade. Ties are broken by the smallest unmatched imbalance, then by the distance to the
reference price (the previous close), then by the lower price.

The executable quantity at price ``p`` is ``min(D(p), S(p))`` where ``D(p)`` is the market buy
quantity plus every buy limit priced at or above ``p`` and ``S(p)`` the market sell quantity plus
every sell limit priced at or below ``p``. As in NSE's published examples, the candidates are the
limit prices of the collected orders (the maximum executable quantity is always reached at one of
them); when there are only market orders, the reference price is the only candidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Equilibrium", "executable_at", "find_equilibrium"]


@dataclass(frozen=True, slots=True)
class Equilibrium:
    """The auction's single price, the quantity executable there, and ``|D - S|`` at that price."""

    price: int
    volume: int
    imbalance: int


def executable_at(
    price: int,
    buys: Iterable[tuple[int, int]],
    sells: Iterable[tuple[int, int]],
    buy_market: int = 0,
    sell_market: int = 0,
) -> tuple[int, int]:
    """Return ``(D(price), S(price))``: buy demand and sell supply that would trade at ``price``.

    ``buys``/``sells`` are ``(limit price, qty)`` pairs; market quantities always take part.
    """
    demand = buy_market + sum(q for p, q in buys if p >= price)
    supply = sell_market + sum(q for p, q in sells if p <= price)
    return demand, supply


def find_equilibrium(
    buys: Iterable[tuple[int, int]],
    sells: Iterable[tuple[int, int]],
    buy_market: int = 0,
    sell_market: int = 0,
    reference: int = 0,
) -> Equilibrium | None:
    """Find the equilibrium price of a call auction, or ``None`` when nothing can trade.

    ``buys``/``sells`` are ``(limit price, qty)`` pairs (a price may repeat); ``buy_market`` and
    ``sell_market`` the total market-order quantities; ``reference`` the previous close (0 = none).
    """
    buy_qty: dict[int, int] = {}
    sell_qty: dict[int, int] = {}
    for price, qty in buys:
        if qty < 0 or price <= 0:
            raise ValueError(f"buy order ({price}, {qty}) needs a positive price and qty >= 0")
        buy_qty[price] = buy_qty.get(price, 0) + qty
    for price, qty in sells:
        if qty < 0 or price <= 0:
            raise ValueError(f"sell order ({price}, {qty}) needs a positive price and qty >= 0")
        sell_qty[price] = sell_qty.get(price, 0) + qty
    if buy_market < 0 or sell_market < 0 or reference < 0:
        raise ValueError("market quantities and the reference price must not be negative")

    candidates = sorted(buy_qty.keys() | sell_qty.keys())
    if not candidates and reference:
        candidates = [reference]

    total_buy = buy_market + sum(buy_qty.values())
    buys_below = 0  # buy quantity priced strictly below the candidate
    supply = sell_market  # sell quantity priced at or below the candidate
    best: Equilibrium | None = None
    best_key: tuple[int, int, int] = (0, 0, 0)
    for price in candidates:
        supply += sell_qty.get(price, 0)
        demand = total_buy - buys_below
        buys_below += buy_qty.get(price, 0)
        volume = demand if demand < supply else supply
        if volume <= 0:
            continue
        imbalance = abs(demand - supply)
        distance = abs(price - reference) if reference else 0
        key = (volume, -imbalance, -distance)
        # Candidates ascend, so keeping the first of equal keys picks the lower price.
        if best is None or key > best_key:
            best = Equilibrium(price, volume, imbalance)
            best_key = key
    return best
