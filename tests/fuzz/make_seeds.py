#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Real Kerberos material comes from a throw-away realm (tests/realm/gssgate_realm.py) started
in a temp dir for the run and deleted afterwards: SPNEGO, raw-krb5 and delegating initiator
tokens, the acceptor's mutual-auth reply, and a TGT marshaled the way the proxy deposits it
(valid until 2050, so the seeds stay meaningful). Cookies and handles are sealed with the
fixed test keys of tests/fuzz/fuzz_keys.h. Run from anywhere, as a user that may start a KDC:

    /usr/bin/python3 tests/fuzz/make_seeds.py            # rewrites the corpus seeds

Seeds that crashes found are kept under their own names (crash-*) and never rewritten.
"""
import hashlib
import os
import struct
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"
sys.path.insert(0, str(ROOT / "tests" / "realm"))

SESSION_KEY = b"gssgate-fuzz-session-key-32bytes"
HANDLE_KEY = b"gssgate-fuzz-handle-key-32-bytes"
HANDLE_KEY_ID = 0x0F0F0F0F
EXPIRES_2100 = 4102444800
NOW = 1780272000


def write(target: str, name: str, data) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def b64url(b: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def b64(b: bytes) -> str:
    import base64
    return base64.b64encode(b).decode()


# ---------------------------------------------------------------- Kerberos from a test realm
def ccache_creds(path: Path):
    """The credentials of a v4 FILE ccache, each as the bytes krb5_marshal_credentials makes
    (the ccache stores them in that very format), with the server principal's text."""
    data = path.read_bytes()
    pos = 0

    def take(n):
        nonlocal pos
        out = data[pos:pos + n]
        pos += n
        return out

    def u16():
        return struct.unpack(">H", take(2))[0]

    def u32():
        return struct.unpack(">I", take(4))[0]

    def principal():
        u32()  # name type
        count = u32()
        realm = take(u32())
        comps = [take(u32()) for _ in range(count)]
        return b"/".join(comps) + b"@" + realm

    assert u16() == 0x0504, "not a v4 ccache"
    take(u16())  # header tags
    principal()  # default principal
    creds = []
    while pos < len(data):
        start = pos
        client = principal()
        server = principal()
        u16(); take(u32())  # keyblock: enctype, key
        take(16)  # times
        take(1)  # is_skey
        take(4)  # flags
        for _ in range(u32()):  # addresses
            u16(); take(u32())
        for _ in range(u32()):  # authdata
            u16(); take(u32())
        take(u32())  # ticket
        take(u32())  # second ticket
        creds.append((client, server, data[start:pos]))
    return creds


def realm_material():
    import gssgate_realm
    out = {}
    with tempfile.TemporaryDirectory(prefix="gssgate-seeds-") as tmp:
        tmp = Path(tmp)

        class LongRealm(gssgate_realm.Realm):
            def _write_configs(self):
                super()._write_configs()
                for f in (self.krb5_conf, self.kdc_conf):
                    f.write_text(f.read_text().replace("max_life = 10h", "max_life = 9000d")
                                 .replace("ticket_lifetime = 10h", "ticket_lifetime = 9000d")
                                 .replace("max_renewable_life = 1d", "max_renewable_life = 9000d")
                                 .replace("renew_lifetime = 1d", "renew_lifetime = 9000d"))

        realm = LongRealm(tmp / "realm").start()
        try:
            realm.kadmin('modprinc -maxlife "9000 days" krbtgt/' + realm.realm)
            realm.add_user("alice")
            realm.kadmin('modprinc -maxlife "9000 days" alice')
            keytab = realm.add_service("HTTP/localhost", tmp / "http.keytab")
            ccache = realm.kinit("alice", tmp / "alice.ccache")
            for client, server, blob in ccache_creds(ccache):
                if server.startswith(b"krbtgt/"):
                    out["tgt"] = blob
                    out["client"] = client.decode()
            os.environ.update(realm.env(ccache))
            os.environ["KRB5_KTNAME"] = f"FILE:{keytab}"
            import gssapi
            spnego = gssapi.Mechanism.from_sasl_name("SPNEGO")
            krb5 = gssapi.MechType.kerberos
            target = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
            flags = [gssapi.RequirementFlag.mutual_authentication]
            init = gssapi.SecurityContext(name=target, mech=spnego, usage="initiate", flags=flags)
            out["spnego"] = init.step()
            acc = gssapi.SecurityContext(usage="accept")
            out["mutual"] = acc.step(out["spnego"]) or b""
            deleg = gssapi.SecurityContext(
                name=target, mech=spnego, usage="initiate",
                flags=flags + [gssapi.RequirementFlag.delegate_to_peer])
            out["spnego_delegated"] = deleg.step()
            raw = gssapi.SecurityContext(name=target, mech=krb5, usage="initiate")
            out["raw_krb5"] = raw.step()
        finally:
            realm.stop()
    return out


