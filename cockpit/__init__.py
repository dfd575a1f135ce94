"""The Cockpit application: CLI, config, the Textual app, screens and session wiring."""

__version__ = "0.1.0"
