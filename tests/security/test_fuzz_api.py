"""Schemathesis against the real server's /api/v2/openapi.json: no input makes a 500.

Generated requests (valid and invalid by the schema, NUL characters allowed) for every
operation, then explicit ones: a NUL in every string parameter and in every string property of
every JSON body, and every JSON body nested 100,000 deep. Derandomized and bounded, so a run is
the same every time and takes well under two minutes here.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET

from tests.security.real_server import ZERO_UUID

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_EXAMPLES = 25
DEEP = 100_000
NUL = "a\x00b"
# Signing out would end the fuzzer's own session half-way.
SKIPPED = r"/users/logout$"


@pytest.fixture
def openapi(portal_server, people) -> dict:
    return httpx.get(f"{portal_server.url}/api/v2/openapi.json", timeout=60).json()


@pytest.fixture
def api_schema(portal_server, openapi):
    return schemathesis.openapi.from_url(
        f"{portal_server.url}/api/v2/openapi.json", config=schemathesis.Config()
    ).exclude(path_regex=SKIPPED)


@pytest.fixture
def owner_headers(people):
    return {"Authorization": f"Bearer {people.owner_token}"}


def _operations(api_schema):
    return [result.ok() for result in api_schema.get_all_operations()]


def test_no_generated_request_is_a_server_error(api_schema, owner_headers, server_log):
    failures = []
    for operation in _operations(api_schema):
        # Valid requests by the schema and invalid ones (wrong types, missing fields ...).
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case):
            response = case.call(headers=owner_headers, timeout=60)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as e:  # every operation's failure, not only the first
            failures.append(f"{operation.label}: {e}")
    assert not failures, "\n\n".join(failures)


def _valid(parameter) -> str:
    """A well-formed value for a path parameter, so only the NUL under test is wrong."""
    fmt = (parameter.definition.get("schema") or {}).get("format")
    return ZERO_UUID if fmt == "uuid" else "alice"


def _json_body(openapi: dict, operation) -> tuple[str, dict] | None:
    """(media type, object schema) of the operation's JSON body, if it takes one."""
    spec = openapi["paths"][operation.path][operation.method.lower()]
    found = ((spec.get("requestBody") or {}).get("content") or {}).get("application/json")
    if found is None:
        return None
    body = found.get("schema") or {}
    if "$ref" in body:  # "#/components/schemas/Name"
        body = openapi
        for part in found["schema"]["$ref"].lstrip("#/").split("/"):
            body = body[part]
    return "application/json", body


def _refused(case, owner_headers) -> None:
    response = case.call(headers=owner_headers, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
    assert 400 <= response.status_code < 500, (case.method, case.path, response.status_code)


def test_a_nul_in_any_string_parameter_or_property_is_a_4xx(
    api_schema, openapi, owner_headers, server_log
):
    cases = 0
    for operation in _operations(api_schema):
        path = {p.name: _valid(p) for p in operation.path_parameters}
        strings = [p for p in operation.iter_parameters() if p.location in ("path", "query")]
        for parameter in strings:
            if (parameter.definition.get("schema") or {}).get("type") not in (None, "string"):
                continue
            values = {**path, parameter.name: NUL} if parameter.location == "path" else path
            query = {parameter.name: NUL} if parameter.location == "query" else None
            _refused(operation.Case(path_parameters=values, query=query), owner_headers)
            cases += 1
        if (json_body := _json_body(openapi, operation)) is None:
            continue
        media_type, body_schema = json_body
        for name, prop in (body_schema.get("properties") or {}).items():
            value = [NUL] if prop.get("type") == "array" else NUL
            case = operation.Case(path_parameters=path, body={name: value}, media_type=media_type)
            _refused(case, owner_headers)
            cases += 1
    assert cases > 40, cases


def test_every_json_body_nested_100000_deep_is_a_4xx(
    api_schema, openapi, owner_headers, server_log
):
    bodies = 0
    for operation in _operations(api_schema):
        if _json_body(openapi, operation) is None:
            continue
        path = {p.name: _valid(p) for p in operation.path_parameters}
        case = operation.Case(path_parameters=path, body=NOT_SET)
        response = case.call(
            headers={**owner_headers, "Content-Type": "application/json"},
            data="[" * DEEP + "]" * DEEP,
            timeout=60,
        )
        case.validate_response(response, checks=[not_a_server_error])
        assert 400 <= response.status_code < 500, (case.method, case.path, response.status_code)
        bodies += 1
    assert bodies >= 11, bodies
