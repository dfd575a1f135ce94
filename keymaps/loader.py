"""Resolve the active keymap: registry defaults <- named keymap (and what it extends) <- user keys.

:func:`load_keymap` layers three sources, later ones winning per binding id:

1. the defaults in :mod:`keymaps.actions`;
2. a named keymap file (``default.toml``, ``vim.toml`` shipped as package data, or
   ``<name>.toml`` in a user keymap folder), after the chain of keymaps it ``extends``;
3. the user's ``[keymap]`` table from ``config.toml`` (binding id -> keys).

Keys are comma-separated Textual notation; ``""`` unbinds. Every key is checked and written in the
long form Textual matches (``"?"`` -> ``question_mark``, ``"shift+x"`` -> ``X``), so a key that a
terminal can never send is an error at load time, not a dead binding. Mistakes raise
:class:`KeymapError` subclasses whose message names the file or table, the binding id and the fix.

Clashes (two actions live at the same time on one key; see the scopes in :mod:`keymaps.actions`)
are not errors: :class:`ResolvedKeymap` lists them as :class:`KeymapClash` and they are logged, so
the app can show them at start.

Textual's own keymap (``App.set_keymap``) can move a binding to other keys but cannot remove it,
so :meth:`ResolvedKeymap.for_textual` moves an unbound action to a key no terminal sends
(:func:`unbound_key`); :func:`is_unbound_key` lets the app's ``get_key_display`` show it as
unbound. :func:`clashes_from_textual` turns what Textual passes to ``App.handle_bindings_clash``
into :class:`KeymapClash` values, dropping the false clash Textual reports when a binding with
several keys is moved to one key.
"""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import combinations
from pathlib import Path
from types import MappingProxyType

from textual.binding import Binding
from textual.keys import KEY_NAME_REPLACEMENTS, REPLACED_KEYS, format_key, key_to_character
from textual.widgets import Input

from keymaps.actions import (
    ACTIONS,
    ACTIONS_BY_ID,
    GROUPS_BY_NAME,
    ActionSpec,
    Scope,
    actions_in,
)

log = logging.getLogger("cockpit.keymap")

USER_OVERRIDES_SOURCE = "config.toml [keymap]"
"""How error messages name the user's ``[keymap]`` table unless told otherwise."""

UNBOUND_PREFIX = "unbound:"
"""Prefix of the never-sent key that :meth:`ResolvedKeymap.for_textual` gives unbound actions."""

MODIFIERS = ("alt", "ctrl", "hyper", "meta", "shift", "super")
"""Key modifiers in the (alphabetical) order Textual writes them."""

NAMED_KEYS = frozenset(
    {
        "escape", "enter", "tab", "space", "backspace", "insert", "delete", "home", "end",
        "pageup", "pagedown", "up", "down", "left", "right",
        *(f"f{number}" for number in range(1, 25)),
    }
)
"""Keys with a name rather than a character (plus every character's name, e.g. ``colon``)."""

_MODIFIER_HINTS = {
    "control": "ctrl", "ctl": "ctrl", "cmd": "super", "command": "super", "win": "super",
    "option": "alt", "opt": "alt",
}
_KEY_HINTS = {
    "return": "enter", "esc": "escape", "del": "delete", "ins": "insert", "pgup": "pageup",
    "pgdn": "pagedown", "page_up": "pageup", "page_down": "pagedown", "bs": "backspace",
    "spacebar": "space", "cr": "enter", "arrowup": "up", "arrowdown": "down",
    "arrowleft": "left", "arrowright": "right",
}
_UNSENDABLE = {
    "ctrl+i": "tab",
    "ctrl+m": "enter",
    "ctrl+h": "backspace",
    "ctrl+left_square_bracket": "escape",
    "ctrl+space": "ctrl+@",
}
"""Keys most terminals send as another key (the value): a binding on them would never fire."""

