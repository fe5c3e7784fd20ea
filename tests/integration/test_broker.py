"""gssgate-broker with the real proxy depositing and real gssgatectl / Python gRPC clients
redeeming, against a real KDC (docs/broker.md, proto/gssgate/v1/broker.proto, issue 3).

Every test starts its own broker(s) (sockets in a short private dir) and, where it needs a
delegated credential, its own proxy in front of the echo upstream with `broker:` set; the handle
is read from the X-Gssgate-Credential header the echo upstream reports. Clients: curl
--negotiate --delegation always, and python-gssapi with the delegation flag."""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

import proxytest

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import (  # noqa: E402
    NOT_FOUND_MESSAGE, PG_SERVICE, REALM_NAME, assert_ctl_fails, b64url_decode, broker_binary, ctl,
    gssgatectl_binary, handle_parts, header, klist, make_handle, parse_ccache, real_creds,
    redeem_ctl, seal_handle, short_dir, signin, tgt_bytes)

# Fixtures: broker_factory, grpc_api, pg_service.
pytest_plugins = ["broker_fixtures"]

ALICE = f"alice@{REALM_NAME}"
BOB = f"bob@{REALM_NAME}"
CAROL = f"carol@{REALM_NAME}"
PG_TICKET = f"{PG_SERVICE}@{REALM_NAME}"
TGT = f"krbtgt/{REALM_NAME}@{REALM_NAME}"


@pytest.fixture
def stack(broker_factory, proxy, pg_service):
    """A broker (policy: any uid -> postgres/*) and a proxy that deposits into it."""
    b = broker_factory()
    p = proxy(broker=b.deposit, timeouts={"broker": "3s"})
    return SimpleNamespace(broker=b, proxy=p)


def redeem_ok(backend: str, handle: str, out: Path, service: str = PG_SERVICE):
    res = redeem_ctl(backend, handle, out, service=service)
    assert res.returncode == 0, f"gssgatectl credential failed: {res.stderr}"
    assert res.stdout.strip() == f"KRB5CCNAME=FILE:{out}", res.stdout
    return klist(out)


def flip(raw: bytes, index: int, mask: int = 0x01) -> bytes:
    b = bytearray(raw)
    b[index] ^= mask
    return bytes(b)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


# Layout of a handle's raw bytes (common/handle_codec.h): key_id[4] | nonce[12] | ciphertext
# (credential_id[16] | expires_at[8] | principal) | tag[16]; AES-GCM, so the ciphertext is CTR.
CT = 4 + 12
CT_EXPIRY = CT + 16
CT_PRINCIPAL = CT + 24


