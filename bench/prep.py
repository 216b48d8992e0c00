"""Prepared inputs, cached on disk: frame streams (one frame a line) and the bus messages a feed
would publish for them (``[topic, msgpack payload]`` pairs with ``epoch``/``bus_seq`` stamped).

Generation is seeded, so a cache file is only a speed-up: its name carries every parameter.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.frames import Stream, make_stream
from services.common import topics
from services.common.wire import BookUpdate, encode

CACHE = Path(__file__).resolve().parent / ".cache"
EPOCH = 1_764_000_000_000_000_000


class _Data(msgspec.Struct):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int
    seq: int = 0


class _Frame(msgspec.Struct):
    topic: str
    type: str
    ts: int
    data: _Data
    cts: int = 0


_frame_decoder = msgspec.json.Decoder(_Frame)


def book_update(frame: str | bytes, category: str = "linear", recv_ns: int = 0) -> BookUpdate:
    """The normalised bus message of one order-book frame (what the feed publishes)."""
    f = _frame_decoder.decode(frame)
    depth = int(f.topic.split(".")[1])
    d = f.data
    return BookUpdate(category, d.s, depth, f.type, d.b, d.a, d.u, d.seq, f.ts, f.cts, recv_ns)  # type: ignore[arg-type]


@dataclass
class Prepared:
    stream: Stream
    frames_path: Path
    n_book: int

    @property
    def topics(self) -> list[str]:
        """Every exchange topic present in the stream."""
        seen: dict[str, None] = {}
        for f in self.stream.frames:
            start = f.index('"topic":"') + 9
            seen.setdefault(f[start : f.index('"', start)], None)
        return list(seen)


def _key(**params: object) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def stream(
    name: str,
    n_frames: int,
    n_symbols: int,
    *,
    depths: tuple[int, ...] = (50,),
    book_share: float = 0.8,
    trade_share: float = 0.1,
    seed: int = 7,
) -> Prepared:
    """Generate (or load from the cache) a stream and write its frames file."""
    CACHE.mkdir(exist_ok=True)
    key = _key(n=n_frames, s=n_symbols, d=depths, b=book_share, t=trade_share, seed=seed, v=6)
    path = CACHE / f"{name}-{key}.frames"
    pickled = path.with_suffix(".pickle")
    if path.exists() and pickled.exists():
        st = pickle.loads(pickled.read_bytes())  # our own cache file: the stream without its frames
        st.frames = path.read_text().splitlines()
    else:
        st = make_stream(
            n_frames, n_symbols, seed=seed, depths=depths, book_share=book_share, trade_share=trade_share
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(st.frames) + "\n")
        frames, st.frames = st.frames, []
        pickled.write_bytes(pickle.dumps(st))
        st.frames = frames
        tmp.rename(path)
    n_book = sum(1 for u in st.book_u if u >= 0)
    return Prepared(st, path, n_book)


def bus_pairs(frames: list[str], category: str = "linear") -> list[tuple[bytes, bytes]]:
    """Book frames as stamped bus messages ``(topic, payload)``, in order (others skipped)."""
    seqs: dict[str, int] = {}
    out = []
    for f in frames:
        if not f.startswith('{"topic":"orderbook.'):
            continue
        msg = book_update(f, category)
        topic = topics.topic(topics.BOOK, category, msg.symbol)
        seq = seqs.get(topic, 0) + 1
        seqs[topic] = seq
        msg.epoch = EPOCH
        msg.bus_seq = seq
        out.append((topic.encode(), encode(msg)))
    return out


def write_pairs(pairs: list[tuple[bytes, bytes]], path: Path) -> Path:
    path.write_bytes(msgspec.msgpack.encode(pairs))
    return path
