"""The keymap layer: registry, shipped keymaps, layering, errors, clashes and Textual wiring."""

from __future__ import annotations

import logging
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.keys import _character_to_key
from textual.widget import Widget
from textual.widgets import Input

from keymaps import (
    ACTIONS,
    ACTIONS_BY_ID,
    GROUPS,
    GROUPS_BY_NAME,
    KeymapClash,
    KeymapError,
    KeySyntaxError,
    ResolvedKeymap,
    UnknownBindingIdError,
    UnknownKeymapError,
    actions_in,
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
from keymaps.loader import MODIFIERS, NAMED_KEYS, flatten_bindings_table

# -- registry ---------------------------------------------------------------------------------


def test_registry_ids_are_unique_well_formed_and_grouped() -> None:
    ids = [spec.id for spec in ACTIONS]
    assert len(ids) == len(set(ids))
    for spec in ACTIONS:
        assert re.fullmatch(r"[a-z]+(\.[a-z_]+)+", spec.id), spec.id
        assert spec.group in GROUPS_BY_NAME, spec
        assert spec.description and spec.action
    for group in GROUPS:
        assert actions_in(group.name), f"group {group.name} has no actions"


def test_registry_default_keys_are_already_canonical() -> None:
    for spec in ACTIONS:
        assert ",".join(parse_keys(spec.default_keys)) == spec.default_keys, spec.id


def test_registry_holds_the_actions_the_task_names() -> None:
    expected = {
        "app.quit": "q,ctrl+c", "app.kill_switch": "ctrl+k", "order.buy": "b,ctrl+b",
        "order.sell": "s,ctrl+s", "order.gtt": "g", "watchlist.depth": "d",
        "ladder.select": "enter", "orders.modify": "m", "orders.cancel": "x",
        "orders.cancel_all": "X", "positions.exit": "e",
    }
    for binding_id, keys in expected.items():
        assert ACTIONS_BY_ID[binding_id].default_keys == keys
    assert ACTIONS_BY_ID["app.kill_switch"].priority
    assert ACTIONS_BY_ID["order.buy"].action == "buy"
    # The existing widgets' actions: the quote board and the depth ladder move with cursor(n).
    assert ACTIONS_BY_ID["watchlist.up"].action == "cursor(-1)"
    assert ACTIONS_BY_ID["ladder.select"].action == "select_level"


def test_unknown_group_names_the_groups() -> None:
    with pytest.raises(KeyError, match=r"unknown keymap group 'Order'.*Orders"):
        actions_in("Order")


def test_default_toml_lists_every_id_with_the_registry_keys() -> None:
    text = resources.files("keymaps").joinpath("default.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data.pop("meta")
    flat = flatten_bindings_table(data, "default.toml")
    assert flat == {spec.id: spec.default_keys for spec in ACTIONS}


def test_shipped_keymaps_have_no_clashes() -> None:
    assert default_keymap().clashes == ()
    assert load_keymap("default", {}).clashes == ()
    assert load_keymap("vim", {}).clashes == ()


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", range(0x21, 0x7F))
def test_single_characters_are_named_as_textual_names_them(code: int) -> None:
    character = chr(code)
    if character == ",":
        assert canonical_key(character) == "comma"
        return
    assert canonical_key(character) == _character_to_key(character)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("?", "question_mark"), ("question_mark", "question_mark"), ("solidus", "slash"),
        ("shift+x", "X"), ("X", "X"), ("F2", "f2"), ("shift+ctrl+up", "ctrl+shift+up"),
        ("Ctrl+k", "ctrl+k"), ("colon", "colon"), (":", "colon"), ("+", "plus"),
        ("latin_small_letter_a", "a"), ("shift+tab", "shift+tab"), ("alt+shift+x", "alt+shift+x"),
        ("pageup", "pageup"), ("space", "space"),
    ],
)
def test_keys_are_written_in_textual_long_form(written: str, canonical: str) -> None:
    assert canonical_key(written) == canonical


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("ctrl++", "ends with '+'; for the + key write plus"),
        ("page_up", "unknown key 'page_up' (did you mean 'pageup'?)"),
        ("return", "did you mean 'enter'?"),
        ("esc", "did you mean 'escape'?"),
        ("cmd+k", "unknown modifier 'cmd' (did you mean 'super'?)"),
        ("ctrl+i", "most terminals send it as tab"),
        ("ctrl+m", "send it as enter"),
        ("ctrl+X", "write the letter in lower case: ctrl+x (or ctrl+shift+x to need shift"),
        ("shift+X", "write the capital letter alone (X)"),
        ("shift+1", "terminals send the character shift+1 types"),
        ("ctrl+ctrl+a", "repeats the modifier 'ctrl'"),
        ("+x", "empty modifier"),
        ("bogus", "unknown key 'bogus'"),
    ],
)
def test_malformed_keys_say_what_is_wrong(written: str, message: str) -> None:
    with pytest.raises(KeySyntaxError) as caught:
        canonical_key(written)
    assert message in str(caught.value)


