"""Middleware for pages: Content-Security-Policy, and forms that PostgreSQL could not store."""

from __future__ import annotations

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError

from portal import branding
from portal.api.errors import bad_request, speaks_json
from portal.errors import NUL_DETAIL, NUL_MESSAGE
from portal.web.console_policy import console_policy

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:{images}; frame-ancestors 'none'"
)
# The API answers JSON only. The operator console gets the same policy as the pages (its
# styles and scripts are static files), see console_policy for its one allowance.
_EXEMPT_PREFIXES = ("/api/",)
_CONSOLE_PREFIX = "/admin/"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(_CONSOLE_PREFIX):
            response.setdefault("Content-Security-Policy", console_policy(policy_for(request)))
        elif not request.path.startswith(_EXEMPT_PREFIXES):
            response.setdefault("Content-Security-Policy", policy_for(request))
        return response


def policy_for(request) -> str:
    """The pages' policy; images may also come from the origins the site's branding names (an
    https logo), which `portal.branding` validated providers give as plain origins."""
    sources = branding.current(request).image_sources
    return CSP.format(images="".join(f" {source}" for source in sources))


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class FormInputMiddleware:
    """Refuses a posted form with a NUL character in a field (the sign-in form, the create form,
    the console's forms ...) with the portal's 400 page, before any view saves it.

    The path, query and headers were checked in portal.asgi; the API's bodies are read by its
    own parsers (portal.api.parsers), so its paths are left to them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method == "POST"
            and request.content_type in _FORM_TYPES
            and not speaks_json(request.path)
        ):
            try:
                field = _nul_field(request)
            except (MultiPartParserError, BadRequest, SuspiciousOperation) as e:
                # What Django would answer, without the traceback it would log for it.
                return bad_request(request, "Portal could not read this form.", str(e))
            if field is not None:
                validations = [{"field": field, "detail": NUL_DETAIL}]
                return bad_request(request, NUL_MESSAGE, f"The field {field!r}.", validations)
        return self.get_response(request)


def _nul_field(request) -> str | None:
    for name, values in request.POST.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "")
    for name, upload in request.FILES.items():
        if any("\x00" in (text or "") for text in (name, upload.name, upload.content_type)):
            return name.replace("\x00", "")
    return None
