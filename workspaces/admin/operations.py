"""The console's workspace operations (start ... orphan-delete): a confirmation page, then the
build services, one workspace at a time, from the list's actions or a workspace's own page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.urls import reverse

from portal import admin_confirm
from portal.admin_site import run_service_per_object
from portal.errors import Conflict
from workspaces import services
from workspaces.choices import BuildTransition
from workspaces.models import Workspace


class OrphanDeleteForm(forms.Form):
    understood = forms.BooleanField(
        label="I understand",
        help_text=(
            "Portal forgets these workspaces' Terraform state without running Terraform: whatever "
            "they created (containers, volumes, processes) keeps running and must be removed by "
            "hand."
        ),
    )


def label(workspace: Workspace) -> str:
    return f"{workspace.owner.username}/{workspace.name}"


def _version_name(workspace: Workspace) -> str:
    build = workspace.latest_build
    return build.template_version.name if build else "-"


def _active_version_name(workspace: Workspace) -> str:
    active = workspace.template.active_version
    return active.name if active else "none"


def _update(workspace: Workspace, *, actor):
    # Refused here, not by a no-op build: "updating" to the version it already runs changes nothing.
    active = workspace.template.active_version
    build = workspace.latest_build
    if active is not None and build is not None and build.template_version_id == active.pk:
        raise Conflict(f"It is already on the template's active version {active.name}.")
    return services.create_build(
        workspace, actor=actor, transition=BuildTransition.START, version=active
    )


def _cancel_latest(workspace: Workspace, *, actor):
    if workspace.latest_build is None:
        raise Conflict("It has no build to cancel.")
    return services.cancel_build(workspace.latest_build, actor=actor)


@dataclass(frozen=True)
class Operation:
    """One thing an operator may do to workspaces, and what the confirmation page says of it."""

    name: str
    verb: str  # the button: "Stop"
    done: str  # the success message: "Stopping: alice/dev."
    consequence: str  # what will happen, above the list
    run: Callable  # (workspace, *, actor) -> build
    note: Callable[[Workspace], str] = lambda ws: ""  # what will happen to this one
    form: type[forms.Form] | None = None
    dangerous: bool = False
    button: str = ""  # the workspace page's button, when not the verb

    @property
    def confirm_label(self) -> str:
        return f"Yes, {(self.button or self.verb).lower()}"

    @property
    def title(self) -> str:
        return f"{self.verb} workspaces"

    @property
    def action_name(self) -> str:
        # "cancel_builds": what it cancels, and the name the action always had.
        return "cancel_builds" if self.name == "cancel" else f"{self.name}_workspaces"


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            name="start",
            verb="Start",
            done="Starting",
            consequence=(
                "A start build is queued for each workspace, with its current template version "
                "and parameter values."
            ),
            run=lambda ws, *, actor: services.create_build(
                ws, actor=actor, transition=BuildTransition.START
            ),
            note=lambda ws: f"starts on version {_version_name(ws)}",
        ),
        Operation(
            name="stop",
            verb="Stop",
            done="Stopping",
            consequence=(
                "A stop build is queued for each workspace: its compute stops, its volumes stay. "
                "Whoever is connected is disconnected."
            ),
            run=lambda ws, *, actor: services.create_build(
                ws, actor=actor, transition=BuildTransition.STOP
            ),
            note=lambda ws: "stops; its volumes stay",
        ),
        Operation(
            name="restart",
            verb="Restart",
            done="Restarting",
            consequence=(
                "A stop build is queued for each workspace, and a start build with the same "
                "version and values once the stop succeeded. Whoever is connected is disconnected."
            ),
            run=lambda ws, *, actor: services.restart_workspace(ws, actor=actor),
            note=lambda ws: f"stops, then starts again on version {_version_name(ws)}",
        ),
        Operation(
            name="update",
            verb="Update",
            done="Updating",
            consequence=(
                "A start build is queued for each workspace on its template's active version, "
                "keeping its parameter values. A new required parameter without a default is "
                "refused here: its owner updates it from the portal, where they are asked for it."
            ),
            run=_update,
            note=lambda ws: f"version {_version_name(ws)} → {_active_version_name(ws)}",
        ),
        Operation(
            name="delete",
            verb="Delete",
            done="Deleting",
            consequence=(
                "A delete build is queued for each workspace: Terraform destroys everything it "
                "created, volumes and home directories included. This cannot be undone."
            ),
            run=lambda ws, *, actor: services.create_build(
                ws, actor=actor, transition=BuildTransition.DELETE
            ),
            note=lambda ws: "is destroyed with its data",
            dangerous=True,
        ),
        Operation(
            name="orphan_delete",
            verb="Orphan-delete",
            done="Orphan-deleting",
            consequence=(
                "Delete these workspaces without destroying their resources. Use this only when "
                "a normal delete cannot succeed (for example the infrastructure is already gone)."
            ),
            run=lambda ws, *, actor: services.create_build(
                ws, actor=actor, transition=BuildTransition.DELETE, orphan=True
            ),
            note=lambda ws: "is forgotten; its resources are left running",
            form=OrphanDeleteForm,
            dangerous=True,
        ),
        Operation(
            name="cancel",
            verb="Cancel the build of",
            done="Canceled the build of",
            consequence=(
                "The pending or running build of each workspace is canceled: a pending one at "
                "once, a running one once Terraform stopped (the workspace may be left half built)."
            ),
            run=_cancel_latest,
            button="Cancel build",
            note=lambda ws: (
                f"build #{ws.latest_build.build_number} ({ws.latest_build.transition}) is canceled"
                if ws.latest_build
                else "has no build"
            ),
        ),
    )
}


def confirmed(request, op: Operation):
    """The operation's form bound to a confirming POST (None when this is not one), and whether
    the operator confirmed."""
    if not admin_confirm.is_confirmed(request):
        return (op.form() if op.form else None), False
    form = op.form(request.POST) if op.form else None
    return form, form is None or form.is_valid()


def run(request, op: Operation, workspaces) -> None:
    """Each workspace through the service; successes in one message, each refusal in its own."""
    run_service_per_object(
        request,
        workspaces,
        lambda ws: op.run(ws, actor=request.user),
        done=op.done,
        label=label,
    )


def confirmation_page(model_admin, request, op: Operation, workspaces, *, form, back_url, hidden):
    """What will happen to which workspace, then Yes/No."""
    # Imported here: a sibling imported at import time would cycle through the package.
    from workspaces.admin.common import workspace_badge

    rows = [
        admin_confirm.row(
            label(ws),
            url=reverse("admin:workspaces_workspace_change", args=[ws.pk]),
            status=workspace_badge(ws.status),
            note=op.note(ws),
        )
        for ws in workspaces
    ]
    return admin_confirm.confirmation_page(
        model_admin,
        request,
        heading=op.title,
        consequence=op.consequence,
        rows=rows,
        confirm_label=op.confirm_label,
        back_url=back_url,
        hidden=hidden,
        noun="workspace",
        dangerous=op.dangerous,
        form=form,
    )


def action_for(op: Operation):
    """A changelist action: the confirmation page first, the builds on its confirming POST."""

    def action(model_admin, request, queryset):
        workspaces = list(queryset)
        form, ok = confirmed(request, op)
        if ok:
            run(request, op, workspaces)
            return None  # back to the list, with the messages
        hidden = admin_confirm.action_fields(op.action_name, workspaces)
        return confirmation_page(
            model_admin,
            request,
            op,
            workspaces,
            form=form,
            back_url=request.get_full_path(),
            hidden=hidden,
        )

    action.__name__ = op.action_name
    action.allowed_permissions = ("manage",)
    description = f"{op.verb} selected workspaces"
    if op.name == "orphan_delete":
        description += " (forget state, destroy nothing)"
    if op.name == "cancel":
        description = "Cancel the running build of selected workspaces"
    action.short_description = description
    return action


def object_buttons(workspace_pk) -> list[dict]:
    """The change page's buttons: each opens that operation's confirmation for this workspace."""
    return [
        {
            "label": op.button or op.verb,
            "url": reverse("admin:workspaces_workspace_operation", args=[workspace_pk, op.name]),
            "dangerous": op.dangerous,
        }
        for op in OPERATIONS.values()
    ]