_TEXTUAL_KEYS: dict[str, tuple[str, str, frozenset[str]]] = {
    "tab": ("textual.focus_next", "move focus to the next widget (Textual)", frozenset()),
    "shift+tab": (
        "textual.focus_previous", "move focus to the previous widget (Textual)", frozenset()
    ),
    "ctrl+q": ("textual.quit", "quit (Textual, always live)", frozenset({"app.quit"})),
    "ctrl+c": ("textual.copy", "copy selected text (Textual)", frozenset({"app.quit"})),
}
"""Keys Textual binds on every screen or app: pseudo id, what it does, ids that may share it."""

TEXT_FIELD_ID = "textual.text_field"
"""Pseudo binding id in a :class:`KeymapClash` with the keys a focused text field takes."""

_PSEUDO_DESCRIPTIONS = {pseudo: text for pseudo, text, _ in _TEXTUAL_KEYS.values()}
_PSEUDO_DESCRIPTIONS[TEXT_FIELD_ID] = "typing / editing in a text field (Textual)"

_META_FIELDS = ("name", "description", "extends")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


class KeymapError(ValueError):
    """A keymap that cannot be used; the message names the source, the binding and the fix."""


class UnknownKeymapError(KeymapError):
    """A keymap name that no shipped or user keymap file has."""


class UnknownBindingIdError(KeymapError):
    """A binding id that is not in the registry (:mod:`keymaps.actions`)."""


class KeySyntaxError(KeymapError):
    """A key string that is not valid Textual notation, or a key terminals cannot send."""


# -- keys ------------------------------------------------------------------------------------


def _character_key(character: str) -> str:
    """The Textual key name of one character (``"?"`` -> ``question_mark``, ``"b"`` -> ``b``)."""
    if character.isalnum():
        return character
    try:
        name = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return character
    return KEY_NAME_REPLACEMENTS.get(name, name)


def _named_character(name: str) -> str | None:
    """The printable character a key name stands for (``colon`` -> ``:``), if any."""
    character = key_to_character(REPLACED_KEYS.get(name, name))
    if character is None or len(character) != 1 or not character.isprintable():
        return None
    return character


@cache
def _known_key_names() -> tuple[str, ...]:
    names = set(NAMED_KEYS)
    for code in range(0x21, 0x7F):
        names.add(_character_key(chr(code)))
    return tuple(sorted(names))


