"""The sign-in redirect to the provider and its callback, which signs the browser in."""

from __future__ import annotations

from django.contrib import auth, messages
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from enterprise.oidc import config
from enterprise.oidc.backend import OIDCBackend, settings_for
from enterprise.oidc.services import Refused, audit_failure
from portal.errors import ServiceError

# The session our sign-in creates is the password sign-in's kind: Django reloads its user
# through this backend (ModelBackend.get_user, which refuses inactive users).
SESSION_BACKEND = "portal.accounts.backends.PortalBackend"


def _configured():
    cfg = config.current()
    if cfg is None:
        raise Http404("OIDC sign-in is not configured.")
    return cfg


def _back_to_sign_in(request, message: str, next_url: str | None) -> HttpResponseRedirect:
    messages.error(request, message)
    url = reverse("web:login")
    if next_url:
        url += "?" + urlencode({"next": next_url})
    return HttpResponseRedirect(url)


class AuthenticateView(OIDCAuthenticationRequestView):
    """Redirect to the provider with state, nonce and a PKCE challenge; keeps a safe `next`."""

    def __init__(self, **kwargs):  # not the library's: it reads Django settings
        View.__init__(self, **kwargs)

    def get(self, request):
        cfg = _configured()
        try:
            self.values = settings_for(cfg)
        except ServiceError as e:
            return _back_to_sign_in(request, e.message, request.GET.get("next"))
        self.OIDC_OP_AUTH_ENDPOINT = self.values["OIDC_OP_AUTHORIZATION_ENDPOINT"]
        self.OIDC_RP_CLIENT_ID = cfg.client_id
        return super().get(request)

    def get_settings(self, attr, *args):
        if attr in self.values:
            return self.values[attr]
        return args[0] if args else None


class CallbackView(View):
    """The provider sends the browser back here with a code (or an error) and the state."""

    http_method_names = ["get"]

    def get(self, request):
        cfg = _configured()
        states = request.session.get("oidc_states") or {}
        state = request.GET.get("state", "")
        entry = states.pop(state, None) if state else None
        next_url = request.session.get("oidc_login_next")
        request.session["oidc_states"] = states  # used once, even when refused (no replay)
        if entry is None:
            refusal = Refused(
                "This sign-in link is stale or was not started in this browser (state mismatch);"
                " start again from the sign-in page.",
                reason="state mismatch",
                status=400,
            )
            audit_failure(refusal)
            return _back_to_sign_in(request, refusal.message, next_url)
        if request.GET.get("error"):
            error = request.GET.get("error_description") or request.GET["error"]
            refusal = Refused(
                f"The identity provider did not sign you in: {error}.",
                reason=f"provider error: {request.GET['error']}",
                status=401,
            )
            audit_failure(refusal)
            return _back_to_sign_in(request, refusal.message, next_url)
        try:
            backend = OIDCBackend(cfg)
            user = backend.authenticate(
                request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier")
            )
        except Refused as refusal:
            audit_failure(refusal)
            return _back_to_sign_in(request, refusal.message, next_url)
        except ServiceError as e:  # provider unreachable; a user Portal could not create
            audit_failure(e, reason=e.message)
            return _back_to_sign_in(request, e.message, next_url)
        if user is None:  # no code in the callback
            refusal = Refused(
                "The identity provider sent no sign-in code; start again from the sign-in page.",
                reason="no code",
                status=400,
            )
            audit_failure(refusal)
            return _back_to_sign_in(request, refusal.message, next_url)
        request.portal_login_method = "oidc"  # the login signal audits it with this method
        auth.login(request, user, backend=SESSION_BACKEND)
        return HttpResponseRedirect(next_url or reverse("web:workspaces"))
