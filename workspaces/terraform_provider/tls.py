"""The plugin's TLS certificate: Terraform (go-plugin AutoMTLS) insists on one.

A new key and certificate cost ~30 ms (and importing `cryptography`), so they are cached:
every later start only reads two PEM strings.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

CACHE_ENV = "PORTAL_PROVIDER_CACHE_DIR"
_VALID_FOR = 30 * 86400
_RENEW_BEFORE = 86400  # a certificate must outlive any run that starts with it
_FILE = "tls-v1.json"


def cache_dir() -> Path | None:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.path.join(os.environ["HOME"], ".cache") if os.environ.get("HOME") else ""
    )
    return Path(base) / "portal-terraform-provider" if base else None


def _generate() -> dict:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(seconds=_VALID_FOR))
        # Terraform trusts exactly this certificate as its root for the connection.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return {
        "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "key_pem": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "not_after": time.time() + _VALID_FOR,
    }


def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
        if data["not_after"] - time.time() > _RENEW_BEFORE and data["cert_pem"] and data["key_pem"]:
            return data
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _store(directory: Path, data: dict) -> None:
    # Best effort: a read-only or missing cache only costs the next start a new certificate.
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tls-")
        try:
            with os.fdopen(fd, "w") as f:  # mkstemp: mode 0600, the key stays private
                json.dump(data, f)
            os.replace(tmp, directory / _FILE)
        except OSError:
            os.unlink(tmp)
            raise


def certificate() -> tuple[str, str]:
    """(cert PEM, key PEM) for the plugin's server side, from the cache when it is fresh."""
    directory = cache_dir()
    data = _load(directory / _FILE) if directory else None
    if data is None:
        data = _generate()
        if directory:
            _store(directory, data)
    return data["cert_pem"], data["key_pem"]


def der_base64(cert_pem: str) -> str:
    """The certificate as go-plugin's handshake wants it: DER, base64 without padding."""
    body = "".join(
        line for line in cert_pem.strip().splitlines() if line and not line.startswith("-----")
    )
    return base64.b64encode(base64.b64decode(body)).decode().rstrip("=")
