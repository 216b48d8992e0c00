"""Pure simulator core: instruments, books, market generator, streams, faults (no I/O)."""
