"""The console's template pages beside the ModelAdmins (templates_app.admin): forms, views."""
