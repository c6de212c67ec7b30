"""Group and role sync at sign-in: the IdP's claims decide a user's `oidc` groups and mapped roles.

Role rule: the site roles named anywhere in PORTAL_OIDC_ROLE_MAPPING are the IdP's to manage;
on every sign-in the user holds exactly those the mapping gives for their IdP roles. Roles the
mapping never names (granted by hand in Portal) are kept. `owner` is only granted when the
mapping names it; a missing claim changes nothing, an empty one removes what it managed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db.models.functions import Lower
from django.utils.text import slugify

from enterprise.groups import services as groups
from enterprise.groups.choices import GroupSource
from enterprise.groups.models import Group
from enterprise.oidc.config import OIDCConfig
from portal import features
from portal.accounts import services as accounts
from portal.accounts.choices import Role
from portal.errors import ServiceError

log = logging.getLogger(__name__)


def claim_values(claims: dict, name: str) -> list[str] | None:
    """A list claim as strings; None when absent (a lone string is a list of one)."""
    if not name or name not in claims or claims[name] is None:
        return None
    raw = claims[name]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, Iterable):
        return []
    return [str(v) for v in raw if str(v).strip()]


def wanted_group_names(cfg: OIDCConfig, idp_names: list[str]) -> list[str]:
    """Portal group names for the IdP's: allow-listed, mapped, else slugified; in claim order."""
    names: list[str] = []
    for idp_name in idp_names:
        if cfg.group_allow_regex is not None and not cfg.group_allow_regex.search(idp_name):
            continue
        name = cfg.group_mapping.get(idp_name) or slugify(idp_name)[:64]
        if name and name.lower() not in {n.lower() for n in names}:
            names.append(name.lower())
    return names


def sync_groups(user, claims: dict, cfg: OIDCConfig, *, actor) -> tuple[list, list] | None:
    """Set the user's `oidc` groups to the IdP's; None when off or the claim is absent."""
    if not cfg.group_claim or not features.enabled("oidc_group_sync"):
        return None
    idp_names = claim_values(claims, cfg.group_claim)
    if idp_names is None:
        return None
    names = wanted_group_names(cfg, idp_names)
    found = {
        g.name.lower(): g
        for g in Group.objects.annotate(lname=Lower("name")).filter(lname__in=names)
    }
    wanted = []
    for name in names:
        group = found.get(name)
        if group is None and cfg.group_auto_create:
            try:
                group = groups.create_group(actor=actor, name=name, source=GroupSource.OIDC)
            except ServiceError as e:  # a name Portal cannot use, or a concurrent create
                log.warning("OIDC group %r not created: %s", name, e.message)
                group = Group.objects.filter(name__iexact=name).first()
        if group is None:
            continue
        if group.source != GroupSource.OIDC:
            # Manual and SCIM groups are not the OIDC sync's to change.
            log.info("OIDC group %r skipped: the group's source is %s", name, group.source)
            continue
        wanted.append(group)
    return groups.sync_user_groups(user, wanted, source=GroupSource.OIDC, actor=actor)


def synced_roles(current: Iterable[str], idp_roles: list[str], cfg: OIDCConfig) -> list[str]:
    """The roles after sync: unmanaged roles kept, managed ones exactly as the mapping gives."""
    produced = {r for idp_role in idp_roles for r in cfg.role_mapping.get(idp_role, ())}
    kept = set(current) - cfg.mapped_roles
    return sorted(kept | produced | {Role.MEMBER})


def sync_roles(user, claims: dict, cfg: OIDCConfig, *, actor):
    """Apply the role mapping through change_roles; None when off or the claim is absent."""
    if not cfg.role_claim or not features.enabled("oidc_role_sync"):
        return None
    idp_roles = claim_values(claims, cfg.role_claim)
    if idp_roles is None:
        return None
    roles = synced_roles(user.roles, idp_roles, cfg)
    if roles == sorted(set(user.roles) | {Role.MEMBER}):
        return user
    try:
        return accounts.change_roles(user, actor=actor, roles=roles)
    except ServiceError as e:  # e.g. the last active owner keeps the role
        log.warning("OIDC role sync for %s refused: %s", user.username, e.message)
        return None
