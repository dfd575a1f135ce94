"""Outbound notifications: a webhook (POST JSON) and/or a Telegram bot. Off by default.

Nothing is sent unless ``[notify]`` in config.toml names a destination: ``webhook_url`` for a
webhook, ``telegram_chat_id`` (plus a bot token) for Telegram. Which notifications go out is
filtered by ``kinds`` and ``min_severity``.

The Telegram bot token is a secret: it comes from the environment (``COCKPIT_TELEGRAM_BOT_TOKEN``)
or the system keyring (service ``cockpit-telegram``, username ``bot_token``), never from the config
file (the section refuses unknown keys, so a ``telegram_bot_token`` key there is an error). It is
registered with :func:`engine.redaction.register_secret` and a redacting filter is put on the
``httpx``/``httpcore`` loggers (httpx logs every request URL, and Telegram's URL holds the token),
so it never reaches a log line. The webhook URL may hold a secret too (Slack and Discord put one in
the path): logs name only its scheme and host.

Sending never blocks the caller: :meth:`Notifier.notify` puts the notification on a bounded queue
(when full, the oldest waiting one is dropped and counted) and returns at once; one background
task sends them in order, each destination with a timeout and retries with exponential backoff on
network errors, timeouts, 429 and 5xx. A failure is logged (redacted) and counted; nothing raises
into the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cockpit.logging_setup import RedactingFilter
from engine.alerts import Notification, NotificationKind, Severity
from engine.redaction import redact, register_secret

__all__ = [
    "TELEGRAM_TOKEN_ENV",
    "Notifier",
    "NotifierStats",
    "NotifySection",
    "load_bot_token",
]

log = logging.getLogger(__name__)

TELEGRAM_TOKEN_ENV: Final = "COCKPIT_TELEGRAM_BOT_TOKEN"
"""Environment variable holding the Telegram bot token."""

KEYRING_SERVICE: Final = "cockpit-telegram"
"""Keyring service of the bot token (username ``bot_token``)."""

KEYRING_USERNAME: Final = "bot_token"

DEFAULT_TELEGRAM_API: Final = "https://api.telegram.org"

KeyringGetter = Callable[[str, str], "str | None"]
"""``get_password(service, username)`` as the keyring package offers it."""


class NotifySection(BaseModel):
    """``[notify]`` in config.toml. Everything off by default; no secrets here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: str | None = None
    telegram_chat_id: str | None = None
    telegram_api_url: str = DEFAULT_TELEGRAM_API
    kinds: tuple[NotificationKind, ...] = tuple(NotificationKind)
    min_severity: Severity = Severity.INFO
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0, le=60)
    queue_size: int = Field(default=100, ge=1, le=10_000)

    @field_validator("webhook_url", "telegram_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"must be an http:// or https:// URL such as https://example.com/hook (got a "
                f"{parts.scheme or 'scheme-less'} value)"
            )
        return value.strip()

    @field_validator("telegram_chat_id")
    @classmethod
    def _chat_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not text:
            return None
        body = text[1:] if text[0] in "-@" else text
        if not (body.isdigit() or (text[0] == "@" and body.replace("_", "").isalnum())):
            raise ValueError(
                "must be a numeric chat id such as 123456789 or -1001234567890, or a channel "
                "name such as @my_channel"
            )
        return text

    @property
    def active(self) -> bool:
        """True when at least one destination is configured."""
        return bool(self.webhook_url or self.telegram_chat_id)


def load_bot_token(
    env: Mapping[str, str] | None = None,
    *,
    use_keyring: bool = True,
    keyring_get: KeyringGetter | None = None,
) -> str | None:
    """The Telegram bot token from ``COCKPIT_TELEGRAM_BOT_TOKEN``, else the keyring; ``None``
    when neither has one. The value is registered as a secret before it is returned."""
    environ = os.environ if env is None else env
    token = environ.get(TELEGRAM_TOKEN_ENV, "").strip()
    if not token and use_keyring:
        getter = keyring_get if keyring_get is not None else _keyring_getter()
        if getter is not None:
            try:
                token = (getter(KEYRING_SERVICE, KEYRING_USERNAME) or "").strip()
            except Exception as exc:  # keyring backends raise many kinds of errors
                log.warning("keyring lookup of the Telegram bot token failed: %s",
                            type(exc).__name__)
                token = ""
    if not token:
        return None
    register_secret(token)
    return token


