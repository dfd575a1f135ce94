"""Display formatting shared by widgets (numbers only; prices use engine.money)."""

from __future__ import annotations


def format_volume(volume: int) -> str:
    """Compact volume: 1,234 / 123.4K / 4.56M / 1.20Cr (Indian crore above 1e7)."""
    if volume >= 10_000_000:
        return f"{volume / 10_000_000:.2f}Cr"
    if volume >= 1_000_000:
        return f"{volume / 1_000_000:.2f}M"
    if volume >= 100_000:
        return f"{volume / 1_000:.1f}K"
    return f"{volume:,}"
