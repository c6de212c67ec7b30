"""The deployment id: a UUID stored in the database, created the first time it is asked for."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from licensing.models import Deployment


def deployment_id() -> str:
    try:
        with transaction.atomic():
            row, _ = Deployment.objects.get_or_create(key="this")
    except IntegrityError:  # another replica created it at the same moment
        row = Deployment.objects.get(key="this")
    return str(row.deployment_id)
