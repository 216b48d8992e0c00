"""The order path's transport: first attempts written from the executor's loop on kept-alive sockets.

A sender thread costs an intent a thread wake-up and a turn at the GIL before its request leaves,
and the sender's HTTP stack (``requests``/``urllib3``/``http.client``) about 300 µs of CPU per
call, which the loop's thread then waits for at every GIL hand-off. :class:`WireSender` takes that
off the order path: the engine's thread itself signs and writes a create, create-batch, cancel,
amend or cancel-all request on one of its own idle connections (HTTP/1.1, :mod:`..core.http1`)
right after the intent is journaled, and reads the response when the loop's poll says it came.

Everything else goes to the :class:`~services.executor.calls.SenderPool` behind it, unchanged:
lookups, every retry (a ``Retryable`` answer or an ``Ambiguous`` cancel: the job goes to the pool
with the response it got, and the pool continues exactly as if it had sent the first attempt),
calls that find their rate-limit bucket empty (the pool waits), and any call while no connection
is idle. A connection that breaks, times out or answers something unparseable is dropped and
the call's outcome is the same as from ``requests``: ``connection``/``timeout`` errors, which the
engine resolves by looking the order up.

Connections are opened in the background (:class:`Connector`: TCP connect, TLS handshake) and
handed over; the loop never waits on a connect. Idle connections stay registered for reading, so
a server's close is seen before the connection is used again, and one idle for longer than
:data:`IDLE_MAX_S` is replaced. :meth:`WireSender.fileno` is an epoll descriptor covering the
connections, the connector and the pool's completions: the loop polls that one descriptor.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any

from services.executor.adapters.rest import RestClient, WireTarget
from services.executor.calls import CallJob, Job, PlaceJob, SenderPool, ready
from services.executor.core.http1 import HttpError, ResponseParser
from services.executor.core.requests import RestCall
from services.executor.core.responses import (
    Accepted,
    HttpResult,
    Rejected,
    Retryable,
    classify,
)
from services.executor.dispatch import Dispatcher, create_call, create_outcomes
from services.executor.metrics import ExecutorMetrics

#: An idle connection older than this is replaced (a middlebox may have forgotten it).
IDLE_MAX_S = 50.0
#: Connector back-off after a failed connect: first and largest wait, seconds.
CONNECT_BACKOFF = (0.2, 5.0)
_READ = 65536


class Conn:
    """One kept-alive connection; busy while ``job`` is set."""

    __slots__ = ("call", "deadline", "fd", "idle_since", "job", "parser", "sock", "t0")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.parser = ResponseParser()
        self.job: Job | None = None
        self.call: RestCall | None = None
        self.t0 = 0.0
        self.deadline = 0.0
        self.idle_since = time.monotonic()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Connector:
    """A thread that opens connections to ``target`` on demand and hands them over (eventfd)."""

    def __init__(self, target: WireTarget, timeout: float, log: Any) -> None:
        self.target = target
        self.timeout = timeout
        self.log = log
        self._ready: deque[socket.socket] = deque()
        self._wanted = 0
        self._cond = threading.Condition()
        self._stop = False
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name="exec-connector", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._fd

    def want(self, n: int = 1) -> None:
        with self._cond:
            self._wanted += n
            self._cond.notify()

    def take(self) -> list[socket.socket]:
        try:
            os.read(self._fd, 8)
        except OSError:
            pass
        out = []
        while self._ready:
            out.append(self._ready.popleft())
        return out

    def _connect(self) -> socket.socket:
        t = self.target
        sock = socket.create_connection((t.host, t.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if t.tls is not None:
                sock = t.tls.wrap_socket(sock, server_hostname=t.host)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _run(self) -> None:
        backoff = CONNECT_BACKOFF[0]
        failing = False
        while True:
            with self._cond:
                while not self._stop and self._wanted <= 0:
                    self._cond.wait()
                if self._stop:
                    return
            try:
                sock = self._connect()
            except (OSError, ssl.SSLError) as exc:
                if not failing:
                    self.log.warning(
                        "wire connect failed; calls go through the sender pool", error=type(exc).__name__
                    )
                    failing = True
                with self._cond:
                    if self._cond.wait_for(lambda: self._stop, backoff):
                        return
                backoff = min(backoff * 2, CONNECT_BACKOFF[1])
                continue
            if failing:
                self.log.info("wire connect recovered")
                failing = False
            backoff = CONNECT_BACKOFF[0]
            with self._cond:
                if self._stop:
                    sock.close()
                    return
                self._wanted -= 1
                self._ready.append(sock)
            try:
                os.write(self._fd, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(self.timeout + 1.0)
        for sock in self.take():
            sock.close()
        try:
            os.close(self._fd)
        except OSError:
            pass


class WireSender:
    """Sends first attempts of order calls itself; the :class:`SenderPool` does the rest."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        client: RestClient,
        target: WireTarget,
        pool: SenderPool,
        connections: int,
        metrics: ExecutorMetrics,
        log: Any,
        *,
        timeout: float,
    ) -> None:
        self.d = dispatcher
        self.client = client
        self.pool = pool
        self.size = pool.size
        self.metrics = metrics
        self.log = log
        self.timeout = timeout
        self._ep = select.epoll()
        self._conns: dict[int, Conn] = {}
        self._idle: list[Conn] = []
        self._done: list[Job] = []
        self._pool_fd = pool.fileno()
        self._ep.register(self._pool_fd, select.EPOLLIN)
        self.connector = Connector(target, timeout, log)
        self._ep.register(self.connector.fileno(), select.EPOLLIN)
        self.connector.want(connections)
        self._wire_calls = metrics.calls_by_route.labels("wire")

    def fileno(self) -> int:
        """Readable while a response, a completion or a new connection waits for :meth:`take`."""
        return self._ep.fileno()

    # --- sending -------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if self._idle and isinstance(job, PlaceJob | CallJob) and job.first is None and self._send(job):
            self._wire_calls.inc()
            return
        self.pool.submit(job)  # counted by the pool

    def _send(self, job: PlaceJob | CallJob) -> bool:
        conn = self._usable()
        if conn is None:
            return False
        call = create_call(job.chunk) if isinstance(job, PlaceJob) else job.call
        now_ms = self.client.now_ms()
        if call.signed and self.d.limiter.acquire(call.path, call.category, call.weight, now_ms) > 0:
            self._idle.append(conn)
            return False  # the pool waits for the tokens
        data = self.client.encode(call)
        conn.job, conn.call = job, call
        conn.t0 = time.perf_counter()
        conn.deadline = time.monotonic() + self.timeout
        sent = 0
        try:
            sent = conn.sock.send(data)
            if sent < len(data):
                sent += _send_rest(conn.sock, memoryview(data)[sent:], conn.deadline)
        except (OSError, ssl.SSLError):
            if sent == 0:  # nothing left: another route may send it
                conn.job = conn.call = None
                self._drop(conn)
                return False
            self._fail(conn, "connection")
        return True

    def _usable(self) -> Conn | None:
        """An idle connection that is still open (as far as can be known without a round trip)."""
        while self._idle:
            conn = self._idle.pop()
            if time.monotonic() - conn.idle_since > IDLE_MAX_S:
                self._drop(conn)
                continue
            # a close (or anything else) the loop has not read yet: look before writing on it,
            # or a create would meet a closed connection and its outcome would be unknown
            if ready(conn.fd, select.POLLIN, 0):
                self._readable(conn)  # drops it on EOF; a TLS session ticket leaves it open
                if self._conns.get(conn.fd) is not conn:
                    continue
            return conn
        return None

    # --- completions -----------------------------------------------------------------------------
    def take(self) -> list[Job]:
        """Finished jobs: responses read here, completions of the pool; adopts new connections."""
        for fd, _ in self._ep.poll(0):
            if fd == self._pool_fd:
                self._done += self.pool.take()
            elif fd == self.connector.fileno():
                for sock in self.connector.take():
                    new = Conn(sock)
                    self._conns[new.fd] = new
                    self._ep.register(new.fd, select.EPOLLIN)
                    self._idle.append(new)
                self.metrics.wire_connections.set(len(self._conns))
            else:
                ready = self._conns.get(fd)
                if ready is not None:
                    self._readable(ready)
        if len(self._conns) > len(self._idle):
            now = time.monotonic()
            for conn in list(self._conns.values()):
                if conn.job is not None and now > conn.deadline:
                    self._fail(conn, "timeout")
        out, self._done = self._done, []
        return out

    def _readable(self, conn: Conn) -> None:
        try:
            while True:
                data = conn.sock.recv(_READ)
                if not data:
                    resp = conn.parser.eof()
                    if conn.job is None:
                        self._drop(conn)
                    elif resp is not None:
                        self._deliver(conn, self.client.result_of(resp))
                        self._drop(conn)
                    else:
                        self._fail(conn, "connection")
                    return
                if conn.job is None:  # nothing asked: a server must not speak
                    self._drop(conn)
                    return
                resp = conn.parser.feed(data)
                if resp is not None:
                    self._deliver(conn, self.client.result_of(resp))
                    if not resp.keep_alive or not conn.parser.idle:
                        self._drop(conn)
                    else:
                        conn.idle_since = time.monotonic()
                        self._idle.append(conn)
                    return
                if not (isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending()) and len(data) < _READ:
                    return
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ssl.SSLError, HttpError):
            if conn.job is None:
                self._drop(conn)
            else:
                self._fail(conn, "connection")

    def _deliver(self, conn: Conn, res: HttpResult) -> None:
        job, call = conn.job, conn.call
        conn.job = conn.call = None
        assert job is not None and call is not None
        self.d.observe(call, res, conn.t0)
        if isinstance(job, PlaceJob):
            outs = create_outcomes(call, res, len(job.chunk))
            if any(isinstance(o, Retryable) for o in outs):
                job.first = res  # the pool re-sends the retryable items after the wait
                self.pool.submit(job)
                return
            job.result = outs
        else:
            assert isinstance(job, CallJob)
            outcome = classify(res, is_create=call.is_create)
            if not isinstance(outcome, Accepted | Rejected):
                job.first = res  # retried by the pool (after a wait, or as a new attempt)
                self.pool.submit(job)
                return
            job.result = outcome
        self._done.append(job)

    def _fail(self, conn: Conn, kind: str) -> None:
        """The call on ``conn`` got no usable response: its outcome is a ``kind`` error."""
        self._deliver(conn, HttpResult(0, b"", {}, error=kind))
        self._drop(conn)

    def _drop(self, conn: Conn) -> None:
        if self._conns.pop(conn.fd, None) is not None:
            try:
                self._ep.unregister(conn.fd)
            except (OSError, ValueError):
                pass
            self.connector.want(1)
        if conn in self._idle:
            self._idle.remove(conn)
        conn.close()
        self.metrics.wire_connections.set(len(self._conns))

    # --- stopping --------------------------------------------------------------------------------
    def wait(self, timeout: float) -> None:
        """Block until something waits for :meth:`take` or ``timeout`` seconds pass."""
        ready(self._ep.fileno(), select.POLLIN, timeout)

    def close(self, timeout: float = 2.0) -> None:
        self.connector.close()
        for conn in list(self._conns.values()):
            conn.close()
        self._conns.clear()
        self._idle.clear()
        self.pool.close(timeout)
        self._ep.close()


def _send_rest(sock: socket.socket, view: memoryview, deadline: float) -> int:
    """Finish a partial write (the kernel's buffer was full): wait for room until ``deadline``."""
    sent = 0
    while sent < len(view):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("write timed out")
        try:
            sent += sock.send(view[sent:])
        except (BlockingIOError, ssl.SSLWantWriteError):
            ready(sock.fileno(), select.POLLOUT, left)
        except ssl.SSLWantReadError:
            ready(sock.fileno(), select.POLLIN, left)
    return sent
