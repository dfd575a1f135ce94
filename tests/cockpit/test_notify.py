"""Outbound notifications against a real HTTP server on 127.0.0.1: webhook JSON, Telegram path
and body, retries with backoff, timeouts, refusals, the bounded queue, and the bot token kept out
of every log line and repr."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from cockpit.notify import (
    KEYRING_SERVICE,
    KEYRING_USERNAME,
    TELEGRAM_TOKEN_ENV,
    Notifier,
    NotifySection,
    load_bot_token,
    telegram_text,
)
from engine.alerts import Notification, NotificationKind, Severity
from engine.redaction import redact

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
T0 = 1_700_000_000_000_000_000


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.statuses: list[int] = []  # answered in order; 200 once used up
        self.delay_s = 0.0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.seen.append((self.path, body))
            status = self.server.statuses.pop(0) if self.server.statuses else 200
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        payload = json.dumps({"ok": status == 200, "description": "test"}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        return


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def note(
    title: str = "Filled",
    kind: NotificationKind = NotificationKind.FILL,
    severity: Severity = Severity.INFO,
) -> Notification:
    return Notification(kind, title, "BUY 10 SBIN @ 812.50", T0, severity)


def section(**fields: Any) -> NotifySection:
    fields.setdefault("backoff_s", 0.01)
    fields.setdefault("timeout_s", 2.0)
    return NotifySection(**fields)


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------- config


def test_off_by_default_and_no_secret_keys_in_config() -> None:
    config = NotifySection()
    assert not config.active
    assert config.telegram_api_url == "https://api.telegram.org"
    assert set(config.kinds) == set(NotificationKind)
    assert config.min_severity is Severity.INFO
    with pytest.raises(ValidationError, match="telegram_bot_token"):
        NotifySection(telegram_bot_token=TOKEN)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="http:// or https:// URL"):
        NotifySection(webhook_url="ftp://example.com/hook")
    with pytest.raises(ValidationError, match="http:// or https:// URL"):
        NotifySection(telegram_api_url="api.telegram.org")
    with pytest.raises(ValidationError, match="numeric chat id"):
        NotifySection(telegram_chat_id="my chat")
    assert NotifySection(telegram_chat_id="-1001234567890").telegram_chat_id == "-1001234567890"
    assert NotifySection(telegram_chat_id="@my_channel").telegram_chat_id == "@my_channel"
    assert NotifySection(telegram_chat_id="  ").telegram_chat_id is None
    loaded = NotifySection.model_validate(
        {"webhook_url": "https://example.com/h", "kinds": ["alert", "kill_switch"],
         "min_severity": "warning"}
    )
    assert loaded.kinds == (NotificationKind.ALERT, NotificationKind.KILL_SWITCH)
    assert loaded.min_severity is Severity.WARNING and loaded.active
    with pytest.raises(ValidationError):
        NotifySection.model_validate({"kinds": ["nope"]})


async def test_off_notifier_sends_nothing_and_never_raises(server: _Server) -> None:
    notifier = Notifier(NotifySection())
    assert not notifier.active
    await notifier.start()
    assert notifier.notify(note()) is False
    await notifier.close()
    assert server.seen == []
    assert repr(notifier) == "Notifier(off)"


def test_bot_token_from_env_or_keyring() -> None:
    assert load_bot_token({TELEGRAM_TOKEN_ENV: f"  {TOKEN} "}, use_keyring=False) == TOKEN
    assert redact(f"url /bot{TOKEN}/x") == "url /bot***/x"
    asked: list[tuple[str, str]] = []

    def getter(service: str, user: str) -> str | None:
        asked.append((service, user))
        return TOKEN

    assert load_bot_token({}, keyring_get=getter) == TOKEN
    assert asked == [(KEYRING_SERVICE, KEYRING_USERNAME)]
    assert load_bot_token({}, keyring_get=lambda s, u: None) is None
    assert load_bot_token({}, use_keyring=False) is None


def test_keyring_failure_is_logged_without_detail(caplog: pytest.LogCaptureFixture) -> None:
    def broken(service: str, user: str) -> str | None:
        raise RuntimeError(f"backend exploded with {TOKEN}")

    with caplog.at_level(logging.DEBUG):
        assert load_bot_token({}, keyring_get=broken) is None
    assert "keyring lookup of the Telegram bot token failed: RuntimeError" in caplog.text
    assert TOKEN not in all_log_text(caplog)


def test_chat_id_without_token_disables_telegram(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        notifier = Notifier(
            section(telegram_chat_id="12345"), env={}, keyring_get=lambda s, u: None
        )
    assert not notifier.telegram_enabled and not notifier.active
    assert "telegram_chat_id is set but there is no bot token" in caplog.text
    assert TELEGRAM_TOKEN_ENV in caplog.text


# ------------------------------------------------------------------------------- delivery


async def test_webhook_receives_the_json(server: _Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hook = f"{server.url}/hooks/T000/B000/XXXXsecretpath"
    notifier = Notifier(section(webhook_url=hook))
    assert notifier.active and not notifier.telegram_enabled
    await notifier.start()
    message = note("Order filled", severity=Severity.WARNING)
    assert notifier.notify(message) is True
    assert await notifier.drain(5)
    await notifier.close()
    assert server.seen == [
        (
            "/hooks/T000/B000/XXXXsecretpath",
            {
                "source": "cockpit",
                "kind": "fill",
                "title": "Order filled",
                "body": "BUY 10 SBIN @ 812.50",
                "ts": T0,
                "severity": "warning",
            },
        )
    ]
    assert notifier.stats.sent == 1 and notifier.stats.failed == 0
    assert repr(notifier) == "Notifier(webhook=http://127.0.0.1)"


async def test_telegram_gets_chat_id_text_and_token_in_path(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = Notifier(
        section(telegram_chat_id="12345", telegram_api_url=server.url + "/"),
        env={TELEGRAM_TOKEN_ENV: TOKEN},
    )
    assert notifier.telegram_enabled
    await notifier.start()
    alert = note("Alert: SBIN above 820.00", NotificationKind.ALERT, Severity.WARNING)
    notifier.notify(alert)
    assert await notifier.drain(5)
    await notifier.close()
    [(path, body)] = server.seen
    assert path == f"/bot{TOKEN}/sendMessage"
    assert body == {
        "chat_id": "12345",
        "text": "[!] Alert: SBIN above 820.00\nBUY 10 SBIN @ 812.50",
        "disable_web_page_preview": True,
    }
    assert body["text"] == telegram_text(alert)
    # httpx logged the request; the token in its URL was masked
    http_lines = [r.getMessage() for r in caplog.records if r.name.startswith("httpx")]
    assert any("/bot***/sendMessage" in line for line in http_lines), http_lines
    assert TOKEN not in all_log_text(caplog)
    assert TOKEN not in repr(notifier) and TOKEN not in str(vars(notifier.config))


async def test_both_destinations_and_kind_and_severity_filters(server: _Server) -> None:
    notifier = Notifier(
        section(
            webhook_url=server.url + "/hook",
            telegram_chat_id="42",
            telegram_api_url=server.url,
            kinds=(NotificationKind.ALERT, NotificationKind.KILL_SWITCH),
            min_severity=Severity.WARNING,
        ),
        bot_token=TOKEN,
    )
    await notifier.start()
    assert notifier.notify(note("fill", NotificationKind.FILL, Severity.CRITICAL)) is False
    assert notifier.notify(note("quiet", NotificationKind.ALERT, Severity.INFO)) is False
    assert notifier.notify(note("kill", NotificationKind.KILL_SWITCH, Severity.CRITICAL)) is True
    assert await notifier.drain(5)
    await notifier.close()
    assert sorted(path for path, _ in server.seen) == ["/bot" + TOKEN + "/sendMessage", "/hook"]
    assert notifier.stats.filtered == 2 and notifier.stats.sent == 2


async def test_server_errors_are_retried_with_backoff_then_delivered(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.statuses = [500, 503, 200]
    notifier = Notifier(section(webhook_url=server.url + "/h", retries=3))
    await notifier.start()
    notifier.notify(note())
    assert await notifier.drain(5)
    await notifier.close()
    assert len(server.seen) == 3
    assert notifier.stats.sent == 1 and notifier.stats.failed == 0
    assert "webhook attempt 1/4 failed (webhook http://127.0.0.1 answered HTTP 500)" in caplog.text
    assert "attempt 2/4 failed" in caplog.text


async def test_telegram_failure_gives_up_logged_and_redacted(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.statuses = [500] * 10
    notifier = Notifier(
        section(telegram_chat_id="12345", telegram_api_url=server.url, retries=2),
        bot_token=TOKEN,
    )
    await notifier.start()
    notifier.notify(note())
    assert await notifier.drain(5)
    await notifier.close()
    assert len(server.seen) == 3
    assert notifier.stats.failed == 1 and notifier.stats.sent == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "notify: telegram gave up after 3 attempts: telegram http://127.0.0.1 answered HTTP 500 "
        "(fill)"
    ]
    assert TOKEN not in all_log_text(caplog)


async def test_timeouts_are_retried_then_logged(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.delay_s = 0.5
    notifier = Notifier(
        section(
            telegram_chat_id="12345", telegram_api_url=server.url, retries=1, timeout_s=0.1
        ),
        bot_token=TOKEN,
    )
    await notifier.start()
    started = time.monotonic()
    assert notifier.notify(note()) is True
    assert time.monotonic() - started < 0.05  # the caller never waits for the network
    assert await notifier.drain(5)
    await notifier.close()
    assert len(server.seen) == 2
    assert notifier.stats.failed == 1
    assert "telegram http://127.0.0.1 timed out after 0.1s" in caplog.text
    assert TOKEN not in all_log_text(caplog)


async def test_connection_refused_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = Notifier(section(webhook_url=f"http://127.0.0.1:{port}/h", retries=1))
    await notifier.start()
    notifier.notify(note())
    assert await notifier.drain(5)
    await notifier.close()
    assert notifier.stats.failed == 1
    assert "webhook gave up after 2 attempts: webhook http://127.0.0.1: ConnectError" in caplog.text


async def test_client_errors_are_not_retried(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.statuses = [400]
    notifier = Notifier(
        section(telegram_chat_id="12345", telegram_api_url=server.url, retries=3),
        bot_token=TOKEN,
    )
    await notifier.start()
    notifier.notify(note())
    assert await notifier.drain(5)
    await notifier.close()
    assert len(server.seen) == 1
    assert notifier.stats.failed == 1
    assert "telegram refused the notification: telegram http://127.0.0.1 answered HTTP 400" in (
        caplog.text
    )
    assert TOKEN not in all_log_text(caplog)


async def test_bounded_queue_drops_the_oldest(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(section(webhook_url=server.url + "/h", queue_size=2))
    await notifier.start()
    for i in range(5):  # no await in between: the sender has not run yet
        assert notifier.notify(note(f"t{i}")) is True
    assert notifier.pending == 2
    assert notifier.stats.dropped == 3 and notifier.stats.queued == 5
    assert await notifier.drain(5)
    await notifier.close()
    assert [body["title"] for _, body in server.seen] == ["t3", "t4"]
    assert "queue full (2); dropped the oldest waiting notification" in caplog.text


async def test_notify_before_start_is_sent_after_start_and_close_drains(server: _Server) -> None:
    notifier = Notifier(section(webhook_url=server.url + "/h"))
    notifier.notify(note("early"))
    await notifier.start()
    notifier.notify(note("late"))
    await notifier.close(drain_timeout_s=5)
    assert [body["title"] for _, body in server.seen] == ["early", "late"]


async def test_notify_threadsafe(server: _Server) -> None:
    notifier = Notifier(section(webhook_url=server.url + "/h"))
    with pytest.raises(RuntimeError, match="start"):
        notifier.notify_threadsafe(note())
    await notifier.start()
    thread = threading.Thread(target=notifier.notify_threadsafe, args=(note("from thread"),))
    thread.start()
    thread.join()
    await asyncio.sleep(0.01)
    assert await notifier.drain(5)
    await notifier.close()
    assert [body["title"] for _, body in server.seen] == ["from thread"]


def test_telegram_text_marks_severity_and_fits_the_limit() -> None:
    assert telegram_text(note("x")) == "x\nBUY 10 SBIN @ 812.50"
    assert telegram_text(note("x", severity=Severity.CRITICAL)).startswith("[!!!] x")
    long = Notification(NotificationKind.RISK, "t", "b" * 5000, T0)
    assert len(telegram_text(long)) == 4096
