"""Every write SCIM makes to Portal's users: one transaction each, audited as "SCIM (<key>)".

Users come and go through the accounts services (create_user, suspend_user, activate_user);
what they have no service for (a user's email and full name, the SCIM identity) is written here
with its audit entry on the user.
"""

from __future__ import annotations

import re
import secrets

from django.db import IntegrityError, transaction

from enterprise.scim import errors
from enterprise.scim.models import ScimIdentity
from portal.accounts import services as accounts
from portal.accounts.choices import LoginType, UserStatus
from portal.accounts.models import User
from portal.audit import services as audit
from portal.audit.choices import AuditAction, ResourceType
from portal.errors import Conflict, ServiceError


def _snapshot(user: User, identity: ScimIdentity | None) -> dict:
    return {
        "email": user.email,
        "name": user.name,
        "scim_user_name": identity.user_name if identity else "",
        "scim_external_id": identity.external_id if identity else "",
    }


def _username_for(user_name: str) -> str:
    """A Portal username from the IdP's userName: the part before '@', in the allowed
    characters, made unique with a suffix (Portal usernames are stable: renames keep it)."""
    base = user_name.split("@", 1)[0]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("._-")[:56] or "user"
    candidate = base
    while (
        candidate.lower() in accounts.RESERVED_USERNAMES
        or User.objects.filter(username__iexact=candidate).exists()
    ):
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def _unique_user_name(user_name: str, identity: ScimIdentity | None) -> None:
    others = ScimIdentity.objects.filter(user_name__iexact=user_name)
    if identity is not None:
        others = others.exclude(pk=identity.pk)
    if others.exists():
        raise errors.uniqueness(f"The userName {user_name!r} is already in use.")


def _email_conflict(email: str, user: User | None) -> None:
    if not email:
        return
    others = User.objects.filter(email__iexact=email)
    if user is not None:
        others = others.exclude(pk=user.pk)
    if others.exists():
        raise errors.uniqueness(f"The email {email!r} belongs to another user.")


def _linkable(user_name: str, email: str) -> User | None:
    """An existing Portal user with no SCIM identity yet that this one is (same email, or the
    same username): provisioning links to them instead of failing, as Okta and Entra expect."""
    candidates = User.objects.filter(is_system=False, scim_identity__isnull=True)
    if email:
        user = candidates.filter(email__iexact=email).first()
        if user is not None:
            return user
    return candidates.filter(username__iexact=user_name).first()


def create_user(
    *,
    actor,
    user_name: str,
    external_id: str,
    email: str,
    name: str,
    active: bool | None,
    attributes: dict,
) -> ScimIdentity:
    """A new SCIM user (login type oidc), or the existing Portal user it links to."""
    if active is None:
        active = True
        attributes = {**attributes, "active": True}
    _unique_user_name(user_name, None)
    with transaction.atomic():
        user = _linkable(user_name, email)
        if user is None:
            _email_conflict(email, None)
            try:
                user = accounts.create_user(
                    actor=actor,
                    username=_username_for(user_name),
                    email=email,
                    name=name[:128],
                    login_type=LoginType.OIDC,  # SCIM users sign in with the IdP
                )
            except Conflict as exc:
                raise errors.uniqueness(exc.message) from None
            except ServiceError as exc:
                raise errors.bad_request(exc.message) from None
        try:
            with transaction.atomic():
                identity = ScimIdentity.objects.create(
                    user=user, user_name=user_name, external_id=external_id, attributes=attributes
                )
        except IntegrityError:
            raise errors.uniqueness(f"The userName {user_name!r} is already in use.") from None
        _set_active(user, active, actor=actor)
        identity.user.refresh_from_db()
    return identity


def update_user(
    identity: ScimIdentity,
    *,
    actor,
    user_name: str,
    external_id: str,
    email: str,
    name: str,
    active: bool | None,
    attributes: dict,
) -> ScimIdentity:
    """Make the user what the IdP sent (PUT, or a document after PATCH)."""
    _unique_user_name(user_name, identity)
    with transaction.atomic():
        identity = (
            ScimIdentity.objects.select_for_update().select_related("user").get(pk=identity.pk)
        )
        user = User.objects.select_for_update().get(pk=identity.user_id)
        _email_conflict(email, user)
        before = _snapshot(user, identity)
        user.email, user.name = email, name[:128]
        identity.user_name, identity.external_id = user_name, external_id
        identity.attributes = attributes
        after = _snapshot(user, identity)
        try:
            with transaction.atomic():
                if (user.email, user.name) != (before["email"], before["name"]):
                    user.save(update_fields=["email", "name", "updated_at"])
                identity.save()
        except IntegrityError:
            raise errors.uniqueness("The userName or email is already in use.") from None
        if after != before:
            audit.record(
                actor=actor,
                action=AuditAction.WRITE,
                resource_type=ResourceType.USER,
                resource_id=user.pk,
                resource_target=user.username,
                diff=audit.diff(before, after),
            )
        _set_active(user, active, actor=actor)
        identity.user = User.objects.get(pk=user.pk)
    return identity


def _set_active(user: User, active: bool | None, *, actor) -> None:
    """active false suspends (nothing is deleted), active true reactivates, absent: as is."""
    if active is None:
        return
    suspended = user.status == UserStatus.SUSPENDED
    try:
        if not active and not suspended:
            accounts.suspend_user(
                user, actor=actor, reason="Deactivated by the identity provider (SCIM)."
            )
        elif active and suspended:
            accounts.activate_user(user, actor=actor)
    except ServiceError as exc:  # e.g. the last owner
        raise errors.bad_request(exc.message, "mutability") from None


def delete_user(identity: ScimIdentity, *, actor) -> None:
    """SCIM DELETE: the user is suspended (their data and workspaces stay) and no longer SCIM's."""
    with transaction.atomic():
        identity = (
            ScimIdentity.objects.select_for_update().select_related("user").get(pk=identity.pk)
        )
        user = identity.user
        before = _snapshot(user, identity)
        _set_active(user, False, actor=actor)
        identity.delete()
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=ResourceType.USER,
            resource_id=user.pk,
            resource_target=user.username,
            diff=audit.diff(before, _snapshot(user, None)),
            additional_fields={"reason": "Deleted by the identity provider (SCIM): detached."},
        )
