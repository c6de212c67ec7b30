"""Who may sign in with a password, and what a session with a reset password may do (sentences)."""

from __future__ import annotations

from django.conf import settings

from portal.accounts.choices import LoginType, TokenKind

PASSWORD_AUTH_DISABLED = (
    "Password sign-in is turned off on this deployment; sign in with single sign-on instead."
)
# What a refused session or token is told while a reset (one-time) password is still in use.
MUST_CHANGE = (
    "You signed in with a one-time password: choose a new password first "
    "(`portal users password`, PUT /api/v2/users/me/password, or the portal's account page)."
)
_NOT_PASSWORD = {
    LoginType.OIDC: "This account signs in with OIDC.",
    LoginType.NONE: "This account cannot sign in (login type none): it uses API tokens only.",
}


def password_auth_disabled() -> bool:
    """PORTAL_PASSWORD_AUTH_DISABLED (portal/config.py)."""
    return bool(getattr(settings, "PORTAL_PASSWORD_AUTH_DISABLED", False))


def password_auth_disabled_for(user) -> bool:
    """Turned off for this user: owners keep password sign-in (as in Coder), so a broken
    identity provider cannot lock everyone out."""
    return password_auth_disabled() and not (user is not None and user.is_superuser)


def not_password_refusal(user) -> str | None:
    """The sentence for a user who has no password sign-in (None: they have one)."""
    return _NOT_PASSWORD.get(user.login_type)


def must_change_refusal(user, *, token=None) -> str | None:
    """Why this credential may only change the password (None: it may do anything allowed).

    Browser sessions and session tokens of a user whose password was reset; named API tokens
    were made on purpose before the reset, and keep working.
    """
    if not getattr(user, "must_change_password", False):
        return None
    if token is not None and token.kind != TokenKind.SESSION:
        return None
    return MUST_CHANGE
