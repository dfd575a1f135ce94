"""Live market data from Angel One: the SmartWebSocketV2 feed, with REST quotes while it is down.

:class:`AngelMarketData` owns an :class:`~brokers.angelone.feed.AngelMarketFeed` and hands every
decoded :class:`~engine.models.Quote` to ``publish`` (the app passes ``MarketBus.publish``). It
keeps its own subscription table (token -> mode), so a restarted feed gets the same subscriptions.

When the feed has not been LIVE for ``fallback_after_s`` (startup or an outage), the subscribed
tokens are polled with REST quotes (``market/v1/quote``, 50 tokens a request, through the REST
client's rate limiter, so never faster than Angel allows) every ``poll_interval_s`` and published
too. Those quotes may be seconds old, so the tokens they are for are **stale**:
:attr:`AngelMarketData.stale_tokens` lists them and ``on_stale(tokens)`` hears every change of the
set. A token leaves the set with its first tick from the live feed. A polled quote carries our
receive time in ``ts`` and Angel's ``exchFeedTime`` in ``exchange_ts`` (``seq`` 0).

After an outage the feed resubscribes and ``on_gap(down_since_ns, up_at_ns, tokens)`` runs: the
app backfills bars of those tokens from historical candles for the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from brokers.angelone.decoder import EXCHANGE_TYPES, FeedDecoder
from brokers.angelone.errors import AngelError
from brokers.angelone.feed import (
    AngelMarketFeed,
    FeedMode,
    FeedState,
    FeedStats,
    FeedStatus,
    SubscriptionError,
    TokensProvider,
)
from brokers.angelone.rest import AngelRestClient
from brokers.angelone.wire import QuoteMode
from engine.clock import Clock
from engine.models import Exchange, Instrument, Quote

__all__ = ["AngelMarketData", "MarketDataStats"]

log = logging.getLogger(__name__)

_EXCHANGE_TYPE_OF: Final[Mapping[Exchange, int]] = {
    exchange: code for code, exchange in EXCHANGE_TYPES.items()
}

StaleHandler = Callable[[frozenset[str]], None]
GapHandler = Callable[[int, int, tuple[str, ...]], None]


@dataclass(frozen=True, slots=True)
class MarketDataStats:
    """Counters of the facade; ``feed`` is the feed's own (``None`` before the first start)."""

    polls: int
    polled_quotes: int
    poll_failures: int
    unfetched: int
    publish_errors: int
    stale: int
    feed: FeedStats | None


