"""The `audit_log` feature gate: browsing and exporting switch off whole; recording never does."""

from portal import features
from portal.registry import registry

GATE = "audit_log"


def enabled() -> bool:
    return features.enabled(GATE)


def require() -> None:
    """403 "The audit log: browsing and exporting audit entries needs a license with the
    audit_log feature." when the gate is off."""
    features.require(GATE)


def refusal() -> str:
    description = registry["features"][GATE].description.rstrip(".")
    return f"{description} needs a license with the {GATE} feature."
