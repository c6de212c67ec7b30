"""Sign in (username or email + password) and sign out."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from portal import registry
from portal.accounts import throttling
from portal.errors import ServiceError


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("web:workspaces")


@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.user.is_authenticated and request.user.is_active and request.method == "GET":
        return redirect(_next_url(request))
    next_url = _next_url(request)
    buttons = registry.sign_in_links(next_url)
    context = {
        "next": next_url,
        "login": "",
        "error": "",
        "sign_in_buttons": buttons,
        # Turned off, the form stays reachable (?password=1) for owners, who are exempt.
        "password_form": not settings.PORTAL_PASSWORD_AUTH_DISABLED
        or not buttons
        or request.method == "POST"
        or "password" in request.GET,
    }
    status = 200
    if request.method == "POST":
        context["login"] = request.POST.get("login", "").strip()
        password = request.POST.get("password", "")
        if not context["login"] or not password:
            context["error"] = "Enter your username or email, and your password."
            status = 400
        else:
            try:
                # Throttled (429 while locked); every failure is audited, and a known user who
                # cannot sign in is told why.
                user = throttling.authenticate(request, context["login"], password)
            except ServiceError as e:
                context["error"] = e.message
                status = e.status_code
            else:
                login(request, user)  # the signal records the login and clears failures
                return redirect(context["next"])
    return TemplateResponse(request, "web/login.html", context, status=status)


@require_POST
def logout_view(request):
    logout(request)  # the signal audits it
    messages.info(request, "You are signed out.")
    return redirect("web:login")