def _keyring_getter() -> KeyringGetter | None:
    try:
        module = importlib.import_module("keyring")
    except ImportError:
        return None
    getter = getattr(module, "get_password", None)
    return getter if callable(getter) else None


_redacting_filter = RedactingFilter()


def _guard_http_logs() -> None:
    """Redact httpx/httpcore log records (they carry request URLs). Idempotent."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_redacting_filter)


def _where(url: str) -> str:
    """Scheme and host of a URL: what logs may show of a destination."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


@dataclass(slots=True)
class NotifierStats:
    """Counters: queued, sent (per destination delivery), failed deliveries, dropped (queue
    full), filtered (kind or severity not wanted)."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    filtered: int = 0


class _Retryable(Exception):
    """Internal: a delivery attempt that may succeed if tried again."""


class Notifier:
    """Sends :class:`Notification` values to the configured webhook and/or Telegram chat.

    Call :meth:`start` on the running event loop, :meth:`notify` from that loop (or
    :meth:`notify_threadsafe` from another thread), and :meth:`close` at shutdown.
    ``bot_token`` overrides the environment/keyring lookup (:func:`load_bot_token`).
    """

    def __init__(
        self,
        config: NotifySection,
        *,
        bot_token: str | None = None,
        env: Mapping[str, str] | None = None,
        keyring_get: KeyringGetter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.stats = NotifierStats()
        token = bot_token.strip() if bot_token else None
        if token:
            register_secret(token)
        elif config.telegram_chat_id:
            token = load_bot_token(env, keyring_get=keyring_get)
        self.__token = token
        self._transport = transport
        self._queue: asyncio.Queue[Notification] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kinds = frozenset(config.kinds)
        if config.telegram_chat_id and not token:
            log.warning(
                "notify: telegram_chat_id is set but there is no bot token; set %s or store it "
                "in the keyring (service %r, username %r). Telegram is off.",
                TELEGRAM_TOKEN_ENV,
                KEYRING_SERVICE,
                KEYRING_USERNAME,
            )

    def __repr__(self) -> str:
        """Names the destinations, never the token or the webhook path."""
        parts = []
        if self.config.webhook_url:
            parts.append(f"webhook={_where(self.config.webhook_url)}")
        if self.telegram_enabled:
            parts.append(f"telegram={_where(self.config.telegram_api_url)}")
        return f"Notifier({', '.join(parts) or 'off'})"

    # -- state -----------------------------------------------------------------------------

    @property
    def telegram_enabled(self) -> bool:
        """True when a chat id and a bot token are both known."""
        return bool(self.config.telegram_chat_id and self.__token)

    @property
    def active(self) -> bool:
        """True when there is somewhere to send to."""
        return bool(self.config.webhook_url) or self.telegram_enabled

    @property
    def pending(self) -> int:
        """Notifications waiting to be sent."""
        return self._queue.qsize()

    def wants(self, notification: Notification) -> bool:
        """True when this notification passes the kind and severity filters."""
        return notification.kind in self._kinds and notification.severity.at_least(
            self.config.min_severity
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background sender on the running loop (no-op when off or started)."""
        if self._worker is not None or not self.active:
            return
        _guard_http_logs()
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout_s),
            transport=self._transport,
            follow_redirects=False,
        )
        self._worker = asyncio.create_task(self._run(), name="cockpit-notifier")

    async def close(self, drain_timeout_s: float = 2.0) -> None:
        """Send what is queued (waiting at most ``drain_timeout_s``), then stop."""
        worker = self._worker
        if worker is not None:
            if self.pending and drain_timeout_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.join(), drain_timeout_s)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self._worker = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until the queue is empty and the last notification is done; False on timeout."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            return False
        return True

    # -- sending ---------------------------------------------------------------------------

    def notify(self, notification: Notification) -> bool:
        """Queue a notification for sending; returns at once. False when it is not sent
        (off, filtered out). When the queue is full the oldest waiting one is dropped."""
        if not self.active:
            return False
        if not self.wants(notification):
            self.stats.filtered += 1
            return False
        if self._queue.qsize() >= self.config.queue_size:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self._queue.task_done()
                self.stats.dropped += 1
                log.warning(
                    "notify: queue full (%d); dropped the oldest waiting notification "
                    "(%d dropped so far)",
                    self.config.queue_size,
                    self.stats.dropped,
                )
        self._queue.put_nowait(notification)
        self.stats.queued += 1
        return True

    def notify_threadsafe(self, notification: Notification) -> None:
        """:meth:`notify` from a thread other than the event loop's (after :meth:`start`)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("Notifier.start() has not run; call notify() on the loop instead")
        loop.call_soon_threadsafe(self.notify, notification)

    async def _run(self) -> None:
        while True:
            notification = await self._queue.get()
            try:
                await self._deliver(notification)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not kill the sender
                log.error("notify: unexpected %s while sending: %s", type(exc).__name__,
                          redact(str(exc)))
            finally:
                self._queue.task_done()

    async def _deliver(self, notification: Notification) -> None:
        jobs = []
        if self.config.webhook_url:
            jobs.append(self._with_retries("webhook", self._post_webhook, notification))
        if self.telegram_enabled:
            jobs.append(self._with_retries("telegram", self._post_telegram, notification))
        await asyncio.gather(*jobs)

    async def _with_retries(
        self,
        channel: str,
        send: Callable[[Notification], Any],
        notification: Notification,
    ) -> None:
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                await send(notification)
            except _Retryable as exc:
                reason = redact(str(exc))
                if attempt < attempts:
                    delay = self.config.backoff_s * (2 ** (attempt - 1))
                    log.info("notify: %s attempt %d/%d failed (%s); retrying in %.2fs",
                             channel, attempt, attempts, reason, delay)
                    await asyncio.sleep(delay)
                    continue
                self.stats.failed += 1
                log.error("notify: %s gave up after %d attempts: %s (%s)",
                          channel, attempts, reason, notification.kind.value)
                return
            except _Refused as exc:
                self.stats.failed += 1
                log.error("notify: %s refused the notification: %s (%s)",
                          channel, redact(str(exc)), notification.kind.value)
                return
            self.stats.sent += 1
            return

    async def _post(self, channel: str, url: str, where: str, payload: dict[str, Any]) -> None:
        client = self._client
        assert client is not None, "start() creates the client"
        try:
            response = await client.post(url, json=payload)
        except httpx.TimeoutException:
            raise _Retryable(f"{where} timed out after {self.config.timeout_s}s") from None
        except httpx.HTTPError as exc:
            raise _Retryable(f"{where}: {type(exc).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"{where} answered HTTP {status}")
        if status >= 300:
            detail = redact(response.text[:200]).replace("\n", " ")
            raise _Refused(f"{where} answered HTTP {status}: {detail}")

    async def _post_webhook(self, notification: Notification) -> None:
        url = self.config.webhook_url
        assert url is not None
        payload = {"source": "cockpit", **notification.to_dict()}
        await self._post("webhook", url, f"webhook {_where(url)}", payload)

    async def _post_telegram(self, notification: Notification) -> None:
        token = self.__token
        assert token is not None and self.config.telegram_chat_id is not None
        base = self.config.telegram_api_url.rstrip("/")
        payload = {
            "chat_id": self.config.telegram_chat_id,
            "text": telegram_text(notification),
            "disable_web_page_preview": True,
        }
        where = f"telegram {_where(base)}"
        await self._post("telegram", f"{base}/bot{token}/sendMessage", where, payload)


class _Refused(Exception):
    """Internal: the destination refused the request (4xx other than 429); not retried."""


_SEVERITY_MARK = {Severity.INFO: "", Severity.WARNING: "[!] ", Severity.CRITICAL: "[!!!] "}


def telegram_text(notification: Notification) -> str:
    """Plain text of a Telegram message (no markup, so nothing needs escaping)."""
    mark = _SEVERITY_MARK[notification.severity]
    return f"{mark}{notification.title}\n{notification.body}"[:4096]