def test_parse_keys_splits_trims_dedupes_and_unbinds() -> None:
    assert parse_keys(" q , ctrl+c,q,? ") == ("q", "ctrl+c", "question_mark")
    assert parse_keys("") == ()
    with pytest.raises(KeySyntaxError, match='blank keys; use "" to unbind'):
        parse_keys("   ")
    with pytest.raises(KeySyntaxError, match=r"empty key between commas.*write comma"):
        parse_keys("b,,s")


_BASES = st.sampled_from(sorted(NAMED_KEYS) + list("abcxyz019") + ["slash", "colon"])


@settings(max_examples=200, deadline=None)
@given(base=_BASES, modifiers=st.lists(st.sampled_from(MODIFIERS), unique=True, max_size=3),
       data=st.data())
def test_canonical_keys_ignore_modifier_order_and_are_fixed_points(
    base: str, modifiers: list[str], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(modifiers))
    written, rewritten = "+".join([*modifiers, base]), "+".join([*shuffled, base])
    try:
        canonical = canonical_key(written)
    except KeySyntaxError as first:
        with pytest.raises(KeySyntaxError) as second:
            canonical_key(rewritten)
        assert type(second.value) is type(first)
        return
    assert canonical_key(rewritten) == canonical
    assert canonical_key(canonical) == canonical


def test_key_display_matches_textuals_footer_style() -> None:
    assert key_display("ctrl+k") == "^k"
    assert key_display("question_mark") == "?"
    assert key_display("right_square_bracket") == "]"
    assert key_display(unbound_key("order.gtt")) == "unbound"


# -- layering ---------------------------------------------------------------------------------


def test_default_keymap_is_the_registry() -> None:
    keymap = load_keymap("default", {})
    assert keymap.chain == ("default",)
    assert keymap.keys == default_keymap().keys
    assert keymap.keys_for("order.buy") == ("b", "ctrl+b")
    assert keymap.origins["order.buy"] == "keymap default"
    assert keymap.overridden() == {}


def test_vim_extends_default_and_overrides_only_what_differs() -> None:
    keymap = load_keymap("vim", {})
    assert keymap.chain == ("default", "vim")
    assert keymap.keys_for("watchlist.up") == ("k", "up")
    assert keymap.keys_for("watchlist.down") == ("j", "down")
    assert keymap.keys_for("app.command_bar") == ("colon", "ctrl+p")
    assert keymap.keys_for("app.search") == ("slash", "ctrl+f")
    assert keymap.keys_for("app.quit") == ("q", "ctrl+c")
    assert keymap.origins["app.quit"] == "keymap default"
    assert keymap.origins["watchlist.up"] == "keymap vim"
    assert "order.buy" not in keymap.overridden()


def test_user_override_wins_and_empty_string_unbinds() -> None:
    keymap = load_keymap("vim", {"watchlist.up": "w", "order.gtt": "", "order.buy": "F2"})
    assert keymap.keys_for("watchlist.up") == ("w",)
    assert keymap.keys_for("order.buy") == ("f2",)
    assert keymap.keys_for("order.gtt") == ()
    assert not keymap.is_bound("order.gtt")
    assert keymap.from_user("order.buy") and not keymap.from_user("order.sell")
    assert keymap.origins["order.gtt"] == "config.toml [keymap]"
    assert keymap.overridden() == {
        **load_keymap("vim", {}).overridden(),
        "watchlist.up": ("w",), "order.gtt": (), "order.buy": ("f2",),
    }


def test_user_overrides_may_be_nested_tables() -> None:
    keymap = load_keymap("default", {"order": {"buy": "f2"}})
    assert keymap.keys_for("order.buy") == ("f2",)


