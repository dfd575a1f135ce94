"""A cockpit app over a seeded paper market whose clock only moves when the test steps it.

Every UI test builds its app here: a fixed seed, the simulated clock at 10:00 IST on a fixed
trading day, the wall-clock market driver off (``drive=False``), a real journal in a temp dir and
the user's dirs under the temp dir too. ``step`` moves the market and runs one UI frame, so what is
on screen is a function of the steps alone (stable snapshots).
"""

from __future__ import annotations

from datetime import date
from datetime import time as dtime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from cockpit.app import CockpitApp
from cockpit.config import CockpitConfig
from cockpit.paths import AppPaths
from cockpit.session import PaperSession, PaperSessionOptions
from engine.clock import ist_ns

DAY = date(2026, 11, 20)
START_NS = ist_ns(DAY, dtime(10, 0))


def make_paths(root: Path) -> AppPaths:
    """The four user dirs under ``root``."""
    return AppPaths(root / "config", root / "data", root / "logs", root / "cache").ensure()


def make_app(root: Path, config: CockpitConfig | None = None, **options: Any) -> CockpitApp:
    """A cockpit over a stepped paper market (seed 7, 10:00 IST, always open)."""
    fields: dict[str, Any] = {
        "seed": 7,
        "session": "always_open",
        "events_per_s": 40.0,
        "journal_path": root / "journal.sqlite",
        "clock_start_ns": START_NS,
        "drive": False,
        "today": DAY,
    }
    fields.update(options)
    session = PaperSession(PaperSessionOptions(**fields))
    return CockpitApp(config=config or CockpitConfig(), paths=make_paths(root), session=session,
                      keymap_dirs=[])


async def step(app: CockpitApp, pilot: Pilot[Any], seconds: float = 1.0) -> None:
    """Move the market ``seconds``, then run one UI frame and let the screen settle."""
    session = app.session
    assert isinstance(session, PaperSession), "step() moves the stepped paper market only"
    await session.step(seconds)
    app.frame()
    await pilot.pause()


def screen_text(app: CockpitApp) -> str:
    """What the terminal shows, as plain text (one line per row)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)
