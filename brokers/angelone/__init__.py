"""Angel One SmartAPI adapter: feed decoder, instrument master (REST and websockets come later)."""
