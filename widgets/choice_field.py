"""A one-line choice among a few words (order type, product, validity), changed with left/right.

Faster by keyboard than a drop-down: the choices are all visible, the chosen one is highlighted,
left/right (or the first letter of a choice) picks another at once and posts
:class:`ChoiceField.Changed`. Its keys are the field's own editing keys, like an input's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget


class ChoiceField(Widget, can_focus=True):
    """Pick one of ``choices``; ``value`` is the chosen word."""

    DEFAULT_CSS = """
    ChoiceField { height: 1; width: 1fr; background: $surface; }
    ChoiceField:focus { background: $boost; }
    ChoiceField:disabled { color: $text-disabled; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("right", "step(1)", "Next", show=False),
    ]

    class Changed(Message):
        """The choice changed."""

        def __init__(self, field: ChoiceField, value: str) -> None:
            super().__init__()
            self.field = field
            self.value = value

        @property
        def control(self) -> ChoiceField:
            """The field that changed."""
            return self.field

    def __init__(
        self,
        choices: Sequence[str],
        value: str | None = None,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        if not choices:
            raise ValueError("a ChoiceField needs at least one choice")
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._choices = tuple(choices)
        if value is not None and value not in self._choices:
            raise ValueError(f"{value!r} is not one of {', '.join(self._choices)}")
        self._value = value if value is not None else self._choices[0]

    @property
    def choices(self) -> tuple[str, ...]:
        """The words to choose from."""
        return self._choices

    @property
    def value(self) -> str:
        """The chosen word."""
        return self._value

    @value.setter
    def value(self, value: str) -> None:
        if value not in self._choices:
            raise ValueError(f"{value!r} is not one of {', '.join(self._choices)}")
        if value != self._value:
            self._value = value
            self.refresh()
            self.post_message(self.Changed(self, value))

    def action_step(self, delta: int) -> None:
        """Choose the previous / next word."""
        index = self._choices.index(self._value)
        self.value = self._choices[(index + delta) % len(self._choices)]

    def on_key(self, event: events.Key) -> None:
        """A letter picks the first choice that starts with it."""
        character = event.character
        if character is None or not character.isalpha():
            return
        for choice in self._choices:
            if choice.lower().startswith(character.lower()):
                self.value = choice
                event.stop()
                event.prevent_default()
                return

    def render(self) -> Text:
        """The choices, the chosen one in reverse."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for choice in self._choices:
            if choice == self._value:
                text.append(f" {choice} ", style="bold reverse")
            else:
                text.append(f" {choice} ")
            text.append(" ")
        return text
