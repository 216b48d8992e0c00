"""The ``tickwire`` command line: a dispatcher to each tool's own module.

``tickwire book linear:BTCUSDT`` prints a live ladder, ``tickwire order``/``cancel`` send intents
to the executor, ``tickwire keys`` manages CURVE keys, ``tickwire config`` shows the effective
settings (secrets masked), ``tickwire run <service>`` starts a service like ``python -m``.
"""

from __future__ import annotations

import importlib
import runpy
import sys

_COMMANDS = {
    "book": ("services.book_cli", "show order books from the book service"),
    "order": ("services.order_cli", "send an order intent to the executor"),
    "cancel": ("services.order_cli", "cancel an order through the executor"),
    "keys": ("services.keys_cli", "generate and show CURVE keys"),
}
_SERVICES = ("feed", "book", "executor", "monitor", "bybit_sim", "demo")


def _usage() -> str:
    lines = ["usage: tickwire <command> [args]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_mod, help_) in _COMMANDS.items()]
    lines += [
        f"  {'config':<8} print the effective settings (from TICKWIRE_* and TICKWIRE_CONFIG)",
        f"  {'run':<8} run a service: {', '.join(_SERVICES)}",
    ]
    return "\n".join(lines)


def _config() -> int:
    from services.common.config import load_settings
    from services.common.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tickwire: {exc}", file=sys.stderr)
        return 2
    for name in settings.__struct_fields__:
        print(f"TICKWIRE_{name.upper()}={getattr(settings, name)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = args[0], args[1:]
    if command == "config":
        return _config()
    if command == "run":
        if not rest or rest[0] not in _SERVICES:
            print(f"tickwire run: choose one of {', '.join(_SERVICES)}", file=sys.stderr)
            return 2
        sys.argv = [f"services.{rest[0]}", *rest[1:]]
        runpy.run_module(f"services.{rest[0]}", run_name="__main__", alter_sys=True)
        return 0
    if command not in _COMMANDS:
        print(f"tickwire: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[command][0])
    # order_cli serves both "order" and "cancel": it receives the command name first.
    argv_for = [command, *rest] if command in ("order", "cancel") else rest
    return int(module.cli(argv_for))


if __name__ == "__main__":
    raise SystemExit(main())
