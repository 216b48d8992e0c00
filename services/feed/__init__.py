"""The feed service: Bybit v5 public WebSocket streams -> normalised messages on a ZMQ PUB socket."""
