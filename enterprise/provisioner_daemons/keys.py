"""Provisioner keys: created (secret shown once), revoked (cutting off its daemons), checked."""

from __future__ import annotations

import logging
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from enterprise.provisioner_daemons import group
from enterprise.provisioner_daemons.audit_types import PROVISIONER_KEY
from enterprise.provisioner_daemons.models import ProvisionerKey
from portal import features, policy, secret_hash
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal_shared.queues import MAX_WORKER_TAGS
from workspaces.builds import jobs, logs, provisioning
from workspaces.choices import JobStatus, LogLevel
from workspaces.models import Provisioner, ProvisionerJob

log = logging.getLogger(__name__)

FEATURE = "external_provisioner_daemons"
PREFIX = "pk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TOUCH_SECONDS = 60  # last_used_at is written at most this often per key


def _record(key, *, actor, action, extra: dict, status_code: int = 200) -> None:
    audit.record(
        actor=actor,
        action=action,
        resource_type=PROVISIONER_KEY,
        resource_id=key.pk if key is not None else "",
        resource_target=key.name if key is not None else "",
        additional_fields=extra,
        status_code=status_code,
    )


def _check(actor, action: str) -> None:
    features.require(FEATURE)
    if not policy.can(actor, action, "provisioner_key"):
        raise Forbidden(policy.policy_for("provisioner_key").refusal(action))


def clean_tags(tags, field: str = "tags") -> dict[str, str]:
    """Tags as `{key: value}` of short names; a clear 400 for anything else."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ValidationFailed.field(field, "Tags are an object of names to values.")
    if len(tags) > MAX_WORKER_TAGS:
        raise ValidationFailed.field(field, f"At most {MAX_WORKER_TAGS} tags.")
    for k, v in tags.items():
        if (
            not isinstance(k, str)
            or not isinstance(v, str)
            or not _TAG.match(k)
            or not _TAG.match(v)
        ):
            raise ValidationFailed.field(
                field,
                f"Tag {k!r}={v!r}: names and values are 1-64 letters, digits, '.', '_' or '-'.",
            )
    return dict(sorted(tags.items()))


def create_key(*, actor, name: str, tags=None) -> tuple[ProvisionerKey, str]:
    """A new live key; returns it and its secret (the only time the secret is seen)."""
    _check(actor, "create")
    name = str(name or "").strip()
    if not _NAME.match(name):
        raise ValidationFailed.field(
            "name", "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    tags = clean_tags(tags)
    taken = Conflict(f"A live provisioner key named {name!r} already exists.")
    if ProvisionerKey.objects.filter(name__iexact=name, revoked_at__isnull=True).exists():
        raise taken
    secret = PREFIX + secret_hash.make()
    creator = (
        actor if getattr(actor, "pk", None) and not getattr(actor, "is_system", False) else None
    )
    try:
        with transaction.atomic():
            key = ProvisionerKey.objects.create(
                name=name, tags=tags, hashed_secret=secret_hash.digest(secret), created_by=creator
            )
            _record(
                key,
                actor=actor,
                action=AuditAction.CREATE,
                extra={"name": name, "tags": tags},
                status_code=201,
            )
    except IntegrityError:
        raise taken from None
    return key, secret


def live_key(name: str) -> ProvisionerKey:
    key = ProvisionerKey.objects.filter(name__iexact=name, revoked_at__isnull=True).first()
    if key is None:
        raise NotFound(f"No live provisioner key named {name!r}.")
    return key


def revoke_key(key: ProvisionerKey, *, actor) -> ProvisionerKey:
    """Revoke a key: its daemons' next call is refused (401), their running jobs fail with the
    reason, and they leave the list of online provisioners. Revoking twice is a no-op."""
    _check(actor, "delete")
    with transaction.atomic():
        key = ProvisionerKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        failed = _cut_off(key, actor=actor)
        _record(
            key,
            actor=actor,
            action=AuditAction.REVOKE,
            extra={"name": key.name, "tags": key.tags, "failed_jobs": failed},
        )
    for job_id in failed:
        transaction.on_commit(lambda j=job_id: _publish_end(j), robust=True)
    # Its daemons' notify sockets close now, so they learn it without waiting for a poll.
    transaction.on_commit(
        lambda: group.publish({"type": "key.revoked", "key": str(key.pk)}), robust=True
    )
    return key


def _cut_off(key: ProvisionerKey, *, actor) -> list[str]:
    """Fail the jobs the key's daemons are running (with the reason) and forget the daemons."""
    daemons = list(Provisioner.objects.filter(key_id=key.pk).values_list("id", flat=True))
    running = ProvisionerJob.objects.filter(
        worker_id__in=daemons, status__in=(JobStatus.RUNNING, JobStatus.CANCELING)
    ).values_list("id", "worker_id")
    failed = []
    for job_id, worker in running:
        reason = f"The provisioner key {key.name!r} was revoked; daemon {worker} was cut off."
        try:
            provisioning.log_daemon(job_id, LogLevel.ERROR, reason)
            provisioning.fail_job(job_id, worker, error=reason, actor=actor)
        except jobs.JobNotOwned:
            continue  # it ended in the meantime
        failed.append(str(job_id))
    Provisioner.objects.filter(id__in=daemons).delete()
    return failed


def _publish_end(job_id: str) -> None:
    try:
        logs.publish_end(job_id, JobStatus.FAILED)
    except Exception:
        log.debug("could not publish the end of job %s", job_id, exc_info=True)


def _refused(reason: str, key: ProvisionerKey | None = None) -> None:
    extra = {"reason": reason}
    if key is not None:
        extra["key_name"] = key.name
    _record(key, actor=None, action=AuditAction.LOGIN_FAILED, extra=extra, status_code=401)


def authenticate(secret: str) -> tuple[ProvisionerKey | None, str]:
    """The live key of a daemon's header, or (None, why not); refusals are audited."""
    secret = (secret or "").strip()
    if not secret:
        _refused("missing key")
        return None, "A provisioner key is required (the Portal-Provisioner-Key header)."
    key = ProvisionerKey.objects.filter(hashed_secret=secret_hash.digest(secret)).first()
    if key is None or not secret_hash.matches(secret, key.hashed_secret):
        _refused("unknown key")
        return None, "This provisioner key is not valid."
    if key.revoked_at is not None:
        _refused("revoked key", key)
        return None, f"The provisioner key {key.name!r} was revoked."
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > _TOUCH_SECONDS:
        ProvisionerKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key, ""
