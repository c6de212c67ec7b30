"""The portal's audit page at /audit (registered as HTTP routes, before the portal's own)."""

from django.urls import path

from enterprise.audit import portal_page

app_name = "audit_log"

urlpatterns = [path("", portal_page.audit_page, name="audit")]
