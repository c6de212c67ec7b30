"""PORTAL_EXTERNAL_AUTH_<N>_*: defaults per type, and one sentence for each mistake."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.external_auth.config import parse

BASE = {"PORTAL_EXTERNAL_AUTH_0_CLIENT_ID": "id", "PORTAL_EXTERNAL_AUTH_0_CLIENT_SECRET": "s"}


def test_nothing_set_means_no_providers():
    assert parse({}) == ()


def test_github_fills_its_urls_and_host_regex():
    [github] = parse({**BASE, "PORTAL_EXTERNAL_AUTH_0_TYPE": "github"})
    assert github.id == "github" and github.display_name == "GitHub"
    assert github.auth_url == "https://github.com/login/oauth/authorize"
    assert github.matches("https://github.com/acme/app.git")
    assert not github.matches("https://gitlab.com/acme/app.git")
    assert github.git_credentials("t0k") == {"username": "t0k", "password": ""}


def test_gitlab_sends_the_token_as_the_password():
    [gitlab] = parse({**BASE, "PORTAL_EXTERNAL_AUTH_0_TYPE": "gitlab"})
    assert gitlab.git_credentials("t0k") == {"username": "oauth2", "password": "t0k"}


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"PORTAL_EXTERNAL_AUTH_0_TYPE": "svn"}, "TYPE must be one of"),
        (
            {"PORTAL_EXTERNAL_AUTH_0_TYPE": "generic", "PORTAL_EXTERNAL_AUTH_0_ID": "x"},
            "AUTH_URL and PORTAL_EXTERNAL_AUTH_0_TOKEN_URL are required",
        ),
        (
            {"PORTAL_EXTERNAL_AUTH_0_TYPE": "github", "PORTAL_EXTERNAL_AUTH_0_REGEX": "("},
            "REGEX is not a valid regular expression",
        ),
        (
            {"PORTAL_EXTERNAL_AUTH_0_TYPE": "github", "PORTAL_EXTERNAL_AUTH_0_ID": "Bad Id"},
            "ID must be a short lower-case name",
        ),
        (
            {"PORTAL_EXTERNAL_AUTH_0_TYPE": "github", "PORTAL_EXTERNAL_AUTH_0_AUTH_URL": "ftp://x"},
            "must be an http(s) URL",
        ),
        (
            {"PORTAL_EXTERNAL_AUTH_0_TYPE": "github", "PORTAL_EXTERNAL_AUTH_2_TYPE": "gitlab"},
            "number providers from 0 without gaps",
        ),
        (
            {
                "PORTAL_EXTERNAL_AUTH_0_TYPE": "github",
                "PORTAL_EXTERNAL_AUTH_1_TYPE": "github",
                "PORTAL_EXTERNAL_AUTH_1_CLIENT_ID": "i",
                "PORTAL_EXTERNAL_AUTH_1_CLIENT_SECRET": "s",
            },
            "already used by another provider",
        ),
    ],
)
def test_a_mistake_is_one_sentence(extra, says):
    with pytest.raises(ImproperlyConfigured) as e:
        parse({**BASE, **extra})
    assert says in str(e.value) and str(e.value).count(". ") == 0


def test_missing_secret_is_named():
    with pytest.raises(ImproperlyConfigured, match="CLIENT_SECRET are required"):
        parse({"PORTAL_EXTERNAL_AUTH_0_TYPE": "github", "PORTAL_EXTERNAL_AUTH_0_CLIENT_ID": "i"})
