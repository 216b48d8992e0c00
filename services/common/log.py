"""structlog setup: JSON lines when not on a TTY (containers), readable console otherwise.

Call :func:`configure_logging` once in a service's ``__main__``. Loggers are bound with the
service name; events below the configured level cost almost nothing (filtering bound logger).
Any key whose name looks secret (``secret``, ``api_key``, ``password``, ``token``, ``sign``) is
masked by a processor, as a second line of defence behind :class:`~services.common.config.Secret`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_HINTS = ("secret", "api_key", "apikey", "password", "token", "sign", "private_key")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def mask_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace the value of secret-looking keys with ``***``."""
    for key in list(event):
        lowered = key.lower()
        if any(hint in lowered for hint in _SECRET_HINTS) and event[key]:
            event[key] = "***"
    return event


def configure_logging(service: str, level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog for this process.

    Args:
        service: name bound to every line as ``service``.
        level: ``debug``, ``info``, ``warning`` or ``error``.
        fmt: ``auto`` (JSON unless stderr is a TTY), ``json`` or ``console``.
    """
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            structlog.processors.dict_tracebacks if as_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level.lower(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> Any:
    """Return a structlog logger, optionally bound with ``logger=name``."""
    log = structlog.get_logger()
    return log.bind(logger=name) if name else log
