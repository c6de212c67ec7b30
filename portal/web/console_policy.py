"""The operator console's Content-Security-Policy: the portal's, plus the one inline <style>
Django's own admin templates may write, allowed by its hash (never 'unsafe-inline')."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

import django.contrib.admin

# Django's admin/change_list.html writes `<style>#changelist table thead th:first-child {width:
# inherit}</style>` for a ModelAdmin with neither actions_on_top nor actions_on_bottom; it is
# the only inline style (and there is no inline script) in Django's admin templates (5.2).
_DJANGO_TEMPLATES_WITH_STYLE = ("admin/change_list.html",)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


@cache
def django_style_hashes() -> tuple[str, ...]:
    """CSP hash sources of the <style> blocks in Django's admin templates, as rendered (the
    blocks hold no template tags, so the rendered text is the template's)."""
    root = Path(django.contrib.admin.__file__).parent / "templates"
    sources = []
    for name in _DJANGO_TEMPLATES_WITH_STYLE:
        for text in _STYLE.findall((root / name).read_text()):
            digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
            sources.append(f"'sha256-{digest}'")
    return tuple(sources)


def console_policy(page_policy: str) -> str:
    """`page_policy` (the portal's) with style-src also allowing Django's inline style block."""
    hashes = " ".join(django_style_hashes())
    if not hashes:
        return page_policy
    return page_policy.replace("style-src 'self';", f"style-src 'self' {hashes};", 1)
