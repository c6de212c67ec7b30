"""One HTTP request forwarded to the app over an agent stream, its response streamed back."""

from __future__ import annotations

import asyncio
import logging

import h11

from portal.revocation import tracking
from workspaces.connectivity import relay, revocable
from workspaces.models import WorkspaceApp
from workspaces.proxy import hosts
from workspaces.proxy import metrics as proxy_metrics
from workspaces.proxy.answers import error
from workspaces.proxy.headers import forward_headers, response_headers
from workspaces.proxy.upstream import AppUnreachable, Upstream, app_dial, request_target

log = logging.getLogger(__name__)


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Sending:
    """The ASGI `send` of a response, which knows whether its head is out."""

    __slots__ = ("send", "started")

    def __init__(self, send):
        self.send = send
        self.started = False

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


async def proxy(
    scope, receive, send, app: WorkspaceApp, target: str, *, user, host_match=None
) -> None:
    """Forward the request to the app and its response back, until the visitor loses access
    (suspended, token revoked, workspace deleted...): then the pull from the app stops, and the
    visitor gets the refusal, or, once the head is out, a cut connection (the server closes it
    when a response ends unfinished)."""
    sending = _Sending(send)

    async def cut(code: int, reason: str) -> None:
        if not sending.started:
            await error(scope, sending, code - 4000, reason)

    await tracking.guard(
        revocable.app_response(scope, user, app, host_match, target),
        _forward(scope, receive, sending, app, target),
        on_revoked=cut,
        reread=False,  # a registry entry is all a request costs
    )


async def _forward(scope, receive, send, app: WorkspaceApp, target: str) -> None:
    dial = app_dial(app)
    if dial is None:
        return await error(scope, send, 502, "The app's URL names no port to reach it on.")
    kind, port, app_host = dial
    stream = await relay.dial_agent(app.agent_id, kind, port, app=app.slug)
    if stream is None:
        return await error(
            scope,
            send,
            502,
            "The workspace agent did not open a connection to the app.",
            "The agent is connected but did not answer in time. Try again in a moment.",
        )
    upstream = Upstream(stream)
    try:
        headers = forward_headers(scope, app_host)
        has_length = any(n.lower() == b"content-length" for n, _ in scope.get("headers", []))
        chunked = any(n.lower() == b"transfer-encoding" for n, _ in scope.get("headers", []))
        if chunked and not has_length:
            headers.append((b"transfer-encoding", b"chunked"))
        try:
            request = h11.Request(
                method=scope["method"], target=request_target(target), headers=headers
            )
        except h11.LocalProtocolError as e:
            return await error(
                scope, send, 400, "This request cannot be passed to the app.", str(e)
            )
        await upstream.write(request)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            if body:
                await upstream.write(h11.Data(data=body))
            if not message.get("more_body"):
                break
        await upstream.write(h11.EndOfMessage())
        # The client may leave while the app thinks or streams: stop pulling from the app then.
        on_app_host = hosts.match_scope(scope) is not None
        respond = asyncio.ensure_future(_respond(send, upstream, on_app_host, scope["method"]))
        gone = asyncio.ensure_future(_until_disconnect(receive))
        try:
            done, _ = await asyncio.wait({respond, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (respond, gone):
                task.cancel()  # nothing to a finished one
            await asyncio.gather(respond, gone, return_exceptions=True)
        # Its AppUnreachable or h11.ProtocolError are answered below.
        if respond not in done or not respond.result():
            proxy_metrics.CLIENT_DISCONNECTS.inc()
    except AppUnreachable as e:
        await error(
            scope,
            send,
            502,
            "The app is not answering.",
            f"The workspace agent could not reach it: {e}. Start the app in the workspace (or "
            "check its port in the template), then reload this page.",
        )
    except h11.ProtocolError as e:
        await error(scope, send, 502, f"The app did not answer with HTTP: {e}")
    finally:
        await upstream.close()
        relay.release(stream)


class ClientGone(Exception):
    """The visitor went away while its response was being sent (closed tab, cancelled download)."""


async def _out(send, message) -> None:
    """Send to the visitor; ClientGone when its connection is gone (uvicorn raises an OSError,
    ClientDisconnected): normal on the web, so it ends the response quietly."""
    try:
        await send(message)
    except OSError:
        raise ClientGone from None


def _body_length(method: str, event: h11.Response) -> int | None:
    """The length of a body framed by one Content-Length alone, else None (h11 reads it)."""
    if method == "HEAD" or event.status_code in (204, 304):
        return None
    lengths = [value for name, value in event.headers if name == b"content-length"]
    if len(lengths) != 1 or any(name == b"transfer-encoding" for name, _ in event.headers):
        return None
    return int(lengths[0])  # h11 checked it is digits


async def _respond(send, upstream: Upstream, on_app_host: bool, method: str) -> bool:
    """The app's response to the client; AppUnreachable or h11.ProtocolError before its head.
    False when the visitor left before its end."""
    while True:
        event = await upstream.next_event()
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            break
    try:
        await _out(
            send,
            {
                "type": "http.response.start",
                "status": event.status_code,
                "headers": response_headers(event.headers, on_app_host=on_app_host),
            },
        )
        length = _body_length(method, event)
        if length is not None:
            # The common large case (downloads): frames go out as they come, no parsing.
            async for data in upstream.body_as_received(length):
                await _out(send, {"type": "http.response.body", "body": data, "more_body": True})
            await _out(send, {"type": "http.response.body", "body": b""})
            return True
        while True:
            event = await upstream.next_event()
            if isinstance(event, h11.Data):
                await _out(
                    send,
                    {"type": "http.response.body", "body": bytes(event.data), "more_body": True},
                )
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                await _out(send, {"type": "http.response.body", "body": b""})
                return True
    except ClientGone:
        return False
    except (AppUnreachable, h11.ProtocolError) as e:
        # The head is out: leaving the response unfinished is the only way left to say it broke
        # (the server cuts the connection).
        log.info("app response broke after its head: %s", e)
        return True
