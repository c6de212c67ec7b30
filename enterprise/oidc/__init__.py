"""OIDC sign-in (mozilla-django-oidc) with group and role sync from the identity provider."""
