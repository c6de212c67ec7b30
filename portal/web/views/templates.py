"""The templates the user may use, each with its active version and a "create workspace" link."""

from __future__ import annotations

from django.template.response import TemplateResponse

from portal.web.access import signed_in
from templates_app import deprecation
from templates_app import queries as template_queries
from templates_app.models import ImportStatus


@signed_in
def template_list(request):
    templates = (
        template_queries.visible_to(request.user).select_related("active_version").order_by("name")
    )
    rows = []
    for t in templates:
        # Deprecated templates are listed (so users learn why) but offer no create link.
        refusal = deprecation.creation_refusal(t, t.active_version)
        rows.append(
            {
                "template": t,
                "version": t.active_version,
                "deprecated": refusal or "",
                "usable": t.active_version is not None
                and t.active_version.import_status == ImportStatus.SUCCEEDED
                and not refusal,
            }
        )
    return TemplateResponse(request, "web/templates.html", {"rows": rows})
