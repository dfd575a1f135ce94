"""The help screen: generated from the resolved keymap, closed by its keys, and its look.

Regenerate the snapshots with ``pytest tests/cockpit/test_help_screen.py --snapshot-update`` and
look at the SVGs in ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.geometry import Region
from textual.widgets import Static

from cockpit.help_screen import HelpScreen
from keymaps import GROUPS, GROUPS_BY_NAME, ResolvedKeymap, actions_in, key_display, load_keymap
from themes import THEMES

SnapCompare = Callable[..., bool]


class HelpApp(App[None]):
    """Opens the help screen for a keymap, in the cockpit-dark theme, with the keymap applied."""

    def __init__(self, keymap: ResolvedKeymap) -> None:
        super().__init__()
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"
        self.keymap = keymap

    def on_mount(self) -> None:
        self.set_keymap(self.keymap.for_textual())
        self.push_screen(HelpScreen(self.keymap))


def panel_lines(screen: HelpScreen, group: str) -> list[str]:
    """The rendered text of one group's panel, border included."""
    for panel in screen.query(".help-group").results(Static):
        if panel.border_title == group:
            width, height = panel.size
            return [strip.text for strip in panel.render_lines(Region(0, 0, width, height))]
    raise AssertionError(f"no panel for {group}")


def line_with(lines: list[str], text: str) -> str:
    """The one line holding ``text``, without the panel's border."""
    (line,) = [line for line in lines if text in line]
    return line.strip("│ ")


async def test_the_help_shows_the_overridden_key() -> None:
    app = HelpApp(load_keymap("default", {"order.buy": "f2", "order.gtt": ""}))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        orders = panel_lines(screen, "Orders")
        assert line_with(orders, "Buy ticket").split() == ["f2*", "Buy", "ticket"]
        assert "unbound*" in line_with(orders, "GTT ticket")
        assert line_with(orders, "Sell ticket").split()[:2] == ["s", "^s"]
        global_lines = panel_lines(screen, "Global")
        assert line_with(global_lines, "Kill switch").split()[0] == "^k"
        assert line_with(global_lines, "Keys (this help)").split()[0] == "?"


async def test_every_action_is_listed_with_its_keys() -> None:
    keymap = load_keymap("vim", {})
    app = HelpApp(keymap)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        for group in GROUPS:
            lines = screen.group_content(group).plain.splitlines()
            specs = actions_in(group.name)
            assert len(lines) == len(specs)
            for line, spec in zip(lines, specs, strict=True):
                assert line.endswith(spec.description)
                assert line.split()[0] == key_display(keymap.keys_for(spec.id)[0])
        watchlist = screen.group_content(GROUPS_BY_NAME["Watchlist"]).plain.splitlines()
        assert line_with(watchlist, "Previous row").split()[:2] == ["k", "↑"]
        title = str(screen.query_one("#help-title", Static).render())
        assert "keymap vim (default <- vim)" in title


async def test_clashes_are_listed_at_the_top() -> None:
    app = HelpApp(load_keymap("default", {"order.sell": "b"}))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        text = str(app.screen.query_one("#help-clashes", Static).render())
        assert "1 key clash (only one action runs):" in text
        assert "order.buy (Buy ticket, Orders) and order.sell (Sell ticket, Orders)" in text


async def test_escape_question_mark_and_q_close_it() -> None:
    for key in ("escape", "question_mark", "q"):
        app = HelpApp(load_keymap("default", {}))
        async with app.run_test() as pilot:
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen), key


async def test_a_remapped_close_key_closes_it_and_the_old_one_does_not() -> None:
    app = HelpApp(load_keymap("default", {"help.close": "h"}))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("q", "escape")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        hint = str(app.screen.query_one("#help-hint", Static).render())
        assert hint.startswith("h close")
        await pilot.press("h")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_help_snapshot_80x24(snap_compare: SnapCompare) -> None:
    app = HelpApp(load_keymap("default", {"order.buy": "f2"}))
    assert snap_compare(app, terminal_size=(80, 24))


def test_help_snapshot_160x48(snap_compare: SnapCompare) -> None:
    app = HelpApp(load_keymap("default", {"order.buy": "f2"}))
    assert snap_compare(app, terminal_size=(160, 48))
