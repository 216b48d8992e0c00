"""Entry point: ``python -m services.book``."""

from __future__ import annotations

import gc
import sys

from services.book.service import GC_THRESHOLD, BookService
from services.common.errors import ConfigError
from services.common.log import get_logger
from services.common.runtime import boot, stop_event_on_signals


def main() -> int:
    settings = boot("book")
    if settings is None:
        return 2
    stop = stop_event_on_signals()
    try:
        service = BookService(settings)
    except ConfigError as exc:
        get_logger("book").error("refusing to start", reason=exc.message)
        return 2
    # Each decoded bus message allocates ~30-60 GC-tracked containers that die within a batch:
    # a large young generation lets them die before a collection, and freezing the start-up
    # objects keeps them out of every later collection.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        service.run(stop)
    except Exception:
        get_logger("book").exception("book crashed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
