"""The license format: the vendor command signs, the deployment verifies or says why not."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import jwt
import pytest

from licensing import tokens, trust, vendor
from tests.licensing.conftest import KID

pytestmark = pytest.mark.django_db


def _keys(vendor_dir):
    return tokens.public_keys_in(vendor_dir)


def test_vendor_command_keygen_and_sign_round_trip(tmp_path):
    run = [sys.executable, "-m", "licensing.vendor"]
    out = subprocess.run(
        [*run, "keygen", "--out", str(tmp_path), "--kid", "demo"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo.key").stat().st_mode & 0o077 == 0  # the private key is private
    signed = subprocess.run(
        [
            *run,
            "sign",
            "--key",
            str(tmp_path / "demo.key"),
            "--account-id",
            "acme",
            "--features",
            "user_limit=100,scim=1",
            "--days",
            "365",
            "--grace-days",
            "30",
            "--deployment-id",
            "d-1",
            "--trial",
        ],
        capture_output=True,
        text=True,
    )
    assert signed.returncode == 0, signed.stderr
    token = signed.stdout.strip()
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "demo", "typ": "JWT"}
    claims = tokens.decode(token, tokens.public_keys_in(tmp_path))
    assert claims["features"] == {"user_limit": 100, "scim": 1}
    assert claims["deployment_ids"] == ["d-1"] and claims["trial"] is True
    assert claims["account_id"] == "acme" and claims["version"] == 1
    assert claims["exp"] - claims["license_expires"] == 30 * 86400
    assert claims["license_expires"] - claims["nbf"] == 365 * 86400
    # keygen never overwrites a key
    again = subprocess.run([*run, "keygen", "--out", str(tmp_path), "--kid", "demo"], text=True)
    assert again.returncode == 1


def test_the_features_option_reads_names_and_counts():
    assert vendor.parse_features("user_limit=100, scim=1,audit_log") == {
        "user_limit": 100,
        "scim": 1,
        "audit_log": 1,
    }


def _forge(claims: dict, header: dict) -> str:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.{base64.urlsafe_b64encode(b'sig').decode()}"


def test_each_refusal_says_why(sign, vendor_dir):
    keys = _keys(vendor_dir)
    good = sign(features={"scim": 1})
    claims = tokens.decode(good, keys)

    def refused(token, match):
        with pytest.raises(tokens.LicenseRefused, match=match):
            tokens.decode(token, keys)

    refused("not a jwt", "not a license")
    refused("", "not a license")
    head, body, sig = good.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(body + "=="))
    tampered["features"]["audit_log"] = 1
    refused(
        _forge(tampered, {"alg": "EdDSA", "kid": KID}).rsplit(".", 1)[0] + "." + sig,
        "signature does not verify",
    )
    refused(sign(kid="someone-else"), "key 'someone-else', which this Portal does not know")
    refused(jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": KID}), "'HS256'")
    refused(_forge(claims, {"alg": "none", "kid": KID}), "'none'")
    refused(_forge(claims, {"alg": "EdDSA"}), "names no signing key")

    now = time.time()
    expired = tokens.decode(sign(days=-40, grace_days=30), keys)
    with pytest.raises(tokens.LicenseRefused, match="grace period ended"):
        tokens.check_dates(expired, now)
    later = tokens.decode(sign(starts_in_days=3), keys)
    with pytest.raises(tokens.LicenseRefused, match="not valid before"):
        tokens.check_dates(later, now)
    bound = tokens.decode(sign(deployment_ids=["other-deployment"]), keys)
    with pytest.raises(tokens.LicenseRefused, match="not this one \\(mine\\)"):
        tokens.check_deployment(bound, "mine")
    tokens.check_deployment(bound, "other-deployment")


def test_a_test_key_is_trusted_only_with_the_test_flag(settings, sign):

    assert KID in trust.trusted_keys()
    assert "portal-vendor-2026" in trust.trusted_keys()  # the shipped vendor key
    settings.PORTAL_LICENSE_TESTING = False
    assert KID not in trust.trusted_keys()
    assert set(trust.trusted_keys()) == {"portal-vendor-2026"}
