"""Sessions on Angel One: real trading (:class:`LiveSession`) and live data with paper fills
(:class:`LiveDataPaperSession`).

Both have the public surface of :class:`cockpit.session.PaperSession` that the app reads
(``instruments``, ``index``, ``instrument``, ``core``/``trading``, ``start``/``stop``,
``take_dirty``, ``latest``, ``ltp``, ``take_new_trades``, ``tape``, ``take_core_events``,
``take_alerts``, ``add_events``, ``bars``, ``alerts``, ``status``, ``is_live``, and ``market`` with
``now_ns``/``phase``/``label``), plus ``subscribe``/``unsubscribe`` for the instruments the screen
shows and ``bracket_note`` for the order ticket.

What a session does on :meth:`start` (it is idempotent, so the CLI may start it before the app
and the app's own ``start`` call then does nothing):

1. logs in to Angel One (credentials were loaded when the session was made: environment
   variables ``COCKPIT_ANGEL_*`` or the system keyring filled by ``cockpit login``);
2. loads the instrument master from the user cache dir, downloading it from ``[angelone]
   master_url`` at most once per IST day (:class:`~brokers.angelone.master.MasterCache`);
3. subscribes the watchlist instruments on the live feed (SnapQuote: LTP, OHLC, volume, best-5
   depth); every quote goes into the :class:`~engine.bus.MarketBus`, from which the core's consumer
   feeds the core (and, with paper fills, the fill model) and the UI reads the conflated view;
4. opens the account's journal and starts the :class:`~engine.core.TradingCore` over the broker.

Every failure the user can fix raises :class:`LiveSessionError` with a sentence that says what
failed and what to do, and never contains a secret (credentials and session tokens are registered
with :mod:`engine.redaction` the moment they are loaded and are masked in every message and log).

:class:`LiveSession` (``cockpit``) trades the real account through
:class:`~brokers.angelone.broker.AngelOneBroker`; its journal is ``journal-angel-<id>.sqlite`` where
``<id>`` is a keyed hash of the client code (:func:`live_account_id`), never the code itself.
Protection in live mode:

* GTT rules are placed **at Angel One** (:meth:`LiveSession.create_broker_gtt`), so they survive
  the cockpit closing. The TUI's GTT dialog calls it when ``session.is_live``; the core's own GTT
  engine (``core.create_gtt``) is for paper sessions;
* brackets are the core's own (entry, then stop-loss and target managed by the cockpit): their
  exits are protected only while the cockpit runs, which :attr:`LiveSession.bracket_note` says for
  the ticket to show.

:class:`LiveDataPaperSession` (``cockpit --paper --feed angelone``) streams the same live market
(it still logs in: the feed needs a session) but fills orders with
:class:`~brokers.paper_live.PaperLiveBroker` against the live quotes, in the paper account
``journal-paper-live.sqlite``. Its status bar says ``LIVE DATA / PAPER FILLS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from brokers.angelone.auth import (
    ENV_VARS,
    KEYRING_SERVICE,
    AngelCredentials,
    KeyringGetter,
)
from brokers.angelone.broker import AngelOneBroker
from brokers.angelone.errors import AngelCredentialsError, AngelError
from brokers.angelone.feed import FeedMode, FeedStatus, WsCredentials
from brokers.angelone.market import AngelMarketData
from brokers.angelone.master import LoadedMaster, MasterCache, MasterDownloadError
from brokers.angelone.rest import AngelRestClient
from brokers.angelone.wire import GttRequest, GttRule, GttStatus
from brokers.paper_live import PaperLiveBroker
from cockpit.config import AngelOneSection, CockpitConfig
from cockpit.doctor import MASTER_SUBDIR, master_fetcher, resolve_symbols
from cockpit.paths import AppPaths
from engine.alerts import AlertBook, AlertFired
from engine.bars import BarAggregator
from engine.broker import BrokerError
from engine.bus import LagFrom, MarketBus
from engine.calendar import default_calendar
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import Clock, SessionPhase, WallClock, ist_date, to_ist
from engine.core import K_NOTE, CoreEvent, TradingCore
from engine.fills import FillModelConfig
from engine.instruments import InstrumentIndex
from engine.journal import Journal
from engine.journal_errors import JournalError
from engine.kill_switch import KillSwitchState
from engine.models import Exchange, Instrument, MarketEvent, Product, Quote, Side, TradePrint
from engine.money import rupees_to_units
from engine.portfolio import Portfolio
from engine.redaction import redact
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from widgets.status_bar import StatusBarInfo

__all__ = [
    "LIVE_BRACKET_NOTE",
    "LIVE_DATA_PAPER_MODE",
    "LIVE_MODE",
    "PAPER_LIVE_ACCOUNT",
    "LiveDataPaperSession",
    "LiveSession",
    "LiveSessionError",
    "LiveSessionOptions",
    "MarketClock",
    "live_account_id",
]

log = logging.getLogger("cockpit.live_session")

LIVE_MODE = "LIVE"
"""Status-bar mode of a real Angel One session."""

LIVE_DATA_PAPER_MODE = "LIVE DATA / PAPER FILLS"
"""Status-bar mode of ``cockpit --paper --feed angelone``."""

PAPER_LIVE_ACCOUNT = "paper-live"
"""Account (and journal name) of the paper account filled against the live feed."""

LIVE_BRACKET_NOTE = (
    "Live brackets are managed by the cockpit: the stop-loss and target exits are protected only "
    "while the cockpit runs. For protection that survives closing it, use a GTT rule (placed at "
    "Angel One)."
)
"""What the order ticket says about brackets in a live session."""

ACCOUNT_KEY_FILE = "account-id.key"
"""File in the user data dir holding the random key that hashes client codes into account ids."""

STALE_AFTER_S = 3.0
"""The feed shows STALE when nothing arrived for this long while the market is open."""


class LiveSessionError(RuntimeError):
    """The session cannot start; the message says what failed and what to do (no secret)."""


# ---------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True, slots=True)
class LiveSessionOptions:
    """What shapes an Angel One session (from config, the command line, and tests).

    ``paths``: where the journal and the master cache go. ``angelone``: the four URLs.
    ``watchlist``: instruments to stream from the start (tokens, ``EXCHANGE:SYMBOL`` or symbols).
    ``env`` / ``use_keyring`` / ``keyring_get``: where credentials are read (default the process
    environment, then the system keyring). ``feed_mode``: the subscription mode (SnapQuote gives
    best-5 depth, which the depth ladder and the paper fills need). ``market_phase``: ``calendar``
    (the real NSE calendar decides the phase) or ``always_open`` (tests; evenings with paper fills).
    ``journal_path`` overrides the account's journal file. ``rest_options``, ``broker_options``
    and ``market_data_options`` go to :class:`AngelRestClient`, :class:`AngelOneBroker` and
    :class:`AngelMarketData` (tests: fast rate limits and reconnects). Paper fills only:
    ``starting_cash`` (rupees), ``fill`` (the fill model) and ``seed`` (its slippage RNG).
    """

    paths: AppPaths
    angelone: AngelOneSection = field(default_factory=AngelOneSection)
    watchlist: tuple[str, ...] = ()
    risk: RiskConfig | None = None
    env: Mapping[str, str] | None = None
    use_keyring: bool = True
    keyring_get: KeyringGetter | None = None
    feed_mode: FeedMode = FeedMode.SNAP_QUOTE
    market_phase: Literal["calendar", "always_open"] = "calendar"
    journal_path: Path | None = None
    master_day: date | None = None
    rest_options: Mapping[str, Any] = field(default_factory=dict)
    broker_options: Mapping[str, Any] = field(default_factory=dict)
    market_data_options: Mapping[str, Any] = field(default_factory=dict)
    starting_cash: Decimal = Decimal("1000000")
    fill: FillModelConfig | None = None
    seed: int | None = None

    @classmethod
    def from_config(
        cls, config: CockpitConfig, paths: AppPaths, **overrides: Any
    ) -> LiveSessionOptions:
        """Options from the user's config: URLs, risk limits, the paper starting cash, and every
        configured watchlist's symbols (in order, without repeats) as the instruments to stream."""
        symbols: dict[str, None] = {}
        for entries in config.watchlists.values():
            symbols.update(dict.fromkeys(entries))
        settings: dict[str, Any] = {
            "paths": paths,
            "angelone": config.angelone,
            "watchlist": tuple(symbols),
            "risk": config.risk,
            "starting_cash": config.paper.starting_cash,
            "seed": config.paper.seed,
        }
        settings.update(overrides)
        return cls(**settings)


