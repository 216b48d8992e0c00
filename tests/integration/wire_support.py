"""Local servers for the executor's wire transport tests.

* :class:`ScriptedServer` - a raw HTTP/1.1 server on 127.0.0.1 whose every answer is decided by a
  script: a well-formed reply, chunks, garbage, a close in the middle, or silence; it records the
  exact bytes of each request and which connection it came on, and can close idle connections.
* :func:`self_signed` - a self-signed certificate for 127.0.0.1/localhost made with ``openssl``.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest


@dataclass
class Seen:
    """One request as the server received it."""

    conn: int  # the connection it came on (accept order, from 0)
    head: bytes
    body: bytes
    at_ms: int  # wall clock once complete
    method: str = ""
    target: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    def __post_init__(self) -> None:
        lines = self.head.decode("latin-1").split("\r\n")
        self.method, self.target, _ = lines[0].split(" ", 2)
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def json(self) -> dict[str, object]:
        obj = msgspec.json.decode(self.body)
        assert isinstance(obj, dict)
        return obj


@dataclass(frozen=True)
class Reply:
    """What the server does with one request."""

    #: written one after another (separate writes)
    parts: tuple[bytes, ...] = ()
    #: close the connection after writing
    close: bool = False
    #: ... with a reset (RST) rather than a FIN
    reset: bool = False
    #: write nothing and keep the connection open until the server stops
    hang: bool = False


Script = Callable[[Seen], Reply]


def response(
    body: bytes,
    *,
    status: int = 200,
    headers: Iterable[tuple[str, str]] = (),
    close: bool = False,
) -> bytes:
    """A complete response framed by Content-Length."""
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers]
    if close:
        lines.append("Connection: close")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def envelope(code: int = 0, msg: str = "OK", result: object = None, ext: object = None) -> bytes:
    return msgspec.json.encode(
        {"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": ext or {}, "time": 1}
    )


def accept_order(seen: Seen, pad: int = 0) -> bytes:
    """Body accepting the create/cancel/amend in ``seen`` (a create-batch: every item); ``pad``
    adds a field of that many bytes to a single order's result."""
    req = seen.json()
    if seen.target.endswith("/create-batch"):
        items = req["request"]
        assert isinstance(items, list)
        res = [{"orderId": f"id-{it['orderLinkId']}", "orderLinkId": it["orderLinkId"]} for it in items]
        ext = [{"code": 0, "msg": "OK"} for _ in items]
        return envelope(result={"list": res}, ext={"list": ext})
    link = req.get("orderLinkId", "")
    result = {"orderId": f"id-{link}", "orderLinkId": link}
    if pad:
        result["pad"] = "x" * pad
    return envelope(result=result)


def accept(seen: Seen) -> Reply:
    return Reply((response(accept_order(seen)),))


class ScriptedServer:
    """Answers each request as ``script`` says; one thread per connection."""

    def __init__(self, script: Script = accept) -> None:
        self.script = script
        self.requests: list[Seen] = []
        #: connections that are over (the server read their end or closed them), by accept order
        self.ended: set[int] = set()
        self.accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self._lsock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._accepter = threading.Thread(target=self._accept, name="scripted-accept", daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._lsock.accept()
            except OSError:
                return
            with self._lock:
                n = self.accepted
                self.accepted += 1
                self._conns[n] = sock
            t = threading.Thread(target=self._serve, args=(n, sock), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, n: int, sock: socket.socket) -> None:
        buf = b""
        try:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                seen = Seen(n, head, body, time.time_ns() // 1_000_000)
                with self._lock:
                    self.requests.append(seen)
                reply = self.script(seen)
                if reply.hang:
                    self._stop.wait()
                    return
                for part in reply.parts:
                    sock.sendall(part)
                if reply.reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if reply.close or reply.reset:
                    return
        except OSError:
            return
        finally:
            sock.close()
            with self._lock:
                self._conns.pop(n, None)
                self.ended.add(n)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def close_connections(self) -> None:
        """Close every open connection from this side (the client sees a FIN).

        Only connections already accepted: a client may count one as open a moment before (wait
        for :meth:`open_connections` first)."""
        with self._lock:
            socks = list(self._conns.values())
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        try:
            self._lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._lsock.close()
        self.close_connections()
        self._accepter.join(5)
        for t in self._threads:
            t.join(5)


def self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost, self-signed, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN=tickwire test {name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key
