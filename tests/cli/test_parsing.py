"""The CLI's own parsing: server URLs as people type them, and token lifetimes."""

from __future__ import annotations

import click
import pytest

from portal_cli.credentials import normalize_url
from portal_cli.tokens import Lifetime


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("portal.example.com", "https://portal.example.com"),
        ("https://portal.example.com/", "https://portal.example.com"),
        ("localhost:8000", "http://localhost:8000"),
        ("127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
    ],
)
def test_normalize_url(typed, url):
    assert normalize_url(typed) == url


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600s", 3600), ("45", 45)],
)
def test_lifetime(text, seconds):
    assert Lifetime().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["", "0h", "1y", "-5m", "12 hours"])
def test_bad_lifetime(text):
    with pytest.raises(click.BadParameter):
        Lifetime().convert(text, None, None)
