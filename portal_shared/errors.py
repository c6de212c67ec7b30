"""Errors a user can act on: raised by services (and the archive checks the CLI shares), turned
into JSON by the API as {"message", "detail", "validations"} with the class's status code."""

from __future__ import annotations

# PostgreSQL text cannot hold NUL, and no name, form or header of Portal's needs one: refused
# where input enters (portal.asgi, portal.web.middleware, portal.api.parsers), never a 500 later.
NUL_MESSAGE = "The request contains a NUL character (%00, \\u0000), which Portal does not accept."
NUL_DETAIL = "Must not contain NUL characters."


class ServiceError(Exception):
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str = "",
        validations: list[dict[str, str]] | None = None,
    ):
        self.message = message or self.default_message
        self.detail = detail
        self.validations = validations or []
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"message": self.message, "detail": self.detail, "validations": self.validations}


class ValidationFailed(ServiceError):
    status_code = 400
    default_message = "Validation failed."

    @classmethod
    def field(cls, field: str, detail: str, message: str | None = None) -> ValidationFailed:
        return cls(message or detail, validations=[{"field": field, "detail": detail}])


class Unauthenticated(ServiceError):
    status_code = 401
    default_message = "You are not signed in."


class Forbidden(ServiceError):
    status_code = 403
    default_message = "You are not allowed to do this."


class NotFound(ServiceError):
    status_code = 404
    default_message = "Not found."


class Conflict(ServiceError):
    status_code = 409
    default_message = "This conflicts with the current state."


class PayloadTooLarge(ServiceError):
    status_code = 413
    default_message = "The request body is too large."
