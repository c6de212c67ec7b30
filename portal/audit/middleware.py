"""Stamps each request with an id and makes its ip and user agent available to audit entries."""

import uuid

from portal.audit import context
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
        finally:
            context.reset(token)
        response["X-Request-Id"] = request_id
        return response
