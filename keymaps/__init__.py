"""Keymaps: the registry of every action and its binding id, the shipped TOML keymaps, the loader.

* :mod:`keymaps.actions`: one :class:`ActionSpec` per action (``order.buy`` -> ``action_buy``,
  group, default keys) and the groups with their scopes.
* ``default.toml`` (Kite-like) and ``vim.toml`` (extends default): package data.
* :mod:`keymaps.loader`: :func:`load_keymap` layers registry defaults <- named keymap (and what it
  extends) <- the user's ``[keymap]`` table, checks every key and id, and reports clashes.

Typical use in the app::

    class MainScreen(Screen):
        BINDINGS = default_bindings("Orders")          # registry defaults, with ids

    keymap = load_keymap(config.app.keymap, config.keymap, user_dirs=[paths.config_dir / "keymaps"])
    app.set_keymap(keymap.for_textual())              # the user's keys win by binding id
    for clash in keymap.clashes:
        app.notify(clash.message, severity="warning")
"""

from keymaps.actions import (
    ACTIONS,
    ACTIONS_BY_ID,
    GROUPS,
    GROUPS_BY_NAME,
    ActionSpec,
    Group,
    Scope,
    actions_in,
)
from keymaps.loader import (
    KeymapClash,
    KeymapError,
    KeySyntaxError,
    ResolvedKeymap,
    UnknownBindingIdError,
    UnknownKeymapError,
    available_keymaps,
    canonical_key,
    clashes_from_textual,
    default_bindings,
    default_keymap,
    is_unbound_key,
    key_display,
    load_keymap,
    parse_keys,
    unbound_key,
)

__all__ = [
    "ACTIONS",
    "ACTIONS_BY_ID",
    "GROUPS",
    "GROUPS_BY_NAME",
    "ActionSpec",
    "Group",
    "KeySyntaxError",
    "KeymapClash",
    "KeymapError",
    "ResolvedKeymap",
    "Scope",
    "UnknownBindingIdError",
    "UnknownKeymapError",
    "actions_in",
    "available_keymaps",
    "canonical_key",
    "clashes_from_textual",
    "default_bindings",
    "default_keymap",
    "is_unbound_key",
    "key_display",
    "load_keymap",
    "parse_keys",
    "unbound_key",
]
