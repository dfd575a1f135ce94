"""Sessions on Angel One: real trading (:class:`LiveSession`) and live data with paper fills
(:class:`LiveDataPaperSession`).

Both are :class:`~cockpit.session_base.TradingSession` subclasses (what the app reads is there);
they add ``subscribe``/``unsubscribe`` for the instruments the screen shows, and
:class:`LiveSession` has ``bracket_note`` for the bracket dialog and the broker-side GTT rules.

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

import hashlib
import hmac
import logging
import os
import secrets
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
from cockpit.paper_fills import PaperFills
from cockpit.paths import AppPaths
from cockpit.session_base import MarketClock, TradingSession
from engine.broker import Broker, BrokerError
from engine.bus import LagFrom, MarketBus
from engine.calendar import default_calendar
from engine.clock import Clock, SessionPhase, WallClock, ist_date
from engine.core import K_NOTE, TradingCore
from engine.fills import FillModelConfig
from engine.instruments import InstrumentIndex
from engine.journal_errors import JournalError
from engine.models import Instrument, MarketEvent, Product, Side
from engine.money import rupees_to_units
from engine.redaction import redact
from engine.risk_config import RiskConfig

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


class _AngelSession(TradingSession):
    """Login, master, feed -> bus -> core; subclasses add the broker."""

    watchlist_name = "angelone"

    def __init__(self, options: LiveSessionOptions) -> None:
        super().__init__(MarketBus(lag_from=LagFrom.EVENT_TS))
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
        self.rest = AngelRestClient(
            self.credentials, base_url=options.angelone.rest_url, **dict(options.rest_options)
        )
        self.index = InstrumentIndex([])
        self.by_token: Mapping[str, Instrument] = {}
        self.master: LoadedMaster | None = None
        self.watchlist: list[Instrument] = []

    @property
    def instruments(self) -> list[Instrument]:
        """The instruments streamed now (the watchlist and later subscriptions)."""
        return list(self.watchlist)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, load the master, subscribe the watchlist, start the core (see the module
        docs). Raises :class:`LiveSessionError` (after cleaning up) when something fails; a second
        call does nothing (after :meth:`stop` it raises: make a new session)."""
        if self._stopped:
            raise LiveSessionError(f"this {self.mode_text} session was stopped; start a new one")
        try:
            await super().start()
        except LiveSessionError:
            await self.stop()
            raise
        except (AngelError, BrokerError, JournalError, OSError) as exc:
            await self.stop()
            raise LiveSessionError(
                f"the {self.mode_text} session could not start: {redact(str(exc))}; "
                "`cockpit doctor` checks the Angel One setup step by step"
            ) from None
        log.info(
            "%s session started",
            self.mode_text,
            extra={"instruments": len(self.index), "watchlist": len(self.watchlist)},
        )

    async def _open(self) -> None:
        await self._login()
        await self._load_master()
        self._resolve_watchlist()
        await self._start_trading()

    async def _close(self) -> None:
        try:
            await self.rest.close()
        except Exception:
            log.exception("closing the Angel One REST client failed")

    async def _login(self) -> None:
        try:
            await self.rest.login()
        except AngelError as exc:
            raise LiveSessionError(
                f"Angel One login failed: {redact(str(exc)).rstrip('.')}. Check the credentials "
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
        """Hook: build the kind's broker and market data and start the core."""

    def _open_account(
        self, broker: Broker, account: str, journal_path: Path, cash: int
    ) -> TradingCore:
        """The account's journal and core over ``broker`` (started by the caller)."""
        return self._open_core(
            broker,
            account=account,
            journal_path=journal_path,
            cash=cash,
            instruments=self.by_token,
            clock=self.clock,
            risk=self.options.risk,
        )

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
        """Hook: the session's market data (None before it exists)."""
        return None

    def subscribe(self, tokens: Iterable[str] | str, mode: FeedMode | None = None) -> None:
        """Stream more instruments (the screen shows them); tokens streamed already are left
        as they are. Raises :class:`~brokers.angelone.feed.SubscriptionError` for a token not
        in the master."""
        market_data = self._market_data()
        wanted = [tokens] if isinstance(tokens, str) else list(tokens)
        known = {i.token for i in self.watchlist}
        new = [t for t in dict.fromkeys(wanted) if t not in known]
        if market_data is not None and (new or mode is not None):
            # An explicit mode re-subscribes every token asked for (in that mode).
            market_data.subscribe(wanted if mode is not None else new,
                                  mode or self.options.feed_mode)
        for token in new:
            instrument = self.index.by_token(token)
            if instrument is not None:
                self.watchlist.append(instrument)

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

    def _transport_state(self, seen_events: bool) -> str | None:
        """``DOWN`` while the feed reconnects before any quote came, ``STALE`` while quotes
        come from REST polling."""
        market_data = self._market_data()
        if market_data is None:
            return None
        if not seen_events:
            return "DOWN" if market_data.status is FeedStatus.RECONNECTING else None
        return "STALE" if market_data.stale_tokens else None


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
        core = self._open_account(broker, self.account_id, self.journal_path, cash)
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
        self.fills: PaperFills | None = None

    @property
    def broker(self) -> PaperLiveBroker | None:
        """The paper broker filling against the live quotes (None before :meth:`start`)."""
        return self.fills.broker if self.fills is not None else None

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
        fills = PaperFills(
            self.by_token,
            clock=self.clock,
            phase=self._phase,
            config=self.options.fill,
            seed=self.options.seed,
        )
        self.fills = fills
        cash = rupees_to_units(self.options.starting_cash)
        core = self._open_account(fills.broker, PAPER_LIVE_ACCOUNT, self.journal_path, cash)
        await core.start()
        await market_data.start()
        self._spawn(fills.watch_close(), "paper-live-close")

    def _before_core(self, batch: list[MarketEvent]) -> None:
        if self.fills is not None:
            self.fills.on_events(batch)

    def check_close(self) -> bool:
        """Expire working paper orders if the market left continuous trading since the last
        check; True when it did."""
        return self.fills.check_close() if self.fills is not None else False

    async def _close_feed(self) -> None:
        if self.market_data is not None:
            await self.market_data.stop()
