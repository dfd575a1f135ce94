"""Where Cockpit keeps its files on the user's machine (platformdirs).

Config in the user config dir, the journal in the user data dir, logs in the user log dir, caches
(the instrument master) in the user cache dir. ``COCKPIT_HOME`` puts all four under one folder
(handy for tests and for running several accounts side by side); ``COCKPIT_CONFIG_DIR``,
``COCKPIT_DATA_DIR``, ``COCKPIT_LOG_DIR`` and ``COCKPIT_CACHE_DIR`` override one each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "cockpit"


@dataclass(frozen=True, slots=True)
class AppPaths:
    """The four directories Cockpit uses."""

    config_dir: Path
    data_dir: Path
    log_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        """The user's ``config.toml``."""
        return self.config_dir / "config.toml"

    def journal_file(self, account: str) -> Path:
        """The journal of one account (``paper`` or a broker client code's hash)."""
        safe = "".join(ch for ch in account if ch.isalnum() or ch in "-_") or "default"
        return self.data_dir / f"journal-{safe}.sqlite"

    @property
    def log_file(self) -> Path:
        """The rotating JSON-lines log file."""
        return self.log_dir / "cockpit.log"

    def ensure(self) -> AppPaths:
        """Create the directories (private to the user) and return self."""
        for folder in (self.config_dir, self.data_dir, self.log_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def resolve_paths(env: dict[str, str] | None = None) -> AppPaths:
    """Work out the directories from the environment and platform conventions."""
    source = os.environ if env is None else env
    home = source.get("COCKPIT_HOME")

    def pick(name: str, sub: str, default: Path) -> Path:
        explicit = source.get(name)
        if explicit:
            return Path(explicit).expanduser()
        if home:
            return Path(home).expanduser() / sub
        return default

    return AppPaths(
        config_dir=pick("COCKPIT_CONFIG_DIR", "config", platformdirs.user_config_path(APP_NAME)),
        data_dir=pick("COCKPIT_DATA_DIR", "data", platformdirs.user_data_path(APP_NAME)),
        log_dir=pick("COCKPIT_LOG_DIR", "logs", platformdirs.user_log_path(APP_NAME)),
        cache_dir=pick("COCKPIT_CACHE_DIR", "cache", platformdirs.user_cache_path(APP_NAME)),
    )
