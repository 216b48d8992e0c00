"""``python -m services.feed``: load settings, configure logging, run the feed until SIGTERM.

A configuration error (e.g. an order-book depth Bybit does not offer) prints one line on stderr
and exits with status 2.
"""

from __future__ import annotations

import sys

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.common.log import configure_logging
from services.common.runtime import run
from services.feed import service


def main() -> int:
    try:
        settings = load_settings()
        service.validate(settings)
    except ConfigError as exc:
        print(f"feed: configuration error: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(service.SERVICE, settings.log_level, settings.log_format)
    return run(lambda stop: service.main(stop, settings), grace=settings.shutdown_grace)


if __name__ == "__main__":
    sys.exit(main())
