"""The console's deployment page: every setting Portal reads, its value and source, secrets
masked (as Coder's deployment page), for owners and auditors."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from portal import config, policy
from portal.embedded.lock import Runtime
from portal.ops import inventory


def _embedded() -> dict[str, str]:
    """The URLs of the services `portal server` started itself (they sit in its environment
    too, exported before Django started, but the operator never set them)."""
    runtime = Runtime.discover(config.load().data_dir)
    if runtime is None:
        return {}
    urls = {"PORTAL_DATABASE_URL": runtime.database_url, "PORTAL_REDIS_URL": runtime.redis_url}
    return {name: url for name, url in urls.items() if url}


def deployment_page(request):
    if not policy.can(request.user, "read", "deployment_settings"):
        raise PermissionDenied
    rows = inventory.rows(embedded=_embedded())
    context = {
        **admin.site.each_context(request),
        "title": "Deployment settings",
        "groups": inventory.grouped(rows),
        "count": len(rows),
        "from_environment": sum(r.source == "environment" for r in rows),
    }
    response = TemplateResponse(request, "admin/portal/deployment.html", context)
    response["Cache-Control"] = "no-store"
    return response
