"""structlog setup: JSON lines when not on a TTY (containers), readable console otherwise.

Call :func:`configure_logging` once in a service's ``__main__``. Loggers are bound with the
service name; events below the configured level cost almost nothing (filtering bound logger).
Any key whose name looks secret (``*secret*``, ``*api_key*``, ``*password*``, the words ``token``
and ``sign``; also keys of dicts logged as values, e.g. HTTP headers) is masked by a processor,
as a second line of defence behind :class:`~services.common.config.Secret`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
import structlog.tracebacks

#: Masked when they appear anywhere in a key, ignoring case and separators (``apiKey``, ``X-BAPI-API-KEY``).
_SECRET_STEMS = ("secret", "password", "passwd", "passphrase", "apikey", "privatekey", "accesskey", "authkey")
#: Masked only as whole words of a key, because as substrings they are common (``signal``, ``tokens``).
_SECRET_WORDS = frozenset(
    {"sign", "signature", "token", "authorization", "cookie", "credential", "credentials"}
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def is_secret_key(name: str) -> bool:
    """True when a field named ``name`` must never be logged: ``api_secret``, ``X-BAPI-SIGN``,
    ``apiKey``, ``password``, ``curve_secretkey``... but not ``signal``, ``tokens`` or ``key``."""
    words = _NON_ALNUM.split(name.lower())
    compact = "".join(words)
    return any(stem in compact for stem in _SECRET_STEMS) or any(w in _SECRET_WORDS for w in words)


def _mask(value: Any, depth: int) -> Any:
    if depth > 0 and isinstance(value, Mapping):
        return {k: ("***" if is_secret_key(str(k)) and v else _mask(v, depth - 1)) for k, v in value.items()}
    return value


def mask_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace the value of secret-looking keys with ``***``.

    Also applies to keys of dicts logged as values (e.g. HTTP headers), two levels deep.
    """
    for key in list(event):
        value = event[key]
        if is_secret_key(key) and value:
            event[key] = "***"
        elif isinstance(value, Mapping):
            event[key] = _mask(value, 2)
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
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            # Tracebacks without local variables: locals can hold settings, keys or raw frames.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
            if as_json
            else structlog.dev.set_exc_info,
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
