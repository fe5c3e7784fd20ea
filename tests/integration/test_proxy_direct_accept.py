"""The direct krb5 path (README "Authentication"): the usual first SPNEGO token is accepted with
libkrb5 on the thread's own context; every other shape goes through gss_accept_sec_context.
Both paths share one replay cache, so a token seen by one is a replay for the other."""

import base64

import gssapi

from proxytest import (curl_negotiate, http_request, negotiate_reply_token, negotiate_start,
                       negotiate_token, upstream_header_values, user_credentials)
from proxytest import proxy_metrics as metrics


def counts(p) -> tuple[float, float]:
    m = metrics(p)
    return (m["gssgate_proxy_gss_accept_calls_total"],
            m["gssgate_proxy_krb5_direct_accepts_total"])


def der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    if n < 0x100:
        return bytes([tag, 0x81, n]) + body
    return bytes([tag, 0x82, n >> 8, n & 0xFF]) + body


def read_tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the element at pos."""
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        return tag, pos, pos + first
    n = first & 0x7F
    length = int.from_bytes(buf[pos:pos + n], "big")
    return tag, pos + n, pos + n + length


def with_mech_list_mic(token_b64: str) -> str:
    """The same SPNEGO NegTokenInit with a (bogus) mechListMIC appended: not the direct shape,
    so the proxy hands it to GSS; the AP-REQ inside is unchanged."""
    tok = base64.b64decode(token_b64)
    _, app_start, _ = read_tlv(tok, 0)                   # 60: [APPLICATION 0]
    _, _, oid_end = read_tlv(tok, app_start)             # 06: SPNEGO OID
    _, choice_start, _ = read_tlv(tok, oid_end)          # a0: negTokenInit
    _, seq_start, seq_end = read_tlv(tok, choice_start)  # 30: NegTokenInit
    fields = tok[seq_start:seq_end] + der(0xA3, der(0x04, b"\x00" * 28))
    inner = der(0xA0, der(0x30, fields))
    return base64.b64encode(der(0x60, tok[app_start:oid_end] + inner)).decode()


def test_curl_and_python_gssapi_take_the_direct_path(proxy):
    p = proxy()
    calls0, direct0 = counts(p)
    r = curl_negotiate(p.url("/curl"), "alice")
    assert r.status == 200, (r.all_statuses, r.body)
    ctx, token = negotiate_start("bob")
    resp = http_request(p.port, path="/py", headers={"Authorization": f"Negotiate {token}"})
    assert resp.status == 200, resp
    assert upstream_header_values(resp, "X-Remote-Principal") == ["bob@GSSGATE.TEST"]
    # The reply completes the client's context (mutual authentication through the direct path).
    ctx.step(base64.b64decode(negotiate_reply_token(resp)))
    assert ctx.complete
    calls1, direct1 = counts(p)
    assert (calls1 - calls0, direct1 - direct0) == (2, 2)


def test_without_mutual_auth_the_reply_carries_no_ap_rep(proxy):
    # As Chromium does: no mutual flag. The reply is negState accept-completed + krb5 only.
    p = proxy()
    name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
    ctx = gssapi.SecurityContext(name=name, creds=user_credentials("alice"),
                                 mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"),
                                 flags=gssapi.RequirementFlag.out_of_sequence_detection,
                                 usage="initiate")
    token = base64.b64encode(ctx.step()).decode()
    r = http_request(p.port, path="/", headers={"Authorization": f"Negotiate {token}"})
    assert r.status == 200, r
    reply = base64.b64decode(negotiate_reply_token(r))
    krb5 = bytes.fromhex("06092a864886f712010202")
    assert reply == der(0xA1, der(0x30, der(0xA0, b"\x0a\x01\x00") + der(0xA1, krb5)))


def test_a_token_seen_by_one_path_is_a_replay_on_the_other(proxy):
    p = proxy()
    # Direct first, then the same AP-REQ through GSS.
    t1 = negotiate_token("alice")
    assert http_request(p.port, headers={"Authorization": f"Negotiate {t1}"}).status == 200
    _, direct0 = counts(p)
    r = http_request(p.port, headers={"Authorization": f"Negotiate {with_mech_list_mic(t1)}"})
    assert r.status == 401, r
    _, direct1 = counts(p)
    assert direct1 == direct0, "the re-wrapped token took the direct path"
    # GSS first (it refuses the bogus MIC after the krb5 accept), then the original directly.
    t2 = negotiate_token("alice")
    r = http_request(p.port, headers={"Authorization": f"Negotiate {with_mech_list_mic(t2)}"})
    assert r.status in (400, 401), r
    r = http_request(p.port, headers={"Authorization": f"Negotiate {t2}"})
    assert r.status == 401, r
    assert metrics(p)['gssgate_proxy_auth_total{reason="replay"}'] >= 2
    assert "replay" in p.log_text()
    # And the proxy still signs fresh tokens in.
    t3 = negotiate_token("alice")
    assert http_request(p.port, headers={"Authorization": f"Negotiate {t3}"}).status == 200


def test_a_wrong_service_ticket_is_refused_on_the_direct_path(proxy):
    # A ticket for a service whose key the proxy does not hold: 401, nothing upstream.
    p = proxy()
    _, direct0 = counts(p)
    token = negotiate_token("alice", service="HTTP@other.example")
    r = http_request(p.port, headers={"Authorization": f"Negotiate {token}"})
    assert r.status == 401, r
    assert counts(p)[1] == direct0 + 1
