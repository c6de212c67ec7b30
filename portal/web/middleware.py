"""Content-Security-Policy for the portal's pages: no inline script, WebSockets to ourselves."""

from __future__ import annotations

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; frame-ancestors 'none'"
)
# The operator console (Django admin) keeps its own inline bits; the API answers JSON only.
_EXEMPT_PREFIXES = ("/admin/", "/api/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(_EXEMPT_PREFIXES):
            response.setdefault("Content-Security-Policy", CSP)
        return response
