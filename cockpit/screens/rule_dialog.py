"""What the GTT and bracket dialogs share: check the fields as you type, review, close, flip side.

A subclass composes its fields (with ``#error`` and ``#side`` widgets, ``#review`` and ``#close``
buttons) and implements :meth:`RuleDialog.validate` and :meth:`RuleDialog.action_submit_review`.
"""

from __future__ import annotations

from abc import abstractmethod

from textual import on
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from widgets.choice_field import ChoiceField


class RuleDialog(ModalScreen[str | None]):
    """Base of the GTT and bracket dialogs; dismisses with the new rule's id, or None."""

    @abstractmethod
    def validate(self) -> bool:
        """Check every field and show the verdict; True when the rule can be reviewed."""

    @abstractmethod
    def action_submit_review(self) -> None:
        """Validate, then open the review screen."""

    def on_choice_changed(self) -> None:
        """A choice field changed (side, kind, ...): adjust the layout before validating."""

    @on(Input.Changed)
    def _edited(self) -> None:
        self.query_one("#error", Static).update("")
        self.validate()

    @on(ChoiceField.Changed)
    def _choice(self) -> None:
        self.on_choice_changed()
        self.validate()

    @on(Input.Submitted)
    @on(Button.Pressed, "#review")
    def _review_pressed(self) -> None:
        self.action_submit_review()

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Close without creating anything."""
        self.dismiss(None)

    def action_toggle_side(self) -> None:
        """Buy <-> sell."""
        field = self.query_one("#side", ChoiceField)
        field.value = "SELL" if field.value == "BUY" else "BUY"
