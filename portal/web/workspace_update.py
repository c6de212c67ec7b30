"""What the workspace page's Update offers: the active version, why not, what it must ask."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal_shared.parameters import to_ask_on_update
from templates_app.models import ImportStatus


@dataclass
class UpdatePlan:
    version: object | None  # the template's active version, when the workspace is not on it
    refusal: str = ""  # why it cannot update to it now ("" when it can)
    ask: list[dict] = field(default_factory=list)  # parameters the update must ask about


def plan(workspace) -> UpdatePlan:
    """The update the page offers; version None when the workspace is on the active version."""
    build = workspace.latest_build
    version = workspace.template.active_version
    if build is None or version is None or build.template_version_id == version.pk:
        return UpdatePlan(version=None)
    if version.import_status != ImportStatus.SUCCEEDED:
        return UpdatePlan(
            version, f"Version {version.name} cannot be built: its import {version.import_status}."
        )
    if version.deprecation_message:
        return UpdatePlan(
            version, f"Version {version.name} is deprecated: {version.deprecation_message}"
        )
    previous = build.template_version
    ask = to_ask_on_update(
        version.parameters_schema or [], previous.parameters_schema or [], build.parameters or {}
    )
    return UpdatePlan(version, ask=ask)
