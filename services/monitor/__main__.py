"""Entry point: ``python -m services.monitor``."""

from __future__ import annotations

import sys

from services.common.runtime import boot, run
from services.monitor.service import build


def main() -> int:
    settings = boot("monitor")
    if settings is None:
        return 2
    service = build(settings)
    return run(service.run, grace=settings.shutdown_grace)


if __name__ == "__main__":
    sys.exit(main())
