"""A local certificate authority and the broker's server certificate, for the mqtts listener.

`ensure(tls_dir, owner)` makes them once under `$FENLEI_HOME/tls/` and keeps them
across `fenlei services up`s (devices trust `ca.crt`; a new CA would lock them out):

- `ca.crt` (0644): what clients verify the broker against (`FENLEI_MQTT_CA_FILE`);
- `ca.key` (0600, the invoking user, root when run as root): never named in the
  broker config, so the broker cannot sign anything;
- `server.crt` (0644): the leaf for 127.0.0.1 and localhost, then the CA;
- `server.key` (0600, owned by `owner`): Mosquitto reads it after dropping to its own
  user, so a root-owned key makes it exit with "Permission denied".

The server certificate is renewed when it expires within `RENEW_BEFORE_DAYS`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "fenlei local CA"
# A local CA outlives many server certificates; 825 days is the longest validity
# clients such as Apple's accept for a server certificate.
CA_VALID_DAYS = 3650
SERVER_VALID_DAYS = 825
RENEW_BEFORE_DAYS = 30
# Clocks of a freshly booted device may lag a little behind.
BACKDATE = dt.timedelta(minutes=5)
SERVER_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA and the server certificate are."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def files(tls_dir: Path, ca_key_dir: Path | None = None) -> TlsFiles:
    """The file names under `tls_dir` (whether or not they exist yet).

    `ca_key_dir`: keep the CA key elsewhere (compose and k8s mount `tls_dir` into the
    broker, which must never hold the key that signs certificates).
    """
    return TlsFiles(
        tls_dir / "ca.crt",
        (ca_key_dir or tls_dir) / "ca.key",
        tls_dir / "server.crt",
        tls_dir / "server.key",
    )


def _write(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Atomically, with its mode set before any byte is in it (keys are never world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    if owner is not None:
        os.chown(tmp, *owner)
    tmp.replace(path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _new_ca(paths: TlsFiles, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(paths.ca_key, _pem_key(key), 0o600)
    _write(paths.ca_cert, _pem_cert(cert), 0o644)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _new_server(
    paths: TlsFiles, now: dt.datetime, owner: tuple[int, int] | None, hosts: tuple[str, ...]
) -> None:
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{paths.ca_key} is not the EC key fenlei made")
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=SERVER_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths.server_key, _pem_key(key), 0o600, owner)
    # The chain: clients that were given only the leaf's issuer still verify.
    _write(paths.server_cert, _pem_cert(cert) + _pem_cert(ca_cert), 0o644)


def _server_needs_renewal(paths: TlsFiles, now: dt.datetime) -> bool:
    if not (paths.server_cert.is_file() and paths.server_key.is_file()):
        return True
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if cert.issuer != ca.subject:
        return True
    return cert.not_valid_after_utc - now < dt.timedelta(days=RENEW_BEFORE_DAYS)


def ensure(
    tls_dir: Path,
    owner: tuple[int, int] | None = None,
    ca_key_dir: Path | None = None,
    hosts: tuple[str, ...] = SERVER_HOSTS,
) -> TlsFiles:
    """Make the CA and the server certificate when missing; `owner` (uid, gid) gets the key.

    `hosts`: the addresses and names the server certificate is valid for (used when it
    is made; delete server.crt to reissue it for other hosts).
    """
    tls_dir.mkdir(parents=True, exist_ok=True)
    # Searchable by the broker's user, who reads server.crt/server.key here.
    tls_dir.chmod(0o755)
    if ca_key_dir is not None:
        ca_key_dir.mkdir(parents=True, exist_ok=True)
        ca_key_dir.chmod(0o700)
    paths = files(tls_dir, ca_key_dir)
    now = dt.datetime.now(dt.UTC)
    if not (paths.ca_cert.is_file() and paths.ca_key.is_file()):
        _new_ca(paths, now)
        paths.server_cert.unlink(missing_ok=True)
    if _server_needs_renewal(paths, now):
        _new_server(paths, now, owner, hosts)
    elif owner is not None:
        os.chown(paths.server_key, *owner)
    return paths