# ------------------------------------------------------------------------------- redeem
@pytest.mark.parametrize("client", ["curl", "gssapi"])
def test_redeem_gives_a_private_ccache_with_only_the_service_ticket(stack, tmp_path, client):
    status, seen, handle = signin(stack.proxy, "alice", client=client)
    assert status == 200
    assert header(seen, "X-Remote-User") == ["alice"]
    assert handle and handle.startswith("gsh1."), seen
    out = tmp_path / "alice.ccache"
    default, servers = redeem_ok(stack.broker.backend, handle, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert default == ALICE
    assert servers == [PG_TICKET], "the ccache must hold exactly the postgres ticket"
    principal, creds = parse_ccache(out.read_bytes())
    assert principal == ALICE
    assert [(c.client, c.server) for c in real_creds(creds)] == [(ALICE, PG_TICKET)]
    assert not any("krbtgt" in c.server for c in creds), [c.server for c in creds]


def test_allow_tgt_policy_entry_adds_the_tgt_for_that_uid_only(broker_factory, proxy, pg_service,
                                                              tmp_path):
    me = os.getuid()
    someone_else = broker_factory(policy=[
        {"uid": me + 4242, "services": ["postgres/*"], "allow_tgt": True},
        {"uid": "any", "services": ["postgres/*"]}])
    mine = broker_factory(policy=[{"uid": me, "services": ["postgres/*"], "allow_tgt": True}])
    for b, with_tgt in ((someone_else, False), (mine, True)):
        p = proxy(broker=b.deposit)
        _, _, handle = signin(p, "alice")
        assert handle
        out = tmp_path / f"{b.name}.ccache"
        default, servers = redeem_ok(b.backend, handle, out)
        assert default == ALICE
        if with_tgt:
            assert sorted(servers) == sorted([TGT, PG_TICKET]), servers
        else:
            assert servers == [PG_TICKET], servers
        assert b.wait_for_log(rf"redeem: uid={me} .*principal={re.escape(ALICE)} "
                              rf"service={PG_SERVICE} .*tgt={'true' if with_tgt else 'false'}")


def test_expired_handle_is_not_found(broker_factory, proxy, pg_service, tmp_path):
    b = broker_factory(handle_ttl="2s")
    p = proxy(broker=b.deposit)
    _, _, handle = signin(p, "alice")
    redeem_ok(b.backend, handle, tmp_path / "fresh.ccache")
    time.sleep(3)
    res = redeem_ctl(b.backend, handle, tmp_path / "late.ccache")
    assert_ctl_fails(res, NOT_FOUND_MESSAGE)
    assert not (tmp_path / "late.ccache").exists()
    assert b.wait_for_log(r"redeem refused: uid=\d+ .*reason=handle_invalid_or_expired")
    # The credential itself is still stored: a new sign-in gets a new, working handle.
    _, _, again = signin(p, "alice")
    assert again and again != handle
    redeem_ok(b.backend, again, tmp_path / "again.ccache")


def test_forged_truncated_and_bit_flipped_handles_are_not_found(stack, grpc_api, tmp_path):
    _, _, handle = signin(stack.proxy, "alice")
    prefix, raw = handle_parts(handle)
    assert prefix == "gsh1."
    variants = {
        "random": make_handle(prefix, os.urandom(len(raw))),
        "random_with_real_key_id": make_handle(prefix, raw[:4] + os.urandom(len(raw) - 4)),
        "truncated_by_4": handle[:-4],
        "truncated_by_1": handle[:-1],
        "truncated_half": handle[:len(handle) // 2],
        "prefix_only": "gsh1.",
        "without_prefix": handle[len(prefix):],
        "other_version": "gsh2." + handle[len(prefix):],
        "extended": handle + "AAAA",
        "not_a_handle": "not-a-handle",
        "flip_key_id": make_handle(prefix, flip(raw, 3)),
        "flip_nonce": make_handle(prefix, flip(raw, 4 + 5)),
        "flip_credential_id": make_handle(prefix, flip(raw, CT + 2)),
        "extend_expiry": make_handle(prefix, flip(raw, CT_EXPIRY + 4, 0x10)),
        "flip_principal": make_handle(prefix, flip(raw, CT_PRINCIPAL)),
        "flip_tag": make_handle(prefix, flip(raw, len(raw) - 1, 0x80)),
        "tag_dropped": make_handle(prefix, raw[:-16]),
    }
    assert len(set(variants.values())) == len(variants)
    refused_before = stack.broker.log_text().count("redeem refused")
    for name, forged in variants.items():
        out = tmp_path / f"{name}.ccache"
        args = ["credential", "--broker", stack.broker.backend, "--service", PG_SERVICE,
                f"--handle={forged}", "--out", str(out)]
        res = ctl(*args)
        assert res.returncode != 0, f"{name}: forged handle redeemed"
        assert NOT_FOUND_MESSAGE in res.stderr, f"{name}: {res.stderr!r}"
        assert not out.exists(), name
        # The same code and message for every kind of bad handle: no oracle.
        code, details = grpc_api.code_of(grpc_api.redeem, stack.broker.backend, forged)
        assert (code, details) == (grpc.StatusCode.NOT_FOUND, NOT_FOUND_MESSAGE), name
    # Each refusal is audited (gssgatectl + gRPC attempt per variant).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if stack.broker.log_text().count("redeem refused") - refused_before >= 2 * len(variants):
            break
        time.sleep(0.05)
    assert stack.broker.log_text().count("redeem refused") - refused_before == 2 * len(variants)
    # The genuine handle still works.
    assert redeem_ok(stack.broker.backend, handle, tmp_path / "genuine.ccache")[0] == ALICE


def test_alices_handle_cannot_yield_another_users_credential(stack, grpc_api, realm, tmp_path):
    _, _, h_alice = signin(stack.proxy, "alice")
    _, _, h_carol = signin(stack.proxy, "carol", client="gssapi")
    assert h_alice and h_carol
    backend, deposit = stack.broker.backend, stack.broker.deposit

    # Redeeming alice's handle yields alice, whatever else the caller does.
    r = grpc_api.redeem(backend, h_alice)
    assert r.principal == ALICE
    default, creds = parse_ccache(r.ccache)
    assert default == ALICE and {c.client for c in creds} == {ALICE}
    assert redeem_ok(backend, h_carol, tmp_path / "carol.ccache")[0] == CAROL
    # The API has no way to ask for a user: the handle alone decides.
    assert set(grpc_api.pb2.RedeemRequest.DESCRIPTOR.fields_by_name) == {"handle", "service"}

    ids = {c.principal: b64url_decode(c.credential_id)
           for c in grpc_api.list(deposit).credentials}
    assert set(ids) == {ALICE, CAROL} and all(len(i) == 16 for i in ids.values())
    attempts = {}
    # 1. Without the key: rewrite the CTR ciphertext of alice's handle so that it would decrypt
    #    to carol's credential id and name (same length) — the GCM tag must catch it.
    prefix, raw = handle_parts(h_alice)
    b = bytearray(raw)
    b[CT:CT + 16] = xor(b[CT:CT + 16], xor(ids[ALICE], ids[CAROL]))
    name_delta = xor(ALICE.encode(), CAROL.encode())
    b[CT_PRINCIPAL:CT_PRINCIPAL + len(name_delta)] = xor(
        b[CT_PRINCIPAL:CT_PRINCIPAL + len(name_delta)], name_delta)
    attempts["ctr_swap_id_and_name"] = make_handle(prefix, bytes(b))
    b = bytearray(raw)
    b[CT:CT + 16] = xor(b[CT:CT + 16], xor(ids[ALICE], ids[CAROL]))
    attempts["ctr_swap_id_only"] = make_handle(prefix, bytes(b))
    # 2. Splicing two genuine handles.
    _, raw_c = handle_parts(h_carol)
    attempts["splice_alice_head_carol_tail"] = make_handle(prefix, raw[:CT] + raw_c[CT:])
    attempts["splice_carol_ciphertext_alice_tag"] = make_handle(
        prefix, raw_c[:-16] + raw[-16:])
    # 3. Even with the sealing key (only the deposit socket hands it out, to the proxy), a
    #    handle must name a credential together with its own principal.
    dep = grpc_api.deposit(deposit, ALICE, tgt_bytes(realm.ccaches["alice"]))
    key_id, key = dep.handle_key_id, dep.handle_key
    assert len(key) == 32
    exp = int(time.time()) + 120
    attempts["sealed_alice_id_carol_name"] = seal_handle(key_id, key, ids[ALICE], CAROL, exp)
    attempts["sealed_carol_id_alice_name"] = seal_handle(key_id, key, ids[CAROL], ALICE, exp)
    attempts["sealed_bob_name"] = seal_handle(key_id, key, ids[ALICE], BOB, exp)
    attempts["sealed_unknown_id"] = seal_handle(key_id, key, os.urandom(16), ALICE, exp)
    for name, forged in attempts.items():
        code, details = grpc_api.code_of(grpc_api.redeem, backend, forged)
        assert (code, details) == (grpc.StatusCode.NOT_FOUND, NOT_FOUND_MESSAGE), name
        res = redeem_ctl(backend, forged, tmp_path / f"{name}.ccache")
        assert_ctl_fails(res, NOT_FOUND_MESSAGE)
    # Control: a correctly sealed handle for alice's credential does redeem, as alice.
    control = seal_handle(key_id, key, ids[ALICE], ALICE, exp)
    assert grpc_api.redeem(backend, control).principal == ALICE


# ------------------------------------------------------------------------------- policy
def test_service_not_in_policy_is_not_allowed(stack, grpc_api, tmp_path):
    _, _, handle = signin(stack.proxy, "alice")
    for service in ("HTTP/localhost", "host/localhost", "postgresql/localhost"):
        out = tmp_path / (service.replace("/", "_") + ".ccache")
        res = redeem_ctl(stack.broker.backend, handle, out, service=service)
        assert_ctl_fails(res, "not allowed")
        assert not out.exists()
        code, _ = grpc_api.code_of(grpc_api.redeem, stack.broker.backend, handle, service)
        assert code == grpc.StatusCode.PERMISSION_DENIED, service
    # Policy is checked before the handle, so the line names the caller and service only.
    assert stack.broker.wait_for_log(
        rf"redeem denied: uid={os.getuid()} .*service=HTTP/localhost reason=policy")
    # The allowed service still works with the same handle, also in host-based form.
    redeem_ok(stack.broker.backend, handle, tmp_path / "pg.ccache")
    assert redeem_ok(stack.broker.backend, handle, tmp_path / "pg-hb.ccache",
                     service="postgres@localhost") == (ALICE, [PG_TICKET])
    # Malformed service names and an allowed but unknown service: clear one-line errors.
    for service in ("postgres/", "postgres/localhost@GSSGATE.TEST", "a/b/c"):
        code, details = grpc_api.code_of(grpc_api.redeem, stack.broker.backend, handle, service)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "service" in details, service
    res = redeem_ctl(stack.broker.backend, handle, tmp_path / "u.ccache",
                     service="postgres/nohost.example")
    assert_ctl_fails(res, "postgres/nohost.example")
    assert stack.broker.alive()


def test_empty_policy_allows_nothing(broker_factory, proxy, pg_service, grpc_api, tmp_path):
    b = broker_factory(policy=None)
    assert b.wait_for_log(r"policy is empty")
    p = proxy(broker=b.deposit)
    _, _, handle = signin(p, "alice")
    assert handle, "deposits work without a policy; only redemption is refused"
    for service in (PG_SERVICE, "HTTP/localhost"):
        res = redeem_ctl(b.backend, handle, tmp_path / "x.ccache", service=service)
        assert_ctl_fails(res, "not allowed")
        code, _ = grpc_api.code_of(grpc_api.redeem, b.backend, handle, service)
        assert code == grpc.StatusCode.PERMISSION_DENIED


def test_policy_reload_on_sighup(broker_factory, proxy, pg_service, tmp_path):
    b = broker_factory(policy=None)
    p = proxy(broker=b.deposit)
    _, _, handle = signin(p, "alice")
    assert_ctl_fails(redeem_ctl(b.backend, handle, tmp_path / "a.ccache"), "not allowed")
    start = b.log_size()
    cfg = dict(b.config)
    cfg["policy"] = [{"uid": "any", "services": ["postgres/*"]}]
    b.reload(cfg)
    assert b.wait_for_log(r"configuration reloaded", start=start), b.log_tail()
    assert redeem_ok(b.backend, handle, tmp_path / "b.ccache")[0] == ALICE


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run gssgatectl as another uid")
def test_policy_applies_to_the_callers_uid_from_the_kernel(broker_factory, proxy, pg_service,
                                                          tmp_path):
    """SO_PEERCRED: the same handle is refused to root and granted to nobody (uid 65534) by a
    policy that names only 65534."""
    b = broker_factory(sockets={"listen": {"group": "nogroup"}},
                       policy=[{"uid": 65534, "services": ["postgres/*"]}])
    os.chmod(Path(b.backend_path).parent, 0o711)
    p = proxy(broker=b.deposit)
    _, _, handle = signin(p, "alice")
    assert_ctl_fails(redeem_ctl(b.backend, handle, tmp_path / "root.ccache"), "not allowed")
    env = {"PATH": "/usr/bin:/bin", "KRB5CCNAME": "FILE:/nonexistent"}
    res = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", gssgatectl_binary(),
         "credential", "--broker", b.backend, "--service", PG_SERVICE, "--handle-file", "-"],
        input=handle, capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    m = re.fullmatch(r"KRB5CCNAME=FILE:(/\S+)", res.stdout.strip())
    assert m, res.stdout
    out = Path(m.group(1))
    try:
        st = out.stat()
        assert st.st_uid == 65534 and stat.S_IMODE(st.st_mode) == 0o600
        assert klist(out) == (ALICE, [PG_TICKET])
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    assert b.wait_for_log(rf"redeem: uid=65534 .*principal={re.escape(ALICE)}")
    assert b.wait_for_log(r"redeem denied: uid=0 ")


# ------------------------------------------------------------------------------- the two sockets
def test_backend_socket_cannot_deposit_or_list(stack, grpc_api, realm):
    b = stack.broker
    tgt = tgt_bytes(realm.ccaches["alice"])
    api = grpc_api
    code, _ = api.code_of(api.deposit, b.backend, ALICE, tgt)
    assert code == grpc.StatusCode.UNIMPLEMENTED
    code, _ = api.code_of(api.list, b.backend)
    assert code == grpc.StatusCode.UNIMPLEMENTED
    with api.channel(b.backend) as ch:
        admin = api.pb2_grpc.CredentialAdminStub(ch)
        code, _ = api.code_of(admin.RevokeCredential,
                              api.pb2.RevokeCredentialRequest(credential_id="A" * 22),
                              timeout=10)
        assert code == grpc.StatusCode.UNIMPLEMENTED
    # And the proxy's socket serves no credentials.
    _, _, handle = signin(stack.proxy, "alice")
    code, _ = api.code_of(api.redeem, b.deposit, handle)
    assert code == grpc.StatusCode.UNIMPLEMENTED
    # gssgatectl list on the backend socket fails; on the deposit socket it works.
    res = ctl("list", "--broker", b.backend)
    assert res.returncode != 0 and res.stderr.strip(), res
    listing = api.list(b.deposit).credentials
    assert [c.principal for c in listing] == [ALICE], "nothing may have been deposited twice"


def test_deposit_validation(broker_factory, grpc_api, realm, pg_service, tmp_path):
    b = broker_factory(limits={"max_message_bytes": "16KiB"})
    api = grpc_api
    alice_tgt = tgt_bytes(realm.ccaches["alice"])
    # A service ticket of alice's (not a TGT).
    cc = tmp_path / "alice-with-service-ticket.ccache"
    shutil.copyfile(realm.ccaches["alice"], cc)
    res = subprocess.run(["kvno", "-c", f"FILE:{cc}", "HTTP/localhost"], capture_output=True,
                         text=True, env={**os.environ, "KRB5CCNAME": f"FILE:{cc}"}, timeout=20)
    assert res.returncode == 0, res.stderr
    service_ticket = [c for c in parse_ccache(cc.read_bytes())[1]
                      if c.server == f"HTTP/localhost@{REALM_NAME}"][0].raw

    cases = {
        "garbage": (ALICE, b"\x00\x01garbage" * 10, grpc.StatusCode.INVALID_ARGUMENT),
        "empty": (ALICE, b"", grpc.StatusCode.INVALID_ARGUMENT),
        "truncated": (ALICE, alice_tgt[:-7], grpc.StatusCode.INVALID_ARGUMENT),
        "claimed_as_bob": (BOB, alice_tgt, grpc.StatusCode.INVALID_ARGUMENT),
        "claimed_as_bob_short": ("bob", alice_tgt, grpc.StatusCode.INVALID_ARGUMENT),
        "claimed_other_realm": ("alice@OTHER.TEST", alice_tgt,
                                grpc.StatusCode.INVALID_ARGUMENT),
        "no_principal": ("", alice_tgt, grpc.StatusCode.INVALID_ARGUMENT),
        "service_ticket": (ALICE, service_ticket, grpc.StatusCode.INVALID_ARGUMENT),
        "oversized": (ALICE, alice_tgt + b"\0" * 40000, grpc.StatusCode.RESOURCE_EXHAUSTED),
    }
    for name, (principal, tgt, expected) in cases.items():
        code, details = api.code_of(api.deposit, b.deposit, principal, tgt)
        assert code == expected, f"{name}: {code} {details}"
        assert details and "\n" not in details, name
        assert b.alive(), f"broker died on {name}:\n{b.log_tail()}"
    assert list(api.list(b.deposit).credentials) == []
    assert b.wait_for_log(r"deposit refused: uid=\d+ pid=\d+ principal=bob@GSSGATE.TEST "
                          r"reason=\".*differs")
    # Still up and working: health, then a genuine deposit whose handle redeems as alice.
    res = ctl("health", "--broker", b.deposit)
    assert res.returncode == 0 and res.stdout.strip() == "SERVING", res
    dep = api.deposit(b.deposit, ALICE, alice_tgt)
    assert dep.handle.startswith("gsh1.") and dep.handle_ttl_seconds == 300
    assert len(b64url_decode(dep.credential_id)) == 16
    assert redeem_ok(b.backend, dep.handle, tmp_path / "ok.ccache") == (ALICE, [PG_TICKET])
    assert [c.principal for c in api.list(b.deposit).credentials] == [ALICE]


# ------------------------------------------------------------------------------- revoke, list
def test_revoke_then_redeem_is_not_found(stack, grpc_api, tmp_path):
    b = stack.broker
    _, _, h_alice = signin(stack.proxy, "alice")
    redeem_ok(b.backend, h_alice, tmp_path / "1.ccache")
    res = ctl("revoke", "--broker", b.backend, "--handle", h_alice)
    assert res.returncode == 0, res.stderr
    assert_ctl_fails(redeem_ctl(b.backend, h_alice, tmp_path / "2.ccache"), NOT_FOUND_MESSAGE)
    code, _ = grpc_api.code_of(grpc_api.redeem, b.backend, h_alice)
    assert code == grpc.StatusCode.NOT_FOUND
    # Revoking again (or an unknown handle) is not an error.
    assert ctl("revoke", "--broker", b.backend, "--handle", h_alice).returncode == 0
    # Admin revocation by credential id, on the deposit socket.
    _, _, h_bob = signin(stack.proxy, "bob")
    listing = grpc_api.list(b.deposit).credentials
    assert [c.principal for c in listing] == [BOB]
    res = ctl("revoke-credential", "--broker", b.deposit, "--id", listing[0].credential_id)
    assert res.returncode == 0, res.stderr
    assert_ctl_fails(redeem_ctl(b.backend, h_bob, tmp_path / "3.ccache"), NOT_FOUND_MESSAGE)
    assert list(grpc_api.list(b.deposit).credentials) == []
    assert b.wait_for_log(rf"revoke: uid={os.getuid()} .*principal={re.escape(ALICE)}")
    assert b.wait_for_log(rf"revoke: uid={os.getuid()} .*principal={re.escape(BOB)}.*admin")


def test_gssgatectl_list_on_the_deposit_socket(stack, tmp_path):
    b = stack.broker
    _, _, handle = signin(stack.proxy, "alice")
    redeem_ok(b.backend, handle, tmp_path / "1.ccache")
    redeem_ok(b.backend, handle, tmp_path / "2.ccache")
    res = ctl("list", "--broker", b.deposit)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "PRINCIPAL", "DEPOSITED", "EXPIRES", "REDEMPTIONS"]
    assert len(lines) == 2, res.stdout
    row = lines[1].split()
    assert row[1] == ALICE and row[4] == "2", row
    assert len(b64url_decode(row[0])) == 16
    assert handle not in res.stdout
    res = ctl("health", "--broker", b.backend)
    assert res.returncode == 0 and res.stdout.strip() == "SERVING", res


