"""Textual widgets, one per module; each shows one view of the core's state."""
