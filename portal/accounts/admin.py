"""Operator console for users and API tokens; every change is an action calling the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from portal import admin_confirm, policy
from portal.accounts import passwords, services, throttling
from portal.accounts.choices import LoginType, Role, UserStatus
from portal.accounts.models import APIToken, User
from portal.accounts.permissions import assignable_roles
from portal.accounts.queries import people
from portal.admin_paging import big_list
from portal.admin_site import ReadOnlyAdmin, changelist_url, run_service_per_object
from portal.errors import ServiceError
from portal.registry import register_dashboard_card, registry

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"
ONE_TIME_PASSWORDS_TEMPLATE = "admin/portal/one_time_passwords.html"

# Roles, not Django groups, grant rights (see permissions.py); an empty Group list would mislead.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


class ConsoleSignInForm(AdminAuthenticationForm):
    """The console's sign-in, which says when sign-in is locked (AxesMiddleware makes it a 429)."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                locked = throttling.SignInLocked(throttling.retry_after(self.request))
                raise ValidationError(f"{locked.message} {locked.detail}", code="locked") from None
            raise


admin.site.login_form = ConsoleSignInForm


def _role_choices(actor) -> list[tuple[str, str]]:
    """The roles this actor may grant; member is implied and always kept."""
    allowed = assignable_roles(actor)
    return [(v, label) for v, label in Role.choices if v != Role.MEMBER and v in allowed]


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "The selected users get exactly these roles; roles you may not grant or remove stay "
            "as they are. Everyone is also a member."
        ),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = _role_choices(actor)


class LoginTypeForm(forms.Form):
    login_type = forms.ChoiceField(
        choices=LoginType.choices,
        help_text=(
            "oidc: the password stops working; the next single sign-on with the same email "
            "links the account. password: a one-time password, shown next, to be changed at "
            "sign-in. none: no sign-in at all (API tokens only). Sessions made the old way end."
        ),
    )


class CreateUserForm(forms.Form):
    username = forms.CharField(max_length=64)
    email = forms.EmailField(required=False)
    name = forms.CharField(label="Full name", max_length=128, required=False)
    login_type = forms.ChoiceField(choices=LoginType.choices, initial=LoginType.PASSWORD)
    password1 = forms.CharField(
        label="Password", required=False, strip=False, widget=forms.PasswordInput
    )
    password2 = forms.CharField(
        label="Password (again)", required=False, strip=False, widget=forms.PasswordInput
    )
    roles = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Everyone is also a member.",
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = _role_choices(actor)

    def clean(self):
        data = super().clean()
        if data.get("login_type") == LoginType.PASSWORD:
            if not data.get("password1"):
                self.add_error("password1", "A password login needs a password.")
            elif data.get("password1") != data.get("password2"):
                self.add_error("password2", "The two passwords differ.")
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        password = data["password1"] if data["login_type"] == LoginType.PASSWORD else None
        return {
            "username": data["username"],
            "email": data["email"],
            "name": data["name"],
            "login_type": data["login_type"],
            "password": password,
            "roles": data["roles"],
        }

    def add_service_error(self, error: ServiceError) -> None:
        aliases = {"password": "password1"}
        placed = False
        for validation in error.validations:
            field = aliases.get(validation.get("field"), validation.get("field"))
            if field in self.fields:
                self.add_error(field, validation.get("detail") or error.message)
                placed = True
        if not placed:
            self.add_error(None, f"{error.message} {error.detail}".strip())


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return Role.choices

    def queryset(self, request, queryset):
        if self.value() in Role.values:
            return queryset.filter(roles__contains=[self.value()])
        return queryset


