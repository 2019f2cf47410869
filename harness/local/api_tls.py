"""TLS for the emulator's API: a certificate authority and a server certificate, new at
every start, for 127.0.0.1 and localhost.

The API needs TLS because kubectl (client-go's clientcmd) sends a kubeconfig's
credentials only to an `https://` server: over plain HTTP it would never send the bearer
token. The CA's key signs the server certificate and is then dropped (never written), so
nothing can sign another certificate the kubeconfig trusts; the CA certificate goes into
the kubeconfig as `certificate-authority-data`, and the server's key lives only in the
daemon's memory and in a 0600 file that is removed as soon as it is loaded.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)
HOST_NAMES = ("localhost",)
HOST_ADDRESSES = ("127.0.0.1",)


@dataclass(frozen=True)
class ApiCertificates:
    """PEM bytes: the CA certificate clients trust, the server's certificate and key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def server_context(self, scratch_dir: Path) -> ssl.SSLContext:
        """A TLS server context holding the certificate (TLS 1.2 or later).

        `ssl` loads keys only from files: the key is written 0600 into `scratch_dir`
        and removed once loaded.
        """
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        fd, name = tempfile.mkstemp(prefix=".api-tls-", suffix=".pem", dir=scratch_dir)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(self.cert_pem + self.key_pem)
            context.load_cert_chain(name)
        finally:
            os.unlink(name)
        return context


def client_context(ca_pem: bytes) -> ssl.SSLContext:
    """A TLS client context that trusts only the emulator's CA (for httpx and tests)."""
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate() -> ApiCertificates:
    """A new CA and a server certificate it signed, both valid for `VALIDITY`."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("knative-harness emulator CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in HOST_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in HOST_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("knative-harness emulator API"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ApiCertificates(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