def test_socket_modes(broker_factory):
    b = broker_factory()
    for path, mode in ((b.backend_path, 0o660), (b.deposit_path, 0o600)):
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == mode, f"{path}: {oct(st.st_mode)}"
        assert st.st_uid == os.geteuid()
    import grp
    nogroup = grp.getgrnam("nogroup").gr_gid
    c = broker_factory(sockets={"listen": {"mode": "0640", "group": "nogroup"},
                                "deposit_listen": {"mode": "0660"}})
    st = os.stat(c.backend_path)
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == nogroup
    assert stat.S_IMODE(os.stat(c.deposit_path).st_mode) == 0o660
    # A mode that lets others in is refused.
    bad = broker_factory(_start=False, sockets={"deposit_listen": {"mode": "0666"}})
    res = bad.check_config()
    assert res.returncode != 0 and "mode" in res.stderr, res
    # SIGTERM removes the socket files.
    b.stop()
    assert not os.path.exists(b.backend_path) and not os.path.exists(b.deposit_path)


# ------------------------------------------------------------------------------- audit
def test_audit_log_has_every_decision_and_no_secrets(stack, grpc_api, tmp_path):
    b, me = stack.broker, os.getuid()
    _, _, handle = signin(stack.proxy, "alice")
    out = tmp_path / "alice.ccache"
    redeem_ok(b.backend, handle, out)
    redeem_ok(b.backend, handle, tmp_path / "again.ccache")
    assert_ctl_fails(redeem_ctl(b.backend, handle, tmp_path / "x.ccache",
                                service="HTTP/localhost"), "not allowed")
    grpc_api.code_of(grpc_api.redeem, b.backend, handle[:-3])
    assert ctl("revoke", "--broker", b.backend, "--handle", handle).returncode == 0
    assert b.wait_for_log(r"revoke: ")
    log = b.log_text()
    assert re.search(rf"deposit: uid={me} pid=\d+ principal={re.escape(ALICE)} credential=\S+ "
                     rf"expires_in_s=\d+", log), log
    assert re.search(rf"redeem: uid={me} pid=\d+ principal={re.escape(ALICE)} "
                     rf"service={PG_SERVICE} credential=\S+ tgt=false cached=false", log), log
    assert re.search(rf"redeem: uid={me} pid=\d+ principal={re.escape(ALICE)} "
                     rf"service={PG_SERVICE} credential=\S+ tgt=false cached=true", log), log
    assert re.search(rf"redeem denied: uid={me} .*service=HTTP/localhost", log), log
    assert re.search(rf"redeem refused: uid={me} .*reason=handle_", log), log
    assert re.search(rf"revoke: uid={me} .*principal={re.escape(ALICE)}", log), log
    # Never the handle (or a recognisable piece of it), never ticket or ccache bytes.
    raw_log = b.log_bytes()
    body = handle[len("gsh1."):]
    for piece in (handle, body, body[:24], body[-24:], handle[:-3]):
        assert piece not in log, "handle in the broker log"
    cc = out.read_bytes()
    _, creds = parse_ccache(cc)
    for c in real_creds(creds):
        t = c.ticket
        for enc in (t[-32:], t[-32:].hex().encode(), t[-32:].hex().upper().encode(),
                    base64.b64encode(t)[-40:], base64.urlsafe_b64encode(t)[-40:]):
            assert enc not in raw_log, "ticket bytes in the broker log"
    assert base64.b64encode(cc)[-40:] not in raw_log
    assert handle not in stack.proxy.log_text(), "handle in the proxy log"


