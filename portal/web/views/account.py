"""The account page: API tokens (secret shown once, list, revoke), the admin link, apps' cards."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from portal.accounts import git_ssh_keys, services
from portal.accounts import queries as account_queries
from portal.accounts.login_rules import (
    PASSWORD_AUTH_DISABLED,
    not_password_refusal,
    password_auth_disabled_for,
)
from portal.errors import NotFound, ServiceError
from portal.registry import registry
from portal.web.access import signed_in

LIFETIMES = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year"}
DEFAULT_LIFETIME = "30"


def _sections(request) -> list[dict]:
    """The cards apps add (registry "account_sections"), with their data for this user."""
    return [
        {"title": s.title, "template": s.template, "data": s.context(request)}
        for s in registry["account_sections"]
    ]


def _page(request, *, created=None, secret="", name="", lifetime="", error="", status=200):
    git_key = git_ssh_keys.get_or_create(request.user, actor=request.user)
    context = {
        "tokens": account_queries.live_tokens(request.user).order_by("-created_at"),
        "created": created,
        "secret": secret,
        "name": name,
        "lifetime": lifetime or DEFAULT_LIFETIME,
        "lifetimes": LIFETIMES,
        "error": error,
        "admin": request.user.is_staff,
        # Password users change theirs here; others sign in with OIDC or use tokens only.
        "user_refusal": not_password_refusal(request.user)
        or (PASSWORD_AUTH_DISABLED if password_auth_disabled_for(request.user) else None),
        "sections": _sections(request),
        "git_key": git_key,
        "git_key_fingerprint": git_ssh_keys.fingerprint(git_key.public_key),
    }
    response = TemplateResponse(request, "web/account.html", context, status=status)
    if secret:
        response["Cache-Control"] = "no-store"  # the secret must not come back from a cache
    return response


@signed_in
def account_page(request):
    return _page(request)


@require_POST
@signed_in
def create_token(request):
    name = request.POST.get("name", "").strip()
    lifetime = request.POST.get("lifetime", DEFAULT_LIFETIME)
    if lifetime not in LIFETIMES:
        return _page(
            request,
            name=name,
            error=f"Choose a lifetime: {', '.join(LIFETIMES.values())}.",
            status=400,
        )
    try:
        token, secret = services.create_token(
            request.user,
            actor=request.user,
            name=name,
            lifetime=timedelta(days=int(lifetime)),
        )
    except ServiceError as e:
        detail = "; ".join(p["detail"] for p in e.validations if p.get("detail"))
        message = e.message if not detail or detail == e.message else f"{e.message} {detail}"
        return _page(request, name=name, lifetime=lifetime, error=message, status=e.status_code)
    # Rendered, not redirected: the secret is in this one response and nowhere else.
    return _page(request, created=token, secret=secret)


@require_POST
@signed_in
def revoke_token(request, token):
    try:
        found = account_queries.resolve_token(request.user, str(token))
        services.revoke_token(found, actor=request.user)
    except NotFound:
        messages.error(request, "That token does not exist or was already revoked.")
    except ServiceError as e:
        messages.error(request, f"Could not revoke the token: {e.message}")
    else:
        messages.success(request, f"Token {found.name!r} is revoked; it no longer works.")
    return redirect("web:account")


@require_POST
@signed_in
def regenerate_git_key(request):
    key = git_ssh_keys.regenerate(request.user, actor=request.user)
    messages.success(
        request,
        f"New git SSH key {git_ssh_keys.fingerprint(key.public_key)}: add it to your git hosts "
        "and remove the old one.",
    )
    return redirect("web:account")
