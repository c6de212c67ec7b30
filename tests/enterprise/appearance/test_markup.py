"""The banners' Markdown subset is rendered from escaped text; colours contrast (WCAG AA)."""

from __future__ import annotations

import pytest

from enterprise.appearance.contrast import BLACK, WHITE, ratio, text_color
from enterprise.appearance.markup import render


@pytest.mark.parametrize(
    ("message", "html"),
    [
        ("plain & simple", "plain &amp; simple"),
        ("**bold** and *it*", "<strong>bold</strong> and <em>it</em>"),
        ("`<b>code</b>`", "<code>&lt;b&gt;code&lt;/b&gt;</code>"),
        (
            "[docs](https://d.example/a?b=1&c=2)",
            '<a href="https://d.example/a?b=1&amp;c=2" rel="noopener noreferrer">docs</a>',
        ),
        (
            "[mail](mailto:ops@example.com)",
            '<a href="mailto:ops@example.com" rel="noopener noreferrer">mail</a>',
        ),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        (
            '[x](https://a.example/"onmouseover="alert(1))',
            "[x](https://a.example/&quot;onmouseover=&quot;alert(1))",
        ),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("line one\nline two", "line one<br>line two"),
        ("2 * 3 * 4", "2 * 3 * 4"),
    ],
)
def test_render(message, html):
    assert str(render(message)) == html


@pytest.mark.parametrize(
    "background", ["#000000", "#ffffff", "#767676", "#777777", "#ff0000", "#00ff00", "#123456"]
)
def test_the_chosen_text_colour_meets_aa(background):
    assert ratio(background, text_color(background)) >= 4.5


def test_dark_backgrounds_get_white_text_and_light_ones_black():
    assert text_color("#004852") == WHITE
    assert text_color("#fde047") == BLACK