# ------------------------------------------------------------------------------- restarts, store
def test_restart_with_memory_store_forgets_handles_and_new_signin_works(stack, grpc_api,
                                                                         tmp_path):
    b = stack.broker
    _, _, old = signin(stack.proxy, "alice")
    redeem_ok(b.backend, old, tmp_path / "1.ccache")
    b.restart()
    assert b.wait_for_log(r"store: memory \(0 loaded\)")
    assert_ctl_fails(redeem_ctl(b.backend, old, tmp_path / "2.ccache"), NOT_FOUND_MESSAGE)
    assert list(grpc_api.list(b.deposit).credentials) == []
    # The same proxy (no restart) deposits into the new broker at the next sign-in.
    status, seen, new = signin(stack.proxy, "alice")
    assert status == 200 and header(seen, "X-Remote-User") == ["alice"]
    assert new, f"no handle after the broker restart; proxy log:\n{stack.proxy.log_tail(10)}"
    assert redeem_ok(b.backend, new, tmp_path / "3.ccache") == (ALICE, [PG_TICKET])


def test_sigterm_is_prompt_with_an_idle_client_connection(stack, grpc_api):
    """Nothing is in flight: the proxy's idle connection (always open) and a backend's must not
    hold SIGTERM up."""
    b = stack.broker
    _, _, handle = signin(stack.proxy, "alice")
    assert handle
    with grpc_api.channel(b.backend) as ch:
        grpc_api.pb2_grpc.CredentialBrokerStub(ch).Redeem(
            grpc_api.pb2.RedeemRequest(handle=handle, service=PG_SERVICE), timeout=10)
        t0 = time.monotonic()
        b.stop()  # must exit 0
        seconds = time.monotonic() - t0
    assert seconds < 2.5, f"SIGTERM took {seconds:.1f} s with idle client connections open"


