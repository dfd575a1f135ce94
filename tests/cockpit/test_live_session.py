"""LiveSession and LiveDataPaperSession end to end against the fake Angel One servers (REST with
the instrument master, market feed and order-update websockets) on 127.0.0.1."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from brokers.angelone.auth import ENV_VARS
from brokers.angelone.feed import ConnectionSlots
from brokers.angelone.ratelimit import DEFAULT_LIMITS, RateLimit
from cockpit.config import AngelOneSection
from cockpit.live_session import (
    LIVE_BRACKET_NOTE,
    LiveDataPaperSession,
    LiveSession,
    LiveSessionError,
    LiveSessionOptions,
    live_account_id,
)
from cockpit.logging_setup import setup_logging
from cockpit.paths import AppPaths
from engine.intent import OrderIntent
from engine.models import OrderStatus, OrderType, Product, Quote, Side
from engine.redaction import forget_secrets
from tests.brokers.fake_angel import (
    FAST_SERVER_LIMITS,
    FakeAccount,
    FakeAngelServer,
    FakeAngelState,
)
from tests.brokers.fake_angel_ws import FakeAngelWs, wait_until

FAST_LIMITS = {group: RateLimit(per_second=50) for group in DEFAULT_LIMITS}


@pytest.fixture(autouse=True)
def _cleanup() -> Iterator[None]:
    """Master loads end with gc.freeze(); credentials register process-wide secrets."""
    yield
    gc.unfreeze()
    forget_secrets()


def socket_options(name: str) -> dict[str, Any]:
    """Fast heartbeats and reconnects, and connection slots of the test's own."""
    return {
        "heartbeat_s": 0.2,
        "pong_timeout_s": 1.0,
        "base_backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "close_timeout_s": 0.5,
        "slots": ConnectionSlots(name),
    }


@dataclass
class Fakes:
    """The running fakes, the account, and session options pointing at them."""

    server: FakeAngelServer
    ws: FakeAngelWs
    account: FakeAccount
    paths: AppPaths
    env: dict[str, str]

    def options(self, **overrides: Any) -> LiveSessionOptions:
        settings: dict[str, Any] = {
            "paths": self.paths,
            "angelone": AngelOneSection(
                rest_url=self.server.base_url,
                feed_url=self.ws.feed_url,
                order_feed_url=self.ws.order_url,
                master_url=self.server.master_url,
            ),
            "watchlist": ("SBIN", "NSE:RELIANCE-EQ", "NSE:NOSUCH"),
            "env": self.env,
            "use_keyring": False,
            "market_phase": "always_open",
            "rest_options": {
                "limits": FAST_LIMITS,
                "timeout": 2.0,
                "local_ip": "10.1.2.3",
                "mac": "02:00:5e:00:00:01",
            },
            "broker_options": {
                "reconcile_every_s": 60.0,
                "down_reconcile_s": 60.0,
                "fill_retry_s": 0.05,
                "stream_options": socket_options("test order stream"),
                "feed_options": socket_options("test feed"),
            },
        }
        settings.update(overrides)
        return LiveSessionOptions(**settings)

    def secrets(self) -> list[str]:
        state = self.server.state
        return [
            self.account.api_key,
            self.account.client_code,
            self.account.totp_secret,
            *state.jwts,
            *state.refresh_tokens,
            *state.feed_tokens,
        ]


@asynccontextmanager
async def fakes(tmp_path: Path) -> AsyncIterator[Fakes]:
    account = FakeAccount(
        client_code="ZQ7731",
        pin="9517",
        api_key="kq8ZxPrivKey77",
        totp_secret=pyotp.random_base32(),
    )
    state = FakeAngelState([account])
    async with (
        FakeAngelServer(state, limits_per_second=FAST_SERVER_LIMITS) as server,
        FakeAngelWs(state=state, tick_interval_s=0.02) as ws,
    ):
        env = {
            ENV_VARS["api_key"]: account.api_key,
            ENV_VARS["client_code"]: account.client_code,
            ENV_VARS["pin"]: account.pin,
            ENV_VARS["totp_secret"]: account.totp_secret,
        }
        root = tmp_path / "home"
        paths = AppPaths(root / "config", root / "data", root / "logs", root / "cache")
        yield Fakes(server, ws, account, paths, env)


async def collect_dirty(session: LiveSession | LiveDataPaperSession, token: str) -> Quote:
    """Drain ``take_dirty`` as the frame timer does until ``token`` shows up."""
    seen: dict[str, Quote] = {}

    def drained() -> bool:
        seen.update(session.take_dirty())
        return token in seen

    await wait_until(drained, what=f"a quote of {token} in take_dirty()")
    return seen[token]


