"""SCIM error JSON (RFC 7644 section 3.12) on django-scim2's exception classes."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django_scim import exceptions
from django_scim.constants import SCIM_CONTENT_TYPE

ScimError = exceptions.SCIMException


def bad_request(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return exceptions.BadRequestError(detail, scim_type=scim_type)


def invalid_filter(detail: str) -> ScimError:
    return exceptions.BadRequestError(detail, scim_type="invalidFilter")


def no_target(detail: str) -> ScimError:
    return exceptions.BadRequestError(detail, scim_type="noTarget")


def mutability(detail: str) -> ScimError:
    return exceptions.BadRequestError(detail, scim_type="mutability")


def uniqueness(detail: str) -> ScimError:
    return exceptions.IntegrityError(detail, scim_type="uniqueness")


def not_found(detail: str) -> ScimError:
    # django-scim2's NotFoundError takes an id and words the detail itself.
    return ScimError(detail, status=404)


def unauthorized(detail: str) -> ScimError:
    return exceptions.AuthorizationError(detail)


def forbidden(detail: str) -> ScimError:
    return ScimError(detail, status=403)


def response(error: ScimError) -> HttpResponse:
    body = error.to_dict()
    body["status"] = str(error.status)  # RFC 7644 3.12: the status is a string
    answer = HttpResponse(json.dumps(body), content_type=SCIM_CONTENT_TYPE, status=error.status)
    if error.status == 401:
        answer["WWW-Authenticate"] = 'Bearer realm="SCIM"'
    return answer
