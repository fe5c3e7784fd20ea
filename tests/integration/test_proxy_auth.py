"""SPNEGO authentication through gssgate-proxy with a real KDC and real clients
(docs/proxy-contract.md, "HTTP behaviour")."""

import base64
from pathlib import Path

from proxytest import (ProxyProcess, assert_clean_error, base_config, curl_negotiate,
                       http_request, negotiate_reply_token, negotiate_start, negotiate_token,
                       proxy_env, upstream_header_values)

NTLM_TYPE1 = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="


def assert_negotiate_challenge(resp):
    assert resp.status == 401, resp
    values = resp.header_values("WWW-Authenticate")
    assert values, f"401 without WWW-Authenticate: {resp.headers}"
    assert any(v.strip().lower() == "negotiate" for v in values), values
    assert_clean_error(resp)


def test_curl_negotiate_happy_path(proxy, echo_upstream):
    p = proxy()
    r = curl_negotiate(p.url("/app/hello?x=1"), "alice")
    assert r.returncode == 0, r.stderr
    # (curl with --negotiate as its only method sends the token on the first request.)
    assert r.status == 200, (r.all_statuses, r.body)
    seen = r.json
    assert seen["path"] == "/app/hello?x=1"
    hdrs = {k.lower(): v for k, v in seen["headers"]}
    assert hdrs.get("x-remote-user") == "alice"
    assert hdrs.get("x-remote-principal") == "alice@GSSGATE.TEST"
    assert "authorization" not in hdrs, "the Negotiate token must not reach the upstream"
    # Mutual authentication: the 200 carries the server's token.
    www = [v for v in r.header_values("WWW-Authenticate") if v.lower().startswith("negotiate ")]
    assert www, f"no mutual-auth token in the 200: {r.headers}"
    base64.b64decode(www[0].split(None, 1)[1], validate=True)
    # Only the authenticated request reached the upstream.
    assert len(echo_upstream.requests) == 1


def test_python_gssapi_client_and_mutual_auth(proxy):
    p = proxy()
    ctx, token = negotiate_start("bob")
    r = http_request(p.port, path="/bob", headers={"Authorization": f"Negotiate {token}"})
    assert r.status == 200, r
    assert upstream_header_values(r, "X-Remote-User") == ["bob"]
    assert upstream_header_values(r, "X-Remote-Principal") == ["bob@GSSGATE.TEST"]
    assert upstream_header_values(r, "Authorization") == []
    reply = negotiate_reply_token(r)
    assert reply, f"no WWW-Authenticate: Negotiate <token> in {r.headers}"
    assert not ctx.complete
    out = ctx.step(base64.b64decode(reply))
    assert ctx.complete, "the server's mutual-auth token did not complete the client context"
    assert not out
    # The log never contains the token.
    assert token not in p.log_text()
    assert reply not in p.log_text()


def test_scheme_is_case_insensitive(proxy):
    p = proxy()
    for scheme in ("negotiate", "NEGOTIATE", "nEgOtIaTe"):
        r = http_request(p.port, headers={"Authorization": f"{scheme} {negotiate_token('carol')}"})
        assert r.status == 200, (scheme, r)
        assert upstream_header_values(r, "X-Remote-User") == ["carol"]


