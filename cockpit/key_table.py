"""The README's key table, generated from the action registry and the default keymap.

``python -m cockpit.key_table`` prints it; a test checks that README.md holds exactly this table
between the ``<!-- keys:begin -->`` and ``<!-- keys:end -->`` markers.
"""

from __future__ import annotations

from keymaps import GROUPS, ResolvedKeymap, actions_in, key_display, load_keymap

BEGIN = "<!-- keys:begin -->"
END = "<!-- keys:end -->"


def key_table_markdown(keymap: ResolvedKeymap | None = None) -> str:
    """A Markdown table: group, keys, action, binding id (default keymap unless given)."""
    resolved = keymap or load_keymap("default", {})
    lines = ["| Where | Keys | Action | Binding id |", "|---|---|---|---|"]
    for group in GROUPS:
        for spec in actions_in(group.name):
            keys = resolved.keys_for(spec.id)
            shown = " ".join(f"`{key_display(k)}`" for k in keys) if keys else "unbound"
            lines.append(f"| {group.name} | {shown} | {spec.description} | `{spec.id}` |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(key_table_markdown())
