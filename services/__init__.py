"""tickwire: Bybit v5 market data and order execution as small services over ZeroMQ.

Each subpackage is one service (``python -m services.<name>``) except ``common``,
the only code shared between them. Services never import each other.
"""
