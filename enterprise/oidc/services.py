"""Sign-in from verified OIDC claims: match or create the user, refuse with a reason, sync."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from enterprise.oidc import sync
from enterprise.oidc.actor import OIDC_ACTOR
from enterprise.oidc.config import OIDCConfig
from enterprise.oidc.models import OIDCIdentity
from portal import hooks
from portal.accounts import services as accounts
from portal.accounts.choices import LoginType, UserStatus
from portal.accounts.models import User
from portal.audit import services as audit
from portal.audit.choices import AuditAction, ResourceType
from portal.errors import Forbidden

_NOT_USERNAME = re.compile(r"[^a-zA-Z0-9._-]+")


class Refused(Forbidden):
    """A sign-in the provider vouched for but Portal refuses; `reason` goes to the audit log."""

    def __init__(self, message: str, *, reason: str, user: User | None = None, status=403):
        super().__init__(message)
        self.reason = reason
        self.user = user
        self.status_code = status


def audit_failure(error: Refused | Exception, *, login: str = "", reason: str = "") -> None:
    """A login_failed entry (method oidc), outside the refused transaction so it stays."""
    user = getattr(error, "user", None)
    audit.record(
        actor=user,
        action=AuditAction.LOGIN_FAILED,
        resource_type=ResourceType.USER,
        resource_id=user.pk if user else "",
        resource_target=user.username if user else login[:255],
        additional_fields={
            "reason": getattr(error, "reason", "") or reason or str(error),
            "method": "oidc",
            **({"login": login[:255]} if login else {}),
        },
        status_code=getattr(error, "status_code", 403),
    )


def username_from(claims: dict, cfg: OIDCConfig) -> str:
    """The claim (or the email's local part) in Portal's username rules, not yet de-duplicated."""
    raw = str(claims.get(cfg.username_claim) or "").strip()
    if not raw:
        raw = str(claims.get("email") or "").split("@")[0]
    name = _NOT_USERNAME.sub("-", raw)
    name = re.sub(r"^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$", "", name)[:64]
    name = re.sub(r"[^a-zA-Z0-9]+$", "", name)
    return name or "user"


def unique_username(base: str) -> str:
    """`base`, else `base-2`, `base-3`... (short enough for the 64-character limit)."""
    taken = {
        u.lower()
        for u in User.objects.filter(username__istartswith=base).values_list("username", flat=True)
    } | set(accounts.RESERVED_USERNAMES)
    if base.lower() not in taken:
        return base
    n = 2
    while True:
        candidate = f"{base[: 63 - len(str(n))]}-{n}"
        if candidate.lower() not in taken:
            return candidate
        n += 1


def _check_claims(claims: dict, cfg: OIDCConfig) -> str:
    email = str(claims.get("email") or "").strip()
    if not email:
        raise Refused(
            "The identity provider sent no email address; ask an administrator to add the "
            "email scope.",
            reason="no email claim",
        )
    verified = claims.get("email_verified")
    if not cfg.ignore_email_verified and verified is not True and str(verified).lower() != "true":
        raise Refused(
            f"Your email address {email} is not verified at the identity provider; verify it "
            "there, then sign in again.",
            reason="email not verified",
        )
    domain = email.rsplit("@", 1)[-1].lower()
    if cfg.email_domains and domain not in cfg.email_domains:
        raise Refused(
            f"Sign-in with an email address at {domain} is not allowed here; allowed domains: "
            f"{', '.join(cfg.email_domains)}.",
            reason=f"email domain {domain} not allowed",
        )
    return email


def _match_or_create(claims, cfg, *, issuer: str, email: str) -> tuple[User, OIDCIdentity, bool]:
    subject = str(claims["sub"])
    identity = (
        OIDCIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        return identity.user, identity, False
    user = User.objects.filter(email__iexact=email, is_system=False).first()
    created = False
    if user is not None:
        if user.login_type != LoginType.OIDC:
            raise Refused(
                f"An account with the email {email} already exists and signs in with a "
                f"{user.login_type}; ask an administrator to convert it to OIDC sign-in.",
                reason=f"email matches a {user.login_type} account",
                user=user,
            )
        if OIDCIdentity.objects.filter(user=user).exists():
            raise Refused(
                f"The account with the email {email} is linked to another identity at the "
                "identity provider; ask an administrator.",
                reason="account linked to another subject",
                user=user,
            )
    else:
        if not cfg.allow_signups:
            raise Refused(
                "New accounts cannot sign up with single sign-on here; ask an administrator to "
                "create your account.",
                reason="signups disabled",
            )
        user = accounts.create_user(
            actor=OIDC_ACTOR,
            username=unique_username(username_from(claims, cfg)),
            email=email,
            name=str(claims.get("name") or "")[:128],
            login_type=LoginType.OIDC,
        )
        created = True
    identity = OIDCIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    return user, identity, created


def _refresh_profile(user: User, claims: dict, email: str) -> User:
    """The provider's current name and email on the account (audited when they changed).

    An email another account already has is left alone rather than refusing the sign-in: the
    person is who the provider says (matched by subject); an owner sorts the clash out.
    """
    name = str(claims.get("name") or "").strip()[:128] or user.name
    if User.objects.exclude(pk=user.pk).filter(email__iexact=email).exists():
        email = user.email
    return accounts.update_profile(user, actor=OIDC_ACTOR, name=name, email=email)


def sign_in(claims: dict, cfg: OIDCConfig, *, issuer: str) -> User:
    """The user these verified claims sign in, after group and role sync; else Refused.

    Not audited here on success: the browser login (accounts' signal) records it. A refusal is
    audited by the caller (audit_failure), after this transaction rolled back.
    """
    if not claims.get("sub"):
        raise Refused("The identity provider sent no subject (sub).", reason="no sub claim")
    email = _check_claims(claims, cfg)
    with transaction.atomic():
        user, identity, created = _match_or_create(claims, cfg, issuer=issuer, email=email)
        if user.login_type != LoginType.OIDC:  # converted back to password by an owner
            raise Refused(
                f"Your account signs in with a {user.login_type}, not single sign-on.",
                reason=f"login type is {user.login_type}",
                user=user,
            )
        if user.status == UserStatus.SUSPENDED or user.is_system:
            because = f": {user.status_reason}" if user.status_reason else ""
            raise Refused(
                f"Your account is suspended{because}. Ask an administrator to reactivate it.",
                reason="suspended",
                user=user,
            )
        if not created:
            user = _refresh_profile(user, claims, email)
        identity.last_sign_in_at = timezone.now()
        identity.save(update_fields=["last_sign_in_at"])
        sync.sync_groups(user, claims, cfg, actor=OIDC_ACTOR)
        user = sync.sync_roles(user, claims, cfg, actor=OIDC_ACTOR) or user
        for handler in hooks.idp_user_synced.handlers():
            handler(user, source="oidc", created=created, claims=claims)
    return user
