"""Every write to users and tokens: one transaction each, with the audit entry inside it."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from portal import hooks, policy, secret_hash
from portal.accounts import login_rules, permissions, throttling, tokens
from portal.accounts.choices import SYSTEM_USERNAME, LoginType, Role, TokenKind, UserStatus
from portal.accounts.models import APIToken, User, username_validator
from portal.accounts.permissions import OWNER_GRANTED_ROLES, has_permission, may_grant
from portal.audit import services as audit
from portal.audit.choices import AuditAction, ResourceType
from portal.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from portal.revocation.announce import announce_session, announce_token, announce_user

TOKEN_MAX_LIFETIME = timedelta(days=365)
TOKEN_DEFAULT_LIFETIME = timedelta(days=30)
_TOUCH_INTERVAL = timedelta(seconds=60)
# Parentheses for the CLI's browser sign-in ("cli (laptop)"); they are fine in URL paths.
_TOKEN_NAME = re.compile(r"[\w][\w .()-]{0,63}")
# /api/v2/users/<these> are other endpoints, so a user with such a name could not be addressed.
RESERVED_USERNAMES = frozenset({"me", "login", "logout"})
PASSWORD_AUTH_DISABLED_MESSAGE = login_rules.PASSWORD_AUTH_DISABLED
_DUMMY_PASSWORD_HASH = make_password("not-a-real-password-but-equal-work")


def system_actor() -> User:
    """The actor of work no person started (workers, schedules, createsuperuser)."""
    user = User.objects.filter(username=SYSTEM_USERNAME).first()
    if user is not None:
        return user
    user, _ = User.objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={"is_system": True, "login_type": LoginType.NONE, "name": "Portal system"},
    )
    if user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _normalize_roles(roles: Iterable[str]) -> list[str]:
    roles = set(roles)
    unknown = sorted(roles - set(Role.values))
    if unknown:
        raise ValidationFailed.field(
            "roles",
            f"Unknown role(s): {', '.join(unknown)}. Known roles: {', '.join(Role.values)}.",
        )
    return sorted(roles | {Role.MEMBER})


def _user_snapshot(user: User) -> dict:
    return {
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "status": user.status,
        "login_type": user.login_type,
        "roles": list(user.roles),
        "password": user.password,
        "must_change_password": user.must_change_password,
    }


def _audit_user(user: User, *, actor, action, before=None, status_code=200, extra=None):
    audit.record(
        actor=actor,
        action=action,
        resource_type=ResourceType.USER,
        resource_id=user.pk,
        resource_target=user.username,
        diff=audit.diff(before or {}, _user_snapshot(user), frozenset({"password"})),
        additional_fields=extra,
        status_code=status_code,
    )


def _validate_new_user(username: str, email: str, password: str | None, name: str) -> None:
    errors = []
    try:
        username_validator(username)
    except DjangoValidationError as e:
        errors.append({"field": "username", "detail": " ".join(e.messages)})
    if username.lower() in RESERVED_USERNAMES:
        errors.append({"field": "username", "detail": f"{username!r} is reserved by the API."})
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            errors.append({"field": "email", "detail": "Enter a valid email address."})
    if password is not None:
        try:
            candidate = User(username=username, email=email, name=name)
            password_validation.validate_password(password, candidate)
        except DjangoValidationError as e:
            errors.append({"field": "password", "detail": " ".join(e.messages)})
    if errors:
        raise ValidationFailed("The user could not be created.", validations=errors)
    conflicts = []
    if User.objects.filter(username__iexact=username).exists():
        conflicts.append({"field": "username", "detail": f"{username!r} is already taken."})
    if email and User.objects.filter(email__iexact=email).exists():
        conflicts.append({"field": "email", "detail": f"{email!r} is already in use."})
    if conflicts:
        raise Conflict("A user with this username or email already exists.", validations=conflicts)


def create_user(
    *,
    actor: User,
    username: str,
    email: str = "",
    password: str | None = None,
    name: str = "",
    roles: Iterable[str] = (Role.MEMBER,),
    login_type: str = LoginType.PASSWORD,
) -> User:
    username, email = username.strip(), email.strip()
    roles = _normalize_roles(roles)
    if login_type not in LoginType.values:
        raise ValidationFailed.field("login_type", f"Use one of: {', '.join(LoginType.values)}.")
    _validate_new_user(username, email, password, name)
    _check_may_grant(actor, set(roles) - {Role.MEMBER})
    user = User(username=username, email=email, name=name, roles=roles, login_type=login_type)
    if password is not None and login_type == LoginType.PASSWORD:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            _audit_user(user, actor=actor, action=AuditAction.CREATE, status_code=201)
    except IntegrityError:  # a concurrent create won the race
        raise Conflict(
            "A user with this username or email already exists.",
            validations=[{"field": "username", "detail": f"{username!r} is already taken."}],
        ) from None
    return user


def _check_may_grant(actor: User, roles: set[str]) -> None:
    """Refuse, naming the roles, unless the actor may grant or remove each of `roles`."""
    refused = sorted(role for role in roles if not may_grant(actor, role))
    if not refused:
        return
    if set(refused) & OWNER_GRANTED_ROLES:
        detail = (
            "Only an owner grants or removes the owner and template-admin roles "
            "(a template admin runs code on the provisioners)."
        )
    else:
        mine = ", ".join(r for r in sorted(actor.roles) if r != Role.MEMBER) or Role.MEMBER
        detail = (
            f"Nobody grants a role with more power than their own, and your roles ({mine}) "
            f"do not include every right of {', '.join(refused)}."
        )
    raise Forbidden(
        f"You may not grant or remove the role(s): {', '.join(refused)}.", detail=detail
    )


def _check_may_manage(actor: User, user: User) -> None:
    if (refusal := permissions.change_refusal(actor, user)) is not None:
        raise Forbidden(refusal)


def _check_not_last_owner(user: User) -> None:
    others = (
        User.objects.filter(roles__contains=[Role.OWNER], is_system=False)
        .exclude(pk=user.pk)
        .exclude(status=UserStatus.SUSPENDED)
    )
    if user.has_role(Role.OWNER) and not others.exists():
        raise Conflict("This is the last active owner; make another owner first.")


def change_roles(user: User, *, actor: User, roles: Iterable[str]) -> User:
    roles = _normalize_roles(roles)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        # Checked before the no-op return, so a refusal does not depend on the current roles.
        if not has_permission(actor, "user.update_roles"):
            raise Forbidden("You are not allowed to change roles.")
        _check_may_manage(actor, user)
        _check_may_grant(actor, set(roles) ^ set(user.roles))
        if sorted(user.roles) == roles:
            return user
        if Role.OWNER not in roles:
            _check_not_last_owner(user)
        before = _user_snapshot(user)
        user.roles = roles
        user.save(update_fields=["roles", "updated_at"])
        _audit_user(user, actor=actor, action=AuditAction.WRITE, before=before)
        announce_user(user.pk, actor=actor, cause="roles_changed")
    return user


def _profile_problems(user: User, username: str, email: str) -> tuple[list, list]:
    """(invalid fields, taken fields) of a profile change, as API validations."""
    invalid, taken = [], []
    if username != user.username:
        try:
            username_validator(username)
        except DjangoValidationError as e:
            invalid.append({"field": "username", "detail": " ".join(e.messages)})
        if username.lower() in RESERVED_USERNAMES:
            invalid.append({"field": "username", "detail": f"{username!r} is reserved by the API."})
        others = User.objects.exclude(pk=user.pk)
        if others.filter(username__iexact=username).exists():
            taken.append({"field": "username", "detail": f"{username!r} is already taken."})
    if email != user.email and email:
        try:
            validate_email(email)
        except DjangoValidationError:
            invalid.append({"field": "email", "detail": "Enter a valid email address."})
        if User.objects.exclude(pk=user.pk).filter(email__iexact=email).exists():
            taken.append({"field": "email", "detail": f"{email!r} is already in use."})
    return invalid, taken


def update_profile(
    user: User,
    *,
    actor: User,
    username: str | None = None,
    name: str | None = None,
    email: str | None = None,
) -> User:
    """Change a user's username, display name and (identity providers only) email.

    People change their own username and name, as in Coder; owners and user admins anyone's
    (an owner's only if they are owners). The email is the identity providers' to change (OIDC
    at sign-in, SCIM): it is how an account is matched, so a person cannot retarget it.
    None leaves a field as it is.
    """
    if email is not None and not actor.is_system:
        raise Forbidden("An email address is changed by your identity provider or an owner.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not actor.is_system and not policy.can(actor, "update_profile", user):
            raise Forbidden("You can only change your own profile.")
        new_username = user.username if username is None else username.strip()
        new_name = user.name if name is None else name.strip()
        new_email = user.email if email is None else email.strip()
        if len(new_name) > 128:
            raise ValidationFailed.field("name", "Use at most 128 characters.")
        invalid, taken = _profile_problems(user, new_username, new_email)
        if invalid:
            raise ValidationFailed("The profile could not be changed.", validations=invalid)
        if taken:
            raise Conflict("Another user has this username or email.", validations=taken)
        if (new_username, new_name, new_email) == (user.username, user.name, user.email):
            return user
        before = _user_snapshot(user)
        user.username, user.name, user.email = new_username, new_name, new_email
        try:
            with transaction.atomic():
                user.save(update_fields=["username", "name", "email", "updated_at"])
        except IntegrityError:  # a concurrent change took the name first
            raise Conflict(
                "Another user has this username or email.",
                validations=[{"field": "username", "detail": f"{new_username!r} is taken."}],
            ) from None
        _audit_user(user, actor=actor, action=AuditAction.WRITE, before=before)
    return user


def set_status(user: User, status: str, *, actor: User, reason: str = "") -> User:
    if status not in UserStatus.values:
        raise ValidationFailed.field("status", f"Use one of: {', '.join(UserStatus.values)}.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.status == status:
            return user
        if not has_permission(actor, "user.update_status"):
            raise Forbidden("You are not allowed to change the status of users.")
        _check_may_manage(actor, user)
        if status == UserStatus.SUSPENDED:
            _check_not_last_owner(user)
        before = _user_snapshot(user)
        user.save(update_fields=user.transition(status, reason=reason))
        action = {
            UserStatus.SUSPENDED: AuditAction.SUSPEND,
            UserStatus.ACTIVE: AuditAction.ACTIVATE,
        }.get(status, AuditAction.WRITE)
        _audit_user(user, actor=actor, action=action, before=before, extra={"reason": reason})
        if status == UserStatus.SUSPENDED:
            announce_user(user.pk, actor=actor, cause="suspended")
        _status_changed(user, old=before["status"], new=status, actor=actor)
    return user


def _status_changed(user: User, *, old: str, new: str, actor) -> None:
    """Run the user_status_changed hook's handlers once the change is committed."""
    for handler in hooks.user_status_changed.handlers():
        transaction.on_commit(
            functools.partial(handler, user, old=old, new=new, actor=actor), robust=True
        )


def suspend_user(user: User, *, actor: User, reason: str = "") -> User:
    return set_status(user, UserStatus.SUSPENDED, actor=actor, reason=reason)


def activate_user(user: User, *, actor: User) -> User:
    return set_status(user, UserStatus.ACTIVE, actor=actor)


def _audit_token(token: APIToken, *, actor, action, status_code=200):
    audit.record(
        actor=actor,
        action=action,
        resource_type=ResourceType.API_TOKEN,
        resource_id=token.pk,
        resource_target=token.name or token.key_id,
        additional_fields={
            "key_id": token.key_id,
            "kind": token.kind,
            "owner": token.user.username,
            "expires_at": token.expires_at.isoformat(),
        },
        status_code=status_code,
    )


def _issue_token(user: User, *, kind: str, name: str, lifetime: timedelta) -> tuple[APIToken, str]:
    key_id, secret, full = tokens.generate()
    token = APIToken.objects.create(
        key_id=key_id,
        secret_hash=secret_hash.digest(secret),
        user=user,
        kind=kind,
        name=name,
        login_type=user.login_type,
        expires_at=timezone.now() + lifetime,
    )
    return token, full


def create_token(
    user: User, *, actor: User, name: str, lifetime: timedelta | None = None
) -> tuple[APIToken, str]:
    """A named token for scripts; the full secret is returned once and never stored."""
    name = name.strip()
    if not name:
        raise ValidationFailed.field("name", "A token needs a name.")
    if not _TOKEN_NAME.fullmatch(name):
        raise ValidationFailed.field(
            "name",
            "Use 1-64 letters, digits, spaces, '.', '_', '-', '(' or ')' (the name is used "
            "in URLs).",
        )
    lifetime = lifetime or TOKEN_DEFAULT_LIFETIME
    if lifetime <= timedelta(0) or lifetime > TOKEN_MAX_LIFETIME:
        raise ValidationFailed.field(
            "lifetime", f"A token lives between 1 second and {TOKEN_MAX_LIFETIME.days} days."
        )
    if actor.pk != user.pk and not has_permission(actor, "token.revoke_all"):
        raise Forbidden("You may only create tokens for yourself.")
    live = APIToken.objects.filter(user=user, kind=TokenKind.TOKEN, revoked_at__isnull=True)
    if live.filter(name=name).exists():
        raise Conflict(
            f"You already have a token named {name!r}.",
            validations=[{"field": "name", "detail": "Choose another name or remove that token."}],
        )
    try:
        with transaction.atomic():
            token, full = _issue_token(user, kind=TokenKind.TOKEN, name=name, lifetime=lifetime)
            _audit_token(token, actor=actor, action=AuditAction.CREATE, status_code=201)
    except IntegrityError:
        raise Conflict(f"You already have a token named {name!r}.") from None
    return token, full


def revoke_token(token: APIToken, *, actor: User) -> APIToken:
    with transaction.atomic():
        token = APIToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        if actor.pk != token.user_id and not has_permission(actor, "token.revoke_all"):
            raise Forbidden("You may only revoke your own tokens.")
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        _audit_token(token, actor=actor, action=AuditAction.REVOKE)
        announce_token(token.key_id, actor=actor)
    return token


def _find_login_user(login: str) -> User | None:
    login = login.strip()
    if not login or "\x00" in login:  # no user has one, and PostgreSQL refuses to compare it
        return None
    field = Q(email__iexact=login) if "@" in login else Q(username__iexact=login)
    return User.objects.filter(field, is_system=False).first()


def _audit_failed_login(login: str, user: User | None, reason: str, status_code: int) -> None:
    audit.record(
        actor=user,
        action=AuditAction.LOGIN_FAILED,
        resource_type=ResourceType.USER,
        resource_id=user.pk if user else "",
        resource_target=user.username if user else login[:255],
        additional_fields={"reason": reason},
        status_code=status_code,
    )


def authenticate_password(login: str, password: str) -> User:
    """The user with this username or email and password; every failure is audited.

    Wrong password and unknown user give the same error, after the same hashing work.
    """
    user = _find_login_user(login)
    if login_rules.password_auth_disabled_for(user):
        # The same answer for every login, so it tells nothing about who has an account.
        _audit_failed_login(login, user, "password sign-in is turned off", 403)
        raise Forbidden(PASSWORD_AUTH_DISABLED_MESSAGE)
    if user is not None and (refusal := login_rules.not_password_refusal(user)) is not None:
        # Said plainly (as Coder does): the person needs to know to use single sign-on.
        User(password=_DUMMY_PASSWORD_HASH).check_password(password)
        _audit_failed_login(login, user, f"login type {user.login_type}", 403)
        raise Forbidden(refusal)
    if user is None or not user.has_usable_password():
        User(password=_DUMMY_PASSWORD_HASH).check_password(password)
        _audit_failed_login(login, user, "unknown user or no password login", 401)
        raise Unauthenticated("Incorrect username, email or password.")
    if not user.check_password(password):
        _audit_failed_login(login, user, "wrong password", 401)
        raise Unauthenticated("Incorrect username, email or password.")
    if user.status == UserStatus.SUSPENDED:
        _audit_failed_login(login, user, "suspended", 403)
        raise Forbidden("Your account is suspended. Ask an administrator to reactivate it.")
    return user


def _record_login(user: User, *, method: str) -> None:
    before = _user_snapshot(user)
    fields = ["last_seen_at", "updated_at"]
    if user.status == UserStatus.DORMANT:  # coming back wakes a dormant account
        fields += user.transition(UserStatus.ACTIVE, reason="signed in")
        _status_changed(user, old=UserStatus.DORMANT, new=UserStatus.ACTIVE, actor=user)
    user.last_seen_at = timezone.now()
    user.save(update_fields=fields)
    audit.record(
        actor=user,
        action=AuditAction.LOGIN,
        resource_type=ResourceType.USER,
        resource_id=user.pk,
        resource_target=user.username,
        diff=audit.diff(before, _user_snapshot(user), frozenset({"password"})),
        additional_fields={"method": method},
        status_code=201,
    )


def login(*, login: str, password: str, request=None) -> tuple[User, APIToken, str]:
    """Password login for the API and CLI: a session token, shown once.

    Over HTTP pass the request: the attempt then goes through sign-in throttling (429 while the
    account or the client's address is locked).
    """
    # Outside the transaction: failed attempts stay audited and counted.
    if request is not None:
        user = throttling.authenticate(request, login, password)
    else:
        user = authenticate_password(login, password)
    with transaction.atomic():
        lifetime = timedelta(hours=settings.PORTAL_SESSION_TOKEN_LIFETIME_HOURS)
        token, full = _issue_token(user, kind=TokenKind.SESSION, name="", lifetime=lifetime)
        _record_login(user, method="password")
        throttling.signed_in(request, user)
    return user, token, full


def unlock_sign_in(user: User, *, actor: User) -> int:
    """Forget the failed sign-ins recorded for `user`, ending a lockout of the account.

    Returns how many failures were cleared (0: nothing to do, nothing audited). Addresses locked
    by failures for other accounts stay locked until their cooling-off period ends.
    """
    if not has_permission(actor, "user.unlock"):
        raise Forbidden("You are not allowed to unlock sign-ins.")
    if actor.pk == user.pk:
        raise Forbidden("You cannot unlock your own sign-in; ask another administrator.")
    _check_may_manage(actor, user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        cleared = throttling.clear_failures(user)
        if cleared:
            audit.record(
                actor=actor,
                action=AuditAction.UNLOCK,
                resource_type=ResourceType.USER,
                resource_id=user.pk,
                resource_target=user.username,
                additional_fields={"cleared_failures": cleared},
            )
    return cleared


def record_browser_login(user: User, *, method: str = "browser") -> None:
    """A session-cookie login (operator console, web portal); `method` names a single sign-on."""
    with transaction.atomic():
        _record_login(user, method=method)


def logout(*, actor: User, token: APIToken | None, session_key: str | None = None) -> None:
    """Sign out: the session token (API) or browser session (`session_key`) and what it opened."""
    with transaction.atomic():
        if token is not None and token.kind == TokenKind.SESSION and token.revoked_at is None:
            APIToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
            announce_token(token.key_id, actor=actor, cause="signed_out")
        if session_key:
            announce_session(session_key, actor=actor)
        audit.record(
            actor=actor,
            action=AuditAction.LOGOUT,
            resource_type=ResourceType.USER,
            resource_id=actor.pk,
            resource_target=actor.username,
        )


def _wake_dormant(user: User, *, how: str) -> None:
    """A dormant user came back (token use): active again, audited as their own activation."""
    with transaction.atomic():
        row = User.objects.select_for_update().filter(pk=user.pk).first()
        if row is None or row.status != UserStatus.DORMANT:
            return
        before = _user_snapshot(row)
        row.save(update_fields=row.transition(UserStatus.ACTIVE, reason=how))
        _audit_user(
            row, actor=row, action=AuditAction.ACTIVATE, before=before, extra={"reason": how}
        )
        _status_changed(row, old=UserStatus.DORMANT, new=UserStatus.ACTIVE, actor=row)
    user.status, user.status_reason = row.status, row.status_reason


def touch(token: APIToken) -> None:
    """Record use of a token and presence of its user, at most once a minute (no audit, except
    that a dormant user's token use reactivates them, audited)."""
    now = timezone.now()
    if token.last_used_at and now - token.last_used_at < _TOUCH_INTERVAL:
        return
    APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
    User.objects.filter(pk=token.user_id).update(last_seen_at=now)
    token.last_used_at = now
    user = getattr(token, "user", None)
    if user is not None and user.status == UserStatus.DORMANT:
        _wake_dormant(user, how="used an API token")
