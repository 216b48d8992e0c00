"""Book service: keeps one L2 order book per (category, symbol) from the feed's bus stream,
answers JSON queries on a ROUTER socket and publishes best bid/offer changes.

See docs/book.md for the query contract, book states and settings.
"""