def _suggest(word: str, choices: Iterable[str], hints: Mapping[str, str] | None = None) -> str:
    """`` (did you mean 'x'?)`` or ``""``."""
    if hints and word.lower() in hints:
        return f" (did you mean {hints[word.lower()]!r}?)"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def canonical_key(key: str) -> str:
    """One key in the exact form Textual reports it; raises :class:`KeySyntaxError` if invalid.

    Single characters become their names (``"?"`` -> ``question_mark``), modifiers are sorted
    (``shift+ctrl+up`` -> ``ctrl+shift+up``), ``shift+<letter>`` becomes the capital letter
    (Textual reports shift+x as ``X``) and named keys are lower-cased (``F2`` -> ``f2``).
    """
    if key == "":
        raise KeySyntaxError("empty key (to bind the comma key write comma)")
    if len(key) == 1:
        if not key.isprintable() or key.isspace():
            raise KeySyntaxError(f"{key!r} is not a key; write space, tab, enter ... by name")
        return _character_key(key)
    *modifiers, base = key.split("+")
    if base == "":
        raise KeySyntaxError(f"{key!r} ends with '+'; for the + key write plus (e.g. ctrl+plus)")
    seen: list[str] = []
    for modifier in modifiers:
        if modifier == "":
            raise KeySyntaxError(f"{key!r} has an empty modifier; write e.g. ctrl+shift+up")
        lowered = modifier.lower()
        if lowered not in MODIFIERS:
            raise KeySyntaxError(
                f"{key!r}: unknown modifier {modifier!r}"
                f"{_suggest(lowered, MODIFIERS, _MODIFIER_HINTS)}; "
                f"the modifiers are {', '.join(MODIFIERS)}"
            )
        if lowered in seen:
            raise KeySyntaxError(f"{key!r} repeats the modifier {lowered!r}")
        seen.append(lowered)
    if len(base) == 1:
        if base.isalpha() and base.isupper() and seen:
            if seen == ["shift"]:
                raise KeySyntaxError(f"{key!r}: write the capital letter alone ({base})")
            lower = "+".join([*sorted(seen), base.lower()])
            shifted = "+".join([*sorted({*seen, "shift"}), base.lower()])
            raise KeySyntaxError(
                f"{key!r}: after a modifier write the letter in lower case: {lower} "
                f"(or {shifted} to need shift as well)"
            )
        if seen == ["shift"] and base.isalpha():
            return base.upper()
        if not base.isprintable() or base.isspace():
            raise KeySyntaxError(f"{key!r}: write the key by name (space, tab, ...)")
        name = _character_key(base)
    else:
        name = base.lower()
        if name not in NAMED_KEYS:
            character = _named_character(name)
            if character is None:
                raise KeySyntaxError(
                    f"{key!r}: unknown key {base!r}"
                    f"{_suggest(name, _known_key_names(), _KEY_HINTS)}; use a letter, digit, "
                    "a character name (question_mark, slash, plus ...) or a named key "
                    "(enter, escape, tab, space, up, pageup, f1 ...)"
                )
            name = _character_key(character)
    if seen == ["shift"] and name not in NAMED_KEYS and _is_character_key(name):
        raise KeySyntaxError(
            f"{key!r}: terminals send the character shift+{base} types, not shift+{base}; "
            "write that character (on a US layout shift+1 is exclamation_mark, shift+slash is "
            "question_mark)"
        )
    canonical = "+".join([*sorted(seen), name])
    if canonical in _UNSENDABLE:
        raise KeySyntaxError(
            f"{key!r}: most terminals send it as {_UNSENDABLE[canonical]}, so it would never "
            "fire; choose another key"
        )
    return canonical


def parse_keys(text: str) -> tuple[str, ...]:
    """Comma-separated Textual keys -> canonical keys, in order, without repeats.

    ``""`` means unbound and gives ``()``. Raises :class:`KeySyntaxError`.
    """
    if text == "":
        return ()
    if not text.strip():
        raise KeySyntaxError('blank keys; use "" to unbind')
    keys: list[str] = []
    for piece in text.split(","):
        stripped = piece.strip()
        if stripped == "":
            raise KeySyntaxError(
                f"{text!r} has an empty key between commas (to bind the comma key write comma)"
            )
        key = canonical_key(stripped)
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def key_display(key: str) -> str:
    """A canonical key as Textual's footer shows it by default (``ctrl+k`` -> ``^k``)."""
    if is_unbound_key(key):
        return "unbound"
    *modifiers, base = key.split("+")
    shown = format_key(base)
    if "ctrl" in modifiers:
        modifiers.remove("ctrl")
        shown = f"^{shown}"
    return "+".join([*modifiers, shown])


def unbound_key(binding_id: str) -> str:
    """The key :meth:`ResolvedKeymap.for_textual` gives an unbound action: no terminal sends it."""
    return f"{UNBOUND_PREFIX}{binding_id}"


def is_unbound_key(key: str) -> bool:
    """True for a key made by :func:`unbound_key` (use it in ``App.get_key_display``)."""
    return key.startswith(UNBOUND_PREFIX)


@cache
def _text_field_keys() -> frozenset[str]:
    """The non-printable keys a focused ``Input`` binds for itself (from Textual's own list)."""
    return frozenset(binding.key for binding in Binding.make_bindings(Input.BINDINGS))


