"""Who is asking (ip, user agent, request id), carried from the request to the audit writer."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    path: str = ""  # where the request went (field history tells console from API by it)
    user: Callable[[], object] | None = None  # the requester, read late (auth runs after)
    # This request's facts audit writers share: "refused" once a refusal entry was recorded.
    notes: dict = field(default_factory=dict, compare=False)


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "portal_request_context",
    default=RequestContext(),  # noqa: B039 - frozen
)


def current() -> RequestContext:
    return _current.get()


def current_request_id() -> str:
    """The current request's id, "" outside one (a model field's default: jobs carry it)."""
    return _current.get().request_id


def set_current(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)
