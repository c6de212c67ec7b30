"""The workspace app proxy: HTTP and WebSockets to an agent's app, by path or on its own host.

http (the ASGI app for HTTP), websocket (for WebSockets); resolve (which app a path or host
names), access (who may open it, and the audit of opens), upstream (the agent stream to the
app), forward (a request there and its response back), answers (the proxy's own responses),
headers (what crosses in each direction), hosts (app hosts, their tokens and cookies).
"""
