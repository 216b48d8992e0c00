"""A minimal Bybit-like public WebSocket server that replays pre-generated frames (load generator).

Run as a separate process (``python -m bench.wsserver``) by the harness. Plain blocking sockets
and one reader thread per connection, so sending costs a ``sendall`` of pre-framed bytes and the
server is never the bottleneck of a Python client. It answers ``subscribe``/``unsubscribe`` with
Bybit's linear ack, ``{"op":"ping"}`` with the linear pong, WebSocket pings with pongs.

Control over stdin/stdout (one line each):
``READY <port>`` once listening; ``SUBSCRIBED <n>`` when ``--expect-topics`` are subscribed;
then on ``GO`` it streams the frames (``--rate 0`` = as fast as TCP takes them, in chunks;
``--rate R`` = paced, one ``sendall`` per frame, send time recorded just before it) and prints
``DONE <json>``; the send times go to ``--times-out`` (int64 ns, ``perf_counter_ns``, which is
CLOCK_MONOTONIC on Linux and so comparable across processes). ``QUIT`` or EOF ends it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
from array import array

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """An unmasked server→client frame (FIN set)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def frame_topic(frame: str) -> str:
    """The ``topic`` of a generated frame (it is always the first key)."""
    start = frame.index('"topic":"') + 9
    return frame[start : frame.index('"', start)]


class Conn:
    def __init__(self, sock: socket.socket, server: Server) -> None:
        self.sock = sock
        self.server = server
        self.lock = threading.Lock()
        self.topics: set[str] = set()
        self.alive = True

    def send(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def handshake(self) -> bool:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                return False
            buf += chunk
        key = b""
        for line in buf.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                key = line.split(b":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        return True

    def _recv_exact(self, n: int, buf: bytearray) -> bytes | None:
        while len(buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def reader(self) -> None:
        buf = bytearray()
        try:
            while True:
                head = self._recv_exact(2, buf)
                if head is None:
                    break
                opcode, n = head[0] & 0x0F, head[1] & 0x7F
                if n == 126:
                    ext = self._recv_exact(2, buf)
                    if ext is None:
                        break
                    n = struct.unpack("!H", ext)[0]
                elif n == 127:
                    ext = self._recv_exact(8, buf)
                    if ext is None:
                        break
                    n = struct.unpack("!Q", ext)[0]
                mask = self._recv_exact(4, buf) if head[1] & 0x80 else b"\0\0\0\0"
                data = self._recv_exact(n, buf)
                if data is None or mask is None:
                    break
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
                if opcode == 8:
                    self.send(ws_frame(payload[:2], 8))
                    break
                if opcode == 9:
                    self.send(ws_frame(payload, 10))
                elif opcode == 1:
                    self.server.on_text(self, payload)
        except OSError:
            pass
        self.alive = False
        self.server.on_close(self)


class Server:
    def __init__(self, frames: list[str], expect_topics: int, snap_first: int = 0) -> None:
        #: the first ``snap_first`` frames are snapshots sent at once on subscribe (as Bybit does)
        self.snapshots = {frame_topic(f): f for f in frames[:snap_first]}
        self.frames = frames[snap_first:]
        self.expect = expect_topics
        self.lock = threading.Lock()
        self.by_topic: dict[str, Conn] = {}
        self.conns: list[Conn] = []
        self.subscribed = threading.Event()
        self.resubscribes = 0
        self.streaming = False

    def on_text(self, conn: Conn, payload: bytes) -> None:
        try:
            req = json.loads(payload)
        except ValueError:
            return
        op = req.get("op")
        rid = req.get("req_id", "")
        if op == "ping":
            conn.send(
                ws_frame(
                    json.dumps(
                        {"success": True, "ret_msg": "pong", "conn_id": "bench", "req_id": rid, "op": "ping"}
                    ).encode()
                )
            )
            return
        if op in ("subscribe", "unsubscribe"):
            with self.lock:
                for topic in req.get("args", []):
                    if op == "subscribe":
                        if self.streaming:
                            self.resubscribes += 1
                        self.by_topic[topic] = conn
                        conn.topics.add(topic)
                        snap = None if self.streaming else self.snapshots.get(topic)
                        if snap is not None:
                            conn.send(ws_frame(snap.encode()))
                    else:
                        self.by_topic.pop(topic, None)
                        conn.topics.discard(topic)
                if len(self.by_topic) >= self.expect:
                    self.subscribed.set()
            conn.send(
                ws_frame(
                    json.dumps(
                        {"success": True, "ret_msg": "", "conn_id": "bench", "req_id": rid, "op": op}
                    ).encode()
                )
            )

    def on_close(self, conn: Conn) -> None:
        with self.lock:
            for t in list(conn.topics):
                if self.by_topic.get(t) is conn:
                    del self.by_topic[t]

    def accept_loop(self, lsock: socket.socket) -> None:
        while True:
            try:
                sock, _ = lsock.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(sock, self)
            if conn.handshake():
                self.conns.append(conn)
                threading.Thread(target=conn.reader, daemon=True).start()

    def stream(self, rate: float, chunk: int) -> dict[str, object]:
        frames = self.frames
        topics = [frame_topic(f) for f in frames]
        wire = [ws_frame(f.encode()) for f in frames]
        with self.lock:
            targets = [self.by_topic.get(t) for t in topics]
            self.streaming = True
        skipped = sum(1 for t in targets if t is None)
        times = array("q", bytes(8 * len(frames)))
        now = time.perf_counter_ns
        t0 = now()
        if rate <= 0:
            i = 0
            n = len(frames)
            while i < n:
                conn = targets[i]
                j = i + 1
                while j < n and j - i < chunk and targets[j] is conn:
                    j += 1
                if conn is not None:
                    times[i] = now()
                    conn.send(b"".join(wire[i:j]))
                i = j
        else:
            period = 1e9 / rate
            for i, conn in enumerate(targets):
                due = t0 + int(i * period)
                t = now()
                if t < due:
                    time.sleep((due - t) / 1e9)  # no spinning: the other core is the system's
                if conn is not None:
                    times[i] = now()
                    conn.send(wire[i])
        t1 = now()
        return {"t0": t0, "t1": t1, "sent": len(frames) - skipped, "skipped": skipped, "times": times}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True, help="file of frames, one a line")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--expect-topics", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--times-out", default="")
    ap.add_argument("--snap-first", type=int, default=0)
    args = ap.parse_args()
    with open(args.frames) as fh:
        frames = fh.read().splitlines()
    server = Server(frames, args.expect_topics, args.snap_first)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(64)
    threading.Thread(target=server.accept_loop, args=(lsock,), daemon=True).start()
    print(f"READY {lsock.getsockname()[1]}", flush=True)

    def waiter() -> None:
        server.subscribed.wait()
        print(f"SUBSCRIBED {len(server.by_topic)}", flush=True)

    threading.Thread(target=waiter, daemon=True).start()
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "GO":
            res = server.stream(args.rate, args.chunk)
            times = res.pop("times")
            if args.times_out:
                with open(args.times_out, "wb") as out:
                    times.tofile(out)  # type: ignore[attr-defined]
            res["resubscribes"] = server.resubscribes
            print("DONE " + json.dumps(res), flush=True)
        elif cmd == "STATS":
            print("STATS " + json.dumps({"resubscribes": server.resubscribes}), flush=True)
        elif cmd == "QUIT":
            break
    lsock.close()
    os._exit(0)


if __name__ == "__main__":
    main()
