"""Feature gates: named features an app asks "is it on?"; licensing answers (no answer: on)."""

from __future__ import annotations

from portal import hooks
from portal.errors import Forbidden
from portal.registry import Feature, registry


class UnknownFeature(LookupError):
    """A gate nobody registered: a typo, or a check in an app that forgot to register it."""


def register(name: str, description: str) -> Feature:
    """Declare a gate. Registering the same name with another description is an error."""
    features = registry["features"]
    feature = Feature(name, description)
    if features.get(name, feature) != feature:
        raise ValueError(f"Feature {name!r} is already registered: {features[name].description!r}")
    features[name] = feature
    return feature


def enabled(name: str) -> bool:
    """Whether the gate is on: every registered gate is, unless a resolver turns it off."""
    if name not in registry["features"]:
        raise UnknownFeature(f"No feature gate named {name!r} is registered.")
    return all(resolve(name) is not False for resolve in hooks.feature_gate.handlers())


def require(name: str) -> None:
    """Refuse (403, naming the feature and the license) when the gate is off: an app calls
    this at the top of each endpoint or service of a gated feature, so it switches off whole."""
    if not enabled(name):
        description = registry["features"][name].description.rstrip(".")
        raise Forbidden(f"{description} needs a license with the {name} feature.")


def registered() -> list[Feature]:
    return sorted(registry["features"].values(), key=lambda f: f.name)


# The product's feature list: what the enterprise apps will bring, each behind its gate.
PRODUCT_FEATURES = (
    ("template_rbac", "Template access by group and user (template ACLs)."),
    ("scim", "User and group provisioning from an identity provider over SCIM 2.0."),
    ("oidc_group_sync", "Group membership synced from OIDC claims at sign-in."),
    ("oidc_role_sync", "Site roles synced from OIDC claims at sign-in."),
    ("audit_log", "The audit log: browsing, exporting and streaming audit entries to a SIEM."),
    ("browser_only", "Refuse non-browser connections (SSH, port-forward) to workspaces."),
    ("workspace_quota", "Per-user and per-group workspace cost quotas checked before builds."),
    ("high_availability", "Several server replicas behind one access URL."),
    ("external_provisioner_daemons", "Provisioner daemons outside the server, over the API."),
    ("advanced_template_scheduling", "Template-level autostop, autostart and dormancy rules."),
    ("appearance", "Custom branding: logo, colours, service banner and support links."),
    ("multiple_external_auth", "More than one external auth provider (Git hosts) at once."),
)
for _name, _description in PRODUCT_FEATURES:
    register(_name, _description)
