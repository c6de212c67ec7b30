"""The console pages a template ModelAdmin adds beside Django's own (upload, editor, compare...)."""

from __future__ import annotations


class ConsolePagesMixin:
    """For a ModelAdmin whose extra pages are functions of templates_app.console."""

    def _view(self, view, **kwargs):
        """A console page of this admin: `view(model_admin, request, ...)` behind admin_view."""
        return self.admin_site.admin_view(
            lambda request, *args, **url: view(self, request, *args, **url, **kwargs)
        )
