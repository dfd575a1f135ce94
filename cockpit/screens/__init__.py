"""The cockpit's screens: the main trading screen and every dialog (one per module)."""
