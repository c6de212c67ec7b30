"""The named API token the CLI's browser sign-in (`portal login URL`, /cli-auth) hands over."""

from __future__ import annotations

import re

from django.db import transaction

from portal.accounts import services
from portal.accounts.choices import TokenKind
from portal.accounts.models import APIToken, User

CLI_TOKEN_LIFETIME = services.TOKEN_DEFAULT_LIFETIME
_UNSAFE = re.compile(r"[^\w.-]+")


def token_name(host: str) -> str:
    """`cli (<host>)`, the host reduced to characters a token name may hold."""
    host = _UNSAFE.sub("-", host.strip()).strip("-.")[:50] or "unknown host"
    return f"cli ({host})"


def create_cli_token(user: User, *, actor: User, host: str) -> tuple[APIToken, str]:
    """A new token for the CLI on `host`; the one it had before (same name) is revoked, so
    signing in again from one machine does not pile up tokens. Both are audited."""
    name = token_name(host)
    with transaction.atomic():
        previous = APIToken.objects.filter(
            user=user, kind=TokenKind.TOKEN, name=name, revoked_at__isnull=True
        ).first()
        if previous is not None:
            services.revoke_token(previous, actor=actor)
        return services.create_token(user, actor=actor, name=name, lifetime=CLI_TOKEN_LIFETIME)
