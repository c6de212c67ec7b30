"""/api/v2/scim/keys routes."""

urlpatterns: list = []
