"""Audit browser logins and logouts through the services, and stop Django's own last_login write."""

from django.contrib.auth import user_logged_in, user_logged_out
from django.contrib.auth.models import update_last_login
from django.dispatch import receiver

from portal.accounts import services, throttling

user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")


@receiver(user_logged_in, dispatch_uid="portal_browser_login")
def _browser_login(sender, request, user, **kwargs):
    # A single sign-on's view names itself on the request (e.g. "oidc") before logging in.
    services.record_browser_login(user, method=getattr(request, "portal_login_method", "browser"))
    throttling.signed_in(request, user)


@receiver(user_logged_out, dispatch_uid="portal_browser_logout")
def _browser_logout(sender, request, user, **kwargs):
    if user is not None and user.is_authenticated:
        # The key still names the session here: Django flushes it after this signal.
        session_key = getattr(getattr(request, "session", None), "session_key", None)
        services.logout(actor=user, token=None, session_key=session_key)
