"""Terraform state is encrypted at rest, and keys can be rotated."""

import pytest
from cryptography.fernet import Fernet

from portal import config, crypto


@pytest.fixture
def keys(monkeypatch):
    def use(*ks):
        monkeypatch.setenv("PORTAL_STATE_ENCRYPTION_KEYS", ",".join(ks))
        config.load.cache_clear()
        crypto._fernet.cache_clear()

    yield use
    monkeypatch.delenv("PORTAL_STATE_ENCRYPTION_KEYS", raising=False)
    config.load.cache_clear()
    crypto._fernet.cache_clear()


def test_state_is_not_stored_in_clear_and_round_trips(keys):
    keys()
    secret = b'{"token": "agent-secret-value"}'
    blob = crypto.encrypt(secret)
    assert b"agent-secret-value" not in blob
    assert crypto.decrypt(blob) == secret
    assert crypto.encrypt(b"") == b"" and crypto.decrypt(b"") == b""


def test_rotation_old_blobs_still_decrypt_and_unknown_keys_fail_clearly(keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys(old)
    blob = crypto.encrypt(b"state")
    keys(new, old)
    assert crypto.decrypt(blob) == b"state"
    keys(new)
    with pytest.raises(crypto.DecryptionFailed, match="could not be decrypted"):
        crypto.decrypt(blob)
