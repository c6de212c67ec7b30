"""Create the first owner on a fresh install and print its credentials once."""

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from portal import config
from portal.accounts import services
from portal.accounts.choices import Role
from portal.accounts.queries import people


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
            services.create_user(
                actor=services.system_actor(),
                username=username,
                email=email,
                password=password,
                name="Portal owner",
                roles=[Role.OWNER],
            )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Created the first owner account:"))
        self.stdout.write(f"  username: {username}")
        if cfg.first_user_password:
            self.stdout.write("  password: (from PORTAL_FIRST_USER_PASSWORD)")
        else:
            self.stdout.write(f"  password: {password}")
            self.stdout.write("  This password is shown only once; change it after signing in.")
        self.stdout.write("")