def assert_no_secret(text: str, secrets: list[str], *, pin: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret leaked: {secret[:3]}..."
    assert not re.search(rf"(?<!\d){pin}(?!\d)", text), "the PIN leaked"


async def test_live_session_trades_the_account_end_to_end(tmp_path: Path) -> None:
    log_file = tmp_path / "cockpit.log"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = setup_logging(log_file, "DEBUG")
    try:
        async with fakes(tmp_path) as f:
            session = LiveSession(f.options())
            assert session.is_live and session.bracket_note == LIVE_BRACKET_NOTE
            try:
                await session.start()
                await session.start()  # idempotent: the app calls it again
                # Login, and the master downloaded once from the fake's master URL.
                assert len(f.server.calls("login")) == 1
                assert len(f.server.calls("master")) == 1
                assert session.index.by_token("3045") is not None
                assert [i.token for i in session.instruments] == ["3045", "2885"]
                assert any("NOSUCH" in p for p in session.problems)
                # The journal is named by a keyed hash, never the client code.
                name = session.journal_path.name
                assert re.fullmatch(r"journal-angel-[0-9a-f]{16}\.sqlite", name), name
                assert session.account_id == live_account_id("ZQ7731", f.paths.data_dir)
                assert session.journal_path.exists()

                # Quotes from the live feed reach the UI's conflated view.
                sbin = await collect_dirty(session, "3045")
                assert sbin.ltp > 100_000 and sbin.asks and sbin.bids
                assert session.status().mode == "LIVE"
                await wait_until(lambda: session.status().feed == "LIVE", what="feed LIVE")

                # An order through the core reaches the fake broker; its fill comes back on the
                # order stream and lands in the core's positions.
                core = session.trading
                result = await core.submit(
                    OrderIntent(token="3045", side=Side.BUY, qty=3, order_type=OrderType.MARKET,
                                product=Product.MIS)
                )  # fmt: skip
                assert result.accepted, result.message
                (call,) = f.server.calls("place_order")
                assert call.body["ordertag"] == result.client_order_id
                assert call.body["symboltoken"] == "3045"

                def position_qty() -> int:
                    return sum(p.net_qty for p in core.positions() if p.token == "3045")

                await wait_until(lambda: position_qty() == 3, what="the fill in the positions")
                broker = session.broker
                assert broker is not None and broker.stats().stream_updates >= 1
                order = core.order(str(result.client_order_id))
                assert order is not None and order.status is OrderStatus.FILLED
                assert order.avg_fill_price == 81250  # the fake fills SBIN at 812.50
                (fill,) = core.trades()
                assert (fill.qty, fill.price) == (3, 81250)
                await core.settle()
                kinds = [e.kind for e in session.take_core_events()]
                assert "fill" in kinds

                # A GTT rule goes to Angel One (it survives the cockpit closing).
                rule_id = await session.create_broker_gtt(
                    "3045", Side.SELL, 3, price=85000, trigger_price=84950
                )
                assert [str(k) for k in f.server.state.gtt_rules] == [rule_id]
                rules = await session.broker_gtts()
                assert [r.rule_id for r in rules] == [rule_id]
                with pytest.raises(ValueError, match="unknown instrument"):
                    await session.create_broker_gtt("424242", Side.SELL, 1, 100, 100)
            finally:
                await session.stop()
                await session.stop()  # safe twice
            assert f.server.calls("logout")
            journal = session.journal_path.read_bytes()
            assert b"ZQ7731" not in journal
            secrets = f.secrets()
    finally:
        handler.flush()
        root.removeHandler(handler)
        handler.close()
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])
    logged = log_file.read_text(encoding="utf-8")
    assert "LIVE session started" in logged
    assert_no_secret(logged, secrets, pin="9517")


