"""Groups of users: made by people, or owned by an identity provider (OIDC, SCIM)."""
