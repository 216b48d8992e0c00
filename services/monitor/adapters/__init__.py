"""Thin I/O edges of the monitor: bus thread, book probe, Prometheus collector, HTTP app."""
