"""Templates, versions and archives in the operator console: importing registers their
ModelAdmins; their other pages live in templates_app.console (no import cycle through here)."""

from templates_app.admin import files, templates, versions  # noqa: F401 - they register
from templates_app.admin.templates import add_inline  # noqa: F401 - enterprise's access list
from templates_app.console.display import badge, import_badge  # noqa: F401 - workspaces' console
