"""The web portal's /audit page: auditors and owners search, page through and export entries."""

from __future__ import annotations

from urllib.parse import urlencode

from django.template.response import TemplateResponse
from django.urls import reverse

from enterprise.audit import gate, queries, search
from portal import policy
from portal.web.access import signed_in

PAGE_SIZE = 50
MAX_PAGE = 200  # 10,000 entries deep; narrow the search to go further


def may_browse(request) -> bool:
    """The nav link: for who may read the audit log, while the feature is licensed."""
    return policy.can(request.user, "read", "audit") and gate.enabled()


def _page_number(raw) -> int:
    try:
        return min(max(int(raw), 1), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


@signed_in
def audit_page(request):
    if not policy.can(request.user, "read", "audit"):
        message = policy.policy_for("audit").refusal("read")
        return TemplateResponse(request, "audit_log/refused.html", {"message": message}, status=403)
    if not gate.enabled():
        return TemplateResponse(
            request, "audit_log/refused.html", {"message": gate.refusal()}, status=403
        )
    q = request.GET.get("q", "").strip()
    page = _page_number(request.GET.get("page"))
    context = {"q": q, "page": page, "entries": [], "problems": []}
    try:
        rows = queries.entries(request.user, {"q": q})
    except search.SearchError as error:
        context["problems"] = error.problems
        return TemplateResponse(request, "audit_log/audit.html", context, status=400)
    start = (page - 1) * PAGE_SIZE
    entries = list(rows[start : start + PAGE_SIZE + 1])  # one more: is there an older page?
    context["entries"] = entries[:PAGE_SIZE]
    if page > 1:
        context["newer"] = "?" + urlencode({"q": q, "page": page - 1})
    if len(entries) > PAGE_SIZE and page < MAX_PAGE:
        context["older"] = "?" + urlencode({"q": q, "page": page + 1})
    export = reverse("api:audit-export")
    context["exports"] = [
        (fmt.upper(), f"{export}?{urlencode({'q': q, 'format': fmt})}") for fmt in ("csv", "ndjson")
    ]
    return TemplateResponse(request, "audit_log/audit.html", context)
