"""Every write SCIM makes to Portal's users: one transaction each, audited as "SCIM (<key>)".

Users come and go through the accounts services (create_user, suspend_user, activate_user);
what they have no service for (a user's email and full name, the SCIM identity) is written here
with its audit entry on the user.
"""

from __future__ import annotations

import re
import secrets

from django.db import IntegrityError, transaction
from django.db.models import Q

from enterprise.scim import errors
from enterprise.scim.models import ScimIdentity
from portal import hooks
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


def _username_base(user_name: str) -> str:
    """A Portal username from the IdP's userName: the part before '@', in the allowed
    characters (Portal usernames are stable: renaming the userName later keeps it)."""
    base = user_name.split("@", 1)[0]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("._-")[:56] or "user"
    if base.lower() in accounts.RESERVED_USERNAMES:
        base = f"{base}-{secrets.token_hex(3)}"
    return base


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


def _existing(user_name: str, email: str) -> User | None:
    """The Portal user this one already is, to link instead of duplicating (as Okta and Entra
    expect): the one with this email, else one whose username is this userName; one query."""
    match = Q(username__iexact=user_name)
    if email:
        match |= Q(email__iexact=email)
    found = list(User.objects.filter(match, is_system=False).select_related("scim_identity"))
    by_email = [u for u in found if email and u.email.lower() == email.lower()]
    for user in by_email or [u for u in found if u.username.lower() == user_name.lower()]:
        if not hasattr(user, "scim_identity"):
            return user
        if user in by_email:
            raise errors.uniqueness(f"The email {email!r} belongs to another user.")
    return None


def _new_user(*, actor, user_name: str, email: str, name: str) -> User:
    base = _username_base(user_name)
    for attempt in range(3):
        username = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        try:
            return accounts.create_user(
                actor=actor,
                username=username,
                email=email,
                name=name[:128],
                login_type=LoginType.OIDC,  # SCIM users sign in with the IdP
            )
        except Conflict as exc:
            fields = {v.get("field") for v in exc.validations}
            if "email" in fields or fields != {"username"}:
                raise errors.uniqueness(exc.message) from None
        except ServiceError as exc:
            raise errors.bad_request(exc.message) from None
    raise errors.uniqueness(f"No free Portal username for {user_name!r}; try again.")


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
    try:
        with transaction.atomic():
            user = _existing(user_name, email)
            if user is None:
                user = _new_user(actor=actor, user_name=user_name, email=email, name=name)
            identity = ScimIdentity.objects.create(
                user=user, user_name=user_name, external_id=external_id, attributes=attributes
            )
            changed = _set_active(user, active, actor=actor)
            if changed is not None:
                user = changed
                identity.user = user
            _synced(user, identity, created=True)
    except IntegrityError:  # a concurrent request provisioned the same userName
        raise errors.uniqueness(f"The userName {user_name!r} is already in use.") from None
    identity.user = user
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
        _synced(identity.user, identity, created=False)
    return identity


def _synced(user: User, identity: ScimIdentity, *, created: bool) -> None:
    """Tell the idp_user_synced hook (inside the transaction: a handler may refuse)."""
    claims = {
        **identity.attributes,
        "userName": identity.user_name,
        "externalId": identity.external_id,
    }
    for handler in hooks.idp_user_synced.handlers():
        try:
            handler(user, source="scim", created=created, claims=claims)
        except ServiceError as exc:
            raise errors.bad_request(exc.message) from None


def _set_active(user: User, active: bool | None, *, actor) -> User | None:
    """active false suspends (nothing is deleted), active true reactivates, absent: as is."""
    if active is None:
        return None
    suspended = user.status == UserStatus.SUSPENDED
    try:
        if not active and not suspended:
            return accounts.suspend_user(
                user, actor=actor, reason="Deactivated by the identity provider (SCIM)."
            )
        if active and suspended:
            return accounts.activate_user(user, actor=actor)
    except ServiceError as exc:  # e.g. the last owner
        raise errors.bad_request(exc.message, "mutability") from None
    return None


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
