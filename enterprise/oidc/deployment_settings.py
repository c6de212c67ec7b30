"""The PORTAL_OIDC_* variables on the console's deployment page (secrets masked there)."""

from __future__ import annotations

from portal.registry import DeploymentSetting, register_deployment_settings

GROUP = "OIDC single sign-on"

SETTINGS = tuple(
    DeploymentSetting(name, GROUP, text, default, **flags)
    for name, text, default, flags in (
        ("PORTAL_OIDC_ISSUER_URL", "Identity provider's issuer (none: OIDC off).", "", {}),
        ("PORTAL_OIDC_CLIENT_ID", "OAuth client id at the provider.", "", {}),
        ("PORTAL_OIDC_CLIENT_SECRET", "OAuth client secret.", "", {}),
        ("PORTAL_OIDC_SCOPES", "Scopes asked for.", "openid profile email", {}),
        ("PORTAL_OIDC_SIGN_IN_TEXT", "The sign-in button's text.", "Sign in with OIDC", {}),
        ("PORTAL_OIDC_ICON_URL", "The sign-in button's icon.", "", {}),
        ("PORTAL_OIDC_EMAIL_DOMAINS", "Email domains allowed to sign in (none: any).", "", {}),
        ("PORTAL_OIDC_ALLOW_SIGNUPS", "Create accounts on first sign-in.", "true", {}),
        ("PORTAL_OIDC_USERNAME_CLAIM", "Claim giving the username.", "preferred_username", {}),
        ("PORTAL_OIDC_IGNORE_EMAIL_VERIFIED", "Accept unverified emails.", "false", {}),
        ("PORTAL_OIDC_GROUP_CLAIM", "Claim listing groups (none: no group sync).", "", {}),
        ("PORTAL_OIDC_GROUP_MAPPING", "IdP group -> Portal group (JSON).", "", {}),
        ("PORTAL_OIDC_GROUP_AUTO_CREATE", "Create groups the IdP names.", "false", {}),
        ("PORTAL_OIDC_GROUP_ALLOW_REGEX", "Groups synced (regular expression).", "", {}),
        ("PORTAL_OIDC_ROLE_CLAIM", "Claim listing roles (none: no role sync).", "", {}),
        ("PORTAL_OIDC_ROLE_MAPPING", "IdP role -> site roles (JSON).", "", {}),
    )
)


def register() -> None:
    register_deployment_settings(*SETTINGS)
