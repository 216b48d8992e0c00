"""Unit tests of services.common.security: endpoint policy, key files, config and the keys CLI."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import zmq
import zmq.auth

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.common.security import (
    CurveConfig,
    active_authenticators,
    apply_client_curve,
    client_curve,
    generate_keypair,
    is_loopback_endpoint,
    load_authorized_keys,
    load_keypair,
    load_public_key,
    secure_server_socket,
    server_mode,
)
from services.keys_cli import cli
from tests.helpers import free_port


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://127.8.9.1:5555", True),
        ("tcp://localhost:5555", True),
        ("tcp://LOCALHOST:*", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/tickwire.sock", True),
        ("inproc://book", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://[::]:5555", False),
        ("tcp://10.1.2.3:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://book.example.com:5555", False),
        ("tcp://127.0.0.1:0;10.0.0.1:5555", False),
        ("ws://127.0.0.1:5555", False),
        ("epgm://eth0;239.192.1.1:5555", False),
        ("127.0.0.1:5555", False),
    ],
)
def test_is_loopback_endpoint(endpoint: str, loopback: bool) -> None:
    assert is_loopback_endpoint(endpoint) is loopback


# --- key files -------------------------------------------------------------------------------


def test_generate_writes_public_and_private_files(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    public_path, secret_path = generate_keypair(keys, "server")
    assert (public_path.name, secret_path.name) == ("server.key", "server.key_secret")
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    pair = load_keypair(secret_path)
    assert load_public_key(public_path) == pair.public == load_public_key(secret_path)
    assert pair.secret.decode() not in public_path.read_text()
    assert sorted(p.name for p in keys.iterdir()) == ["server.key", "server.key_secret"]  # no temp files


def test_generate_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    _, secret_path = generate_keypair(tmp_path, "a")
    before = secret_path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        generate_keypair(tmp_path, "a")
    assert secret_path.read_bytes() == before
    generate_keypair(tmp_path, "a", force=True)
    assert secret_path.read_bytes() != before
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_generate_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="bad key name"):
        generate_keypair(tmp_path, name)


def test_files_are_compatible_with_pyzmq_certificates(tmp_path: Path) -> None:
    ours_public, ours_secret = generate_keypair(tmp_path / "ours", "x")
    public, secret = zmq.auth.load_certificate(ours_secret)
    assert zmq.auth.load_certificate(ours_public) == (public, None)
    assert load_keypair(ours_secret).secret == secret
    (tmp_path / "theirs").mkdir()
    theirs_public, theirs_secret = zmq.auth.create_certificates(tmp_path / "theirs", "y")
    assert load_keypair(theirs_secret).public == load_public_key(theirs_public)


def test_bare_z85_key_files(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    (tmp_path / "secret").write_bytes(secret + b"\n")
    (tmp_path / "public").write_bytes(public)
    pair = load_keypair(tmp_path / "secret")
    assert (pair.public, pair.secret) == (public, secret)
    assert load_public_key(tmp_path / "public") == public


def test_keypair_repr_hides_the_secret(tmp_path: Path) -> None:
    _, secret_path = generate_keypair(tmp_path, "k")
    pair = load_keypair(secret_path)
    for text in (repr(pair), str(pair), f"{pair}", "%s %r" % (pair, pair)):  # noqa: UP031
        assert pair.secret.decode() not in text
        assert pair.public.decode() in text


def test_bad_key_files_are_config_errors_that_do_not_echo_content(tmp_path: Path) -> None:
    public_path, secret_path = generate_keypair(tmp_path, "k")
    with pytest.raises(ConfigError, match="no secret key"):
        load_keypair(public_path)
    garbage = tmp_path / "garbage"
    garbage.write_text("s3cr3t-looking-garbage-value-that-is-not-a-key\n")
    with pytest.raises(ConfigError) as info:
        load_keypair(garbage)
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_keypair(tmp_path / "missing")
    other_public, _ = zmq.curve_keypair()
    mismatched = tmp_path / "mismatched"
    mismatched.write_text(
        secret_path.read_text().replace(load_public_key(public_path).decode(), other_public.decode())
    )
    with pytest.raises(ConfigError, match="does not belong"):
        load_keypair(mismatched)


def test_world_readable_secret_file_is_warned_about(tmp_path: Path) -> None:
    _, secret_path = generate_keypair(tmp_path, "k")
    secret_path.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        load_keypair(secret_path)
    assert [e["event"] for e in logs] == ["secret key file is world-readable"]


def test_authorized_keys_reads_only_public_files(tmp_path: Path) -> None:
    a_public, _ = generate_keypair(tmp_path, "a")
    b_public, _ = generate_keypair(tmp_path, "b")
    (tmp_path / "README").write_text("not a key")
    assert load_authorized_keys(tmp_path) == {load_public_key(a_public), load_public_key(b_public)}
    with pytest.raises(ConfigError, match="does not exist"):
        load_authorized_keys(tmp_path / "nope")
    (tmp_path / "bad.key").write_text("nonsense")
    with pytest.raises(ConfigError, match=r"bad\.key"):
        load_authorized_keys(tmp_path)


# --- configuration ---------------------------------------------------------------------------


def test_curve_config_from_settings() -> None:
    settings = load_settings(
        {
            "TICKWIRE_CURVE_SERVER_SECRET_FILE": "/k/server.key_secret",
            "TICKWIRE_CURVE_AUTHORIZED_DIR": "/k/clients",
            "TICKWIRE_ALLOW_INSECURE_REMOTE": "true",
        }
    )
    cfg = CurveConfig.from_settings(settings)
    assert cfg.server_secret_file == "/k/server.key_secret"
    assert cfg.authorized_dir == "/k/clients"
    assert cfg.allow_insecure_remote is True
    assert cfg.server_enabled and not cfg.client_enabled
    assert CurveConfig.from_settings(load_settings({})) == CurveConfig()


def test_client_curve(tmp_path: Path) -> None:
    server_public, _ = generate_keypair(tmp_path, "server")
    _, client_secret = generate_keypair(tmp_path, "client")
    assert client_curve(CurveConfig()) is None
    with pytest.raises(ConfigError, match="both"):
        client_curve(CurveConfig(client_secret_file=str(client_secret)))
    cfg = CurveConfig(client_secret_file=str(client_secret), server_key_file=str(server_public))
    pair = load_keypair(client_secret)
    assert client_curve(cfg) == (pair.public, pair.secret, load_public_key(server_public))
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        assert apply_client_curve(sock, cfg) is True
        assert sock.mechanism == zmq.CURVE
        plain = ctx.socket(zmq.REQ)
        assert apply_client_curve(plain, CurveConfig()) is False
        assert plain.mechanism == zmq.NULL
    finally:
        ctx.destroy(linger=0)


# --- server policy (sockets are bound, no traffic: see tests/integration/test_curve.py) ----


_open: list[zmq.Socket[bytes]] = []


@pytest.fixture
def ctx() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    """A context whose sockets (made by _socket) are all closed at teardown, then terminated.

    Sockets must be closed explicitly: with warnings as errors, an unreferenced socket's
    ``__del__`` raises before closing and ``ctx.term()`` would hang.
    """
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield context
    while _open:
        _open.pop().close(linger=0)
    context.term()


@pytest.fixture
def server_cfg(tmp_path: Path) -> CurveConfig:
    _, secret = generate_keypair(tmp_path / "server", "server")
    generate_keypair(tmp_path / "clients", "alice")
    return CurveConfig(server_secret_file=str(secret), authorized_dir=str(tmp_path / "clients"))


def _router(ctx: zmq.Context[zmq.Socket[bytes]], kind: int = zmq.ROUTER) -> zmq.Socket[bytes]:
    sock = ctx.socket(kind)
    sock.linger = 0
    _open.append(sock)
    return sock


def test_loopback_without_keys_is_plain(ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    sock = _router(ctx)
    security = secure_server_socket(ctx, sock, f"tcp://127.0.0.1:{free_port()}", CurveConfig())
    assert security.mode == "plain"
    assert sock.mechanism == zmq.NULL
    assert sock.last_endpoint.startswith(b"tcp://127.0.0.1:")


@pytest.mark.parametrize("host", ["0.0.0.0", "*"])
def test_beyond_loopback_without_keys_is_refused(ctx: zmq.Context[zmq.Socket[bytes]], host: str) -> None:
    sock = _router(ctx)
    with pytest.raises(ConfigError, match="CURVE is not configured"):
        secure_server_socket(ctx, sock, f"tcp://{host}:{free_port()}", CurveConfig())
    assert not sock.last_endpoint  # never bound


def test_allow_insecure_remote_binds_with_a_loud_warning(ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    sock = _router(ctx)
    with structlog.testing.capture_logs() as logs:
        security = secure_server_socket(
            ctx, sock, f"tcp://0.0.0.0:{free_port()}", CurveConfig(allow_insecure_remote=True)
        )
    assert security.mode == "insecure"
    assert [(e["log_level"], e["event"].split(":")[0]) for e in logs] == [("warning", "INSECURE")]


def test_half_configured_server_is_refused(
    ctx: zmq.Context[zmq.Socket[bytes]], server_cfg: CurveConfig
) -> None:
    for cfg in (
        CurveConfig(server_secret_file=server_cfg.server_secret_file),
        CurveConfig(authorized_dir=server_cfg.authorized_dir),
    ):
        with pytest.raises(ConfigError, match="needs both"):
            secure_server_socket(ctx, _router(ctx), f"tcp://127.0.0.1:{free_port()}", cfg)


def test_empty_authorized_dir_is_refused_and_leaves_no_authenticator(
    ctx: zmq.Context[zmq.Socket[bytes]], server_cfg: CurveConfig, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    cfg = CurveConfig(
        server_secret_file=server_cfg.server_secret_file, authorized_dir=str(tmp_path / "empty")
    )
    with pytest.raises(ConfigError, match="no client keys"):
        secure_server_socket(ctx, _router(ctx), f"tcp://0.0.0.0:{free_port()}", cfg)
    assert ctx.underlying not in active_authenticators()


def test_curve_server_shares_one_authenticator_per_context(
    ctx: zmq.Context[zmq.Socket[bytes]], server_cfg: CurveConfig
) -> None:
    a, b = _router(ctx), _router(ctx, zmq.PULL)
    first = secure_server_socket(ctx, a, f"tcp://0.0.0.0:{free_port()}", server_cfg)
    second = secure_server_socket(
        ctx, b, f"tcp://127.0.0.1:{free_port()}", server_cfg
    )  # keys: CURVE on loopback too
    assert (first.mode, second.mode) == ("curve", "curve")
    assert a.curve_server and b.curve_server and a.mechanism == zmq.CURVE
    assert active_authenticators().count(ctx.underlying) == 1
    first.close()
    first.close()  # idempotent
    assert a.closed and not b.closed  # the socket is closed before its authenticator is released
    assert ctx.underlying in active_authenticators()
    with second:
        pass
    assert ctx.underlying not in active_authenticators()


def test_socket_of_another_context_is_refused(ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    other: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        with pytest.raises(ValueError, match="context"):
            secure_server_socket(other, _router(ctx), f"tcp://127.0.0.1:{free_port()}", CurveConfig())
    finally:
        other.term()


# --- keys CLI --------------------------------------------------------------------------------


def test_keys_cli_generate_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["generate", "--dir", str(tmp_path), "--name", "alice"]) == 0
    out = capsys.readouterr().out
    pair = load_keypair(tmp_path / "alice.key_secret")
    assert pair.public.decode() in out and pair.secret.decode() not in out
    assert cli(["show", str(tmp_path / "alice.key_secret")]) == 0
    assert capsys.readouterr().out.strip() == pair.public.decode()
    assert cli(["generate", "--dir", str(tmp_path), "--name", "alice"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli(["show", str(tmp_path / "missing")]) == 1
    assert cli([]) == 2
    assert cli(["generate", "--dir", str(tmp_path)]) == 2


def test_server_mode_follows_the_endpoint_policy() -> None:
    keys = CurveConfig(server_secret_file="s.key_secret", authorized_dir="clients")
    assert server_mode("tcp://127.0.0.1:5557", CurveConfig()) == "plain"
    assert server_mode("ipc:///tmp/feed-ctl", CurveConfig()) == "plain"
    assert server_mode("tcp://127.0.0.1:5557", keys) == "curve"  # keys configured: CURVE on loopback too
    assert server_mode("tcp://*:5557", keys) == "curve"
    assert server_mode("tcp://*:5557", CurveConfig(allow_insecure_remote=True)) == "insecure"
    with pytest.raises(ConfigError, match="CURVE is not configured"):
        server_mode("tcp://0.0.0.0:5557", CurveConfig())
    with pytest.raises(ConfigError, match="needs both"):
        server_mode("tcp://*:5557", CurveConfig(server_secret_file="s.key_secret"))
