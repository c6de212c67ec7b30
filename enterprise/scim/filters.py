"""SCIM filter expressions to Django Q objects (scim2-filter-parser's transpiler)."""

from __future__ import annotations

from django.db.models import Q
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler

from enterprise.scim import errors


def with_urns(attr_map: dict, urn: str) -> dict:
    """Each attribute also under its schema URN (`urn:...:User:userName eq "x"`)."""
    full = dict(attr_map)
    for (attr, sub, _), field in attr_map.items():
        full[(attr, sub, urn)] = field
    return full


USER_FIELDS = {
    ("id", None, None): "id",
    ("userName", None, None): "scim_identity__user_name",
    ("externalId", None, None): "scim_identity__external_id",
    ("emails", None, None): "email",
    ("emails", "value", None): "email",
    ("active", None, None): "scim_active",
    ("displayName", None, None): "scim_identity__attributes__displayName",
    ("name", "givenName", None): "scim_identity__attributes__name__givenName",
    ("name", "familyName", None): "scim_identity__attributes__name__familyName",
    ("name", "formatted", None): "name",
    ("meta", "created", None): "created_at",
    ("meta", "lastModified", None): "scim_identity__updated_at",
}
GROUP_FIELDS = {
    ("id", None, None): "id",
    ("displayName", None, None): "display_name",
    ("externalId", None, None): "external_id",
    ("members", None, None): "memberships__user__id",
    ("members", "value", None): "memberships__user__id",
    ("meta", "created", None): "created_at",
    ("meta", "lastModified", None): "updated_at",
}


def to_q(expression: str, attr_map: dict) -> Q:
    """The Q for `expression`; an invalid or unsupported filter is a 400 invalidFilter."""
    if len(expression) > 4096:
        raise errors.invalid_filter("The filter is too long (at most 4096 characters).")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(expression))
        q = Transpiler(attr_map).transpile(tree)
    except (SCIMParserError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise errors.invalid_filter(f"The filter {expression!r} is not valid: {exc}") from None
    if q is None:
        raise errors.invalid_filter(
            f"The filter {expression!r} uses an attribute that cannot be filtered on here."
        )
    return q
