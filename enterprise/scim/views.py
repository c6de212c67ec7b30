"""/scim/v2/: discovery, Users and Groups, behind a SCIM key and the `scim` feature gate.

django-scim2's views are not used as they stand (each difference is a scim2-tester check they
fail): they assume `scim_*` columns on the models, read SCIM_SERVICE_PROVIDER settings at import,
filter with raw SQL and count by loading every row, answer `.search` with 501 and 404s with an
empty body, ignore attributes/excludedAttributes, and have no authentication of their own. We
keep its exceptions, constants and RFC 7643 schema files, and scim2-filter-parser's transpiler.
"""

from __future__ import annotations

import json

from django.core.exceptions import FieldError
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django_scim.constants import SCIM_CONTENT_TYPE

from enterprise.scim import errors, filters, keys, patch, projection, schemas, services
from enterprise.scim import groups as group_resource
from enterprise.scim import users as user_resource
from enterprise.scim.actor import ScimActor
from portal import features

MAX_RESULTS = 1000  # the most a list returns in one page (ServiceProviderConfig filter.maxResults)
DEFAULT_COUNT = 100
MAX_BODY = 4 * 1024 * 1024


def answer(doc, status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(doc), content_type=SCIM_CONTENT_TYPE, status=status)
    if location:
        response["Location"] = location
    return response


@method_decorator(csrf_exempt, name="dispatch")
class ScimView(View):
    """Gate, key and SCIM error JSON for every endpoint."""

    http_method_names = ["get"]

    def dispatch(self, request, *args, **kwargs):
        try:
            if not features.enabled("scim"):
                raise errors.forbidden(
                    "SCIM provisioning is not licensed on this deployment (feature 'scim' is off)."
                )
            key, why = keys.authenticate(request.headers.get("Authorization", ""))
            if key is None:
                raise errors.unauthorized(why)
            self.actor = ScimActor(key.name)
            self.base = request.build_absolute_uri(reverse("scim:root")).rstrip("/")
            if request.method.lower() not in self.http_method_names:
                raise errors.ScimError(f"{request.method} is not supported here.", status=405)
            return super().dispatch(request, *args, **kwargs)
        except errors.ScimError as exc:
            return errors.response(exc)

    def body(self) -> dict:
        if len(self.request.body) > MAX_BODY:
            raise errors.ScimError("The request body is too large.", status=413)
        try:
            data = json.loads(self.request.body.decode() or "{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(
                f"The body is not valid JSON: {exc}", "invalidSyntax"
            ) from None
        if not isinstance(data, dict):
            raise errors.bad_request("The body must be a JSON object.", "invalidSyntax")
        return data


