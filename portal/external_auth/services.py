"""Every write of external auth links: link, unlink, refresh (and invalidate), each audited."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal import crypto
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Forbidden, NotFound, ServiceError
from portal.external_auth import oauth, queries
from portal.external_auth.audit_types import EXTERNAL_AUTH_LINK
from portal.external_auth.config import Provider
from portal.external_auth.models import ExternalAuthLink

# A token this close to its expiry is refreshed before it is handed out: git may run a while.
REFRESH_MARGIN = timedelta(minutes=5)


class NotLinked(ServiceError):
    """No usable token: the user must (re)link at `url`."""

    status_code = 409

    def __init__(self, provider: Provider, reason: str = ""):
        self.provider = provider
        self.url = queries.link_url(provider)
        super().__init__(
            f"Authenticate with {provider.display_name} at {self.url}",
            detail=reason or f"You have not linked your {provider.display_name} account yet.",
        )


def _audit(link, user, provider_id: str, *, actor, action: str, status_code=200, **extra) -> None:
    audit.record(
        actor=actor,
        action=action,
        resource_type=EXTERNAL_AUTH_LINK,
        resource_id=link.pk if link is not None else "",
        resource_target=f"{user.username}/{provider_id}",
        additional_fields={"provider": provider_id, "owner": user.username, **extra},
        status_code=status_code,
    )


def _expiry(tokens: oauth.Tokens):
    return timezone.now() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None


def _check_usable(provider: Provider) -> None:
    reason = queries.refusal(provider)
    if reason:
        raise Forbidden(reason)


def _may_act_for(user, actor) -> None:
    if not actor.is_system and actor.pk != user.pk:
        raise Forbidden("Only its owner links or unlinks an external account.")


def link(user, provider: Provider, *, actor, code: str, verifier: str, redirect_uri: str):
    """Finish the authorization-code flow: exchange the code (with the PKCE verifier), check
    the token where the provider has a validate URL, and keep both tokens encrypted."""
    _may_act_for(user, actor)
    _check_usable(provider)
    try:
        tokens = oauth.exchange_code(
            provider, code=code, verifier=verifier, redirect_uri=redirect_uri
        )
    except oauth.ProviderError as e:
        raise ServiceError(f"Linking {provider.display_name} failed.", detail=str(e)) from None
    now = timezone.now()
    valid = oauth.validate(provider, tokens.access_token)
    if valid is False:
        raise ServiceError(
            f"Linking {provider.display_name} failed.",
            detail=f"{provider.display_name} does not accept the token it just issued.",
        )
    fields = {
        "access_token": crypto.encrypt(tokens.access_token.encode()),
        "refresh_token": crypto.encrypt(tokens.refresh_token.encode()),
        "expires_at": _expiry(tokens),
        "linked_at": now,
        "validated_at": now if valid else None,
        "refreshed_at": None,
        "invalid_reason": "",
    }
    with transaction.atomic():
        existing = (
            ExternalAuthLink.objects.select_for_update()
            .filter(user=user, provider_id=provider.id)
            .first()
        )
        if existing is None:
            found = ExternalAuthLink.objects.create(user=user, provider_id=provider.id, **fields)
            _audit(
                found, user, provider.id, actor=actor, action=AuditAction.CREATE, status_code=201
            )
            return found
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save(update_fields=[*fields, "updated_at"])
        _audit(
            existing, user, provider.id, actor=actor, action=AuditAction.WRITE, change="relinked"
        )
        return existing


def unlink(user, provider_id: str, *, actor) -> None:
    """Forget the user's tokens for this provider (the provider may keep its grant: revoke it
    there too)."""
    _may_act_for(user, actor)
    with transaction.atomic():
        found = (
            ExternalAuthLink.objects.select_for_update()
            .filter(user=user, provider_id=provider_id)
            .first()
        )
        if found is None:
            raise NotFound(f"You have not linked {provider_id[:40]!r}.")
        pk = found.pk
        found.delete()
        found.pk = pk
        _audit(found, user, provider_id, actor=actor, action=AuditAction.DELETE)


def _invalidate(found: ExternalAuthLink, provider: Provider, reason: str, *, actor) -> None:
    found.invalid_reason = reason
    found.save(update_fields=["invalid_reason", "updated_at"])
    _audit(
        found,
        found.user,
        provider.id,
        actor=actor,
        action=AuditAction.WRITE,
        change="invalidated",
        reason=reason,
    )


def refresh(found: ExternalAuthLink, provider: Provider, *, actor) -> ExternalAuthLink:
    """New tokens from the refresh token; a refusal marks the link invalid (relink needed).

    The row stays locked during the call: a refresh token is single-use at most providers, so
    two concurrent refreshes must not both spend it (the second sees the new tokens)."""
    with transaction.atomic():
        locked = (
            ExternalAuthLink.objects.select_for_update().select_related("user").get(pk=found.pk)
        )
        if locked.invalid_reason:
            return locked
        if locked.updated_at > found.updated_at and not _expiring(locked):
            return locked  # refreshed meanwhile by another request
        refresh_token = crypto.decrypt(bytes(locked.refresh_token)).decode()
        if not refresh_token:
            _invalidate(locked, provider, "The token expired and cannot be refreshed.", actor=actor)
            return locked
        try:
            tokens = oauth.refresh(provider, refresh_token)
        except oauth.ProviderError as e:
            _invalidate(locked, provider, str(e), actor=actor)
            return locked
        locked.access_token = crypto.encrypt(tokens.access_token.encode())
        if tokens.refresh_token:  # some providers keep the refresh token: keep ours then
            locked.refresh_token = crypto.encrypt(tokens.refresh_token.encode())
        locked.expires_at = _expiry(tokens)
        locked.refreshed_at = timezone.now()
        locked.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "expires_at",
                "refreshed_at",
                "updated_at",
            ]
        )
        _audit(
            locked,
            locked.user,
            provider.id,
            actor=actor,
            action=AuditAction.WRITE,
            change="refreshed",
        )
        return locked


def _expiring(found: ExternalAuthLink) -> bool:
    return found.expires_at is not None and found.expires_at - timezone.now() < REFRESH_MARGIN


def access_token(user, provider: Provider, *, actor) -> str:
    """The user's current token for the provider, refreshed first when it is about to expire;
    NotLinked (with the link to follow) when there is none or it no longer works."""
    _check_usable(provider)
    found = queries.link_of(user, provider.id)
    if found is None:
        raise NotLinked(provider)
    if found.invalid_reason:
        raise NotLinked(
            provider,
            f"Your {provider.display_name} link stopped working: "
            f"{found.invalid_reason} Link it again.",
        )
    if _expiring(found):
        found = refresh(found, provider, actor=actor)
        if found.invalid_reason:
            raise NotLinked(
                provider,
                f"Your {provider.display_name} link stopped working: "
                f"{found.invalid_reason} Link it again.",
            )
    return crypto.decrypt(bytes(found.access_token)).decode()
