"""bybit_sim: a local fake of Bybit v5 (public WebSocket market data, REST, private streams).

Market side (this package): generated or replayed order books, trades and tickers served on
``/v5/public/{spot,linear,inverse}`` exactly as Bybit does, fault injection, and a ``/sim/``
HTTP control API. The trading side (REST orders, private WS, matching) lives in ``trading/``.
Run with ``python -m services.bybit_sim``; see docs/bybit_sim.md.
"""
