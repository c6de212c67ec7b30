"""What a change revokes: which of many open connections lost their access, and why."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.accounts.models import APIToken, User
from portal.revocation import resources
from portal.revocation.connection import FORBIDDEN, SIGN_IN_AGAIN, Connection, Verdict, roles_key
from portal.revocation.queries import absent, changed_users


def find_revoked(conns: list[Connection], *, recheck_all: bool = False) -> dict:
    """{connection: Verdict} of those that lost their access (DB thread, four queries).

    `recheck` runs where the user's roles changed since authorization, or for all with
    recheck_all (the user's own announcement). The queries return only what changed: a sweep
    of 10,000 connections that finds nothing costs little more than PostgreSQL's own work.
    """
    now = timezone.now()
    users = changed_users({(c.user_key, c.roles_key) for c in conns if c.user_key})
    key_ids = {c.token_key for c in conns if c.token_key}
    live = '"revoked_at" IS NULL AND "expires_at" > %s'
    dead_tokens = absent(APIToken, "key_id", key_ids, live, [now])
    revoked_tokens = absent(APIToken, "key_id", dead_tokens, '"revoked_at" IS NULL')
    session_keys = {c.session_key for c in conns if c.session_key}
    ended = absent(Session, "session_key", session_keys, '"expire_date" > %s', [now])
    wanted: dict[str, set[str]] = {}
    for c in conns:
        for kind, rid in c.resources:
            wanted.setdefault(kind, set()).add(rid)
    gone = {kind: resources.checks[kind].gone(ids) for kind, ids in wanted.items() if ids}

    verdicts: dict[Connection, Verdict] = {}
    to_recheck: list[Connection] = []
    for c in conns:
        user = users.get((c.user_key, c.roles_key)) if c.user_key else None
        if user is not None and user[0] is None:
            verdicts[c] = Verdict(FORBIDDEN, "Your account was deleted.", "user_deleted")
        elif user is not None and user[0] == "suspended":
            verdicts[c] = Verdict(FORBIDDEN, "Your account was suspended.", "user_suspended")
        elif c.token_key and c.token_key in revoked_tokens:
            verdicts[c] = Verdict(
                SIGN_IN_AGAIN, "Your token was revoked. Sign in again.", "token_revoked"
            )
        elif c.token_key and c.token_key in dead_tokens:
            verdicts[c] = Verdict(
                SIGN_IN_AGAIN, "Your token expired. Sign in again.", "token_expired"
            )
        elif c.session_key and c.session_key in ended:
            verdicts[c] = Verdict(
                SIGN_IN_AGAIN, "Your session ended. Sign in again.", "session_ended"
            )
        elif gone_kind := next((k for k, rid in c.resources if rid in gone.get(k, ())), None):
            verdicts[c] = resources.checks[gone_kind].verdict
        elif c.recheck is not None and c.user_key and (recheck_all or user is not None):
            to_recheck.append(c)  # a role changed (or the user's own announcement)
    if to_recheck:
        full = {u.pk: u for u in User.objects.filter(pk__in={c.user_id for c in to_recheck})}
        for c in to_recheck:
            user = full[c.user_id]
            reason = c.recheck(user)
            if reason:
                verdicts[c] = Verdict(
                    FORBIDDEN, f"You no longer have access: {reason}", "access_lost"
                )
            else:
                c.roles = frozenset(user.roles)
                c.roles_key = roles_key(c.roles)
    return verdicts
