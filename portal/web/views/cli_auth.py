"""/cli-auth: the signed-in browser confirms, and a new API token goes to `portal login URL`.

The CLI listens on 127.0.0.1:<port> with a random state and opens this page with both. After
the user clicks Authorize (a POST with the CSRF token), the answer posts the token and the
state to http://127.0.0.1:<port>/callback from a frame (only that address, built here from the
port alone), and shows the token too, for a CLI that cannot be reached (a remote shell) and
asks to paste it.
"""

from __future__ import annotations

import re

from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from portal.accounts import cli_tokens
from portal.errors import ServiceError
from portal.web.access import signed_in
from portal.web.middleware import policy_for

_STATE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _params(data) -> tuple[int | None, str, str] | str:
    """(port or None, state, host) from the query or form; or the sentence why not."""
    port_text, state = data.get("port", ""), data.get("state", "")
    host = data.get("host", "")[:100]
    if not port_text:
        return None, "", host
    if not port_text.isdigit() or not 1024 <= int(port_text) <= 65535:
        return "The CLI's port must be a number from 1024 to 65535. Run `portal login` again."
    if not _STATE.fullmatch(state):
        return "The CLI's state is missing or malformed. Run `portal login` again."
    return int(port_text), state, host


@require_http_methods(["GET", "POST"])
@signed_in
def cli_auth(request):
    params = _params(request.POST if request.method == "POST" else request.GET)
    if isinstance(params, str):
        return HttpResponseBadRequest(params, content_type="text/plain")
    port, state, host = params
    context = {"port": port, "state": state, "host": host, "name": cli_tokens.token_name(host)}
    if request.method == "GET":
        return TemplateResponse(request, "web/cli_auth.html", context)
    try:
        token, secret = cli_tokens.create_cli_token(request.user, actor=request.user, host=host)
    except ServiceError as e:
        context["error"] = e.message
        return TemplateResponse(request, "web/cli_auth.html", context, status=e.status_code)
    callback = f"http://127.0.0.1:{port}/callback" if port else ""
    context.update(token=token, secret=secret, callback=callback)
    response = TemplateResponse(request, "web/cli_auth_done.html", context)
    response["Cache-Control"] = "no-store"  # the secret is in this one response only
    if callback:
        # The one place the page may post to and frame: the CLI's loopback listener.
        origin = f"http://127.0.0.1:{port}"
        response["Content-Security-Policy"] = (
            f"{policy_for(request)}; frame-src {origin}; form-action 'self' {origin}"
        )
    return response
