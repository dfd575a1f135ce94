"""The registry of every keyboard action of the cockpit, each with a stable binding id.

An :class:`ActionSpec` names one action once: its binding id (``order.buy``), what it does, the
help-screen group it belongs to, the Textual action string the widget or app implements
(``buy`` -> ``action_buy``) and its default keys in Textual notation. Keymap files and the user's
``[keymap]`` table refer to actions only by these ids, so an id never changes meaning.

Scopes (where a key is live, which decides what counts as a clash):

* ``GLOBAL``: bound on the app or the main screen (groups Global, Orders, Tabs). Live on the main
  screen whatever has focus, so a global key clashes with every other global key and with every
  pane key (the focused pane would shadow it).
* ``PANE``: bound on one pane widget (Watchlist, Ladder, Chart, Blotter). Live only while that
  pane has focus; two panes may reuse a key.
* ``MODAL``: bound on a modal screen (Ticket, Help). Textual stops at a modal screen, so app keys
  are not live there and a modal key clashes only with keys of its own group.
* ``priority`` actions (kill switch, command bar) run before any widget sees the key, even in a
  modal or a text field, so their keys clash with everything.

Keys every terminal delivers differently, and why the defaults are what they are:

* Single letters (``b``, ``s``, ``q``) never fire while a text field has focus: Textual hands
  printable keys to the field first. ``ctrl+b``/``ctrl+s`` are the buy/sell keys that also work
  while typing in a text field.
* ``ctrl+s`` reaches the app: Textual turns off XON/XOFF flow control (``stty -ixon``) while it
  runs. ``ctrl+b`` is tmux's default prefix, so inside tmux it never reaches the cockpit; ``b``
  still works, or remap. VS Code's built-in terminal may keep ``ctrl+p``/``ctrl+b`` for the editor.
* ``ctrl+c`` quits through the app's quit action (which asks first while orders are open) unless
  text is selected, when it copies. ``ctrl+q`` is Textual's own quit key: always live, not
  remappable, and it runs the same quit action.
* ``ctrl+k`` (kill switch) has priority, so in a text field it wins over the field's
  "delete to end of line".
* ``ctrl+i``, ``ctrl+m``, ``ctrl+h`` and ``ctrl+[`` arrive as tab, enter, backspace and escape in
  most terminals, so the loader refuses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Scope(StrEnum):
    """Where the keys of a group are live (see the module docstring)."""

    GLOBAL = "global"
    PANE = "pane"
    MODAL = "modal"


@dataclass(frozen=True, slots=True)
class Group:
    """A help-screen section; its scope decides which keys may clash.

    ``text_fields`` marks a group whose screen is a form of text fields (the order ticket): its
    keys must avoid the keys a focused text field takes for itself.
    """

    name: str
    scope: Scope
    description: str
    text_fields: bool = False


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One keyboard action: a stable binding id, its Textual action and its default keys.

    ``default_keys`` is comma-separated Textual notation (``"b,ctrl+b"``), ``""`` for no key.
    ``action`` is the Textual action string bound to the keys (``"buy"`` runs ``action_buy`` on
    the node that holds the binding; ``"cursor(-1)"`` passes an argument). ``priority`` bindings
    run before the focused widget sees the key. ``required`` actions cannot be unbound (they can
    be moved to another key). ``show`` puts the action in the footer.
    """

    id: str
    description: str
    group: str
    default_keys: str
    action: str
    priority: bool = False
    required: bool = False
    show: bool = True


GROUPS: tuple[Group, ...] = (
    Group("Global", Scope.GLOBAL, "Work everywhere on the main screen"),
    Group("Orders", Scope.GLOBAL, "Order entry for the focused instrument"),
    Group("Tabs", Scope.GLOBAL, "The positions / orders / trades / GTT / brackets tabs"),
    Group("Watchlist", Scope.PANE, "When the watchlist has focus"),
    Group("Ladder", Scope.PANE, "When the depth ladder has focus"),
    Group("Chart", Scope.PANE, "When the chart has focus"),
    Group("Blotter", Scope.PANE, "When the positions or orders table has focus"),
    Group("Ticket", Scope.MODAL, "In the order ticket", text_fields=True),
    Group("Help", Scope.MODAL, "In this help screen"),
)
"""Every group, in help-screen order."""

GROUPS_BY_NAME: Mapping[str, Group] = MappingProxyType({group.name: group for group in GROUPS})
"""Groups by name."""


def _spec(
    binding_id: str,
    description: str,
    group: str,
    default_keys: str,
    action: str,
    *,
    priority: bool = False,
    required: bool = False,
    show: bool = True,
) -> ActionSpec:
    return ActionSpec(
        id=binding_id,
        description=description,
        group=group,
        default_keys=default_keys,
        action=action,
        priority=priority,
        required=required,
        show=show,
    )


