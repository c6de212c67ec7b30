"""The "Groups" card of the portal's account page: the signed-in user's groups."""

from __future__ import annotations

from enterprise.groups.membership import groups_of


def account_groups(request) -> dict:
    groups = list(groups_of(request.user).order_by("-is_everyone", "name"))
    return {"groups": groups, "idp_owned": any(g.managed_by_idp for g in groups)}