def test_user_keymap_files_extend_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        '[meta]\nextends = "vim"\ndescription = "mine"\n[order]\nbuy = "f2"\n', encoding="utf-8"
    )
    assert available_keymaps([tmp_path]) == ["default", "mine", "vim"]
    keymap = load_keymap("mine", {"order.sell": "f3"}, user_dirs=[tmp_path])
    assert keymap.chain == ("default", "vim", "mine")
    assert keymap.description == "mine"
    assert keymap.keys_for("order.buy") == ("f2",)
    assert keymap.keys_for("order.sell") == ("f3",)
    assert keymap.keys_for("watchlist.up") == ("k", "up")


def test_a_user_file_may_shadow_and_extend_the_shipped_keymap_of_its_name(tmp_path: Path) -> None:
    (tmp_path / "vim.toml").write_text(
        '[meta]\nextends = "vim"\n[watchlist]\nup = "i"\n', encoding="utf-8"
    )
    keymap = load_keymap("vim", {}, user_dirs=[tmp_path])
    assert keymap.chain == ("default", "vim", "vim")
    assert keymap.keys_for("watchlist.up") == ("i",)
    assert keymap.keys_for("watchlist.down") == ("j", "down")


def test_quoted_dotted_ids_work_in_keymap_files(tmp_path: Path) -> None:
    (tmp_path / "q.toml").write_text('"order.buy" = "f4"\n', encoding="utf-8")
    assert load_keymap("q", {}, user_dirs=[tmp_path]).keys_for("order.buy") == ("f4",)


# -- errors -----------------------------------------------------------------------------------


def test_unknown_keymap_lists_the_available_ones() -> None:
    with pytest.raises(UnknownKeymapError) as caught:
        load_keymap("vin", {})
    assert str(caught.value).startswith(
        "unknown keymap 'vin' (did you mean 'vim'?); available keymaps: default, vim"
    )


def test_unknown_id_in_config_suggests_the_closest() -> None:
    with pytest.raises(UnknownBindingIdError) as caught:
        load_keymap("default", {"order.buyy": "f2"})
    assert str(caught.value) == (
        "config.toml [keymap]: unknown binding id 'order.buyy' (did you mean 'order.buy'?); "
        "the ids are listed in keymaps/default.toml"
    )


def test_a_bare_action_name_suggests_its_full_id() -> None:
    with pytest.raises(UnknownBindingIdError, match=re.escape("'buy' (did you mean 'order.buy'?)")):
        load_keymap("default", {"buy": "f1"})
    with pytest.raises(UnknownBindingIdError) as caught:
        load_keymap("default", {"up": "w"})
    assert "did you mean one of watchlist.up, ladder.up, blotter.up?" in str(caught.value)


def test_unknown_id_in_a_keymap_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[watchlist]\ndepht = "d"\n', encoding="utf-8")
    with pytest.raises(UnknownBindingIdError) as caught:
        load_keymap("mine", {}, user_dirs=[tmp_path])
    message = str(caught.value)
    assert f"keymap 'mine' ({path})" in message
    assert "unknown binding id 'watchlist.depht' (did you mean 'watchlist.depth'?)" in message


def test_bad_key_in_config_names_the_id_and_the_fix() -> None:
    with pytest.raises(KeySyntaxError) as caught:
        load_keymap("default", {"order.buy": "ctrl++"})
    assert str(caught.value) == (
        "config.toml [keymap]: order.buy = 'ctrl++': 'ctrl++' ends with '+'; for the + key "
        "write plus (e.g. ctrl+plus)"
    )


def test_bad_key_in_a_keymap_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[order]\nbuy = "ctlr+b"\n', encoding="utf-8")
    with pytest.raises(KeySyntaxError) as caught:
        load_keymap("mine", {}, user_dirs=[tmp_path])
    assert str(caught.value) == (
        f"keymap 'mine' ({path}): order.buy = 'ctlr+b': 'ctlr+b': unknown modifier 'ctlr' "
        "(did you mean 'ctrl'?); the modifiers are alt, ctrl, hyper, meta, shift, super"
    )


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(KeySyntaxError, match=r'order.buy must be a string of keys like "b,ctrl'):
        load_keymap("default", {"order.buy": 5})


