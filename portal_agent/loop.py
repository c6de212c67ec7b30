"""The event loop of the agent and the CLI's tunnels: uvloop when installed, else asyncio's."""

from __future__ import annotations

import asyncio


def run(main):
    """asyncio.run(main), on uvloop when it can be imported.

    uvloop is optional (the agent bundle is pure Python, and runs on python3 alone); where it is
    installed, tunnels move about twice the bytes per second for the same CPU (measured by
    bench/proxy_vs_chp.py), because its transports read and write sockets without Python-level
    selector work per call.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    if not hasattr(uvloop, "run"):  # uvloop before 0.18: not worth the old install() dance
        return asyncio.run(main)
    return uvloop.run(main)
