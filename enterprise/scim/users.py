"""The SCIM User resource: a Portal user with its SCIM identity, as a document and back."""

from __future__ import annotations

import copy
import uuid

from django.db.models import BooleanField, Case, Value, When

from enterprise.scim import errors, schemas
from enterprise.scim.models import ScimIdentity
from enterprise.scim.patch import coerce
from portal.accounts.choices import UserStatus
from portal.accounts.models import User

ENDPOINT = "/Users"
# Held by Portal's own columns or never stored; everything else the IdP sent is kept as sent.
_OWN = {"id", "meta", "schemas", "username", "externalid", "password", "groups"}


def queryset():
    """The users SCIM sees: those it provisioned or linked (DELETE detaches them)."""
    return (
        User.objects.filter(scim_identity__isnull=False)
        .select_related("scim_identity")
        .annotate(
            scim_active=Case(
                When(status=UserStatus.SUSPENDED, then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            )
        )
    )


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def render(user: User, base: str) -> dict:
    identity = user.scim_identity
    doc = {"schemas": [schemas.USER], "id": str(user.pk)}
    if identity.external_id:
        doc["externalId"] = identity.external_id
    doc["userName"] = identity.user_name
    doc.update(copy.deepcopy(identity.attributes))
    if schemas.ENTERPRISE_USER in doc:
        doc["schemas"].append(schemas.ENTERPRISE_USER)
    doc.pop("active", None)
    if "active" in identity.attributes:  # absent after a PATCH removed it (status unchanged)
        doc["active"] = user.status != UserStatus.SUSPENDED
    doc["meta"] = {
        "resourceType": "User",
        "created": _iso(user.created_at),
        "lastModified": _iso(max(identity.updated_at, user.updated_at)),
        "location": f"{base}{ENDPOINT}/{user.pk}",
    }
    return doc


def _text(doc: dict, name: str, required: bool = False) -> str:
    value = doc.get(name)
    if value is None or value == "":
        if required:
            raise errors.bad_request(f"{name} is required.", "invalidValue")
        return ""
    if not isinstance(value, str):
        raise errors.bad_request(f"{name} must be a string.", "invalidValue")
    if len(value) > 255:
        raise errors.bad_request(f"{name} is too long (at most 255 characters).", "invalidValue")
    return value.strip()


def _primary_email(doc: dict) -> str:
    emails = doc.get("emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
        raise errors.bad_request("emails must be a list of objects with a value.", "invalidValue")
    chosen = next((e for e in emails if e.get("primary") is True), None) or (emails or [{}])[0]
    value = chosen.get("value") or ""
    if not isinstance(value, str):
        raise errors.bad_request("An email's value must be a string.", "invalidValue")
    value = value.strip()
    if value and ("@" not in value or len(value) > 254):
        # Kept on the SCIM identity, but Portal's account needs a real address or none.
        return ""
    return value


def _full_name(doc: dict) -> str:
    name = doc.get("name") or {}
    if not isinstance(name, dict):
        raise errors.bad_request("name must be an object.", "invalidValue")
    formatted = name.get("formatted")
    if isinstance(formatted, str) and formatted.strip():
        return formatted.strip()
    parts = [name.get("givenName"), name.get("familyName")]
    joined = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    display = doc.get("displayName")
    return joined or (display.strip() if isinstance(display, str) else "")


def _clean(value):
    """An extension object without the `schemas` some clients nest in it."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() != "schemas"}
    return value


def normalize(body: dict) -> dict:
    """A User document as received: keys in their schema spelling, Entra's boolean strings
    made booleans, the core schema's URN prefix unwrapped."""
    if not isinstance(body, dict):
        raise errors.bad_request("The body must be a JSON object.")
    doc = {}
    for key, value in body.items():
        if key.lower() == schemas.USER.lower() and isinstance(value, dict):
            doc.update(value)
        else:
            doc[key] = value
    return coerce("", doc)


def fields(doc: dict) -> dict:
    """What the services write, from a whole User document."""
    canonical = {k.lower(): k for k in doc}

    def get(name):
        return doc.get(canonical.get(name.lower(), name))

    active = get("active")
    if active is not None and not isinstance(active, bool):
        raise errors.bad_request("active must be true or false.", "invalidValue")
    view = {
        k[0].lower() + k[1:] if k and not k.startswith("urn:") else k: v for k, v in doc.items()
    }
    for key in ("emails", "name", "displayName"):
        if get(key) is not None:
            view[key] = get(key)
    attributes = {k: _clean(v) for k, v in doc.items() if k.lower() not in _OWN}
    if active is not None:
        attributes["active"] = active
    return {
        "user_name": _text({"userName": get("userName")}, "userName", required=True),
        "external_id": _text({"externalId": get("externalId")}, "externalId"),
        "email": _primary_email(view),
        "name": _full_name(view),
        "active": active,
        "attributes": attributes,
    }


def lookup(pk: str) -> User:
    user = queryset().filter(pk=pk).first() if is_uuid(pk) else None
    if user is None:
        raise errors.not_found(f"User {pk} not found.")
    return user


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def identity_of(user: User) -> ScimIdentity:
    return user.scim_identity
