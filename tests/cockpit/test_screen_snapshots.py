"""Snapshots of the cockpit screens in every theme, over a seeded paper market, frozen clock.

The market is stepped a fixed amount of simulated time (the wall-clock driver is off), flashes are
ended, the chart is laid out at once and input cursors do not blink, so each SVG depends only on
the code. Regenerate with ``pytest tests/cockpit/test_screen_snapshots.py --snapshot-update`` and
look at the SVGs in ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from cockpit.app import CockpitApp
from cockpit.config import CockpitConfig
from themes import THEMES
from widgets.watchlist import Watchlist

from .ui_rig import make_app

SnapCompare = Callable[..., bool]

# What to do after the market has run, to reach each screen (keys on the SBIN row).
SCREENS: dict[str, tuple[str, ...]] = {
    "main": (),
    "ticket": ("b",),
    "review": ("b", "enter"),
    "gtt": ("g",),
    "bracket": ("o",),
    "kill_switch": ("ctrl+k",),
    "help": ("question_mark",),
    "alerts": ("a",),
}


def prepare(keys: tuple[str, ...]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """``run_before`` for snap_compare: run the market 1 s, go to SBIN, press ``keys``, freeze."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CockpitApp)
        await app.session.step(1.0)
        app.frame()
        await pilot.pause()
        await pilot.press("down", "down")
        await pilot.pause()
        app.frame()
        app.main.query_one(Watchlist).stop_flashing()
        app.main._load_bars()
        await pilot.press(*keys)
        await pilot.pause()
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    snap_compare: SnapCompare, tmp_path: Path, screen: str, theme: str
) -> None:
    config = CockpitConfig.model_validate({"app": {"theme": theme}})
    app = make_app(tmp_path, config)
    assert snap_compare(app, terminal_size=(160, 48), run_before=prepare(SCREENS[screen]))


@pytest.mark.parametrize("theme", list(THEMES))
def test_main_screen_snapshot_80x24(snap_compare: SnapCompare, tmp_path: Path, theme: str) -> None:
    config = CockpitConfig.model_validate({"app": {"theme": theme}})
    app = make_app(tmp_path, config)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(()))
