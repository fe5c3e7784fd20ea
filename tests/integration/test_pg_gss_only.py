"""The test PostgreSQL (tests/realm/pg_cluster.py) accepts only GSSAPI: a ticket for alice logs
in as alice and as nobody else; no ticket, a password, the unix socket: all refused.

Independent of the proxy: a real KDC (conftest `realm`), a real PostgreSQL 15, real psql."""

from __future__ import annotations

import os
import socket
import stat
import struct
from pathlib import Path

import pytest

from pg_cluster import PG_BIN, PgCluster

ROLES = ["alice", "bob", "carol"]


@pytest.fixture(scope="module")
def pg(realm, tmp_path_factory):
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN}); run scripts/install-deps.sh")
    cluster = PgCluster(tmp_path_factory.mktemp("pg"), realm)
    cluster.start(roles=ROLES)
    yield cluster
    cluster.stop()


def _fails(res, *needles):
    assert res.returncode != 0, f"psql succeeded: {res.stdout!r}"
    text = res.stderr
    for n in needles:
        assert n in text, f"{n!r} not in psql's error:\n{text}"


# ---------------------------------------------------------------------------- configuration
def test_hba_is_one_gss_line(pg, realm):
    lines = (pg.data_dir / "pg_hba.conf").read_text().splitlines()
    assert lines == [f"host all all 127.0.0.1/32 gss include_realm=0 krb_realm={realm.realm}"]


def test_files_belong_to_postgres(pg):
    import pwd
    pg_uid = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    kt = os.stat(pg.server_keytab)
    assert kt.st_uid == pg_uid and stat.S_IMODE(kt.st_mode) == 0o600
    dd = os.stat(pg.data_dir)
    assert dd.st_uid == pg_uid and stat.S_IMODE(dd.st_mode) == 0o700
    conf = (pg.data_dir / "postgresql.auto.conf").read_text()
    assert "listen_addresses = '127.0.0.1'" in conf
    assert f"port = {pg.port}" in conf
    assert f"krb_server_keyfile = '{pg.server_keytab}'" in conf
    assert f"unix_socket_directories = '{pg.data_dir}'" in conf


def test_conninfo(pg):
    assert pg.conninfo("alice") == f"host=localhost port={pg.port} dbname=postgres user=alice"
    assert pg.conninfo() == f"host=localhost port={pg.port} dbname=postgres"


# ---------------------------------------------------------------------------- GSSAPI logins
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_ticket_logs_in_as_its_user(pg, realm, user):
    res = pg.psql("select current_user, session_user", user=user, ccache=realm.ccaches[user])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{user}|{user}"
    assert f'identity="{user}@{realm.realm}" method=gss' in pg.log_text()


def test_psql_with_krb5ccname_in_env(pg, realm):
    """The way applications do it: KRB5CCNAME in the subprocess environment, plain psql."""
    import subprocess
    from pg_cluster import PSQL
    env = pg.client_env(realm.ccaches["alice"])
    res = subprocess.run([PSQL, "-X", "-A", "-t", pg.conninfo("alice"), "-c",
                          "select current_user"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "alice"


def test_listens_on_loopback_only(pg, realm):
    res = pg.psql("show listen_addresses", user="alice", ccache=realm.ccaches["alice"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "127.0.0.1"


# ---------------------------------------------------------------------------- refusals
def test_no_ticket_is_refused(pg, tmp_path):
    res = pg.psql("select current_user", user="alice", ccache=tmp_path / "no-such.ccache")
    _fails(res, "GSSAPI")


def test_password_is_refused(pg, tmp_path):
    # libpq offers the password when the server asks for one; this server never does.
    res = pg.psql("select current_user", user="alice", ccache=tmp_path / "no-such.ccache",
                  extra="gssencmode=disable password=alice-password",
                  env={"PGPASSWORD": "alice-password"})
    _fails(res)
    assert "password authentication" not in res.stderr
    assert "alice" not in res.stdout


def _read_msg(sock) -> tuple[bytes, bytes]:
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"server closed the connection after {buf!r}")
            buf += chunk
        return buf
    head = read(5)
    kind, length = head[:1], struct.unpack("!I", head[1:])[0]
    return kind, read(length - 4)


@pytest.mark.parametrize("user", ["alice", "postgres", "mallory"])
def test_server_asks_for_gss_and_rejects_a_password_message(pg, user):
    """Raw protocol: for any user the server's only authentication request is GSS (code 7);
    a password sent instead is a fatal error, not a login."""
    with socket.create_connection(("127.0.0.1", pg.port), timeout=10) as s:
        params = b"user\0" + user.encode() + b"\0database\0postgres\0\0"
        s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        kind, body = _read_msg(s)
        assert kind == b"R", (kind, body)
        code = struct.unpack("!I", body[:4])[0]
        assert code == 7, f"server asked for auth code {code}, expected 7 (GSS)"
        pw = b"alice-password\0"
        s.sendall(b"p" + struct.pack("!I", 4 + len(pw)) + pw)
        kind, body = _read_msg(s)
        assert kind == b"E", (kind, body)
        assert b"FATAL" in body


def test_alice_ticket_cannot_be_bob(pg, realm):
    res = pg.psql("select current_user", user="bob", ccache=realm.ccaches["alice"])
    _fails(res, 'GSSAPI authentication failed for user "bob"')
    assert ("provided user name (bob) and authenticated user name (alice) do not match"
            in pg.log_text())


def test_alice_ticket_cannot_be_the_superuser(pg, realm):
    res = pg.psql("select current_user", user="postgres", ccache=realm.ccaches["alice"])
    _fails(res, 'GSSAPI authentication failed for user "postgres"')


def test_principal_without_a_role_is_refused(pg, realm):
    # dave/admin has a ticket but no role: authentication succeeds, the login does not.
    res = pg.psql("select current_user", user="dave/admin",
                  ccache=realm.ccaches["dave/admin"])
    _fails(res, 'role "dave/admin" does not exist')


def test_unix_socket_has_no_hba_line(pg, realm):
    res = pg.psql("select 1", user="postgres", ccache=realm.ccaches["alice"],
                  extra=f"host={pg.socket_dir}")
    _fails(res, "no pg_hba.conf entry")


# ---------------------------------------------------------------------------- lifecycle
def test_second_cluster_on_the_same_realm_then_stop(pg, realm, tmp_path):
    """Another cluster reuses postgres/localhost without re-keying it (the first keeps
    working); stop() shuts the server down and removes its directory."""
    other = PgCluster(tmp_path / "other", realm)
    other.start(roles=["bob"])
    try:
        assert other.port != pg.port
        res = other.psql("select current_user", user="bob", ccache=realm.ccaches["bob"])
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "bob"
        res = pg.psql("select current_user", user="alice", ccache=realm.ccaches["alice"])
        assert res.returncode == 0, res.stderr
        base, port = other.base, other.port
    finally:
        other.stop()
    assert not Path(base).exists()
    assert not (tmp_path / "other" / "pg").exists()
    assert "database system is shut down" in (tmp_path / "other" / "pg-server.log").read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    other.stop()  # idempotent
