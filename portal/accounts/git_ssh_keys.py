"""Each user's git SSH key (ed25519): made on first need, regenerated on request, audited."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import crypto
from portal.accounts.models import GitSSHKey, User
from portal.audit import services as audit
from portal.audit.choices import AuditAction, ResourceType
from portal.errors import Forbidden

COMMENT = "portal"


def _new_pair() -> tuple[str, bytes]:
    """(OpenSSH public key line, 32-byte private seed)."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return f"{public.decode()} {COMMENT}", seed


def fingerprint(public_key: str) -> str:
    """SHA256:<base64> of the key blob, as `ssh-keygen -l` shows it."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _audit(key: GitSSHKey, user: User, *, actor, action: str) -> None:
    audit.record(
        actor=actor,
        action=action,
        resource_type=ResourceType.GIT_SSH_KEY,
        resource_id=user.pk,
        resource_target=user.username,
        additional_fields={"owner": user.username, "fingerprint": fingerprint(key.public_key)},
        status_code=201 if action == AuditAction.CREATE else 200,
    )


def get_or_create(user: User, *, actor) -> GitSSHKey:
    """The user's key, generated (and audited) the first time anyone needs it."""
    key = GitSSHKey.objects.filter(user=user).first()
    if key is not None:
        return key
    public, seed = _new_pair()
    try:
        with transaction.atomic():
            key = GitSSHKey.objects.create(
                user=user, public_key=public, private_key=crypto.encrypt(seed)
            )
            _audit(key, user, actor=actor, action=AuditAction.CREATE)
    except IntegrityError:  # a concurrent first use made it: that one is the key
        return GitSSHKey.objects.get(user=user)
    return key


def regenerate(user: User, *, actor) -> GitSSHKey:
    """A new pair replaces the old; the old public key must be removed from git hosts."""
    if not actor.is_system and actor.pk != user.pk:
        raise Forbidden("Only its owner regenerates a git SSH key.")
    public, seed = _new_pair()
    with transaction.atomic():
        key = GitSSHKey.objects.select_for_update().filter(user=user).first()
        if key is None:
            key = GitSSHKey.objects.create(
                user=user, public_key=public, private_key=crypto.encrypt(seed)
            )
            _audit(key, user, actor=actor, action=AuditAction.CREATE)
            return key
        key.public_key, key.private_key = public, crypto.encrypt(seed)
        key.updated_at = timezone.now()
        key.save(update_fields=["public_key", "private_key", "updated_at"])
        _audit(key, user, actor=actor, action=AuditAction.WRITE)
    return key


def private_openssh(key: GitSSHKey) -> str:
    """The private key in OpenSSH's own format, for the workspace agent's memory only."""
    private = Ed25519PrivateKey.from_private_bytes(crypto.decrypt(bytes(key.private_key)))
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
