"""The "External authentication" card of the portal's account page."""

from __future__ import annotations

from portal.external_auth import queries


def account_external_auth(request) -> dict:
    return {"statuses": queries.statuses(request.user)}
