"""ID token verification with tokens crafted and signed by a key the test controls."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from enterprise.oidc import discovery
from enterprise.oidc.backend import OIDCBackend
from enterprise.oidc.config import OIDCConfig
from enterprise.oidc.services import Refused

ISSUER = "https://idp.example"
CFG = OIDCConfig(issuer_url=ISSUER, client_id="portal", client_secret="s")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def backend(monkeypatch):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk |= {"kid": "k1", "alg": "RS256", "use": "sig"}
    monkeypatch.setitem(
        discovery._documents,
        ISSUER,
        {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        },
    )
    monkeypatch.setitem(discovery._keys, ISSUER, [jwt.PyJWK(jwk)])
    return OIDCBackend(CFG)


def token(key=KEY, kid="k1", alg="RS256", **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "portal", "sub": "u1", "iat": now, "exp": now + 300}
    claims |= {"nonce": "n1", "email": "u1@corp.example"}
    claims |= overrides
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def refusal(backend, raw, nonce="n1") -> str:
    with pytest.raises(Refused) as caught:
        backend.verify_token(raw, nonce=nonce)
    return caught.value.message


def test_a_good_token_passes(backend):
    assert backend.verify_token(token(), nonce="n1")["sub"] == "u1"


def test_a_tampered_token_is_refused(backend):
    header, payload, signature = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "admin@corp.example"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "its signature does not match" in refusal(backend, f"{header}.{forged}.{signature}")


def test_a_token_signed_by_another_key_is_refused(backend):
    assert "its signature does not match" in refusal(backend, token(key=OTHER_KEY))


def test_an_expired_token_is_refused(backend):
    old = int(time.time()) - 3600
    assert "it has expired" in refusal(backend, token(iat=old, exp=old + 300))


def test_a_token_for_another_client_is_refused(backend):
    assert "another client (audience)" in refusal(backend, token(aud="someone-else"))


def test_a_token_from_another_issuer_is_refused(backend):
    assert "another issuer" in refusal(backend, token(iss="https://evil.example"))


def test_a_nonce_mismatch_is_refused(backend):
    assert "its nonce does not match" in refusal(backend, token(), nonce="other")


def test_unsigned_and_hmac_tokens_are_refused(backend):
    unsigned = jwt.encode({"sub": "u1"}, None, algorithm="none")
    assert "algorithm 'none'" in refusal(backend, unsigned)
    # HMAC keyed with the client secret would let anyone who knows it mint tokens.
    assert "algorithm 'HS256'" in refusal(backend, token(key="s" * 32, alg="HS256"))


def test_an_unknown_key_id_is_refused(backend, monkeypatch):
    monkeypatch.setattr(discovery, "_get_json", lambda url, what: {"keys": []})
    assert "a key the provider does not publish" in refusal(backend, token(kid="k9"))
