"""HTTP latency by route: the URL pattern Django resolved (bounded), never the raw path."""

from __future__ import annotations

import time

from portal.observability.metrics import HTTP_REQUEST_DURATION, status_class

UNMATCHED = "(unmatched)"  # no URL pattern: 404s of made-up paths share one series


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return "/" + (match.route or match.view_name or "")


class HttpMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        # Methods outside the usual ones are folded, so nobody can mint label values.
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUEST_DURATION.labels(
            route_of(request), method, status_class(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
