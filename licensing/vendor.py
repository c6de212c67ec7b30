"""The vendor's tool (not part of the server's CLI): `python -m licensing.vendor keygen|sign`.

    python -m licensing.vendor keygen --out DIR [--kid KID]
    python -m licensing.vendor sign --key DIR/KID.key --kid KID --account-id ACME \\
        --features user_limit=100,scim=1 [--all-features] [--days 365] [--grace-days 30] \\
        [--deployment-id ID ...] [--trial]

`keygen` writes KID.key (private, mode 0600: keep it out of every repository) and KID.pub.
A deployment only trusts the public keys shipped in `licensing/keys/`; tests and demos
generate their own pair and enable it with the test-only setting (licensing/keys.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from licensing import tokens


def parse_features(text: str) -> dict[str, int]:
    features: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            value = "1"  # `scim` alone means scim=1
        try:
            features[name.strip()] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: use name=integer") from None
    return features


def keygen(out: Path, kid: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    key = tokens.generate_key()
    private, public = out / f"{kid}.key", out / f"{kid}.pub"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(tokens.private_pem(key))
    public.write_bytes(tokens.public_pem(key))
    return private, public


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m licensing.vendor", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("keygen", help="Create an Ed25519 signing key pair.")
    gen.add_argument("--out", type=Path, required=True, help="Directory for KID.key and KID.pub.")
    gen.add_argument(
        "--kid", default=f"portal-vendor-{datetime.now(UTC):%Y%m%d}", help="The key's id."
    )

    sign = commands.add_parser("sign", help="Print a signed license (a JWT).")
    sign.add_argument("--key", type=Path, required=True, help="The private key (KID.key).")
    sign.add_argument("--kid", help="The key's id (default: the key file's name).")
    sign.add_argument("--account-id", required=True)
    sign.add_argument("--account-type", default="customer")
    sign.add_argument("--features", type=parse_features, default={}, help="name=N,name=N")
    sign.add_argument("--all-features", action="store_true", help="Every feature gate.")
    sign.add_argument("--days", type=float, default=365, help="Length of the paid term.")
    sign.add_argument("--grace-days", type=float, default=30, help="Grace period after it.")
    sign.add_argument("--starts-in-days", type=float, default=0, help="nbf, from now.")
    sign.add_argument(
        "--deployment-id", action="append", default=[], help="Bind to a deployment (repeatable)."
    )
    sign.add_argument("--trial", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "keygen":
        try:
            private, public = keygen(args.out, args.kid)
        except FileExistsError:
            print(
                f"error: {args.out / (args.kid + '.key')} exists; not overwritten", file=sys.stderr
            )
            return 1
        print(f"private key: {private}\npublic key:  {public}\nkid:         {args.kid}")
        return 0
    key = tokens.load_private(args.key)
    print(
        tokens.sign(
            key,
            kid=args.kid or args.key.stem,
            account_id=args.account_id,
            account_type=args.account_type,
            features=args.features,
            all_features=args.all_features,
            days=args.days,
            grace_days=args.grace_days,
            starts_in_days=args.starts_in_days,
            deployment_ids=args.deployment_id,
            trial=args.trial,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
