"""Templates whose import "succeeded" (no Terraform here), and workspaces built from them."""

from __future__ import annotations

from templates_app.models import ImportStatus, Template, TemplateVersion
from tests import factories


def param(name: str, type: str = "string", default: str | None = "", **extra) -> dict:
    """One parameter as the import job writes it into parameters_schema."""
    return {
        "name": name,
        "display_name": extra.pop("display_name", name),
        "description": "",
        "type": type,
        "default": default,
        "required": default is None,
        "mutable": extra.pop("mutable", True),
        "icon": "",
        "order": extra.pop("order", 0),
        "options": extra.pop("options", []),
        "validation": extra.pop("validation", None),
        **extra,
    }


def version(template: Template, schema: list[dict] | None = None, **kwargs) -> TemplateVersion:
    return factories.TemplateVersionFactory(
        template=template,
        import_status=kwargs.pop("import_status", ImportStatus.SUCCEEDED),
        parameters_schema=schema or [],
        **kwargs,
    )


def buildable_template(schema: list[dict] | None = None, **kwargs) -> Template:
    """A template whose active version imported successfully with this parameter schema."""
    template = factories.TemplateFactory(with_version=False, **kwargs)
    template.active_version = version(template, schema)
    template.save(update_fields=["active_version"])
    return template