def _is_character_key(name: str) -> bool:
    """True for a key that types a character (``b``, ``X``, ``question_mark``, ``space``)."""
    return len(name) == 1 or _named_character(name) is not None


def _taken_by_text_field(key: str) -> bool:
    """True if a focused text field takes ``key`` for itself (typing or editing)."""
    if key in _text_field_keys():
        return True
    return "+" not in key and _is_character_key(key)


# -- clashes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeymapClash:
    """Actions live at the same time on one key: only one of them can run.

    ``ids`` are binding ids in registry order; ids starting with ``textual.`` stand for keys
    Textual itself binds (focus movement, its quit key, a focused text field).
    """

    key: str
    ids: tuple[str, ...]

    @property
    def message(self) -> str:
        """One line for a notification or the log."""
        parts = []
        for binding_id in self.ids:
            spec = ACTIONS_BY_ID.get(binding_id)
            if spec is None:
                parts.append(_PSEUDO_DESCRIPTIONS.get(binding_id, binding_id))
            else:
                parts.append(f"{binding_id} ({spec.description}, {spec.group})")
        return f"key {key_display(self.key)} ({self.key}) is bound to " + " and ".join(parts)


def _pair_clashes(first: ActionSpec, second: ActionSpec) -> bool:
    if first.group == second.group or first.priority or second.priority:
        return True
    scopes = {GROUPS_BY_NAME[first.group].scope, GROUPS_BY_NAME[second.group].scope}
    if Scope.MODAL in scopes:
        return False
    return Scope.GLOBAL in scopes


def find_clashes(keys: Mapping[str, tuple[str, ...]]) -> tuple[KeymapClash, ...]:
    """Every key on which two live actions meet (binding id -> canonical keys in)."""
    order = {spec.id: index for index, spec in enumerate(ACTIONS)}
    by_key: dict[str, list[str]] = {}
    for binding_id in sorted(keys, key=lambda name: order.get(name, len(order))):
        for key in keys[binding_id]:
            by_key.setdefault(key, []).append(binding_id)
    clashes: list[KeymapClash] = []
    for key, ids in by_key.items():
        involved: set[str] = set()
        for first, second in combinations(ids, 2):
            if _pair_clashes(ACTIONS_BY_ID[first], ACTIONS_BY_ID[second]):
                involved.update((first, second))
        pseudo: list[str] = []
        if key in _TEXTUAL_KEYS:
            pseudo_id, _, allowed = _TEXTUAL_KEYS[key]
            others = [binding_id for binding_id in ids if binding_id not in allowed]
            if others:
                involved.update(others)
                pseudo.append(pseudo_id)
        in_forms = [
            binding_id for binding_id in ids
            if GROUPS_BY_NAME[ACTIONS_BY_ID[binding_id].group].text_fields
        ]
        if in_forms and _taken_by_text_field(key):
            involved.update(in_forms)
            pseudo.append(TEXT_FIELD_ID)
        if involved:
            clashes.append(
                KeymapClash(key, tuple(i for i in ids if i in involved) + tuple(pseudo))
            )
    return tuple(clashes)


def clashes_from_textual(clashed_bindings: Iterable[Binding]) -> list[KeymapClash]:
    """What Textual passes to ``App.handle_bindings_clash``, as :class:`KeymapClash` values.

    Textual reports a binding with several keys that a keymap moves to a single key as clashing
    with itself; such one-id "clashes" are dropped. Bindings without an id show as
    ``textual.<action>``.
    """
    by_key: dict[str, list[str]] = {}
    for binding in clashed_bindings:
        name = binding.id if binding.id is not None else f"textual.{binding.action}"
        names = by_key.setdefault(binding.key, [])
        if name not in names:
            names.append(name)
    return [
        KeymapClash(key, tuple(sorted(names)))
        for key, names in sorted(by_key.items())
        if len(names) > 1
    ]