def _int(value, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.bad_request(f"{name} must be an integer.", "invalidValue") from None


class ResourceView(ScimView):
    """List (GET and POST /.search), create, read, replace, patch and delete one resource type."""

    http_method_names = ["get", "post", "put", "patch", "delete"]
    resource = None  # users or groups module
    fields: dict = {}

    # --- lists -------------------------------------------------------------------------------
    def list_response(self, params: dict) -> HttpResponse:
        qs = self.queryset(params)
        expression = params.get("filter")
        if expression:
            qs = qs.filter(filters.to_q(str(expression), self.fields))
            if "members" in str(expression).lower():
                qs = qs.distinct()
        start = max(_int(params.get("startIndex"), "startIndex", 1), 1)  # < 1 means 1 (RFC)
        count = min(max(_int(params.get("count"), "count", DEFAULT_COUNT), 0), MAX_RESULTS)
        try:
            page = list(qs.order_by("created_at", "id")[start - 1 : start - 1 + count])
            # A first page shorter than asked for is everything: no count query (filter eq).
            total = len(page) if start == 1 and len(page) < count else qs.count()
        except (FieldError, DjangoValidationError, DataError) as exc:
            # A value the column cannot hold (a malformed id), or a comparison it has not.
            raise errors.invalid_filter(
                f"The filter {expression!r} cannot be applied: {exc}"
            ) from None
        attributes, excluded = params.get("attributes"), params.get("excludedAttributes")
        resources = [projection.project(self.render(o, params), attributes, excluded) for o in page]
        return answer(
            {
                "schemas": [schemas.LIST_RESPONSE],
                "totalResults": total,
                "startIndex": start,
                "itemsPerPage": len(resources),
                "Resources": resources,
            }
        )

    def get(self, request, pk=None):
        if pk is None:
            return self.list_response(request.GET)
        obj = self.lookup(pk, request.GET)
        doc = self.render(obj, request.GET)
        return answer(
            projection.project(
                doc, request.GET.get("attributes"), request.GET.get("excludedAttributes")
            ),
            location=doc["meta"]["location"],
        )

    def search(self, request):
        body = self.body()
        if body.get("schemas") and schemas.SEARCH_REQUEST not in body.get("schemas"):
            raise errors.bad_request(
                f"A search request's schemas must be [{schemas.SEARCH_REQUEST!r}].", "invalidSyntax"
            )
        return self.list_response(body)


class UsersView(ResourceView):
    resource = user_resource
    fields = filters.with_urns(filters.USER_FIELDS, schemas.USER)

    def queryset(self, params):
        return user_resource.queryset()

    def lookup(self, pk, params=None):
        return user_resource.lookup(pk)

    def render(self, user, params=None):
        return user_resource.render(user, self.base)

    def post(self, request, pk=None):
        if pk == ".search":
            return self.search(request)
        if pk is not None:
            raise errors.ScimError("POST a new user to /Users.", status=405)
        fields = user_resource.fields(user_resource.normalize(self.body()))
        identity = services.create_user(actor=self.actor, **fields)
        doc = self.render(identity.user)  # the service's rows: no second read
        return answer(doc, status=201, location=doc["meta"]["location"])

    def _save(self, user, doc):
        fields = user_resource.fields(doc)
        with transaction.atomic():
            services.update_user(user.scim_identity, actor=self.actor, **fields)
        doc = self.render(self.lookup(user.pk))
        return answer(doc, location=doc["meta"]["location"])

    def put(self, request, pk=None):
        user = self.lookup(pk)
        doc = user_resource.normalize(self.body())
        if doc.get("id") not in (None, str(user.pk)):
            raise errors.mutability("id cannot be changed.")
        return self._save(user, doc)  # Okta: PUT is the whole user, what is absent is gone

    def patch(self, request, pk=None):
        user = self.lookup(pk)
        body = self.body()
        operations = body.get(patch._key(body, "Operations"))
        if not isinstance(operations, list) or not operations:
            raise errors.bad_request("A PATCH needs a list of Operations.", "invalidSyntax")
        doc = self.render(user)
        for operation in operations:
            patch.apply(doc, operation)
        return self._save(user, doc)

    def delete(self, request, pk=None):
        user = self.lookup(pk)
        services.delete_user(user.scim_identity, actor=self.actor)
        return HttpResponse(status=204)


class GroupsView(ResourceView):
    resource = group_resource
    fields = filters.with_urns(filters.GROUP_FIELDS, schemas.GROUP)

    def _members(self, params) -> bool:
        params = params or {}
        return projection.wants(
            "members", params.get("attributes"), params.get("excludedAttributes")
        )

    def queryset(self, params):
        return group_resource.queryset(self._members(params))

    def lookup(self, pk, params=None):
        return group_resource.lookup(pk, self._members(params))

    def render(self, group, params=None):
        return group_resource.render(group, self.base, self._members(params))

    def post(self, request, pk=None):
        if pk == ".search":
            return self.search(request)
        if pk is not None:
            raise errors.ScimError("POST a new group to /Groups.", status=405)
        with transaction.atomic():
            group = group_resource.create(self.body(), actor=self.actor)
        doc = self.render(self.lookup(group.pk))
        return answer(doc, status=201, location=doc["meta"]["location"])

    def put(self, request, pk=None):
        group = self.lookup(pk, {"attributes": "id"})
        body = self.body()
        with transaction.atomic():
            group_resource.replace(group, body, actor=self.actor)
        doc = self.render(self.lookup(pk))
        return answer(doc, location=doc["meta"]["location"])

    def patch(self, request, pk=None):
        group = self.lookup(pk, {"attributes": "id"})
        body = self.body()
        operations = body.get(patch._key(body, "Operations"))
        if not isinstance(operations, list) or not operations:
            raise errors.bad_request("A PATCH needs a list of Operations.", "invalidSyntax")
        with transaction.atomic():
            group_resource.patch(group, operations, actor=self.actor)
        doc = self.render(self.lookup(pk, request.GET), request.GET)
        return answer(
            projection.project(
                doc, request.GET.get("attributes"), request.GET.get("excludedAttributes")
            ),
            location=doc["meta"]["location"],
        )

    def delete(self, request, pk=None):
        group = self.lookup(pk, {"attributes": "id"})
        group_resource.delete(group, actor=self.actor)
        return HttpResponse(status=204)


class ServiceProviderConfigView(ScimView):
    def get(self, request):
        return answer(
            {
                "schemas": [schemas.SERVICE_PROVIDER_CONFIG],
                "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": MAX_RESULTS},
                "changePassword": {"supported": False},
                "sort": {"supported": False},
                "etag": {"supported": False},
                "authenticationSchemes": [
                    {
                        "type": "oauthbearertoken",
                        "name": "OAuth Bearer Token",
                        "description": "A SCIM key an owner creates in Portal, sent as "
                        "'Authorization: Bearer <key>'.",
                        "primary": True,
                    }
                ],
                "meta": {
                    "resourceType": "ServiceProviderConfig",
                    "location": f"{self.base}/ServiceProviderConfig",
                },
            }
        )


