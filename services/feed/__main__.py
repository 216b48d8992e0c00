"""``python -m services.feed``: load settings, configure logging, run the feed until SIGTERM.

A configuration error (e.g. an order-book depth Bybit does not offer) prints one line on stderr
and exits with status 2.
"""

from __future__ import annotations

import sys

from services.common.errors import ConfigError
from services.common.runtime import boot, run
from services.feed import service


def main() -> int:
    settings = boot(service.SERVICE)
    if settings is None:
        return 2
    try:
        service.validate(settings)
    except ConfigError as exc:
        print(f"{service.SERVICE}: configuration error: {exc.message}", file=sys.stderr)
        return 2
    return run(lambda stop: service.main(stop, settings), grace=settings.shutdown_grace)


if __name__ == "__main__":
    sys.exit(main())
