"""Sign-in checks and lookups shared by the pages: what the request user may see and change."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.db.models import F, Model
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from portal import policy
from portal.accounts.login_rules import must_change_refusal


def _to_login(request):
    if request.headers.get("HX-Request"):
        # A fragment refresh must not swap the login page into the list: htmx reloads instead.
        response = HttpResponse(status=200)
        response["HX-Redirect"] = reverse("web:login")
        return response
    return redirect_to_login(request.get_full_path(), reverse("web:login"))


def _signed_in(view, *, allow_must_change: bool):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return _to_login(request)
        if not user.is_active:  # suspended since signing in
            logout(request)
            return _to_login(request)
        if not allow_must_change and must_change_refusal(user) is not None:
            # Signed in with a one-time password: the change comes first.
            target = reverse("web:password")
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=200)
                response["HX-Redirect"] = target
                return response
            return redirect_to_login(request.get_full_path(), target)
        return view(request, *args, **kwargs)

    return wrapper


def signed_in(view):
    """Pages need an active signed-in user; others go to the login page and come back. A user
    signed in with a reset (one-time) password goes to the password page first."""
    return _signed_in(view, allow_must_change=False)


def signed_in_to_change_password(view):
    """signed_in, for the password page itself: reachable with a one-time password."""
    return _signed_in(view, allow_must_change=True)


def not_found(request, message: str) -> TemplateResponse:
    return TemplateResponse(request, "web/not_found.html", {"message": message}, status=404)


def find_workspace(user, owner: str, name: str, *, related=()) -> Model | None:
    """The workspace `owner`/`name` if `user` may see it (the policy's `read`).

    A deleted workspace stays findable so its page can show how its delete build ended; a live
    one of the same name wins.
    """
    qs = policy.visible_to(user, "workspace").filter(
        owner__username__iexact=owner, name__iexact=name
    )
    qs = qs.select_related(
        "owner",
        "template__active_version",
        "latest_build__job",
        "latest_build__template_version",
        "latest_build__initiator",
        *related,
    )
    return qs.order_by(F("deleted_at").desc(nulls_first=True), "-created_at").first()
