"""Entitlements: what the stored licenses grant now, in the shape of Coder's /entitlements.

Every stored license is re-verified (signature, key, deployment) each time this is computed,
so a row edited in the database grants nothing. Licenses combine: each feature takes the best
entitlement any license gives it (entitled > grace_period > not_entitled), and a limit the
largest. Without any stored license and with PORTAL_LICENSE_REQUIRED off (the default for
now), every gate stays on "for evaluation", as before licensing existed; once a license is
stored (even an expired one), or when the setting is on, the gates follow the licenses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from licensing import tokens, trust
from licensing.deployment import deployment_id
from licensing.models import License
from portal import features as portal_features
from portal.accounts.choices import UserStatus
from portal.accounts.models import User

ENTITLED, GRACE, NOT_ENTITLED = "entitled", "grace_period", "not_entitled"
RANK = {NOT_ENTITLED: 0, GRACE: 1, ENTITLED: 2}
USER_LIMIT = "user_limit"
EXPIRY_WARNING_DAYS = 30
EVALUATION_WARNING = (
    "No license: enterprise features are on for evaluation. Upload a license to keep them "
    "when licenses become required."
)


def license_required() -> bool:
    return bool(getattr(settings, "PORTAL_LICENSE_REQUIRED", False))


@dataclass(frozen=True)
class StoredLicense:
    """What the computation needs of a License row (tests pass these without a database)."""

    id: int
    jwt: str


@dataclass
class Entitlements:
    features: dict[str, dict]
    warnings: list[str]
    errors: list[str]
    has_license: bool
    trial: bool
    refreshed_at: datetime
    next_boundary: float | None  # epoch seconds: when a date crossing changes the answer
    evaluation: bool = False  # no license stored and none required: every gate on
    gates: dict[str, bool] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "features": self.features,
            "warnings": self.warnings,
            "errors": self.errors,
            "has_license": self.has_license,
            "trial": self.trial,
            "require_telemetry": False,
            "refreshed_at": self.refreshed_at,
        }

    def banner_messages(self, active_users: int | None = None) -> list[tuple[str, str]]:
        """(level, message) for owners' banners; the evaluation note stays on the license page.

        `active_users`: today's count, for a user-limit warning fresher than this computation.
        """
        limit = self.features[USER_LIMIT]["limit"]
        stale = user_limit_warning(limit, self.features[USER_LIMIT]["actual"])
        warnings = [w for w in self.warnings if w not in (EVALUATION_WARNING, stale)]
        if fresh := user_limit_warning(
            limit, self.features[USER_LIMIT]["actual"] if active_users is None else active_users
        ):
            warnings.append(fresh)
        return [("error", e) for e in self.errors] + [("warning", w) for w in warnings]


def user_limit_warning(limit: int | None, active_users: int | None) -> str | None:
    if limit is None or active_users is None or active_users <= limit:
        return None
    return (
        f"Your deployment has {active_users} active users but is licensed for {limit}. "
        "Nobody is locked out; contact sales to raise the limit."
    )


def _license_features(claims: dict, gate_names) -> dict[str, int]:
    granted = {name: int(value) for name, value in claims["features"].items()}
    if claims.get("all_features"):
        for name in gate_names:
            granted[name] = max(granted.get(name, 0), 1)
    return granted


def compute(
    stored: list[StoredLicense],
    *,
    keys: dict,
    deployment_id: str,
    active_users: int | None,
    now: float | None = None,
    required: bool | None = None,
    gate_names=None,
) -> Entitlements:
    now = time.time() if now is None else now
    required = license_required() if required is None else required
    gate_names = sorted(gate_names or (f.name for f in portal_features.registered()))
    best: dict[str, str] = dict.fromkeys([*gate_names, USER_LIMIT], NOT_ENTITLED)
    user_limit: int | None = None
    errors: list[str] = []
    warnings: list[str] = []
    boundaries: list[float] = []
    trial = False
    live: list[dict] = []  # claims of licenses in force now (entitled or in grace)

    for row in stored:
        try:
            claims = tokens.decode(row.jwt, keys)
            tokens.check_deployment(claims, deployment_id)
        except tokens.LicenseRefused as exc:
            errors.append(f"License {row.id} is not valid: {exc} Delete it or upload another.")
            continue
        boundaries += [
            claims["nbf"],
            claims["license_expires"] - EXPIRY_WARNING_DAYS * tokens.DAY,
            claims["license_expires"],
            claims["exp"],
        ]
        if now < claims["nbf"] or now >= claims["exp"]:
            continue  # not yet, or no longer: grants nothing
        status = GRACE if now >= claims["license_expires"] else ENTITLED
        live.append({**claims, "_status": status})
        trial = trial or bool(claims.get("trial"))
        for name, value in _license_features(claims, gate_names).items():
            if name not in best or value <= 0:
                continue
            if RANK[status] > RANK[best[name]]:
                best[name] = status
            if name == USER_LIMIT:
                user_limit = max(user_limit or 0, value)

    evaluation = not stored and not required
    rows: dict[str, dict] = {}
    for name in gate_names:
        on = evaluation or best[name] != NOT_ENTITLED
        rows[name] = {"entitlement": best[name], "enabled": on, "limit": None, "actual": None}
    rows[USER_LIMIT] = {
        "entitlement": best[USER_LIMIT],
        "enabled": user_limit is not None,
        "limit": user_limit,
        "actual": active_users,
    }

    if evaluation:
        warnings.append(EVALUATION_WARNING)
    elif not live:
        errors.append(
            "No license in force: enterprise features are off (their data is kept). "
            "Upload a valid license to turn them on."
        )
    in_grace = [c for c in live if c["_status"] == GRACE]
    entitled = [c for c in live if c["_status"] == ENTITLED]
    grace_features = sorted(n for n in gate_names if best[n] == GRACE)
    if in_grace and grace_features:
        last = max(in_grace, key=lambda c: c["exp"])
        warnings.append(
            f"Your license expired on {tokens.when(last['license_expires'])}: "
            f"{', '.join(grace_features)} stay on in its grace period until "
            f"{tokens.when(last['exp'])}, then switch off. Upload a renewed license."
        )
    if entitled:
        # Only the license that lasts longest: an earlier one ending changes nothing.
        last = max(entitled, key=lambda c: c["license_expires"])
        left = last["license_expires"] - now
        if left < EXPIRY_WARNING_DAYS * tokens.DAY:
            days = max(int(left // tokens.DAY), 0)
            warnings.append(
                f"Your license expires in {days} day{'s' if days != 1 else ''}, on "
                f"{tokens.when(last['license_expires'])}; its grace period follows. "
                "Upload a renewed license."
            )
    if over := user_limit_warning(user_limit, active_users):
        warnings.append(over)
    future = [b for b in boundaries if b > now]
    return Entitlements(
        features=rows,
        warnings=warnings,
        errors=errors,
        has_license=bool(live),
        trial=trial,
        refreshed_at=datetime.fromtimestamp(now, UTC),
        next_boundary=min(future) if future else None,
        evaluation=evaluation,
        gates={name: rows[name]["enabled"] for name in gate_names},
    )


def active_user_count() -> int:
    """Users a license counts: active people (not dormant, suspended or system)."""
    return User.objects.filter(status=UserStatus.ACTIVE, is_system=False).count()


def current(*, now: float | None = None) -> Entitlements:
    """Computed from the database now (the API and the console; gates use licensing.cache)."""
    stored = [StoredLicense(pk, jwt) for pk, jwt in License.objects.values_list("pk", "jwt")]
    return compute(
        stored,
        keys=trust.trusted_keys(),
        deployment_id=deployment_id(),
        active_users=active_user_count(),
        now=now,
    )
