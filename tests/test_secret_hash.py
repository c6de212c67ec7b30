"""portal.secret_hash: secrets made, hashed in the stored format, checked."""

import hashlib

import pytest

from portal import secret_hash
from portal.accounts import services
from portal.accounts.authentication import user_for_token
from portal.accounts.models import APIToken
from tests.conftest import PASSWORD


def test_make_gives_distinct_url_safe_secrets_of_enough_entropy():
    made = {secret_hash.make() for _ in range(50)}
    assert len(made) == 50
    assert all(len(s) >= 43 and s.replace("-", "").replace("_", "").isalnum() for s in made)
    assert len(secret_hash.make(24)) == 32
    with pytest.raises(ValueError):
        secret_hash.make(16)


def test_digest_is_the_format_rows_were_stored_in():
    # API tokens (APIToken.secret_hash) and agent tokens (WorkspaceAgent.token_hash).
    assert secret_hash.digest("s3cret") == hashlib.sha256(b"s3cret").hexdigest()
    assert len(secret_hash.digest(secret_hash.make())) == 64


def test_matches_only_the_secret_it_was_made_from():
    secret = secret_hash.make()
    stored = secret_hash.digest(secret)
    assert secret_hash.matches(secret, stored)
    assert not secret_hash.matches(secret + "x", stored)
    assert not secret_hash.matches(secret, stored.upper())
    assert not secret_hash.matches(secret, "")


@pytest.mark.django_db
def test_api_tokens_are_stored_and_checked_with_it(member):
    _, token, full = services.login(login=member.username, password=PASSWORD)
    assert APIToken.objects.get(pk=token.pk).secret_hash == secret_hash.digest(
        full.partition("-")[2]
    )
    # Agent tokens: tests/agents store rows with hashlib.sha256 directly, as before this module.
    assert user_for_token(full)[0] == member
