"""Groups in the operator console; every save goes through the services (and so the audit)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from enterprise.groups import services
from enterprise.groups.api.serializers import managed_note
from enterprise.groups.models import Group, GroupMember
from enterprise.groups.permissions import IDP_EDITABLE
from enterprise.groups.queries import everyone_count
from portal import policy
from portal.accounts.admin_permissions import declare_admin_permission
from portal.accounts.queries import people
from portal.admin_site import changelist_url, run_service_per_object
from portal.errors import ServiceError
from portal.registry import register_user_admin_link

for _perm, _action in (("view", "read"), ("add", "create"), ("change", "update")):
    declare_admin_permission(f"groups.{_perm}_group", "group", _action)
declare_admin_permission("groups.delete_group", "group", "delete")

PROFILE_FIELDS = ("name", "display_name", "avatar_url")


def _user_groups_link(user) -> tuple[str, str] | None:
    """A user's console page links to the list of their groups."""
    if user.is_system:
        return None
    count = GroupMember.objects.filter(user=user).count()
    text = f"{count} group{'s' if count != 1 else ''} besides Everyone"
    return text, changelist_url("groups.group", member=user.username)


register_user_admin_link("Groups", _user_groups_link)
MEMBERS_SHOWN = 200  # a read-only member list beyond this says how many more there are


class GroupForm(forms.ModelForm):
    members_field = forms.ModelMultipleChoiceField(
        label="Members",
        queryset=people(),
        required=False,
        widget=AutocompleteSelectMultiple(Group._meta.get_field("members"), admin.site),
        help_text="Search by username, name or email.",
    )

    avatar_url = forms.URLField(
        label="Avatar URL", max_length=512, required=False, assume_scheme="https"
    )

    class Meta:
        model = Group
        fields = ("name", "display_name", "avatar_url", "quota_allowance")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "members_field" in self.fields:
            self.initial["members_field"] = list(self.instance.members.values_list("pk", flat=True))

    def clean_name(self):
        return (self.cleaned_data.get("name") or "").strip().lower()


