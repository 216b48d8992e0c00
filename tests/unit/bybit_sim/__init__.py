"""Unit tests of the simulator's market side (services/bybit_sim/core)."""
