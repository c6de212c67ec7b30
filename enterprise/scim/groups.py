"""The SCIM Group resource: a Portal group with source `scim`, and its members."""

from __future__ import annotations

import re
import secrets

from django.db.models import Prefetch
from django.utils.text import slugify

from enterprise.groups import services as group_services
from enterprise.groups.choices import GroupSource
from enterprise.groups.models import Group, GroupMember
from enterprise.scim import errors, schemas
from enterprise.scim.patch import _key, _terms, parse_path
from enterprise.scim.users import is_uuid
from portal.accounts.models import User
from portal.errors import ServiceError

ENDPOINT = "/Groups"


def queryset(with_members: bool = True):
    qs = Group.objects.filter(source=GroupSource.SCIM)
    if with_members:
        qs = qs.prefetch_related(
            Prefetch(
                "memberships",
                # Only the ids: a member is rendered as its user's id (no user rows read).
                queryset=GroupMember.objects.only("id", "group_id", "user_id").order_by(
                    "created_at", "id"
                ),
            )
        )
    return qs


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def render(group: Group, base: str, with_members: bool = True) -> dict:
    doc = {"schemas": [schemas.GROUP], "id": str(group.pk)}
    if group.display_name:
        doc["displayName"] = group.display_name
    if group.external_id:
        doc["externalId"] = group.external_id
    if with_members:
        doc["members"] = [
            {
                "value": str(m.user_id),
                "type": "User",
                "$ref": f"{base}/Users/{m.user_id}",
            }
            for m in group.memberships.all()
        ]
    doc["meta"] = {
        "resourceType": "Group",
        "created": _iso(group.created_at),
        "lastModified": _iso(group.updated_at),
        "location": f"{base}{ENDPOINT}/{group.pk}",
    }
    return doc


def lookup(pk: str, with_members: bool = True) -> Group:
    group = queryset(with_members).filter(pk=pk).first() if is_uuid(pk) else None
    if group is None:
        raise errors.not_found(f"Group {pk} not found.")
    return group


