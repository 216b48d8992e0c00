"""ZMQ CURVE for the endpoints that accept commands or queries (executor orders, book queries).

Policy (docs/security.md):

* An endpoint bound on loopback only (``127.x``, ``localhost``, ``::1``, ``ipc://``,
  ``inproc://``) with no CURVE keys configured is plain ZMQ: nothing beyond this host can reach it.
* An endpoint bound beyond loopback (``*``, ``0.0.0.0``, a LAN address, an interface name)
  must have a CURVE server key AND a directory of authorized client public keys; a ZAP
  authenticator then admits only those clients. Without keys binding fails with
  :class:`ConfigError`, unless ``allow_insecure_remote`` is set (a loud warning is logged).
* Once server keys are configured, CURVE is used on loopback too.

Key files (``tickwire keys generate``) are read by :mod:`services.common.keyfiles`, whose
functions are re-exported here. Secret key bytes only live in :class:`KeyPair` and in socket
options; they are never logged nor put in errors.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import zmq
from zmq.auth.thread import ThreadAuthenticator

from services.common.errors import ConfigError
from services.common.keyfiles import (
    PUBLIC_SUFFIX,
    SECRET_SUFFIX,
    KeyPair,
    generate_keypair,
    load_authorized_keys,
    load_keypair,
    load_public_key,
)
from services.common.log import get_logger
from services.common.metrics import NAMESPACE

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter

    from services.common.config import Settings

__all__ = [
    "PUBLIC_SUFFIX",
    "SECRET_SUFFIX",
    "CurveConfig",
    "KeyPair",
    "ServerSecurity",
    "active_authenticators",
    "apply_client_curve",
    "client_curve",
    "generate_keypair",
    "is_loopback_endpoint",
    "load_authorized_keys",
    "load_keypair",
    "load_public_key",
    "secure_server_socket",
    "server_mode",
]

_log = get_logger("security")


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurveConfig:
    """Where the CURVE keys are (paths only; key material is read when a socket is secured)."""

    server_secret_file: str = ""
    authorized_dir: str = ""
    client_secret_file: str = ""
    server_key_file: str = ""
    allow_insecure_remote: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CurveConfig:
        return cls(
            server_secret_file=settings.curve_server_secret_file,
            authorized_dir=settings.curve_authorized_dir,
            client_secret_file=settings.curve_client_secret_file,
            server_key_file=settings.curve_server_key_file,
            allow_insecure_remote=settings.allow_insecure_remote,
        )

    @property
    def server_enabled(self) -> bool:
        return bool(self.server_secret_file or self.authorized_dir)

    @property
    def client_enabled(self) -> bool:
        return bool(self.client_secret_file or self.server_key_file)


def is_loopback_endpoint(endpoint: str) -> bool:
    """True when ``endpoint`` can only be reached from this host (loopback TCP, ipc, inproc).

    ``*``, ``0.0.0.0``, ``::``, host names other than ``localhost``, interface names and other
    transports count as reachable from elsewhere.
    """
    transport, sep, address = endpoint.partition("://")
    if not sep:
        return False
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    address = address.rsplit(";", 1)[-1]  # "source;destination" connect syntax
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- server side -----------------------------------------------------------------------------


class _KeyRing:
    """ZAP credentials provider: admits the keys in a directory, re-read when it changes.

    Adding or removing a ``*.key`` file takes effect at the next handshake (no restart);
    connections already established are not dropped. If the directory cannot be re-read,
    every client is refused (fail closed) until it can.
    """

    def __init__(self, directory: Path, denied: Counter | None) -> None:
        self.directory = directory
        self._denied = denied
        self._lock = threading.Lock()
        self._stamp = self._mtime()
        self.keys = load_authorized_keys(directory)
        self._logged: set[bytes] = set()

    def _mtime(self) -> int:
        try:
            return self.directory.stat().st_mtime_ns
        except OSError:
            return -1

    def _refresh(self) -> None:
        stamp = self._mtime()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.keys = load_authorized_keys(self.directory)
            _log.info("authorized keys reloaded", directory=str(self.directory), keys=len(self.keys))
        except ConfigError as exc:
            self.keys = frozenset()
            _log.error("authorized keys unreadable, refusing every client", error=exc.message)

    def callback(self, _domain: str, client_key: bytes) -> bool:
        """Called by the ZAP thread with the client's Z85 public key; True admits it."""
        with self._lock:
            self._refresh()
            if client_key in self.keys:
                return True
            if self._denied is not None:
                self._denied.inc()
            if client_key not in self._logged and len(self._logged) < 1000:
                self._logged.add(client_key)  # one line per unknown key, not per attempt
                _log.warning("CURVE client refused: key not authorized", client_key=client_key.decode())
            return False


