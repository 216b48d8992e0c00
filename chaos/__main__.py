"""``python -m chaos [--seed N] [--duration S] [--quick] [--speed X]``: run the suite, print the table.

Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

from chaos.report import table
from chaos.runner import Session

QUICK_SECONDS = 60.0
DEFAULT_SECONDS = 600.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    ap.add_argument("--seed", type=int, default=7, help="seed of the schedule and the market (default 7)")
    ap.add_argument("--duration", type=float, default=None,
                    help=f"seconds of faults (default {DEFAULT_SECONDS:.0f}; --quick {QUICK_SECONDS:.0f}); "
                    "the first round of every fault kind always completes")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="the bounded CI form")
    ap.add_argument("--speed", type=float, default=1.0, help="simulator generator speed (default 1)")
    args = ap.parse_args(argv)
    duration = (
        args.duration if args.duration is not None else (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    )

    def log(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    res = Session(args.seed, duration, args.speed, log).run()
    print(table(res), flush=True)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
