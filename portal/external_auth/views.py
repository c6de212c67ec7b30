"""The portal's external auth pages: status, starting the link, the callback, unlink."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from portal.errors import ServiceError
from portal.external_auth import flow, queries, services
from portal.web.access import signed_in


def _error(request, provider, message: str, detail: str = "", status: int = 400):
    context = {"status": None, "provider": provider, "error": message, "detail": detail}
    return TemplateResponse(request, "external_auth/provider.html", context, status=status)


def _provider_or_404(request, provider_id):
    try:
        return queries.resolve(provider_id), None
    except ServiceError as e:
        return None, _error(request, None, e.message, status=404)


def _safe_next(request, url: str) -> str:
    ok = url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure())
    return url if ok else ""


@require_GET
@signed_in
def provider_page(request, provider):
    found, refused = _provider_or_404(request, provider)
    if refused:
        return refused
    context = {
        "status": queries.status(request.user, found),
        "provider": found,
        "next": _safe_next(request, request.GET.get("next", "")),
    }
    return TemplateResponse(request, "external_auth/provider.html", context)


@require_GET
@signed_in
def start_link(request, provider):
    found, refused = _provider_or_404(request, provider)
    if refused:
        return refused
    reason = queries.refusal(found)
    if reason:
        return _error(request, found, reason, status=403)
    next_url = _safe_next(request, request.GET.get("next", ""))
    return redirect(flow.start(request.session, found, next_url=next_url))


@require_GET
@signed_in
def callback(request, provider):
    found, refused = _provider_or_404(request, provider)
    if refused:
        return refused
    try:
        started = flow.finish(request.session, found, request.GET.get("state", ""))
    except ServiceError as e:
        return _error(request, found, e.message, status=e.status_code)
    if request.GET.get("error"):
        said = request.GET.get("error_description") or request.GET["error"]
        return _error(request, found, f"{found.display_name} did not authorise: {said[:200]}")
    code = request.GET.get("code", "")
    if not code:
        return _error(request, found, "The provider sent no authorization code.")
    try:
        services.link(
            request.user,
            found,
            actor=request.user,
            code=code,
            verifier=started["verifier"],
            redirect_uri=flow.redirect_uri(found),
        )
    except ServiceError as e:
        return _error(request, found, e.message, e.detail, status=e.status_code)
    messages.success(request, f"Your {found.display_name} account is linked.")
    if started.get("next"):
        return redirect(started["next"])
    return redirect("external_auth:provider", provider=found.id)


@require_POST
@signed_in
def unlink(request, provider):
    found, refused = _provider_or_404(request, provider)
    if refused:
        return refused
    try:
        services.unlink(request.user, found.id, actor=request.user)
    except ServiceError as e:
        messages.error(request, e.message)
    else:
        messages.success(request, f"Your {found.display_name} account is unlinked.")
    return redirect(_safe_next(request, request.POST.get("next", "")) or "web:account")