async def test_live_data_paper_fills_against_the_live_feed(tmp_path: Path) -> None:
    async with fakes(tmp_path) as f:
        options = f.options(
            market_data_options={"feed_options": socket_options("test paper feed")},
            seed=3,
        )
        session = LiveDataPaperSession(options)
        assert not session.is_live and session.bracket_note == ""
        try:
            await session.start()
            assert session.journal_path.name == "journal-paper-live.sqlite"
            status = session.status()
            assert status.mode == "LIVE DATA / PAPER FILLS"
            await collect_dirty(session, "3045")
            broker = session.broker
            assert broker is not None
            await wait_until(
                lambda: (m := broker.fill_model.market("3045")) is not None and m.has_depth,
                what="depth in the fill model",
            )
            core = session.trading

            # The screen streams more instruments, and fewer.
            session.subscribe("99926000")
            assert [i.token for i in session.instruments] == ["3045", "2885", "99926000"]
            await collect_dirty(session, "99926000")
            session.unsubscribe("2885")
            assert [i.token for i in session.instruments] == ["3045", "99926000"]
            await wait_until(
                lambda: all(key[2] != "2885" for key in f.ws.open_feeds()[0].subscriptions),
                what="2885 unsubscribed at the feed",
            )

            # A marketable buy takes the best ask of the live depth.
            market = broker.fill_model.market("3045")
            assert market is not None
            limit = (market.ltp // 5 + 20) * 5  # a rupee above the LTP: marketable
            bought = await core.submit(
                OrderIntent(token="3045", side=Side.BUY, qty=10, price=limit, product=Product.MIS)
            )
            assert bought.accepted, bought.message
            order = core.order(str(bought.client_order_id))
            assert order is not None and order.status is OrderStatus.FILLED
            (fill,) = core.trades()
            assert fill.qty == 10 and fill.price <= limit
            # The fake's best ask is 5 paise above its LTP (1000.00 + the tick's sequence).
            assert (fill.price - 5 - 100_000) >= 1
            assert str(order.venue_order_id).startswith("P")
            assert not f.server.calls("place_order")  # nothing went to the broker

            # A resting sell above the market fills at its own price once trades cross it.
            last = market.ltp
            target = (last // 5 + 4) * 5  # 15..20 paise above: the LTP climbs 1 paise a tick
            sold = await core.submit(
                OrderIntent(token="3045", side=Side.SELL, qty=10, price=target,
                            product=Product.MIS)
            )  # fmt: skip
            assert sold.accepted, sold.message
            resting = core.order(str(sold.client_order_id))
            assert resting is not None and resting.status is OrderStatus.ACCEPTED
            assert resting.filled_qty == 0

            def sold_out() -> bool:
                done = core.order(str(sold.client_order_id))
                return done is not None and done.status is OrderStatus.FILLED

            await wait_until(sold_out, timeout_s=10.0, what="the resting sell to fill")
            sells = [t for t in core.trades() if t.side is Side.SELL]
            assert {t.price for t in sells} == {target}  # at its own price, as the maker
            assert sum(t.qty for t in sells) == 10
            assert sum(p.net_qty for p in core.positions()) == 0
            await core.settle()
            trades = len(core.trades())
        finally:
            await session.stop()
        assert f.server.calls("logout")

        # A second session the same day loads the cached master: no new download.
        again = LiveDataPaperSession(
            f.options(market_data_options={"feed_options": socket_options("test feed 2")})
        )
        try:
            await again.start()
            assert len(f.server.calls("master")) == 1
            assert len(again.trading.trades()) == trades  # rebuilt from the paper-live journal
        finally:
            await again.stop()


def test_missing_credentials_name_the_variables_and_cockpit_login(tmp_path: Path) -> None:
    paths = AppPaths(tmp_path / "c", tmp_path / "d", tmp_path / "l", tmp_path / "k")
    env = {ENV_VARS["api_key"]: "kq8ZxPrivKey77"}
    for kind in (LiveSession, LiveDataPaperSession):
        with pytest.raises(LiveSessionError) as failure:
            kind(LiveSessionOptions(paths=paths, env=env, use_keyring=False))
        message = str(failure.value)
        for name in ("COCKPIT_ANGEL_CLIENT_CODE", "COCKPIT_ANGEL_PIN", "COCKPIT_ANGEL_TOTP_SECRET"):
            assert name in message
        assert "cockpit login" in message
        assert "kq8ZxPrivKey77" not in message


async def test_a_refused_login_is_a_clear_error_and_leaves_nothing_running(tmp_path: Path) -> None:
    async with fakes(tmp_path) as f:
        f.env[ENV_VARS["pin"]] = "1111"
        session = LiveSession(f.options())
        with pytest.raises(LiveSessionError) as failure:
            await session.start()
        message = str(failure.value)
        assert message.startswith("Angel One login failed")
        assert "cockpit doctor" in message
        assert_no_secret(message, f.secrets(), pin="1111")
        assert session.core is None and not f.ws.open_feeds() and not f.ws.open_orders()
        assert not f.server.calls("master")
        await session.stop()  # after a failed start: still safe


async def test_an_unreachable_master_is_a_clear_error(tmp_path: Path) -> None:
    async with fakes(tmp_path) as f:
        options = f.options(
            angelone=AngelOneSection(
                rest_url=f.server.base_url,
                feed_url=f.ws.feed_url,
                order_feed_url=f.ws.order_url,
                master_url=f"{f.server.base_url}/no/such/master.json",
            )
        )
        session = LiveDataPaperSession(options)
        with pytest.raises(LiveSessionError, match="COCKPIT_ANGEL_MASTER_URL"):
            await session.start()
        assert f.server.calls("logout")  # logged out again on the way out
