"""The license format: a JWT signed with Ed25519 (EdDSA), signed and verified here (no Django).

Header: `alg` EdDSA (the only algorithm accepted: `none`, HS256 and the rest are refused before
any key is touched) and `kid`, the vendor key that signed it. Claims (times are NumericDate):
`license_expires` (end of the paid term), `exp` (end of the grace period after it), `nbf`,
`iat`, `account_type`, `account_id`, `trial`, `all_features`, `deployment_ids` (optional: the
deployments it is bound to), `version` and `features` (name -> integer, with `user_limit`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
VERSION = 1  # the claims' layout; a newer one needs a newer Portal
DAY = 86400
REQUIRED_CLAIMS = (
    "license_expires",
    "exp",
    "nbf",
    "iat",
    "account_type",
    "account_id",
    "trial",
    "all_features",
    "version",
    "features",
)


class LicenseRefused(ValueError):
    """Why a license is not accepted: one sentence a person can act on."""


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- keys


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key.")
    return key


def load_public(pem: bytes | str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("Not an Ed25519 public key.")
    return key


def public_keys_in(directory: Path) -> dict[str, Ed25519PublicKey]:
    """`<kid>.pub` files of a directory, by kid."""
    return {p.stem: load_public(p.read_bytes()) for p in sorted(Path(directory).glob("*.pub"))}


# ---------------------------------------------------------------- signing (the vendor's side)


def sign(
    key: Ed25519PrivateKey,
    *,
    kid: str,
    account_id: str,
    account_type: str = "customer",
    features: dict[str, int] | None = None,
    all_features: bool = False,
    days: float = 365,
    grace_days: float = 30,
    starts_in_days: float = 0,
    deployment_ids: list[str] | None = None,
    trial: bool = False,
    now: float | None = None,
) -> str:
    """A signed license valid from now (+ starts_in_days) for `days`, then `grace_days` more."""
    now = time.time() if now is None else now
    start = now + starts_in_days * DAY
    license_expires = start + days * DAY
    claims = {
        "iat": int(now),
        "nbf": int(start),
        "license_expires": int(license_expires),
        "exp": int(license_expires + grace_days * DAY),
        "account_type": account_type,
        "account_id": account_id,
        "trial": trial,
        "all_features": all_features,
        "version": VERSION,
        "features": {name: int(value) for name, value in (features or {}).items()},
    }
    if deployment_ids:
        claims["deployment_ids"] = list(deployment_ids)
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


# ---------------------------------------------------------------- verifying (the deployment's side)


def decode(token: str, keys: dict[str, Ed25519PublicKey]) -> dict:
    """The claims of a license signed by one of `keys` (by kid); LicenseRefused says why not.

    Only the signature and the claims' shape are checked here: dates and the deployment are
    `check_dates` and `check_deployment`, so a stored license that has since expired still
    reads (it is listed as expired rather than as broken).
    """
    token = (token or "").strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise LicenseRefused(f"This is not a license: it does not read as a JWT ({exc}).") from None
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise LicenseRefused(
            f"The license is signed with {alg!r}; only EdDSA (Ed25519) licenses are accepted."
        )
    kid = header.get("kid")
    if not kid or not isinstance(kid, str):
        raise LicenseRefused("The license names no signing key (no `kid` in its header).")
    key = keys.get(kid)
    if key is None:
        raise LicenseRefused(
            f"The license is signed with key {kid!r}, which this Portal does not know: it was "
            "not issued by the vendor, or it needs a newer Portal."
        )
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise LicenseRefused(
            "The license's signature does not verify: it was altered, or not signed by the vendor."
        ) from None
    except jwt.PyJWTError as exc:
        raise LicenseRefused(f"This is not a license: {exc}.") from None
    _check_shape(claims)
    return claims


def _check_shape(claims: dict) -> None:
    missing = [c for c in REQUIRED_CLAIMS if c not in claims]
    if missing:
        raise LicenseRefused(f"The license lacks the claims: {', '.join(missing)}.")
    for name in ("license_expires", "exp", "nbf", "iat"):
        if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
            raise LicenseRefused(f"The license's {name} is not a time.")
    if claims["version"] != VERSION:
        raise LicenseRefused(
            f"The license has format version {claims['version']!r}; this Portal reads version "
            f"{VERSION}: upgrade Portal."
        )
    features = claims["features"]
    if not isinstance(features, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in features.values()
    ):
        raise LicenseRefused("The license's features must map names to whole numbers, 0 or more.")
    ids = claims.get("deployment_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise LicenseRefused("The license's deployment_ids must be a list of ids.")
    if claims["exp"] < claims["license_expires"]:
        raise LicenseRefused("The license's grace period (exp) ends before its term.")


def check_dates(claims: dict, now: float) -> None:
    if now >= claims["exp"]:
        raise LicenseRefused(
            f"The license expired on {when(claims['license_expires'])} and its grace period "
            f"ended on {when(claims['exp'])}."
        )
    if now < claims["nbf"]:
        raise LicenseRefused(f"The license is not valid before {when(claims['nbf'])}.")


def check_deployment(claims: dict, deployment_id: str) -> None:
    ids = claims.get("deployment_ids") or []
    if ids and deployment_id not in ids:
        raise LicenseRefused(
            f"The license is for deployment {', '.join(ids)}, not this one ({deployment_id})."
        )
