"""Indexes for the console's user list (portal/admin_paging.py's big lists).

Its search is icontains on username, email and name (UPPER(col) LIKE '%..%': trigram GIN
indexes, one per column, which PostgreSQL combines for the OR), its role filter is
`roles @> ARRAY[role]` (a GIN index on the array) and its date hierarchy reads
min/max(created_at). Built CONCURRENTLY (so not atomic): sign-ins update users all the time.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models
from django.db.models.functions import Upper


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("accounts", "0004_git_ssh_key")]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            "user",
            GinIndex(OpClass(Upper("username"), name="gin_trgm_ops"), name="user_username_trgm"),
        ),
        AddIndexConcurrently(
            "user", GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="user_email_trgm")
        ),
        AddIndexConcurrently(
            "user", GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="user_name_trgm")
        ),
        AddIndexConcurrently("user", GinIndex(fields=["roles"], name="user_roles_gin")),
        AddIndexConcurrently("user", models.Index(fields=["created_at"], name="user_created_idx")),
    ]