class MemberFilter(admin.SimpleListFilter):
    """?member=USERNAME: the groups of one user (linked from elsewhere; no list of choices)."""

    title = "member"
    parameter_name = "member"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(members__username__iexact=self.value())
        return queryset


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    form = GroupForm
    list_display = (
        "name",
        "display_name",
        "source_display",
        "member_total",
        "quota_allowance",
        "updated_at",
    )
    list_filter = ("source", MemberFilter)
    search_fields = ("name", "display_name")
    ordering = ("name",)
    list_per_page = 50
    actions = ("delete_selected",)

    # --- who may do what: the policy, per object ------------------------------------------------

    def has_delete_permission(self, request, obj=None):
        return policy.can(request.user, "delete", obj or "group")

    def _editable_fields(self, request, obj) -> set[str]:
        if not self.has_change_permission(request, obj):
            return set()
        if obj is None:
            return {*PROFILE_FIELDS, "quota_allowance", "members_field"}
        if obj.is_everyone:
            return {"display_name", "avatar_url", "quota_allowance"}
        if obj.managed_by_idp and not getattr(request.user, "is_system", False):
            return set(IDP_EDITABLE)
        return {*PROFILE_FIELDS, "quota_allowance", "members_field"}

    # --- the change page -----------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        editable = self._editable_fields(request, obj)
        main = [*PROFILE_FIELDS, "quota_allowance"]
        members = ["members_field"] if "members_field" in editable else ["member_list"]
        about = ["source_display", "external_id", "created_at", "updated_at", "id"]
        note = managed_note(obj) if obj is not None else ""
        if obj is not None and obj.is_everyone:
            note = "Everyone is every active user: it cannot be deleted or have members edited."
        sets = [(None, {"fields": main, "description": note})]
        if obj is not None or "members_field" in editable:
            sets.append(("Members", {"fields": members}))
        if obj is not None:
            sets.append(("About", {"fields": about, "classes": ("collapse",)}))
        return sets

    def get_readonly_fields(self, request, obj=None):
        editable = self._editable_fields(request, obj)
        fixed = ("member_list", "source_display", "external_id", "created_at", "updated_at", "id")
        return (*[f for f in (*PROFILE_FIELDS, "quota_allowance") if f not in editable], *fixed)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "members_field" not in self._editable_fields(request, obj):
            form.base_fields.pop("members_field", None)
        return form

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_rows=Count("memberships"))

    @admin.display(description="source", ordering="source")
    def source_display(self, obj: Group) -> str:
        return "Everyone (implicit)" if obj.is_everyone else obj.get_source_display()

    @admin.display(description="members", ordering="member_rows")
    def member_total(self, obj: Group) -> int:
        return everyone_count() if obj.is_everyone else getattr(obj, "member_rows", 0)

    @admin.display(description="members")
    def member_list(self, obj: Group | None) -> str:
        if obj is None:
            return "-"
        if obj.is_everyone:
            return f"Every active user ({everyone_count()} now)."
        users = list(obj.members.order_by("username")[: MEMBERS_SHOWN + 1])
        if not users:
            return "No members."
        shown = format_html_join(", ", "{}", ((u.username,) for u in users[:MEMBERS_SHOWN]))
        if len(users) > MEMBERS_SHOWN:
            total = obj.members.count()
            return format_html("{} and {} more", shown, total - MEMBERS_SHOWN)
        return shown

    # --- saves: through the services, all or nothing -------------------------------------------

    def _failed(self, request, error: ServiceError) -> None:
        detail = f" {error.detail}" if error.detail else ""
        messages.error(request, f"{error.message}{detail}")
        request._group_save_failed = True
        transaction.set_rollback(True)  # the admin's view is atomic: undo what went through

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if not change:
                created = services.create_group(
                    actor=request.user,
                    **{f: data[f] for f in (*PROFILE_FIELDS, "quota_allowance")},
                )
                for field in Group._meta.concrete_fields:
                    setattr(obj, field.attname, getattr(created, field.attname))
                obj._state.adding = False
                obj._state.db = created._state.db
                return
            changes = {f: data[f] for f in form.changed_data if f in data and f != "members_field"}
            if changes:
                fresh = Group.objects.get(pk=obj.pk)
                services.update_group(fresh, actor=request.user, **changes)
        except ServiceError as error:
            self._failed(request, error)

    def save_related(self, request, form, formsets, change):
        if getattr(request, "_group_save_failed", False) or "members_field" not in form.fields:
            return
        group = form.instance
        wanted = {u.pk: u for u in form.cleaned_data.get("members_field") or []}
        current = {u.pk: u for u in group.members.all()}
        try:
            added = [u for pk, u in wanted.items() if pk not in current]
            removed = [u for pk, u in current.items() if pk not in wanted]
            if added:
                services.add_members(group, added, actor=request.user)
            if removed:
                services.remove_members(group, removed, actor=request.user)
        except ServiceError as error:
            self._failed(request, error)

    def delete_model(self, request, obj):
        try:
            services.delete_group(obj, actor=request.user)
        except ServiceError as error:
            self._failed(request, error)

    def delete_queryset(self, request, queryset):
        run_service_per_object(
            request,
            queryset,
            lambda g: services.delete_group(g, actor=request.user),
            done="Deleted",
        )

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_group_save_failed", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_group_save_failed", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_group_save_failed", False):
            return HttpResponseRedirect(changelist_url("groups.group"))
        return super().response_delete(request, obj_display, obj_id)

    # The audit log (written by the services) is the record; Django's LogEntry would repeat it.
    def log_addition(self, request, obj, message):
        return None

    def log_change(self, request, obj, message):
        return None

    def log_deletion(self, request, obj, object_repr):
        return None

    def log_deletions(self, request, queryset):
        return None
