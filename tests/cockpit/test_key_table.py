"""The README's key table is the one generated from the registry and the default keymap."""

from __future__ import annotations

from pathlib import Path

from cockpit.key_table import BEGIN, END, key_table_markdown
from keymaps import ACTIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_key_table_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == key_table_markdown()
    assert len(table.splitlines()) == len(ACTIONS) + 2