# -- resolved keymap --------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedKeymap:
    """The keys of every action after layering, with where each came from and the clashes."""

    name: str
    """The keymap asked for (``"default"``, ``"vim"``, a user keymap)."""
    chain: tuple[str, ...]
    """The keymap files applied, base first: ``("default", "vim")``."""
    description: str
    keys: Mapping[str, tuple[str, ...]]
    """Every registry binding id -> its canonical keys (``()`` when unbound)."""
    origins: Mapping[str, str]
    """Binding id -> the layer that set its keys (``"registry"``, ``"keymap vim"``, ...)."""
    clashes: tuple[KeymapClash, ...] = field(default=())
    user_source: str = USER_OVERRIDES_SOURCE
    """The origin label of the user's own overrides (see :meth:`from_user`)."""

    def keys_for(self, binding_id: str) -> tuple[str, ...]:
        """The keys of one action (``()`` if unbound); unknown ids raise with a suggestion."""
        try:
            return self.keys[binding_id]
        except KeyError:
            raise UnknownBindingIdError(_unknown_id_message(binding_id, "keys_for()")) from None

    def from_user(self, binding_id: str) -> bool:
        """True if the user's ``[keymap]`` table set this action's keys."""
        self.keys_for(binding_id)
        return self.origins[binding_id] == self.user_source

    def is_bound(self, binding_id: str) -> bool:
        """True if the action has at least one key."""
        return bool(self.keys_for(binding_id))

    def for_textual(self) -> dict[str, str]:
        """Binding id -> keys, ready for ``App.set_keymap``.

        An unbound action gets :func:`unbound_key`, because Textual keeps a binding's original
        keys when the keymap gives it ``""``.
        """
        return {
            binding_id: ",".join(keys) if keys else unbound_key(binding_id)
            for binding_id, keys in self.keys.items()
        }

    def bindings_for(self, group: str) -> list[Binding]:
        """Textual ``Binding`` objects (with ids) for the bound actions of one group.

        Use them as a widget's or screen's ``BINDINGS``; the action names come from the registry.
        """
        try:
            specs = actions_in(group)
        except KeyError as exc:
            raise KeymapError(str(exc.args[0])) from None
        return [
            Binding(
                ",".join(self.keys[spec.id]),
                spec.action,
                spec.description,
                show=spec.show,
                priority=spec.priority,
                id=spec.id,
            )
            for spec in specs
            if self.keys[spec.id]
        ]

    def overridden(self) -> dict[str, tuple[str, ...]]:
        """The actions whose keys differ from the registry defaults."""
        defaults = _registry_keys()
        return {
            binding_id: keys
            for binding_id, keys in self.keys.items()
            if keys != defaults[binding_id]
        }


def _unknown_id_message(binding_id: object, where: str) -> str:
    text = str(binding_id)
    same_action = [name for name in ACTIONS_BY_ID if name.rsplit(".", 1)[-1] == text]
    if len(same_action) == 1:
        suggestion = f" (did you mean {same_action[0]!r}?)"
    elif same_action:
        suggestion = f" (did you mean one of {', '.join(same_action)}?)"
    else:
        suggestion = _suggest(text, ACTIONS_BY_ID)
    return (
        f"{where}: unknown binding id {binding_id!r}{suggestion}; the ids are listed in "
        "keymaps/default.toml"
    )


