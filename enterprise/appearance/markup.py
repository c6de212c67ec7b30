"""Banner messages: plain text with a small Markdown subset, rendered escaped (no raw HTML).

The text is HTML-escaped first; only then are `**bold**`, `*italic*`, `` `code` `` and
`[text](https://...)` turned into tags, so nothing an owner types can become a tag, an
attribute or a script. Links may only point to https:, http: or mailto: targets.
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Escaped text holds no < > " ' (escape() turns them into entities), so captured groups are
# safe inside tags and double-quoted attributes.
_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^\s()]+)\)")
# As in Markdown, emphasis neither starts nor ends with a space ("2 * 3 * 4" stays as it is).
_BOLD = re.compile(r"\*\*([^*\s](?:[^*\n]*[^*\s])?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?![\w*])")


def render(message: str) -> SafeString:
    html = escape(message)
    codes: list[str] = []

    def keep_code(match: re.Match) -> str:
        codes.append(match.group(1))
        return f"\x00{len(codes) - 1}\x00"  # code spans are not formatted further

    html = _CODE.sub(keep_code, html)
    html = _LINK.sub(r'<a href="\2" rel="noopener noreferrer">\1</a>', html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _ITALIC.sub(r"<em>\1</em>", html)
    html = re.sub(r"\x00(\d+)\x00", lambda m: f"<code>{codes[int(m.group(1))]}</code>", html)
    html = html.replace("\n", "<br>")
    return mark_safe(html)  # noqa: S308 - built from escaped text above
