"""Pure core of the simulator's trading side: signing checks, rate-limit windows, validation,
order state machine and matching rules. No I/O, no clock reads: callers pass ``now_ms`` in."""