def load_credentials(options: LiveSessionOptions) -> AngelCredentials:
    """The Angel One credentials, or :class:`LiveSessionError` naming what is missing."""
    try:
        return AngelCredentials.load(
            options.env, use_keyring=options.use_keyring, keyring_get=options.keyring_get
        )
    except AngelCredentialsError as exc:
        raise LiveSessionError(
            f"{redact(str(exc))}. Set the environment variables {', '.join(ENV_VARS.values())}, "
            f"or run `cockpit login` to keep them in the system keyring (service "
            f"{KEYRING_SERVICE!r}); `cockpit doctor` checks the setup."
        ) from None


def live_account_id(client_code: str, data_dir: Path) -> str:
    """The account id of an Angel One client code: ``angel-`` + 16 hex digits of an HMAC-SHA256
    keyed with a random key kept in ``data_dir`` (created on first use, readable only by the
    user). Journal file names and journal records carry this id, never the client code, and a
    plain hash would be easy to reverse for a short client code."""
    key_file = data_dir / ACCOUNT_KEY_FILE
    try:
        key = key_file.read_bytes()
    except FileNotFoundError:
        key = b""
    except OSError as exc:
        raise LiveSessionError(f"cannot read {key_file}: {exc.strerror}") from None
    if len(key) < 32:
        key = secrets.token_bytes(32)
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
        except OSError as exc:
            raise LiveSessionError(
                f"cannot write {key_file} (the key that names the account's journal): "
                f"{exc.strerror}; check the permissions of {data_dir}"
            ) from None
    digest = hmac.new(key, client_code.strip().upper().encode(), hashlib.sha256).hexdigest()
    return f"angel-{digest[:16]}"


