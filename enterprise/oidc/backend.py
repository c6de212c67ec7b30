"""mozilla-django-oidc's backend fed by our config and discovery, with strict ID token checks.

The library's own verification skips the audience and issuer; ours checks signature (JWKS,
the provider's algorithms, never `none` or HMAC), issuer, audience, expiry and nonce.
"""

from __future__ import annotations

import hmac

import jwt
import requests
from django.contrib.auth import get_user_model
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from enterprise.oidc import discovery, services
from enterprise.oidc.config import OIDCConfig
from enterprise.oidc.services import Refused

# Clock skew tolerated between Portal and the provider for exp/iat/nbf.
LEEWAY_SECONDS = 30
ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}


def settings_for(cfg: OIDCConfig) -> dict:
    """The library's OIDC_* settings, from our configuration and the discovery document."""
    doc = discovery.document(cfg.issuer_url)
    return {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": doc["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": doc["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": doc.get("userinfo_endpoint"),
        "OIDC_OP_JWKS_ENDPOINT": doc["jwks_uri"],
        "OIDC_RP_CLIENT_ID": cfg.client_id,
        "OIDC_RP_CLIENT_SECRET": cfg.client_secret,
        "OIDC_RP_SCOPES": cfg.scopes,
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,  # always: S256
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc:callback",
        "OIDC_TIMEOUT": discovery.TIMEOUT,
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
    }


def refuse_token(why: str) -> Refused:
    return Refused(
        f"The identity provider's ID token was refused: {why}. Try signing in again.",
        reason=f"id token: {why}",
        status=401,
    )


class OIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, cfg: OIDCConfig):  # not the library's: it reads Django settings
        self.cfg = cfg
        self.values = settings_for(cfg)
        self.doc = discovery.document(cfg.issuer_url)
        self.OIDC_OP_TOKEN_ENDPOINT = self.values["OIDC_OP_TOKEN_ENDPOINT"]
        self.OIDC_OP_USER_ENDPOINT = self.values["OIDC_OP_USER_ENDPOINT"]
        self.OIDC_OP_JWKS_ENDPOINT = self.values["OIDC_OP_JWKS_ENDPOINT"]
        self.OIDC_RP_CLIENT_ID = cfg.client_id
        self.OIDC_RP_CLIENT_SECRET = cfg.client_secret
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()
        self.id_token_claims: dict = {}

    def get_settings(self, attr, *args):
        if attr in self.values:
            return self.values[attr]
        return args[0] if args else None

    def verify_token(self, token, **kwargs):
        """The ID token's claims once signature, issuer, audience, expiry and nonce check out."""
        if not token:
            raise refuse_token("the provider returned none")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise refuse_token("it is not a JWT") from None
        alg = header.get("alg")
        allowed = set(self.doc.get("id_token_signing_alg_values_supported") or ["RS256"])
        if alg not in (allowed & ASYMMETRIC):
            raise refuse_token(f"its algorithm {alg!r} is not one the provider signs with")
        try:
            key = discovery.signing_key(self.cfg.issuer_url, header.get("kid"))
        except KeyError:
            raise refuse_token("it is signed with a key the provider does not publish") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.cfg.client_id,
                issuer=self.doc["issuer"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise refuse_token("it has expired") from None
        except jwt.InvalidAudienceError:
            raise refuse_token("it was issued for another client (audience)") from None
        except jwt.InvalidIssuerError:
            raise refuse_token("it was issued by another issuer") from None
        except jwt.InvalidSignatureError:
            raise refuse_token("its signature does not match") from None
        except jwt.PyJWTError as e:
            raise refuse_token(str(e).rstrip(".")) from None
        azp = claims.get("azp")
        if azp and azp != self.cfg.client_id:
            raise refuse_token("it was issued for another client (azp)")
        nonce = kwargs.get("nonce")
        if "nonce" in kwargs and not hmac.compare_digest(
            str(claims.get("nonce") or ""), str(nonce or "")
        ):
            raise refuse_token("its nonce does not match this sign-in")
        self.id_token_claims = claims
        return claims

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, overlaid by the userinfo endpoint's for the same subject."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT and access_token:
            try:
                info = super().get_userinfo(access_token, id_token, payload)
            except requests.RequestException as e:
                raise Refused(
                    f"The identity provider's userinfo could not be read ({e}).",
                    reason="userinfo failed",
                    status=502,
                ) from None
            if str(info.get("sub")) != str(payload.get("sub")):
                raise refuse_token("the userinfo is about another subject")
            claims.update(info)
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        return services.sign_in(claims, self.cfg, issuer=self.cfg.issuer_url)

    def authenticate(self, request, **kwargs):
        """The signed-in user, or Refused (ServiceError) with the reason; never None on a code."""
        try:
            return super().authenticate(request, **kwargs)
        except requests.HTTPError as e:
            status = getattr(e.response, "status_code", 0)
            raise Refused(
                "The identity provider refused to exchange the sign-in code "
                f"(HTTP {status}); try signing in again.",
                reason=f"token endpoint answered {status}",
                status=401 if 400 <= status < 500 else 502,
            ) from None
        except requests.RequestException as e:
            raise Refused(
                f"The identity provider could not be reached ({e}).",
                reason="token endpoint unreachable",
                status=502,
            ) from None
