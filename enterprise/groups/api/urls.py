"""/api/v2/groups routes (filled in by the groups API)."""

urlpatterns: list = []
