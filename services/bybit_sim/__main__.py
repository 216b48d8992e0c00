"""Entry point: ``python -m services.bybit_sim`` (settings from TICKWIRE_* variables)."""

from __future__ import annotations

import sys

from services.bybit_sim.app import main
from services.common.runtime import boot, run


def cli() -> int:
    settings = boot("bybit_sim")
    if settings is None:
        return 2
    return run(lambda stop: main(settings, stop), grace=settings.shutdown_grace)


if __name__ == "__main__":
    sys.exit(cli())
