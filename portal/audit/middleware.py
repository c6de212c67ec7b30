"""Stamps each request with an id and makes its ip and user agent available to audit entries;
records a signed-in caller's refused change (portal/audit/denied.py) on every path."""

import uuid

from portal.audit import context, denied
from portal.client_ip import client_ip


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
        request.request_id = request_id
        token = context.set_current(
            context.RequestContext(
                ip=client_ip(request) or None,
                user_agent=request.headers.get("User-Agent", "")[:512],
                request_id=request_id,
                path=request.path,
                user=lambda: getattr(request, "user", None),
            )
        )
        try:
            response = self.get_response(request)
            if response.status_code in (403, 404):
                # The portal's and the console's refusals; the API's were recorded by its
                # exception handler with their resource (denied.record_refusal skips a repeat).
                denied.record_refusal(
                    request,
                    resource="request",
                    status_code=response.status_code,
                    message=f"{response.status_code} {response.reason_phrase}",
                )
        finally:
            context.reset(token)
        response["X-Request-Id"] = request_id
        return response