class AngelMarketData:
    """Angel One market data for the app: subscribe by token, quotes to ``publish``.

    ``rest`` serves the fallback quotes; ``tokens_provider`` gives the websocket credentials (the
    broker passes its own). ``instruments`` maps tokens to instruments (the exchange picks the
    feed's exchange type). ``publish``, ``on_stale``, ``on_gap`` and ``on_state`` (every
    :class:`~brokers.angelone.feed.FeedState`) may also be assigned before :meth:`start`.
    ``feed_options`` go to :class:`~brokers.angelone.feed.AngelMarketFeed` (heartbeat, backoff,
    slots...).
    """

    def __init__(
        self,
        rest: AngelRestClient,
        *,
        feed_url: str,
        instruments: Mapping[str, Instrument],
        tokens_provider: TokensProvider,
        clock: Clock,
        publish: Callable[[Quote], None] | None = None,
        on_stale: StaleHandler | None = None,
        on_gap: GapHandler | None = None,
        on_state: Callable[[FeedState], None] | None = None,
        fallback_after_s: float = 3.0,
        poll_interval_s: float = 1.0,
        quote_mode: QuoteMode = QuoteMode.FULL,
        feed_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not fallback_after_s >= 0:
            raise ValueError(f"fallback_after_s must be >= 0 seconds, got {fallback_after_s}")
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be positive seconds, got {poll_interval_s}")
        if not feed_url.startswith(("ws://", "wss://")):
            raise ValueError(f"feed_url must start with ws:// or wss://, got {feed_url!r}")
        self._rest = rest
        self._feed_url = feed_url
        self._instruments = instruments
        self._tokens_provider = tokens_provider
        self._clock = clock
        self.publish = publish
        self.on_stale = on_stale
        self.on_gap = on_gap
        self.on_state = on_state
        self._fallback_after_s = fallback_after_s
        self._poll_interval_s = poll_interval_s
        self._quote_mode = quote_mode
        self._feed_options = dict(feed_options or {})
        self._modes: dict[str, FeedMode] = {}
        self._stale: set[str] = set()
        self._feed: AngelMarketFeed | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._polls = 0
        self._polled_quotes = 0
        self._poll_failures = 0
        self._unfetched = 0
        self._publish_errors = 0

    # ---- subscriptions ----------------------------------------------------------------------

    def subscribe(self, tokens: Iterable[str] | str, mode: FeedMode = FeedMode.QUOTE) -> None:
        """Stream ``tokens`` in ``mode`` (LTP, QUOTE, SNAP_QUOTE or DEPTH_20). Raises
        :class:`~brokers.angelone.feed.SubscriptionError` for a token that is not in the
        instrument master or an exchange the feed does not carry (nothing changes then)."""
        wanted = [tokens] if isinstance(tokens, str) else list(tokens)
        by_type: dict[int, list[str]] = {}
        for token in wanted:
            by_type.setdefault(self._exchange_type(token), []).append(token)
        if self._feed is not None:
            for exchange_type, group in by_type.items():
                self._feed.subscribe(exchange_type, group, mode)
        for token in wanted:
            self._modes[token] = FeedMode(mode)

    def unsubscribe(self, tokens: Iterable[str] | str) -> None:
        """Stop streaming ``tokens`` (unknown ones are ignored)."""
        gone = [t for t in ([tokens] if isinstance(tokens, str) else tokens) if t in self._modes]
        for token in gone:
            del self._modes[token]
            if self._feed is not None:
                self._feed.unsubscribe(self._exchange_type(token), token)
        if self._stale.intersection(gone):
            self._set_stale(self._stale.difference(gone))

    def subscriptions(self) -> dict[str, FeedMode]:
        """Subscribed tokens and their modes."""
        return dict(self._modes)

    def _exchange_type(self, token: str) -> int:
        instrument = self._instruments.get(token)
        if instrument is None:
            raise SubscriptionError(
                f"token {token!r} is not in the instrument master; subscribe a token listed "
                "there (e.g. '3045' for SBIN-EQ)"
            )
        code = _EXCHANGE_TYPE_OF.get(instrument.exchange)
        if code is None:
            raise SubscriptionError(
                f"{instrument.symbol} trades on {instrument.exchange}, which the Angel One feed "
                "does not carry"
            )
        return code

    # ---- state ------------------------------------------------------------------------------

    @property
    def stale_tokens(self) -> frozenset[str]:
        """Tokens whose latest published quote came from REST polling, not the live feed."""
        return frozenset(self._stale)

    def is_stale(self, token: str) -> bool:
        """True when ``token``'s latest quote came from REST polling."""
        return token in self._stale

    @property
    def status(self) -> FeedStatus:
        """The feed's status (STOPPED when not started)."""
        return self._feed.status if self._feed is not None else FeedStatus.STOPPED

    def state(self) -> FeedState | None:
        """The feed's state snapshot (``None`` before the first start)."""
        return self._feed.state() if self._feed is not None else None

    def stats(self) -> MarketDataStats:
        """The facade's counters and the feed's."""
        return MarketDataStats(
            polls=self._polls,
            polled_quotes=self._polled_quotes,
            poll_failures=self._poll_failures,
            unfetched=self._unfetched,
            publish_errors=self._publish_errors,
            stale=len(self._stale),
            feed=self._feed.stats() if self._feed is not None else None,
        )

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._feed_task is not None

    async def start(self) -> None:
        """Connect the feed (a new one each start, subscribed from the table) and the fallback
        poller. Returns at once; the feed connects in the background."""
        if self._feed_task is not None:
            return
        feed = AngelMarketFeed(
            self._feed_url,
            self._tokens_provider,
            FeedDecoder(clock=self._clock),
            on_quote=self._on_quote,
            on_state=self._on_feed_state,
            on_gap=self._on_feed_gap,
            clock=self._clock,
            **self._feed_options,
        )
        by_mode: dict[tuple[int, FeedMode], list[str]] = {}
        for token, mode in self._modes.items():
            by_mode.setdefault((self._exchange_type(token), mode), []).append(token)
        for (exchange_type, mode), tokens in by_mode.items():
            feed.subscribe(exchange_type, tokens, mode)
        self._feed = feed
        self._live.clear()
        self._down.set()
        self._feed_task = asyncio.create_task(feed.run(), name="angel-market-feed")
        self._poll_task = asyncio.create_task(self._poll_loop(), name="angel-quote-poller")

    async def stop(self) -> None:
        """Stop the poller and the feed; safe to call twice."""
        poll, self._poll_task = self._poll_task, None
        if poll is not None:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
        task, self._feed_task = self._feed_task, None
        if task is not None and self._feed is not None:
            await self._feed.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if not task.cancelled() and task.exception() is not None:
                log.error("the Angel One market feed ended with %r", task.exception())
        self._live.clear()
        self._down.set()

    # ---- feed callbacks ---------------------------------------------------------------------

    def _publish(self, quote: Quote) -> None:
        publish = self.publish
        if publish is None:
            return
        try:
            publish(quote)
        except Exception:
            self._publish_errors += 1
            log.exception("publishing an Angel One quote failed")

    def _on_quote(self, quote: Quote) -> None:
        if self._stale and quote.token in self._stale:
            self._set_stale(self._stale - {quote.token})
        self._publish(quote)

    def _on_feed_state(self, state: FeedState) -> None:
        if state.status is FeedStatus.LIVE:
            self._down.clear()
            self._live.set()
        else:
            self._live.clear()
            self._down.set()
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("the market-data on_state callback failed")

    def _on_feed_gap(self, down_since_ns: int, up_at_ns: int, subscriptions: object) -> None:
        if self.on_gap is None:
            return
        tokens = tuple(self._modes)
        try:
            self.on_gap(down_since_ns, up_at_ns, tokens)
        except Exception:
            log.exception("the market-data on_gap callback failed")

    def _set_stale(self, tokens: set[str]) -> None:
        if tokens == self._stale:
            return
        self._stale = set(tokens)
        if self.on_stale is not None:
            try:
                self.on_stale(frozenset(tokens))
            except Exception:
                log.exception("the market-data on_stale callback failed")

    # ---- REST fallback ----------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        """While the feed is not LIVE (after ``fallback_after_s``), poll REST quotes."""
        while True:
            if self._live.is_set():
                await self._down.wait()
                continue
            if await self._wait_live(self._fallback_after_s):
                continue
            log.info("Angel One market feed is down; polling REST quotes (marked stale)")
            while not self._live.is_set():
                await self._poll_once()
                if await self._wait_live(self._poll_interval_s):
                    break

    async def _wait_live(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the feed to be LIVE; True if it is."""
        try:
            async with asyncio.timeout(seconds):  # not wait_for: it can swallow a cancel on 3.11
                await self._live.wait()
        except TimeoutError:
            return False
        return True

    async def _poll_once(self) -> None:
        tokens = [t for t in self._modes if t in self._instruments]
        if not tokens:
            return
        self._set_stale(self._stale | set(tokens))
        self._polls += 1
        try:
            result = await self._rest.quotes(
                [self._instruments[t] for t in tokens], self._quote_mode
            )
        except AngelError as exc:
            self._poll_failures += 1
            log.warning("REST quotes while the feed is down failed: %s", exc)
            return
        self._unfetched += len(result.unfetched)
        now = self._clock.now_ns()
        for fetched in result.fetched:
            quote = fetched.quote
            if quote.token not in self._modes or self._live.is_set():
                continue
            self._polled_quotes += 1
            self._publish(dataclasses.replace(quote, ts=now))
