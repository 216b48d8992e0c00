"""Optional raw recording of every received frame to gzip files, in Bybit's historical format.

Bybit's historical order-book files hold one WebSocket message per line, exactly as sent; the
recorder writes the same (the raw frame bytes and a newline), so ``bybit_sim`` can replay a
recording (``TICKWIRE_SIM_REPLAY``, after ``gunzip``). Files, per category and UTC hour of receipt:
``<dir>/<category>/<YYYY-MM-DD>T<HH>_<category>.data.gz`` for the data frames the feed published
and ``..._<category>.control.gz`` for everything else (acks, pongs, errors, malformed frames), so
the data files replay as they are. A new file is started every hour, or when ``max_bytes`` of raw
data were written (``..._<n>.data.gz``). Frames are buffered in memory on the event loop (an
append) and written by :meth:`Recorder.flush`, which the service calls once a second in a worker
thread.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.common.log import get_logger

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


@dataclass(slots=True)
class _File:
    hour: str
    index: int
    written: int
    handle: gzip.GzipFile
    path: Path


class Recorder:
    """Buffer frames per category and write them to rotating gzip files."""

    def __init__(self, directory: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, level: int = 1) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.level = level
        self._buffer: list[tuple[str, bytes, int, bool]] = []
        self._files: dict[str, _File] = {}
        self._lock = threading.Lock()
        self.frames = 0
        self.log = get_logger("feed.recorder")

    def __call__(self, category: str, raw: bytes, recv_ns: int, data: bool) -> None:
        """Hot path: queue one frame (``data``: a market-data frame the feed published)."""
        self._buffer.append((category, raw, recv_ns, data))

    def flush(self) -> int:
        """Write queued frames (call from a worker thread); return how many."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            for category, raw, recv_ns, data in batch:
                f = self._file_for(category, "data" if data else "control", recv_ns, len(raw) + 1)
                f.handle.write(raw)
                f.handle.write(b"\n")
                f.written += len(raw) + 1
            for f in self._files.values():
                f.handle.flush()
            self.frames += len(batch)
            return len(batch)

    def _file_for(self, category: str, kind: str, recv_ns: int, size: int) -> _File:
        hour = time.strftime("%Y-%m-%dT%H", time.gmtime(recv_ns / 1e9))
        key = f"{category}.{kind}"
        current = self._files.get(key)
        if current is not None and current.hour == hour and current.written + size <= self.max_bytes:
            return current
        index = 0
        if current is not None:
            current.handle.close()
            index = current.index + 1 if current.hour == hour else 0
        folder = self.dir / category
        folder.mkdir(parents=True, exist_ok=True)
        suffix = f"_{index}" if index else ""
        path = folder / f"{hour}_{category}{suffix}.{kind}.gz"
        while path.exists():
            index += 1
            path = folder / f"{hour}_{category}_{index}.{kind}.gz"
        # closed on rotation and in close(): it outlives this call by design
        handle: gzip.GzipFile = gzip.open(path, "ab", compresslevel=self.level)  # noqa: SIM115
        self.log.info("recording", path=str(path))
        f = self._files[key] = _File(hour, index, 0, handle, path)
        return f

    def close(self) -> None:
        self.flush()
        with self._lock:
            for f in self._files.values():
                f.handle.close()
            self._files.clear()