def test_dir_store_is_private_and_survives_restart(broker_factory, proxy, pg_service, grpc_api,
                                                   tmp_path):
    store = tmp_path / "store"
    keyfile = tmp_path / "handle.key"
    keyfile.write_text(os.urandom(32).hex() + "\n")
    keyfile.chmod(0o600)
    b = broker_factory(store=f"dir:{store}", handle_key_file=str(keyfile))
    p = proxy(broker=b.deposit)
    _, _, handle = signin(p, "alice")
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    files = [f for f in store.iterdir()]
    assert len(files) == 1, files
    st = files[0].stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    default, creds = parse_ccache(files[0].read_bytes())
    assert default == ALICE and [c.server for c in real_creds(creds)] == [TGT]
    listed = grpc_api.list(b.deposit).credentials
    assert b64url_decode(listed[0].credential_id).hex() == files[0].name

    p.terminate_and_check()  # (an idle proxy connection slows SIGTERM down; not tested here)
    b.restart()
    assert b.wait_for_log(rf"store: dir:{re.escape(str(store))} \(1 loaded\)")
    assert [c.principal for c in grpc_api.list(b.deposit).credentials] == [ALICE]
    assert redeem_ok(b.backend, handle, tmp_path / "after.ccache") == (ALICE, [PG_TICKET])
    # Revocation removes the file.
    assert ctl("revoke", "--broker", b.backend, "--handle", handle).returncode == 0
    assert list(store.iterdir()) == []

    # Without a handle key file the key is random per process: the credential survives a
    # restart, but handles minted before it do not.
    store2 = tmp_path / "store2"
    c = broker_factory(store=f"dir:{store2}")
    p2 = proxy(broker=c.deposit)
    _, _, h2 = signin(p2, "bob")
    p2.terminate_and_check()
    c.restart()
    assert [x.principal for x in grpc_api.list(c.deposit).credentials] == [BOB]
    assert_ctl_fails(redeem_ctl(c.backend, h2, tmp_path / "h2.ccache"), NOT_FOUND_MESSAGE)


