"""One module per schema revision; the newest is head."""
