"""tickwire's benchmark suite: ``python -m bench`` (``--quick`` for a CI smoke run).

Every figure is measured together with a baseline in the same run (R1-R4, see
docs/benchmarks.md) and reported as a ratio, because absolute times drift on shared machines.
"""
