"""Every mutating /api/v2 endpoint writes an audit entry when it succeeds, and when it refuses a
signed-in caller (403, or 404 for what they may not see) the refusal is an entry too.

The endpoints come from the authorization matrix's URL walk, so a new endpoint is covered here
without a line: it must audit its success and its refusals.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.audit.models import AuditEntry
from portal.external_auth import config as external_auth_config
from tests.api.conftest import CALLERS, world  # noqa: F401  (the fixture)
from tests.api.test_authorization_matrix import AGENT_WHEEL, EXTERNAL_AUTH, MATRIX, _request
from workspaces.api import agent_bundle

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
SIGNED_IN = [c for c in CALLERS if c not in ("anonymous", "suspended")]


def _cases() -> list[tuple[str, str, str, str]]:
    """(name, method, caller, kind): one success and each kind of refusal per endpoint."""
    cases = []
    for (name, method), row in sorted(MATRIX.items()):
        if method not in MUTATING:
            continue
        ok = next((c for c in SIGNED_IN if 200 <= row[c] < 300), None)
        if ok:
            cases.append((name, method, ok, "success"))
        for status in (403, 404):
            refused = next((c for c in SIGNED_IN if row[c] == status), None)
            if refused:
                cases.append((name, method, refused, str(status)))
    return cases


CASES = _cases()


def _call(world, name, method, caller):  # noqa: F811
    kwargs, body, _ = _request(world, caller, name, method)
    # The matrix's bodies that change nothing (services return early on a no-op, unaudited):
    # here they change something.
    match name, method:
        case "api:group-members", "POST":
            body = {"users": [world.users["another-member"].username]}
        case "api:template-acl", "PATCH":
            body = {"group_perms": {"everyone": "admin"}}
        case "api:user-unlock", "POST":
            world.clients["anonymous"].post(
                reverse("api:users-login"),
                {"login": world.target.username, "password": "wrong"},
                format="json",
            )
    client = world.clients[caller]
    if isinstance(body, bytes):
        return client.generic(method, reverse(name, kwargs=kwargs), body, "application/gzip")
    return getattr(client, method.lower())(
        reverse(name, kwargs=kwargs), body, format="json" if body is not None else None
    )


def test_the_walk_found_mutating_endpoints():
    assert len({(n, m) for n, m, _, _ in CASES}) >= 20
    assert any(kind == "404" for *_, kind in CASES)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "caller", "kind"), CASES)
def test_mutating_endpoint_is_audited(world, name, method, caller, kind, monkeypatch, tmp_path):  # noqa: F811
    (tmp_path / AGENT_WHEEL).write_bytes(b"PK\x05\x06" + bytes(18))
    monkeypatch.setattr(agent_bundle, "wheelhouse", lambda: tmp_path)
    monkeypatch.setattr(external_auth_config, "current", lambda: EXTERNAL_AUTH)
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = _call(world, name, method, caller)
    assert response.status_code == MATRIX[name, method][caller], response.content[:300]
    new = list(AuditEntry.objects.filter(id__gt=before))
    actor = world.users[caller]
    if kind == "success":
        mine = [e for e in new if e.actor_id == actor.pk]
        assert mine, f"{method} {name} succeeded for {caller} and wrote no audit entry"
        return
    status = int(kind)
    refusals = [e for e in new if e.status_code == status and e.actor_id == actor.pk]
    assert len(refusals) == 1, (f"{method} {name} refused {caller} ({status})", new)
    entry = refusals[0]
    if entry.action == "denied":
        assert entry.additional_fields["method"] == method
        assert entry.additional_fields["path"] == response.wsgi_request.get_full_path()
        assert entry.resource_target == ""  # a hidden object is never named