# ---------------------------------------------------------------- protobuf by hand
def varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num: int, value) -> bytes:
    value = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(value)) + value


def op(code: int, msg: bytes) -> bytes:
    return bytes([code]) + struct.pack(">H", len(msg)) + msg


# ---------------------------------------------------------------- sealed values
def session_plain(principal: bytes, local: bytes, cred: bool) -> bytes:
    p = bytes([1]) + struct.pack(">qq", NOW - 60, EXPIRES_2100) + b"sid-0001"
    if cred:
        p += bytes([1]) + struct.pack(">I", 7) + b"C" * 16 + struct.pack(">q", EXPIRES_2100)
    else:
        p += bytes([0])
    return p + struct.pack(">H", len(principal)) + principal + struct.pack(">H", len(local)) + local


def seal_session(plain: bytes) -> str:
    key_id = hashlib.sha256(b"gssgate session key id|" + SESSION_KEY).digest()[:4]
    nonce = b"\x01" * 12
    sealed = AESGCM(SESSION_KEY).encrypt(nonce, plain, b"gssgate session v1|" + key_id)
    return b64url(key_id + nonce + sealed)


def handle_plain(principal: bytes, expires=EXPIRES_2100) -> bytes:
    return b"C" * 16 + struct.pack(">q", expires) + principal


def seal_handle(plain: bytes) -> str:
    key_id = struct.pack(">I", HANDLE_KEY_ID)
    nonce = b"\x02" * 12
    sealed = AESGCM(HANDLE_KEY).encrypt(nonce, plain, b"gssgate handle v1|" + key_id)
    return "gsh1." + b64url(key_id + nonce + sealed)


