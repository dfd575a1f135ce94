"""Keymap files (TOML) and their loader."""
