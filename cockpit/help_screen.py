"""The help screen: every action by group with the keys the active keymap gives it.

It is generated from a :class:`keymaps.ResolvedKeymap`, so a key remapped in a keymap file or in
``config.toml`` shows as the new key, an unbound action shows as ``unbound`` and keys the user set
are marked ``*``. Keys are rendered with ``App.get_key_display`` so the help reads like the footer.
The content only changes when the user acts, so it is a static, scrollable layout (two columns of
groups on wide terminals). Escape, ``?`` or ``q`` (the ``help.close`` binding) closes it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from keymaps import (
    ACTIONS_BY_ID,
    GROUPS,
    ActionSpec,
    Group,
    ResolvedKeymap,
    actions_in,
    default_bindings,
)

KEY_STYLE = "bold $text-accent"
"""How a key is styled."""
MUTED_STYLE = "$text-muted"
"""How ``unbound`` and the hints are styled."""
MAX_KEY_COLUMN = 18
"""The key column is as wide as the widest keys of a group, up to this many cells."""


class HelpScreen(ModalScreen[None]):
    """A modal list of every action, grouped, with its current keys."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
    }
    HelpScreen #help-dialog {
        width: 100%;
        max-width: 160;
        height: 100%;
        padding: 0 1;
        border: round $primary;
        border-title-color: $text-accent;
        border-title-style: bold;
        background: $surface;
    }
    HelpScreen.-wide #help-dialog {
        width: 90%;
        height: 90%;
    }
    HelpScreen #help-title {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    HelpScreen #help-clashes {
        height: auto;
        color: $text-warning;
    }
    HelpScreen #help-body {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    HelpScreen #help-groups {
        grid-size: 1;
        grid-gutter: 0 2;
        grid-rows: auto;
        height: auto;
    }
    HelpScreen.-wide #help-groups {
        grid-size: 2;
    }
    HelpScreen .help-group {
        height: auto;
        padding: 0 1;
        border: round $panel-lighten-2;
        border-title-color: $text-primary;
        border-title-style: bold;
    }
    HelpScreen #help-hint {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Help"))
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 - Screen types it a list
    AUTO_FOCUS = "#help-body"

    def __init__(
        self,
        keymap: ResolvedKeymap,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        """Title; clashes (if any) and the groups in a scrollable grid; the hint line."""
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = "Keys"
            yield Static(self._title(), id="help-title")
            with VerticalScroll(id="help-body"):
                if self.keymap.clashes:
                    yield Static(self._clashes(), id="help-clashes")
                with Grid(id="help-groups"):
                    for group in GROUPS:
                        panel = Static(self.group_content(group), classes="help-group")
                        panel.border_title = group.name
                        yield panel
            yield Static(self._hint(), id="help-hint")

    def action_close(self) -> None:
        """Close the help screen."""
        self.dismiss(None)

    # -- content -------------------------------------------------------------------------------
    def keys_text(self, spec: ActionSpec) -> str:
        """The keys of one action as the footer shows them (``"q ^c"``), or ``"unbound"``."""
        keys = self.keymap.keys_for(spec.id)
        if not keys:
            return "unbound"
        return " ".join(self.app.get_key_display(Binding(key, spec.action)) for key in keys)

    def group_content(self, group: Group) -> Content:
        """One group: a key column and a description column, one action per line."""
        specs = actions_in(group.name)
        rows = [(spec, self.keys_text(spec), self.keymap.from_user(spec.id)) for spec in specs]
        width = min(
            MAX_KEY_COLUMN,
            max((cell_len(keys) + (1 if mine else 0) for _, keys, mine in rows), default=0),
        )
        lines: list[Content] = []
        for spec, keys, mine in rows:
            key_style = MUTED_STYLE if not self.keymap.is_bound(spec.id) else KEY_STYLE
            marker = "*" if mine else ""
            shown = keys + marker
            padding = " " * max(1, width - cell_len(shown) + 2)
            lines.append(
                Content.assemble(
                    (keys, key_style), (marker, "$text-warning"), padding, spec.description
                )
            )
        return Content("\n").join(lines)

    def _title(self) -> Content:
        keymap = self.keymap
        chain = " <- ".join(keymap.chain) if keymap.chain else "registry defaults"
        parts: list[str | tuple[str, str]] = [("keymap ", MUTED_STYLE), (keymap.name, "bold")]
        if len(keymap.chain) > 1:
            parts.append((f" ({chain})", MUTED_STYLE))
        if keymap.description:
            parts.append((f"  {keymap.description}", MUTED_STYLE))
        return Content.assemble(*parts)

    def _clashes(self) -> Content:
        count = len(self.keymap.clashes)
        header = f"{count} key clash{'es' if count != 1 else ''} (only one action runs):"
        return Content("\n").join(
            [Content(header), *(Content(f"  {clash.message}") for clash in self.keymap.clashes)]
        )

    def _hint(self) -> Content:
        close = self.keys_text(ACTIONS_BY_ID["help.close"])
        return Content.assemble(
            (close, KEY_STYLE),
            (" close · ", MUTED_STYLE),
            ("↑↓", KEY_STYLE),
            (" scroll · ", MUTED_STYLE),
            ("^q", KEY_STYLE),
            (" quits anywhere · ", MUTED_STYLE),
            ("*", "$text-warning"),
            (" = set in your config", MUTED_STYLE),
        )
