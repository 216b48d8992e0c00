"""Pure core of the book service: the L2 book, the per-symbol sync state machine and the
query handler. No sockets, no clocks, no environment."""