def test_expired_credentials_are_swept(broker_factory, proxy, pg_service, grpc_api, tmp_path):
    store = tmp_path / "store"
    b = broker_factory(store=f"dir:{store}", max_credential_lifetime="2s", sweep_interval="1s")
    p = proxy(broker=b.deposit)
    _, _, handle = signin(p, "alice")
    listed = list(grpc_api.list(b.deposit).credentials)
    assert len(listed) == 1 and listed[0].expires_at - listed[0].deposited_at <= 2
    assert len(list(store.iterdir())) == 1
    assert b.wait_for_log(r"sweep: wiped=1", timeout=6), b.log_tail()
    assert list(grpc_api.list(b.deposit).credentials) == []
    assert list(store.iterdir()) == [], "the swept credential's file is still there"
    assert_ctl_fails(redeem_ctl(b.backend, handle, tmp_path / "late.ccache"), NOT_FOUND_MESSAGE)


def test_store_full_is_resource_exhausted_and_sign_in_still_works(broker_factory, proxy,
                                                                  pg_service, grpc_api, realm):
    b = broker_factory(limits={"max_credentials": 1})
    p = proxy(broker=b.deposit)
    _, _, first = signin(p, "alice")
    assert first
    code, details = grpc_api.code_of(grpc_api.deposit, b.deposit, BOB,
                                     tgt_bytes(realm.ccaches["bob"]))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    status, seen, second = signin(p, "bob")
    assert status == 200 and header(seen, "X-Remote-User") == ["bob"] and second is None
    assert b.alive()


