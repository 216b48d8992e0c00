"""A/B micro-benchmark of the pure book core: apply_lvl_per_s of bench.bookbench._apply_run per depth.

Usage: python -m bench.bookcore_ab [n_frames] [depth ...]. CPU time; run interleaved with a baseline.
"""

from __future__ import annotations

import sys

from bench.bookbench import _apply_run


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    depths = [int(x) for x in sys.argv[2:]] or [50, 200, 1000]
    for depth in depths:
        r = _apply_run(depth, n, 30)
        print(
            f"depth {depth:5d}: {r['apply_lvl_per_s'] / 1e6:6.3f} M lvl/s "
            f"({r['changes_per_msg']:.1f} chg/msg, mismatched {r['mismatched_books']}, "
            f"resyncs {r['resyncs']})",
            flush=True,
        )


if __name__ == "__main__":
    main()
