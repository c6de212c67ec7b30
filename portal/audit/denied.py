"""Refused changes: a signed-in caller's mutating request answered 403 or 404 is audited.

Called from two places, so no view has to remember: the API's exception handler
(portal/api/errors.py), which knows the view's resource, and the request middleware
(portal/audit/middleware.py) for the portal's and the console's refusals (resource type
`request`); the first one that records marks the request, so it is one entry. Only
authenticated callers: a refusal to an anonymous caller (401) is not recorded, so a flood of
unauthenticated requests cannot fill the audit log (failed sign-ins are audited, and
throttled, by the sign-in service). Reads are not recorded. A refusal a service already
recorded (with its own resource and reason) is not recorded twice. The entry names the
requested method and path, never the hidden object's name: a 404 may be about something the
caller must not learn exists; auditors read the path.
"""

from __future__ import annotations

from typing import TypedDict

from portal.audit import context
from portal.audit.choices import AuditAction

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The policy's resource names (a view's `authorizes`) that core's audit log names differently.
AUDIT_RESOURCE_OF_POLICY = {
    "token": "api_token",
    "build": "workspace_build",
    "agent": "workspace_agent",
    "app": "workspace_app",
    "session": "user",
}


class DeniedRequest(TypedDict):
    method: str
    path: str
    message: str  # what the caller was told


def record_refusal(request, *, resource: str, status_code: int, message: str) -> None:
    """An entry for a refused change, if the caller was signed in and nothing recorded it yet."""
    if request.method not in MUTATING or status_code not in (403, 404):
        return
    try:
        user = request.user
    except Exception:  # authentication itself failed: not a signed-in caller
        return
    if user is None or not user.is_authenticated:
        return
    ctx = context.current()
    if ctx.request_id:  # within a request (outside one there is nothing to share)
        if ctx.notes.get("refused"):
            return
        ctx.notes["refused"] = True  # the API's handler, then the middleware: one entry
    from portal.audit.services import record

    record(
        actor=user,
        action=AuditAction.DENIED,
        resource_type=AUDIT_RESOURCE_OF_POLICY.get(resource, resource),
        additional_fields={
            "method": request.method,
            "path": request.get_full_path()[:512],
            "message": message[:255],
        },
        status_code=status_code,
        payload_shape=DeniedRequest,
    )


def declare() -> None:
    """The `request` resource type: a refused change whose view names no resource."""
    from portal.audit import types

    types.declare_resource("request", label="Request", payloads={AuditAction.DENIED: DeniedRequest})
