"""Extension points core exposes; enterprise registers handlers here, core never imports it."""

from __future__ import annotations

from collections.abc import Callable


class Hook:
    def __init__(self, name: str, doc: str):
        self.name = name
        self.__doc__ = doc
        self._handlers: list[Callable] = []

    def register(self, handler: Callable) -> Callable:
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def unregister(self, handler: Callable) -> None:
        self._handlers.remove(handler)

    def handlers(self) -> tuple[Callable, ...]:
        return tuple(self._handlers)


template_visibility = Hook(
    "template_visibility",
    "handler(user, queryset) -> queryset: narrow the templates a user may see and use.",
)
pre_build = Hook(
    "pre_build",
    "handler(workspace, transition, *, actor) raises ServiceError to refuse a build (quotas).",
)
connection_policy = Hook(
    "connection_policy",
    "handler(user, kind) raises ServiceError to refuse a non-browser connection.",
)
template_version_created = Hook(
    "template_version_created",
    "handler(version, *, actor): start the version's import (workspaces registers the job).",
)