# ---------------------------------------------------------------------------------------------
# Small parts


class MarketClock:
    """What the screens read as ``session.market``: the time, the NSE phase and a label."""

    def __init__(self, clock: Clock, phase: Callable[[], SessionPhase], label: str) -> None:
        self.clock = clock
        self._phase = phase
        self.label = label

    @property
    def now_ns(self) -> int:
        """Wall-clock time now (ns since the epoch)."""
        return self.clock.now_ns()

    @property
    def phase(self) -> SessionPhase:
        """The session phase now."""
        return self._phase()


class _TokenMap(Mapping[str, Instrument]):
    """The instrument index as a token -> instrument mapping (what brokers and the core take)."""

    def __init__(self, index: InstrumentIndex) -> None:
        self._index = index

    def __getitem__(self, token: str) -> Instrument:
        found = self._index.by_token(token)
        if found is None:
            raise KeyError(token)
        return found

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and token in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(inst.token for inst in self._index))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _always_open() -> SessionPhase:
    return SessionPhase.CONTINUOUS


# ---------------------------------------------------------------------------------------------
# The shared session


class _AngelSession:
    """Login, master, feed -> bus -> core, and what the UI drains; subclasses add the broker."""

    is_live = False
    mode_text = ""
    bracket_note = ""
    """What the order ticket says about where bracket exits are protected ("" = nothing)."""

    def __init__(self, options: LiveSessionOptions) -> None:
        self.options = options
        self.credentials = load_credentials(options)
        self.clock: Clock = WallClock()
        calendar = default_calendar()
        clock = self.clock
        self._phase: Callable[[], SessionPhase] = (
            _always_open
            if options.market_phase == "always_open"
            else (lambda: calendar.phase_at(clock.now_ns()))
        )
        self.market = MarketClock(
            self.clock,
            self._phase,
            "NSE (always open)" if options.market_phase == "always_open" else "NSE",
        )
        self.bus = MarketBus(lag_from=LagFrom.EVENT_TS)
        self._core_queue = self.bus.subscribe("core", maxsize=100_000)
        self.rest = AngelRestClient(
            self.credentials, base_url=options.angelone.rest_url, **dict(options.rest_options)
        )
        self.index = InstrumentIndex([])
        self.by_token: Mapping[str, Instrument] = {}
        self.master: LoadedMaster | None = None
        self.watchlist: list[Instrument] = []
        self.problems: list[str] = []
        """What did not work but did not stop the session (unknown watchlist symbols, an old
        master): the app shows these at start."""
        self.journal: Journal | None = None
        self.core: TradingCore | None = None
        self.bars = BarAggregator()
        self.alerts = AlertBook()
        self._fired: deque[AlertFired] = deque(maxlen=1000)
        self._core_events: deque[CoreEvent] = deque(maxlen=10_000)
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False
        self._rate_window: tuple[float, int] = (time.monotonic(), 0)
        self._ticks_per_s = 0.0
        self._last_event_s: float | None = None
        self.events_seen = 0
        """Market events the core has been fed."""

    # -- what the app reads -------------------------------------------------------------------

    @property
    def instruments(self) -> list[Instrument]:
        """The instruments streamed now (the watchlist and later subscriptions)."""
        return list(self.watchlist)

    @property
    def trading(self) -> TradingCore:
        """The core; raises before :meth:`start`."""
        if self.core is None:
            raise RuntimeError("the session has no trading core yet: start it first")
        return self.core

    def instrument(self, token: str) -> Instrument | None:
        """An instrument of the master by token."""
        return self.index.by_token(token)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, load the master, subscribe the watchlist, start the core (see the module
        docs). Raises :class:`LiveSessionError` (after cleaning up) when something fails; a second
        call does nothing (after :meth:`stop` it raises: make a new session)."""
        if self._stopped:
            raise LiveSessionError(
                f"this {self.mode_text} session was stopped; start a new one"
            )
        if self._started:
            return
        self._started = True
        try:
            await self._login()
            await self._load_master()
            self._resolve_watchlist()
            await self._start_trading()
        except LiveSessionError:
            await self.stop()
            raise
        except (AngelError, BrokerError, JournalError, OSError) as exc:
            await self.stop()
            raise LiveSessionError(
                f"the {self.mode_text} session could not start: {redact(str(exc))}; "
                "`cockpit doctor` checks the Angel One setup step by step"
            ) from None
        self.bus.attach_loop(asyncio.get_running_loop())
        self._tasks.append(asyncio.create_task(self._feed_core(), name="session-core-feed"))
        log.info(
            "%s session started",
            self.mode_text,
            extra={"instruments": len(self.index), "watchlist": len(self.watchlist)},
        )

    async def _login(self) -> None:
        try:
            await self.rest.login()
        except AngelError as exc:
            raise LiveSessionError(
                f"Angel One login failed: {redact(str(exc))}. Check the credentials "
                f"({', '.join(ENV_VARS.values())}, or `cockpit login`) and the REST URL "
                f"{self.options.angelone.rest_url}; `cockpit doctor` explains each failure."
            ) from None

    async def _load_master(self) -> None:
        directory = self.options.paths.cache_dir / MASTER_SUBDIR
        day = self.options.master_day or ist_date(self.clock.now_ns())
        url = self.options.angelone.master_url
        try:
            loaded = await MasterCache(directory).load_or_download(master_fetcher(url), day)
        except MasterDownloadError as exc:
            raise LiveSessionError(
                f"{exc}. Check [angelone] master_url in config.toml or COCKPIT_ANGEL_MASTER_URL "
                f"(now {url}) and the network."
            ) from None
        if loaded.stale:
            self.problems.append(
                f"today's instrument master could not be downloaded ({loaded.download_error}); "
                f"using the one of {loaded.day.isoformat()}"
            )
        self.master = loaded
        self.index = loaded.index
        self.by_token = _TokenMap(loaded.index)

    def _resolve_watchlist(self) -> None:
        targets, problems = resolve_symbols(self.options.watchlist, self.index)
        self.problems.extend(f"watchlist: {p}" for p in problems)
        self.watchlist = [t.instrument for t in targets if t.instrument is not None]

    async def _start_trading(self) -> None:
        raise LiveSessionError("a session kind must say how it trades")  # overridden

    def _open_core(self, broker: Any, account: str, journal_path: Path, cash: int) -> TradingCore:
        """Open the journal and build the core (started by the caller)."""
        self.journal = Journal.open(journal_path)
        risk = PreTradeRisk(self.options.risk or RiskConfig(), self.clock)
        self.core = TradingCore(
            broker=broker,
            journal=self.journal,
            instruments=self.by_token,
            risk=risk,
            portfolio=Portfolio(cash),
            charges=ChargesModel(ANGEL_ONE),
            clock=self.clock,
            account=account,
            phase_of=self._phase_of,
        )
        self._unsubscribe = self.core.subscribe(self._core_events.append)
        return self.core

    def _phase_of(self, exchange: Exchange) -> SessionPhase:
        return self._phase()

    async def _ws_credentials(self) -> WsCredentials:
        """What the websockets log in with (the REST session's tokens)."""
        session = await self.rest.auth.ensure_session()
        creds = self.credentials
        return WsCredentials(session.jwt_token, session.feed_token, creds.api_key,
                             creds.client_code)

    def _wire_market_data(self, market_data: AngelMarketData) -> None:
        market_data.publish = self.bus.publish
        market_data.on_stale = self._on_stale
        market_data.on_gap = self._on_gap
        tokens = [i.token for i in self.watchlist]
        if tokens:
            market_data.subscribe(tokens, self.options.feed_mode)

    def _market_data(self) -> AngelMarketData | None:
        return None

    def subscribe(self, tokens: Iterable[str] | str, mode: FeedMode | None = None) -> None:
        """Stream more instruments (the screen shows them); raises
        :class:`~brokers.angelone.feed.SubscriptionError` for a token not in the master."""
        market_data = self._market_data()
        wanted = [tokens] if isinstance(tokens, str) else list(tokens)
        if market_data is not None:
            market_data.subscribe(wanted, mode or self.options.feed_mode)
        known = {i.token for i in self.watchlist}
        for token in wanted:
            instrument = self.index.by_token(token)
            if instrument is not None and token not in known:
                self.watchlist.append(instrument)
                known.add(token)

    def unsubscribe(self, tokens: Iterable[str] | str) -> None:
        """Stop streaming instruments the screen no longer shows."""
        gone = {tokens} if isinstance(tokens, str) else set(tokens)
        market_data = self._market_data()
        if market_data is not None:
            market_data.unsubscribe(list(gone))
        self.watchlist = [i for i in self.watchlist if i.token not in gone]

    def _on_stale(self, tokens: frozenset[str]) -> None:
        if tokens:
            log.warning("live feed down: %d instruments on polled REST quotes", len(tokens))

    def _on_gap(self, down_since_ns: int, up_at_ns: int, tokens: tuple[str, ...]) -> None:
        log.warning(
            "live feed was down %.1f s; %d instruments resubscribed",
            (up_at_ns - down_since_ns) / 1e9,
            len(tokens),
        )

    async def _feed_core(self) -> None:
        while True:
            batch = await self._core_queue.get_batch(4096)
            if not batch:
                return
            self._process(batch)

    def _process(self, batch: list[MarketEvent]) -> None:
        self._count(len(batch))
        self.bars.on_events(batch)
        self._before_core(batch)
        quotes = [e for e in batch if isinstance(e, Quote)]
        if self.core is not None:
            self.core.on_quotes(quotes)
        watched = self.alerts.tokens()
        if watched:
            for quote in quotes:
                if quote.token in watched:
                    self._fired.extend(
                        self.alerts.on_quote(quote.token, quote.ltp, quote.close, quote.ts)
                    )

    def _before_core(self, batch: list[MarketEvent]) -> None:
        """Hook: what sees every event before the core (the paper fill model)."""

    def _count(self, n: int) -> None:
        self.events_seen += n
        start, count = self._rate_window
        count += n
        now = time.monotonic()
        self._last_event_s = now
        if now - start >= 1.0:
            self._ticks_per_s = count / (now - start)
            self._rate_window = (now, 0)
        else:
            self._rate_window = (start, count)

    async def stop(self) -> None:
        """Stop the feed, the core (journal flushed), the broker (logged out) and the HTTP
        client; safe to call twice and after a failed start."""
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._stop_market_data()
        self.bus.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.core is not None:
            try:
                await self.core.stop()
            except Exception:
                log.exception("stopping the core failed")
        if self.journal is not None:
            self.journal.close()
        try:
            await self.rest.close()
        except Exception:
            log.exception("closing the Angel One REST client failed")
        log.info("%s session stopped", self.mode_text, extra={"events": self.events_seen})

    async def _stop_market_data(self) -> None:
        """Hook: stop a market-data feed the session owns itself."""

    # -- what the UI drains each frame --------------------------------------------------------

    def take_dirty(self) -> dict[str, Quote]:
        """Latest quote of every instrument that changed since the last call (for the UI)."""
        return self.bus.ui_view.take_dirty()

    def latest(self, token: str) -> Quote | None:
        """The latest quote of one instrument the UI has seen (or None)."""
        return self.bus.ui_view.latest(token)

    def ltp(self, token: str) -> int:
        """Last traded price of one instrument in price units (0 before the first quote)."""
        quote = self.bus.ui_view.latest(token)
        return quote.ltp if quote is not None else 0

    def take_new_trades(self) -> dict[str, list[TradePrint]]:
        """Trade prints not yet shown, per token, oldest first (the Angel feed sends none)."""
        return self.bus.ui_view.take_new_trades()

    def tape(self, token: str) -> list[TradePrint]:
        """The recent trade prints of one instrument, oldest first."""
        return self.bus.ui_view.tape(token)

    def take_core_events(self) -> list[CoreEvent]:
        """Durable core events since the last call, oldest first."""
        events = list(self._core_events)
        self._core_events.clear()
        return events

    def take_alerts(self) -> list[AlertFired]:
        """Price alerts fired since the last call, oldest first."""
        fired = list(self._fired)
        self._fired.clear()
        return fired

    def add_events(self, events: Iterable[CoreEvent]) -> None:
        """Queue events for the UI as if the core had announced them."""
        self._core_events.extend(events)

    # -- status -------------------------------------------------------------------------------

    def feed_state(self) -> str:
        """``WAITING`` before the first quote, ``DOWN`` while the feed reconnects and nothing
        comes, ``STALE`` while quotes come from REST polling or none came for a while in an open
        market, ``CLOSED`` outside the session, else ``LIVE``."""
        market_data = self._market_data()
        if self._last_event_s is None:
            if market_data is not None and market_data.status is FeedStatus.RECONNECTING:
                return "DOWN"
            return "WAITING"
        if market_data is not None and market_data.stale_tokens:
            return "STALE"
        if self._phase() is SessionPhase.CLOSED:
            return "CLOSED"
        if time.monotonic() - self._last_event_s > STALE_AFTER_S:
            return "STALE"
        return "LIVE"

    def status(self) -> StatusBarInfo:
        """Figures for the status bar."""
        stats = self.bus.stats()
        lag = stats.consumer("core").lag.p99_ns / 1e6 if "core" in stats.delivered else 0.0
        core = self.core
        day_pnl = margin = open_orders = 0
        risk_pct: float | None = None
        kill = KillSwitchState.ARMED.value
        if core is not None:
            usage = core.risk_usage()
            day_pnl = int(usage["day_pnl"])
            margin = int(usage["margin_used"])
            used = usage.get("daily_loss_used_pct")
            risk_pct = None if used is None else float(used)
            kill = str(usage["kill_switch"])
            open_orders = int(usage["open_orders"])
        now = self.clock.now_ns()
        return StatusBarInfo(
            mode=self.mode_text,
            feed=self.feed_state(),
            ticks_per_s=self._ticks_per_s,
            lag_ms=lag,
            day_pnl=day_pnl,
            margin_used=margin,
            risk_used_pct=risk_pct,
            kill_switch=kill,
            clock=to_ist(now).strftime("%H:%M:%S"),
            phase=self._phase().value,
            session_label=self.market.label,
            open_orders=open_orders,
        )


# ---------------------------------------------------------------------------------------------
# Real trading


class LiveSession(_AngelSession):
    """``cockpit``: a real Angel One account (see the module docs)."""

    is_live = True
    mode_text = LIVE_MODE
    bracket_note = LIVE_BRACKET_NOTE

    def __init__(self, options: LiveSessionOptions) -> None:
        super().__init__(options)
        self.account_id = live_account_id(self.credentials.client_code, options.paths.data_dir)
        """The account's id in file names and journal records (never the client code)."""
        self.broker: AngelOneBroker | None = None

    @property
    def journal_path(self) -> Path:
        """The account's journal file."""
        return self.options.journal_path or self.options.paths.journal_file(self.account_id)

    def _market_data(self) -> AngelMarketData | None:
        return self.broker.market_data if self.broker is not None else None

    async def _start_trading(self) -> None:
        angel = self.options.angelone
        broker = AngelOneBroker(
            self.rest,
            order_stream_url=angel.order_feed_url,
            feed_url=angel.feed_url,
            instruments=self.by_token,
            clock=self.clock,
            api_key=self.credentials.api_key,
            market_data_options=self.options.market_data_options,
            **dict(self.options.broker_options),
        )
        self.broker = broker
        self._wire_market_data(broker.market_data)
        cash = await self._available_cash()
        core = self._open_core(broker, self.account_id, self.journal_path, cash)
        broker.set_order_lookup(core.oms.get)
        await core.start()

    async def _available_cash(self) -> int:
        """Cash to start the account with: Angel's available cash (RMS), in paise."""
        try:
            funds = await self.rest.funds()
        except AngelError as exc:
            self.problems.append(f"funds could not be read from Angel One ({exc}); showing 0")
            return 0
        cash = funds.available_cash if funds.available_cash is not None else funds.net
        return cash or 0

    # -- GTT rules at the broker --------------------------------------------------------------

    async def create_broker_gtt(
        self,
        token: str,
        side: Side,
        qty: int,
        price: int,
        trigger_price: int,
        *,
        product: Product = Product.CNC,
        disclosed_qty: int = 0,
        time_period_days: int = 365,
        oco_stoploss_price: int | None = None,
        oco_stoploss_trigger: int | None = None,
    ) -> str:
        """Place a GTT rule **at Angel One** (it survives the cockpit closing); returns its id.

        When the LTP crosses ``trigger_price`` Angel places a LIMIT order at ``price``;
        ``oco_stoploss_*`` (both or neither) add a stop-loss leg (OCO). Angel takes GTT rules on
        NSE/BSE delivery (CNC) only. Prices are in price units (paise). The rule is journaled as
        a note. The TUI's GTT dialog calls this when ``session.is_live``. Raises
        :class:`ValueError` for an unknown instrument or a blocked kill switch, and
        :class:`~brokers.angelone.errors.AngelError` (e.g. :class:`WireError` for a rule Angel
        does not take) with Angel's reason.
        """
        core = self.trading
        blocked = core.kill_switch.blocks(False)
        if blocked is not None:
            raise ValueError(f"GTT rule not placed: {blocked}")
        instrument = self.by_token.get(token)
        if instrument is None:
            raise ValueError(f"unknown instrument token {token!r}; pick one from search")
        request = GttRequest(
            instrument=instrument,
            side=side,
            qty=qty,
            price=price,
            trigger_price=trigger_price,
            product=product,
            disclosed_qty=disclosed_qty,
            time_period_days=time_period_days,
            oco_stoploss_price=oco_stoploss_price,
            oco_stoploss_trigger=oco_stoploss_trigger,
        )
        rule_id = await self.rest.gtt_create(request)
        await self._note(
            "broker GTT created",
            rule_id=rule_id,
            token=token,
            side=side.value,
            qty=qty,
            price=price,
            trigger_price=trigger_price,
            product=product.value,
            oco_stoploss_price=oco_stoploss_price,
            oco_stoploss_trigger=oco_stoploss_trigger,
        )
        return rule_id

    async def cancel_broker_gtt(self, rule_id: str, token: str) -> str:
        """Cancel a GTT rule at Angel One (``token`` is its instrument); returns its id."""
        instrument = self.by_token.get(token)
        if instrument is None:
            raise ValueError(f"unknown instrument token {token!r}")
        cancelled = await self.rest.gtt_cancel(rule_id, instrument)
        await self._note("broker GTT cancelled", rule_id=rule_id, token=token)
        return cancelled

    async def broker_gtts(
        self, statuses: Sequence[GttStatus] = (GttStatus.NEW, GttStatus.ACTIVE), count: int = 100
    ) -> list[GttRule]:
        """The account's GTT rules at Angel One (first page of ``count``)."""
        return await self.rest.gtt_list(statuses, page=1, count=count)

    async def _note(self, what: str, **data: Any) -> None:
        core = self.trading
        await core.journal.append(K_NOTE, {"what": what, **data}, account=core.account)


# ---------------------------------------------------------------------------------------------
# Live data, paper fills


class LiveDataPaperSession(_AngelSession):
    """``cockpit --paper --feed angelone``: the live Angel One market, paper fills."""

    is_live = False
    mode_text = LIVE_DATA_PAPER_MODE
    bracket_note = ""

    def __init__(self, options: LiveSessionOptions) -> None:
        super().__init__(options)
        self.market_data: AngelMarketData | None = None
        self.broker: PaperLiveBroker | None = None
        self._last_phase: SessionPhase | None = None

    @property
    def journal_path(self) -> Path:
        """The paper-live account's journal file."""
        return self.options.journal_path or self.options.paths.journal_file(PAPER_LIVE_ACCOUNT)

    def _market_data(self) -> AngelMarketData | None:
        return self.market_data

    async def _start_trading(self) -> None:
        angel = self.options.angelone
        market_data = AngelMarketData(
            self.rest,
            feed_url=angel.feed_url,
            instruments=self.by_token,
            tokens_provider=self._ws_credentials,
            clock=self.clock,
            **dict(self.options.market_data_options),
        )
        self.market_data = market_data
        self._wire_market_data(market_data)
        broker = PaperLiveBroker(
            self.by_token,
            clock=self.clock,
            config=self.options.fill,
            rng=random.Random(self.options.seed),
            phase=self._phase,
        )
        self.broker = broker
        cash = rupees_to_units(self.options.starting_cash)
        core = self._open_core(broker, PAPER_LIVE_ACCOUNT, self.journal_path, cash)
        await core.start()
        await market_data.start()
        self._last_phase = self._phase()
        self._tasks.append(asyncio.create_task(self._watch_close(), name="paper-live-close"))

    def _before_core(self, batch: list[MarketEvent]) -> None:
        broker = self.broker
        if broker is None:
            return
        for event in batch:
            broker.on_event(event)

    async def _watch_close(self) -> None:
        """Expire the day's paper orders when continuous trading ends."""
        while True:
            await asyncio.sleep(1.0)
            self.check_close()

    def check_close(self) -> bool:
        """Expire working paper orders if the market left continuous trading since the last
        check; True when it did."""
        phase = self._phase()
        was, self._last_phase = self._last_phase, phase
        if was is SessionPhase.CONTINUOUS and phase is not SessionPhase.CONTINUOUS:
            if self.broker is not None:
                self.broker.expire_day_orders()
            return True
        return False

    async def _stop_market_data(self) -> None:
        if self.market_data is not None:
            await self.market_data.stop()
