"""Pure core of the feed: exchange schemas, normalisation and session logic (no I/O, no clock)."""
