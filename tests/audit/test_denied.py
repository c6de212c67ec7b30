"""Refused changes: recorded once for signed-in callers, never for anonymous ones or reads."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from portal.audit import context, denied
from portal.audit.models import AuditEntry
from portal.audit.services import record
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db


def test_a_member_patching_a_template_is_a_denied_entry(client_for, member):
    template = TemplateFactory(name="secret-project")
    response = client_for(member).patch(
        f"/api/v2/templates/{template.name}", {"description": "x"}, format="json"
    )
    assert response.status_code == 403
    entry = AuditEntry.objects.get(action="denied")
    assert (entry.actor, entry.status_code, entry.resource_type) == (member, 403, "template")
    assert entry.additional_fields["method"] == "PATCH"
    assert entry.additional_fields["message"] == response.json()["message"]


def test_a_hidden_workspace_is_a_404_entry_that_names_no_object(client_for, member, owner):
    from tests import factories
    from tests.workspaces.helpers import buildable_template

    ws = factories.workspace(owner, template=buildable_template(), name="hidden-ws")
    response = client_for(member).post(
        f"/api/v2/workspaces/{ws.id}/builds", {"transition": "stop"}, format="json"
    )
    assert response.status_code == 404
    entry = AuditEntry.objects.get(action="denied")
    assert (entry.status_code, entry.resource_type, entry.resource_id) == (404, "workspace", "")
    assert "hidden-ws" not in repr(entry.additional_fields) + entry.resource_target


def test_anonymous_refusals_and_refused_reads_are_not_recorded(client_for, member, owner):
    template = TemplateFactory()
    anonymous = APIClient().patch(f"/api/v2/templates/{template.name}", {}, format="json")
    assert anonymous.status_code == 401
    read = client_for(member).get("/api/v2/users/" + str(owner.id))
    assert read.status_code in (403, 404)
    assert not AuditEntry.objects.filter(action="denied").exists()


def test_a_refusal_the_service_recorded_is_not_recorded_again(member):
    request = RequestFactory().post("/api/v2/anything")
    request.user = member
    token = context.set_current(context.RequestContext(request_id="r1", path=request.path))
    try:
        record(
            actor=member,
            action="login_failed",
            resource_type="user",
            resource_id=member.pk,
            additional_fields={"reason": "test"},
            status_code=403,
        )
        denied.record_refusal(request, resource="user", status_code=403, message="No.")
    finally:
        context.reset(token)
    assert AuditEntry.objects.filter(action="login_failed").count() == 1
    assert not AuditEntry.objects.filter(action="denied").exists()


def test_without_a_recorded_refusal_the_same_call_records_one(member):
    request = RequestFactory().post("/api/v2/anything")
    request.user = member
    token = context.set_current(context.RequestContext(request_id="r2", path=request.path))
    try:
        denied.record_refusal(request, resource="token", status_code=403, message="No.")
    finally:
        context.reset(token)
    entry = AuditEntry.objects.get(action="denied")
    assert (entry.resource_type, entry.status_code, entry.request_id) == ("api_token", 403, "r2")


def test_a_portal_refusal_is_one_denied_entry_of_the_request(client, member, owner):
    from tests import factories
    from tests.workspaces.helpers import buildable_template

    ws = factories.workspace(owner, template=buildable_template(), name="not-yours")
    client.force_login(member)
    response = client.post(f"/workspaces/{owner.username}/{ws.name}/builds", {"transition": "stop"})
    assert response.status_code == 404
    entry = AuditEntry.objects.get(action="denied")
    assert (entry.actor, entry.resource_type, entry.status_code) == (member, "request", 404)
    assert entry.additional_fields["path"] == f"/workspaces/{owner.username}/{ws.name}/builds"


def test_an_api_refusal_is_recorded_once_not_again_by_the_middleware(client_for, member):
    template = TemplateFactory()
    response = client_for(member).patch(
        f"/api/v2/templates/{template.name}", {"description": "x"}, format="json"
    )
    assert response.status_code == 403
    assert AuditEntry.objects.filter(action="denied").count() == 1
