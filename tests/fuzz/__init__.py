"""Fuzz tests of the three input parsers (feed frames, book queries, executor intents)."""
