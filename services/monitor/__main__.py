"""Entry point: ``python -m services.monitor``."""

from __future__ import annotations

import sys

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.common.log import configure_logging
from services.common.runtime import run
from services.monitor.service import build


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 2
    configure_logging("monitor", settings.log_level, settings.log_format)
    service = build(settings)
    return run(service.run, grace=settings.shutdown_grace)


if __name__ == "__main__":
    sys.exit(main())
