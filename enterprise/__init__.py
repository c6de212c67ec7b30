"""Home of the enterprise apps (groups, quotas, SCIM, OIDC...); core never imports them."""
