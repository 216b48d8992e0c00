"""Exception roots shared by all services.

Hierarchy::

    TickwireError
    ├── ConfigError        invalid or unknown configuration (fatal at start)
    ├── WireDecodeError    a bus payload that does not decode to a known message
    └── ProtocolError      bad input from a peer (exchange, user, other service)

Every error carries a stable ``code`` string, used as a metric label and in error replies.
"""

from __future__ import annotations


class TickwireError(Exception):
    """Root of every tickwire exception."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(TickwireError):
    """Configuration is missing, malformed or unknown; the service refuses to start."""

    code = "config"


class WireDecodeError(TickwireError):
    """A bus payload could not be decoded into a known message."""

    code = "wire_decode"


class ProtocolError(TickwireError):
    """A peer sent something that breaks the protocol."""

    code = "protocol"
