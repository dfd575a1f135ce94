"""What the live-feed fill model knows of one instrument's market (:class:`LiveMarket`).

A live feed sends snapshots, and not every packet carries every field (an Angel One LTP packet
carries only the LTP, a Depth-20 packet only the depth). :meth:`LiveMarket.apply_quote` therefore
merges each :class:`~engine.models.Quote` into the last known state: a zero field means "not
carried" and keeps the previous value. A quote carries depth when it has a level on either side or
a circuit band (a SnapQuote of an empty book still carries its band); only then is the depth
replaced.

Between two quotes the market state tells what traded, as far as a snapshot can:

* ``flow``: the rise in session volume not already reported by trade prints, attributed to the
  quote's LTP (a snapshot does not say at which prices the volume traded);
* ``new_trade``: some trade printed (volume rose, or, on a feed without volume, the LTP changed);
* ``new_low`` / ``new_high``: the session low fell / the high rose, so a trade printed at that
  price since the previous quote (this catches a market that went through a price and came back).

Consumed liquidity: our simulated fills never change the real book, so the next quote may show the
shares we took again. Per price level the state keeps the displayed size it saw and how much of
it we took; the available size is ``displayed - taken``. The record survives a new quote while that
level shows the same size and resets when the size changes (fresh data at that level), the rule
nautilus_trader uses for ``liquidity_consumption``. Within one quote, depth we took is never
available again.
"""

from __future__ import annotations

from engine.models import EMPTY_DEPTH, DepthLevel, Instrument, Quote, TradePrint

__all__ = ["LiveMarket", "QuoteUpdate"]


class QuoteUpdate:
    """What one quote revealed about trading since the previous quote of the same instrument."""

    __slots__ = ("depth", "flow", "new_high", "new_low", "new_trade")

    def __init__(
        self, *, depth: bool, flow: int, new_trade: bool, new_low: int, new_high: int
    ) -> None:
        self.depth = depth
        """The quote carried depth (it replaced the known depth)."""
        self.flow = flow
        """Volume traded since the previous quote and not reported by prints (at the LTP)."""
        self.new_trade = new_trade
        """A trade printed since the previous quote that prints did not report."""
        self.new_low = new_low
        """The new session low when it fell since the previous quote, else 0."""
        self.new_high = new_high
        """The new session high when it rose since the previous quote, else 0."""

    def through(self, is_buy: bool, limit: int, ltp: int) -> bool:
        """True when the market traded strictly better than ``limit`` for a resting order.

        A buy at ``limit`` is traded through by a trade below it, a sell by a trade above it.
        """
        if is_buy:
            return (self.new_trade and 0 < ltp < limit) or 0 < self.new_low < limit
        return (self.new_trade and ltp > limit) or self.new_high > limit


