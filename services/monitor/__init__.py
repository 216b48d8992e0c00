"""monitor: watches the whole bus and says what no single service can see.

Subscribes to the feed's, the book's and the executor's PUB sockets and to every heartbeat;
aggregates end-to-end latency, staleness, rates, bus gaps, book resyncs, order outcomes and
service liveness; probes the book service over REQ; serves it all on ``/metrics`` (Prometheus)
and ``/health`` (JSON) on ``Settings.monitor_port``.
"""
