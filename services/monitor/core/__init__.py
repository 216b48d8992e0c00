"""Pure core of the monitor: aggregation from messages and timestamps passed in. No I/O."""
