"""Encryption at rest for sensitive blobs (Terraform state): Fernet with rotatable keys."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal import config
from portal.errors import ServiceError


class DecryptionFailed(ServiceError):
    status_code = 500
    default_message = "Stored data could not be decrypted with any configured key."


def _derived_key(secret: str) -> bytes:
    # A key of its own, derived from the secret key, so state is never encrypted with the raw
    # session-signing secret.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal terraform state")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@functools.cache
def _fernet() -> MultiFernet:
    cfg = config.load()
    # The first key encrypts; all of them decrypt, so keys can be rotated without downtime.
    keys = [k.encode() for k in cfg.state_encryption_keys] or [_derived_key(cfg.secret_key())]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(data: bytes) -> bytes:
    if not data:
        return b""
    return _fernet().encrypt(data)


def decrypt(token: bytes) -> bytes:
    if not token:
        return b""
    try:
        return _fernet().decrypt(bytes(token))
    except InvalidToken as exc:
        raise DecryptionFailed(
            detail="Check PORTAL_STATE_ENCRYPTION_KEYS: the key that encrypted it is missing."
        ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
