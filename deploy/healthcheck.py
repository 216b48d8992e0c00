"""Container healthcheck: GET $HEALTHCHECK_URL (a service's /metrics or /health); exit 0 on HTTP 200.

Stdlib only, so it works in any tickwire image. Used by the Dockerfile's HEALTHCHECK.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    url = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:9100/health")
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - URL from our own env
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
