"""Create the first owner on a fresh install and print its credentials once."""

import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal import config
from portal.accounts import services
from portal.accounts.choices import Role
from portal.accounts.queries import people
from portal.errors import ServiceError

# Where each field of the first user comes from, so an error names what to change.
_ENV_OF_FIELD = {
    "username": "PORTAL_FIRST_USER_USERNAME",
    "email": "PORTAL_FIRST_USER_EMAIL",
    "password": "PORTAL_FIRST_USER_PASSWORD",
}


class Command(BaseCommand):
    help = "Create the first owner account if there are no users yet."

    def handle(self, *args, **options):
        cfg = config.load()
        with transaction.atomic():
            # Serialize concurrent first starts (several replicas) on one advisory lock.
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(7001)")
            if people().exists():
                return
            username = cfg.first_user_username or "admin"
            email = cfg.first_user_email or f"{username}@localhost"
            password = cfg.first_user_password or secrets.token_urlsafe(12)
            try:
                services.create_user(
                    actor=services.system_actor(),
                    username=username,
                    email=email,
                    password=password,
                    name="Portal owner",
                    roles=[Role.OWNER],
                )
            except ServiceError as e:
                raise CommandError(_explain(e)) from None
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Created the first owner account:"))
        self.stdout.write(f"  username: {username}")
        if cfg.first_user_password:
            self.stdout.write("  password: (from PORTAL_FIRST_USER_PASSWORD)")
        else:
            self.stdout.write(f"  password: {password}")
            self.stdout.write("  This password is shown only once; change it after signing in.")


def _explain(error: ServiceError) -> str:
    lines = [f"{error.message} Fix the first user's settings and start again:"]
    for item in error.validations:
        field = item.get("field", "")
        lines.append(f"  {_ENV_OF_FIELD.get(field, field)}: {item.get('detail', '')}")
    return "\n".join(lines)