@pytest.mark.parametrize("mode", [0o777, 0o750, 0o701])
def test_store_dir_open_to_others_is_refused(broker_factory, tmp_path, mode):
    d = tmp_path / "open-store"
    d.mkdir()
    os.chmod(d, mode)
    b = broker_factory(_start=False, store=f"dir:{d}")
    res = b.check_config()
    assert res.returncode != 0
    msg = res.stderr.strip()
    assert str(d) in msg and "store" in msg and "others" in msg and "chmod 0700" in msg, msg
    b.start(wait_ready=False)
    rc = b.proc.wait(timeout=10)
    b.checked_exit = True
    assert rc != 0
    assert "others" in b.log_text()
    assert not os.path.exists(b.backend_path) and not os.path.exists(b.deposit_path)
    assert stat.S_IMODE(d.stat().st_mode) == mode, "the broker must not silently chmod"


# ------------------------------------------------------------------------------- config
def test_check_config(broker_factory, tmp_path):
    b = broker_factory(_start=False)
    res = b.check_config()
    assert res.returncode == 0 and "config OK" in res.stdout, res
    assert not os.path.exists(b.backend_path), "--check-config must not open sockets"
    minimal = f"listen: {b.config['listen']}\ndeposit_listen: {b.config['deposit_listen']}\n"
    res = b.check_config(text=minimal)
    assert res.returncode == 0, res.stderr

    def cfg(**over):
        return proxytest.to_yaml(proxytest.deep_merge(b.config, over)) + "\n"

    bad = {
        "missing deposit_listen": (cfg(deposit_listen=None), "deposit_listen"),
        "same socket twice": (cfg(deposit_listen=b.config["listen"]), "must differ"),
        "relative socket": (cfg(listen="unix:relative.sock"), "listen"),
        "unknown key": (cfg(polcy=[]), "polcy"),
        "handle_ttl 0": (cfg(handle_ttl="0s"), "handle_ttl"),
        "bad store": (cfg(store="s3:bucket"), "store"),
        "unknown uid": (cfg(policy=[{"uid": "no-such-user-xyz", "services": ["p/*"]}]),
                        "uid"),
        "service with realm": (cfg(policy=[{"uid": "any",
                                            "services": ["postgres/x@GSSGATE.TEST"]}]),
                               "services"),
        "no services": (cfg(policy=[{"uid": "any"}]), "services"),
        "missing key file": (cfg(handle_key_file=str(tmp_path / "none.key")),
                             "handle_key_file"),
        "small message limit": (cfg(limits={"max_message_bytes": 10}), "max_message_bytes"),
        "yaml syntax": ("listen: [unterminated\n", ""),
    }
    for name, (text, needle) in bad.items():
        res = b.check_config(text=text)
        assert res.returncode != 0, f"{name}: accepted"
        assert needle in res.stderr, f"{name}: {res.stderr!r}"
        assert "Traceback" not in res.stderr and res.stderr.strip(), name
    res = subprocess.run([broker_binary(), "--version"], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == 0 and res.stdout.startswith("gssgate-broker "), res


# ------------------------------------------------------------------------------- the proxy side
def test_broker_down_user_still_signed_in_without_handle(proxy, realm, tmp_path):
    sockdir = short_dir()
    try:
        p = proxy(broker=f"unix:{sockdir}/absent.sock", timeouts={"broker": "1s"})
        start = p.log_size()
        status, seen, handle = signin(p, "alice")
        assert status == 200
        assert header(seen, "X-Remote-User") == ["alice"]
        assert header(seen, "X-Remote-Principal") == [ALICE]
        assert handle is None
        assert p.wait_for_log(r"warn.*broker did not take the delegated credential", start=start)
        m = proxytest.http_request(p.admin_port, path="/metrics").text
        assert re.search(r'gssgate_proxy_broker_deposits_total\{outcome="failed"\} 1\b', m), m
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def test_proxy_deposits_again_soon_after_a_broker_outage(stack):
    """The broker crashes (SIGKILL: its socket file is left behind), stays down for ~6 s while
    users keep signing in (200, no handle), then comes back: the next sign-ins must get handles
    again promptly (a Unix socket next door: no reason for a long reconnect backoff)."""
    b = stack.broker
    b.kill()
    assert os.path.exists(b.deposit_path), "expected a stale socket file after SIGKILL"
    down = time.monotonic()
    while time.monotonic() - down < 6:
        status, seen, handle = signin(stack.proxy, "alice")
        assert status == 200 and header(seen, "X-Remote-User") == ["alice"] and handle is None
        time.sleep(0.5)
    b.start()  # replaces the stale socket file
    back = time.monotonic()
    handle = None
    while handle is None and time.monotonic() - back < 15:
        _, _, handle = signin(stack.proxy, "alice")
        if handle is None:
            time.sleep(0.1)
    recovered = time.monotonic() - back
    assert handle, "the proxy never deposited again after the broker came back"
    assert recovered < 2.0, (f"the proxy took {recovered:.1f} s after the broker came back to "
                             f"deposit again (gRPC reconnect backoff)")


@pytest.mark.parametrize("client", ["curl", "gssapi"])
def test_no_delegation_no_handle(stack, grpc_api, client):
    status, seen, handle = signin(stack.proxy, "alice", client=client, delegate=False)
    assert status == 200 and header(seen, "X-Remote-User") == ["alice"]
    assert handle is None
    assert list(grpc_api.list(stack.broker.deposit).credentials) == []
    assert "deposit:" not in stack.broker.log_text()


def test_client_cannot_supply_a_handle(stack):
    r = proxytest.curl_negotiate(stack.proxy.url("/"), "alice",
                                 extra_args=["-H", "X-Gssgate-Credential: gsh1.forged"])
    assert r.status == 200
    values = [v for k, v in r.json["headers"] if k.lower() == "x-gssgate-credential"]
    assert values == []


def test_gssgatectl_broker_unreachable(tmp_path):
    res = redeem_ctl(f"unix:{tmp_path}/none.sock", "gsh1.x", tmp_path / "x.ccache")
    assert_ctl_fails(res, "unreachable")
