"""Django authentication backend for password sign-ins, delegating to the accounts services."""

from django.contrib.auth.backends import ModelBackend

from portal.accounts import services
from portal.errors import ServiceError


class PortalBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        try:
            return services.authenticate_password(username, password)
        except ServiceError as e:
            # Already audited. Django's authenticate() only says "no user" (and tells axes to
            # count the failure); our sign-in pages and the API read the reason from here.
            if request is not None:
                request.portal_sign_in_error = e
            return None

    # Roles, not Django's permission tables, decide; see User.has_perm.
    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False
