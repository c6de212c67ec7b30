"""The API's JSON parser: orjson, with size and nesting limits and no NUL in any string."""

from __future__ import annotations

import codecs

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from portal.api.renderers import ORJSONRenderer
from portal.errors import NUL_DETAIL, NUL_MESSAGE, PayloadTooLarge, ValidationFailed

# No request body of the API comes near this; the limit is what keeps a hostile one cheap.
MAX_DEPTH = 64
_CHUNK = 256 * 1024


class JSONParser(BaseParser):
    """Parses JSON bodies without recursion in Python.

    The json module recurses once per level and raises RecursionError (a 500) on bodies nested a
    few thousand deep; orjson stops at 1,024 levels with a parse error, and the walk below that
    enforces MAX_DEPTH is a loop. PostgreSQL text cannot hold NUL, so a string with one is refused
    here, naming its field, rather than failing a query later.

    DRF hands the parser the request itself, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check of
    request.body: the same limit is enforced here, on Content-Length first and on what is read
    (never more than the limit and a byte), and a body past it is a 413.
    """

    media_type = "application/json"
    renderer_class = ORJSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # None: no limit, as for Django
        request = (parser_context or {}).get("request")
        length = (request.META.get("CONTENT_LENGTH") or "") if request is not None else ""
        if limit is not None and length.isdigit() and int(length) > limit:
            raise _too_large(limit)
        raw = _read(stream, limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            if codecs.lookup(encoding).name != "utf-8":
                raw = raw.decode(encoding)
            data = orjson.loads(raw)
        except (LookupError, UnicodeDecodeError, orjson.JSONDecodeError) as e:
            if "depth limit" in str(e):
                raise ParseError(_too_deep()) from None
            raise ParseError(f"JSON parse error - {e}") from None
        check(data)
        return data


def _read(stream, limit: int | None) -> bytes:
    """The whole body; PayloadTooLarge as soon as it passes `limit` (a chunked body has no
    Content-Length to refuse it by)."""
    if stream is None:
        return b""
    if limit is None:
        return stream.read()
    chunks = []
    total = 0
    while chunk := stream.read(min(_CHUNK, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit} bytes.",
        detail=f"The API reads JSON bodies of at most {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE).",
        validations=[{"field": "body", "detail": f"At most {limit} bytes."}],
    )


def _too_deep() -> str:
    return f"JSON parse error - nested deeper than {MAX_DEPTH} levels of arrays and objects."


def check(data) -> None:
    """Raise if `data` is nested deeper than MAX_DEPTH or holds a string with a NUL."""
    stack = [(data, 0, "")]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationFailed.field(field or "body", NUL_DETAIL, NUL_MESSAGE)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_DEPTH:
            raise ParseError(_too_deep())
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{field}.{key}" if field else key
                if "\x00" in key:
                    raise ValidationFailed.field(name, NUL_DETAIL, NUL_MESSAGE)
                stack.append((item, depth + 1, name))
        else:
            stack.extend((item, depth + 1, f"{field}[{i}]") for i, item in enumerate(value))
