"""The executor's I/O: intent puller, REST client, private WebSocket, journal, reports, book prices."""
