"""Template ACL: the policy rule, the template_created handler and the API routes."""

from django.apps import AppConfig

from portal import registry


class TemplateACLConfig(AppConfig):
    name = "enterprise.template_acl"
    label = "template_acl"
    verbose_name = "Template access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from enterprise.template_acl import rules, services
        from portal import hooks

        rules.register()
        from enterprise.template_acl.models import TemplateACL
        from portal.audit import field_history

        field_history.track(
            TemplateACL,
            resource_type="template",
            resource_of=lambda acl: (acl.template_id, acl.template.name),
        )
        hooks.template_created.register(services.on_template_created)
        registry.register_api_routes("enterprise.template_acl.api.urls")
        # The console's form to change an ACL (linked from the template's console page).
        registry.register_http_routes(
            "admin-template-access/", "enterprise.template_acl.console", "template_acl"
        )