def main() -> int:
    k = realm_material()
    nego = b64(k["spnego"])

    # (a) request path: real requests and smuggling attempts.
    req = {
        "get": "GET /app/x?q=1 HTTP/1.1\r\nHost: app\r\nAccept: text/html\r\n\r\n",
        "get_negotiate": f"GET / HTTP/1.1\r\nHost: app\r\nAuthorization: Negotiate {nego}\r\n\r\n",
        "post_cl": "POST /public/form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "post_chunked": "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n0\r\n\r\n",
        "pipelined": "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /public/b HTTP/1.1\r\nHost: a\r\n\r\n",
        "http10_nohost": "GET /public HTTP/1.0\r\n\r\n",
        "cl_te": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
        "te_te": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                 "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        "te_obfuscated": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "cl_cl": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "cl_plus": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        "obs_fold": "GET / HTTP/1.1\r\nHost: a\r\nX-Remote-User: x\r\n bob\r\n\r\n",
        "identity_spoof": "GET / HTTP/1.1\r\nHost: a\r\nX-Remote-User: root\r\nx_remote_user: root"
                          "\r\nX-REMOTE-PRINCIPAL: root@X\r\nX-Gssgate-Credential: gsh1.x\r\n"
                          "X-Gssgate-Anything: 1\r\nX-User: root\r\nx_jwt: forged\r\n"
                          "Remote-Principal: r\r\n\r\n",
        "connection_named": "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Host, X-Foo\r\n"
                            "X-Foo: 1\r\nProxy-Authorization: Basic eDp5\r\n"
                            "Forwarded: for=1.2.3.4\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
        "session_cookie": "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; gssgate_session=xyz; b=2\r\n"
                          "Cookie: gssgate_session=abc\r\nCookie:  gssgate_session = q \r\n\r\n",
        "dot_segments": "GET /public/../admin HTTP/1.1\r\nHost: a\r\n\r\n",
        "encoded_target": "GET /%70ublic/%2e%2e/x;jsessionid=1?a=%0d HTTP/1.1\r\nHost: a\r\n\r\n",
        "expect": "PUT /public/f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  "Content-Length: 2\r\n\r\nhi",
        "chunk_ext_trailer": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3;ext=1\r\nabc\r\n0\r\nX-Remote-User: root\r\n\r\n",
        "bare_lf": "GET / HTTP/1.1\nHost: a\nX-Remote-User: root\n\n",
        "absolute_form": "GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n",
    }
    for name, data in req.items():
        write("request_path", name, data)

    # (b) Authorization values and raw tokens.
    write("negotiate_token", "spnego_header", f"Negotiate {nego}")
    write("negotiate_token", "spnego_delegated_header",
          f"negotiate  {b64(k['spnego_delegated'])} ")
    write("negotiate_token", "spnego_raw", k["spnego"])
    write("negotiate_token", "mutual_reply_raw", k["mutual"])
    write("negotiate_token", "raw_krb5_header", f"Negotiate {b64(k['raw_krb5'])}")
    write("negotiate_token", "ntlm_header",
          "Negotiate " + b64(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2" + b"\0" * 16))
    write("negotiate_token", "basic", "Basic YWxpY2U6c2VjcmV0")
    write("negotiate_token", "noncanonical_b64", "Negotiate YR==")
    write("negotiate_token", "der_long_length", b"\x60\x84\x00\x00\x00\x0a")

    # (c) cookies (mode byte 0: header, 1: value, 2: plaintext) and handles (0: handle, 1: plain).
    alice = session_plain(b"alice@GSSGATE.TEST", b"alice", cred=True)
    write("session_cookie", "header", b"\0a=1; gssgate_session=" + seal_session(alice).encode()
          + b"; gssgate_session=\"x\"; c")
    write("session_cookie", "value", b"\1" + seal_session(alice).encode())
    write("session_cookie", "value_nocred",
          b"\1" + seal_session(session_plain(b"bob@R", b"bob", cred=False)).encode())
    write("session_cookie", "plain", b"\2" + alice)
    write("session_cookie", "plain_odd_names",
          b"\2" + session_plain(b"a\xff\x00\r\n@R", b" x", cred=False))
    write("handle_codec", "handle", b"\0" + seal_handle(handle_plain(b"alice@GSSGATE.TEST")).encode())
    write("handle_codec", "plain", b"\1" + handle_plain(b"alice@GSSGATE.TEST"))
    write("handle_codec", "plain_expired", b"\1" + handle_plain(b"x", expires=NOW - 1))

    # (d) principals with odd bytes.
    names = {
        "plain": b"alice@GSSGATE.TEST",
        "service": b"HTTP/www.example.com@EXAMPLE.COM",
        "escaped_at": b"us\\@er@R",
        "utf8": "jos\u00e9@EXAMPLE.COM".encode(),
        "latin1": b"jos\xe9@R",
        "crlf": b"alice@R\r\nX-Remote-User: root",
        "nul": b"alice\0@R",
        "quotes": b"a\" status=200 x=\"@R",
        "leading_space": b" alice@R",
        "backslash_x": b"\\x41@R",
        "surrogate": b"\xed\xa0\x80@R",
    }
    for name, data in names.items():
        write("principal_encoding", name, data)

    # (e) broker messages and deposits.
    tgt, client = k["tgt"], k["client"]
    dep = op(0, field(1, client) + field(2, tgt))
    write("broker_request", "deposit_redeem_revoke",
          dep + op(1 + 6, field(1, "$0") + field(2, "postgres/localhost"))
          + op(4, b"") + op(2 + 6, field(1, "$0")) + op(1 + 6, field(1, "$0") + field(2, "postgres@h")))
    write("broker_request", "redeem_denied",
          dep + op(1 + 12, field(1, "$0") + field(2, "postgres/localhost")))
    write("broker_request", "forged_handle",
          op(1 + 6, field(1, seal_handle(handle_plain(client.encode()))) + field(2, "postgres/x")))
    write("broker_request", "revoke_credential",
          dep + op(3, field(1, "$0")) + op(3, field(1, b64url(b"C" * 16))) + op(5, b""))
    write("broker_request", "deposit_wrong_principal", op(0, field(1, "bob@GSSGATE.TEST") + field(2, tgt)))
    write("broker_request", "store_full", dep * 6)
    write("deposit_parser", "tgt", bytes([len(client)]) + client.encode() + tgt)
    write("deposit_parser", "tgt_trailing", bytes([len(client)]) + client.encode() + tgt + b"\0")
    write("deposit_parser", "tgt_other_claim", b"\x05bob@R" + tgt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