@dataclass
class _Zap:
    auth: ThreadAuthenticator
    ring: _KeyRing
    users: int = 0


_zap_lock = threading.Lock()
_zaps: dict[int, _Zap] = {}  # keyed by the libzmq context address: ZAP is per libzmq context


def _acquire_zap(ctx: zmq.Context[Any], directory: Path, registry: CollectorRegistry | None) -> int:
    key = int(ctx.underlying)
    with _zap_lock:
        zap = _zaps.get(key)
        if zap is None:
            denied = None
            if registry is not None:
                from prometheus_client import Counter

                denied = Counter(
                    f"{NAMESPACE}_curve_denied",
                    "CURVE handshakes refused because the client key is not authorized",
                    registry=registry,
                )
            ring = _KeyRing(directory, denied)
            auth = ThreadAuthenticator(ctx)
            auth.start()
            auth.configure_curve_callback(domain="*", credentials_provider=ring)
            zap = _zaps[key] = _Zap(auth, ring)
        elif zap.ring.directory.resolve() != directory.resolve():
            raise ConfigError("all CURVE servers of one ZMQ context must share one authorized-keys directory")
        zap.users += 1
        return key


def _release_zap(key: int) -> None:
    with _zap_lock:
        zap = _zaps.get(key)
        if zap is None:
            return
        zap.users -= 1
        if zap.users <= 0:
            del _zaps[key]
            zap.auth.stop()


class ServerSecurity:
    """What :func:`secure_server_socket` set up; :meth:`close` it before ``ctx.term()``.

    A running ZAP authenticator keeps the context alive, and a CURVE socket whose authenticator
    is gone admits any key, so :meth:`close` closes the socket first, then stops the
    authenticator once no other secured socket of the context uses it.
    """

    def __init__(
        self,
        sock: zmq.Socket[Any],
        endpoint: str,
        mode: Literal["plain", "curve", "insecure"],
        zap: int | None,
    ) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self.mode = mode
        self._zap = zap

    def close(self) -> None:
        """Close the socket (linger 0) and release the authenticator. Idempotent."""
        if not self.sock.closed:
            self.sock.close(linger=0)
        if self._zap is not None:
            _release_zap(self._zap)
            self._zap = None

    def __enter__(self) -> ServerSecurity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServerSecurity(endpoint={self.endpoint!r}, mode={self.mode!r})"


def server_mode(endpoint: str, cfg: CurveConfig) -> Literal["plain", "insecure", "curve"]:
    """How an endpoint that accepts commands is bound under the policy (module docstring).

    Pure: reads no key file. Lets a service refuse a bad configuration before it opens anything.

    Raises:
        ConfigError: beyond loopback without keys (and not ``allow_insecure_remote``), or only one
            half of the server configuration.
    """
    if not cfg.server_enabled:
        if is_loopback_endpoint(endpoint):
            return "plain"
        if not cfg.allow_insecure_remote:
            raise ConfigError(
                f"{endpoint} is reachable beyond this host but CURVE is not configured: set "
                "TICKWIRE_CURVE_SERVER_SECRET_FILE and TICKWIRE_CURVE_AUTHORIZED_DIR (see `tickwire keys "
                "generate` and docs/security.md), or bind to 127.0.0.1"
            )
        return "insecure"
    if not cfg.server_secret_file or not cfg.authorized_dir:
        raise ConfigError(
            "CURVE server needs both TICKWIRE_CURVE_SERVER_SECRET_FILE and TICKWIRE_CURVE_AUTHORIZED_DIR"
        )
    return "curve"


