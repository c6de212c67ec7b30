"""The password change form (the account page's, and the page a one-time password leads to)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from portal.accounts import passwords
from portal.accounts.login_rules import (
    PASSWORD_AUTH_DISABLED,
    must_change_refusal,
    not_password_refusal,
    password_auth_disabled_for,
)
from portal.errors import ServiceError
from portal.web.access import signed_in_to_change_password
from portal.web.views.session import _next_url as next_url  # the sign-in page's rule

# Form field names, and the service's validation fields they stand for.
_FIELDS = {"old_password": "old_password", "password": "new_password"}


def _page(request, *, errors=None, error="", status=200):
    context = {
        "errors": errors or {},
        "error": error,
        "must_change": must_change_refusal(request.user) is not None,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "refusal": not_password_refusal(request.user)
        or (PASSWORD_AUTH_DISABLED if password_auth_disabled_for(request.user) else None),
    }
    return TemplateResponse(request, "web/password.html", context, status=status)


def _field_errors(error: ServiceError) -> dict[str, str]:
    """{form field: sentence} from the service's validations."""
    found = {}
    for item in error.validations:
        field = _FIELDS.get(item.get("field", ""))
        if field:
            found[field] = item.get("detail", "")
    return found


@require_http_methods(["GET", "POST"])
@signed_in_to_change_password
def change_password(request):
    if request.method == "GET":
        return _page(request)
    new, confirm = request.POST.get("new_password", ""), request.POST.get("confirm_password", "")
    if new != confirm:
        errors = {"confirm_password": "The two new passwords differ; type the same one twice."}
        return _page(request, errors=errors, status=400)
    try:
        passwords.change_password(
            request.user,
            actor=request.user,
            old_password=request.POST.get("old_password", ""),
            new_password=new,
            request=request,
            keep_session=request.session.session_key,
        )
    except ServiceError as e:
        errors = _field_errors(e)
        status = e.status_code
        return _page(request, errors=errors, error="" if errors else e.message, status=status)
    passwords.keep_session_signed_in(request, request.user)
    messages.success(request, "Your password is changed. Your other sessions are signed out.")
    if request.POST.get("next"):  # from the forced change: back where the user was going
        return redirect(next_url(request))
    return redirect("web:account")
