"""The in-memory order/risk core: pure Python, no Textual, no network."""
