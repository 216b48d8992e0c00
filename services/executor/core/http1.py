"""HTTP/1.1 on a kept-alive connection, without I/O: request bytes out, response bytes in.

The executor's order path (:mod:`services.executor.adapters.wire`) writes requests and reads
responses on its own sockets from its poll loop; this module is the protocol part of that, so it
can be tested byte by byte:

* :func:`encode_request` - the exact bytes of one request (``Host``, ``Content-Length`` and the
  given headers; the body is written as given, so the signed bytes are the sent bytes).
* :class:`ResponseParser` - fed whatever the socket returned, in any pieces; returns a
  :class:`Response` once one is complete. Bodies framed by ``Content-Length``, by chunked
  transfer-coding, or (``Connection: close``) by the end of the connection. Anything else it
  cannot frame (a content-coding, an interim ``1xx`` other than ``100``, malformed framing)
  raises :class:`HttpError`: the caller drops the connection and treats the call's outcome as
  unknown, as it does for any broken connection.

Limits: a head above :data:`MAX_HEAD` bytes, a chunk-size line above :data:`MAX_CHUNK_LINE` bytes
or a body above :data:`MAX_BODY` bytes is an error, however the bytes were split (Bybit's replies
are a few KB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
#: Longest chunk-size line (size and extensions), CRLF excluded.
MAX_CHUNK_LINE = 1024


class HttpError(Exception):
    """A response the parser cannot accept (the connection must be dropped)."""


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively (repeated names: the last one)."""

    __slots__ = ("_d",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._d = {k.lower(): v for k, v in items}

    def __getitem__(self, key: str) -> str:
        return self._d[key.lower()]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._d.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Headers({self._d!r})"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Headers
    body: bytes
    #: False when the server closes the connection after this response (or must, for HTTP/1.0).
    keep_alive: bool


def encode_request(
    method: str, host: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None
) -> bytes:
    """One request's bytes. Header names and values must not hold CR or LF (checked)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError("CR/LF in a header")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


_HEX = b"0123456789abcdefABCDEF"

# parser states
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _UNTIL_CLOSE = range(7)


class ResponseParser:
    """Parses one response at a time; :meth:`reset` (or a returned response) starts the next."""

    __slots__ = ("_body", "_buf", "_chunk_left", "_head", "_need", "_state")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = _HEAD
        self._head: tuple[int, Headers, bool] | None = None
        self._need = 0
        self._chunk_left = 0
        self._body = bytearray()

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    @property
    def idle(self) -> bool:
        """Nothing of a response received yet."""
        return self._state == _HEAD and not self._buf

    def feed(self, data: bytes) -> Response | None:
        """Add received bytes; the response once complete.

        Bytes after a complete response stay buffered (:attr:`idle` is then False): a server
        that sends them is not speaking request/response, and the caller drops the connection."""
        self._buf += data
        while True:
            state = self._state
            if state == _HEAD:
                if not self._read_head():
                    return None
            elif state == _BODY:
                if len(self._buf) < self._need:
                    if len(self._buf) > MAX_BODY:
                        raise HttpError("body too large")
                    return None
                self._body += self._buf[: self._need]
                del self._buf[: self._need]
                return self._done()
            elif state == _CHUNK_SIZE:
                end = self._buf.find(b"\r\n")
                # (the same limit whether the line's end came in this piece or not)
                if end > MAX_CHUNK_LINE or (end < 0 and len(self._buf) > MAX_CHUNK_LINE + 1):
                    raise HttpError("chunk size line too long")
                if end < 0:
                    return None
                line = bytes(self._buf[:end]).split(b";", 1)[0].strip()
                del self._buf[: end + 2]
                if not line or line.strip(_HEX):
                    raise HttpError("bad chunk size")
                size = int(line, 16)
                if size == 0:
                    self._state = _TRAILER
                else:
                    if len(self._body) + size > MAX_BODY:
                        raise HttpError("body too large")
                    self._chunk_left = size
                    self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                if not self._buf:
                    return None
                take = min(self._chunk_left, len(self._buf))
                self._body += self._buf[:take]
                del self._buf[:take]
                self._chunk_left -= take
                if self._chunk_left:
                    return None
                self._state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if len(self._buf) < 2:
                    return None
                if self._buf[:2] != b"\r\n":
                    raise HttpError("chunk not followed by CRLF")
                del self._buf[:2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise HttpError("trailer too long")
                    return None
                del self._buf[: end + 2]
                if end == 0:  # the empty line that ends the trailer
                    return self._done()
            else:  # _UNTIL_CLOSE
                self._body += self._buf
                self._buf.clear()
                if len(self._body) > MAX_BODY:
                    raise HttpError("body too large")
                return None

    def eof(self) -> Response | None:
        """The peer closed: the response if its body ran to the close, else None."""
        if self._state == _UNTIL_CLOSE:
            return self._done()
        return None

    def _read_head(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        # the same limit however the head was split: ``end`` is the head's length; without the
        # blank line yet, up to 3 bytes of it may already be buffered
        if end > MAX_HEAD or (end < 0 and len(buf) > MAX_HEAD + 3):
            raise HttpError("response head too large")
        if end < 0:
            return False
        raw = bytes(buf[:end]).decode("latin-1")
        del buf[: end + 4]
        status_line, *lines = raw.split("\r\n")
        parts = status_line.split(" ", 2)
        version = parts[0]
        code = parts[1] if len(parts) > 1 else ""
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise HttpError("bad status line")
        status = int(code)
        items = []
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError("bad header line")
            items.append((name, value.strip()))
        if status == 100:  # interim: skip it, the real response follows
            return True
        if 100 < status < 200:
            raise HttpError(f"unexpected interim response {status}")
        headers = Headers(items)
        conn = (headers.get("Connection") or "").lower()
        keep = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
        if (headers.get("Content-Encoding") or "identity").lower() != "identity":
            raise HttpError("content-coding not supported")
        self._head = (status, headers, keep)
        te = (headers.get("Transfer-Encoding") or "").lower()
        if te:
            if te != "chunked":
                raise HttpError(f"transfer-coding {te!r} not supported")
            self._state = _CHUNK_SIZE
            return True
        length = headers.get("Content-Length")
        if status == 204 or status == 304:
            self._need = 0
            self._state = _BODY
        elif length is not None:
            if not length.isascii() or not length.isdigit():
                raise HttpError("bad Content-Length")
            self._need = int(length)
            if self._need > MAX_BODY:
                raise HttpError("bad Content-Length")
            self._state = _BODY
        else:
            self._state = _UNTIL_CLOSE
            self._head = (status, headers, False)
        return True

    def _done(self) -> Response:
        assert self._head is not None
        status, headers, keep = self._head
        out = Response(status, headers, bytes(self._body), keep)
        self._state = _HEAD
        self._head = None
        self._body = bytearray()
        return out
