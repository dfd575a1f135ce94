"""Textual themes and CSS for the cockpit."""
