"""``tickwire keys``: generate CURVE key pairs and show public keys (never secret ones).

    tickwire keys generate --dir DIR --name NAME [--force]
        writes DIR/NAME.key (public, share it) and DIR/NAME.key_secret (mode 0600, keep it)
    tickwire keys show FILE
        prints the Z85 public key in a public or secret key file

See docs/security.md for which files go where.
"""

from __future__ import annotations

import argparse
import sys

from services.common.errors import ConfigError
from services.common.security import generate_keypair, load_public_key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickwire keys", description="Manage ZMQ CURVE keys.")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="create a key pair: NAME.key and NAME.key_secret")
    gen.add_argument("--dir", required=True, help="directory for the two files (created 0700 if missing)")
    gen.add_argument("--name", required=True, help="base name, e.g. server, executor, alice")
    gen.add_argument("--force", action="store_true", help="replace existing files")
    show = sub.add_parser("show", help="print the public key of a key file")
    show.add_argument("file")
    return parser


def cli(argv: list[str]) -> int:
    """Run ``tickwire keys ...``; return the exit code (0 ok, 1 error, 2 usage)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    try:
        if args.command == "generate":
            public_path, secret_path = generate_keypair(args.dir, args.name, force=args.force)
            print(f"public key:  {public_path}  ({load_public_key(public_path).decode()})")
            print(f"secret key:  {secret_path}  (mode 0600: keep it on this host, never share it)")
            print(
                "next: give the .key file to the peers that must trust this key (a server's to its"
                " clients, a client's to the server's TICKWIRE_CURVE_AUTHORIZED_DIR)"
            )
        else:
            print(load_public_key(args.file).decode())
    except ConfigError as exc:
        print(f"tickwire keys: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