def secure_server_socket(
    ctx: zmq.Context[Any],
    sock: zmq.Socket[Any],
    endpoint: str,
    cfg: CurveConfig,
    *,
    registry: CollectorRegistry | None = None,
) -> ServerSecurity:
    """Apply the endpoint policy (module docstring) to ``sock`` and bind it to ``endpoint``.

    ``ctx`` must be the context ``sock`` was made from (sync or asyncio). With ``registry``,
    refused handshakes are counted in ``tickwire_curve_denied_total``. The returned
    :class:`ServerSecurity` owns the socket from then on: close it through ``.close()``.

    Raises:
        ConfigError: beyond loopback without keys (and not ``allow_insecure_remote``), a missing
            half of the server configuration, or unreadable/invalid key files.
    """
    if sock.context.underlying != ctx.underlying:
        raise ValueError("ctx is not the context the socket was made from")
    mode = server_mode(endpoint, cfg)
    if mode == "plain":
        sock.bind(endpoint)
        return ServerSecurity(sock, endpoint, "plain", None)
    if mode == "insecure":
        _log.warning(
            "INSECURE: endpoint bound beyond loopback WITHOUT authentication; anyone who can reach it "
            "can use it (TICKWIRE_ALLOW_INSECURE_REMOTE=true)",
            endpoint=endpoint,
        )
        sock.bind(endpoint)
        return ServerSecurity(sock, endpoint, "insecure", None)
    pair = load_keypair(cfg.server_secret_file)
    directory = Path(cfg.authorized_dir)
    zap = _acquire_zap(ctx, directory, registry)
    try:
        n_keys = len(_zaps[zap].ring.keys)
        if n_keys == 0:
            raise ConfigError(f"no client keys (*.key) in {directory}: no client could connect")
        sock.curve_secretkey = pair.secret
        sock.curve_publickey = pair.public
        sock.curve_server = True
        sock.bind(endpoint)
    except BaseException:
        _release_zap(zap)
        raise
    _log.info("CURVE enabled", endpoint=endpoint, server_key=pair.public.decode(), authorized_keys=n_keys)
    return ServerSecurity(sock, endpoint, "curve", zap)


# --- client side -----------------------------------------------------------------------------


def client_curve(cfg: CurveConfig) -> tuple[bytes, bytes, bytes] | None:
    """``(client public, client secret, server public)`` for a client, or None if not configured.

    This is the ``curve=`` argument of :class:`services.common.rpc.JsonClient`.

    Raises:
        ConfigError: only one of the two client files is set, or a file is invalid.
    """
    if not cfg.client_enabled:
        return None
    if not cfg.client_secret_file or not cfg.server_key_file:
        raise ConfigError(
            "CURVE client needs both TICKWIRE_CURVE_CLIENT_SECRET_FILE and TICKWIRE_CURVE_SERVER_KEY_FILE"
        )
    pair = load_keypair(cfg.client_secret_file)
    return pair.public, pair.secret, load_public_key(cfg.server_key_file)


def apply_client_curve(sock: zmq.Socket[Any], cfg: CurveConfig) -> bool:
    """Set CURVE client options on ``sock`` (before ``connect``); return whether CURVE is on."""
    curve = client_curve(cfg)
    if curve is None:
        return False
    public, secret, server = curve
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server
    return True


def active_authenticators() -> list[int]:
    """Addresses of the libzmq contexts with a running authenticator (for tests and leak checks)."""
    with _zap_lock:
        return list(_zaps)
