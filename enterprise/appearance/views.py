"""The uploaded logo and the banners' stylesheet, at content-hash URLs cached for a year.

An SVG logo can carry script: it is served with its own Content-Security-Policy (no script,
no loads, only inline styles), `X-Content-Type-Options: nosniff` and `image/svg+xml`, so
opening it directly runs nothing; in an <img> browsers never run it anyway.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from enterprise.appearance.cache import appearance_cache
from enterprise.appearance.models import SINGLETON, Appearance
from enterprise.appearance.services import FEATURE
from portal import features

IMMUTABLE = "public, max-age=31536000, immutable"
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _immutable(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = IMMUTABLE
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def logo(request, sha256: str):
    if not features.enabled(FEATURE):
        raise Http404("No logo.")
    row = (
        Appearance.objects.filter(pk=SINGLETON, logo_sha256=sha256)
        .only("logo_data", "logo_content_type")
        .first()
    )
    if row is None:
        raise Http404("No such logo.")
    response = HttpResponse(bytes(row.logo_data), content_type=row.logo_content_type)
    response["Content-Security-Policy"] = IMAGE_CSP
    response["Content-Disposition"] = "inline"
    return _immutable(response)


@require_GET
def stylesheet(request, digest: str):
    snapshot = appearance_cache.get()
    if not features.enabled(FEATURE) or digest != snapshot.stylesheet_hash:
        raise Http404("No such stylesheet.")
    return _immutable(HttpResponse(snapshot.stylesheet, content_type="text/css; charset=utf-8"))
