"""A throw-away PKI for the TLS integration tests (test_proxy_tls.py, test_browser.py).

    pki = Pki(tmp_dir)                       # two CAs, made on first use
    leaf = pki.leaf("server")                # localhost + 127.0.0.1, signed by CA "main"
    leaf.cert, leaf.key, leaf.serial         # PEM file paths, the certificate's serial
    pki.leaf("old", days=(-30, -1))          # expired; names=["wrong.example"] for a wrong name
    pki.leaf("other-ca", ca="other")         # signed by the second CA
    pki.ca_file("main")                      # the CA certificate (PEM) clients trust
    client_context(pki.ca_file("main"))      # ssl.SSLContext verifying with that CA
    peer_serial(ssl_socket)                  # serial of the certificate a server presented

Keys are P-256 (fast) unless rsa=True; RSA leaves let a test offer RSA-key-exchange suites.
Everything uses python `cryptography` (python3-cryptography), no openssl CLI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Leaf:
    name: str
    cert: Path  # PEM certificate (leaf only; the CA is one level up)
    key: Path   # PEM private key, mode 0600
    serial: int


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gssgate tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_private(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Pki:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._cas: dict[str, tuple] = {}
        self._leaves: dict[str, Leaf] = {}

    def _ca(self, ca: str):
        if ca not in self._cas:
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.timezone.utc)
            name = _name(f"gssgate test CA {ca}")
            cert = (x509.CertificateBuilder()
                    .subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=30))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                                 crl_sign=True, content_commitment=False,
                                                 key_encipherment=False, data_encipherment=False,
                                                 key_agreement=False, encipher_only=False,
                                                 decipher_only=False), critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                   critical=False)
                    .sign(key, hashes.SHA256()))
            path = self.dir / f"ca-{ca}.pem"
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            self._cas[ca] = (key, cert, path)
        return self._cas[ca]

    def ca_file(self, ca: str = "main") -> Path:
        return self._ca(ca)[2]

    def leaf(self, name: str, names=("localhost",), ips=("127.0.0.1",), ca: str = "main",
             days: tuple[int, int] = (-1, 30), rsa_key: bool = False) -> Leaf:
        """A server certificate (cached by `name`): SAN DNS `names` and IP `ips`, valid from
        now+days[0] to now+days[1] (negative end: already expired)."""
        if name in self._leaves:
            return self._leaves[name]
        ca_key, ca_cert, _ = self._ca(ca)
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key
               else ec.generate_private_key(ec.SECP256R1()))
        now = dt.datetime.now(dt.timezone.utc)
        serial = x509.random_serial_number()
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i))
                                                   for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(_name(names[0] if names else name)).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(serial)
                .not_valid_before(now + dt.timedelta(days=days[0]))
                .not_valid_after(now + dt.timedelta(days=days[1]))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path = self.dir / f"{name}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = _write_private(self.dir / f"{name}.key", _key_pem(key))
        leaf = Leaf(name, cert_path, key_path, serial)
        self._leaves[name] = leaf
        return leaf


def client_context(ca_file: Path | None, minimum=None, maximum=None,
                   ciphers: str | None = None) -> ssl.SSLContext:
    """A client context verifying against `ca_file` (None: no verification at all)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile=str(ca_file))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def server_context(leaf: Leaf) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
    return ctx


def peer_serial(sock: ssl.SSLSocket) -> int:
    return x509.load_der_x509_certificate(sock.getpeercert(binary_form=True)).serial_number
