"""CURVE key files: generate, load and validate ZeroMQ certificates (no sockets, no policy).

A key pair is two files in the czmq/pyzmq certificate format: ``NAME.key`` holds the public key
(share it with the peers that must trust it) and ``NAME.key_secret`` holds both halves (mode
0600 in a 0700 directory; it never leaves its host). A file holding a single 40-character Z85
key (e.g. a container secret) is accepted too. Errors name the file but never echo its content;
secret key bytes live only in :class:`KeyPair`, whose ``repr`` leaves them out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.utils import z85

from services.common.errors import ConfigError
from services.common.log import get_logger

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"  # noqa: S105 (a file suffix, not a secret)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CERT_LINE_RE = re.compile(r"^\s*(public|secret)-key\s*=\s*[\"']?([^\"'\s]+)[\"']?\s*$")
_MAX_KEY_FILE_BYTES = 64 * 1024
_log = get_logger("security")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A CURVE key pair, both halves Z85-encoded (40 bytes). ``repr`` never shows the secret."""

    public: bytes
    secret: bytes = field(repr=False)

    def __str__(self) -> str:
        return repr(self)


def _z85_key(text: str, path: Path, what: str) -> bytes:
    """Validate one Z85 key; errors name the file, never its content."""
    key = text.strip().encode("ascii", "replace")
    try:
        ok = len(key) == 40 and len(z85.decode(key)) == 32
    except (ValueError, KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        raise ConfigError(f"{path}: the {what} key is not a 40-character Z85 CURVE key")
    return key


@dataclass(frozen=True, slots=True)
class _KeyFile:
    """What a key file holds: certificate fields, or one bare key of unknown kind."""

    public: bytes | None = None
    secret: bytes | None = field(default=None, repr=False)
    bare: bytes | None = field(default=None, repr=False)


def _read_key_file(path: Path) -> _KeyFile:
    try:
        if path.stat().st_size > _MAX_KEY_FILE_BYTES:
            raise ConfigError(f"{path}: too large to be a CURVE key file")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read CURVE key file {path}: {exc.strerror}") from None
    found: dict[str, bytes] = {}
    for line in text.splitlines():
        match = _CERT_LINE_RE.match(line)
        if match:
            found[match.group(1)] = _z85_key(match.group(2), path, match.group(1))
    if found:
        return _KeyFile(public=found.get("public"), secret=found.get("secret"))
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ConfigError(f"{path}: not a ZeroMQ certificate nor a single Z85 key")
    return _KeyFile(bare=_z85_key(lines[0], path, "bare"))


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write ``text`` atomically with ``mode`` (temp file created with that mode, then renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _certificate(kind: str, public: bytes, secret: bytes | None = None) -> str:
    lines = [
        f"#   ZeroMQ CURVE {kind} Certificate (tickwire keys generate)",
        "#   DO NOT SHARE THIS FILE." if secret else "#   Public: copy it to the peers that must trust it.",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def generate_keypair(
    directory: str | os.PathLike[str], name: str, *, force: bool = False
) -> tuple[Path, Path]:
    """Write ``NAME.key`` (0644) and ``NAME.key_secret`` (0600) in ``directory``; return both paths.

    The directory is created with mode 0700 if missing. Existing files are kept unless ``force``.

    Raises:
        ConfigError: a bad name, or the files exist and ``force`` is false.
    """
    if not _NAME_RE.match(name):
        raise ConfigError(f"bad key name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    base = Path(directory)
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_path, secret_path = base / f"{name}{PUBLIC_SUFFIX}", base / f"{name}{SECRET_SUFFIX}"
    if not force and (public_path.exists() or secret_path.exists()):
        raise ConfigError(f"{public_path} or {secret_path} already exists (use --force to replace)")
    public, secret = zmq.curve_keypair()
    _write_private(secret_path, _certificate("**Secret**", public, secret), 0o600)
    _write_private(public_path, _certificate("Public", public), 0o644)
    return public_path, secret_path


def load_keypair(secret_file: str | os.PathLike[str]) -> KeyPair:
    """Load a key pair from a secret certificate (or a bare secret key; the public half is derived).

    Raises:
        ConfigError: unreadable file, no secret key in it, or a public key not matching the secret.
    """
    path = Path(secret_file)
    content = _read_key_file(path)
    public, secret = content.public, content.secret or content.bare
    if secret is None:
        raise ConfigError(f"{path}: no secret key in this file (is it the public .key file?)")
    derived = bytes(zmq.curve_public(secret))
    if public is not None and public != derived:
        raise ConfigError(f"{path}: the public key does not belong to the secret key")
    if path.stat().st_mode & 0o004:
        _log.warning("secret key file is world-readable", path=str(path), fix="chmod 600")
    return KeyPair(public=derived, secret=secret)


def load_public_key(path: str | os.PathLike[str]) -> bytes:
    """The Z85 public key in a public certificate, a secret certificate or a bare key file."""
    content = _read_key_file(Path(path))
    if content.public is not None:
        return content.public
    if content.secret is not None:  # a certificate holding only the secret half
        return bytes(zmq.curve_public(content.secret))
    assert content.bare is not None
    return content.bare


def load_authorized_keys(directory: str | os.PathLike[str]) -> frozenset[bytes]:
    """Public keys of every ``*.key`` file in ``directory`` (the clients allowed to connect).

    Raises:
        ConfigError: not a readable directory, or a file in it is not a key.
    """
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"CURVE authorized-keys directory {path} does not exist")
    try:
        files = sorted(p for p in path.iterdir() if p.name.endswith(PUBLIC_SUFFIX) and p.is_file())
    except OSError as exc:
        raise ConfigError(f"cannot list {path}: {exc.strerror}") from None
    return frozenset(load_public_key(p) for p in files)
