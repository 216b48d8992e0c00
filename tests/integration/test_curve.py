"""CURVE end to end with real ZMQ sockets: servers bound beyond loopback (``tcp://0.0.0.0``),
clients connecting through 127.0.0.1. Only authorized keys get replies or deliver orders.

"Refused" means no reply/delivery within a short window; each negative case is followed by a
positive control on the same server, so a dead server cannot make a negative test pass.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from services.common.metrics import new_registry
from services.common.rpc import JsonClient, RpcTimeout, encode_json, recv_request, router_socket, send_reply
from services.common.security import (
    CurveConfig,
    ServerSecurity,
    apply_client_curve,
    client_curve,
    generate_keypair,
    load_keypair,
    secure_server_socket,
)
from tests.helpers import FACTOR, eventually, free_port, tcp
from tests.secret_scan import register_secret

pytestmark = pytest.mark.integration

REFUSED_WITHIN = 0.5  # seconds a refused client waits; handshakes on loopback take milliseconds
REPLY_WITHIN = 5.0 * FACTOR


@dataclass
class Keys:
    server_secret: Path
    server_public: Path
    authorized_dir: Path
    alice_secret: Path  # authorized client
    mallory_secret: Path  # valid key pair, not authorized
    impostor_public: Path  # a server key that is not the real server's

    def server_cfg(self) -> CurveConfig:
        return CurveConfig(
            server_secret_file=str(self.server_secret), authorized_dir=str(self.authorized_dir)
        )

    def client_cfg(self, secret: Path, server_public: Path | None = None) -> CurveConfig:
        return CurveConfig(
            client_secret_file=str(secret), server_key_file=str(server_public or self.server_public)
        )


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    server_public, server_secret = generate_keypair(tmp_path / "server", "server")
    authorized = tmp_path / "authorized"
    generate_keypair(authorized, "alice")
    alice_secret = tmp_path / "alice.key_secret"
    (authorized / "alice.key_secret").rename(alice_secret)  # the server holds only public keys
    _, mallory_secret = generate_keypair(tmp_path / "mallory", "mallory")
    impostor_public, _ = generate_keypair(tmp_path / "impostor", "impostor")
    for secret_file in (server_secret, alice_secret, mallory_secret):
        register_secret(load_keypair(secret_file).secret, f"curve secret {secret_file.name}")
    return Keys(server_secret, server_public, authorized, alice_secret, mallory_secret, impostor_public)


class EchoServer:
    """A ROUTER query server in a thread, bound on all interfaces through secure_server_socket."""

    def __init__(self, cfg: CurveConfig, port: int) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.registry = new_registry()
        self.sock = router_socket(self.ctx, f"tcp://0.0.0.0:{port}", bind=False)
        self.security: ServerSecurity = secure_server_socket(
            self.ctx, self.sock, f"tcp://0.0.0.0:{port}", cfg, registry=self.registry
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.sock.poll(50):
                continue
            request = recv_request(self.sock)
            if request is not None:
                envelope, body = request
                send_reply(self.sock, envelope, encode_json({"ok": True, "echo": body.decode()}))

    def denied(self) -> float:
        return self.registry.get_sample_value("tickwire_curve_denied_total") or 0.0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close(linger=0)
        self.security.close()
        self.ctx.term()


@pytest.fixture
def server(keys: Keys) -> Iterator[tuple[EchoServer, str]]:
    port = free_port()
    srv = EchoServer(keys.server_cfg(), port)
    yield srv, tcp(port)
    srv.close()


def _ask(endpoint: str, curve: tuple[bytes, bytes, bytes] | None, timeout: float) -> dict[str, object]:
    with JsonClient(endpoint, timeout=timeout, curve=curve) as client:
        return client.request({"q": "ping"})


def test_authorized_client_gets_replies(server: tuple[EchoServer, str], keys: Keys) -> None:
    srv, endpoint = server
    assert srv.security.mode == "curve"
    reply = _ask(endpoint, client_curve(keys.client_cfg(keys.alice_secret)), REPLY_WITHIN)
    assert reply == {"ok": True, "echo": '{"q":"ping"}'}


def test_unauthenticated_client_is_refused(server: tuple[EchoServer, str], keys: Keys) -> None:
    _, endpoint = server
    with pytest.raises(RpcTimeout):
        _ask(endpoint, None, REFUSED_WITHIN)
    assert _ask(endpoint, client_curve(keys.client_cfg(keys.alice_secret)), REPLY_WITHIN)["ok"] is True


def test_unauthorized_key_is_refused_and_counted(server: tuple[EchoServer, str], keys: Keys) -> None:
    srv, endpoint = server
    with pytest.raises(RpcTimeout):
        _ask(endpoint, client_curve(keys.client_cfg(keys.mallory_secret)), REFUSED_WITHIN)
    eventually(lambda: srv.denied() >= 1, message="denied handshake counted")
    assert _ask(endpoint, client_curve(keys.client_cfg(keys.alice_secret)), REPLY_WITHIN)["ok"] is True


def test_client_pinning_a_different_server_key_gets_nothing(
    server: tuple[EchoServer, str], keys: Keys
) -> None:
    _, endpoint = server
    with pytest.raises(RpcTimeout):
        _ask(endpoint, client_curve(keys.client_cfg(keys.alice_secret, keys.impostor_public)), REFUSED_WITHIN)


def test_revoked_key_is_refused_without_restart(server: tuple[EchoServer, str], keys: Keys) -> None:
    _, endpoint = server
    alice = client_curve(keys.client_cfg(keys.alice_secret))
    assert _ask(endpoint, alice, REPLY_WITHIN)["ok"] is True
    (keys.authorized_dir / "alice.key").rename(keys.authorized_dir / "alice.key.revoked")
    with pytest.raises(RpcTimeout):
        _ask(endpoint, alice, REFUSED_WITHIN)


# --- the executor's order endpoint shape: PUSH clients, a PULL server ------------------------


def _push(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, cfg: CurveConfig | None, body: bytes) -> None:
    sock = ctx.socket(zmq.PUSH)
    sock.linger = 0
    sock.sndtimeo = 1000
    if cfg is not None:
        apply_client_curve(sock, cfg)
    sock.connect(endpoint)
    try:
        sock.send(body)
    except zmq.Again:
        pass  # no pipe at all: certainly not delivered
    # the socket stays open (and keeps retrying) until the PULL side has been checked
    _pushers.append(sock)


_pushers: list[zmq.Socket[bytes]] = []


def test_wrong_keys_cannot_place_an_order(keys: Keys) -> None:
    port = free_port()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    security = secure_server_socket(ctx, pull, f"tcp://0.0.0.0:{port}", keys.server_cfg())
    client_ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        endpoint = tcp(port)
        _push(client_ctx, endpoint, None, b"plain order")
        _push(client_ctx, endpoint, keys.client_cfg(keys.mallory_secret), b"unauthorized order")
        _push(
            client_ctx,
            endpoint,
            keys.client_cfg(keys.alice_secret, keys.impostor_public),
            b"wrong server key",
        )
        assert not pull.poll(int(REFUSED_WITHIN * 1000)), "an unauthenticated order was delivered"
        _push(client_ctx, endpoint, keys.client_cfg(keys.alice_secret), b"good order")
        assert pull.poll(int(REPLY_WITHIN * 1000)), "the authorized order was not delivered"
        assert pull.recv() == b"good order"
        assert not pull.poll(int(REFUSED_WITHIN * 1000)), "an unauthenticated order was delivered late"
    finally:
        while _pushers:
            _pushers.pop().close(linger=0)
        client_ctx.term()
        pull.close(linger=0)
        security.close()
        ctx.term()
