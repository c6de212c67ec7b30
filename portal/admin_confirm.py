"""The console's confirmation page (Django's delete-confirmation pattern) for its operations."""

from __future__ import annotations

from django.contrib.admin import helpers
from django.template.response import TemplateResponse

CONFIRM_TEMPLATE = "admin/portal/confirm.html"
# The confirming POST carries this field; the list's own action POST never does.
CONFIRM_FIELD = "apply"


def is_confirmed(request) -> bool:
    return request.method == "POST" and CONFIRM_FIELD in request.POST


def action_fields(action: str, objects) -> list[tuple[str, str]]:
    """The hidden fields that post an admin action again for the same selection."""
    return [("action", action)] + [(helpers.ACTION_CHECKBOX_NAME, str(o.pk)) for o in objects]


def row(label: str, *, url: str = "", status: str = "", note: str = "") -> dict:
    """One object on the page: its name (a link), its status badge and what will happen to it."""
    return {"label": label, "url": url, "status": status, "note": note}


def confirmation_page(
    model_admin,
    request,
    *,
    heading: str,
    consequence: str,
    rows: list[dict],
    confirm_label: str,
    back_url: str,
    hidden: list[tuple[str, str]] = (),
    noun: str = "item",
    noun_plural: str = "",
    dangerous: bool = False,
    form=None,
):
    """What will happen to which objects, then "Yes, ..." (a POST with CONFIRM_FIELD) or back."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"{heading}: are you sure?",
        "heading": heading,
        "consequence": consequence,
        "rows": rows,
        "confirm_label": confirm_label,
        "back_url": back_url,
        "hidden": list(hidden),
        "noun": noun,
        "noun_plural": noun_plural or f"{noun}s",
        "dangerous": dangerous,
        "form": form,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)
