"""Textual themes for the cockpit: a dark cockpit theme, a light one and a high-contrast one.

Cockpit-specific colours are theme variables (``$up``, ``$down``, ``$bid``, ``$ask``, ``$flash-up``,
``$flash-down``, ``$paper-badge``, ``$live-badge``) so widgets style by meaning, not by hex code.
Every colour is chosen to stay distinct when a 256-colour terminal (SSH without truecolor)
quantises it.
"""

from __future__ import annotations

from textual.theme import Theme

COCKPIT_DARK = Theme(
    name="cockpit-dark",
    primary="#2F80ED",
    secondary="#5DA9E9",
    accent="#FFB020",
    foreground="#D8DEE9",
    background="#0A0F1C",
    surface="#111827",
    panel="#1A2236",
    success="#00FF88",
    warning="#FFB020",
    error="#FF3860",
    dark=True,
    variables={
        "up": "#00FF88",
        "down": "#FF3860",
        "bid": "#00FF88",
        "ask": "#FF3860",
        "flash-up": "#005F3A",
        "flash-down": "#6B0F24",
        "paper-badge": "#FFB020",
        "live-badge": "#FF3860",
        "muted": "#7A8599",
    },
)

COCKPIT_LIGHT = Theme(
    name="cockpit-light",
    primary="#1D4ED8",
    secondary="#2563EB",
    accent="#B45309",
    foreground="#111827",
    background="#F8FAFC",
    surface="#EEF2F7",
    panel="#E2E8F0",
    success="#047857",
    warning="#B45309",
    error="#B91C1C",
    dark=False,
    variables={
        "up": "#047857",
        "down": "#B91C1C",
        "bid": "#047857",
        "ask": "#B91C1C",
        "flash-up": "#BBF7D0",
        "flash-down": "#FECACA",
        "paper-badge": "#B45309",
        "live-badge": "#B91C1C",
        "muted": "#64748B",
    },
)

COCKPIT_HIGH_CONTRAST = Theme(
    name="cockpit-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FFFF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1C1C1C",
    success="#00FF00",
    warning="#FFFF00",
    error="#FF0000",
    dark=True,
    variables={
        "up": "#00FF00",
        "down": "#FF0000",
        "bid": "#00FF00",
        "ask": "#FF0000",
        "flash-up": "#005F00",
        "flash-down": "#870000",
        "paper-badge": "#FFFF00",
        "live-badge": "#FF0000",
        "muted": "#C0C0C0",
    },
)

THEMES: dict[str, Theme] = {
    theme.name: theme for theme in (COCKPIT_DARK, COCKPIT_LIGHT, COCKPIT_HIGH_CONTRAST)
}
"""The cockpit's own themes by name. Textual's built-in themes can be chosen too."""

ALIASES = {
    "dark": "cockpit-dark",
    "light": "cockpit-light",
    "high-contrast": "cockpit-high-contrast",
}


def resolve_theme_name(name: str) -> str:
    """Map a config name (``dark``, ``light``, ``high-contrast`` or a full name) to a theme name."""
    return ALIASES.get(name, name)
