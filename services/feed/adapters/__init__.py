"""I/O shell of the feed: WebSocket connections, control endpoint, metrics, raw recorder."""
