"""``config.toml``: the user's settings, validated, with errors that name the key and the line.

The file lives in the user config dir (:mod:`cockpit.paths`). Every key is optional; a missing file
means all defaults. Environment variables ``COCKPIT_<SECTION>__<KEY>`` override the file (for
example ``COCKPIT_PAPER__SEED=7``). Secrets never live here: credentials come from environment
variables or the system keyring.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cockpit.notify import NotifySection
from engine.redaction import is_secret_key
from engine.risk_config import RiskConfig
from keymaps.loader import flatten_bindings_table


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, key, line and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSection(_Section):
    """Look and feel."""

    theme: str = "cockpit-dark"
    keymap: str = "default"
    bell: bool = False
    frame_hz: float = Field(default=15.0, ge=1, le=60)
    """UI frames per second. Every busy pane repaints once per frame, so bytes to the terminal
    and paint CPU grow with it; 15 keeps a busy 160x48 screen near 90 kB/s. A key's effect does
    not wait for this timer (it is painted on Textual's own refresh)."""


class PaperSection(_Section):
    """The simulated market and paper account."""

    seed: int = 42
    speed: float = Field(default=1.0, gt=0, le=3600)
    session: Literal["auto", "real", "always_open"] = "auto"
    starting_cash: Decimal = Field(default=Decimal("1000000"), gt=0)
    events_per_s: float = Field(default=20.0, gt=0, le=10_000)
    tick_ms: int = Field(default=20, ge=1, le=1000)


class AngelOneSection(_Section):
    """Angel One SmartAPI endpoints (every URL is configurable so tests can use 127.0.0.1)."""

    rest_url: str = "https://apiconnect.angelone.in"
    feed_url: str = "wss://smartapisocket.angelone.in/smart-stream"
    order_feed_url: str = "wss://tns.angelone.in/smart-order-update"
    master_url: str = (
        "https://margincalculator.angelone.in/OpenAPI_File/files/OpenAPIScripMaster.json"
    )


class LoggingSection(_Section):
    """Log verbosity (``--log-level`` wins)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"


class CockpitConfig(_Section):
    """The whole configuration."""

    app: AppSection = AppSection()
    paper: PaperSection = PaperSection()
    angelone: AngelOneSection = AngelOneSection()
    logging: LoggingSection = LoggingSection()
    notify: NotifySection = NotifySection()
    watchlists: dict[str, list[str]] = Field(
        default_factory=lambda: {"default": ["NIFTY", "BANKNIFTY", "SBIN", "RELIANCE", "INFY"]}
    )
    keymap: dict[str, str] = Field(default_factory=dict)
    risk: RiskConfig = Field(default_factory=RiskConfig)

    @field_validator("keymap", mode="before")
    @classmethod
    def _flatten_keymap(cls, value: Any) -> Any:
        """``order.buy = "f2"`` written without quotes is a nested TOML table: flatten it."""
        if isinstance(value, Mapping):
            return flatten_bindings_table(value, "config.toml [keymap]")
        return value

    @field_validator("keymap")
    @classmethod
    def _keys_are_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in value.items():
            if not keys.strip() and keys != "":
                raise ValueError(f"binding {binding_id!r} has blank keys; use \"\" to unbind")
        return value


# Environment variables that name a URL directly, as the Angel One issue specifies.
_ANGEL_URL_ENV = {
    "COCKPIT_ANGEL_REST_URL": "rest_url",
    "COCKPIT_ANGEL_FEED_URL": "feed_url",
    "COCKPIT_ANGEL_ORDER_FEED_URL": "order_feed_url",
    "COCKPIT_ANGEL_MASTER_URL": "master_url",
}


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> CockpitConfig:
    """Read, merge with the environment, and validate. Raises :class:`ConfigError`."""
    environ = os.environ if env is None else env
    text = ""
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the syntax there.") from None
        _refuse_secrets(data, path, text)
    _apply_env(data, environ)
    try:
        return CockpitConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, text)) from None


def _refuse_secrets(data: Mapping[str, Any], path: Path, text: str, prefix: tuple[str, ...] = ()
                    ) -> None:
    for key, value in data.items():
        loc = (*prefix, key)
        if isinstance(value, Mapping):
            _refuse_secrets(value, path, text, loc)
        elif is_secret_key(key) and loc[0] not in ("keymap",):
            line = locate_key(text, loc)
            where = f" (line {line})" if line else ""
            raise ConfigError(
                f"{path}: key {'.'.join(loc)}{where} holds a secret; secrets are never read from "
                "config files. Remove it and set the COCKPIT_ANGEL_* environment variable or run "
                "`cockpit login` to keep it in the system keyring."
            )


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if name in _ANGEL_URL_ENV:
            data.setdefault("angelone", {})[_ANGEL_URL_ENV[name]] = value
            continue
        if not name.startswith("COCKPIT_") or "__" not in name:
            continue
        section, _, key = name[len("COCKPIT_") :].lower().partition("__")
        if section in CockpitConfig.model_fields and key:
            target = data.setdefault(section, {})
            if isinstance(target, dict):
                target[key] = value


def _describe(exc: ValidationError, path: Path | None, text: str) -> str:
    where = str(path) if path else "config"
    lines = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        dotted = ".".join(loc) or "(top level)"
        line = locate_key(text, loc)
        at = f" (line {line})" if line else ""
        if err["type"] == "extra_forbidden":
            hint = _suggest(loc)
            lines.append(f"{where}: unknown key {dotted}{at}.{hint}")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, Mapping) else f" got {got!r};"
            message = str(err['msg']).removeprefix('Value error, ').rstrip('.')
            lines.append(f"{where}: key {dotted}{at}:{shown} {message}.")
    return "\n".join(lines)


def _suggest(loc: tuple[str, ...]) -> str:
    model: type[BaseModel] = CockpitConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(loc[-1], known, n=1)
    if close:
        return f" Did you mean {close[0]!r}?"
    return f" Known keys here: {', '.join(known)}."


_HEADER_RE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def locate_key(text: str, loc: tuple[str, ...]) -> int | None:
    """1-based line of the key ``loc`` (section path + key) in TOML ``text``, or None."""
    if not text or not loc:
        return None
    table: tuple[str, ...] = ()
    fallback = None
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(raw)
        if header:
            table = tuple(part.strip().strip("\"'") for part in header.group(1).split("."))
            if table == loc:
                fallback = number
            continue
        key = _KEY_RE.match(raw)
        if not key:
            continue
        dotted = tuple(part.strip().strip("\"'") for part in key.group(1).split("."))
        full = table + dotted
        if full == loc[: len(full)] and len(full) >= min(len(loc), len(table) + 1):
            return number
    return fallback
