"""One JSON error shape for the whole API: {"message", "detail", "validations"}."""

from __future__ import annotations

import orjson
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from portal.audit import denied
from portal.errors import ServiceError


def _validations(detail, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        out = []
        for field, value in detail.items():
            name = f"{prefix}.{field}" if prefix else str(field)
            if field == "non_field_errors":
                name = prefix or "body"
            out += _validations(value, name)
        return out
    if isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            return [{"field": prefix or "body", "detail": " ".join(str(v) for v in detail)}]
        out = []
        for i, v in enumerate(detail):
            out += _validations(v, f"{prefix}[{i}]")
        return out
    return [{"field": prefix or "body", "detail": str(detail)}]


def error_body(message: str, detail: str = "", validations=None) -> dict:
    return {"message": message, "detail": detail, "validations": validations or []}


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        _audit_refusal(context, exc.status_code, exc.as_dict().get("message", ""))
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500

    headers = {}
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("Validation failed.", validations=_validations(exc.detail))
    elif isinstance(exc, exceptions.NotAuthenticated):
        body = error_body(
            "You are not signed in.",
            "Send 'Authorization: Bearer <token>'; get a token with `portal login`.",
        )
    else:
        body = error_body(str(exc.detail))
    response = Response(body, status=exc.status_code, headers=headers)
    _audit_refusal(context, exc.status_code, body["message"])
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="portal"'
    return response


def _audit_refusal(context, status_code: int, message: str) -> None:
    """A signed-in caller's refused change (403/404) is audited (portal/audit/denied.py)."""
    request, view = context.get("request"), context.get("view")
    if request is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    authz = (getattr(view, "authorizes", None) or {}).get(request.method)
    resource = authz.resource if authz is not None else "request"
    denied.record_refusal(request, resource=resource, status_code=status_code, message=message)


def speaks_json(path: str) -> bool:
    """Whether errors at this path are the API's JSON rather than an HTML page."""
    return path.startswith(("/api/", "/scim/"))


def _json_or_default(request, status_code: int, message: str, default):
    if speaks_json(request.path):
        return JsonResponse(error_body(message), status=status_code)
    return default


def bad_request_content(
    path: str,
    message: str,
    detail: str = "",
    validations=None,
    *,
    plain: bool = False,
    request=None,
) -> tuple[str, bytes]:
    """(content type, body) of a 400 for input Portal refuses before any view reads it.

    The API's error JSON under /api/ and /scim/, plain text where Portal only relays (`plain`:
    the app proxy, WebSockets), else the portal's own error page.
    """
    if speaks_json(path):
        return "application/json", orjson.dumps(error_body(message, detail, validations))
    if plain:
        return "text/plain; charset=utf-8", f"{message} {detail}".strip().encode() + b"\n"
    from django.template.loader import render_to_string

    context = {"message": message, "detail": detail}
    return "text/html; charset=utf-8", render_to_string("400.html", context, request).encode()


def bad_request(request, message: str, detail: str = "", validations=None) -> HttpResponse:
    content_type, body = bad_request_content(
        request.path, message, detail, validations, request=request
    )
    return HttpResponse(body, content_type=content_type, status=400)


def bad_request_handler(request, exception=None):
    """What Django's own refusals (a Host not allowed, a form too large ...) answer."""
    return bad_request(request, "Portal could not read this request.")


def not_found(request, exception=None):
    from django.views.defaults import page_not_found

    return _json_or_default(
        request,
        404,
        f"No API endpoint at {request.path}.",
        None,
    ) or page_not_found(request, exception)


def server_error(request):
    from django.views.defaults import server_error as default

    return _json_or_default(
        request, 500, "Internal error; the server log has the details.", None
    ) or default(request)