@cache
def _registry_keys() -> Mapping[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {}
    for spec in ACTIONS:
        try:
            keys[spec.id] = parse_keys(spec.default_keys)
        except KeySyntaxError as exc:  # pragma: no cover - guarded by the registry tests
            raise KeymapError(f"registry default of {spec.id}: {exc}") from None
    return MappingProxyType(keys)


@cache
def default_keymap() -> ResolvedKeymap:
    """The registry defaults alone (no keymap file, no user keys)."""
    keys = dict(_registry_keys())
    return ResolvedKeymap(
        name="registry",
        chain=(),
        description="registry defaults",
        keys=MappingProxyType(keys),
        origins=MappingProxyType(dict.fromkeys(keys, "registry")),
        clashes=find_clashes(keys),
    )


def default_bindings(group: str) -> list[Binding]:
    """``BINDINGS`` for a widget or screen class: the registry defaults of one group.

    The app then calls ``set_keymap(resolved.for_textual())`` to apply the user's keymap.
    """
    return default_keymap().bindings_for(group)


# -- keymap files -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _KeymapFile:
    name: str
    where: str
    description: str
    extends: str | None
    bindings: Mapping[str, object]


def flatten_bindings_table(table: Mapping[str, object], where: str) -> dict[str, object]:
    """Nested TOML tables -> dotted binding ids (``{"order": {"buy": "b"}}`` -> ``order.buy``).

    A TOML file may write ``[order]`` / ``buy = "b"`` or ``"order.buy" = "b"``; an id given both
    ways raises :class:`KeymapError`.
    """
    flat: dict[str, object] = {}

    def walk(prefix: str, value: Mapping[str, object]) -> None:
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, Mapping):
                walk(name, item)
            elif name in flat:
                raise KeymapError(f"{where}: binding {name!r} is set twice; keep one")
            else:
                flat[name] = item

    walk("", table)
    return flat


def _shipped_dir() -> Traversable:
    return resources.files("keymaps")


def _candidates(user_dirs: Sequence[Path]) -> dict[str, list[Traversable]]:
    """Keymap name -> files, user folders first (they shadow shipped keymaps of that name)."""
    found: dict[str, list[Traversable]] = {}
    sources: list[Traversable] = [Path(folder) for folder in user_dirs]
    sources.append(_shipped_dir())
    for folder in sources:
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda item: item.name):
            if entry.is_file() and entry.name.endswith(".toml"):
                stem = entry.name[: -len(".toml")]
                if _NAME_PATTERN.match(stem):
                    found.setdefault(stem, []).append(entry)
    return found


def available_keymaps(user_dirs: Sequence[Path] = ()) -> list[str]:
    """The names :func:`load_keymap` accepts: shipped keymaps and those in ``user_dirs``."""
    return sorted(_candidates(user_dirs))


def _read_keymap_file(name: str, source: Traversable) -> _KeymapFile:
    where = f"keymap {name!r} ({source})"
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"{where}: not valid TOML: {exc}. Fix the syntax there.") from None
    except OSError as exc:
        raise KeymapError(f"{where}: cannot be read: {exc}") from None
    meta = data.pop("meta", {})
    if not isinstance(meta, Mapping):
        raise KeymapError(f"{where}: meta must be a table: [meta] name = ..., extends = ...")
    for key, value in meta.items():
        if key not in _META_FIELDS:
            raise KeymapError(
                f"{where}: unknown [meta] field {key!r}{_suggest(key, _META_FIELDS)}; "
                f"the fields are {', '.join(_META_FIELDS)}"
            )
        if not isinstance(value, str):
            raise KeymapError(f"{where}: [meta] {key} must be a string, got {value!r}")
    declared = meta.get("name")
    if declared is not None and declared != name:
        raise KeymapError(
            f"{where}: [meta] name is {declared!r} but the file is {name}.toml; make them match"
        )
    extends = meta.get("extends")
    return _KeymapFile(
        name=name,
        where=where,
        description=str(meta.get("description", "")),
        extends=str(extends) if extends is not None else None,
        bindings=flatten_bindings_table(data, where),
    )


