"""The executor: order intents from ZMQ PULL -> validated, journaled, signed Bybit v5 REST calls."""
