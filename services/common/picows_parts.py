"""What the two picows listeners share (the feed's public streams, the executor's private stream).

* :func:`quiet_logger` - picows logs through the standard library; the services log every
  disconnect themselves, so its logger is silenced.
* :class:`Fragments` - reassembly of a fragmented WebSocket message within a size limit (picows
  checks each frame against ``max_frame_size``; the total of a fragmented message is checked here).
"""

from __future__ import annotations

import logging

from picows import WSCloseCode, WSFrame, WSMsgType, WSTransport

_CONTINUATION = WSMsgType.CONTINUATION


def quiet_logger(name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.CRITICAL)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


class Fragments:
    """One socket's fragmented message in progress; ``parts`` is None while there is none."""

    __slots__ = ("max_bytes", "oversized", "parts", "size")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: list[bytes] | None = None
        self.size = 0
        #: Set once a message exceeded ``max_bytes`` (the socket is then being closed with 1009).
        self.oversized = False

    def add(self, transport: WSTransport, frame: WSFrame) -> bytes | None:
        """Take a data frame; the message once complete (None before it is, or when dropped).

        A message above ``max_bytes`` closes the socket with 1009 (and sets :attr:`oversized`);
        nothing more is taken after that."""
        if self.oversized:
            return None
        if self.parts is None:
            if frame.msg_type is _CONTINUATION:
                return None  # a continuation without a start: nothing to continue
            self.parts, self.size = [], 0
        elif frame.msg_type is not _CONTINUATION:
            self.parts, self.size = [], 0  # a new message interrupts: keep the new one
        self.parts.append(frame.get_payload_as_bytes())
        self.size += frame.payload_size
        if self.size > self.max_bytes:
            self.parts = None
            self.oversized = True
            transport.send_close(WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
            transport.disconnect()
            return None
        if not frame.fin:
            return None
        raw = b"".join(self.parts)
        self.parts = None
        return raw