def test_required_actions_cannot_be_unbound() -> None:
    with pytest.raises(KeymapError) as caught:
        load_keymap("default", {"app.kill_switch": ""})
    assert "app.kill_switch (Kill switch: cancel all, block new orders) cannot be unbound" in str(
        caught.value
    )
    assert load_keymap("default", {"app.kill_switch": "f12"}).keys_for("app.kill_switch") == (
        "f12",
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": '[meta]\nextends = "b"\n', "b": '[meta]\nextends = "a"\n'},
         "keymap 'a': extends loops (a -> b -> a); break the cycle"),
        ({"a": '[meta]\nextends = "defualt"\n'},
         "extends unknown keymap 'defualt' (did you mean 'default'?)"),
        ({"a": '[meta]\nname = "b"\n'}, "[meta] name is 'b' but the file is a.toml"),
        ({"a": '[meta]\nextend = "vim"\n'},
         "unknown [meta] field 'extend' (did you mean 'extends'?)"),
        ({"a": '[meta]\nextends = 3\n'}, "[meta] extends must be a string, got 3"),
        ({"a": "meta = 1\n"}, "meta must be a table"),
        ({"a": "[order\n"}, "not valid TOML"),
        ({"a": '"order.buy" = "f2"\n[order]\nbuy = "f3"\n'}, "binding 'order.buy' is set twice"),
    ],
)
def test_malformed_keymap_files(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    with pytest.raises(KeymapError) as caught:
        load_keymap("a", {}, user_dirs=[tmp_path])
    assert message in str(caught.value)


def test_keys_for_an_unknown_id_suggests() -> None:
    with pytest.raises(UnknownBindingIdError, match=re.escape("did you mean 'app.quit'")):
        load_keymap("default", {}).keys_for("app.quti")


# -- clashes ----------------------------------------------------------------------------------


def clash_keys(overrides: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {clash.key: clash.ids for clash in load_keymap("default", overrides).clashes}


def test_same_group_clashes() -> None:
    assert clash_keys({"order.sell": "b"}) == {"b": ("order.buy", "order.sell")}


def test_global_keys_clash_with_pane_keys() -> None:
    assert clash_keys({"watchlist.depth": "b"}) == {"b": ("order.buy", "watchlist.depth")}


def test_panes_may_reuse_keys() -> None:
    assert clash_keys({"chart.overlay_cycle": "d"}) == {}
    assert clash_keys({"blotter.up": "k", "watchlist.up": "k", "ladder.up": "k"}) == {}


def test_modal_keys_only_clash_with_their_group_and_priority_keys() -> None:
    assert clash_keys({"ticket.toggle_side": "ctrl+t"}) == {}
    assert clash_keys({"help.close": "escape,b"}) == {}
    assert clash_keys({"help.close": "ctrl+k"}) == {"ctrl+k": ("app.kill_switch", "help.close")}
    assert clash_keys({"ticket.toggle_side": "ctrl+r"}) == {
        "ctrl+r": ("ticket.submit_review", "ticket.toggle_side")
    }


def test_keys_textual_owns_are_reported() -> None:
    assert clash_keys({"watchlist.next_list": "tab"}) == {
        "tab": ("watchlist.next_list", "textual.focus_next")
    }
    assert clash_keys({"order.buy": "ctrl+q"}) == {"ctrl+q": ("order.buy", "textual.quit")}
    assert clash_keys({"app.quit": "q,ctrl+q"}) == {}
    assert clash_keys({"app.quit": "q", "chart.overlay_cycle": "ctrl+c"}) == {
        "ctrl+c": ("chart.overlay_cycle", "textual.copy")
    }


def test_ticket_keys_must_avoid_what_a_text_field_takes() -> None:
    assert clash_keys({"ticket.toggle_side": "ctrl+a"}) == {
        "ctrl+a": ("ticket.toggle_side", "textual.text_field")
    }
    assert clash_keys({"ticket.submit_review": "r"}) == {
        "r": ("ticket.submit_review", "textual.text_field")
    }


def test_clash_message_and_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cockpit.keymap"):
        keymap = load_keymap("default", {"order.sell": "b"})
    (clash,) = keymap.clashes
    assert clash == KeymapClash("b", ("order.buy", "order.sell"))
    assert clash.message == (
        "key b (b) is bound to order.buy (Buy ticket, Orders) and order.sell (Sell ticket, Orders)"
    )
    assert f"keymap clash: {clash.message}" in caplog.text


def test_clashes_from_textual_drop_a_binding_clashing_with_itself() -> None:
    buy = Binding("f2", "buy", id="order.buy")
    assert clashes_from_textual([buy, Binding("f2", "buy", id="order.buy")]) == []
    sell = Binding("f2", "sell", id="order.sell")
    palette = Binding("f2", "command_palette")
    assert clashes_from_textual([buy, sell, palette]) == [
        KeymapClash("f2", ("order.buy", "order.sell", "textual.command_palette"))
    ]


# -- Textual wiring ---------------------------------------------------------------------------


def test_for_textual_lists_every_id_and_moves_unbound_ones_out_of_reach() -> None:
    mapping = load_keymap("default", {"order.gtt": ""}).for_textual()
    assert set(mapping) == set(ACTIONS_BY_ID)
    assert mapping["order.buy"] == "b,ctrl+b"
    assert mapping["app.help"] == "question_mark"
    assert mapping["orders.cancel_all"] == "X"
    assert mapping["order.gtt"] == "unbound:order.gtt"
    assert is_unbound_key(mapping["order.gtt"]) and not is_unbound_key("b")


def test_bindings_for_builds_textual_bindings_with_ids() -> None:
    keymap = load_keymap("default", {"order.gtt": "", "order.buy": "f2"})
    bindings = keymap.bindings_for("Orders")
    assert [(b.key, b.action, b.id) for b in bindings] == [
        ("f2", "buy", "order.buy"),
        ("s,ctrl+s", "sell", "order.sell"),
        ("o", "bracket", "order.bracket"),
    ]
    (kill,) = [b for b in load_keymap("default", {}).bindings_for("Global")
               if b.id == "app.kill_switch"]
    assert kill.priority and kill.key == "ctrl+k" and kill.description.startswith("Kill switch")
    assert [b.id for b in default_bindings("Ladder")] == ["ladder.up", "ladder.down",
                                                          "ladder.select"]
    with pytest.raises(KeymapError, match="unknown keymap group 'Bogus'"):
        keymap.bindings_for("Bogus")


class Board(Widget, can_focus=True):
    """A pane with the registry's watchlist bindings."""

    BINDINGS: ClassVar[list[BindingType]] = list(default_bindings("Watchlist"))

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[int] = []

    def action_cursor(self, delta: int) -> None:
        self.moves.append(delta)


class TradeApp(App[None]):
    """A tiny app: registry-default bindings, then the user's keymap applied by id."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *load_keymap("default", {}).bindings_for("Orders"),
        *default_bindings("Global"),
    ]

    def __init__(self, keymap: ResolvedKeymap, *, with_input: bool = False) -> None:
        super().__init__()
        self.keymap = keymap
        self.with_input = with_input
        self.ran: list[str] = []
        self.textual_clashes: list[Binding] = []

    def compose(self) -> ComposeResult:
        if self.with_input:
            yield Input(id="field")
        yield Board()

    def on_mount(self) -> None:
        self.set_keymap(self.keymap.for_textual())

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        self.textual_clashes.extend(clashed_bindings)

    def action_buy(self) -> None:
        self.ran.append("buy")

    def action_sell(self) -> None:
        self.ran.append("sell")

    def action_gtt(self) -> None:
        self.ran.append("gtt")

    def action_kill_switch(self) -> None:
        self.ran.append("kill")


async def test_a_user_override_moves_the_key_in_a_running_app() -> None:
    keymap = load_keymap("default", {"order.buy": "f2", "order.gtt": "", "watchlist.down": "j"})
    app = TradeApp(keymap)
    async with app.run_test() as pilot:
        board = app.query_one(Board)
        board.focus()
        await pilot.press("b", "ctrl+b", "g")
        await pilot.pause()
        assert app.ran == []
        await pilot.press("f2", "s")
        await pilot.pause()
        assert app.ran == ["buy", "sell"]
        await pilot.press("down", "j", "up")
        await pilot.pause()
        assert board.moves == [1, -1]
        shown = {binding.binding.id: key for key, binding in app.screen.active_bindings.items()}
        assert shown["order.buy"] == "f2"
        assert shown["order.gtt"] == unbound_key("order.gtt")
    # Textual reports buy (two keys moved to one) as clashing with itself; nothing real.
    assert clashes_from_textual(app.textual_clashes) == []


async def test_single_letters_never_fire_in_a_text_field_but_ctrl_keys_do() -> None:
    app = TradeApp(load_keymap("default", {}), with_input=True)
    async with app.run_test() as pilot:
        field = app.query_one(Input)
        field.focus()
        await pilot.press("b", "s", "g")
        await pilot.pause()
        assert field.value == "bsg"
        assert app.ran == []
        await pilot.press("ctrl+b", "ctrl+k")
        await pilot.pause()
        assert app.ran == ["buy", "kill"]
