"""Entry point: ``python -m services.bybit_sim`` (settings from TICKWIRE_* variables)."""

from __future__ import annotations

import sys

from services.bybit_sim.app import main
from services.common.config import load_settings
from services.common.errors import ConfigError
from services.common.log import configure_logging
from services.common.runtime import run


def cli() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"bybit_sim: {exc}", file=sys.stderr)
        return 2
    configure_logging("bybit_sim", settings.log_level, settings.log_format)
    return run(lambda stop: main(settings, stop), grace=settings.shutdown_grace)


if __name__ == "__main__":
    sys.exit(cli())
