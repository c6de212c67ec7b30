"""Stamps each request with an id and makes its ip and user agent available to audit entries;
records a signed-in caller's refused change (portal/audit/denied.py) on every path."""

import re
import uuid

from django.utils.log import log_response

from portal.audit import context, denied
from portal.client_ip import client_ip

# What a load balancer or client may pass as X-Request-Id (a UUID, a trace id...): anything
# else (too long, spaces, quotes, control characters) is replaced, so log lines stay parseable.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def sane_request_id(incoming: str) -> str:
    """The incoming id if it is sane, else a new one."""
    if _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sane_request_id(request.headers.get("X-Request-Id", ""))
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
            if response.status_code >= 400:
                # Django logs a refusal after the middleware returned, without the request id;
                # logged here (the same line, marked as logged) it carries the id.
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
        finally:
            context.reset(token)
        response["X-Request-Id"] = request_id
        return response
