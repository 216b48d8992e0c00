"""Process lifecycle: run a service until SIGTERM/SIGINT, then stop it within a deadline.

Async services pass ``main(stop)``: a coroutine function that runs until the ``asyncio.Event``
``stop`` is set and then cleans up. If it has not returned ``grace`` seconds after the signal,
it is cancelled; a second signal cancels at once. Sync services (a poll loop) use
:func:`stop_event_on_signals`, which returns a ``threading.Event`` set on the first signal.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Awaitable, Callable

from services.common.config import Settings, load_settings
from services.common.errors import ConfigError
from services.common.log import configure_logging, get_logger

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def _supervise(main: Callable[[asyncio.Event], Awaitable[None]], grace: float) -> int:
    log = get_logger("runtime")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.ensure_future(main(stop))
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            stop.set()
            loop.call_later(grace, _force)
            _log_quietly("stopping", signal=signal.Signals(signum).name, grace_s=grace)
        else:
            _force()

    def _force() -> None:
        if not task.done():
            task.cancel()
            _log_quietly("stop deadline passed, cancelling")

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await task
    except asyncio.CancelledError:
        return 0 if stop.is_set() else 1
    except Exception:
        log.exception("service crashed")
        return 1
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return 0


def boot(service: str) -> Settings | None:
    """Load the settings and configure logging for ``service`` (the start of every ``__main__``).

    On a configuration error print one line, ``<service>: configuration error: ...``, on stderr
    and return None: the caller exits with status 2.
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"{service}: configuration error: {exc.message}", file=sys.stderr)
        return None
    configure_logging(service, settings.log_level, settings.log_format)
    return settings


def _log_quietly(event: str, **fields: object) -> None:
    # A signal handler must never fail to stop the service because logging failed (e.g. stderr
    # is a closed pipe): the stop comes first, the log line is best effort.
    try:
        get_logger("runtime").info(event, **fields)
    except (OSError, ValueError):
        pass


def run(main: Callable[[asyncio.Event], Awaitable[None]], *, grace: float = 5.0) -> int:
    """Run ``main(stop)`` on a fresh event loop; return the process exit code."""
    return asyncio.run(_supervise(main, grace))


def stop_event_on_signals() -> threading.Event:
    """Install SIGTERM/SIGINT handlers (main thread only) that set the returned event.

    A second signal raises ``KeyboardInterrupt`` so a stuck loop still exits.
    """
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        _log_quietly("stopping", signal=signal.Signals(signum).name)

    for sig in _SIGNALS:
        signal.signal(sig, handler)
    return stop
