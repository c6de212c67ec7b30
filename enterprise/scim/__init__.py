"""SCIM 2.0 provisioning of users and groups by an identity provider (RFC 7643/7644)."""