@admin.register(User)
@big_list
class UserAdmin(ReadOnlyAdmin):
    list_display = (
        "username",
        "name",
        "email",
        "roles_display",
        "status",
        "login_type",
        "last_seen_at",
        "created_at",
    )
    list_filter = ("status", RoleFilter, "login_type", "is_system")
    search_fields = ("username", "email", "name")
    date_hierarchy = "created_at"
    ordering = ("username",)
    fields = (
        "username",
        "name",
        "email",
        "roles",
        "status",
        "status_reason",
        "status_changed_at",
        "login_type",
        "is_system",
        "sign_in_failures",
        "last_seen_at",
        "created_at",
        "updated_at",
        "id",
        "elsewhere",
    )
    readonly_fields = fields
    actions = (
        "suspend_users",
        "activate_users",
        "change_roles",
        "unlock_sign_in",
        "reset_passwords",
        "revoke_user_tokens",
        "change_login_type",
    )

    @admin.display(description="failed sign-ins")
    def sign_in_failures(self, obj: User) -> str:
        failures, locked_until = throttling.account_state(obj)
        if locked_until is not None:
            when = timezone.localtime(locked_until).strftime("%Y-%m-%d %H:%M:%S %Z")
            return f"{failures}: sign-in locked until {when} (action: Unlock sign-in)"
        return str(failures)

    @admin.display(description="elsewhere")
    def elsewhere(self, obj: User) -> str:
        """What other apps keep about the user (their registered links)."""
        lines = []
        for entry in registry["user_admin_links"]:
            found = entry.link(obj)
            if found is not None:
                text, url = found
                lines.append((entry.label, url, text))
        if not lines:
            return "-"
        return format_html_join(format_html("<br>"), '{}: <a href="{}">{}</a>', lines)

    @admin.display(description="roles")
    def roles_display(self, obj: User) -> str:
        return ", ".join(r for r in obj.roles if r != Role.MEMBER) or Role.MEMBER

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("accounts.add_user")

    def has_manage_status_permission(self, request) -> bool:
        return policy.can(request.user, "update_status", "user")

    def has_manage_roles_permission(self, request) -> bool:
        return policy.can(request.user, "update_roles", "user")

    def has_unlock_permission(self, request) -> bool:
        return policy.can(request.user, "unlock", "user")

    def has_reset_password_permission(self, request) -> bool:
        return policy.can(request.user, "reset_password", "user")

    def has_revoke_tokens_permission(self, request) -> bool:
        return policy.can(request.user, "delete", "token")

    def has_login_type_permission(self, request) -> bool:
        return policy.can(request.user, "update_login_type", "user")

    def _one_time_passwords(self, request, issued: list[tuple[str, str]], title: str):
        """The one-time passwords, in this response only (never in a message, which a cookie
        may carry), or back to the list when none was issued."""
        if not issued:
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "issued": issued,
        }
        response = TemplateResponse(request, ONE_TIME_PASSWORDS_TEMPLATE, context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(
        description="Reset password of selected users (one-time passwords)",
        permissions=["reset_password"],
    )
    def reset_passwords(self, request, queryset):
        if not admin_confirm.is_confirmed(request):
            return self._confirm(
                request,
                queryset,
                "reset_passwords",
                heading="Reset passwords",
                consequence=(
                    "Each user's password stops working and every session they have ends. A "
                    "one-time password is shown to you on the next page, once: give it to them; "
                    "they choose their own at their next sign-in."
                ),
                confirm_label="Yes, reset",
            )
        issued = run_service_per_object(
            request,
            queryset,
            lambda user: (user.username, passwords.reset_password(user, actor=request.user)),
            done="Reset the password of",
        )
        return self._one_time_passwords(request, issued, "One-time passwords")

    @admin.action(description="Change login type of selected users", permissions=["login_type"])
    def change_login_type(self, request, queryset):
        users = list(queryset)
        if "apply" in request.POST:
            form = LoginTypeForm(request.POST)
            if form.is_valid():
                chosen = form.cleaned_data["login_type"]
                results = run_service_per_object(
                    request,
                    users,
                    lambda user: passwords.set_login_type(
                        user, actor=request.user, login_type=chosen
                    ),
                    done=f"Set login type {chosen} for",
                )
                issued = [(u.username, p) for u, p in results if p]
                return self._one_time_passwords(request, issued, "One-time passwords")
        else:
            form = LoginTypeForm()
        hidden = [("action", "change_login_type")]
        hidden += [(helpers.ACTION_CHECKBOX_NAME, str(u.pk)) for u in users]
        return self._service_form(
            request,
            form,
            title="Change login type",
            submit_label="Change login type",
            objects=users,
            objects_intro="Set how these users sign in:",
            hidden=hidden,
        )

    @admin.action(description="Unlock sign-in of selected users", permissions=["unlock"])
    def unlock_sign_in(self, request, queryset):
        cleared = run_service_per_object(
            request,
            queryset,
            lambda user: services.unlock_sign_in(user, actor=request.user),
            done="Unlocked sign-in of",
        )
        if cleared and not any(cleared):
            messages.info(request, "None of them had failed sign-ins to clear.")

    @admin.action(description="Suspend selected users", permissions=["manage_status"])
    def suspend_users(self, request, queryset):
        if not admin_confirm.is_confirmed(request):
            return self._confirm(
                request,
                queryset,
                "suspend_users",
                heading="Suspend users",
                consequence=(
                    "Each user is signed out everywhere and can no longer sign in or use their "
                    "tokens; their open terminals and app connections close. Their workspaces "
                    "stay as they are. Activate them again to undo this."
                ),
                confirm_label="Yes, suspend",
            )
        run_service_per_object(
            request,
            queryset,
            lambda user: services.suspend_user(
                user, actor=request.user, reason="Suspended in the operator console."
            ),
            done="Suspended",
        )

    @admin.action(description="Activate selected users", permissions=["manage_status"])
    def activate_users(self, request, queryset):
        run_service_per_object(
            request,
            queryset.exclude(status=UserStatus.ACTIVE),
            lambda user: services.activate_user(user, actor=request.user),
            done="Activated",
        )

    @admin.action(description="Revoke all tokens of selected users", permissions=["revoke_tokens"])
    def revoke_user_tokens(self, request, queryset):
        users = list(queryset)
        live = {u.pk: list(_live_tokens().filter(user=u)) for u in users}
        if not admin_confirm.is_confirmed(request):
            return self._confirm(
                request,
                users,
                "revoke_user_tokens",
                heading="Revoke tokens",
                consequence=(
                    "Every live API and CLI token of these users stops working at once; the CLI "
                    "and scripts using them must sign in again. Browser sessions are not ended."
                ),
                confirm_label="Yes, revoke",
                notes={u.pk: f"{len(live[u.pk])} live token(s)" for u in users},
            )

        def revoke_all(user):
            for token in live[user.pk]:
                services.revoke_token(token, actor=request.user)
            return len(live[user.pk])

        run_service_per_object(request, users, revoke_all, done="Revoked the tokens of")

    @admin.action(description="Change roles of selected users", permissions=["manage_roles"])
    def change_roles(self, request, queryset):
        users = list(queryset)
        if "apply" in request.POST:
            form = RolesForm(request.POST, actor=request.user)
            if form.is_valid():
                chosen = set(form.cleaned_data["roles"])
                # The form offers only the roles this admin may grant; unchecked ones they may
                # not remove are kept, not refused.
                fixed = set(Role.values) - assignable_roles(request.user)
                run_service_per_object(
                    request,
                    users,
                    lambda user: services.change_roles(
                        user, actor=request.user, roles=chosen | (set(user.roles) & fixed)
                    ),
                    done="Changed roles of",
                )
                return None  # back to the list, with the messages
        else:
            common = set.intersection(*(set(u.roles) for u in users)) if users else set()
            form = RolesForm(initial={"roles": sorted(common)}, actor=request.user)
        hidden = [("action", "change_roles")]
        hidden += [(helpers.ACTION_CHECKBOX_NAME, str(u.pk)) for u in users]
        return self._service_form(
            request,
            form,
            title="Change roles",
            submit_label="Change roles",
            objects=users,
            objects_intro="Set the roles of:",
            hidden=hidden,
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Create a user through services.create_user (validated and audited there)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreateUserForm(request.POST or None, actor=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                user = services.create_user(actor=request.user, **form.service_arguments())
            except ServiceError as e:
                form.add_service_error(e)
            else:
                messages.success(request, f"Created user {user.username}.")
                return redirect(reverse("admin:accounts_user_change", args=[user.pk]))
        return self._service_form(request, form, title="Add user", submit_label="Create user")

    def _confirm(self, request, users, action, *, notes=None, **page):
        """The confirmation page of a destructive action on `users` (Django's delete pattern)."""
        users = list(users)
        rows = [
            admin_confirm.row(
                u.username,
                url=reverse("admin:accounts_user_change", args=[u.pk]),
                note=(notes or {}).get(u.pk, f"{u.name or u.email or '-'}, {u.status}"),
            )
            for u in users
        ]
        return admin_confirm.confirmation_page(
            self,
            request,
            rows=rows,
            back_url=request.get_full_path(),
            hidden=admin_confirm.action_fields(action, users),
            noun="user",
            dangerous=True,
            **page,
        )

    def _service_form(self, request, form, *, title, submit_label, **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "submit_label": submit_label,
            **extra,
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        value = self.value()
        if value == "live":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(APIToken)
class APITokenAdmin(ReadOnlyAdmin):
    list_display = (
        "key_id",
        "name",
        "user",
        "kind",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
    )
    list_filter = (TokenStateFilter, "kind", "login_type")
    list_select_related = ("user",)
    search_fields = ("key_id", "name", "user__username")
    date_hierarchy = "created_at"
    # The secret hash stays out of the console.
    fields = (
        "key_id",
        "name",
        "user",
        "kind",
        "login_type",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "id",
    )
    readonly_fields = fields
    actions = ("revoke_tokens",)

    @admin.display(description="state")
    def state(self, obj: APIToken) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        return "expired" if obj.is_expired else "live"

    def has_revoke_permission(self, request) -> bool:
        return policy.can(request.user, "delete", "token")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        tokens = list(queryset.select_related("user").filter(revoked_at__isnull=True))
        if not admin_confirm.is_confirmed(request):
            rows = [
                admin_confirm.row(
                    _token_label(token),
                    url=reverse("admin:accounts_apitoken_change", args=[token.pk]),
                    note=f"{token.kind}, expires {token.expires_at:%Y-%m-%d %H:%M}",
                )
                for token in tokens
            ]
            return admin_confirm.confirmation_page(
                self,
                request,
                heading="Revoke tokens",
                consequence=(
                    "These tokens stop working at once, everywhere they are used (the CLI, "
                    "scripts, CI). Already revoked tokens are left out. This cannot be undone."
                ),
                rows=rows,
                confirm_label="Yes, revoke",
                back_url=request.get_full_path(),
                hidden=admin_confirm.action_fields("revoke_tokens", tokens),
                noun="token",
                dangerous=True,
            )
        run_service_per_object(
            request,
            tokens,
            lambda token: services.revoke_token(token, actor=request.user),
            done="Revoked",
            label=_token_label,
        )


def _token_label(token: APIToken) -> str:
    return f"{token.user.username}/{token.name or token.key_id}"


def _live_tokens():
    return APIToken.objects.select_related("user").filter(
        revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def _active_users():
    return people().filter(status=UserStatus.ACTIVE)


register_dashboard_card(
    "Active users",
    count=_active_users,
    link=lambda _: changelist_url(
        "accounts.user", status__exact=UserStatus.ACTIVE, is_system__exact=0
    ),
    permission="accounts.view_user",
)