def member_ids(value) -> list[str]:
    """The user ids in a members value: [{"value": id}, ...] (or one object)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        ident = item.get(_key(item, "value")) if isinstance(item, dict) else item
        if not isinstance(ident, str):
            raise errors.bad_request("Each member needs a string value (a user id).")
        ids.append(ident)
    return ids


def users(ids) -> list[User]:
    """The SCIM users among `ids`, in one query (unknown ids are ignored: a member the IdP
    has not provisioned here is not Portal's)."""
    valid = [i for i in ids if is_uuid(i)]
    if not valid:
        return []
    return list(
        User.objects.filter(pk__in=valid, scim_identity__isnull=False).only("id", "username")
    )


def _name_for(display_name: str) -> str:
    base = slugify(display_name)[:56].strip("-_") or "group"
    base = re.sub(r"[^a-z0-9_-]", "", base) or "group"
    candidate = base
    while Group.objects.filter(name__iexact=candidate).exists():
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def _display(doc: dict) -> str:
    value = doc.get(_key(doc, "displayName"))
    if value is None:
        return ""  # optional in RFC 7643's Group schema (the group is named after its externalId)
    if not isinstance(value, str):
        raise errors.bad_request("displayName must be a string.")
    value = value.strip()
    if len(value) > 128:
        raise errors.bad_request("displayName is too long (at most 128 characters).")
    return value


def _external_id(doc: dict) -> str:
    value = doc.get(_key(doc, "externalId")) or ""
    if not isinstance(value, str) or len(value) > 255:
        raise errors.bad_request("externalId must be a string of at most 255 characters.")
    return value


def _unique_display(display: str, group: Group | None) -> None:
    if not display:
        return
    others = queryset(False).filter(display_name__iexact=display)
    if group is not None:
        others = others.exclude(pk=group.pk)
    if others.exists():
        raise errors.uniqueness(f"A group named {display!r} already exists.")


def _service(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except ServiceError as exc:
        status = getattr(exc, "status_code", 400)
        if status == 409:
            raise errors.uniqueness(exc.message) from None
        raise errors.bad_request(exc.message) from None


def create(doc: dict, *, actor) -> Group:
    display, external_id = _display(doc), _external_id(doc)
    _unique_display(display, None)
    members = users(member_ids(doc.get(_key(doc, "members"))))
    group = _service(
        group_services.create_group,
        actor=actor,
        name=_name_for(display or external_id or "scim-group"),
        display_name=display,
        source=GroupSource.SCIM,
        external_id=external_id,
    )
    if members:
        _service(group_services.add_members, group, members, actor=actor)
    return group


def replace(group: Group, doc: dict, *, actor, members: bool = True) -> Group:
    """PUT: the group becomes the document (members too, when it has the attribute)."""
    display, external_id = _display(doc), _external_id(doc)
    _unique_display(display, group)
    changes = {}
    if display != group.display_name:
        changes["display_name"] = display
    if external_id != group.external_id:
        changes["external_id"] = external_id
    if changes:
        group = _service(group_services.update_group, group, actor=actor, **changes)
    if members:
        wanted = users(member_ids(doc.get(_key(doc, "members"))))
        _service(group_services.set_members, group, wanted, actor=actor)
    return group


def add_members(group: Group, ids, *, actor) -> None:
    found = users(ids)
    if found:
        _service(group_services.add_members, group, found, actor=actor)


def remove_members(group: Group, ids, *, actor) -> None:
    found = users(ids)
    if found:
        _service(group_services.remove_members, group, found, actor=actor)


def delete(group: Group, *, actor) -> None:
    _service(group_services.delete_group, group, actor=actor)


def _filter_ids(text: str) -> list[str]:
    """The ids in `members[value eq "a" or value eq "b"]`."""
    ids = []
    for terms in _terms(text):
        for attr, op, value in terms:
            if attr.lower() != "value" or op != "eq" or not isinstance(value, str):
                raise errors.bad_request(
                    f'Only members[value eq "<id>"] selects members, not [{text}].',
                    "invalidFilter",
                )
            ids.append(value)
    return ids


def patch(group: Group, operations: list, *, actor) -> Group:
    """Apply PATCH operations; members are added and removed in a few queries per operation
    whatever their number (Entra sends hundreds in one)."""
    for operation in operations:
        if not isinstance(operation, dict):
            raise errors.bad_request("Each operation must be an object.")
        op = str(operation.get(_key(operation, "op")) or "").lower()
        if op not in ("add", "replace", "remove"):
            raise errors.bad_request(
                f"Unknown PATCH op {operation.get(_key(operation, 'op'))!r}: "
                "use add, replace or remove."
            )
        raw = operation.get(_key(operation, "path"))
        value = operation.get(_key(operation, "value"))
        has_value = _key(operation, "value") in operation
        if not raw:
            if op == "remove":
                raise errors.no_target("A remove operation needs a path.")
            if not isinstance(value, dict):
                raise errors.bad_request(
                    "An operation without a path needs an object as its value."
                )
            for name, sub in value.items():
                if name.lower() == "id" and sub == str(group.pk):
                    continue  # Okta repeats the id; it cannot change
                group = patch(group, [{"op": op, "path": name, "value": sub}], actor=actor)
            continue
        path = parse_path(str(raw))
        attr = path.attr.lower()
        if path.urn is not None or attr not in ("members", "displayname", "externalid"):
            if attr in ("id", "meta", "schemas"):
                raise errors.mutability(f"{path.attr} cannot be changed.")
            raise errors.no_target(f"Groups have no attribute {raw!r} to {op}.")
        if attr == "members":
            if path.filter is not None:
                if op != "remove":
                    raise errors.bad_request(
                        "Use a members[...] path with remove only.", "invalidPath"
                    )
                remove_members(group, _filter_ids(path.filter), actor=actor)
            elif op == "add":
                add_members(group, member_ids(value), actor=actor)
            elif op == "remove" and has_value and value is not None:
                remove_members(group, member_ids(value), actor=actor)
            elif op == "remove":
                _service(group_services.set_members, group, [], actor=actor)
            else:
                _service(group_services.set_members, group, users(member_ids(value)), actor=actor)
            continue
        if op == "remove":
            value = None if attr == "displayname" else ""
        if attr == "displayname":
            display = _display({"displayName": value})
            _unique_display(display, group)

            if display != group.display_name:
                group = _service(
                    group_services.update_group, group, actor=actor, display_name=display
                )
        else:
            external_id = _external_id({"externalId": value})
            if external_id != group.external_id:
                group = _service(
                    group_services.update_group, group, actor=actor, external_id=external_id
                )
    return group
