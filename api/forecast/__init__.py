"""Fill forecast: when each bin reaches its estate's fill alarm threshold (#16)."""