ACTIONS: tuple[ActionSpec, ...] = (
    # Global: bound on the app.
    _spec("app.quit", "Quit (asks first while orders are open)", "Global", "q,ctrl+c", "quit"),
    _spec("app.help", "Keys (this help)", "Global", "question_mark", "help"),
    _spec("app.command_bar", "Command bar", "Global", "ctrl+p", "command_palette",
          priority=True),
    _spec("app.search", "Find an instrument", "Global", "slash,ctrl+f", "search"),
    _spec("app.next_theme", "Next theme", "Global", "ctrl+t", "next_theme", show=False),
    _spec("app.kill_switch", "Kill switch: cancel all, block new orders", "Global", "ctrl+k",
          "kill_switch", priority=True, required=True),
    _spec("app.alerts", "Price alerts", "Global", "a", "alerts"),
    # Orders: bound on the main screen, act on the focused instrument (Kite: B/S on the row).
    _spec("order.buy", "Buy ticket", "Orders", "b,ctrl+b", "buy"),
    _spec("order.sell", "Sell ticket", "Orders", "s,ctrl+s", "sell"),
    _spec("order.gtt", "GTT ticket (single or OCO)", "Orders", "g", "gtt"),
    _spec("order.bracket", "Bracket ticket (entry + stop + target)", "Orders", "o", "bracket"),
    # Tabs: bound on the main screen.
    _spec("tabs.positions", "Positions tab", "Tabs", "1", "show_tab('positions')", show=False),
    _spec("tabs.orders", "Orders tab", "Tabs", "2", "show_tab('orders')", show=False),
    _spec("tabs.trades", "Trades tab", "Tabs", "3", "show_tab('trades')", show=False),
    _spec("tabs.gtt", "GTT tab", "Tabs", "4", "show_tab('gtt')", show=False),
    _spec("tabs.brackets", "Brackets tab", "Tabs", "5", "show_tab('brackets')", show=False),
    # Watchlist pane.
    _spec("watchlist.up", "Previous row", "Watchlist", "up", "cursor(-1)", show=False),
    _spec("watchlist.down", "Next row", "Watchlist", "down", "cursor(1)", show=False),
    _spec("watchlist.page_up", "Page up", "Watchlist", "pageup", "cursor(-10)", show=False),
    _spec("watchlist.page_down", "Page down", "Watchlist", "pagedown", "cursor(10)",
          show=False),
    _spec("watchlist.depth", "Market depth of the row", "Watchlist", "d", "depth"),
    _spec("watchlist.next_list", "Next watchlist", "Watchlist", "right", "next_list",
          show=False),
    _spec("watchlist.prev_list", "Previous watchlist", "Watchlist", "left", "prev_list",
          show=False),
    _spec("watchlist.add", "Add an instrument", "Watchlist", "plus", "add_instrument"),
    _spec("watchlist.remove", "Remove the row", "Watchlist", "minus,delete",
          "remove_instrument"),
    # Depth ladder pane.
    _spec("ladder.up", "Level up", "Ladder", "up", "cursor(-1)", show=False),
    _spec("ladder.down", "Level down", "Ladder", "down", "cursor(1)", show=False),
    _spec("ladder.select", "Ticket at this level", "Ladder", "enter", "select_level"),
    # Chart pane.
    _spec("chart.interval_next", "Longer interval", "Chart", "right_square_bracket",
          "interval_next"),
    _spec("chart.interval_prev", "Shorter interval", "Chart", "left_square_bracket",
          "interval_prev"),
    _spec("chart.overlay_cycle", "Cycle overlays", "Chart", "i", "overlay_cycle"),
    # Blotter: the positions / orders tables.
    _spec("blotter.up", "Previous row", "Blotter", "up", "cursor(-1)", show=False),
    _spec("blotter.down", "Next row", "Blotter", "down", "cursor(1)", show=False),
    _spec("orders.modify", "Modify the order", "Blotter", "m", "modify_order"),
    _spec("orders.cancel", "Cancel the order", "Blotter", "x", "cancel_order"),
    _spec("orders.cancel_all", "Cancel all open orders", "Blotter", "X", "cancel_all_orders"),
    _spec("positions.exit", "Exit the position", "Blotter", "e", "exit_position"),
    # Order ticket (modal form of text fields).
    _spec("ticket.submit_review", "Review the order (then confirm)", "Ticket", "ctrl+r",
          "submit_review"),
    _spec("ticket.toggle_side", "Switch buy / sell", "Ticket", "ctrl+o", "toggle_side"),
    _spec("ticket.close", "Close the ticket", "Ticket", "escape", "close", required=True),
    # Help screen.
    _spec("help.close", "Close help", "Help", "escape,question_mark,q", "close",
          required=True),
)
"""Every action, grouped in help-screen order."""

ACTIONS_BY_ID: Mapping[str, ActionSpec] = MappingProxyType({spec.id: spec for spec in ACTIONS})
"""Actions by binding id."""


def actions_in(group: str) -> tuple[ActionSpec, ...]:
    """The actions of one group, in registry order. Raises ``KeyError`` for an unknown group."""
    if group not in GROUPS_BY_NAME:
        known = ", ".join(GROUPS_BY_NAME)
        raise KeyError(f"unknown keymap group {group!r}; the groups are: {known}")
    return tuple(spec for spec in ACTIONS if spec.group == group)
