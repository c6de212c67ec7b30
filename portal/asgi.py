"""ASGI entry point served by `portal server`: HTTP through Django's WSGI handler on a thread.

Every HTTP view is synchronous, and Django's own ASGI handler hops between the event loop and
threads several times per request: measured on the API list endpoint it served about half the
requests per second of the same views run on one dedicated thread per process (bench/api_list.py).
So HTTP requests go to the WSGI handler through a2wsgi, one hop each, and the event loop stays
free for long-lived connections (WebSockets), which are routed here as they are added.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from portal import config  # noqa: E402

# One thread per process by default: more threads per process fight over the GIL and
# multiplied tail latency; run more processes (PORTAL_HTTP_WORKERS) for parallelism.
http = WSGIMiddleware(get_wsgi_application(), workers=config.load().http_threads)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "http":
        return await http(scope, receive, send)
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 4404})  # no WebSocket routes yet
        return
    raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")