def _resource_types(base: str) -> list[dict]:
    return [
        {
            "schemas": [schemas.RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A Portal user the identity provider manages.",
            "schema": schemas.USER,
            "schemaExtensions": [{"schema": schemas.ENTERPRISE_USER, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [schemas.RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A Portal group with source scim.",
            "schema": schemas.GROUP,
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def _schemas(base: str) -> list[dict]:
    served = schemas.served()
    for schema in served:
        schema["schemas"] = [schemas.SCHEMA]
        schema["meta"] = {"resourceType": "Schema", "location": f"{base}/Schemas/{schema['id']}"}
    return served


def _listing(resources: list[dict]) -> dict:
    return {
        "schemas": [schemas.LIST_RESPONSE],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


class ResourceTypesView(ScimView):
    def get(self, request, pk=None):
        found = _resource_types(self.base)
        if pk is None:
            return answer(_listing(found))
        for resource_type in found:
            if resource_type["id"] == pk:
                return answer(resource_type)
        raise errors.not_found(f"No resource type {pk!r}.")


class SchemasView(ScimView):
    def get(self, request, pk=None):
        found = _schemas(self.base)
        if pk is None:
            return answer(_listing(found))
        for schema in found:
            if schema["id"] == pk:
                return answer(schema)
        raise errors.not_found(f"No schema {pk!r}.")


class RootSearchView(ScimView):
    """POST /.search: Users and Groups together (RFC 7644 3.4.3), users first."""

    http_method_names = ["post"]

    def post(self, request):
        body = self.body()
        start = max(_int(body.get("startIndex"), "startIndex", 1), 1)
        count = min(max(_int(body.get("count"), "count", DEFAULT_COUNT), 0), MAX_RESULTS)
        found, total, matched_any = [], 0, False
        for view_class in (UsersView, GroupsView):
            view = view_class()
            view.request, view.actor, view.base = request, self.actor, self.base
            try:
                listing = json.loads(
                    view.list_response({**body, "startIndex": 1, "count": MAX_RESULTS}).content
                )
            except errors.ScimError as exc:
                if exc.scim_type == "invalidFilter":
                    continue  # an attribute of the other resource type
                raise
            matched_any = True
            total += listing["totalResults"]
            found.extend(listing["Resources"])
        if not matched_any:
            raise errors.invalid_filter(
                f"The filter {body.get('filter')!r} matches no resource type."
            )
        page = found[start - 1 : start - 1 + count]
        return answer(
            {
                "schemas": [schemas.LIST_RESPONSE],
                "totalResults": total,
                "startIndex": start,
                "itemsPerPage": len(page),
                "Resources": page,
            }
        )


@method_decorator(csrf_exempt, name="dispatch")  # its own dispatch: exempt it again
class NotFoundView(ScimView):
    """Any other path under /scim/v2/: a SCIM 404 (after the key check, like the rest)."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def dispatch(self, request, *args, **kwargs):
        self.get = self.post = self.put = self.patch = self.delete = self._missing
        return super().dispatch(request, *args, **kwargs)

    def _missing(self, request, *args, **kwargs):
        raise errors.not_found(f"No SCIM endpoint at {request.path}.")