def test_no_authorization_header_gets_401_negotiate(proxy, echo_upstream):
    p = proxy()
    r = http_request(p.port, path="/secret")
    assert_negotiate_challenge(r)
    assert (r.header("Content-Type") or "").startswith("text/plain")
    # A Basic (or other scheme) Authorization is not Negotiate either.
    r = http_request(p.port, path="/secret", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert r.status == 401
    assert_negotiate_challenge(r)
    assert echo_upstream.requests == []


def test_garbage_base64_is_400(proxy, echo_upstream):
    p = proxy()
    for bad in ("!!!not*base64$$$", "YWJj@ZGVm", "Zm9v=YmFy=", "===="):
        r = http_request(p.port, headers={"Authorization": f"Negotiate {bad}"})
        assert r.status == 400, (bad, r)
        assert_clean_error(r)
    assert echo_upstream.requests == []


def test_valid_base64_of_garbage_bytes_is_rejected(proxy, echo_upstream):
    p = proxy()
    for raw in (b"hello world, not a token", bytes(range(256)), b"\x60\x05\x06\x03\x2b\x06\x01"):
        r = http_request(p.port,
                         headers={"Authorization": "Negotiate " + base64.b64encode(raw).decode()})
        assert r.status in (400, 401), (raw[:20], r)
        assert_clean_error(r)
    assert echo_upstream.requests == []


def test_truncated_token_is_rejected(proxy, echo_upstream):
    p = proxy()
    raw = base64.b64decode(negotiate_token("alice"))
    for cut in (len(raw) // 2, len(raw) - 1, 12):
        r = http_request(p.port, headers={
            "Authorization": "Negotiate " + base64.b64encode(raw[:cut]).decode()})
        assert r.status in (400, 401), (cut, r)
        assert_clean_error(r)
    assert echo_upstream.requests == []


def test_replayed_token_is_401(proxy, echo_upstream):
    p = proxy()
    token = negotiate_token("alice")
    first = http_request(p.port, headers={"Authorization": f"Negotiate {token}"})
    assert first.status == 200, first
    second = http_request(p.port, headers={"Authorization": f"Negotiate {token}"})
    assert_negotiate_challenge(second)
    assert len(echo_upstream.requests) == 1


def test_raw_ntlm_token_is_403_kerberos_required_not_a_401_loop(proxy, echo_upstream):
    p = proxy()
    r = http_request(p.port, headers={"Authorization": f"Negotiate {NTLM_TYPE1}"})
    assert r.status == 403, r
    assert r.header("WWW-Authenticate") is None  # another challenge would only loop
    assert b"Kerberos is required" in r.body
    assert echo_upstream.requests == []
    # A browser gets a page that says so.
    r = http_request(p.port, headers={"Authorization": f"Negotiate {NTLM_TYPE1}",
                                      "Accept": "text/html,*/*"})
    assert r.status == 403 and r.header("Content-Type").startswith("text/html"), r
    assert b"Kerberos required" in r.body and b"NTLM" in r.body


def test_ticket_for_another_service_is_401(proxy, echo_upstream):
    # HTTP/other.example exists in the KDC, so the client gets a real ticket, but the
    # proxy's keytab holds only HTTP/localhost.
    p = proxy()
    token = negotiate_token("alice", service="HTTP@other.example")
    r = http_request(p.port, headers={"Authorization": f"Negotiate {token}"})
    assert_negotiate_challenge(r)
    assert echo_upstream.requests == []


def test_wrong_service_with_acceptor_pinned(proxy, realm, echo_upstream, tmp_path):
    # A keytab holding both services, but `acceptor` pins HTTP/localhost.
    both = tmp_path / "both.keytab"
    realm.add_service("HTTP/localhost", both)
    realm.add_service("HTTP/other.example", both)
    p = proxy(keytab=str(both), acceptor="HTTP/localhost@GSSGATE.TEST")
    r = http_request(p.port, headers={
        "Authorization": "Negotiate " + negotiate_token("alice", service="HTTP@other.example")})
    assert_negotiate_challenge(r)
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token("alice")})
    assert r.status == 200, r
    assert len(echo_upstream.requests) == 1