class LiveMarket:
    """Merged live state of one instrument plus the depth our fills have consumed."""

    __slots__ = (
        "_ask_used",
        "_bid_used",
        "asks",
        "bids",
        "close",
        "has_depth",
        "high",
        "instrument",
        "low",
        "lower",
        "ltp",
        "print_seen",
        "printed",
        "token",
        "upper",
        "volume",
    )

    def __init__(self, token: str, instrument: Instrument | None = None) -> None:
        """Start with nothing known about ``token``."""
        self.token = token
        self.instrument = instrument
        self.ltp = 0
        self.volume = 0
        self.close = 0
        self.low = 0
        self.high = 0
        self.lower = 0
        self.upper = 0
        self.bids: tuple[DepthLevel, ...] = EMPTY_DEPTH
        self.asks: tuple[DepthLevel, ...] = EMPTY_DEPTH
        self.has_depth = False
        self.printed = 0
        self.print_seen = False
        # price -> (displayed size when we took from it, qty taken)
        self._bid_used: dict[int, tuple[int, int]] = {}
        self._ask_used: dict[int, tuple[int, int]] = {}

    # -----------------------------------------------------------------------------------------
    # Market data in

    def apply_quote(self, quote: Quote) -> QuoteUpdate:
        """Merge ``quote`` into the state and report what traded since the previous quote."""
        ltp = quote.ltp
        flow = 0
        new_trade = False
        new_low = 0
        new_high = 0
        volume = quote.volume
        same_session = True
        if volume:
            if self.volume and volume >= self.volume:
                unreported = volume - self.volume - self.printed
                if unreported > 0:
                    flow = unreported
                    new_trade = True
            elif self.volume:
                same_session = False  # volume went down: a new session or feed; a new baseline
            self.volume = volume
            self.printed = 0
        elif ltp and self.ltp and ltp != self.ltp and not self.print_seen:
            new_trade = True  # a feed without volume: a changed LTP means a trade
        if ltp:
            self.print_seen = False
        if quote.low:
            if same_session and self.low and quote.low < self.low:
                new_low = quote.low
            self.low = quote.low
        if quote.high:
            if same_session and self.high and quote.high > self.high:
                new_high = quote.high
            self.high = quote.high
        if ltp:
            self.ltp = ltp
        if quote.close:
            self.close = quote.close
        if quote.upper_circuit:
            self.upper = quote.upper_circuit
            self.lower = quote.lower_circuit
        depth = bool(quote.bids or quote.asks or quote.upper_circuit)
        if depth:
            self.bids = quote.bids
            self.asks = quote.asks
            self.has_depth = True
            self._bid_used = _surviving(self._bid_used, quote.bids)
            self._ask_used = _surviving(self._ask_used, quote.asks)
        return QuoteUpdate(
            depth=depth, flow=flow, new_trade=new_trade, new_low=new_low, new_high=new_high
        )

    def apply_trade(self, trade: TradePrint) -> None:
        """Record a trade print: it is the last price, and its volume is reported."""
        self.printed += trade.qty
        self.print_seen = True
        self.ltp = trade.price
        if not self.low or trade.price < self.low:
            self.low = trade.price
        if trade.price > self.high:
            self.high = trade.price

    # -----------------------------------------------------------------------------------------
    # Views used by the fill model

    @property
    def band(self) -> tuple[int, int]:
        """The circuit band ``(lower, upper)`` from the feed; ``(0, 0)`` when none is known."""
        return self.lower, self.upper

    def reference(self, is_buy: bool) -> int:
        """The MARKET protection reference: LTP, else previous close, else the best opposite."""
        if self.ltp:
            return self.ltp
        if self.close:
            return self.close
        side = self.asks if is_buy else self.bids
        return side[0].price if side else 0

    def available(self, is_buy: bool, limit: int) -> int:
        """Displayed quantity a taker on side ``is_buy`` could still take at ``limit`` or better."""
        levels = self.asks if is_buy else self.bids
        used = self._ask_used if is_buy else self._bid_used
        total = 0
        for level in levels:
            if level.price > limit if is_buy else level.price < limit:
                break
            total += _free(level, used)
        return total

    def take(self, is_buy: bool, limit: int, qty: int) -> list[tuple[int, int]]:
        """Consume up to ``qty`` from the opposite side at ``limit`` or better, best level first.

        Returns ``(level price, qty taken)`` per level touched; the taken quantity is no longer
        available to anyone until the level's displayed size changes.
        """
        levels = self.asks if is_buy else self.bids
        used = self._ask_used if is_buy else self._bid_used
        taken: list[tuple[int, int]] = []
        for level in levels:
            if qty <= 0:
                break
            price = level.price
            if price > limit if is_buy else price < limit:
                break
            free = _free(level, used)
            if free <= 0:
                continue
            n = free if free < qty else qty
            qty -= n
            rec = used.get(price)
            already = rec[1] if rec is not None and rec[0] == level.qty else 0
            used[price] = (level.qty, already + n)
            taken.append((price, n))
        return taken

    def queue_ahead(self, is_buy: bool, price: int, ahead: int | None) -> int | None:
        """The queue ahead of an order at ``price`` given the known depth.

        ``ahead`` is the current estimate (``None`` = unknown). When our side shows a level at
        ``price`` the estimate is capped by its size (or set to it when unknown); when ``price`` is
        better than our side's best, or inside the displayed range where no level shows, nobody is
        ahead (0); deeper than the displayed levels the estimate is kept. With no depth known the
        estimate is kept.
        """
        if not self.has_depth:
            return ahead
        own = self.bids if is_buy else self.asks
        if not own:
            return 0
        for level in own:
            if level.price == price:
                return level.qty if ahead is None or level.qty < ahead else ahead
        worst = own[-1].price
        if price > worst if is_buy else price < worst:
            return 0  # better than the best, or a gap inside the displayed range
        return ahead


def _free(level: DepthLevel, used: dict[int, tuple[int, int]]) -> int:
    """The part of ``level`` we have not taken (a record with another size no longer counts)."""
    rec = used.get(level.price)
    if rec is None or rec[0] != level.qty:
        return level.qty
    free = level.qty - rec[1]
    return free if free > 0 else 0


def _surviving(
    used: dict[int, tuple[int, int]], levels: tuple[DepthLevel, ...]
) -> dict[int, tuple[int, int]]:
    """Keep the consumption records of levels that still show the size they had when taken."""
    if not used:
        return used
    return {
        level.price: used[level.price]
        for level in levels
        if level.price in used and used[level.price][0] == level.qty
    }