def _resolve_chain(
    name: str, candidates: Mapping[str, list[Traversable]]
) -> list[_KeymapFile]:
    """The files from ``name`` back to its root, root first."""
    if name not in candidates:
        available = ", ".join(sorted(candidates)) or "none"
        raise UnknownKeymapError(
            f"unknown keymap {name!r}{_suggest(name, candidates)}; available keymaps: "
            f"{available} (user keymaps live in <config dir>/keymaps/<name>.toml)"
        )
    chain: list[_KeymapFile] = []
    seen: list[tuple[str, int]] = []
    current: tuple[str, int] | None = (name, 0)
    while current is not None:
        if current in seen:
            loop = " -> ".join([*(item[0] for item in seen), current[0]])
            raise KeymapError(f"keymap {name!r}: extends loops ({loop}); break the cycle")
        seen.append(current)
        current_name, index = current
        keymap_file = _read_keymap_file(current_name, candidates[current_name][index])
        chain.append(keymap_file)
        parent = keymap_file.extends
        if parent is None:
            current = None
        elif parent == current_name and index + 1 < len(candidates[current_name]):
            current = (parent, index + 1)  # a user file extending the shipped one it shadows
        elif parent in candidates:
            current = (parent, 0)
        else:
            available = ", ".join(sorted(candidates))
            raise UnknownKeymapError(
                f"{keymap_file.where}: extends unknown keymap {parent!r}"
                f"{_suggest(parent, candidates)}; available keymaps: {available}"
            )
    chain.reverse()
    return chain


def _apply_layer(
    keys: dict[str, tuple[str, ...]],
    origins: dict[str, str],
    bindings: Mapping[str, object],
    where: str,
    origin: str,
) -> None:
    for binding_id, value in bindings.items():
        spec = ACTIONS_BY_ID.get(binding_id)
        if spec is None:
            raise UnknownBindingIdError(_unknown_id_message(binding_id, where))
        if not isinstance(value, str):
            raise KeySyntaxError(
                f'{where}: {binding_id} must be a string of keys like "b,ctrl+b" '
                f'(or "" to unbind), got {value!r}'
            )
        try:
            parsed = parse_keys(value)
        except KeySyntaxError as exc:
            raise KeySyntaxError(f"{where}: {binding_id} = {value!r}: {exc}") from None
        if not parsed and spec.required:
            raise KeymapError(
                f'{where}: {binding_id} ({spec.description}) cannot be unbound (it is set to ""); '
                "it must always have a key, so bind it to another key instead"
            )
        keys[binding_id] = parsed
        origins[binding_id] = origin


def load_keymap(
    name: str,
    user_overrides: Mapping[str, object],
    *,
    user_dirs: Sequence[Path] = (),
    overrides_source: str = USER_OVERRIDES_SOURCE,
) -> ResolvedKeymap:
    """Resolve keymap ``name`` and the user's ``[keymap]`` overrides (binding id -> keys).

    ``user_dirs`` are folders of user keymap files (``<name>.toml``), searched before the shipped
    ones. ``overrides_source`` names the overrides in error messages. Raises
    :class:`KeymapError` (or a subclass) for anything that cannot be used; clashes are returned
    in :attr:`ResolvedKeymap.clashes` and logged as warnings.
    """
    candidates = _candidates(user_dirs)
    chain = _resolve_chain(name, candidates)
    keys = dict(_registry_keys())
    origins = dict.fromkeys(keys, "registry")
    for keymap_file in chain:
        _apply_layer(
            keys, origins, keymap_file.bindings, keymap_file.where, f"keymap {keymap_file.name}"
        )
    overrides = flatten_bindings_table(user_overrides, overrides_source)
    _apply_layer(keys, origins, overrides, overrides_source, overrides_source)
    clashes = find_clashes(keys)
    resolved = ResolvedKeymap(
        name=name,
        chain=tuple(keymap_file.name for keymap_file in chain),
        description=chain[-1].description,
        keys=MappingProxyType(keys),
        origins=MappingProxyType(origins),
        clashes=clashes,
        user_source=overrides_source,
    )
    log.info(
        "keymap %s (%s) loaded with %d user override(s)",
        name, " <- ".join(resolved.chain), len(overrides),
    )
    for clash in clashes:
        log.warning("keymap clash: %s", clash.message)
    return resolved