def test_allow_list_and_globs(proxy, echo_upstream):
    p = proxy(routes=[
        {"path": "/only-alice", "auth": "negotiate", "allow": ["alice@GSSGATE.TEST"]},
        {"path": "/glob", "auth": "negotiate", "allow": ["c?rol@*", "*@OTHER.REALM"]},
        {"path": "/", "auth": "negotiate", "allow": ["*@GSSGATE.TEST"]},
    ])

    def status(user, path):
        return http_request(p.port, path=path,
                            headers={"Authorization": "Negotiate " + negotiate_token(user)})

    r = status("bob", "/only-alice/x")
    assert r.status == 403, r
    assert_clean_error(r)
    assert status("alice", "/only-alice/x").status == 200
    assert status("carol", "/glob").status == 200
    assert status("alice", "/glob").status == 403
    assert status("bob", "/anything").status == 200
    seen = [(q["path"], dict((k.lower(), v) for k, v in q["headers"])["x-remote-user"])
            for q in echo_upstream.requests]
    assert seen == [("/only-alice/x", "alice"), ("/glob", "carol"), ("/anything", "bob")]


def test_principal_without_local_name_is_403(proxy, echo_upstream):
    # dave/admin@GSSGATE.TEST authenticates, but auth_to_local DEFAULT has no local name for a
    # two-component principal.
    p = proxy()
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token("dave/admin")})
    assert r.status == 403, r
    assert_clean_error(r)
    assert echo_upstream.requests == []


def test_delegation_without_broker_forwards_no_credential(proxy):
    p = proxy()
    r = http_request(p.port, headers={
        "Authorization": "Negotiate " + negotiate_token("alice", delegate=True)})
    assert r.status == 200, r
    assert upstream_header_values(r, "X-Remote-User") == ["alice"]
    assert upstream_header_values(r, "X-Gssgate-Credential") == []


def test_curl_with_delegation(proxy):
    p = proxy()
    r = curl_negotiate(p.url("/"), "carol", delegate=True)
    assert r.returncode == 0, r.stderr
    assert r.status == 200
    hdrs = {k.lower(): v for k, v in r.json["headers"]}
    assert hdrs["x-remote-user"] == "carol"
    assert "x-gssgate-credential" not in hdrs


def test_errors_keep_connection_usable_and_daemon_up(proxy):
    p = proxy()
    for _ in range(3):
        assert http_request(p.port, headers={"Authorization": "Negotiate %%%"}).status == 400
        assert http_request(p.port, headers={"Authorization": f"Negotiate {NTLM_TYPE1}"}).status == 403
    assert p.alive()
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token("bob")})
    assert r.status == 200


def test_auth_to_local_rules_map_principals_to_local_names(realm, echo_upstream, tmp_path):
    """X-Remote-User comes from krb5's auth_to_local rules in the proxy's krb5.conf."""
    conf = Path(realm.env()["KRB5_CONFIG"]).read_text()
    rules = ("auth_to_local = RULE:[2:$1_$2@$0](^dave_admin@GSSGATE\\.TEST$)s/@.*//\n"
             "        auth_to_local = RULE:[1:$1@$0](^carol@GSSGATE\\.TEST$)s/.*/caroline/\n"
             "        auth_to_local = DEFAULT")
    assert "auth_to_local = DEFAULT" in conf
    mapped = tmp_path / "krb5-mapped.conf"
    mapped.write_text(conf.replace("auth_to_local = DEFAULT", rules, 1))
    env = proxy_env(realm, tmp_path)
    env["KRB5_CONFIG"] = str(mapped)
    p = ProxyProcess(base_config(realm, echo_upstream.url), tmp_path, env, name="a2l")
    p.start()
    try:
        seen = {}
        for user in ("alice", "carol", "dave/admin"):
            r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token(user)})
            assert r.status == 200, (user, r)
            seen[user] = upstream_header_values(r, "X-Remote-User")
            assert upstream_header_values(r, "X-Remote-Principal") == [f"{user}@GSSGATE.TEST"]
        # DEFAULT for alice; the rules for carol (renamed) and dave/admin (two components, which
        # DEFAULT refuses: see test_principal_without_local_name_is_403).
        assert seen == {"alice": ["alice"], "carol": ["caroline"], "dave/admin": ["dave_admin"]}
    finally:
        p.terminate_and_check()
